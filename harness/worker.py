"""Worker process: draws every request of one framework and backend, then exits.

Run as ``python -m harness.worker JOB_DIR``. The job folder contains ``job.json`` (the framework,
the backend and the draw requests); the worker writes one ``<id>.npy`` per successful request
and ``result.json`` with each request's metadata or error. A framework that fails to import
marks every request as skipped with the import error as its reason.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

# The line printed after each request, which the parent counts for its progress line.
PROGRESS_MARKER = "init-harness-draw-finished"


def main(job_dir: str) -> int:
    folder = Path(job_dir)
    job = json.loads((folder / "job.json").read_text())

    # Keras reads its backend once, at import; it must be set before anything imports it.
    if job["framework"] == "keras":
        os.environ["KERAS_BACKEND"] = job["backend"]

    from adapters import DrawRequest, adapter_for

    adapter = adapter_for(job["framework"])
    results = {}
    for request in job["requests"]:
        draw_request = DrawRequest(
            initializer=request["initializer"],
            arguments=request["arguments"],
            layer=request["layer"],
            layer_arguments=request["layer_arguments"],
            layers=request["layers"],
            seed=request["seed"],
            backend=job["backend"],
            tensor=request["tensor"],
            dtype=request["dtype"],
        )
        results[request["id"]] = _draw_one(adapter, draw_request, folder / f"{request['id']}.npy")
        print(PROGRESS_MARKER, flush=True)

    (folder / "result.json").write_text(json.dumps(results))
    return 0


def _draw_one(adapter, request, weights_path: Path) -> dict:
    """Draw one request; return its metadata, or the reason it was skipped or failed."""
    from adapters.base import NoCounterpartError

    clock = time.perf_counter()
    try:
        draw = adapter.draw(request)
    except ImportError as error:
        return {"status": "skipped", "reason": f"cannot import: {error}"}
    except NoCounterpartError as error:
        return {"status": "skipped", "reason": f"no counterpart: {error}"}
    except Exception as error:  # noqa: BLE001 - a framework's failure is a finding, recorded
        return {
            "status": "error",
            "reason": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc(limit=4),
        }
    np.save(weights_path, draw.weights)
    return {
        "status": "ok",
        "draw_seconds": round(time.perf_counter() - clock, 3),
        **draw.metadata(),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
