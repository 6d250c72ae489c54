"""Draw one comparison as a PNG: densities, QQ plots and the ECDF difference, side by side.

The figure shows what the verdict file states in numbers. Panel 1 shows each side's histogram
density on a log scale with its fitted family and documented hard bound, so a truncation shows
as a density that stops at a dashed line. Panel 2 plots each side against its documented
reference. Panel 3 plots the difference of the two ECDFs with the two-sample KS point.

Figures are drawn on matplotlib's Agg canvas directly, so no display and no pyplot state are
involved, and several threads may draw at once.
"""

from __future__ import annotations

import math
import os
import pathlib
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import special, stats

# Okabe-Ito blue and vermillion: distinct in colour and in lightness, also for colour-blind
# readers and in greyscale prints.
SIDE_COLOURS = ("#0072B2", "#D55E00")

# Histograms and ECDFs use a fixed-seed random subset of at most this many values per side, so
# the time of a plot does not grow with the number of weights and the same data gives the same
# PNG. At 200,000 values the ECDF is within 0.003 of the full one (DKW bound, 95%), and a
# density bin holding 1% of the mass has a standard error of about 2% of its height.
MAX_PLOTTED_VALUES = 200_000
MAX_QQ_POINTS = 2_000
SUBSAMPLE_SEED = 0
HISTOGRAM_BINS = 120
# Points of the fitted density curves; dense enough that a truncation drops vertically.
DENSITY_GRID_POINTS = 2_001

FIGURE_SIZE_INCHES = (15.0, 4.5)
DPI = 100
# mkstemp creates files readable by the owner only; a plot is meant to be shared like the
# verdict file next to it.
PNG_MODE = 0o644

# Families whose elements are not independent draws: the harness fits no element-wise family
# to them, so no fitted density is drawn.
NOT_ELEMENT_WISE = ("orthogonal", "constant")


@dataclass(frozen=True)
class _SidePlot:
    """Data of one side as the panels draw it, in weight units rather than sigma units."""

    spec: str
    colour: str
    sorted_values: np.ndarray  # the fixed-seed subset, sorted, float64
    n_weights: int
    minimum: float  # over all weights, not only the subset
    maximum: float
    reference: dict[str, Any]
    fit_parameters: dict[str, Any] | None
    fit_label: str | None


def plot_comparison(
    document: dict, left: np.ndarray, right: np.ndarray, path: pathlib.Path
) -> pathlib.Path:
    """Write the comparison's three-panel PNG to `path` and return the path.

    `document` is the verdict dict for the comparison, and `left` and `right` are the weights
    each side drew, in any shape. The PNG is written to a temporary file in the same folder and
    renamed over `path`, so readers never see a half-written file. Parent folders are created.
    Raises ValueError when the document does not have two sides or a side has no weights.
    """
    path = pathlib.Path(path)
    figure = _build_figure(document, left, right)

    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            figure.savefig(handle, format="png", dpi=DPI)
        os.chmod(temporary, PNG_MODE)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _build_figure(document: dict, left: np.ndarray, right: np.ndarray) -> Figure:
    """Build the three-panel figure without writing it."""
    document_sides = document.get("sides") or []
    if len(document_sides) != 2:
        raise ValueError(
            f"a comparison document needs exactly 2 sides; received {len(document_sides)}"
        )
    sides = [
        _side_plot(side, weights, colour)
        for side, weights, colour in zip(document_sides, (left, right), SIDE_COLOURS, strict=True)
    ]
    sigma = _sigma(document_sides)

    figure = Figure(figsize=FIGURE_SIZE_INCHES, dpi=DPI)
    FigureCanvasAgg(figure)
    # Fixed margins, because the constrained layout engine measures every tick label and took
    # about half of each plot's time in a profile.
    figure.subplots_adjust(left=0.045, right=0.99, bottom=0.12, top=0.86, wspace=0.26)
    density_axes, qq_axes, ecdf_axes = figure.subplots(1, 3)
    _draw_densities(density_axes, sides, sigma)
    _draw_qq(qq_axes, sides, sigma)
    _draw_ecdf_difference(ecdf_axes, sides, sigma, _check(document, "ks_2samp"))

    comparison = document.get("comparison") or f"{sides[0].spec} vs {sides[1].spec}"
    verdict = document.get("verdict", "no verdict")
    figure.suptitle(f"{comparison}: {verdict}", fontsize=13, fontweight="bold")
    return figure


