"""Exact reference distributions that initializers document.

Each reference is a frozen dataclass with its CDF, moments and hard bound, so checks can
compare weights against what a framework promises. Three families cover the element-wise
initializers in use: the normal, the symmetric truncated normal (bounds given in units of
its raw scale or as absolute values, variance-corrected or not) and the uniform.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

# Standard deviation of a standard normal restricted to [-2, 2]. Initializers that cut at two
# raw standard deviations and want the intended variance divide the raw std by this constant.
TRUNCATION_STD_AT_2 = 0.87962566103423978


def truncated_standard_normal_std(bound: float) -> float:
    """Return the std of N(0, 1) restricted to [-bound, bound]."""
    mass = special.erf(bound / math.sqrt(2.0))
    density = math.exp(-0.5 * bound * bound) / math.sqrt(2.0 * math.pi)
    return math.sqrt(1.0 - 2.0 * bound * density / mass)


@dataclass(frozen=True)
class Normal:
    """N(mean, std^2), untruncated."""

    mean: float
    std: float
    family: str = "normal"

    def __post_init__(self):
        if not self.std > 0:
            raise ValueError(f"a normal reference needs std > 0; received std={self.std}")

    def cdf(self, x: np.ndarray) -> np.ndarray:
        return special.ndtr((np.asarray(x, dtype=np.float64) - self.mean) / self.std)

    @property
    def excess_kurtosis(self) -> float:
        return 0.0

    @property
    def bound(self) -> float | None:
        """Largest |w - mean| the family allows; None when unbounded."""
        return None

    def tail_mass(self, threshold: float) -> float:
        """Return P(|w - mean| > threshold)."""
        return float(2.0 * special.ndtr(-threshold / self.std))

    def sample(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `size` values with numpy, for simulations and tests."""
        return rng.normal(self.mean, self.std, size)

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class TruncatedNormal:
    """A normal N(mean, scale^2) restricted to [mean - half_width, mean + half_width].

    `scale` is the raw standard deviation before truncation; the std of the truncated
    distribution is smaller. `variance_corrected` records whether the documented recipe divided
    the intended std by the truncated std, so that `std` equals the intended std; it is None for
    references built from absolute bounds, where the question does not arise.
    """

    mean: float
    scale: float
    half_width: float
    variance_corrected: bool | None = None
    family: str = "truncated_normal"

    def __post_init__(self):
        if not (self.scale > 0 and self.half_width > 0):
            raise ValueError(
                "a truncated normal reference needs scale > 0 and bounds around its mean; "
                f"received scale={self.scale}, half width={self.half_width}"
            )

    @classmethod
    def variance_corrected_at(cls, std: float, bound_in_scale: float = 2.0, mean: float = 0.0):
        """Build the truncation that ends with `std`: raw scale = std / truncated std."""
        scale = std / truncated_standard_normal_std(bound_in_scale)
        return cls(mean, scale, bound_in_scale * scale, variance_corrected=True)

    @classmethod
    def uncorrected_at(cls, scale: float, bound_in_scale: float = 2.0, mean: float = 0.0):
        """Build the truncation of N(mean, scale^2) at +-bound_in_scale raw std, no correction."""
        return cls(mean, scale, bound_in_scale * scale, variance_corrected=False)

    @classmethod
    def absolute(cls, scale: float, low: float, high: float, mean: float = 0.0):
        """Build a truncation with absolute bounds, which must be symmetric about the mean."""
        if not math.isclose(mean - low, high - mean, rel_tol=1e-9):
            raise ValueError(
                f"truncated normal bounds must be symmetric about the mean {mean}; "
                f"received low={low}, high={high}"
            )
        return cls(mean, scale, high - mean)

    @property
    def bound_in_scale(self) -> float:
        return self.half_width / self.scale

    @property
    def std(self) -> float:
        return self.scale * truncated_standard_normal_std(self.bound_in_scale)

    @property
    def excess_kurtosis(self) -> float:
        b = self.bound_in_scale
        return float(stats.truncnorm.stats(-b, b, moments="k"))

    @property
    def bound(self) -> float | None:
        return self.half_width

    def cdf(self, x: np.ndarray) -> np.ndarray:
        b = self.bound_in_scale
        u = (np.asarray(x, dtype=np.float64) - self.mean) / self.scale
        inside = (special.ndtr(np.clip(u, -b, b)) - special.ndtr(-b)) / (
            special.ndtr(b) - special.ndtr(-b)
        )
        return inside

    def tail_mass(self, threshold: float) -> float:
        if threshold >= self.half_width:
            return 0.0
        b = self.bound_in_scale
        t = threshold / self.scale
        return float(
            2.0 * (special.ndtr(b) - special.ndtr(t)) / (special.ndtr(b) - special.ndtr(-b))
        )

    def sample(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Draw by rejection from the raw normal, which is fast for bounds of a std or more."""
        b = self.bound_in_scale
        acceptance = float(special.ndtr(b) - special.ndtr(-b))
        kept = np.empty(0)
        while kept.size < size:
            batch = rng.standard_normal(int((size - kept.size) / acceptance * 1.05) + 64)
            kept = np.concatenate([kept, batch[np.abs(batch) <= b]])
        return self.mean + self.scale * kept[:size]

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "mean": self.mean,
            "std": self.std,
            "scale": self.scale,
            "low": self.mean - self.half_width,
            "high": self.mean + self.half_width,
            "bound_in_scale": self.bound_in_scale,
            "bound_in_std": self.half_width / self.std,
            "variance_corrected": self.variance_corrected,
        }


@dataclass(frozen=True)
class Uniform:
    """U(mean - half_width, mean + half_width)."""

    mean: float
    half_width: float
    family: str = "uniform"

    def __post_init__(self):
        if not self.half_width > 0:
            raise ValueError(
                f"a uniform reference needs low < high; received half width {self.half_width}"
            )

    @classmethod
    def with_std(cls, std: float, mean: float = 0.0):
        """Build the uniform of the given std: half width sqrt(3) * std."""
        return cls(mean, math.sqrt(3.0) * std)

    @property
    def std(self) -> float:
        return self.half_width / math.sqrt(3.0)

    @property
    def excess_kurtosis(self) -> float:
        return -1.2

    @property
    def bound(self) -> float | None:
        return self.half_width

    def cdf(self, x: np.ndarray) -> np.ndarray:
        u = (np.asarray(x, dtype=np.float64) - (self.mean - self.half_width)) / (
            2.0 * self.half_width
        )
        return np.clip(u, 0.0, 1.0)

    def tail_mass(self, threshold: float) -> float:
        return float(max(0.0, 1.0 - threshold / self.half_width))

    def sample(self, size: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.mean - self.half_width, self.mean + self.half_width, size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "mean": self.mean,
            "std": self.std,
            "low": self.mean - self.half_width,
            "high": self.mean + self.half_width,
            "bound_in_std": math.sqrt(3.0),
        }


@dataclass(frozen=True)
class Orthogonal:
    """A (rows x cols) matrix with orthonormal rows or columns, times `gain`, Haar distributed.

    Not element-wise independent: every row (rows <= cols) or column has norm `gain`, so
    element-wise tests of independent draws do not apply. Each element on its own follows the
    marginal of one coordinate of a uniform point on the sphere of radius `gain` in
    d = max(rows, cols) dimensions: (w / gain)^2 ~ Beta(1/2, (d - 1) / 2).
    """

    gain: float
    rows: int
    cols: int
    mean: float = 0.0
    family: str = "orthogonal"
    # Row blocks drawn as separate orthogonal matrices (Flax's per-gate recurrent kernels);
    # rows and cols describe one block.
    blocks: int = 1

    @property
    def dimension(self) -> int:
        return max(self.rows, self.cols)

    @property
    def std(self) -> float:
        return self.gain / math.sqrt(self.dimension)

    @property
    def bound(self) -> float | None:
        # |w| <= gain always holds, but it is a property of the structure, not a tail bound.
        return None

    def cdf(self, x: np.ndarray) -> np.ndarray:
        u = np.asarray(x, dtype=np.float64) / self.gain
        inside = special.betainc(0.5, 0.5 * (self.dimension - 1), np.minimum(u * u, 1.0))
        return 0.5 + 0.5 * np.sign(u) * inside

    def sample(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Draw `size` single elements, each from its own Haar matrix (independent values)."""
        directions = rng.standard_normal((size, self.dimension))
        return self.gain * directions[:, 0] / np.linalg.norm(directions, axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "mean": self.mean,
            "std": self.std,
            "gain": self.gain,
            "rows": self.rows,
            "cols": self.cols,
            "blocks": self.blocks,
        }


@dataclass(frozen=True)
class Constant:
    """Every weight equals `value`; `values` lists the allowed values when they differ by position
    (Keras' LSTM bias: zeros with ones on the forget gate)."""

    value: float | None
    values: tuple[float, ...] | None = None
    family: str = "constant"

    @property
    def mean(self) -> float:
        return float(self.value) if self.value is not None else float(np.mean(self.values))

    @property
    def std(self) -> float:
        return 0.0

    @property
    def bound(self) -> float | None:
        return None

    def to_dict(self) -> dict[str, Any]:
        data = {"family": self.family, "mean": self.mean, "std": 0.0, "value": self.value}
        if self.values is not None:
            data["values"] = list(self.values)
        return data


Reference = Normal | TruncatedNormal | Uniform | Orthogonal | Constant


def reference_from_dict(data: dict[str, Any]) -> Reference:
    """Rebuild a reference from its `to_dict` form (as adapters and verdict files carry it)."""
    family = data.get("family")
    mean = float(data.get("mean", 0.0))
    if family == "normal":
        return Normal(mean, float(data["std"]))
    if family == "truncated_normal":
        half_width = float(data["high"]) - mean
        return TruncatedNormal(
            mean, float(data["scale"]), half_width, data.get("variance_corrected")
        )
    if family == "uniform":
        return Uniform(mean, float(data["high"]) - mean)
    if family == "constant":
        values = data.get("values")
        return Constant(data.get("value"), tuple(values) if values is not None else None)
    if family == "orthogonal":
        return Orthogonal(
            float(data["gain"]),
            int(data["rows"]),
            int(data["cols"]),
            blocks=int(data.get("blocks", 1)),
        )
    raise ValueError(
        f"unknown reference family {family!r}; "
        "expected one of: normal, truncated_normal, uniform, orthogonal, constant"
    )
