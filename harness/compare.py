"""One comparison: two sides' draws in, one verdict document out."""

from __future__ import annotations

from typing import Any

from adapters.base import CANONICAL_LAYOUT
from harness import checks, decision, fitting
from harness.references import reference_from_dict
from harness.runner import DrawOutcome
from harness.samples import Sample
from harness.specs import ComparisonSpec

SCHEMA_VERSION = 1
SKIPPED = "skipped"


def _side_document(spec, seed: int, outcome: DrawOutcome) -> dict[str, Any]:
    document = {
        "spec": spec.text,
        "framework": spec.framework,
        "backend": spec.backend,
        "initializer": spec.initializer,
        "arguments": spec.arguments,
        "seed": seed,
        "status": outcome.status,
    }
    if outcome.status != "ok":
        document["reason"] = outcome.reason
    return document


def evaluate(
    comparison: ComparisonSpec,
    left: DrawOutcome,
    right: DrawOutcome,
    *,
    alpha: float,
    margins: checks.Margins,
) -> dict[str, Any]:
    """Run every check on one comparison and return its verdict document (without `run`)."""
    sides = [
        _side_document(comparison.left, comparison.side_seed(0), left),
        _side_document(comparison.right, comparison.side_seed(1), right),
    ]
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "comparison": comparison.name,
        "layer": {**comparison.layer.to_dict(), "canonical_layout": CANONICAL_LAYOUT},
        "alpha": alpha,
        "margins": margins.to_dict(),
    }
    if left.status != "ok" or right.status != "ok":
        reasons = [
            f"{side['spec']} {side['status']}: {side['reason']}"
            for side in sides
            if side["status"] != "ok"
        ]
        return {**document, "verdict": SKIPPED, "reasons": reasons, "checks": [], "sides": sides}

    samples = []
    references = []
    side_checks = []
    for side, outcome, scope in ((sides[0], left, "left"), (sides[1], right, "right")):
        weights = outcome.load()
        sample = Sample(weights)
        reference = reference_from_dict(outcome.metadata["reference"])
        own = decision.holm(
            checks.against_reference(sample, reference, alpha=alpha, scope=scope), alpha
        )
        violations = next((c for c in own if c.name == "reference_bound"), None)
        side.update(
            {
                "versions": outcome.metadata["versions"],
                "layer_class": outcome.metadata["layer_class"],
                "initializer_call": outcome.metadata["initializer_call"],
                "native_shape": outcome.metadata["native_shape"],
                "canonical_shape": outcome.metadata["canonical_shape"],
                "n_weights": sample.n,
                "n_layers": int(weights.shape[0]),
                "fan_in": outcome.metadata["fan_in"],
                "fan_out": outcome.metadata["fan_out"],
                "expected_std": reference.std,
                "summary": sample.summary().to_dict(),
                "bound_violations": int(violations.statistic) if violations else None,
                "reference": outcome.metadata["reference"],
                "conforms_to_reference": all(c.passed for c in own),
                "fit": _fit_with_comparison(fitting.fit(sample, alpha), reference),
            }
        )
        samples.append(sample)
        references.append(reference)
        side_checks.extend(own)
        del weights

    between = checks.between_sides(*samples, *references, alpha=alpha, margins=margins)
    decided = decision.decide(between, alpha)

    reasons = list(decided.reasons)
    for side in sides:
        if not side["conforms_to_reference"]:
            reasons.append(
                f"note: {side['spec']} deviates from its documented {side['reference']['family']} "
                "reference (see its reference_ks / reference_bound checks)"
            )
        if side["fit"]["contradicts_reference"]:
            reasons.append(
                f"note: the weights of {side['spec']} support a {side['fit']['supported']}, "
                f"but the framework documents a {side['reference']['family']}"
            )

    return {
        **document,
        "verdict": decided.verdict,
        "reasons": reasons,
        "weights_needed_per_side": decided.weights_needed,
        "checks": [c.to_dict() for c in decided.checks] + [c.to_dict() for c in side_checks],
        "sides": sides,
    }


def _fit_with_comparison(fit: dict[str, Any], reference) -> dict[str, Any]:
    """Add whether the supported family is the one the framework documents."""
    supported = fit["supported"]
    fit["contradicts_reference"] = supported is not None and supported != reference.family
    return fit
