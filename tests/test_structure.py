"""Structural checks for orthogonal and constant initializers, on numpy draws."""

import numpy as np
import pytest
from scipy import stats

from harness import decision
from harness.checks import Margins
from harness.references import Constant, Normal, Orthogonal
from harness.structure import (
    ORTHOGONALITY_TOLERANCE,
    against_constant,
    against_orthogonal,
    between_constant,
    between_structured,
    orthogonality_error,
)

ALPHA = 1e-3


def _haar(layers, rows, cols, gain, seed):
    """Draw (layers, rows, cols) semi-orthogonal matrices with Haar-distributed orientation."""
    rng = np.random.default_rng(seed)
    out = np.empty((layers, rows, cols))
    for index in range(layers):
        q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
        q *= np.sign(np.diag(r))
        out[index] = gain * (q if rows >= cols else q.T)
    return out.astype(np.float32)


def _decide(left, right, left_reference, right_reference):
    found = between_structured(
        left, right, left_reference, right_reference, alpha=ALPHA, margins=Margins()
    )
    return decision.decide(found, ALPHA)


@pytest.mark.parametrize("rows, cols", [(16, 16), (8, 32), (32, 8)])
def test_haar_matrices_pass_their_own_checks(rows, cols):
    weights = _haar(200, rows, cols, 1.0, seed=31_770_245)
    found = {
        c.name: c for c in against_orthogonal(weights, Orthogonal(1.0, rows, cols), scope="left")
    }
    assert found["orthogonality_error"].statistic < ORTHOGONALITY_TOLERANCE
    assert found["orthogonality_error"].pvalue == 1.0
    assert found["reference_ks"].pvalue > ALPHA


def test_marginal_cdf_matches_scipy_haar_draws():
    elements = stats.ortho_group.rvs(12, size=3000, random_state=5_902_113)[:, 0, 0]
    assert stats.kstest(elements, Orthogonal(1.0, 12, 12).cdf).pvalue > ALPHA


def test_gaussian_matrix_is_not_orthogonal():
    rng = np.random.default_rng(77_041_339)
    weights = rng.normal(0.0, 0.25, (20, 16, 16))
    assert orthogonality_error(weights, 1.0) > 0.1


def test_equal_orthogonal_sides_are_same():
    left = _haar(100, 32, 64, 1.0, seed=1_234_987)
    right = _haar(100, 32, 64, 1.0, seed=9_876_321)
    reference = Orthogonal(1.0, 32, 64)
    assert _decide(left, right, reference, reference).verdict == decision.SAME


def test_different_gain_is_different():
    left = _haar(50, 16, 16, 1.0, seed=440_112)
    right = _haar(50, 16, 16, 1.5, seed=440_113)
    decided = _decide(left, right, Orthogonal(1.0, 16, 16), Orthogonal(1.5, 16, 16))
    assert decided.verdict == decision.DIFFERENT
    assert any(reason.startswith("gain_ratio") for reason in decided.reasons)


def test_orthogonal_against_gaussian_is_different():
    left = _haar(50, 16, 16, 1.0, seed=5_510_007)
    rng = np.random.default_rng(5_510_008)
    right = rng.normal(0.0, 0.25, (50, 16, 16)).astype(np.float32)
    decided = _decide(left, right, Orthogonal(1.0, 16, 16), Normal(0.0, 0.25))
    assert decided.verdict == decision.DIFFERENT
    assert decided.reasons[0].startswith("orthogonality_match")


def test_equal_constants_are_same():
    zeros = np.zeros((10, 8), dtype=np.float32)
    decided = decision.decide(between_constant(zeros, zeros.copy(), tolerance=1e-6), ALPHA)
    assert decided.verdict == decision.SAME


def test_constant_against_random_is_different():
    rng = np.random.default_rng(6_001_229)
    zeros = np.zeros((10, 8), dtype=np.float32)
    random = rng.uniform(-0.1, 0.1, (10, 8)).astype(np.float32)
    decided = decision.decide(between_constant(zeros, random, tolerance=1e-6), ALPHA)
    assert decided.verdict == decision.DIFFERENT
    assert decided.reasons[0].startswith("constant_values")


def test_constant_error_accepts_allowed_values():
    bias = np.zeros((3, 16), dtype=np.float32)
    bias[:, 4:8] = 1.0  # a forget-gate block of ones
    reference = Constant(None, (0.0, 1.0))
    (check,) = against_constant(bias, reference, scope="left", tolerance=1e-6)
    assert check.pvalue == 1.0
    (wrong,) = against_constant(bias, Constant(0.0), scope="left", tolerance=1e-6)
    assert wrong.pvalue == 0.0
    assert wrong.statistic == 1.0
