"""The decision rule: one verdict, same / different / inconclusive, from all checks together.

Each check tests interval hypotheses about its effect against its equivalence margin m:

- **different**: some check rejects its H0 "|effect| <= m" under the Holm step-down correction
  at family-wise level alpha. The difference is then shown to exceed the margin, not only to be
  nonzero.
- **same**: every check that can show equivalence places its (1 - 2 alpha) confidence interval
  inside its margin (two one-sided tests per check). Requiring all of them is an
  intersection-union test, so "same" is wrong with probability at most alpha without any
  multiplicity correction. Hard-bound checks can only refute sameness.
- **inconclusive**: neither. The verdict then estimates how many weights per side would settle
  every undecided check (see `_weights_needed` for the planning assumptions).

Whenever every effect lies inside its margin, equal distributions included, a "different"
verdict occurs with probability at most alpha (the family-wise error rate Holm controls). With
equal distributions and enough weights, "same" is reached with high probability, since each
interval shrinks as 1 / sqrt(n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from harness.checks import POWER, Check

DEFAULT_ALPHA = 1e-3

SAME = "same"
DIFFERENT = "different"
INCONCLUSIVE = "inconclusive"
VERDICTS = (SAME, DIFFERENT, INCONCLUSIVE)


@dataclass(frozen=True)
class Decision:
    verdict: str
    reasons: list[str]
    checks: list[Check]
    weights_needed: int | None


def holm(checks: list[Check], alpha: float) -> list[Check]:
    """Apply Holm's step-down procedure; return the checks with `threshold` and `passed` set.

    The i-th smallest p-value (from 0) is compared with alpha / (k - i); once one is not
    rejected, no larger one is. `passed` is True when the check's H0 is not rejected.
    """
    order = sorted(range(len(checks)), key=lambda i: checks[i].pvalue)
    decided: dict[int, Check] = {}
    still_rejecting = True
    for rank, index in enumerate(order):
        check = checks[index]
        threshold = alpha / (len(checks) - rank)
        rejected = still_rejecting and check.pvalue <= threshold
        still_rejecting = rejected
        decided[index] = check.with_decision(threshold=threshold, passed=not rejected)
    return [decided[i] for i in range(len(checks))]


def _outcome(check: Check) -> str:
    if not check.passed and check.excess > check.margin:
        return "different"
    if not check.can_show_equivalence:
        return "consistent"
    low, high = check.interval
    if check.null_value - check.margin < low and high < check.null_value + check.margin:
        return "equivalent"
    return "undecided"


def _weights_needed(check: Check, alpha: float) -> int | None:
    """Estimate the weights per side that would settle an undecided check.

    Inside its margin, the check is planned as an equivalence test under no true difference: the
    interval half width must fall below the margin, with power `POWER` against the estimate's
    own noise. Beyond its margin but not significant, the current estimate is taken as the true
    effect (a plug-in estimate): the check's smallest detectable effect, which has power `POWER`
    at the worst Holm step, must come down to it. How far that effect lies beyond the margin
    shrinks as 1 / sqrt(n).
    """
    n = check.details.get("n")
    if n is None or check.interval is None:
        return None
    low, high = check.interval
    z_interval = float(special.ndtri(1.0 - alpha))
    z_power = float(special.ndtri(1.0 - (1.0 - POWER) / 2.0))
    if check.name == "ks_2samp":
        # The upper bound is the observed distance plus the DKW slack; under no difference both
        # shrink as 1 / sqrt(n).
        width = high
    else:
        width = 0.5 * (high - low) * (z_interval + z_power) / z_interval
    if check.excess < check.margin:
        factor = (width / check.margin) ** 2
    elif check.min_detectable_effect is None:
        return None
    else:
        detectable = check.min_detectable_effect - check.margin
        beyond = check.excess - check.margin
        factor = (detectable / beyond) ** 2 if beyond > 0 else math.inf
    if not math.isfinite(factor):
        return None
    return max(n + 1, math.ceil(n * factor))


def decide(checks: list[Check], alpha: float) -> Decision:
    """Combine the between-sides checks of one comparison into a verdict with reasons."""
    decided = [c.with_decision(outcome=_outcome(c)) for c in holm(checks, alpha)]

    different = [c for c in decided if c.outcome == "different"]
    undecided = [c for c in decided if c.outcome == "undecided"]

    if different:
        different.sort(key=lambda c: c.pvalue)
        reasons = [_describe(c) for c in different]
        return Decision(DIFFERENT, reasons, decided, None)

    if not undecided:
        equivalent = [c for c in decided if c.outcome == "equivalent"]
        reasons = [
            f"all {len(equivalent)} distribution checks lie within their margins "
            f"at alpha={alpha:g}, and no refute-only check (hard bound, structure, "
            "one element per layer) found a difference"
        ]
        tightest = max(equivalent, key=lambda c: _margin_used(c))
        reasons.append(f"closest to its margin: {_describe(tightest, equivalence=True)}")
        return Decision(SAME, reasons, decided, None)

    needed = []
    with_size = []
    for check in undecided:
        weights = _weights_needed(check, alpha)
        with_size.append(check.with_decision(weights_needed=weights))
        if weights is not None:
            needed.append(weights)
    by_name = {c.name: c for c in with_size}
    decided = [by_name.get(c.name, c) for c in decided]
    weights_needed = max(needed) if needed else None
    reasons = [
        "no check shows a significant difference beyond its margin, but "
        + ", ".join(c.name for c in undecided)
        + " cannot yet place the difference inside its margin"
    ]
    if weights_needed is not None:
        reasons.append(
            f"about {weights_needed:,} weights per side would settle it (a planning estimate "
            "that assumes no true difference where the estimate lies inside the margin, and the "
            "observed effect elsewhere)"
        )
    reasons.extend(_describe(c) for c in with_size)
    return Decision(INCONCLUSIVE, reasons, decided, weights_needed)


def _margin_used(check: Check) -> float:
    low, high = check.interval
    farthest = max(abs(low - check.null_value), abs(high - check.null_value))
    return farthest / check.margin if check.margin else math.inf


def _describe(check: Check, equivalence: bool = False) -> str:
    """Write one check's evidence as a sentence fragment for the verdict's reasons.

    With `equivalence`, the interval and margin are the evidence and the p-value of the
    difference test is left out.
    """
    if "count" in check.details:
        bounded = "right" if check.name == "within_right_bound" else "left"
        weights = "left" if bounded == "right" else "right"
        if check.scope != "between":
            bounded = weights = check.scope
        return (
            f"{check.name}: {check.details['count']:,} of {check.details['n']:,} {weights} "
            f"weights lie beyond the {bounded} side's documented hard bound "
            f"+-{check.details['bound']:.6g}, which no weight can cross if both draw alike"
        )
    if check.name == "orthogonality_match":
        return (
            f"{check.name}: one side is orthogonal and the other is not (largest |G/gain^2 - I|: "
            f"left {check.details['left_error']:.3g}, right {check.details['right_error']:.3g})"
        )
    if check.name == "ks_2samp" and equivalence:
        return (
            f"ks_2samp: KS distance {check.estimate:.4g}, upper bound {check.interval[1]:.4g} "
            f"(margin {check.margin:g})"
        )
    if check.name == "ks_2samp":
        return (
            f"ks_2samp: KS distance {check.estimate:.4g} (margin {check.margin:g}), "
            f"p={check.pvalue:.3g} vs threshold {check.threshold:.3g}"
        )
    parts = [f"{check.name}: estimate {check.estimate:.4g} ({check.unit})"]
    if check.interval is not None:
        parts.append(f"interval [{check.interval[0]:.4g}, {check.interval[1]:.4g}]")
    parts.append(f"margin {check.margin:g}")
    if not equivalence:
        parts.append(f"p={check.pvalue:.3g} vs threshold {check.threshold:.3g}")
    return ", ".join(parts)
