"""Suites: a TOML file of comparisons sharing a seed, an alpha and margins.

[suite]
name = "default"
seed = 20261204          # each comparison may override it
alpha = 0.001
margins = { std_ratio = 0.02 }   # optional overrides of the default margins
report = "summary"       # or "matrix": the fan audit table

[[comparisons]]
name = "he-normal-dense16"
left = "torch:kaiming_normal"
right = "keras:he_normal"
layer = "dense(in=16,out=16)"
layers = 100
margins = { ks_distance = 0.02 } # optional, for this comparison only
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.checks import Margins
from harness.decision import DEFAULT_ALPHA
from harness.specs import (
    ComparisonSpec,
    SpecError,
    check_alpha,
    check_positive,
    check_sample_size,
    check_seed,
    parse_layer,
    parse_side,
    slug,
)

_SUITE_KEYS = ("name", "seed", "alpha", "margins", "report")
REPORTS = ("summary", "matrix")
_COMPARISON_KEYS = ("name", "left", "right", "layer", "layers", "seed", "margins")
_REQUIRED = ("left", "right", "layer", "layers")


@dataclass(frozen=True)
class PlannedComparison:
    spec: ComparisonSpec
    margins: Margins


@dataclass(frozen=True)
class Suite:
    name: str
    alpha: float
    comparisons: list[PlannedComparison]
    report: str = "summary"


def apply_margins(base: Margins, overrides: Any, where: str) -> Margins:
    """Return `base` with the overrides applied, each a finite positive number for a known margin.

    Margins on a probability (the KS distance and the tail masses) must also lie below 1.
    """
    if overrides is None:
        return base
    if not isinstance(overrides, dict):
        raise SpecError(f"invalid margins in {where}; expected a table of name = value")
    for name, value in overrides.items():
        if name not in Margins.names():
            raise SpecError(
                f"unknown margin {name!r} in {where}; valid choices: {', '.join(Margins.names())}"
            )
        limit = Margins.upper_limit(name)
        number = not isinstance(value, bool) and isinstance(value, (int, float))
        if not number or not 0 < value < limit:
            expected = (
                "a finite number above 0" if math.isinf(limit) else f"a number in (0, {limit:g})"
            )
            raise SpecError(f"invalid margin {name}={value!r} in {where}; expected {expected}")
    return replace(base, **{k: float(v) for k, v in overrides.items()})


def _unknown_keys(table: dict, valid: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in valid:
            raise SpecError(f"unknown key {key!r} in {where}; valid keys: {', '.join(valid)}")


def load_suite(path: Path) -> Suite:
    """Read and validate a suite file; any problem raises SpecError naming the file."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"suite file not found: {path}") from None
    except OSError as error:
        raise SpecError(f"cannot read suite file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SpecError(f"malformed suite file {path}: {error}") from None

    _unknown_keys(data, ("suite", "comparisons"), str(path))
    header = data.get("suite", {})
    if not isinstance(header, dict):
        raise SpecError(f"invalid [suite] in {path}; expected a table")
    try:
        _unknown_keys(header, _SUITE_KEYS, "the table")
        seed = check_seed(header.get("seed", 0))
        alpha = check_alpha(header.get("alpha", DEFAULT_ALPHA))
        suite_margins = apply_margins(Margins(), header.get("margins"), "margins")
        report = header.get("report", "summary")
        if report not in REPORTS:
            raise SpecError(f"unknown report {report!r}; valid choices: {', '.join(REPORTS)}")
    except SpecError as error:
        raise SpecError(f"[suite] of {path}: {error}") from None

    entries = data.get("comparisons")
    if not isinstance(entries, list) or not entries:
        raise SpecError(f"suite file {path} has no [[comparisons]] entries")

    planned = []
    names = set()
    for index, entry in enumerate(entries, start=1):
        where = f"comparison {index} of {path}"
        if not isinstance(entry, dict):
            raise SpecError(f"invalid {where}: expected a [[comparisons]] table, got {entry!r}")
        try:
            planned.append(_plan(entry, seed, suite_margins, names))
        except SpecError as error:
            raise SpecError(f"{where}: {error}") from None
    return Suite(str(header.get("name", path.stem)), alpha, planned, report)


def _plan(entry: dict, seed: int, margins: Margins, names: set) -> PlannedComparison:
    """Validate one [[comparisons]] table; `names` collects names to reject duplicates."""
    _unknown_keys(entry, _COMPARISON_KEYS, "the table")
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise SpecError(f"missing {', '.join(missing)}")
    left, right = parse_side(str(entry["left"])), parse_side(str(entry["right"]))
    layer = parse_layer(str(entry["layer"]))
    name = slug(str(entry.get("name", f"{left.text}-vs-{right.text}-{layer.text}")))
    if name in names:
        raise SpecError(f"duplicate comparison name {name!r}")
    names.add(name)
    spec = ComparisonSpec(
        name=name,
        left=left,
        right=right,
        layer=layer,
        layers=check_positive("layers", entry["layers"]),
        seed=check_seed(entry.get("seed", seed)),
    )
    check_sample_size(layer, spec.layers)
    return PlannedComparison(spec, apply_margins(margins, entry.get("margins"), "margins"))
