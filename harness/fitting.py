"""Which family a side's weights support: normal, truncated normal or uniform.

Each family is fitted by maximum likelihood, symmetric about a centre: the normal about the
sample mean, with the sample std. The bounded families try two centres and keep the one with
the higher likelihood: the sample mean and the midrange (min + max) / 2. The midrange is the
uniform's maximum-likelihood centre and, with density at the bounds, far more precise than the
mean. Centred on a mean that is off by chance, a uniform's fit wastes width on one side and
loses to a truncated normal. About a centre, the bound is the largest |w - centre|, widened by
1/n to undo the extreme's bias, and the truncated normal then fits its raw scale, the only
free parameter left.

Families are ranked by BIC. A family is rejected when a Kolmogorov-Smirnov test against its fit
has p < alpha, or when its BIC is worse than the best by more than 10 (very strong evidence on
the Kass-Raftery scale). The supported family is the simplest one not rejected, the best BIC
breaking ties. With estimated parameters the KS p-values are conservative (too large), so a
rejection by KS is never spurious because of the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy import optimize, special, stats

from harness.references import Normal, Reference, TruncatedNormal, Uniform
from harness.samples import Sample

BIC_REJECTION_GAP = 10.0


@dataclass(frozen=True)
class FamilyFit:
    family: str
    reference: Reference
    log_likelihood: float
    parameters: int
    bic: float
    ks_statistic: float
    ks_pvalue: float

    def to_dict(self, best_bic: float, rejected_by: list[str]) -> dict[str, Any]:
        return {
            "family": self.family,
            "parameters": self.reference.to_dict(),
            "parameters_count": self.parameters,
            "log_likelihood": self.log_likelihood,
            "bic": self.bic,
            "delta_bic": self.bic - best_bic,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
            "rejected_by": rejected_by,
        }


def _truncated_log_likelihood(
    scale: float, n: int, sum_squares: float, half_width: float
) -> float:
    mass = special.erf(half_width / (scale * math.sqrt(2.0)))
    if mass <= 0.0:
        return -math.inf
    return (
        -0.5 * n * math.log(2.0 * math.pi)
        - n * math.log(scale)
        - sum_squares / (2.0 * scale * scale)
        - n * math.log(mass)
    )


def _bounded_fits(
    sample: Sample, centre: float
) -> tuple[tuple[Uniform, float], tuple[TruncatedNormal, float]]:
    """Fit the uniform and the truncated normal symmetric about `centre`, with log-likelihoods."""
    n = sample.n
    sum_squares = n * (sample.std**2 + (sample.mean - centre) ** 2)
    half_width = max(centre - sample.sorted[0], sample.sorted[-1] - centre) * (1.0 + 1.0 / n)

    uniform = Uniform(centre, half_width)
    uniform_ll = -n * math.log(2.0 * half_width)

    # The truncated normal's likelihood in log-scale is smooth and unimodal on this bracket: from
    # well below the sample std up to a scale so wide that the fit is a uniform.
    result = optimize.minimize_scalar(
        lambda log_scale: (
            -_truncated_log_likelihood(math.exp(log_scale), n, sum_squares, half_width)
        ),
        bounds=(math.log(sample.std * 0.2), math.log(half_width * 100.0)),
        method="bounded",
        options={"xatol": 1e-10},
    )
    truncated = TruncatedNormal(centre, math.exp(result.x), half_width)
    return (uniform, uniform_ll), (truncated, -float(result.fun))


def _fit_families(sample: Sample) -> list[tuple[Reference, float, int]]:
    n = sample.n
    normal = Normal(sample.mean, sample.std)
    normal_ll = -0.5 * n * (math.log(2.0 * math.pi * sample.std**2) + 1.0)

    midrange = 0.5 * (sample.sorted[0] + sample.sorted[-1])
    candidates = [_bounded_fits(sample, centre) for centre in (sample.mean, midrange)]
    uniform, uniform_ll = max((c[0] for c in candidates), key=lambda fitted: fitted[1])
    truncated, truncated_ll = max((c[1] for c in candidates), key=lambda fitted: fitted[1])

    return [(normal, normal_ll, 2), (truncated, truncated_ll, 3), (uniform, uniform_ll, 2)]


def fit(sample: Sample, alpha: float) -> dict[str, Any]:
    """Fit every family and return the supported one, the ranking and the rejections."""
    fits = []
    for reference, log_likelihood, parameters in _fit_families(sample):
        bic = parameters * math.log(sample.n) - 2.0 * log_likelihood
        ks = stats.kstest(sample.sorted, reference.cdf, method="asymp")
        fits.append(
            FamilyFit(
                reference.family,
                reference,
                log_likelihood,
                parameters,
                bic,
                float(ks.statistic),
                float(ks.pvalue),
            )
        )

    best_bic = min(f.bic for f in fits)
    ranked = []
    for family_fit in sorted(fits, key=lambda f: f.bic):
        rejected_by = []
        if family_fit.ks_pvalue < alpha:
            rejected_by.append(f"ks p={family_fit.ks_pvalue:.3g} < alpha={alpha:g}")
        if family_fit.bic - best_bic > BIC_REJECTION_GAP:
            rejected_by.append(f"bic worse than the best by {family_fit.bic - best_bic:.1f}")
        ranked.append(family_fit.to_dict(best_bic, rejected_by))

    # Parsimony: the family with the fewest parameters among those not rejected, then the best
    # BIC. A truncated fit puts its bound at the sample extreme, which gains some likelihood on
    # any short-tailed sample; preferring the simpler family keeps normal draws "normal".
    supported = sorted(
        (f for f in ranked if not f["rejected_by"]),
        key=lambda f: (f["parameters_count"], f["bic"]),
    )
    return {
        "supported": supported[0]["family"] if supported else None,
        "families": ranked,
    }
