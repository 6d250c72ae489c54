"""The Holm correction and the same / different / inconclusive verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.checks import Check, Margins, between_sides
from harness.decision import DIFFERENT, INCONCLUSIVE, SAME, decide, holm
from harness.references import Normal, TruncatedNormal, Uniform
from harness.samples import Sample

ALPHA = 1e-3
STD = 0.05
NORMAL = Normal(0.0, STD)
TRUNCATED = TruncatedNormal.variance_corrected_at(STD)
UNIFORM = Uniform.with_std(STD)


def make_check(
    name: str,
    pvalue: float,
    estimate: float = 0.0,
    interval: tuple[float, float] = (-0.01, 0.01),
    margin: float = 0.1,
) -> Check:
    return Check(
        name=name,
        scope="between",
        statistic=0.0,
        pvalue=pvalue,
        estimate=estimate,
        interval=interval,
        margin=margin,
        unit="difference",
        min_detectable_effect=None,
        description=f"hand-made check {name}",
        details={"standard_error": 0.01, "n": 1000},
    )


def compare(left_weights, right_weights, left_reference, right_reference):
    checks = between_sides(
        Sample(left_weights),
        Sample(right_weights),
        left_reference,
        right_reference,
        alpha=ALPHA,
        margins=Margins(),
    )
    return decide(checks, ALPHA)


def deciding_names(decision) -> set[str]:
    return {check.name for check in decision.checks if check.outcome == "different"}


def test_holm_thresholds_by_rank():
    pvalues = [0.04, 0.0001, 0.5, 0.005, 0.03]
    checks = [make_check(f"check_{i}", p) for i, p in enumerate(pvalues)]

    decided = holm(checks, alpha=0.05)

    # Ranks by p-value: 0.0001, 0.005, 0.03, 0.04, 0.5, with thresholds alpha / (5 - rank).
    assert [c.name for c in decided] == [c.name for c in checks]
    assert [c.threshold for c in decided] == pytest.approx(
        [0.05 / 2, 0.05 / 5, 0.05 / 1, 0.05 / 4, 0.05 / 3], rel=1e-12
    )
    assert [c.passed for c in decided] == [True, False, True, False, True]


def test_holm_stops_at_first_non_rejection():
    # 0.045 is below its own threshold 0.05, but 0.02 > 0.05 / 3 stops the procedure first.
    checks = [make_check(f"check_{i}", p) for i, p in enumerate([0.01, 0.02, 0.03, 0.045])]

    decided = holm(checks, alpha=0.05)

    assert [c.threshold for c in decided] == pytest.approx(
        [0.05 / 4, 0.05 / 3, 0.05 / 2, 0.05 / 1], rel=1e-12
    )
    assert [c.passed for c in decided] == [False, True, True, True]


def test_holm_rejects_pvalue_equal_to_threshold():
    alpha = 0.05
    checks = [make_check("first", alpha / 2), make_check("second", alpha)]

    decided = holm(checks, alpha=alpha)

    assert [c.passed for c in decided] == [False, False]


def test_holm_rejects_all_when_all_small():
    checks = [make_check(f"check_{i}", p) for i, p in enumerate([1e-6, 2e-6, 3e-6])]

    assert [c.passed for c in holm(checks, alpha=ALPHA)] == [False, False, False]


def test_small_significant_effect_is_same():
    checks = [
        make_check("tiny_shift", pvalue=1e-20, estimate=0.05, interval=(0.04, 0.06)),
        make_check("other", pvalue=0.5, estimate=0.0, interval=(-0.02, 0.02)),
    ]

    decision = decide(checks, ALPHA)

    assert decision.verdict == SAME
    assert [c.outcome for c in decision.checks] == ["equivalent", "equivalent"]


def test_significant_effect_beyond_margin_is_different():
    checks = [
        make_check("large_shift", pvalue=1e-20, estimate=0.3, interval=(0.25, 0.35)),
        make_check("other", pvalue=0.5, estimate=0.0, interval=(-0.02, 0.02)),
    ]

    decision = decide(checks, ALPHA)

    assert decision.verdict == DIFFERENT
    assert deciding_names(decision) == {"large_shift"}
    assert decision.reasons[0].startswith("large_shift:")
    assert decision.weights_needed is None


def _with_exact_std(values: np.ndarray, std: float) -> np.ndarray:
    return (values - values.mean()) / values.std() * std


def test_effect_near_margin_inconclusive():
    # A 0.75% std mismatch at 400,000 weights a side: z = 4.7 against "no effect", but only 1.6
    # standard errors beyond the 0.5% margin, so the difference is not shown to exceed it.
    rng = np.random.default_rng(20251204212)
    left = _with_exact_std(rng.normal(0.0, STD, 400_000), STD)
    right = _with_exact_std(rng.normal(0.0, STD, 400_000), 1.0075 * STD)

    decision = compare(left, right, NORMAL, NORMAL)
    std_ratio = next(c for c in decision.checks if c.name == "std_ratio")

    assert std_ratio.statistic > 4.5
    assert std_ratio.outcome == "undecided"
    assert decision.verdict == INCONCLUSIVE


def test_effect_beyond_margin_different():
    rng = np.random.default_rng(20251204213)
    left = _with_exact_std(rng.normal(0.0, STD, 400_000), STD)
    right = _with_exact_std(rng.normal(0.0, STD, 400_000), 1.02 * STD)

    decision = compare(left, right, NORMAL, NORMAL)

    assert decision.verdict == DIFFERENT
    assert "std_ratio" in deciding_names(decision)


def test_wide_interval_is_inconclusive():
    checks = [
        make_check("wide", pvalue=0.3, estimate=0.02, interval=(-0.15, 0.19)),
        make_check("narrow", pvalue=0.5, estimate=0.0, interval=(-0.02, 0.02)),
    ]

    decision = decide(checks, ALPHA)

    assert decision.verdict == INCONCLUSIVE
    assert [c.outcome for c in decision.checks] == ["undecided", "equivalent"]
    assert decision.weights_needed is not None
    assert decision.weights_needed > 1000


@pytest.mark.parametrize("truncated_side", ["left", "right"])
def test_detects_corrected_truncation_at_25600(truncated_side, reference_truncated_draws):
    rng = np.random.default_rng(20251204301)
    normal_weights = rng.normal(0.0, STD, 25_600)
    truncated_weights = reference_truncated_draws(rng, 25_600, TRUNCATED)

    if truncated_side == "left":
        decision = compare(truncated_weights, normal_weights, TRUNCATED, NORMAL)
    else:
        decision = compare(normal_weights, truncated_weights, NORMAL, TRUNCATED)
    deciding = deciding_names(decision)

    assert decision.verdict == DIFFERENT
    assert "excess_kurtosis" in deciding
    assert deciding & {"tail_2sd", "tail_3sd", f"within_{truncated_side}_bound"}
    assert f"within_{truncated_side}_bound" in deciding


@pytest.mark.parametrize("seed", [20251204302, 20251204303, 20251204304])
def test_accepts_equal_normals_at_1_3_million(seed):
    rng = np.random.default_rng(seed)
    size = 1_300_000

    decision = compare(rng.normal(0.0, STD, size), rng.normal(0.0, STD, size), NORMAL, NORMAL)

    assert decision.verdict == SAME
    assert all(c.outcome == "equivalent" for c in decision.checks)
    assert decision.weights_needed is None
    assert f"alpha={ALPHA:g}" in decision.reasons[0]


def test_accepts_equal_truncations_at_1_3_million(reference_truncated_draws):
    rng = np.random.default_rng(20251204305)
    size = 1_300_000
    left = reference_truncated_draws(rng, size, TRUNCATED)
    right = reference_truncated_draws(rng, size, TRUNCATED)

    decision = compare(left, right, TRUNCATED, TRUNCATED)
    outcomes = {c.name: c.outcome for c in decision.checks}

    assert decision.verdict == SAME
    assert outcomes["within_left_bound"] == "consistent"
    assert outcomes["within_right_bound"] == "consistent"


def test_equal_normals_at_2000_are_inconclusive():
    rng = np.random.default_rng(20251204306)

    decision = compare(rng.normal(0.0, STD, 2000), rng.normal(0.0, STD, 2000), NORMAL, NORMAL)
    undecided = [c for c in decision.checks if c.outcome == "undecided"]

    assert decision.verdict == INCONCLUSIVE
    assert "ks_2samp" in {c.name for c in undecided}
    assert decision.weights_needed is not None
    assert decision.weights_needed > 2000
    assert decision.weights_needed == max(c.weights_needed for c in undecided)
    assert all(c.weights_needed is not None and c.weights_needed > 2000 for c in undecided)


def test_planned_size_covers_ks_slack():
    rng = np.random.default_rng(20251204307)

    decision = compare(rng.normal(0.0, STD, 2000), rng.normal(0.0, STD, 2000), NORMAL, NORMAL)

    # The ks_2samp interval cannot fall inside its margin until the two DKW half widths,
    # 2 sqrt(ln(4 / alpha) / (2 n)), fit in it, even with a zero observed distance.
    margin = Margins().ks_distance
    smallest = math.log(4.0 / ALPHA) / (2.0 * (margin / 2.0) ** 2)
    assert decision.weights_needed >= smallest


def test_detects_uniform_against_normal_at_2000():
    rng = np.random.default_rng(20251204308)
    normal_weights = rng.normal(0.0, STD, 2000)
    uniform_weights = rng.uniform(-UNIFORM.half_width, UNIFORM.half_width, 2000)

    decision = compare(normal_weights, uniform_weights, NORMAL, UNIFORM)
    deciding = deciding_names(decision)

    assert decision.verdict == DIFFERENT
    assert "excess_kurtosis" in deciding
    assert "within_right_bound" in deciding


def test_leaked_truncation_is_different(reference_truncated_draws):
    rng = np.random.default_rng(20251204309)
    clean = reference_truncated_draws(rng, 25_600, TRUNCATED)
    leaking = reference_truncated_draws(rng, 25_600, TRUNCATED)
    leaking[[100, 5000, 17_000]] = np.array([1.05, -1.1, 1.02]) * TRUNCATED.bound

    decision = compare(clean, leaking, TRUNCATED, TRUNCATED)

    assert decision.verdict == DIFFERENT
    assert deciding_names(decision) == {"within_left_bound"}
    assert (
        "3 of 25,600 right weights lie beyond the left side's documented hard bound"
        in (decision.reasons[0])
    )


def test_clean_truncations_not_different(reference_truncated_draws):
    rng = np.random.default_rng(20251204310)
    clean = reference_truncated_draws(rng, 25_600, TRUNCATED)
    other = reference_truncated_draws(rng, 25_600, TRUNCATED)

    decision = compare(clean, other, TRUNCATED, TRUNCATED)

    assert decision.verdict != DIFFERENT
    assert not deciding_names(decision)
