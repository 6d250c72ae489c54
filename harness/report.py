"""Write verdict files and the Markdown summary.

Every file is written to a temporary name in the output folder and renamed into place, so an
interrupted run never leaves a half-written verdict or report.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def finite(value: Any) -> Any:
    """Replace NaN and infinities, which strict JSON cannot hold, by None (null), recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write_verdict(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / f"{document['comparison']}.json"
    text = json.dumps(finite(document), indent=2, allow_nan=False)
    write_atomically(path, text + "\n")
    return path


def pvalue_order(check: dict[str, Any]) -> tuple[bool, float]:
    """Sort key: smallest p-value first, checks without one last."""
    return check["pvalue"] is None, check["pvalue"] or 0.0


def _deciding_checks(document: dict[str, Any]) -> str:
    checks = [c for c in document["checks"] if c.get("scope") == "between"]
    if document["verdict"] == "different":
        deciding = [c for c in checks if c["outcome"] == "different"]
        names = [c["name"] for c in sorted(deciding, key=pvalue_order)]
    elif document["verdict"] == "inconclusive":
        names = [
            "undecided: " + ", ".join(c["name"] for c in checks if c["outcome"] == "undecided")
        ]
    elif document["verdict"] == "same":
        count = sum(c["outcome"] == "equivalent" for c in checks)
        names = [f"{count} {'check' if count == 1 else 'checks'} within margins"]
    else:
        names = ["-"]
    return ", ".join(names)


# GitHub rejects a comment longer than 65,536 characters; stay clear of it.
GITHUB_COMMENT_LIMIT = 65_536
_REPORT_BUDGET = 60_000


def _format(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _escape(text: str) -> str:
    """Keep table cells intact: a pipe would end the cell."""
    return str(text).replace("|", "\\|")


def _tail_masses(document: dict[str, Any]) -> tuple[list[str], list[str]]:
    masses: dict[str, list[str]] = {"left": [], "right": []}
    for check in document["checks"]:
        details = check.get("details") or {}
        if check["name"].startswith("tail_") and "left_mass" in details:
            multiple = check["name"][5:]
            masses["left"].append(f"{details['left_mass']:.3%} > {multiple}")
            masses["right"].append(f"{details['right_mass']:.3%} > {multiple}")
    return masses["left"], masses["right"]


def _sides_table(document: dict[str, Any]) -> list[str]:
    left, right = document["sides"]
    left_tails, right_tails = _tail_masses(document)

    def row(label: str, getter) -> str:
        return f"| {label} | {_escape(getter(left))} | {_escape(getter(right))} |"

    def fitted(side):
        fit = side.get("fit") or {}
        if fit.get("skipped"):
            return "not fitted"
        return fit.get("supported") or "none supported"

    def versions(side):
        return ", ".join(f"{k} {v}" for k, v in sorted(side.get("versions", {}).items())) or "-"

    lines = [
        "| | left | right |",
        "|---|---|---|",
        row("side", lambda s: f"`{s['spec']}`"),
        row("status", lambda s: s["status"] + (f": {s['reason']}" if s.get("reason") else "")),
        row("framework / backend", lambda s: f"{s['framework']} / {s['backend'] or '-'}"),
        row("versions", versions),
        row("dtype", lambda s: s.get("dtype", "float32")),
        row("layer class", lambda s: s.get("layer_class", "-")),
        row("fan_in / fan_out", lambda s: f"{s.get('fan_in')} / {s.get('fan_out')}"),
        row("documented reference", lambda s: (s.get("reference") or {}).get("family", "-")),
        row("expected std", lambda s: _format(s.get("expected_std"))),
        row("empirical std", lambda s: _format((s.get("summary") or {}).get("std"))),
        row("excess kurtosis", lambda s: _format((s.get("summary") or {}).get("excess_kurtosis"))),
        row("fitted family", fitted),
        row("bound violations", lambda s: _format(s.get("bound_violations"))),
    ]
    if left_tails:
        lines.append(f"| tail masses | {', '.join(left_tails)} | {', '.join(right_tails)} |")
    return lines


def _checks_table(document: dict[str, Any]) -> list[str]:
    """Tabulate every check. A between-sides p-value tests H0 |true effect| <= margin."""
    level = 1.0 - 2.0 * document["alpha"]
    lines = [
        f"| check | scope | estimate | {level:.4g} interval | margin | p-value | threshold | "
        "passed | outcome |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for check in document["checks"]:
        interval = check.get("interval")
        bounds = f"{_format(interval[0])}, {_format(interval[1])}" if interval else "-"
        lines.append(
            f"| {check['name']} | {check['scope']} | {_format(check['estimate'])} | {bounds} | "
            f"{_format(check['margin'])} | {_format(check['pvalue'], 3)} | "
            f"{_format(check['threshold'], 3)} | {_format(check['passed'])} | "
            f"{check.get('outcome') or '-'} |"
        )
    return lines


def _details_block(document: dict[str, Any]) -> list[str]:
    margins = ", ".join(f"{k} {v:g}" for k, v in document["margins"].items())
    lines = [
        "<details>",
        f"<summary><b>{document['comparison']}</b>: {document['verdict']}</summary>",
        "",
        *(f"- {_escape(reason)}" for reason in document["reasons"]),
        "",
        *_sides_table(document),
        "",
    ]
    if document["checks"]:
        lines += [*_checks_table(document), ""]
    lines.append(
        f"alpha {document['alpha']:g} (family-wise, Holm); margins: {margins}. A between-sides "
        "p-value tests H0 |true effect| <= margin, so `different` means beyond the margin; "
        "`passed` means that H0 stands. `same` needs each interval inside its margin."
    )
    if document.get("plot"):
        lines += ["", f"Plot: `{document['plot']}`"]
    command = (document.get("run") or {}).get("command")
    if command:
        lines += ["", "Reproduce:", "", "```sh", command, "```"]
    lines += ["", "</details>", ""]
    return lines


def _environment_table(manifest: dict[str, Any] | None) -> list[str]:
    if not manifest:
        return []
    environment = manifest["environment"]
    lines = [
        "## Environment",
        "",
        "| item | version |",
        "|---|---|",
        f"| init-harness | {environment['tool_version']} |",
        f"| python | {environment['python']} |",
        f"| platform | {environment['platform']} |",
    ]
    lines += [f"| {name} | {version} |" for name, version in environment["packages"].items()]
    return [*lines, ""]


def markdown_summary(
    documents: list[dict[str, Any]], title: str, manifest: dict[str, Any] | None = None
) -> str:
    """Render a report for a GitHub issue comment: summary table, details, environment.

    When the full report would pass the comment limit, the per-comparison details are dropped
    from the end until it fits, then summary rows; a closing line points to the JSON files.
    """
    counts = {}
    for document in documents:
        counts[document["verdict"]] = counts.get(document["verdict"], 0) + 1
    tally = ", ".join(f"{count} {verdict}" for verdict, count in sorted(counts.items()))
    head = [
        f"# init-harness: {title}",
        "",
        f"{_count(len(documents), 'comparison')}: {tally}. Alpha {documents[0]['alpha']:g}, "
        "family-wise with the Holm correction; `different` needs a difference shown beyond its "
        "margin, `same` every difference shown inside it.",
        "",
        "| comparison | layer | left | right | verdict | deciding checks |",
        "|---|---|---|---|---|---|",
    ]
    for document in documents:
        left, right = document["sides"]
        layers = (document.get("run") or {}).get("layers", "?")
        head.append(
            f"| {document['comparison']} | `{document['layer']['spec']}` x{layers} "
            f"| `{left['spec']}` | `{right['spec']}` | **{document['verdict']}** "
            f"| {_escape(_deciding_checks(document))} |"
        )
    head += ["", "## Details", ""]
    tail = _environment_table(manifest)

    blocks = [_details_block(d) for d in documents]
    omitted = []
    while blocks and len("\n".join(head + sum(blocks, []) + tail)) > _REPORT_BUDGET:
        blocks.pop()
        omitted.append(documents[len(blocks)]["comparison"])
    body = sum(blocks, [])
    if omitted:
        body += [
            f"Details of {len(omitted)} comparisons are left out to stay under GitHub's "
            "comment limit; each comparison's JSON file beside this report holds them.",
            "",
        ]
    # A very long suite does not fit even as a table: keep the first rows and the tally.
    table_end = head.index("## Details")
    rows_dropped = 0
    while len("\n".join(head + body + tail)) > _REPORT_BUDGET and table_end > 8:
        head.pop(table_end - 2)
        table_end -= 1
        rows_dropped += 1
    if rows_dropped:
        head.insert(
            table_end - 1,
            f"\n{rows_dropped} more comparisons are counted in the tally above; "
            "`manifest.json` lists every verdict file.",
        )
    return "\n".join(head + body + tail)
