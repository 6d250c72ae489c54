"""Run planned comparisons: draw every side, evaluate, write verdicts, plots and reports.

An output folder holds one verdict JSON per comparison, ``report.md``, ``manifest.json`` (the
suite, its environment and every verdict file with its configuration hash, which the regression
gate reads) and, unless disabled, one PNG per comparison under ``plots/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import __version__
from harness.checks import Margins
from harness.compare import SCHEMA_VERSION, evaluate
from harness.decision import DEFAULT_ALPHA
from harness.progress import Progress
from harness.report import markdown_summary, write_atomically, write_verdict
from harness.runner import DrawKey, DrawRunner
from harness.suite import PlannedComparison

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# Packages whose versions describe the environment of a run.
ENVIRONMENT_PACKAGES = (
    "numpy",
    "scipy",
    "torch",
    "keras",
    "tensorflow-cpu",
    "tensorflow",
    "jax",
    "jaxlib",
    "flax",
)


def configuration(item: PlannedComparison, alpha: float) -> dict[str, Any]:
    """Return everything that decides a comparison's outcome, apart from framework versions."""
    spec = item.spec
    return {
        "left": spec.left.text,
        "right": spec.right.text,
        "layer": spec.layer.text,
        "layers": spec.layers,
        "seed": spec.seed,
        "alpha": alpha,
        "margins": item.margins.to_dict(),
        "schema_version": SCHEMA_VERSION,
    }


def configuration_hash(config: dict[str, Any]) -> str:
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def environment() -> dict[str, Any]:
    packages = {}
    for name in ENVIRONMENT_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tool_version": __version__,
        "packages": packages,
    }


def reproduce_command(item: PlannedComparison, alpha: float) -> str:
    spec = item.spec
    parts = [
        "init-harness compare",
        f"'{spec.left.text}'",
        f"'{spec.right.text}'",
        f"--layer '{spec.layer.text}'",
        f"--layers {spec.layers}",
        f"--seed {spec.seed}",
        f"--name {spec.name}",
    ]
    if alpha != DEFAULT_ALPHA:
        parts.append(f"--alpha {alpha:g}")
    for name, value in item.margins.to_dict().items():
        if value != getattr(Margins(), name):
            parts.append(f"--margin {name}={value:g}")
    parts.append("--out OUT")
    return " ".join(parts)


def run_comparisons(
    planned: list[PlannedComparison],
    *,
    alpha: float,
    out: Path,
    title: str,
    jobs: int,
    report: str = "summary",
    plots: bool = True,
    progress: Progress | None = None,
) -> list[dict]:
    """Draw every side, evaluate every comparison, and write everything under `out`."""
    progress = progress or Progress(enabled=False)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    work_dir = Path(tempfile.mkdtemp(prefix="init-harness-"))
    try:
        runner = DrawRunner(work_dir, jobs=jobs, progress=progress)
        keys = []
        for item in planned:
            spec = item.spec
            pair = (
                DrawKey(spec.left, spec.layer, spec.layers, spec.side_seed(0)),
                DrawKey(spec.right, spec.layer, spec.layers, spec.side_seed(1)),
            )
            for key in pair:
                runner.add(key)
            keys.append(pair)

        draw_started = time.perf_counter()
        runner.run()
        logger.info("drew all sides in %.1f s", time.perf_counter() - draw_started)

        documents = []
        entries = []
        progress.start("evaluating", len(planned))
        for item, (left_key, right_key) in zip(planned, keys, strict=True):
            clock = time.perf_counter()
            left, right = runner.outcome(left_key), runner.outcome(right_key)
            document = evaluate(item.spec, left, right, alpha=alpha, margins=item.margins)
            config = configuration(item, alpha)
            draw_seconds = sum(o.metadata.get("draw_seconds", 0.0) for o in (left, right))
            document["config"] = config
            document["config_hash"] = configuration_hash(config)
            if plots and left.status == "ok" and right.status == "ok":
                from harness.plots import plot_comparison

                plot_path = out / "plots" / f"{item.spec.name}.png"
                plot_comparison(document, left.load(), right.load(), plot_path)
                document["plot"] = str(plot_path.relative_to(out))
            document["run"] = {
                "seed": item.spec.seed,
                "layers": item.spec.layers,
                "alpha": alpha,
                "started_at": started_at,
                "duration_s": round(draw_seconds + time.perf_counter() - clock, 3),
                "tool_version": __version__,
                "command": reproduce_command(item, alpha),
            }
            path = write_verdict(out, document)
            documents.append(document)
            entries.append(
                {"name": item.spec.name, "file": path.name, "config_hash": document["config_hash"]}
            )
            progress.step(f"{document['verdict']:>12}  {item.spec.name}")
        progress.finish()

        manifest = {
            "schema_version": SCHEMA_VERSION,
            "kind": "init-harness results",
            "suite": title,
            "started_at": started_at,
            "environment": environment(),
            "comparisons": entries,
        }
        write_atomically(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        if report == "matrix":
            from harness.matrix import render_report

            write_atomically(out / "report.md", render_report(documents))
        else:
            write_atomically(out / "report.md", markdown_summary(documents, title, manifest))
        return documents
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
