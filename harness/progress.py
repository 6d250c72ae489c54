"""Progress reporting: a redrawn status line on a terminal, result lines on standard output.

On a terminal, drawing shows one line with each runtime's finished and total draws, and
evaluation a bar; both are redrawn in place on standard error. Elsewhere (CI logs, pipes) only
the per-comparison result lines appear. `quiet` silences everything but errors.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

_BAR_WIDTH = 24


class Progress:
    def __init__(
        self,
        *,
        enabled: bool = True,
        quiet: bool = False,
        status: TextIO | None = None,
        results: TextIO | None = None,
    ):
        self.quiet = quiet
        self.results = results or sys.stdout
        self.status = status or sys.stderr
        self.live = enabled and not quiet and self.status.isatty()
        self._lock = threading.Lock()
        self._counts: dict[str, list[int]] = {}
        self._label = ""
        self._total = 0
        self._done = 0

    def add_draws(self, runtime: str, total: int) -> None:
        """Register `total` draws that the worker of `runtime` will run."""
        with self._lock:
            self._counts[runtime] = [0, total]

    def draw_finished(self, runtime: str) -> None:
        with self._lock:
            self._counts[runtime][0] += 1
            line = ", ".join(
                f"{name} {done}/{total}" for name, (done, total) in self._counts.items()
            )
            self._redraw(f"drawing: {line}")

    def start(self, label: str, total: int) -> None:
        self._label, self._total, self._done = label, total, 0
        self._clear()

    def step(self, result: str) -> None:
        """Print one comparison's result line and advance the bar."""
        self._done += 1
        self._clear()
        if not self.quiet:
            print(result, file=self.results, flush=True)
        filled = round(_BAR_WIDTH * self._done / max(1, self._total))
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        self._redraw(f"{self._label} [{bar}] {self._done}/{self._total}")

    def finish(self) -> None:
        self._clear()

    def _redraw(self, text: str) -> None:
        if self.live:
            self.status.write("\r\033[K" + text)
            self.status.flush()

    def _clear(self) -> None:
        if self.live:
            self.status.write("\r\033[K")
            self.status.flush()
