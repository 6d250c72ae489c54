"""Run draws in worker processes: one process per framework and backend.

Keras fixes its backend at import, and TensorFlow and torch in one process can clash, so every
runtime gets its own ``python -m harness.worker`` process. Requests are deduplicated first: two
comparisons that need the same side, layer, count and seed share one draw.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adapters import missing_packages
from harness.progress import Progress
from harness.specs import LayerSpec, SideSpec
from harness.worker import PROGRESS_MARKER

logger = logging.getLogger(__name__)

# Quiet TensorFlow's C++ start-up messages in workers; errors still reach stderr.
_WORKER_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}


@dataclass(frozen=True)
class DrawKey:
    """Everything that determines a draw; equal keys give identical weights."""

    side: SideSpec
    layer: LayerSpec
    layers: int
    seed: int

    @property
    def identity(self) -> tuple:
        return (
            self.side.framework,
            self.side.backend,
            self.side.initializer,
            tuple(sorted(self.side.arguments.items())),
            self.side.dtype,
            self.layer.kind,
            tuple(sorted(self.layer.arguments.items())),
            self.layer.tensor,
            self.layers,
            self.seed,
        )


@dataclass
class DrawOutcome:
    """A finished draw: weights and metadata, or the reason there are none."""

    status: str  # "ok", "skipped" or "error"
    metadata: dict[str, Any]
    weights_path: Path | None = None

    @property
    def reason(self) -> str | None:
        return self.metadata.get("reason")

    def load(self) -> np.ndarray:
        return np.load(self.weights_path)


class DrawRunner:
    """Collects draw requests, runs them per runtime, and hands back outcomes by key."""

    def __init__(self, work_dir: Path, jobs: int = 2, progress: Progress | None = None):
        self.work_dir = work_dir
        self.jobs = jobs
        self.progress = progress or Progress(enabled=False)
        self._keys: dict[tuple, DrawKey] = {}
        self.outcomes: dict[tuple, DrawOutcome] = {}

    def add(self, key: DrawKey) -> None:
        self._keys.setdefault(key.identity, key)

    def run(self) -> None:
        by_runtime: dict[tuple, list[tuple[str, DrawKey]]] = {}
        for index, key in enumerate(self._keys.values()):
            by_runtime.setdefault(key.side.runtime, []).append((f"draw{index}", key))

        runnable = []
        for runtime, requests in by_runtime.items():
            unavailable = [(i, k) for i, k in requests if k.side.unavailable]
            for _, key in unavailable:
                self.outcomes[key.identity] = DrawOutcome(
                    "skipped", {"reason": key.side.unavailable}
                )
            requests = [(i, k) for i, k in requests if not k.side.unavailable]
            if not requests:
                continue
            missing = missing_packages(*runtime)
            if missing:
                reason = f"not installed: {', '.join(missing)}"
                logger.warning("skipping %s sides: %s", _runtime_label(runtime), reason)
                for _, key in requests:
                    self.outcomes[key.identity] = DrawOutcome("skipped", {"reason": reason})
            else:
                runnable.append((runtime, requests))
                self.progress.add_draws(_runtime_label(runtime), len(requests))

        with ThreadPoolExecutor(max_workers=max(1, self.jobs)) as pool:
            for results in pool.map(lambda item: self._run_worker(*item), runnable):
                self.outcomes.update(results)

    def outcome(self, key: DrawKey) -> DrawOutcome:
        return self.outcomes[key.identity]

    def _run_worker(self, runtime: tuple, requests: list[tuple[str, DrawKey]]):
        framework, backend = runtime
        folder = Path(
            tempfile.mkdtemp(prefix=f"{framework}-{backend or 'default'}-", dir=self.work_dir)
        )
        job = {
            "framework": framework,
            "backend": backend,
            "requests": [
                {
                    "id": request_id,
                    "initializer": key.side.initializer,
                    "arguments": key.side.arguments,
                    "layer": key.layer.kind,
                    "layer_arguments": key.layer.arguments,
                    "tensor": key.layer.tensor,
                    "dtype": key.side.dtype,
                    "layers": key.layers,
                    "seed": key.seed,
                }
                for request_id, key in requests
            ],
        }
        (folder / "job.json").write_text(json.dumps(job))
        logger.info("drawing %d request(s) on %s", len(requests), _runtime_label(runtime))

        environment = {**os.environ, **_WORKER_ENVIRONMENT}
        errors = folder / "stderr.txt"
        with (
            open(errors, "w") as stderr,
            subprocess.Popen(
                [sys.executable, "-m", "harness.worker", str(folder)],
                env=environment,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            ) as process,
        ):
            # The worker announces each finished draw on its own line; other output is ignored.
            for line in process.stdout:
                if line.startswith(PROGRESS_MARKER):
                    self.progress.draw_finished(_runtime_label(runtime))
            returncode = process.wait()
        result_file = folder / "result.json"
        if returncode != 0 or not result_file.exists():
            tail = errors.read_text().strip().splitlines()[-1:] or ["no output"]
            reason = f"worker for {_runtime_label(runtime)} failed (exit {returncode}): {tail[0]}"
            logger.error("%s", reason)
            return runtime, {
                key.identity: DrawOutcome("error", {"reason": reason}) for _, key in requests
            }

        results = json.loads(result_file.read_text())
        outcomes = {}
        for request_id, key in requests:
            entry = results[request_id]
            path = folder / f"{request_id}.npy" if entry["status"] == "ok" else None
            outcomes[key.identity] = DrawOutcome(entry["status"], entry, path)
        return outcomes


def _runtime_label(runtime: Iterable) -> str:
    framework, backend = runtime
    return framework if backend is None else f"{framework}/{backend}"