def _side_plot(side: dict[str, Any], weights: np.ndarray, colour: str) -> _SidePlot:
    spec = str(side.get("spec", "side"))
    flat = np.ravel(np.asarray(weights))
    if flat.size == 0:
        raise ValueError(f"side {spec!r} has no weights to plot; plot only sides that ran")

    subset = flat
    if flat.size > MAX_PLOTTED_VALUES:
        rng = np.random.default_rng(SUBSAMPLE_SEED)
        subset = flat[rng.choice(flat.size, MAX_PLOTTED_VALUES, replace=False)]

    fit_parameters, fit_label = _fit_to_draw(side)
    return _SidePlot(
        spec=spec,
        colour=colour,
        sorted_values=np.sort(subset.astype(np.float64)),
        n_weights=int(flat.size),
        minimum=float(flat.min()),
        maximum=float(flat.max()),
        reference=side.get("reference") or {},
        fit_parameters=fit_parameters,
        fit_label=fit_label,
    )


def _fit_to_draw(side: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """Return the parameters and legend label of the fitted family to draw, or (None, None).

    The supported family is drawn. When every family was rejected, the best-ranked one (lowest
    BIC, first in the list) is drawn with a label that states it. Orthogonal and constant sides
    have no element-wise fit.
    """
    reference_family = (side.get("reference") or {}).get("family")
    fit = side.get("fit") or {}
    families = fit.get("families") or []
    if reference_family in NOT_ELEMENT_WISE or not families:
        return None, None

    supported = fit.get("supported")
    if supported is not None:
        chosen = next((f for f in families if f["family"] == supported), None)
        if chosen is None:
            raise ValueError(
                f"invalid fit for side {side.get('spec')!r}: the supported family "
                f"{supported!r} is missing from its families"
            )
        return chosen["parameters"], f"fit: {supported}"
    best = families[0]
    return best["parameters"], f"fit: {best['family']} (best, all rejected)"


def _sigma(document_sides: list[dict[str, Any]]) -> float:
    """Return the plotting unit: the mean of the sides' expected std, as the checks use it.

    Constant sides have expected std 0 and are left out of the mean. When no side has a
    positive expected std, the unit is 1 and the axes show raw weights.
    """
    stds = [float(side.get("expected_std") or 0.0) for side in document_sides]
    positive = [std for std in stds if math.isfinite(std) and std > 0.0]
    return float(np.mean(positive)) if positive else 1.0


def _check(document: dict, name: str) -> dict[str, Any] | None:
    return next((c for c in document.get("checks") or [] if c.get("name") == name), None)


# Densities and quantile functions of the reference families, from their `to_dict` parameters.


def _normal_pdf(parameters: dict[str, Any], x: np.ndarray) -> np.ndarray:
    z = (x - float(parameters["mean"])) / float(parameters["std"])
    return np.exp(-0.5 * z * z) / (float(parameters["std"]) * math.sqrt(2.0 * math.pi))


def _truncated_normal_pdf(parameters: dict[str, Any], x: np.ndarray) -> np.ndarray:
    mean, scale = float(parameters["mean"]), float(parameters["scale"])
    low, high = float(parameters["low"]), float(parameters["high"])
    mass = special.ndtr((high - mean) / scale) - special.ndtr((low - mean) / scale)
    z = (x - mean) / scale
    inside = (x >= low) & (x <= high)
    density = np.exp(-0.5 * z * z) / (scale * math.sqrt(2.0 * math.pi) * mass)
    return np.where(inside, density, 0.0)


def _uniform_pdf(parameters: dict[str, Any], x: np.ndarray) -> np.ndarray:
    low, high = float(parameters["low"]), float(parameters["high"])
    return np.where((x >= low) & (x <= high), 1.0 / (high - low), 0.0)


_PDFS = {
    "normal": _normal_pdf,
    "truncated_normal": _truncated_normal_pdf,
    "uniform": _uniform_pdf,
}


def _pdf(parameters: dict[str, Any], x: np.ndarray) -> np.ndarray:
    family = parameters.get("family")
    if family not in _PDFS:
        raise ValueError(f"no density for family {family!r}; expected one of: {', '.join(_PDFS)}")
    return _PDFS[family](parameters, np.asarray(x, dtype=np.float64))


def _ppf(reference: dict[str, Any], p: np.ndarray) -> np.ndarray | None:
    """Return the reference's quantiles at probabilities `p`, or None for a constant one."""
    family = reference.get("family")
    p = np.asarray(p, dtype=np.float64)
    mean = float(reference.get("mean", 0.0))
    if family == "normal":
        return mean + float(reference["std"]) * special.ndtri(p)
    if family == "truncated_normal":
        scale = float(reference["scale"])
        lower = special.ndtr((float(reference["low"]) - mean) / scale)
        upper = special.ndtr((float(reference["high"]) - mean) / scale)
        return mean + scale * special.ndtri(lower + p * (upper - lower))
    if family == "uniform":
        low, high = float(reference["low"]), float(reference["high"])
        return low + p * (high - low)
    if family == "orthogonal":
        # One element of a Haar matrix: (w / gain)^2 ~ Beta(1/2, (d - 1) / 2), symmetric in sign.
        gain = float(reference["gain"])
        dimension = max(int(reference["rows"]), int(reference["cols"]))
        beta = stats.beta(0.5, 0.5 * (dimension - 1))
        magnitude = gain * np.sqrt(beta.ppf(np.abs(2.0 * p - 1.0)))
        return np.sign(p - 0.5) * magnitude
    if family == "constant":
        return None
    raise ValueError(
        f"no quantile function for family {family!r}; "
        "expected one of: normal, truncated_normal, uniform, orthogonal, constant"
    )


# Panels.


def _draw_densities(axes: Axes, sides: list[_SidePlot], sigma: float) -> None:
    """Panel 1: histogram densities, fitted families and documented bounds, in sigma units."""
    bounds = [_documented_bounds(side.reference) for side in sides]
    # The x range covers every plotted value and every documented bound.
    ends = [value for side in sides for value in (side.sorted_values[0], side.sorted_values[-1])]
    ends += [value for bound in bounds if bound is not None for value in bound]
    low, high = min(ends) / sigma, max(ends) / sigma
    padding = 0.03 * (high - low) if high > low else 0.5
    edges = np.linspace(low - padding, high + padding, HISTOGRAM_BINS + 1)
    width = edges[1] - edges[0]

    smallest_positive = math.inf
    largest = 0.0
    for side, bound in zip(sides, bounds, strict=True):
        x = side.sorted_values / sigma
        counts, _ = np.histogram(x, bins=edges)
        density = counts / (x.size * width)
        count_text = _count_label(x.size, side.n_weights)
        axes.stairs(
            density, edges, color=side.colour, linewidth=1.4, label=f"{side.spec} ({count_text})"
        )
        smallest_positive = min(smallest_positive, 1.0 / (x.size * width))
        largest = max(largest, float(density.max()))

        if side.fit_parameters is not None:
            grid = np.linspace(edges[0], edges[-1], DENSITY_GRID_POINTS)
            grid = np.union1d(grid, _support_edges(side.fit_parameters) / sigma)
            axes.plot(
                grid,
                _pdf(side.fit_parameters, grid * sigma) * sigma,
                color=side.colour,
                linewidth=1.0,
                alpha=0.75,
                label=side.fit_label,
            )

        if bound is not None:
            in_std = side.reference.get("bound_in_std")
            bound_text = f" ±{in_std:.2f}σ" if in_std is not None else ""
            for value, label in ((bound[0], f"documented bound{bound_text}"), (bound[1], None)):
                axes.axvline(
                    value / sigma, color=side.colour, linestyle="--", linewidth=1.0, label=label
                )

    axes.set_yscale("log")
    # Empty bins drop to the bottom edge, half a count below the rarest bin that is not empty.
    axes.set_ylim(0.5 * smallest_positive, 3.0 * largest)
    axes.set_xlim(edges[0], edges[-1])
    axes.set_xlabel(_in_sigma("weight", sigma, defined=True))
    axes.set_ylabel("density (log scale)")
    axes.set_title("Densities, fitted families, documented bounds", fontsize=10)
    axes.legend(loc="lower center", fontsize=7, framealpha=0.9)


def _documented_bounds(reference: dict[str, Any]) -> tuple[float, float] | None:
    if reference.get("low") is None or reference.get("high") is None:
        return None
    return float(reference["low"]), float(reference["high"])


def _support_edges(parameters: dict[str, Any]) -> np.ndarray:
    """Return a bounded family's end points, so the density curve drops exactly there."""
    if parameters.get("low") is None or parameters.get("high") is None:
        return np.empty(0)
    return np.array([float(parameters["low"]), float(parameters["high"])])


def _draw_qq(axes: Axes, sides: list[_SidePlot], sigma: float) -> None:
    """Panel 2: each side's quantiles against its own documented reference, in sigma units.

    Up to MAX_QQ_POINTS evenly spaced quantiles come from the plotted subset. The two extreme
    points are the minimum and maximum of all weights, at plotting positions 0.5 / n and
    1 - 0.5 / n, so a rare weight beyond a documented bound still shows.
    """
    drawn: list[np.ndarray] = []
    notes = []
    for side in sides:
        values = side.sorted_values
        count = min(values.size, MAX_QQ_POINTS)
        indices = ((np.arange(count) + 0.5) / count * values.size).astype(np.int64)
        probabilities = np.concatenate(
            [
                [0.5 / side.n_weights],
                (indices + 0.5) / values.size,
                [1.0 - 0.5 / side.n_weights],
            ]
        )
        sample_quantiles = np.concatenate([[side.minimum], values[indices], [side.maximum]])
        reference_quantiles = _ppf(side.reference, probabilities)
        if reference_quantiles is None:
            notes.append(f"{side.spec}: constant reference, no QQ plot")
            continue

        axes.plot(
            reference_quantiles / sigma,
            sample_quantiles / sigma,
            linestyle="none",
            marker=".",
            markersize=2.5,
            color=side.colour,
            label=f"{side.spec} vs {side.reference.get('family')}",
        )
        drawn.extend([reference_quantiles / sigma, sample_quantiles / sigma])

    if drawn:
        low = min(float(np.min(values)) for values in drawn)
        high = max(float(np.max(values)) for values in drawn)
        axes.plot([low, high], [low, high], color="black", linewidth=0.8, label="y = x")
        axes.legend(loc="upper left", fontsize=7, framealpha=0.9)
    if notes:
        axes.text(0.5, 0.5, "\n".join(notes), transform=axes.transAxes, ha="center", fontsize=8)
    axes.set_xlabel(_in_sigma("documented reference quantile", sigma))
    axes.set_ylabel(_in_sigma("sample quantile", sigma))
    axes.set_title("QQ against each side's documented reference", fontsize=10)


def _draw_ecdf_difference(
    axes: Axes, sides: list[_SidePlot], sigma: float, ks_check: dict[str, Any] | None
) -> None:
    """Panel 3: F_right - F_left on the pooled sorted values, with the KS point marked.

    The curve comes from the plotted subsets. The marked distance and p-value come from the
    `ks_2samp` check, which used all weights; without that check the marked distance is the
    largest |difference| of the subsets and no p-value is shown.
    """
    left, right = sides[0].sorted_values, sides[1].sorted_values
    grid = np.sort(np.concatenate([left, right]))
    difference = _ecdf(right, grid) - _ecdf(left, grid)
    axes.plot(grid / sigma, difference, drawstyle="steps-post", color="black", linewidth=0.9)
    axes.axhline(0.0, color="grey", linewidth=0.6)

    details = (ks_check or {}).get("details") or {}
    location = details.get("location")
    if location is None:
        location = float(grid[np.argmax(np.abs(difference))])
    else:
        location = float(location)
    at_location = float(
        _ecdf(right, np.array([location]))[0] - _ecdf(left, np.array([location]))[0]
    )

    if ks_check is not None:
        text = (
            f"KS D = {ks_check['statistic']:.4g} (margin {ks_check['margin']:g})\n"
            f"{_pvalue_text(ks_check['pvalue'])} for D beyond the margin"
        )
    else:
        text = f"largest |difference| = {abs(at_location):.4g}\n(subsets; no ks_2samp check)"
    axes.plot([location / sigma], [at_location], marker="o", color="crimson", markersize=6)
    # Place the note on the side of zero away from the point, so it stays clear of the peak.
    note_height = 0.1 if at_location >= 0 else 0.9
    axes.annotate(
        text,
        xy=(location / sigma, at_location),
        xytext=(0.5, note_height),
        textcoords="axes fraction",
        ha="center",
        va="center",
        fontsize=9,
        arrowprops={"arrowstyle": "->", "color": "crimson", "linewidth": 0.8},
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "crimson"},
    )

    critical = details.get("critical_distance")
    if critical is not None:
        for level, label in ((critical, "KS distance called different"), (-critical, None)):
            axes.axhline(level, color="grey", linestyle=":", linewidth=0.9, label=label)
        axes.legend(loc="upper left", fontsize=7, framealpha=0.9)

    # Half again the largest value leaves the top and bottom tenth free for the note.
    limit = max(float(np.max(np.abs(difference))), abs(at_location), critical or 0.0) * 1.5
    if limit == 0.0:
        limit = 0.01
    axes.set_ylim(-limit, limit)
    axes.set_xlabel(_in_sigma("weight", sigma))
    axes.set_ylabel("F_right − F_left")
    axes.set_title(f"ECDF difference: {sides[1].spec} − {sides[0].spec}", fontsize=10)


def _pvalue_text(pvalue: float) -> str:
    # Asymptotic KS p-values underflow to 0 for millions of weights a side.
    if pvalue == 0.0:
        return "p < 1e-300"
    return f"p = {pvalue:.3g}"


def _ecdf(sorted_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_values, x, side="right") / sorted_values.size


def _count_label(plotted: int, total: int) -> str:
    if plotted == total:
        return f"{total:,} weights"
    return f"{plotted:,} of {total:,} weights"


def _in_sigma(quantity: str, sigma: float, defined: bool = False) -> str:
    """Return an axis label for `quantity` in sigma units; `defined` adds sigma's value."""
    if sigma == 1.0:
        return quantity
    if defined:
        return f"{quantity} / σ   (σ = {sigma:.4g}, mean expected std)"
    return f"{quantity} / σ"
