"""Progress on stderr while the bench runs: a rich bar on a terminal, plain lines elsewhere.

The bar is redrawn only between steps (auto_refresh off): a refresh thread
would take CPU time from the measuring process, in the middle of its steps.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, *, bar: bool = True):
        self._total = total
        self._started = time.perf_counter()
        self._last_line = None
        self._rich = self._make_bar(total) if bar and sys.stderr.isatty() else None

    @staticmethod
    def _make_bar(total: int):
        try:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn
        except ImportError:
            return None
        bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), auto_refresh=False, transient=True)
        bar.add_task("starting", total=total)
        return bar

    def __enter__(self):
        if self._rich:
            self._rich.start()
        return self

    def __exit__(self, *exc):
        if self._rich:
            self._rich.stop()

    def advance(self, description: str, units: int = 1) -> None:
        if self._rich:
            task = self._rich.task_ids[0]
            self._rich.update(task, advance=units, description=description[:60].ljust(60))  # a steady bar
            self._rich.refresh()
            return
        # Plain: one line per row and run ("run 1/3 shm"), not one per step.
        line = description.rsplit(":", 1)[0]
        if line != self._last_line:
            self._last_line = line
            print(f"  {line} ({time.perf_counter() - self._started:.0f} s)", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        """A line that stays, above the bar."""
        if self._rich:
            self._rich.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)
