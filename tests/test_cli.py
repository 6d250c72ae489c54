"""The command line end to end: invalid input, missing frameworks, verdicts and determinism.

Runs that draw weights use the real frameworks in worker processes, so those tests carry the
`frameworks` marker. Invalid input is rejected before any worker starts.
"""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import harness.runner
from harness import cli
from harness.decision import DEFAULT_ALPHA

REPOSITORY = Path(__file__).resolve().parents[1]
FRAMEWORK_MODULES = ("torch", "tensorflow", "jax", "keras")

# The motivating case: both frameworks cite He et al. 2015, but Keras truncates the normal.
MOTIVATING_NAME = "he-normal-dense16"
MOTIVATING_ARGUMENTS = [
    "compare",
    "torch:kaiming_normal",
    "keras:he_normal",
    "--layer",
    "dense(in=16,out=16)",
    "--layers",
    "100",
    "--seed",
    "7",
    "--name",
    MOTIVATING_NAME,
]
# Keras cuts at 2 raw std, and the corrected raw std is the final std / 0.8796 (the std of a
# standard normal restricted to [-2, 2]), so the cut lies at 2 / 0.8796 final std.
CORRECTED_BOUND_IN_STD = 2.0 / 0.87962566103423978


def _compare_arguments(
    left: str = "torch:kaiming_normal",
    right: str = "keras:he_normal",
    layer: str = "dense(in=16,out=16)",
    layers: str = "10",
) -> list[str]:
    return ["compare", left, right, "--layer", layer, "--layers", layers]


