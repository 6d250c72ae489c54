"""Statistical checks: each measures one difference and the evidence about it.

A check measures one effect and asks two questions of it, each against its equivalence margin m:

- difference: H0 |effect| <= m against H1 |effect| > m. The p-value is the largest probability,
  over all effects inside the margin, of an estimate at least as far out as the one observed.
  With m = 0 this is the usual test of "no effect".
- equivalence: H0 |effect| >= m against H1 |effect| < m, by two one-sided tests at level alpha,
  read off the (1 - 2 alpha) confidence interval.

A check also quotes the smallest effect the run could call different. Whether a difference is
significant is decided later, in `harness.decision`, where the Holm correction sees all checks of
a comparison together.

Between two sides, with weights pooled over all drawn layers:

========================  =============================================  =======================
check                     effect                                         unit
========================  =============================================  =======================
ks_2samp                  sup |F_left - F_right|                         KS distance
mean                      difference of means                            expected std (sigma)
std_ratio                 log(std_right / std_left)                      log ratio
skewness                  difference of skewness                         difference
excess_kurtosis           difference of excess kurtosis                  difference
tail_2sd, tail_3sd        difference of P(|w - mean| > k sigma)          fraction of weights
within_<side>_bound       mass of the other side beyond this side's      fraction of weights
                          hard bound; H0 none, H1 some (margin 0)
========================  =============================================  =======================

sigma is the expected std, averaged over the two sides. For one side against its documented
reference: ``reference_ks`` (H0 F = F_reference) and ``reference_bound`` (H0 no weight beyond
the reference's hard bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from scipy import optimize, special, stats

from harness.references import Reference
from harness.samples import Sample, dkw_half_width

# The power at which the smallest detectable effect is quoted.
POWER = 0.9

# Relative slack on a hard bound before a weight counts as outside it, per dtype of the drawn
# weights. A draw scaled to its bound can round past the exact bound by half a unit in the last
# place (eps / 2 relative); the slack allows a few such units for float32 and one full eps for
# the 16-bit types, while a real leak lies far outside.
BOUND_RELATIVE_TOLERANCE = {"float32": 1e-6, "float16": 2.0**-10, "bfloat16": 2.0**-7}


@dataclass(frozen=True)
class Check:
    """One check's measurement, and after the decision rule, its threshold and outcome.

    `estimate`, `interval` and `margin` are in `unit`. `interval` is the (1 - 2 alpha)
    confidence interval for the effect (one-sided for ks distances). `outcome` is one of
    "different", "equivalent", "undecided" or, for checks that can only show a difference,
    "consistent".
    """

    name: str
    scope: str
    statistic: float
    pvalue: float | None
    estimate: float
    interval: tuple[float, float] | None
    margin: float | None
    unit: str
    min_detectable_effect: float | None
    description: str
    null_value: float = 0.0
    can_show_equivalence: bool = True
    # Plug-in extra needed per side: how many weights would settle the check in either
    # direction if the estimate were the true effect. Filled for undecided checks only.
    weights_needed: int | None = None
    threshold: float | None = None
    passed: bool | None = None
    outcome: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def excess(self) -> float:
        """Distance of the estimate from "no effect", in the check's unit."""
        return abs(self.estimate - self.null_value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope": self.scope,
            "description": self.description,
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "threshold": self.threshold,
            "passed": self.passed,
            "outcome": self.outcome,
            "estimate": self.estimate,
            "interval": list(self.interval) if self.interval is not None else None,
            "margin": self.margin,
            "unit": self.unit,
            "min_detectable_effect": self.min_detectable_effect,
            "weights_needed": self.weights_needed,
            **({"details": self.details} if self.details else {}),
        }

    def with_decision(self, **changes: Any) -> Check:
        return replace(self, **changes)


def _z(probability: float) -> float:
    """Return the standard normal quantile at `probability`."""
    return float(special.ndtri(probability))


def beyond_margin_pvalue(estimate: float, standard_error: float, margin: float) -> float:
    """Return the p-value of H0 |effect| <= margin for a normal estimate with known error.

    The probability of an estimate at least as far from zero as the observed one is largest
    when the true effect sits at the margin: P(|X| >= |estimate|) with X ~ N(+-margin, se^2).
    With margin 0 this is the two-sided p-value of "no effect".
    """
    distance = abs(estimate)
    if standard_error <= 0:
        return 0.0 if distance > margin else 1.0
    return float(
        special.ndtr((margin - distance) / standard_error)
        + special.ndtr((-margin - distance) / standard_error)
    )


