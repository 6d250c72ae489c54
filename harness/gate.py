"""The regression gate: compare a results folder with a committed baseline.

Exit codes, most severe first:

- 2: a file is unreadable, corrupt, or of a schema this version cannot read (the file is named);
- 3: not comparable: a comparison's configuration differs (its hash covers sides, layer, layer
  count, seed, alpha, margins and schema), or a comparison exists on one side only;
- 1: changes: a verdict flipped, a fitted family, a reference or a fan changed, or a figure
  moved beyond its tolerance. Each change names the framework versions of both runs, since a
  framework upgrade that changes an initializer is what the gate exists to catch;
- 0: every verdict and key figure agrees. Known differences pass, because the baseline
  records them; ``--update-baseline`` rewrites the baseline on purpose.

Figures drawn with the same seed and versions repeat exactly. Across versions the random draws
change, so figure tolerances are wide enough for sampling noise at the default suite's sizes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.compare import SCHEMA_VERSION
from harness.run import MANIFEST

CHANGED = 1
INVALID = 2
NOT_COMPARABLE = 3

# Allowed movement of each side's empirical figures between runs.
STD_RELATIVE_TOLERANCE = 0.02
MEAN_TOLERANCE_IN_STD = 0.05
KURTOSIS_TOLERANCE = 0.3


class ResultsError(ValueError):
    """A results file the gate cannot read."""


@dataclass
class GateResult:
    exit_code: int = 0
    lines: list[str] = field(default_factory=list)


def _load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(f"{path}: not readable as JSON ({error})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: expected a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: schema_version {version!r} cannot be read by this init-harness, which "
            f"reads {SCHEMA_VERSION}; rerun the suite to write current files"
        )
    return data


def load_results(folder: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Read a results folder's manifest and every verdict it lists, by comparison name."""
    manifest = _load_json(folder / MANIFEST)
    if manifest.get("kind") != "init-harness results" or "comparisons" not in manifest:
        raise ResultsError(f"{folder / MANIFEST}: not an init-harness results manifest")
    verdicts = {}
    for entry in manifest["comparisons"]:
        verdict = _load_json(folder / entry["file"])
        for key in ("comparison", "verdict", "sides", "config_hash", "config"):
            if key not in verdict:
                raise ResultsError(f"{folder / entry['file']}: missing field {key!r}")
        verdicts[entry["name"]] = verdict
    return manifest, verdicts


def _versions(document: dict[str, Any]) -> str:
    parts = []
    for side in document["sides"]:
        versions = ", ".join(f"{k} {v}" for k, v in sorted(side.get("versions", {}).items()))
        parts.append(f"{side['spec']} [{versions or 'not run'}]")
    return "; ".join(parts)


def _side_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Compare one side's key figures between the baseline and the current run."""
    changes = []
    label = after["spec"]
    for key in ("status", "fan_in", "fan_out"):
        if before.get(key) != after.get(key):
            changes.append(f"{label}: {key} {before.get(key)} -> {after.get(key)}")
    if before.get("reference") != after.get("reference"):
        changes.append(f"{label}: documented reference changed")
    family_before = (before.get("fit") or {}).get("supported")
    family_after = (after.get("fit") or {}).get("supported")
    if family_before != family_after:
        changes.append(f"{label}: fitted family {family_before} -> {family_after}")
    if bool(before.get("bound_violations")) != bool(after.get("bound_violations")):
        changes.append(
            f"{label}: bound violations {before.get('bound_violations')} -> "
            f"{after.get('bound_violations')}"
        )

    summary_before, summary_after = before.get("summary"), after.get("summary")
    if summary_before and summary_after:
        scale = after.get("expected_std") or summary_after["std"] or 1.0
        std_move = (
            abs(summary_after["std"] / summary_before["std"] - 1.0)
            if summary_before["std"]
            else 0.0
        )
        if std_move > STD_RELATIVE_TOLERANCE:
            changes.append(
                f"{label}: std {summary_before['std']:.5g} -> {summary_after['std']:.5g} "
                f"(moved {std_move:.1%}, tolerance {STD_RELATIVE_TOLERANCE:.0%})"
            )
        mean_move = abs(summary_after["mean"] - summary_before["mean"]) / scale
        if mean_move > MEAN_TOLERANCE_IN_STD:
            changes.append(
                f"{label}: mean moved {mean_move:.3g} expected std "
                f"(tolerance {MEAN_TOLERANCE_IN_STD})"
            )
        kurtosis_move = abs(summary_after["excess_kurtosis"] - summary_before["excess_kurtosis"])
        if kurtosis_move > KURTOSIS_TOLERANCE:
            changes.append(
                f"{label}: excess kurtosis {summary_before['excess_kurtosis']:.3g} -> "
                f"{summary_after['excess_kurtosis']:.3g} (tolerance {KURTOSIS_TOLERANCE})"
            )
    return changes


def _config_differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    keys = sorted(set(before) | set(after))
    return [
        f"{k} {before.get(k)!r} -> {after.get(k)!r}" for k in keys if before.get(k) != after.get(k)
    ]


def check(current: Path, baseline: Path) -> GateResult:
    """Compare `current` with `baseline`; collect every finding before choosing the exit code."""
    result = GateResult()
    try:
        _, before = load_results(baseline)
        _, after = load_results(current)
    except ResultsError as error:
        return GateResult(INVALID, [f"invalid results file: {error}"])

    not_comparable = []
    changed = []
    for name in sorted(set(before) | set(after)):
        if name not in after:
            not_comparable.append(f"{name}: in the baseline only")
            continue
        if name not in before:
            not_comparable.append(f"{name}: not in the baseline")
            continue
        old, new = before[name], after[name]
        if old["config_hash"] != new["config_hash"]:
            differences = "; ".join(_config_differences(old["config"], new["config"]))
            not_comparable.append(f"{name}: configuration differs: {differences}")
            continue
        findings = []
        if old["verdict"] != new["verdict"]:
            findings.append(f"verdict {old['verdict']} -> {new['verdict']}")
        for side_before, side_after in zip(old["sides"], new["sides"], strict=True):
            findings.extend(_side_changes(side_before, side_after))
        if findings:
            changed.append(
                f"{name}: " + "; ".join(findings) + f" (baseline: {_versions(old)}; "
                f"current: {_versions(new)})"
            )

    result.lines = [f"not comparable: {line}" for line in not_comparable]
    result.lines += [f"changed: {line}" for line in changed]
    if not_comparable:
        result.exit_code = NOT_COMPARABLE
    elif changed:
        result.exit_code = CHANGED
    else:
        result.lines.append(f"all {len(after)} comparisons agree with the baseline")
    return result


def update_baseline(current: Path, baseline: Path) -> int:
    """Replace the baseline with the current results' manifest and verdict files."""
    manifest, _ = load_results(current)
    if baseline.exists():
        shutil.rmtree(baseline)
    baseline.mkdir(parents=True)
    shutil.copy2(current / MANIFEST, baseline / MANIFEST)
    for entry in manifest["comparisons"]:
        shutil.copy2(current / entry["file"], baseline / entry["file"])
    if (current / "report.md").exists():
        shutil.copy2(current / "report.md", baseline / "report.md")
    return len(manifest["comparisons"])
