"""The comparison plot: file handling, panel contents and the reference densities and quantiles.

Weights are numpy draws with fixed seeds, and no framework is imported.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import integrate, stats

from harness import plots
from harness.plots import plot_comparison
from harness.references import Constant, Normal, Orthogonal, TruncatedNormal, Uniform

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PNG_BYTES = 300_000
# He initialisation of a dense 16 x 16 layer: std sqrt(2 / fan_in).
HE_STD = math.sqrt(2.0 / 16.0)
TORCH_REFERENCE = Normal(0.0, HE_STD)
KERAS_REFERENCE = TruncatedNormal.variance_corrected_at(HE_STD)
N_WEIGHTS = 25_600


def normal_fit(weights: np.ndarray) -> dict:
    return Normal(float(weights.mean()), float(weights.std())).to_dict()


def truncated_fit(weights: np.ndarray, scale: float) -> dict:
    mean = float(weights.mean())
    half_width = float(np.max(np.abs(weights - mean)))
    return TruncatedNormal(mean, scale, half_width).to_dict()


def family_entry(parameters: dict, rejected_by: list[str]) -> dict:
    return {"family": parameters["family"], "parameters": parameters, "rejected_by": rejected_by}


def make_side(
    spec: str, reference, weights: np.ndarray, supported: str | None, families: list[dict]
) -> dict:
    return {
        "spec": spec,
        "status": "ok",
        "expected_std": reference.std,
        "reference": reference.to_dict(),
        "n_weights": int(weights.size),
        "fit": {"supported": supported, "families": families, "contradicts_reference": False},
    }


def ks_check(left: np.ndarray, right: np.ndarray) -> dict:
    result = stats.ks_2samp(left, right, method="asymp")
    return {
        "name": "ks_2samp",
        "scope": "between",
        "statistic": float(result.statistic),
        "pvalue": float(result.pvalue),
        "margin": 0.01,
        "details": {
            "location": float(result.statistic_location),
            # Close to what the harness computes for 25,600 weights a side at alpha 1e-3: the
            # margin plus the DKW excess at the worst Holm step.
            "critical_distance": 0.0385,
            "n": min(left.size, right.size),
        },
    }


def he_normal_case(size: int = N_WEIGHTS) -> tuple[dict, np.ndarray, np.ndarray]:
    """Build torch kaiming_normal against keras he_normal: a normal and a corrected truncation."""
    rng = np.random.default_rng(20261204)
    left = TORCH_REFERENCE.sample(size, rng).astype(np.float32).reshape(-1, 16, 16)
    right = KERAS_REFERENCE.sample(size, rng).astype(np.float32).reshape(-1, 16, 16)
    flat_left, flat_right = left.ravel().astype(np.float64), right.ravel().astype(np.float64)
    torch_side = make_side(
        "torch:kaiming_normal",
        TORCH_REFERENCE,
        left,
        "normal",
        [
            family_entry(normal_fit(flat_left), []),
            family_entry(truncated_fit(flat_left, HE_STD), []),
        ],
    )
    keras_side = make_side(
        "keras:he_normal",
        KERAS_REFERENCE,
        right,
        "truncated_normal",
        [
            family_entry(truncated_fit(flat_right, KERAS_REFERENCE.scale), []),
            family_entry(normal_fit(flat_right), ["ks p=4.2e-09 < alpha=0.001"]),
        ],
    )
    document = {
        "schema_version": 1,
        "comparison": "he-normal-dense16",
        "verdict": "different",
        "sides": [torch_side, keras_side],
        "checks": [ks_check(flat_left, flat_right)],
    }
    return document, left, right


def vertical_dashed_positions(figure: Figure) -> list[float]:
    positions = []
    for line in figure.axes[0].get_lines():
        xdata = np.asarray(line.get_xdata(), dtype=np.float64)
        if line.get_linestyle() == "--" and xdata.size == 2 and xdata[0] == xdata[1]:
            positions.append(float(xdata[0]))
    return sorted(positions)


def labels_of(lines: list[Line2D]) -> list[str]:
    return [line.get_label() for line in lines if not line.get_label().startswith("_")]


def test_plot_writes_small_png(tmp_path):
    document, left, right = he_normal_case()
    path = tmp_path / "he-normal-dense16.png"

    written = plot_comparison(document, left, right, path)

    assert written == path
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size < MAX_PNG_BYTES


def test_plot_creates_parent_folders(tmp_path):
    document, left, right = he_normal_case()
    path = tmp_path / "plots" / "nested" / "he.png"

    plot_comparison(document, left, right, path)

    assert path.is_file()


def test_plot_leaves_no_temporary_files(tmp_path):
    document, left, right = he_normal_case()
    path = tmp_path / "he.png"

    plot_comparison(document, left, right, path)
    plot_comparison(document, left, right, path)

    assert [entry.name for entry in tmp_path.iterdir()] == ["he.png"]


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    document, left, right = he_normal_case()
    path = tmp_path / "he.png"
    path.write_bytes(b"previous plot")

    def fail_savefig(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", fail_savefig)
    with pytest.raises(OSError, match="disk full"):
        plot_comparison(document, left, right, path)

    assert [entry.name for entry in tmp_path.iterdir()] == ["he.png"]
    assert path.read_bytes() == b"previous plot"


def test_figure_has_three_panels():
    document, left, right = he_normal_case()

    figure = plots._build_figure(document, left, right)

    assert len(figure.axes) == 3
    assert figure.axes[0].get_yscale() == "log"
    assert figure.get_suptitle() == "he-normal-dense16: different"


def test_density_panel_marks_keras_bound():
    document, left, right = he_normal_case()

    figure = plots._build_figure(document, left, right)

    # Only the Keras side documents a hard bound: +-2 raw std = +-2.2737 expected std.
    bound = KERAS_REFERENCE.half_width / HE_STD
    assert bound == pytest.approx(2.2737, abs=1e-4)
    assert vertical_dashed_positions(figure) == pytest.approx([-bound, bound])


def test_density_panel_shows_truncation():
    document, left, right = he_normal_case()
    figure = plots._build_figure(document, left, right)
    torch_histogram, keras_histogram = figure.axes[0].patches[:2]

    # StepPatch data: densities per bin and the bin edges, in expected std units.
    torch_density, edges, _ = torch_histogram.get_data()
    keras_density, _, _ = keras_histogram.get_data()
    beyond = edges[:-1] > 2.28

    assert keras_density[beyond].sum() == 0.0
    assert torch_density[beyond].sum() > 0.0


def test_density_panel_draws_supported_fits():
    document, left, right = he_normal_case()

    figure = plots._build_figure(document, left, right)

    labels = labels_of(figure.axes[0].get_lines())
    assert "fit: normal" in labels
    assert "fit: truncated_normal" in labels


def test_fitted_truncation_vanishes_beyond_bound():
    document, left, right = he_normal_case()
    figure = plots._build_figure(document, left, right)

    fitted = next(
        line for line in figure.axes[0].get_lines() if line.get_label() == "fit: truncated_normal"
    )
    x, density = fitted.get_xdata(), fitted.get_ydata()
    high = document["sides"][1]["fit"]["families"][0]["parameters"]["high"] / HE_STD

    assert np.all(density[x > high + 1e-9] == 0.0)
    assert np.all(density[(x > -high + 1e-9) & (x < high - 1e-9)] > 0.0)


def test_unsupported_fit_draws_best_ranked():
    document, left, right = he_normal_case()
    keras_fit = document["sides"][1]["fit"]
    keras_fit["supported"] = None
    keras_fit["families"][0]["rejected_by"] = ["ks p=1e-05 < alpha=0.001"]

    figure = plots._build_figure(document, left, right)

    labels = labels_of(figure.axes[0].get_lines())
    assert "fit: truncated_normal (best, all rejected)" in labels


def test_ecdf_panel_marks_ks_point():
    document, left, right = he_normal_case()
    check = document["checks"][0]

    figure = plots._build_figure(document, left, right)

    ecdf_axes = figure.axes[2]
    markers = [line for line in ecdf_axes.get_lines() if line.get_marker() == "o"]
    assert len(markers) == 1
    assert markers[0].get_xdata()[0] == pytest.approx(check["details"]["location"] / HE_STD)
    # The sample is small enough to plot whole, so the marked point is the KS distance itself.
    assert abs(markers[0].get_ydata()[0]) == pytest.approx(check["statistic"])
    annotation = ecdf_axes.texts[0].get_text()
    assert f"D = {check['statistic']:.4g}" in annotation
    assert f"p = {check['pvalue']:.3g}" in annotation


def test_ecdf_panel_zero_pvalue():
    document, left, right = he_normal_case()
    document["checks"][0]["pvalue"] = 0.0

    figure = plots._build_figure(document, left, right)

    assert "p < 1e-300" in figure.axes[2].texts[0].get_text()


def test_ecdf_panel_without_ks_check():
    document, left, right = he_normal_case()
    document["checks"] = []

    figure = plots._build_figure(document, left, right)

    annotation = figure.axes[2].texts[0].get_text()
    assert "largest |difference|" in annotation
    assert "p =" not in annotation


def test_large_sides_are_subsampled(tmp_path):
    document, left, right = he_normal_case(size=1_024_000)

    figure = plots._build_figure(document, left, right)

    labels = labels_of(figure.axes[0].get_lines()) + [
        patch.get_label() for patch in figure.axes[0].patches
    ]
    assert "torch:kaiming_normal (200,000 of 1,024,000 weights)" in labels
    path = plot_comparison(document, left, right, tmp_path / "large.png")
    assert path.stat().st_size < MAX_PNG_BYTES


def haar_layers(rng: np.random.Generator, count: int, size: int, gain: float) -> np.ndarray:
    """Draw `count` Haar-distributed orthogonal matrices times `gain` (QR with sign fix)."""
    layers = []
    for _ in range(count):
        q, r = np.linalg.qr(rng.standard_normal((size, size)))
        layers.append(gain * q * np.sign(np.diag(r)))
    return np.stack(layers)


def structured_side(spec: str, reference, weights: np.ndarray) -> dict:
    side = make_side(spec, reference, weights, None, [])
    side["fit"]["skipped"] = f"element-wise families do not describe a {reference.family}"
    return side


def structured_cases() -> dict[str, tuple[dict, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    orthogonal = Orthogonal(1.0, 16, 16)
    constant = Constant(0.0)
    uniform = Uniform.with_std(0.25)
    normal = Normal(0.0, 0.25)
    orthogonal_weights = haar_layers(rng, 50, 16, 1.0)
    other_orthogonal = haar_layers(rng, 50, 16, 1.0)
    normal_weights = normal.sample(12_800, rng)
    uniform_weights = uniform.sample(1_600, rng)
    zeros = np.zeros((100, 16))
    normal_fitted = family_entry(normal_fit(normal_weights), [])
    uniform_fitted = family_entry(Uniform(0.0, float(np.abs(uniform_weights).max())).to_dict(), [])

    def document(left_side: dict, right_side: dict) -> dict:
        return {
            "comparison": "structured",
            "verdict": "different",
            "sides": [left_side, right_side],
        }

    return {
        "orthogonal_vs_orthogonal": (
            document(
                structured_side("torch:orthogonal", orthogonal, orthogonal_weights),
                structured_side("keras:orthogonal", orthogonal, other_orthogonal),
            ),
            orthogonal_weights,
            other_orthogonal,
        ),
        "orthogonal_vs_normal": (
            document(
                structured_side("torch:orthogonal", orthogonal, orthogonal_weights),
                make_side(
                    "keras:random_normal", normal, normal_weights, "normal", [normal_fitted]
                ),
            ),
            orthogonal_weights,
            normal_weights,
        ),
        "constant_vs_constant": (
            document(
                structured_side("torch:zeros", constant, zeros),
                structured_side("keras:zeros", constant, zeros),
            ),
            zeros,
            zeros,
        ),
        "constant_vs_uniform": (
            document(
                structured_side("keras:default", constant, zeros),
                make_side("torch:default", uniform, uniform_weights, "uniform", [uniform_fitted]),
            ),
            zeros,
            uniform_weights,
        ),
    }


@pytest.mark.parametrize("case", list(structured_cases()))
def test_structured_references_plot(tmp_path, case):
    document, left, right = structured_cases()[case]
    path = tmp_path / f"{case}.png"

    plot_comparison(document, left, right, path)

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert path.stat().st_size < MAX_PNG_BYTES


@pytest.mark.parametrize("case", list(structured_cases()))
def test_structured_sides_draw_no_fit(case):
    document, left, right = structured_cases()[case]

    figure = plots._build_figure(document, left, right)

    fit_labels = [label for label in labels_of(figure.axes[0].get_lines()) if "fit" in label]
    expected = [
        f"fit: {side['fit']['supported']}"
        for side in document["sides"]
        if side["fit"]["supported"] is not None
    ]
    assert fit_labels == expected


def test_constant_sides_get_qq_note():
    document, left, right = structured_cases()["constant_vs_constant"]

    figure = plots._build_figure(document, left, right)

    note = figure.axes[1].texts[0].get_text()
    assert "torch:zeros: constant reference, no QQ plot" in note
    assert "keras:zeros: constant reference, no QQ plot" in note


def test_rejects_document_without_two_sides():
    document, left, right = he_normal_case()
    document["sides"] = document["sides"][:1]

    with pytest.raises(ValueError, match="exactly 2 sides; received 1"):
        plots._build_figure(document, left, right)


def test_rejects_side_without_weights():
    document, left, _ = he_normal_case()

    with pytest.raises(ValueError, match="'keras:he_normal' has no weights"):
        plots._build_figure(document, left, np.empty(0))


@pytest.mark.parametrize(
    "parameters",
    [
        Normal(0.1, 0.3).to_dict(),
        KERAS_REFERENCE.to_dict(),
        TruncatedNormal.uncorrected_at(0.5, bound_in_scale=1.0, mean=-0.2).to_dict(),
        Uniform.with_std(0.2, mean=0.05).to_dict(),
    ],
    ids=["normal", "corrected_truncation", "narrow_truncation", "uniform"],
)
def test_pdf_integrates_to_one(parameters):
    mean, std = parameters["mean"], parameters["std"]
    low = parameters.get("low", mean - 12.0 * std)
    high = parameters.get("high", mean + 12.0 * std)

    area, _ = integrate.quad(lambda x: float(plots._pdf(parameters, np.array(x))), low, high)

    assert area == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize(
    "parameters",
    [KERAS_REFERENCE.to_dict(), Uniform.with_std(0.2, mean=0.05).to_dict()],
    ids=["corrected_truncation", "uniform"],
)
def test_bounded_pdf_is_zero_outside(parameters):
    low, high = parameters["low"], parameters["high"]
    outside = np.array([low - 1.0, low - 1e-6, high + 1e-6, high + 1.0])
    inside = np.array([low, 0.5 * (low + high), high])

    assert np.all(plots._pdf(parameters, outside) == 0.0)
    assert np.all(plots._pdf(parameters, inside) > 0.0)


def test_truncated_pdf_matches_scipy():
    x = np.linspace(-1.0, 1.0, 101)
    b = KERAS_REFERENCE.bound_in_scale
    expected = stats.truncnorm(-b, b, scale=KERAS_REFERENCE.scale).pdf(x)

    assert plots._pdf(KERAS_REFERENCE.to_dict(), x) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    "reference",
    [
        Normal(0.1, 0.3),
        KERAS_REFERENCE,
        TruncatedNormal.uncorrected_at(0.5, bound_in_scale=1.0, mean=-0.2),
        Uniform.with_std(0.2, mean=0.05),
        Orthogonal(1.5, 16, 64),
    ],
    ids=["normal", "corrected_truncation", "narrow_truncation", "uniform", "orthogonal"],
)
def test_ppf_inverts_reference_cdf(reference):
    probabilities = np.array([1e-6, 0.001, 0.1, 0.37, 0.5, 0.9, 0.999, 1.0 - 1e-6])

    quantiles = plots._ppf(reference.to_dict(), probabilities)

    assert reference.cdf(quantiles) == pytest.approx(probabilities, rel=1e-7, abs=1e-12)


def test_ppf_of_constant_is_none():
    assert plots._ppf(Constant(0.0).to_dict(), np.array([0.5])) is None
