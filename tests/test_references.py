"""Exact figures of the reference families, checked against closed forms and scipy.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from harness.references import (
    TRUNCATION_STD_AT_2,
    Normal,
    TruncatedNormal,
    Uniform,
    reference_from_dict,
    truncated_standard_normal_std,
)

STANDARD_NORMAL = Normal(0.0, 1.0)
CORRECTED_TRUNCATION = TruncatedNormal.variance_corrected_at(1.0)
UNCORRECTED_TRUNCATION = TruncatedNormal.uncorrected_at(1.0)
EQUAL_VARIANCE_UNIFORM = Uniform.with_std(1.0)

# Step 1e-5 over [-6, 6]: the CDFs' slopes are below 0.5, so the grid misses the supremum of a
# CDF difference by less than 1e-5, far below the 4th decimal that the figures are quoted to.
FINE_GRID = np.linspace(-6.0, 6.0, 1_200_001)


def ks_distance(first, second) -> float:
    return float(np.max(np.abs(first.cdf(FINE_GRID) - second.cdf(FINE_GRID))))


def test_truncation_std_constant_at_bound_2():
    assert truncated_standard_normal_std(2.0) == pytest.approx(0.87962566103423978, rel=1e-14)
    assert TRUNCATION_STD_AT_2 == pytest.approx(stats.truncnorm(-2.0, 2.0).std(), rel=1e-12)


@pytest.mark.parametrize("bound", [0.5, 1.0, 2.0, 3.0, 6.0])
def test_truncated_std_matches_scipy(bound):
    expected = stats.truncnorm(-bound, bound).std()
    assert truncated_standard_normal_std(bound) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        (CORRECTED_TRUNCATION, 0.0167),
        (UNCORRECTED_TRUNCATION, 0.0228),
        (EQUAL_VARIANCE_UNIFORM, 0.0572),
        (Normal(0.0, 1.05), 0.0118),
    ],
    ids=["variance_corrected_truncation", "uncorrected_truncation", "uniform", "normal_1.05"],
)
def test_ks_distance_to_standard_normal(other, expected):
    assert round(ks_distance(STANDARD_NORMAL, other), 4) == expected


def test_ks_distances_order_truncations():
    corrected = ks_distance(STANDARD_NORMAL, CORRECTED_TRUNCATION)
    uncorrected = ks_distance(STANDARD_NORMAL, UNCORRECTED_TRUNCATION)
    uniform = ks_distance(STANDARD_NORMAL, EQUAL_VARIANCE_UNIFORM)

    assert corrected < uncorrected
    assert uncorrected < uniform


def test_mass_beyond_2_std():
    assert round(100.0 * STANDARD_NORMAL.tail_mass(2.0), 2) == 4.55
    assert round(100.0 * CORRECTED_TRUNCATION.tail_mass(2.0), 2) == 3.46


def test_corrected_truncation_bound_in_std():
    bound = CORRECTED_TRUNCATION.bound

    assert bound == pytest.approx(2.0 / TRUNCATION_STD_AT_2, rel=1e-12)
    assert round(bound, 4) == 2.2737
    assert CORRECTED_TRUNCATION.std == pytest.approx(1.0, rel=1e-12)
    assert CORRECTED_TRUNCATION.bound_in_scale == pytest.approx(2.0, rel=1e-12)


def test_corrected_truncation_has_no_mass_beyond_bound():
    bound = CORRECTED_TRUNCATION.bound

    assert CORRECTED_TRUNCATION.tail_mass(bound) == 0.0
    assert CORRECTED_TRUNCATION.tail_mass(bound + 0.5) == 0.0
    assert CORRECTED_TRUNCATION.tail_mass(bound * (1.0 - 1e-6)) > 0.0
    assert CORRECTED_TRUNCATION.cdf(np.array([bound, bound + 1.0])).tolist() == [1.0, 1.0]
    assert CORRECTED_TRUNCATION.cdf(np.array([-bound, -bound - 1.0])).tolist() == [0.0, 0.0]


def test_excess_kurtosis_per_family():
    assert STANDARD_NORMAL.excess_kurtosis == 0.0
    assert round(CORRECTED_TRUNCATION.excess_kurtosis, 3) == -0.634
    assert EQUAL_VARIANCE_UNIFORM.excess_kurtosis == -1.2
    assert CORRECTED_TRUNCATION.excess_kurtosis == pytest.approx(
        float(stats.truncnorm.stats(-2.0, 2.0, moments="k")), rel=1e-12
    )


def test_excess_kurtosis_ignores_scale():
    narrow = TruncatedNormal.variance_corrected_at(0.05)

    assert narrow.excess_kurtosis == pytest.approx(CORRECTED_TRUNCATION.excess_kurtosis, rel=1e-12)


def test_std_per_family():
    std = 0.3

    assert Normal(0.1, std).std == std
    assert TruncatedNormal.variance_corrected_at(std).std == pytest.approx(std, rel=1e-12)
    assert TruncatedNormal.uncorrected_at(std).std == pytest.approx(
        std * TRUNCATION_STD_AT_2, rel=1e-12
    )
    assert TruncatedNormal.uncorrected_at(std).std == pytest.approx(
        stats.truncnorm(-2.0, 2.0, scale=std).std(), rel=1e-12
    )
    assert Uniform.with_std(std).std == pytest.approx(std, rel=1e-12)
    assert Uniform.with_std(std).half_width == pytest.approx(math.sqrt(3.0) * std, rel=1e-12)


def test_variance_corrected_scale_is_widened():
    reference = TruncatedNormal.variance_corrected_at(0.3)

    assert reference.scale == pytest.approx(0.3 / TRUNCATION_STD_AT_2, rel=1e-12)
    assert reference.half_width == pytest.approx(2.0 * reference.scale, rel=1e-12)
    assert reference.variance_corrected is True
    assert TruncatedNormal.uncorrected_at(0.3).variance_corrected is False


@pytest.mark.parametrize(
    "reference",
    [
        Normal(0.1, 0.3),
        TruncatedNormal.variance_corrected_at(0.3, mean=0.1),
        TruncatedNormal.uncorrected_at(0.3, bound_in_scale=3.0, mean=-0.2),
        TruncatedNormal.absolute(0.3, -0.4, 0.6, mean=0.1),
        Uniform.with_std(0.3, mean=0.1),
    ],
    ids=[
        "normal",
        "truncated_corrected",
        "truncated_uncorrected",
        "truncated_absolute",
        "uniform",
    ],
)
def test_reference_from_dict_round_trip(reference):
    rebuilt = reference_from_dict(reference.to_dict())
    grid = np.linspace(-2.0, 2.0, 401)

    assert type(rebuilt) is type(reference)
    assert rebuilt.family == reference.family
    assert rebuilt.mean == pytest.approx(reference.mean, abs=1e-15)
    assert rebuilt.std == pytest.approx(reference.std, rel=1e-12)
    assert rebuilt.excess_kurtosis == pytest.approx(reference.excess_kurtosis, rel=1e-9, abs=1e-12)
    if reference.bound is None:
        assert rebuilt.bound is None
    else:
        assert rebuilt.bound == pytest.approx(reference.bound, rel=1e-12)
    np.testing.assert_allclose(rebuilt.cdf(grid), reference.cdf(grid), rtol=1e-12, atol=1e-15)
    rebuilt_fields = rebuilt.to_dict()
    for key, value in reference.to_dict().items():
        if isinstance(value, float):
            assert rebuilt_fields[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
        else:
            assert rebuilt_fields[key] == value, key


@pytest.mark.parametrize(
    "reference",
    [
        TruncatedNormal.variance_corrected_at(0.3),
        TruncatedNormal.uncorrected_at(0.3),
        TruncatedNormal.absolute(0.3, -0.5, 0.5),
    ],
    ids=["corrected", "uncorrected", "absolute"],
)
def test_round_trip_keeps_variance_corrected(reference):
    rebuilt = reference_from_dict(reference.to_dict())

    assert rebuilt.variance_corrected is reference.variance_corrected
    assert rebuilt.scale == pytest.approx(reference.scale, rel=1e-12)


def test_reference_from_dict_rejects_unknown_family():
    with pytest.raises(ValueError, match="unknown reference family 'cauchy'"):
        reference_from_dict({"family": "cauchy", "std": 1.0})


def test_absolute_truncation_bounds():
    reference = TruncatedNormal.absolute(1.0, -1.5, 1.5)

    assert reference.half_width == 1.5
    assert reference.bound == 1.5
    assert reference.bound_in_scale == 1.5
    assert reference.variance_corrected is None
    assert reference.std == pytest.approx(stats.truncnorm(-1.5, 1.5).std(), rel=1e-12)
    assert reference.to_dict()["low"] == -1.5
    assert reference.to_dict()["high"] == 1.5


def test_absolute_truncation_around_mean():
    reference = TruncatedNormal.absolute(0.5, -0.3, 0.7, mean=0.2)

    assert reference.half_width == pytest.approx(0.5, rel=1e-12)
    assert reference.bound_in_scale == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(("low", "high"), [(-1.0, 1.5), (-1.5, 1.0), (0.0, 1.0)])
def test_absolute_truncation_rejects_asymmetric_bounds(low, high):
    with pytest.raises(ValueError, match="must be symmetric about the mean"):
        TruncatedNormal.absolute(1.0, low, high)


CDF_GRID = np.linspace(-3.0, 3.0, 6001)


def test_normal_cdf_matches_scipy():
    reference = Normal(0.1, 0.7)
    expected = stats.norm(loc=0.1, scale=0.7).cdf(CDF_GRID)

    np.testing.assert_allclose(reference.cdf(CDF_GRID), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "reference",
    [
        TruncatedNormal.variance_corrected_at(0.7, mean=0.1),
        TruncatedNormal.uncorrected_at(0.7, bound_in_scale=1.0, mean=-0.1),
        TruncatedNormal.absolute(0.4, -1.0, 1.0),
    ],
    ids=["corrected", "uncorrected_bound_1", "absolute"],
)
def test_truncated_cdf_matches_scipy(reference):
    bound = reference.bound_in_scale
    frozen = stats.truncnorm(-bound, bound, loc=reference.mean, scale=reference.scale)

    np.testing.assert_allclose(
        reference.cdf(CDF_GRID), frozen.cdf(CDF_GRID), rtol=1e-10, atol=1e-13
    )
    assert reference.std == pytest.approx(frozen.std(), rel=1e-10)


def test_uniform_cdf_matches_scipy():
    reference = Uniform(0.1, 1.2)
    expected = stats.uniform(loc=0.1 - 1.2, scale=2.4).cdf(CDF_GRID)

    np.testing.assert_allclose(reference.cdf(CDF_GRID), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("threshold", [0.0, 0.3, 1.0, 1.7, 2.5])
def test_tail_mass_matches_scipy(threshold):
    truncated = TruncatedNormal.uncorrected_at(1.0)
    uniform = Uniform(0.0, 1.7)

    assert STANDARD_NORMAL.tail_mass(threshold) == pytest.approx(
        2.0 * stats.norm.sf(threshold), rel=1e-12
    )
    assert truncated.tail_mass(threshold) == pytest.approx(
        2.0 * stats.truncnorm(-2.0, 2.0).sf(threshold), rel=1e-9, abs=1e-15
    )
    assert uniform.tail_mass(threshold) == pytest.approx(
        2.0 * stats.uniform(loc=-1.7, scale=3.4).sf(threshold), rel=1e-12, abs=1e-15
    )