def _framework_modules_after(code: str) -> list[str]:
    """Run `code` in a fresh interpreter and list the framework modules it left imported."""
    script = (
        f"{code}\n"
        "import json, sys\n"
        f"roots = {FRAMEWORK_MODULES!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.partition('.')[0] in roots)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_imports_load_no_framework():
    code = (
        "import adapters, adapters.base, adapters.pytorch, adapters.keras3\n"
        "import harness, harness.cli, harness.compare, harness.runner, harness.worker\n"
        "from harness.specs import parse_side\n"
        "for text in ('torch:kaiming_normal', 'keras:he_normal', 'keras/jax:he_normal',\n"
        "             'keras/torch:he_normal'):\n"
        "    parse_side(text)\n"
    )

    assert _framework_modules_after(code) == []


def test_list_command_loads_no_framework():
    code = (
        "import contextlib, io\n"
        "from harness.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['list'])\n"
    )

    assert _framework_modules_after(code) == []


INVALID_COMPARE_CASES = [
    pytest.param(
        _compare_arguments(left="mxnet:he_normal"),
        ["'mxnet'", "valid choices: torch, keras"],
        id="unknown-framework",
    ),
    pytest.param(
        _compare_arguments(right="keras/mxnet:he_normal"),
        ["'mxnet'", "valid choices: tensorflow, jax, torch"],
        id="unknown-backend",
    ),
    pytest.param(
        _compare_arguments(left="torch:he_truncated"),
        ["'he_truncated'", "valid choices:", "kaiming_normal", "xavier_uniform"],
        id="unknown-initializer",
    ),
    pytest.param(
        _compare_arguments(left="torch:kaiming_normal(scale=2)"),
        ["'scale'", "valid arguments: a, mode, nonlinearity"],
        id="unknown-initializer-argument",
    ),
    pytest.param(
        _compare_arguments(left="torch:kaiming_normal(mode=sideways)"),
        ["'sideways'", "valid choices: fan_in, fan_out"],
        id="invalid-argument-value",
    ),
    pytest.param(
        _compare_arguments(layer="transformer(in=16,out=16)"),
        ["'transformer'", "valid choices: dense, conv1d, conv2d"],
        id="unknown-layer",
    ),
    pytest.param(
        _compare_arguments(layer="dense(in=16,out=16,bias=1)"),
        ["'bias'", "valid arguments: in, out"],
        id="unknown-layer-argument",
    ),
    pytest.param(
        _compare_arguments(layer="dense(in=0,out=16)"),
        ["in=0", "expected a positive integer"],
        id="non-positive-size",
    ),
    pytest.param(
        _compare_arguments(layers="0"),
        ["layers=0", "expected an integer >= 1"],
        id="zero-layers",
    ),
    pytest.param(
        [*_compare_arguments(), "--margin", "nosuch=0.1"],
        ["'nosuch'", "valid choices: ks_distance, mean, std_ratio"],
        id="unknown-margin",
    ),
    pytest.param(
        [*_compare_arguments(), "--margin", "std_ratio=-1"],
        ["std_ratio=-1.0", "expected a finite number above 0"],
        id="negative-margin",
    ),
    pytest.param(
        [*_compare_arguments(), "--margin", "std_ratio=nan"],
        ["std_ratio=nan", "expected a finite number above 0"],
        id="nan-margin",
    ),
    pytest.param(
        [*_compare_arguments(), "--margin", "mean=inf"],
        ["mean=inf", "expected a finite number above 0"],
        id="infinite-margin",
    ),
    pytest.param(
        [*_compare_arguments(), "--margin", "ks_distance=nan"],
        ["ks_distance=nan", "expected a number in (0, 1)"],
        id="nan-probability-margin",
    ),
    pytest.param(
        [*_compare_arguments(), "--margin", "tail_2sd=5"],
        ["tail_2sd=5.0", "expected a number in (0, 1)"],
        id="probability-margin-above-1",
    ),
]


def _assert_one_line_error(captured, expected_parts: list[str], out: Path) -> None:
    lines = captured.err.strip().splitlines()

    assert captured.out == ""
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("init-harness: error: ")
    for part in expected_parts:
        assert part in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(("arguments", "expected_parts"), INVALID_COMPARE_CASES)
def test_compare_rejects_invalid_input(tmp_path, capsys, arguments, expected_parts):
    out = tmp_path / "out"

    exit_code = cli.main([*arguments, "--out", str(out)])

    assert exit_code == 2
    _assert_one_line_error(capsys.readouterr(), expected_parts, out)


VALID_COMPARISON = """
[[comparisons]]
left = "torch:kaiming_normal"
right = "keras:he_normal"
layer = "dense(in=16,out=16)"
layers = 10
"""

INVALID_SUITE_CASES = [
    pytest.param(
        '[suite\nname = "broken"\n' + VALID_COMPARISON,
        ["malformed suite file", "suite.toml"],
        id="malformed-toml",
    ),
    pytest.param(
        '[suite]\nname = "colours"\ncolour = "red"\n' + VALID_COMPARISON,
        ["'colour'", "valid keys: name, seed, alpha, margins"],
        id="unknown-suite-key",
    ),
    pytest.param(
        VALID_COMPARISON + "layer_count = 3\n",
        ["'layer_count'", "valid keys: name, left, right, layer, layers, seed, margins"],
        id="unknown-comparison-key",
    ),
]


@pytest.mark.parametrize(("suite_text", "expected_parts"), INVALID_SUITE_CASES)
def test_run_rejects_invalid_suite(tmp_path, capsys, suite_text, expected_parts):
    suite = tmp_path / "suite.toml"
    suite.write_text(suite_text)
    out = tmp_path / "out"

    exit_code = cli.main(["run", str(suite), "--out", str(out)])

    assert exit_code == 2
    _assert_one_line_error(capsys.readouterr(), expected_parts, out)


def test_module_entry_point_rejects_framework(tmp_path):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "harness",
        *_compare_arguments(left="mxnet:he_normal"),
        "--out",
        str(out),
    ]

    completed = subprocess.run(
        command, cwd=REPOSITORY, capture_output=True, text=True, check=False
    )

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr
    assert "'mxnet'" in completed.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "right",
    [
        pytest.param("torch:xavier_normal", id="both-sides-missing"),
        pytest.param(
            "keras/jax:he_normal", id="other-side-installed", marks=pytest.mark.frameworks
        ),
    ],
)
def test_missing_framework_skips_side(tmp_path, monkeypatch, right):
    def torch_not_installed(framework, backend):
        return ["torch"] if framework == "torch" else []

    monkeypatch.setattr(harness.runner, "missing_packages", torch_not_installed)
    out = tmp_path / "out"
    arguments = _compare_arguments(right=right, layer="dense(in=4,out=4)", layers="2")

    exit_code = cli.main([*arguments, "--name", "torch-missing", "--out", str(out)])

    assert exit_code == 0
    document = json.loads((out / "torch-missing.json").read_text())
    assert document["verdict"] == "skipped"
    assert any("not installed: torch" in reason for reason in document["reasons"])
    assert document["sides"][0]["status"] == "skipped"
    report = (out / "report.md").read_text()
    assert "torch-missing" in report
    assert "**skipped**" in report
    assert "not installed: torch" in report


