"""Summary statistics of one side's pooled weights, computed once and shared by every check."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.polynomial import polynomial as poly

# Highest standardized raw moment kept. The delta-method variance of the sample excess kurtosis
# needs E[z^8]; lower moments serve the mean, std and skewness.
_MAX_MOMENT = 8


@dataclass(frozen=True)
class Summary:
    """The figures a verdict file reports for one side."""

    mean: float
    std: float
    skewness: float
    excess_kurtosis: float
    max_abs: float

    def to_dict(self) -> dict[str, float]:
        return {
            "mean": self.mean,
            "std": self.std,
            "skewness": self.skewness,
            "excess_kurtosis": self.excess_kurtosis,
            "max_abs": self.max_abs,
        }


class Sample:
    """One side's weights, flattened and sorted, with moments and their standard errors.

    Standard errors come from the empirical influence function of each estimator (the delta
    method with sample moments plugged in), so they hold for any distribution with a finite
    eighth moment, not only for normal draws. They assume the weights are independent draws;
    an initializer that correlates elements (orthogonal, say) breaks that assumption.
    """

    def __init__(self, weights: np.ndarray):
        values = np.asarray(weights, dtype=np.float64).ravel()
        if values.size < 2:
            raise ValueError(f"a sample needs at least 2 weights; received {values.size}")
        if not np.all(np.isfinite(values)):
            bad = int(np.count_nonzero(~np.isfinite(values)))
            raise ValueError(f"weights contain {bad} non-finite values (nan or inf)")

        self.sorted = np.sort(values)
        self.n = int(values.size)
        self.mean = float(values.mean())
        self.std = float(np.sqrt(np.mean((values - self.mean) ** 2)))

        # E[z^k] for k = 0..8 with z = (w - mean) / std, one pass per power.
        z = (values - self.mean) / self.std if self.std > 0 else np.zeros_like(values)
        self.standard_moments = np.empty(_MAX_MOMENT + 1)
        power = np.ones_like(z)
        for k in range(_MAX_MOMENT + 1):
            self.standard_moments[k] = power.mean()
            power *= z

    @property
    def skewness(self) -> float:
        return float(self.standard_moments[3])

    @property
    def excess_kurtosis(self) -> float:
        return float(self.standard_moments[4] - 3.0)

    @property
    def max_abs(self) -> float:
        return float(max(abs(self.sorted[0]), abs(self.sorted[-1])))

    def summary(self) -> Summary:
        return Summary(self.mean, self.std, self.skewness, self.excess_kurtosis, self.max_abs)

    @cached_property
    def _per_weight(self) -> dict[str, float]:
        return per_weight_variances(self.standard_moments)

    @cached_property
    def mean_variance(self) -> float:
        return self.std**2 / self.n

    @cached_property
    def log_std_variance(self) -> float:
        return self._per_weight["log_std"] / self.n

    @cached_property
    def skewness_variance(self) -> float:
        return self._per_weight["skewness"] / self.n

    @cached_property
    def excess_kurtosis_variance(self) -> float:
        return self._per_weight["excess_kurtosis"] / self.n

    def count_outside(self, centre: float, half_width: float) -> int:
        """Count weights w with |w - centre| > half_width."""
        below = np.searchsorted(self.sorted, centre - half_width, side="left")
        above = self.n - np.searchsorted(self.sorted, centre + half_width, side="right")
        return int(below + above)

    def fraction_outside(self, centre: float, half_width: float) -> float:
        return self.count_outside(centre, half_width) / self.n


def per_weight_variances(standard_moments: np.ndarray) -> dict[str, float]:
    """Return n times the asymptotic variance of log std, skewness and excess kurtosis.

    `standard_moments` holds E[z^k], k = 0..8, of the standardized distribution. Each variance
    is E[IF(z)^2] for the estimator's influence function IF, a polynomial in z.
    """

    def variance(coefficients: list[float]) -> float:
        squared = poly.polymul(coefficients, coefficients)
        return float(np.dot(squared, standard_moments[: len(squared)]))

    g1 = float(standard_moments[3])
    b2 = float(standard_moments[4])
    return {
        # log std = 0.5 log m2: IF = (z^2 - 1) / 2.
        "log_std": variance([-0.5, 0.0, 0.5]),
        # g1 = m3 / m2^1.5: IF = z^3 - 1.5 g1 z^2 - 3 z + 0.5 g1.
        "skewness": variance([0.5 * g1, -3.0, -1.5 * g1, 1.0]),
        # g2 = m4 / m2^2 - 3: IF = z^4 - 2 b2 z^2 - 4 g1 z + b2, where b2 = E[z^4].
        "excess_kurtosis": variance([b2, -4.0 * g1, -2.0 * b2, 0.0, 1.0]),
    }


def dkw_half_width(n: int, alpha: float) -> float:
    """Return e such that P(sup |F_n - F| > e) <= alpha / 2 (Massart's DKW inequality).

    Each of two independent samples gets alpha / 2, so a two-sample statement built from two of
    these holds with probability at least 1 - alpha.
    """
    return math.sqrt(math.log(4.0 / alpha) / (2.0 * n))