def critical_estimate(standard_error: float, margin: float, level: float) -> float:
    """Return the distance from zero at which `beyond_margin_pvalue` falls to `level`.

    About margin + z(1 - level) se when the margin spans a few standard errors, and
    z(1 - level / 2) se when it is 0, so it is solved for rather than approximated.
    """
    if standard_error <= 0:
        return margin

    def excess_pvalue(distance: float) -> float:
        return beyond_margin_pvalue(distance, standard_error, margin) - level

    # At the margin the p-value is at least 0.5; 40 standard errors beyond, it underflows.
    return float(optimize.brentq(excess_pvalue, margin, margin + 40.0 * standard_error))


def ks_beyond_margin_pvalue(
    distance: float, margin: float, n_left: int, n_right: int, no_difference_pvalue: float
) -> float:
    """Return the p-value of H0 "true KS distance <= margin" from an observed two-sample distance.

    The observed distance exceeds the true one by at most sup |F_n - F| of the left sample plus
    that of the right. Massart's DKW inequality bounds each, and splitting the excess between
    the sides in proportion to 1 / sqrt(n) equalises the two bounds. This holds for any pair of
    continuous distributions, which the Kolmogorov distribution does not once they differ, but
    it is conservative. With margin 0 the exact test of one distribution is used instead.
    """
    if margin == 0:
        return no_difference_pvalue
    excess = distance - margin
    if excess <= 0:
        return 1.0
    spread = 1.0 / math.sqrt(n_left) + 1.0 / math.sqrt(n_right)
    return float(min(1.0, 4.0 * math.exp(-2.0 * (excess / spread) ** 2)))


def ks_critical_distance(margin: float, n_left: int, n_right: int, level: float) -> float:
    """Return the observed KS distance at which `ks_beyond_margin_pvalue` falls to `level`.

    With margin 0 that is the Kolmogorov critical value of the exact test.
    """
    if margin == 0:
        scale = math.sqrt((n_left + n_right) / (n_left * n_right))
        return float(stats.kstwobign.isf(level)) * scale
    spread = 1.0 / math.sqrt(n_left) + 1.0 / math.sqrt(n_right)
    return margin + spread * math.sqrt(math.log(4.0 / level) / 2.0)


def z_test_check(
    name: str,
    description: str,
    estimate: float,
    standard_error: float,
    *,
    margin: float,
    alpha: float,
    checks_in_family: int,
    unit: str,
    null_value: float = 0.0,
    n: int,
) -> Check:
    """Build a z-test check for an asymptotically normal estimate of a difference.

    Difference: H0 |effect - null_value| <= margin; H1 |effect - null_value| > margin.
    Equivalence: the (1 - 2 alpha) interval lies inside null_value +- margin. `statistic` is
    the plain z-score of the estimate against null_value.
    """
    z_equivalence = _z(1.0 - alpha)
    offset = estimate - null_value
    if standard_error > 0:
        statistic = offset / standard_error
    else:
        statistic = 0.0 if offset == 0 else math.copysign(math.inf, offset)
    pvalue = beyond_margin_pvalue(offset, standard_error, margin)
    half_width = z_equivalence * standard_error
    return Check(
        name=name,
        scope="between",
        statistic=float(statistic),
        pvalue=pvalue,
        estimate=float(estimate),
        interval=(float(estimate - half_width), float(estimate + half_width)),
        margin=margin,
        unit=unit,
        min_detectable_effect=(
            critical_estimate(standard_error, margin, alpha / checks_in_family)
            + _z(POWER) * standard_error
        ),
        description=description,
        null_value=null_value,
        details={"standard_error": float(standard_error), "n": n},
    )


def _two_proportion_se(count_a: int, n_a: int, count_b: int, n_b: int) -> float:
    """Return the Agresti-Caffo standard error of p_b - p_a (one pseudo-success and failure each).

    The pseudo-counts keep the error positive when a side has no weight in the tail, as a
    truncated side beyond its bound never has.
    """
    p_a = (count_a + 1.0) / (n_a + 2.0)
    p_b = (count_b + 1.0) / (n_b + 2.0)
    return math.sqrt(p_a * (1.0 - p_a) / (n_a + 2.0) + p_b * (1.0 - p_b) / (n_b + 2.0))


def _margin(default: float, unit: str, probability: bool = False) -> Any:
    """Declare a margin field with its unit and whether it bounds a probability."""
    return field(default=default, metadata={"unit": unit, "probability": probability})