@pytest.fixture(scope="module")
def motivating_runs(tmp_path_factory) -> list[dict]:
    """Run the motivating comparison twice with the same seed, each into its own folder."""
    runs = []
    for attempt in range(2):
        out = tmp_path_factory.mktemp(f"motivating-{attempt}") / "out"
        exit_code = cli.main([*MOTIVATING_ARGUMENTS, "--out", str(out)])
        runs.append({"exit_code": exit_code, "out": out})
    return runs


@pytest.fixture(scope="module")
def motivating(motivating_runs) -> dict:
    return json.loads((motivating_runs[0]["out"] / f"{MOTIVATING_NAME}.json").read_text())


def _sides_by_framework(document: dict) -> dict[str, dict]:
    return {side["framework"]: side for side in document["sides"]}


@pytest.mark.frameworks
def test_motivating_case_writes_verdict(motivating_runs):
    for run in motivating_runs:
        assert run["exit_code"] == 0
        assert sorted(p.name for p in run["out"].iterdir()) == [
            f"{MOTIVATING_NAME}.json",
            "manifest.json",
            "plots",
            "report.md",
        ]
        assert (run["out"] / "plots" / f"{MOTIVATING_NAME}.png").stat().st_size > 0


@pytest.mark.frameworks
def test_motivating_case_is_different(motivating):
    assert motivating["verdict"] == "different"


@pytest.mark.frameworks
def test_motivating_case_references(motivating):
    sides = _sides_by_framework(motivating)
    keras_reference = sides["keras"]["reference"]

    assert sides["torch"]["reference"]["family"] == "normal"
    assert keras_reference["family"] == "truncated_normal"
    assert keras_reference["variance_corrected"] is True
    assert keras_reference["bound_in_std"] == pytest.approx(CORRECTED_BOUND_IN_STD, rel=1e-9)
    assert keras_reference["bound_in_std"] == pytest.approx(2.27, abs=0.005)


@pytest.mark.frameworks
def test_motivating_case_sides(motivating):
    sides = _sides_by_framework(motivating)

    assert sides["torch"]["backend"] is None
    assert sides["keras"]["backend"] == "tensorflow"
    for framework, side in sides.items():
        assert side["fan_in"] == 16, framework
        assert side["fan_out"] == 16, framework
        assert side["n_weights"] == 100 * 16 * 16, framework
        assert side["expected_std"] == pytest.approx(math.sqrt(2.0 / 16), rel=1e-12), framework


@pytest.mark.frameworks
def test_motivating_case_reasons(motivating):
    reasons = motivating["reasons"]

    assert any(reason.startswith("excess_kurtosis") for reason in reasons), reasons
    assert any(reason.startswith(("tail_", "within_")) for reason in reasons), reasons


@pytest.mark.frameworks
def test_verdict_has_contract_fields(motivating):
    for key in ("schema_version", "verdict", "reasons", "checks", "sides", "layer", "run"):
        assert key in motivating, key
    assert motivating["schema_version"] == 1
    assert motivating["checks"], "no checks"
    for check in motivating["checks"]:
        for key in ("name", "statistic", "pvalue", "threshold", "passed"):
            assert key in check, f"check {check.get('name')} lacks {key}"

    side_keys = (
        "spec",
        "framework",
        "backend",
        "versions",
        "n_weights",
        "fan_in",
        "fan_out",
        "expected_std",
        "summary",
        "bound_violations",
        "reference",
    )
    summary_keys = ("mean", "std", "skewness", "excess_kurtosis", "max_abs")
    assert len(motivating["sides"]) == 2
    for side in motivating["sides"]:
        for key in side_keys:
            assert key in side, f"side {side['spec']} lacks {key}"
        for key in summary_keys:
            assert key in side["summary"], f"summary of {side['spec']} lacks {key}"
        assert "family" in side["reference"], side["spec"]

    run = motivating["run"]
    for key in ("seed", "layers", "alpha", "started_at", "duration_s", "tool_version"):
        assert key in run, key
    assert run["seed"] == 7
    assert run["layers"] == 100
    assert run["alpha"] == DEFAULT_ALPHA
    assert motivating["layer"]["spec"] == "dense(in=16,out=16)"


@pytest.mark.frameworks
def test_same_seed_same_verdict_file(motivating_runs):
    documents = []
    for run in motivating_runs:
        document = json.loads((run["out"] / f"{MOTIVATING_NAME}.json").read_text())
        comparable = copy.deepcopy(document)
        del comparable["run"]["started_at"]
        del comparable["run"]["duration_s"]
        documents.append(comparable)
    reports = [(run["out"] / "report.md").read_text() for run in motivating_runs]

    assert documents[0] == documents[1]
    assert reports[0] == reports[1]


