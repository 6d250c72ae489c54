"""Layer-as-sample checks on numpy draws with planted defects."""

import numpy as np
import pytest

from harness.layers import layer_checks

# Every planted defect below is far past this level; clean draws stay above it at these seeds.
ALPHA = 1e-3


def _pvalues(weights):
    return {check.name: check.pvalue for check in layer_checks(weights, scope="left")}


ALL_CHECKS = {
    "layer_repeats",
    "layer_correlation",
    "layer_mean_spread",
    "layer_std_spread",
    "position_mean_spread",
    "position_std_spread",
}
# Five layers of 16 weights are too few for the spread checks' approximations: they are left out.
SMALL_CHECKS = {"layer_repeats", "layer_correlation", "layer_mean_spread"}


@pytest.mark.parametrize(
    "shape, expected",
    [((100, 16, 16), ALL_CHECKS), ((20, 64, 64), ALL_CHECKS), ((5, 4, 4), SMALL_CHECKS)],
)
def test_clean_draws_pass_every_check(shape, expected):
    rng = np.random.default_rng(80_431_228)
    pvalues = _pvalues(rng.standard_normal(shape))
    assert set(pvalues) == expected
    for name, pvalue in pvalues.items():
        assert pvalue > ALPHA, name


def test_repeated_layer_is_found():
    rng = np.random.default_rng(2_214_090_771)
    weights = rng.standard_normal((50, 16, 16))
    weights[7] = weights[6]
    pvalues = _pvalues(weights)
    assert pvalues["layer_repeats"] == 0.0
    assert pvalues["layer_correlation"] < ALPHA


def test_correlated_layers_are_found():
    rng = np.random.default_rng(551_903_214)
    weights = rng.standard_normal((50, 32, 32))
    weights[10] = 0.6 * weights[9] + 0.8 * weights[10]
    pvalues = _pvalues(weights)
    assert pvalues["layer_repeats"] == 1.0
    assert pvalues["layer_correlation"] < ALPHA


def test_one_wider_layer_is_found():
    rng = np.random.default_rng(97_311_504)
    weights = rng.standard_normal((100, 16, 16))
    weights[3] *= 1.5
    assert _pvalues(weights)["layer_std_spread"] < ALPHA


def test_shifted_layer_mean_is_found():
    rng = np.random.default_rng(6_620_113)
    weights = rng.standard_normal((100, 16, 16))
    weights[42] += 0.5
    assert _pvalues(weights)["layer_mean_spread"] < ALPHA


def test_position_drawn_wider_is_found():
    rng = np.random.default_rng(44_015_872)
    weights = rng.standard_normal((100, 16, 16))
    weights[:, 0, 0] *= 3.0
    pvalues = _pvalues(weights)
    assert pvalues["position_std_spread"] < ALPHA
    assert pvalues["layer_std_spread"] > ALPHA


def test_position_with_offset_is_found():
    rng = np.random.default_rng(300_771_946)
    weights = rng.standard_normal((100, 16, 16))
    weights[:, 3, 5] += 1.0
    assert _pvalues(weights)["position_mean_spread"] < ALPHA


def test_single_layer_has_no_layer_checks():
    assert layer_checks(np.zeros((1, 4, 4)), scope="left") == []


def test_clean_uniform_draws_pass_with_many_positions():
    # Many positions (4,096) with few layers (20) uses the normal approximation with the
    # shuffled-null kurtosis; uniform draws have kurtosis far from the normal's.
    rng = np.random.default_rng(1_009_203_117)
    for name, pvalue in _pvalues(rng.uniform(-1.0, 1.0, (20, 64, 64))).items():
        assert pvalue > ALPHA, name