@dataclass(frozen=True)
class Margins:
    """Equivalence margins: the largest difference still called "the same".

    A difference smaller than its margin is not worth reporting for weight initialisation: it
    changes a layer's output scale by half a percent or less and its tail by a fraction of a
    percentage point. "different" must show a difference beyond the margin, so a wide margin
    costs power: the std margin of 0.5% keeps a 5% std mismatch at 25,600 weights a side
    detected with power above 0.999, while 1% would not. Every verdict states its margins.
    """

    ks_distance: float = _margin(0.01, "KS distance, for ks_2samp", probability=True)
    mean: float = _margin(0.01, "difference of means in expected std")
    std_ratio: float = _margin(0.005, "ratio - 1, tested as log(1 + value)")
    skewness: float = _margin(0.05, "difference")
    # A +-2 std truncation moves the excess kurtosis by 0.63.
    excess_kurtosis: float = _margin(0.1, "difference")
    # Mass beyond 2 expected std is 4.55% normal and 3.46% truncated. Beyond 3 it is 0.27% and 0.
    tail_2sd: float = _margin(0.002, "fraction of weights", probability=True)
    tail_3sd: float = _margin(0.0005, "fraction of weights", probability=True)

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)

    @classmethod
    def names(cls) -> list[str]:
        return list(cls.__dataclass_fields__)

    @classmethod
    def unit(cls, name: str) -> str:
        return cls.__dataclass_fields__[name].metadata["unit"]

    @classmethod
    def upper_limit(cls, name: str) -> float:
        """Return the exclusive upper limit of a margin: 1 for probabilities, else infinity."""
        return 1.0 if cls.__dataclass_fields__[name].metadata["probability"] else math.inf


def between_sides(
    left: Sample,
    right: Sample,
    left_reference: Reference,
    right_reference: Reference,
    *,
    alpha: float,
    margins: Margins,
    bound_tolerance: float = BOUND_RELATIVE_TOLERANCE["float32"],
) -> list[Check]:
    """Run every check of left against right; they form one multiple-testing family."""
    sigma = 0.5 * (left_reference.std + right_reference.std)
    centre = 0.5 * (left_reference.mean + right_reference.mean)
    bounded = [
        (label, reference, other)
        for label, reference, other in (
            ("left", left_reference, right),
            ("right", right_reference, left),
        )
        if reference.bound is not None
    ]
    family_size = 7 + len(bounded)
    n = min(left.n, right.n)

    checks = [_ks_two_sample(left, right, alpha, margins.ks_distance, family_size)]

    checks.append(
        z_test_check(
            "mean",
            "difference of means (right - left), in expected std",
            (right.mean - left.mean) / sigma,
            math.sqrt(left.mean_variance + right.mean_variance) / sigma,
            margin=margins.mean,
            alpha=alpha,
            checks_in_family=family_size,
            unit="in expected std",
            n=n,
        )
    )

    # The ratio is tested on the log scale, where its estimate is close to normal.
    log_ratio = math.log(right.std / left.std)
    log_check = z_test_check(
        "std_ratio",
        "ratio of standard deviations (right / left)",
        log_ratio,
        math.sqrt(left.log_std_variance + right.log_std_variance),
        margin=math.log1p(margins.std_ratio),
        alpha=alpha,
        checks_in_family=family_size,
        unit="log ratio",
        n=n,
    )
    checks.append(
        log_check.with_decision(
            details={**log_check.details, "ratio": right.std / left.std},
        )
    )

    for name, attribute, variance, margin in (
        ("skewness", "skewness", "skewness_variance", margins.skewness),
        (
            "excess_kurtosis",
            "excess_kurtosis",
            "excess_kurtosis_variance",
            margins.excess_kurtosis,
        ),
    ):
        checks.append(
            z_test_check(
                name,
                f"difference of {name.replace('_', ' ')} (right - left)",
                getattr(right, attribute) - getattr(left, attribute),
                math.sqrt(getattr(left, variance) + getattr(right, variance)),
                margin=margin,
                alpha=alpha,
                checks_in_family=family_size,
                unit="difference",
                n=n,
            )
        )

    for multiple, margin in ((2, margins.tail_2sd), (3, margins.tail_3sd)):
        threshold = multiple * sigma
        count_left = left.count_outside(centre, threshold)
        count_right = right.count_outside(centre, threshold)
        check = z_test_check(
            f"tail_{multiple}sd",
            f"difference of mass beyond {multiple} expected std (right - left)",
            count_right / right.n - count_left / left.n,
            _two_proportion_se(count_left, left.n, count_right, right.n),
            margin=margin,
            alpha=alpha,
            checks_in_family=family_size,
            unit="fraction of weights",
            n=n,
        )
        checks.append(
            check.with_decision(
                details={
                    **check.details,
                    "threshold": threshold,
                    "left_mass": count_left / left.n,
                    "right_mass": count_right / right.n,
                }
            )
        )

    for label, reference, other in bounded:
        checks.append(
            _bound_check(
                f"within_{label}_bound",
                other,
                reference,
                scope="between",
                tolerance=bound_tolerance,
            )
        )
    return checks


