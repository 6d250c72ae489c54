"""Moments of one side's weights and their influence-function standard errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness.references import TruncatedNormal
from harness.samples import Sample, dkw_half_width


def test_moments_match_scipy():
    rng = np.random.default_rng(20251204101)
    # A skewed, heavy-tailed draw, so that every moment is far from its normal value.
    weights = rng.gamma(2.0, 0.05, 50_000) - 0.1
    sample = Sample(weights)

    assert sample.n == 50_000
    assert sample.mean == pytest.approx(np.mean(weights), rel=1e-12)
    assert sample.std == pytest.approx(np.std(weights), rel=1e-12)
    assert sample.skewness == pytest.approx(stats.skew(weights), rel=1e-9)
    assert sample.excess_kurtosis == pytest.approx(stats.kurtosis(weights), rel=1e-9)
    assert sample.max_abs == pytest.approx(np.max(np.abs(weights)), rel=1e-15)
    assert sample.skewness > 1.0
    assert sample.excess_kurtosis > 2.0


def test_summary_carries_moments():
    rng = np.random.default_rng(20251204102)
    sample = Sample(rng.normal(0.0, 0.05, (64, 32)))
    summary = sample.summary().to_dict()

    assert summary == {
        "mean": sample.mean,
        "std": sample.std,
        "skewness": sample.skewness,
        "excess_kurtosis": sample.excess_kurtosis,
        "max_abs": sample.max_abs,
    }
    assert sample.n == 64 * 32


def test_sorted_holds_flattened_weights():
    weights = np.array([[0.3, -0.1], [0.2, -0.4]])
    sample = Sample(weights)

    assert sample.sorted.tolist() == [-0.4, -0.1, 0.2, 0.3]
    assert sample.max_abs == 0.4


def test_normal_moment_variances():
    rng = np.random.default_rng(20251204103)
    n = 400_000
    sample = Sample(rng.normal(0.0, 0.05, n))

    # Asymptotic variances for normal draws: skewness 6/n, excess kurtosis 24/n,
    # log std (E[z^4] - 1) / (4n) = 1/(2n), mean sigma^2/n.
    assert sample.skewness_variance * n == pytest.approx(6.0, rel=0.03)
    assert sample.excess_kurtosis_variance * n == pytest.approx(24.0, rel=0.05)
    assert sample.log_std_variance * n == pytest.approx(0.5, rel=0.02)
    assert sample.mean_variance == pytest.approx(sample.std**2 / n, rel=1e-12)


def test_uniform_moment_variances():
    rng = np.random.default_rng(20251204104)
    n = 400_000
    sample = Sample(rng.uniform(-0.2, 0.2, n))

    # Standardized uniform moments: E[z^4] = 9/5, E[z^6] = 27/7, E[z^8] = 9. Skewness has
    # influence function z^3 - 3z and excess kurtosis z^4 - 3.6 z^2 + 1.8, so
    # n Var(skewness) = 27/7 - 6 * 9/5 + 9 and n Var(kurtosis) = 9 - 7.2 * 27/7
    # + 16.56 * 9/5 - 12.96 + 3.24.
    skewness_times_n = 27.0 / 7.0 - 6.0 * 9.0 / 5.0 + 9.0
    kurtosis_times_n = 9.0 - 7.2 * 27.0 / 7.0 + 16.56 * 9.0 / 5.0 - 12.96 + 3.24

    assert sample.skewness_variance * n == pytest.approx(skewness_times_n, rel=0.03)
    assert sample.excess_kurtosis_variance * n == pytest.approx(kurtosis_times_n, rel=0.03)
    assert sample.log_std_variance * n == pytest.approx((9.0 / 5.0 - 1.0) / 4.0, rel=0.02)


def test_truncated_kurtosis_variance(reference_truncated_draws):
    rng = np.random.default_rng(20251204107)
    n = 400_000
    reference = TruncatedNormal.variance_corrected_at(0.05)
    sample = Sample(reference_truncated_draws(rng, n, reference))

    # Excess kurtosis has influence function z^4 - 2 b2 z^2 + b2 for a symmetric law with
    # b2 = E[z^4], so n Var = E[z^8] - 4 b2 E[z^6] + (4 b2^2 + 2 b2) b2 - 3 b2^2.
    exact = stats.truncnorm(-2.0, 2.0)
    moment = {k: exact.moment(k) / exact.std() ** k for k in (4, 6, 8)}
    b2 = moment[4]
    kurtosis_times_n = (
        moment[8] - 4.0 * b2 * moment[6] + (4.0 * b2**2 + 2.0 * b2) * b2 - 3.0 * b2**2
    )

    assert kurtosis_times_n == pytest.approx(3.848, rel=1e-3)
    assert sample.excess_kurtosis_variance * n == pytest.approx(kurtosis_times_n, rel=0.03)


def _difference_z_scores(draw, repetitions: int, size: int) -> dict[str, np.ndarray]:
    """Return z-scores of skewness and kurtosis differences between two equal samples."""
    kurtosis = np.empty(repetitions)
    skewness = np.empty(repetitions)
    for i in range(repetitions):
        left = Sample(draw(size))
        right = Sample(draw(size))
        kurtosis[i] = (right.excess_kurtosis - left.excess_kurtosis) / math.sqrt(
            left.excess_kurtosis_variance + right.excess_kurtosis_variance
        )
        skewness[i] = (right.skewness - left.skewness) / math.sqrt(
            left.skewness_variance + right.skewness_variance
        )
    return {"excess_kurtosis": kurtosis, "skewness": skewness}


@pytest.mark.parametrize("family", ["normal", "uniform", "truncated_normal"])
def test_difference_z_scores_have_unit_std(family, reference_truncated_draws):
    rng = np.random.default_rng(20251204105)
    truncated = TruncatedNormal.variance_corrected_at(0.05)
    draws = {
        "normal": lambda size: rng.normal(0.0, 0.05, size),
        "uniform": lambda size: rng.uniform(-0.2, 0.2, size),
        "truncated_normal": lambda size: reference_truncated_draws(rng, size, truncated),
    }

    z_scores = _difference_z_scores(draws[family], repetitions=300, size=2000)

    # The std of 300 standard normal values has a standard error of 1 / sqrt(2 * 300) = 0.041,
    # so 0.15 is 3.7 standard errors: 0.12 for sampling plus 0.03 for the O(1/n) bias of the
    # estimators and the noise of the plugged-in eighth moment at n = 2000. The normal-theory
    # variance 24/n would instead give a kurtosis z-score std of 0.40 for the truncated draws
    # and 0.23 for the uniform ones.
    for name, values in z_scores.items():
        assert abs(np.std(values) - 1.0) < 0.15, name
        # The mean of 300 such values has a standard error of 0.058.
        assert abs(np.mean(values)) < 0.2, name


def test_count_outside_excludes_boundary():
    sample = Sample(np.array([-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]))

    assert sample.count_outside(0.0, 2.0) == 2
    assert sample.count_outside(0.0, 3.0) == 0
    assert sample.count_outside(0.0, 0.5) == 6
    assert sample.count_outside(1.0, 1.5) == 4
    assert sample.fraction_outside(1.0, 1.5) == pytest.approx(4.0 / 7.0)


def test_count_outside_matches_direct_count():
    rng = np.random.default_rng(20251204106)
    weights = rng.normal(0.01, 0.05, 30_000)
    sample = Sample(weights)

    for centre, half_width in ((0.0, 0.1), (0.01, 0.05), (-0.02, 0.13), (0.0, 1.0)):
        expected = int(np.count_nonzero(np.abs(weights - centre) > half_width))
        assert sample.count_outside(centre, half_width) == expected, (centre, half_width)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_raise(bad_value):
    weights = np.linspace(-1.0, 1.0, 100)
    weights[[3, 50]] = bad_value

    with pytest.raises(ValueError, match="2 non-finite values"):
        Sample(weights)


@pytest.mark.parametrize("weights", [np.array([]), np.array([0.5])])
def test_too_few_weights_raise(weights):
    with pytest.raises(ValueError, match="at least 2 weights"):
        Sample(weights)


@pytest.mark.parametrize(("n", "alpha"), [(1000, 1e-3), (25_600, 0.05), (2_000_000, 1e-6)])
def test_dkw_half_width_meets_massart_bound(n, alpha):
    epsilon = dkw_half_width(n, alpha)

    # Massart: P(sup |F_n - F| > e) <= 2 exp(-2 n e^2), which the half width sets to alpha / 2.
    assert 2.0 * math.exp(-2.0 * n * epsilon**2) == pytest.approx(alpha / 2.0, rel=1e-12)
