"""One comparison: two sides' draws in, one verdict document out."""

from __future__ import annotations

import math
from typing import Any

from adapters.base import CANONICAL_LAYOUT
from harness import checks, decision, fitting
from harness.checks import BOUND_RELATIVE_TOLERANCE
from harness.layers import layer_checks
from harness.references import reference_from_dict
from harness.runner import DrawOutcome
from harness.samples import Sample
from harness.specs import ComparisonSpec
from harness.structure import (
    against_constant,
    against_orthogonal,
    between_constant,
    between_structured,
)

SCHEMA_VERSION = 1
SKIPPED = "skipped"

ERROR = "error"
NOT_ELEMENT_WISE = ("orthogonal", "constant")
REFERENCE_CHECKS = ("reference_ks", "reference_bound", "orthogonality_error", "constant_error")
INDEPENDENCE_CHECKS = ("layer_repeats", "layer_correlation")
SPREAD_CHECKS = (
    "layer_mean_spread",
    "layer_std_spread",
    "position_mean_spread",
    "position_std_spread",
)


def _side_document(spec, seed: int, outcome: DrawOutcome) -> dict[str, Any]:
    document = {
        "spec": spec.text,
        "framework": spec.framework,
        "backend": spec.backend,
        "initializer": spec.initializer,
        "arguments": spec.arguments,
        "dtype": spec.dtype,
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
        for side, outcome in zip(sides, (left, right), strict=True):
            if outcome.status == "ok":
                side.update(_draw_metadata(outcome))
        reasons = [
            f"{side['spec']} {side['status']}: {side['reason']}"
            for side in sides
            if side["status"] != "ok"
        ]
        verdict = ERROR if "error" in (left.status, right.status) else SKIPPED
        return {**document, "verdict": verdict, "reasons": reasons, "checks": [], "sides": sides}

    weights = [left.load(), right.load()]
    references = [reference_from_dict(o.metadata["reference"]) for o in (left, right)]
    families = {r.family for r in references}
    # The bound slack follows the coarser dtype of the two sides.
    tolerance = max(
        BOUND_RELATIVE_TOLERANCE[spec.dtype] for spec in (comparison.left, comparison.right)
    )

    side_checks = []
    samples = []
    for index, (side, outcome, scope) in enumerate(
        ((sides[0], left, "left"), (sides[1], right, "right"))
    ):
        sample = Sample(weights[index])
        own = decision.holm(
            _own_checks(weights[index], sample, references[index], alpha, scope, tolerance),
            alpha,
        )
        side.update(_side_findings(outcome, weights[index], sample, references[index], own))
        side["fit"] = (
            _fit_with_comparison(fitting.fit(sample, alpha), references[index])
            if references[index].family not in NOT_ELEMENT_WISE
            else {
                "supported": None,
                "families": [],
                "contradicts_reference": False,
                "skipped": f"element-wise families do not describe a {references[index].family}",
            }
        )
        samples.append(sample)
        side_checks.extend(own)

    # Constant and orthogonal weights are not independent draws: they get structural checks.
    if "constant" in families:
        between = between_constant(*weights, tolerance=tolerance)
    elif "orthogonal" in families:
        between = between_structured(*weights, *references, alpha=alpha, margins=margins)
    else:
        between = checks.between_sides(
            *samples, *references, alpha=alpha, margins=margins, bound_tolerance=tolerance
        )
    decided = decision.decide(between, alpha)

    verdict = decided.verdict
    reasons = list(decided.reasons)
    dependent = [side["spec"] for side in sides if not side["layers_independent"]]
    if dependent and verdict == decision.SAME:
        # Pooled standard errors assume independent layers; repeated layers overstate the sample.
        verdict = decision.INCONCLUSIVE
        reasons.insert(0, "the checks agree, but repeated or correlated layers void their errors")
    for side in sides:
        if not side["layers_independent"]:
            reasons.append(
                f"note: {side['spec']} draws repeated or correlated layers "
                "(see its layer_repeats / layer_correlation checks); the initializer may reuse "
                "its seed"
            )
        if not side["layers_homogeneous"]:
            reasons.append(
                f"note: {side['spec']} draws layers or element positions that differ in mean or "
                "spread beyond sampling noise (see its *_spread checks)"
            )
        if not side["conforms_to_reference"]:
            reasons.append(
                f"note: {side['spec']} deviates from its documented {side['reference']['family']} "
                "reference (see its reference_ks / reference_bound checks)"
            )
        if side["fit"]["contradicts_reference"]:
            fitted = next(
                f["parameters"]
                for f in side["fit"]["families"]
                if f["family"] == side["fit"]["supported"]
            )
            reasons.append(
                f"note: the weights of {side['spec']} support a {_family_label(fitted)}, "
                f"but the framework documents a {_family_label(side['reference'])}"
            )

    return {
        **document,
        "verdict": verdict,
        "reasons": reasons,
        "weights_needed_per_side": decided.weights_needed,
        "checks": [c.to_dict() for c in decided.checks] + [c.to_dict() for c in side_checks],
        "sides": sides,
    }


def _own_checks(weights, sample, reference, alpha, scope, tolerance) -> list[checks.Check]:
    """Return one side's checks against its reference and of its layers as samples."""
    if reference.family == "constant":
        # Identical layers are the point of a constant: no layer-as-sample checks apply.
        return against_constant(weights, reference, scope=scope, tolerance=tolerance)
    if reference.family == "orthogonal":
        own = against_orthogonal(weights, reference, scope=scope)
    else:
        own = checks.against_reference(
            sample, reference, alpha=alpha, scope=scope, bound_tolerance=tolerance
        )
    found = layer_checks(weights, scope=scope)
    if reference.family == "orthogonal":
        # Elements of one orthogonal matrix are dependent: only the layer-to-layer checks apply.
        found = [c for c in found if c.name in INDEPENDENCE_CHECKS]
    return own + found


def _draw_metadata(outcome: DrawOutcome) -> dict[str, Any]:
    """Return what the framework reported about a draw: versions, shapes, fans, reference."""
    reference = reference_from_dict(outcome.metadata["reference"])
    return {
        "versions": outcome.metadata["versions"],
        "layer_class": outcome.metadata["layer_class"],
        "initializer_call": outcome.metadata["initializer_call"],
        "native_shape": outcome.metadata["native_shape"],
        "canonical_shape": outcome.metadata["canonical_shape"],
        "fan_in": outcome.metadata["fan_in"],
        "fan_out": outcome.metadata["fan_out"],
        "expected_std": reference.std,
        "reference": outcome.metadata["reference"],
    }


def _side_findings(outcome, weights, sample, reference, own) -> dict[str, Any]:
    """Return the fields a verdict file reports for one side that ran."""
    passed = {c.name: c.passed for c in own}
    violations = next((c for c in own if c.name == "reference_bound"), None)
    return {
        **_draw_metadata(outcome),
        "n_weights": sample.n,
        "n_layers": int(weights.shape[0]),
        "summary": sample.summary().to_dict(),
        "bound_violations": int(violations.statistic) if violations else None,
        "conforms_to_reference": all(passed.get(name, True) for name in REFERENCE_CHECKS),
        "layers_independent": all(passed.get(name, True) for name in INDEPENDENCE_CHECKS),
        "layers_homogeneous": all(passed.get(name, True) for name in SPREAD_CHECKS),
    }


def _family_label(parameters: dict[str, Any]) -> str:
    corrected = parameters.get("variance_corrected")
    if parameters["family"] != "truncated_normal" or corrected is None:
        return parameters["family"]
    return f"{'variance-corrected' if corrected else 'uncorrected'} truncated_normal"


def _fit_with_comparison(fit: dict[str, Any], reference) -> dict[str, Any]:
    """Add whether the supported family is the one the framework documents.

    For a truncated fit, also judge whether the draw was variance-corrected: a corrected draw's
    std matches the nominal std of the initializer's formula, an uncorrected draw's raw scale
    does. The nominal std is the reference's std, or its raw scale when the reference itself is
    documented as uncorrected.
    """
    supported = fit["supported"]
    fit["contradicts_reference"] = supported is not None and supported != reference.family
    truncated = next(f for f in fit["families"] if f["family"] == "truncated_normal")
    parameters = truncated["parameters"]
    nominal = (
        reference.scale
        if getattr(reference, "variance_corrected", None) is False
        else reference.std
    )
    corrected = abs(math.log(parameters["std"] / nominal)) < abs(
        math.log(parameters["scale"] / nominal)
    )
    parameters["variance_corrected"] = corrected
    parameters["bound_in_nominal_std"] = (parameters["high"] - parameters["mean"]) / nominal
    if (
        supported == "truncated_normal"
        and reference.family == "truncated_normal"
        and reference.variance_corrected is not None
        and corrected != reference.variance_corrected
    ):
        fit["contradicts_reference"] = True
    return fit