def _ks_two_sample(left: Sample, right: Sample, alpha: float, margin: float, family: int) -> Check:
    """Two-sample Kolmogorov-Smirnov distance. Difference: H0 true distance <= margin.

    Both the p-value of that H0 and the equivalence bound on the true distance come from the DKW
    inequality on each side (see `ks_beyond_margin_pvalue`), which holds for any continuous
    distributions but is conservative: placing a 0.01 distance inside the bound at alpha = 1e-3
    needs about 340,000 weights a side. The exact Kolmogorov p-value of "one distribution" is
    kept in the details.
    """
    result = stats.ks_2samp(left.sorted, right.sorted, method="asymp")
    distance = float(result.statistic)
    slack = dkw_half_width(left.n, alpha) + dkw_half_width(right.n, alpha)
    beta = 1.0 - POWER
    # The distance called different at the worst Holm step.
    critical = ks_critical_distance(margin, left.n, right.n, alpha / family)
    detectable = critical + dkw_half_width(left.n, beta) + dkw_half_width(right.n, beta)
    pvalue = ks_beyond_margin_pvalue(
        distance, margin, left.n, right.n, no_difference_pvalue=float(result.pvalue)
    )
    return Check(
        name="ks_2samp",
        scope="between",
        statistic=distance,
        pvalue=pvalue,
        estimate=distance,
        interval=(max(0.0, distance - slack), min(1.0, distance + slack)),
        margin=margin,
        unit="KS distance",
        min_detectable_effect=float(detectable),
        description="two-sample Kolmogorov-Smirnov distance",
        details={
            "location": float(result.statistic_location),
            "critical_distance": critical,
            "no_difference_pvalue": float(result.pvalue),
            "n": min(left.n, right.n),
        },
    )


def _bound_check(
    name: str, sample: Sample, reference: Reference, *, scope: str, tolerance: float
) -> Check:
    """Count weights beyond a reference's hard bound. H0: no mass beyond it; H1: some mass.

    Under H0 a single weight beyond the bound is impossible, so any count is significant
    (p = 0) and zero gives p = 1. With zero weights beyond the bound the upper 1 - alpha bound
    on the mass is -ln(alpha) / n. The check cannot show equivalence on its own, because the
    distribution checks already bound any mass difference. The smallest detectable effect is
    the mass beyond the bound that yields at least one weight there with probability `POWER`.
    """
    half_width = reference.bound * (1.0 + tolerance)
    count = sample.count_outside(reference.mean, half_width)
    return Check(
        name=name,
        scope=scope,
        statistic=float(count),
        pvalue=0.0 if count else 1.0,
        estimate=count / sample.n,
        interval=None,
        margin=0.0,
        unit="fraction of weights",
        min_detectable_effect=-math.log1p(-POWER) / sample.n,
        description=(
            f"weights beyond the {reference.family} bound +-{reference.bound:.6g} "
            f"around {reference.mean:g}"
        ),
        can_show_equivalence=False,
        details={"count": count, "bound": reference.bound, "n": sample.n, "tolerance": tolerance},
    )


def against_reference(
    sample: Sample,
    reference: Reference,
    *,
    alpha: float,
    scope: str,
    bound_tolerance: float = BOUND_RELATIVE_TOLERANCE["float32"],
) -> list[Check]:
    """Run one side's checks against its own documented reference (one family per side)."""
    result = stats.kstest(sample.sorted, reference.cdf, method="asymp")
    distance = float(result.statistic)
    slack = dkw_half_width(sample.n, 2.0 * alpha)
    checks = [
        Check(
            name="reference_ks",
            scope=scope,
            statistic=distance,
            pvalue=float(result.pvalue),
            estimate=distance,
            interval=(max(0.0, distance - slack), min(1.0, distance + slack)),
            margin=None,
            unit="KS distance",
            min_detectable_effect=float(
                stats.kstwobign.isf(alpha) / math.sqrt(sample.n)
                + dkw_half_width(sample.n, 2.0 * (1.0 - POWER))
            ),
            description=(
                f"one-sample Kolmogorov-Smirnov distance to the documented {reference.family}"
            ),
            can_show_equivalence=False,
        )
    ]
    if reference.bound is not None:
        checks.append(
            _bound_check(
                "reference_bound", sample, reference, scope=scope, tolerance=bound_tolerance
            )
        )
    return checks
