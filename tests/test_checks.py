"""The between-sides and against-reference checks, on numpy draws with known results."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness.checks import (
    BOUND_RELATIVE_TOLERANCE,
    POWER,
    Margins,
    against_reference,
    between_sides,
    beyond_margin_pvalue,
    ks_beyond_margin_pvalue,
    ks_critical_distance,
)
from harness.references import Normal, TruncatedNormal, Uniform
from harness.samples import Sample

ALPHA = 1e-3
STD = 0.05
NORMAL = Normal(0.0, STD)
TRUNCATED = TruncatedNormal.variance_corrected_at(STD)
UNIFORM = Uniform.with_std(STD)

UNBOUNDED_CHECKS = [
    "ks_2samp",
    "mean",
    "std_ratio",
    "skewness",
    "excess_kurtosis",
    "tail_2sd",
    "tail_3sd",
]


def checks_by_name(checks):
    return {check.name: check for check in checks}


@pytest.mark.parametrize(("left_size", "right_size"), [(2000, 2000), (2000, 3100)])
def test_ks_2samp_matches_scipy_asymptotic(left_size, right_size):
    rng = np.random.default_rng(20251204201)
    left_weights = rng.normal(0.0, STD, left_size)
    right_weights = rng.uniform(-0.09, 0.09, right_size)

    checks = between_sides(
        Sample(left_weights), Sample(right_weights), NORMAL, NORMAL, alpha=ALPHA, margins=Margins()
    )
    ks = checks_by_name(checks)["ks_2samp"]
    expected = stats.ks_2samp(left_weights, right_weights, method="asymp")

    assert ks.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert ks.estimate == ks.statistic
    assert ks.details["no_difference_pvalue"] == pytest.approx(
        expected.pvalue, rel=1e-9, abs=1e-300
    )
    assert ks.details["location"] == pytest.approx(expected.statistic_location, rel=1e-12)


def test_ks_zero_margin_matches_scipy():
    rng = np.random.default_rng(20251204202)
    # Above 10,000 weights a side scipy's default method is the asymptotic one as well.
    left_weights = rng.normal(0.0, STD, 12_000)
    right_weights = rng.normal(0.002, STD, 15_000)

    checks = between_sides(
        Sample(left_weights),
        Sample(right_weights),
        NORMAL,
        NORMAL,
        alpha=ALPHA,
        margins=Margins(ks_distance=0.0),
    )
    ks = checks_by_name(checks)["ks_2samp"]
    expected = stats.ks_2samp(left_weights, right_weights)

    assert ks.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert ks.pvalue == pytest.approx(expected.pvalue, rel=1e-6)


def test_ks_margin_pvalue_is_dkw_bound():
    # Equal sizes split the excess evenly: 2 * 2 exp(-2 n (excess / 2)^2).
    n = 10_000
    excess = 0.02
    expected = 4.0 * math.exp(-2.0 * n * (excess / 2.0) ** 2)

    assert ks_beyond_margin_pvalue(0.01 + excess, 0.01, n, n, 0.5) == pytest.approx(expected)
    assert ks_beyond_margin_pvalue(0.009, 0.01, n, n, 0.0) == 1.0
    assert ks_beyond_margin_pvalue(0.3, 0.0, n, n, 0.123) == 0.123


@pytest.mark.parametrize("margin", [0.0, 0.01])
def test_ks_critical_distance_meets_level(margin):
    critical = ks_critical_distance(margin, 2_000, 3_100, 1e-4)
    exact = stats.kstwobign.sf(critical / math.sqrt(1 / 2_000 + 1 / 3_100))

    pvalue = ks_beyond_margin_pvalue(critical, margin, 2_000, 3_100, float(exact))

    assert pvalue == pytest.approx(1e-4, rel=1e-9)


def _uniform_deviation(n: int, rng) -> float:
    """Return sup |F_n - F| of n uniform draws."""
    values = np.sort(rng.uniform(size=n))
    steps = np.arange(1, n + 1) / n
    return float(max(np.max(steps - values), np.max(values - (steps - 1.0 / n))))


@pytest.mark.parametrize(("n_left", "n_right"), [(50, 50), (40, 400)])
def test_ks_margin_pvalue_bounds_deviations(n_left, n_right):
    # Where the true distance equals the margin, the observed one exceeds it by at most the two
    # samples' own deviations. The p-value must bound their sum's tail: P(p <= u) <= u. With
    # the constant 2 in place of 4, this fails for equal samples.
    rng = np.random.default_rng(20251204210)
    margin = 0.01
    sums = [
        _uniform_deviation(n_left, rng) + _uniform_deviation(n_right, rng) for _ in range(2000)
    ]

    pvalues = np.array(
        [ks_beyond_margin_pvalue(margin + x, margin, n_left, n_right, 1.0) for x in sums]
    )

    for level in (0.3, 0.5, 0.8, 0.95):
        assert np.mean(pvalues <= level) <= level


def test_beyond_margin_pvalue():
    # At margin 0 the p-value is the two-sided one of "no effect".
    assert beyond_margin_pvalue(2.0, 1.0, 0.0) == pytest.approx(2.0 * stats.norm.sf(2.0))
    # The worst case of H0 puts the effect at the margin.
    expected = stats.norm.sf(3.0) + stats.norm.sf(5.0)
    assert beyond_margin_pvalue(-4.0, 1.0, 1.0) == pytest.approx(expected)
    assert beyond_margin_pvalue(0.5, 1.0, 1.0) > 0.5
    assert beyond_margin_pvalue(0.02, 0.0, 0.01) == 0.0
    assert beyond_margin_pvalue(0.01, 0.0, 0.01) == 1.0


def test_detectable_effect_meets_worst_holm_step():
    rng = np.random.default_rng(20251204214)
    left = Sample(rng.normal(0.0, STD, 20_000))
    right = Sample(rng.normal(0.0, STD, 20_000))

    checks = between_sides(left, right, NORMAL, NORMAL, alpha=ALPHA, margins=Margins())

    z_power = stats.norm.ppf(POWER)
    for check in checks[1:]:
        standard_error = check.details["standard_error"]
        critical = check.min_detectable_effect - z_power * standard_error
        pvalue = beyond_margin_pvalue(critical, standard_error, check.margin)
        assert pvalue == pytest.approx(ALPHA / len(checks), rel=1e-6)


def test_beyond_margin_size_at_margin():
    rng = np.random.default_rng(20251204211)
    estimates = rng.normal(1.0, 0.5, 20_000)

    pvalues = np.array([beyond_margin_pvalue(x, 0.5, 1.0) for x in estimates])
    rate = float(np.mean(pvalues <= 0.01))

    # One-sided at the margin: close to 0.01, never well above it.
    assert 0.008 <= rate <= 0.012


@pytest.mark.parametrize(
    ("left_reference", "right_reference", "bound_checks"),
    [
        (NORMAL, NORMAL, []),
        (NORMAL, TRUNCATED, ["within_right_bound"]),
        (UNIFORM, NORMAL, ["within_left_bound"]),
        (TRUNCATED, UNIFORM, ["within_left_bound", "within_right_bound"]),
    ],
    ids=["unbounded", "right_bounded", "left_bounded", "both_bounded"],
)
def test_between_sides_check_names(left_reference, right_reference, bound_checks):
    rng = np.random.default_rng(20251204203)
    left = Sample(rng.normal(0.0, 0.01, 500))
    right = Sample(rng.normal(0.0, 0.01, 500))

    checks = between_sides(
        left, right, left_reference, right_reference, alpha=ALPHA, margins=Margins()
    )

    assert [check.name for check in checks] == UNBOUNDED_CHECKS + bound_checks
    assert all(check.scope == "between" for check in checks)


def test_moment_checks_are_z_tests():
    rng = np.random.default_rng(20251204204)
    left = Sample(rng.normal(0.0, STD, 20_000))
    right = Sample(rng.normal(0.001, 1.02 * STD, 20_000))

    checks = between_sides(left, right, NORMAL, NORMAL, alpha=ALPHA, margins=Margins())
    z_equivalence = stats.norm.ppf(1.0 - ALPHA)

    for check in checks[1:]:
        standard_error = check.details["standard_error"]
        assert check.statistic == pytest.approx(check.estimate / standard_error, rel=1e-12)
        distance = abs(check.estimate) - check.margin
        assert check.pvalue == pytest.approx(
            stats.norm.sf(distance / standard_error)
            + stats.norm.sf((distance + 2.0 * check.margin) / standard_error),
            rel=1e-9,
            abs=1e-300,
        )
        low, high = check.interval
        assert low == pytest.approx(check.estimate - z_equivalence * standard_error, rel=1e-9)
        assert high == pytest.approx(check.estimate + z_equivalence * standard_error, rel=1e-9)


def test_moment_check_estimates():
    rng = np.random.default_rng(20251204205)
    left_weights = rng.normal(0.0, STD, 20_000)
    right_weights = rng.uniform(-0.08, 0.09, 30_000)
    left = Sample(left_weights)
    right = Sample(right_weights)

    checks = checks_by_name(
        between_sides(left, right, NORMAL, UNIFORM, alpha=ALPHA, margins=Margins())
    )
    sigma = 0.5 * (NORMAL.std + UNIFORM.std)

    assert checks["mean"].estimate == pytest.approx(
        (right_weights.mean() - left_weights.mean()) / sigma, rel=1e-9
    )
    ratio = np.std(right_weights) / np.std(left_weights)
    assert checks["std_ratio"].estimate == pytest.approx(math.log(ratio), rel=1e-9)
    assert checks["std_ratio"].details["ratio"] == pytest.approx(ratio, rel=1e-12)
    assert checks["skewness"].estimate == pytest.approx(
        stats.skew(right_weights) - stats.skew(left_weights), rel=1e-9, abs=1e-12
    )
    assert checks["excess_kurtosis"].estimate == pytest.approx(
        stats.kurtosis(right_weights) - stats.kurtosis(left_weights), rel=1e-9
    )


@pytest.mark.parametrize("multiple", [2, 3])
def test_tail_check_masses(multiple):
    rng = np.random.default_rng(20251204206)
    left_weights = rng.normal(0.0, STD, 25_600)
    right_weights = rng.standard_t(5, 25_600) * STD * math.sqrt(3.0 / 5.0)

    checks = checks_by_name(
        between_sides(
            Sample(left_weights),
            Sample(right_weights),
            NORMAL,
            NORMAL,
            alpha=ALPHA,
            margins=Margins(),
        )
    )
    check = checks[f"tail_{multiple}sd"]
    threshold = multiple * STD
    left_mass = np.mean(np.abs(left_weights) > threshold)
    right_mass = np.mean(np.abs(right_weights) > threshold)

    assert check.details["threshold"] == pytest.approx(threshold, rel=1e-12)
    assert check.details["left_mass"] == pytest.approx(left_mass, rel=1e-12)
    assert check.details["right_mass"] == pytest.approx(right_mass, rel=1e-12)
    assert check.estimate == pytest.approx(right_mass - left_mass, rel=1e-9)


def test_tail_error_positive_for_empty_tails(reference_truncated_draws):
    rng = np.random.default_rng(20251204207)
    left = Sample(reference_truncated_draws(rng, 5000, TRUNCATED))
    right = Sample(reference_truncated_draws(rng, 5000, TRUNCATED))

    tail = checks_by_name(
        between_sides(left, right, TRUNCATED, TRUNCATED, alpha=ALPHA, margins=Margins())
    )["tail_3sd"]

    # A truncation at 2.27 std has no weight beyond 3 std, on either side.
    assert tail.details["left_mass"] == 0.0
    assert tail.details["right_mass"] == 0.0
    assert tail.details["standard_error"] > 0.0
    assert tail.pvalue == 1.0


def test_bound_check_counts_leaked_weights(reference_truncated_draws):
    rng = np.random.default_rng(20251204208)
    clean = reference_truncated_draws(rng, 25_600, TRUNCATED)
    leaking = reference_truncated_draws(rng, 25_600, TRUNCATED)
    leaking[[10, 2000, 20_000]] = [1.01 * TRUNCATED.bound, -1.2 * TRUNCATED.bound, 0.02]

    checks = checks_by_name(
        between_sides(
            Sample(clean), Sample(leaking), TRUNCATED, TRUNCATED, alpha=ALPHA, margins=Margins()
        )
    )
    # within_left_bound counts the right side's weights beyond the left side's bound.
    leaked = checks["within_left_bound"]
    clean_check = checks["within_right_bound"]

    assert leaked.statistic == 2.0
    assert leaked.details["count"] == 2
    assert leaked.pvalue == 0.0
    assert leaked.estimate == pytest.approx(2.0 / 25_600)
    assert leaked.can_show_equivalence is False
    assert clean_check.statistic == 0.0
    assert clean_check.pvalue == 1.0


def test_bound_check_absorbs_rounding():
    bound = TRUNCATED.bound
    rounded = np.array(
        [-bound, bound * (1.0 + 0.5 * BOUND_RELATIVE_TOLERANCE["float32"]), 0.0, 0.01]
    )
    beyond = np.array(
        [-bound, bound * (1.0 + 2.0 * BOUND_RELATIVE_TOLERANCE["float32"]), 0.0, 0.01]
    )

    rounded_check = checks_by_name(
        between_sides(
            Sample(rounded), Sample(rounded), TRUNCATED, TRUNCATED, alpha=ALPHA, margins=Margins()
        )
    )["within_left_bound"]
    beyond_check = checks_by_name(
        between_sides(
            Sample(rounded), Sample(beyond), TRUNCATED, TRUNCATED, alpha=ALPHA, margins=Margins()
        )
    )["within_left_bound"]

    assert rounded_check.details["count"] == 0
    assert beyond_check.details["count"] == 1


def test_against_reference_accepts_own_family(reference_truncated_draws):
    rng = np.random.default_rng(20251204209)
    weights = reference_truncated_draws(rng, 25_600, TRUNCATED)

    checks = checks_by_name(
        against_reference(Sample(weights), TRUNCATED, alpha=ALPHA, scope="left")
    )
    expected = stats.kstest(weights, TRUNCATED.cdf, method="asymp")

    assert list(checks) == ["reference_ks", "reference_bound"]
    assert checks["reference_ks"].statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert checks["reference_ks"].pvalue == pytest.approx(expected.pvalue, rel=1e-9)
    assert checks["reference_ks"].pvalue > ALPHA
    assert checks["reference_bound"].details["count"] == 0
    assert checks["reference_bound"].scope == "left"


def test_reference_rejects_uncorrected_truncation(reference_truncated_draws):
    rng = np.random.default_rng(20251204210)
    # Weights drawn with the intended std, checked against a recipe that forgot the correction.
    weights = reference_truncated_draws(rng, 25_600, TRUNCATED)
    uncorrected = TruncatedNormal.uncorrected_at(STD)

    checks = checks_by_name(
        against_reference(Sample(weights), uncorrected, alpha=ALPHA, scope="right")
    )

    assert checks["reference_ks"].pvalue < 1e-10
    # The uncorrected bound is 2 std of the drawn weights, beyond which lies 3.46% of their
    # mass: 886 of 25,600 expected, with a standard deviation of 29.
    assert checks["reference_bound"].details["count"] > 700
    assert checks["reference_bound"].pvalue == 0.0


def test_unbounded_reference_skips_bound_check():
    rng = np.random.default_rng(20251204211)
    sample = Sample(rng.normal(0.0, STD, 2000))

    checks = against_reference(sample, NORMAL, alpha=ALPHA, scope="left")

    assert [check.name for check in checks] == ["reference_ks"]
    assert checks[0].pvalue > ALPHA
