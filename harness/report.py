"""Write verdict files and the Markdown summary.

Every file is written to a temporary name in the output folder and renamed into place, so an
interrupted run never leaves a half-written verdict or report.
"""

from __future__ import annotations

import json
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


def write_verdict(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / f"{document['comparison']}.json"
    write_atomically(path, json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path


def _deciding_checks(document: dict[str, Any]) -> str:
    checks = [c for c in document["checks"] if c.get("scope") == "between"]
    if document["verdict"] == "different":
        names = [c["name"] for c in checks if c["outcome"] == "different"]
    elif document["verdict"] == "inconclusive":
        names = [c["name"] for c in checks if c["outcome"] == "undecided"]
    elif document["verdict"] == "same":
        names = [f"all {sum(c['outcome'] == 'equivalent' for c in checks)} within margins"]
    else:
        names = [document["reasons"][0]] if document["reasons"] else []
    return ", ".join(names)


def _side_cell(side: dict[str, Any]) -> str:
    if side["status"] != "ok":
        return f"`{side['spec']}` ({side['status']})"
    if "summary" not in side:
        return f"`{side['spec']}` fan_in={side['fan_in']} fan_out={side['fan_out']}, not compared"
    return (
        f"`{side['spec']}` fan_in={side['fan_in']} fan_out={side['fan_out']}, "
        f"std {side['summary']['std']:.4g} (expected {side['expected_std']:.4g}), "
        f"fit: {side['fit']['supported']}"
    )


def markdown_summary(documents: list[dict[str, Any]], title: str) -> str:
    """Render a short Markdown report: one table row per comparison, then the reasons."""
    lines = [
        f"# init-harness: {title}",
        "",
        "| comparison | layer | verdict | deciding checks | left | right |",
        "|---|---|---|---|---|---|",
    ]
    for document in documents:
        left, right = document["sides"]
        lines.append(
            f"| {document['comparison']} | `{document['layer']['spec']}` x{_layers(document)} "
            f"| **{document['verdict']}** | {_deciding_checks(document)} "
            f"| {_side_cell(left)} | {_side_cell(right)} |"
        )
    lines += ["", "## Reasons", ""]
    for document in documents:
        lines.append(f"- **{document['comparison']}** ({document['verdict']}):")
        lines.extend(f"  - {reason}" for reason in document["reasons"])
    first = documents[0]
    lines += [
        "",
        f"alpha = {first['alpha']:g}, family-wise, with the Holm step-down correction "
        "across each comparison's checks.",
        "Verdict files: one JSON per comparison beside this report.",
        "",
    ]
    return "\n".join(lines)


def _layers(document: dict[str, Any]) -> str:
    return str(document.get("run", {}).get("layers", "?"))
