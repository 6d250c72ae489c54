"""Checks for initializers that are not independent random draws: orthogonal and constant.

The weights of an orthogonal initializer are one (semi-)orthogonal matrix per layer, times a
gain. Element-wise tests of pooled weights would treat dependent values as independent, so
these layers get structural checks instead: how far each matrix is from orthogonal, the gain
read from its singular values, and one element per layer (independent across layers) for
distribution tests. Constant initializers (zeros, ones, constant, most biases) are compared
exactly, element by element.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from harness.checks import Check, Margins, z_test_check
from harness.references import Constant, Orthogonal, Reference

# Largest |G / gain^2 - I| entry still counted as orthogonal, where G is the smaller Gram
# matrix. Orthogonalisation in float32 leaves errors near 1e-6, so 1e-4 separates rounding from
# a matrix that is not orthogonal at all (errors of order 1 / sqrt(dimension) or more).
ORTHOGONALITY_TOLERANCE = 1e-4


def matrices(weights: np.ndarray, blocks: int = 1) -> np.ndarray:
    """View (layers, out, in, *kernel) weights as (layers * blocks, out / blocks, in * kernel)."""
    stack = np.asarray(weights, dtype=np.float64).reshape(weights.shape[0], weights.shape[1], -1)
    layers, rows, cols = stack.shape
    return stack.reshape(layers * blocks, rows // blocks, cols)


def singular_values(weights: np.ndarray, blocks: int = 1) -> np.ndarray:
    return np.linalg.svd(matrices(weights, blocks), compute_uv=False)


def orthogonality_error(weights: np.ndarray, gain: float, blocks: int = 1) -> float:
    """Return the largest |G / gain^2 - I| entry over all layers (and row blocks)."""
    # Each block of rows is its own orthogonal matrix, checked like an extra layer.
    stack = matrices(weights, blocks)
    rows, cols = stack.shape[1:]
    if rows <= cols:
        gram = stack @ stack.transpose(0, 2, 1)
    else:
        gram = stack.transpose(0, 2, 1) @ stack
    identity = np.eye(gram.shape[1])
    return float(np.max(np.abs(gram / gain**2 - identity)))


def first_elements(weights: np.ndarray) -> np.ndarray:
    """Return element [0, 0, ...] of every layer: one value per independent matrix."""
    return np.asarray(weights, dtype=np.float64).reshape(weights.shape[0], -1)[:, 0]


def _structure_check(name: str, scope: str, error: float, description: str) -> Check:
    orthogonal = error <= ORTHOGONALITY_TOLERANCE
    return Check(
        name=name,
        scope=scope,
        statistic=error,
        pvalue=1.0 if orthogonal else 0.0,
        estimate=error,
        interval=None,
        margin=ORTHOGONALITY_TOLERANCE,
        unit="max |G / gain^2 - I|",
        min_detectable_effect=ORTHOGONALITY_TOLERANCE,
        description=description,
        can_show_equivalence=False,
        details={"tolerance": ORTHOGONALITY_TOLERANCE},
    )


def against_orthogonal(weights: np.ndarray, reference: Orthogonal, *, scope: str) -> list[Check]:
    """Check one side against its documented orthogonal reference.

    ``orthogonality_error`` (H0: every layer is orthogonal times the documented gain, up to
    float32 rounding) is decided exactly, with p = 0 or 1. ``reference_ks`` tests one element
    per layer against the exact marginal of a Haar-distributed orthogonal matrix.
    """
    error = orthogonality_error(weights, reference.gain, reference.blocks)
    checks = [
        _structure_check(
            "orthogonality_error",
            scope,
            error,
            f"largest deviation from orthogonal times the documented gain {reference.gain:g}",
        )
    ]
    elements = first_elements(weights)
    if elements.size >= 2:
        result = stats.kstest(elements, reference.cdf)
        checks.append(
            Check(
                name="reference_ks",
                scope=scope,
                statistic=float(result.statistic),
                pvalue=float(result.pvalue),
                estimate=float(result.statistic),
                interval=None,
                margin=None,
                unit="KS distance",
                min_detectable_effect=None,
                description="KS distance of element [0, 0] of each layer to the Haar marginal",
                can_show_equivalence=False,
            )
        )
    return checks


def _gain(weights: np.ndarray, blocks: int = 1) -> float:
    """Estimate the gain as the mean singular value; exact for an orthogonal matrix."""
    return float(singular_values(weights, blocks).mean())


def between_structured(
    left: np.ndarray,
    right: np.ndarray,
    left_reference: Reference,
    right_reference: Reference,
    *,
    alpha: float,
    margins: Margins,
) -> list[Check]:
    """Compare two sides of which at least one is orthogonal, without element-wise tests.

    - ``orthogonality_match``: H0 both sides are orthogonal up to rounding, or neither is.
    - ``gain_ratio``: log ratio of the singular-value gains. For orthogonal matrices the gain is
      exact, so its error is the rounding tolerance rather than a sampling error.
    - ``element_ks``: two-sample KS on element [0, 0] of every layer, H0 one distribution
      (margin 0).
    """
    blocks = [getattr(r, "blocks", 1) for r in (left_reference, right_reference)]
    gains = (_gain(left, blocks[0]), _gain(right, blocks[1]))
    errors = [
        orthogonality_error(w, g, b) for w, g, b in zip((left, right), gains, blocks, strict=True)
    ]
    orthogonal = [e <= ORTHOGONALITY_TOLERANCE for e in errors]
    mismatch = orthogonal[0] != orthogonal[1]
    checks = [
        Check(
            name="orthogonality_match",
            scope="between",
            statistic=float(mismatch),
            pvalue=0.0 if mismatch else 1.0,
            estimate=float(mismatch),
            interval=None,
            margin=0.0,
            unit="sides differing in orthogonality",
            min_detectable_effect=None,
            description="whether one side's layers are orthogonal and the other's are not",
            can_show_equivalence=False,
            details={"left_error": errors[0], "right_error": errors[1]},
        )
    ]

    both = all(orthogonal)
    layers = min(left.shape[0], right.shape[0])
    ratio_error = ORTHOGONALITY_TOLERANCE if both else math.inf
    if not both:
        # Some side is not orthogonal: its mean singular value varies from layer to layer, so
        # the error of the gain comes from the spread of per-layer gains.
        per_layer = [
            singular_values(w, b).mean(axis=1) for w, b in zip((left, right), blocks, strict=True)
        ]
        ratio_error = math.sqrt(sum(g.var(ddof=1) / g.mean() ** 2 / g.size for g in per_layer))
    checks.append(
        z_test_check(
            "gain_ratio",
            "log ratio of the gains read from the singular values (right / left)",
            math.log(gains[1] / gains[0]),
            ratio_error,
            margin=math.log1p(margins.std_ratio),
            alpha=alpha,
            checks_in_family=3,
            unit="log ratio",
            n=layers,
        )
    )

    first = (first_elements(left), first_elements(right))
    if min(a.size for a in first) >= 2:
        # One value per layer cannot resolve a distance as small as the KS margin, so this
        # refute-only check has margin 0: H0 is one distribution, tested exactly.
        result = stats.ks_2samp(*first)
        checks.append(
            Check(
                name="element_ks",
                scope="between",
                statistic=float(result.statistic),
                pvalue=float(result.pvalue),
                estimate=float(result.statistic),
                interval=None,
                margin=0.0,
                unit="KS distance",
                min_detectable_effect=None,
                description="two-sample KS on element [0, 0] of every layer",
                can_show_equivalence=False,
            )
        )
    return checks


def _constant_error(weights: np.ndarray, reference: Constant) -> float:
    """Return the largest distance of a weight from the nearest value the reference allows."""
    allowed = np.asarray(
        reference.values if reference.values is not None else (reference.value,), dtype=np.float64
    )
    values = np.asarray(weights, dtype=np.float64).ravel()
    return float(np.max(np.min(np.abs(values[:, None] - allowed[None, :]), axis=1)))


def against_constant(
    weights: np.ndarray, reference: Constant, *, scope: str, tolerance: float
) -> list[Check]:
    """Check that every weight takes a value the constant reference allows (exact, p = 0 or 1)."""
    error = _constant_error(weights, reference)
    scale = max(1.0, abs(reference.mean))
    exact = error <= tolerance * scale
    return [
        Check(
            name="constant_error",
            scope=scope,
            statistic=error,
            pvalue=1.0 if exact else 0.0,
            estimate=error,
            interval=None,
            margin=tolerance * scale,
            unit="largest |w - allowed value|",
            min_detectable_effect=tolerance * scale,
            description="largest distance of a weight from the documented constant",
            can_show_equivalence=False,
        )
    ]


def between_constant(left: np.ndarray, right: np.ndarray, *, tolerance: float) -> list[Check]:
    """Compare two sides of which at least one is constant, element by element and exactly.

    ``constant_values``: the largest |left - right| over every layer and position, which must
    stay within the rounding tolerance of the coarser dtype for "same". A random side against a
    constant one differs by far more.
    """
    layers = min(left.shape[0], right.shape[0])
    a = np.asarray(left[:layers], dtype=np.float64)
    b = np.asarray(right[:layers], dtype=np.float64)
    difference = float(np.max(np.abs(a - b)))
    margin = tolerance * max(1.0, float(np.max(np.abs(a))), float(np.max(np.abs(b))))
    equal = difference <= margin
    return [
        Check(
            name="constant_values",
            scope="between",
            statistic=difference,
            pvalue=1.0 if equal else 0.0,
            estimate=difference,
            interval=(difference, difference),
            margin=margin,
            unit="largest |w_left - w_right|",
            min_detectable_effect=margin,
            description="element-wise comparison of constant weights",
            details={"layers": layers},
        )
    ]