def _control_suite() -> str:
    lines = ['[suite]\nname = "controls"\n']
    for seed in range(1, 11):
        for name, left, right in (
            ("torch", "torch:kaiming_normal", "torch:kaiming_normal"),
            ("keras-tensorflow-jax", "keras:he_normal", "keras/jax:he_normal"),
        ):
            lines.append(
                "[[comparisons]]\n"
                f'name = "{name}-seed{seed}"\n'
                f'left = "{left}"\n'
                f'right = "{right}"\n'
                'layer = "dense(in=256,out=256)"\n'
                "layers = 20\n"
                f"seed = {seed}\n"
            )
    return "\n".join(lines)


@pytest.mark.frameworks
def test_controls_same_for_ten_seeds(tmp_path):
    suite = tmp_path / "controls.toml"
    suite.write_text(_control_suite())
    out = tmp_path / "out"

    exit_code = cli.main(["run", str(suite), "--out", str(out)])

    assert exit_code == 0
    verdicts = sorted(p for p in out.glob("*.json") if p.name != "manifest.json")
    assert len(verdicts) == 20
    for path in verdicts:
        document = json.loads(path.read_text())
        assert document["verdict"] == "same", f"{path.stem}: {document['reasons']}"


@pytest.mark.frameworks
def test_small_run_is_inconclusive_with_size(tmp_path):
    # Ten 16 x 16 layers (2,560 weights a side) of one initializer cannot show equivalence.
    out = tmp_path / "out"
    arguments = _compare_arguments("torch:kaiming_normal", "torch:kaiming_normal")
    exit_code = cli.main([*arguments, "--seed", "11", "--name", "small", "--out", str(out)])

    document = json.loads((out / "small.json").read_text())
    assert exit_code == 0
    assert document["verdict"] == "inconclusive"
    assert document["weights_needed_per_side"] > 2560
    assert any("weights per side would settle it" in reason for reason in document["reasons"])


@pytest.mark.frameworks
def test_orthogonal_sides_use_structural_checks(tmp_path):
    out = tmp_path / "out"
    arguments = _compare_arguments(
        "torch:orthogonal", "keras/jax:orthogonal", "dense(in=32,out=16)", "50"
    )
    exit_code = cli.main([*arguments, "--seed", "3", "--name", "orthogonal", "--out", str(out)])

    document = json.loads((out / "orthogonal.json").read_text())
    names = {check["name"] for check in document["checks"] if check["scope"] == "between"}
    assert exit_code == 0
    assert names == {"orthogonality_match", "gain_ratio", "element_ks"}
    assert document["verdict"] == "same"
    for side in document["sides"]:
        assert side["reference"]["family"] == "orthogonal"
        assert side["conforms_to_reference"]


@pytest.mark.frameworks
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reduced_precision_comparison_runs(tmp_path, dtype):
    out = tmp_path / "out"
    arguments = _compare_arguments(
        f"torch:kaiming_normal@{dtype}", f"keras/jax:he_normal@{dtype}", layers="100"
    )
    exit_code = cli.main([*arguments, "--name", dtype, "--no-plots", "--out", str(out)])

    document = json.loads((out / f"{dtype}.json").read_text())
    assert exit_code == 0
    assert [side["dtype"] for side in document["sides"]] == [dtype, dtype]
    # The truncation still decides; rounding to 16 bits must not fake bound violations.
    assert document["verdict"] == "different"
    assert document["sides"][1]["bound_violations"] == 0


@pytest.mark.frameworks
def test_raising_initializer_is_a_finding(tmp_path):
    # A 1-D bias has no fans, so torch's kaiming_normal_ raises inside the framework.
    out = tmp_path / "out"
    arguments = _compare_arguments(
        "torch:kaiming_normal", "keras:he_normal", layer="dense(in=16,out=16).bias"
    )
    exit_code = cli.main([*arguments, "--name", "bias", "--no-plots", "--out", str(out)])

    document = json.loads((out / "bias.json").read_text())
    assert exit_code == 0
    assert document["verdict"] == "error"
    assert document["sides"][0]["status"] == "error"
    assert "ValueError" in document["sides"][0]["reason"]
    assert (out / "report.md").exists()
