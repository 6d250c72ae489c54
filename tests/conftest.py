"""Shared numpy samplers for the statistics tests; no framework is imported here."""

from __future__ import annotations

import numpy as np
import pytest

from harness.references import TruncatedNormal


def sample_truncated_normal(
    rng: np.random.Generator, size: int, scale: float, half_width: float, mean: float = 0.0
) -> np.ndarray:
    """Draw N(mean, scale^2) restricted to [mean - half_width, mean + half_width] by rejection.

    Rejection keeps the draw independent of the inverse-CDF code under test.
    """
    accepted: list[np.ndarray] = []
    count = 0
    while count < size:
        batch = rng.normal(mean, scale, 2 * size)
        inside = batch[np.abs(batch - mean) <= half_width]
        accepted.append(inside)
        count += inside.size
    return np.concatenate(accepted)[:size]


def sample_reference_truncated(
    rng: np.random.Generator, size: int, reference: TruncatedNormal
) -> np.ndarray:
    """Draw from a `TruncatedNormal` reference by rejection."""
    return sample_truncated_normal(
        rng, size, reference.scale, reference.half_width, reference.mean
    )


@pytest.fixture
def truncated_normal_draws():
    """Provide `sample_truncated_normal(rng, size, scale, half_width, mean=0.0)`."""
    return sample_truncated_normal


@pytest.fixture
def reference_truncated_draws():
    """Provide `sample_reference_truncated(rng, size, reference)`."""
    return sample_reference_truncated
