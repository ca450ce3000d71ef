"""Progress of a run on a terminal: a bar on a TTY, plain timestamped lines in logs.

An event observer.  On a TTY it draws a tqdm bar (done/total, running,
failed, an ETA from the run history's typical durations, refined by the
bar's own rate); anywhere else (CI logs) it writes a plain line at most every
``interval`` seconds and one at the end, never carriage returns.  tqdm was
chosen over rich: one small pure-Python package with no dependencies, enough
for one bar.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from nbpipe.engine.events import Kind, RunEvent

__all__ = ["ProgressDisplay"]


class ProgressDisplay:
    def __init__(
        self,
        stream: TextIO | None = None,
        interval: float = 10.0,
        eta_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        tty: bool | None = None,
        typical_durations: Callable[[set], dict] | None = None,
        workers: int = 1,
    ):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.eta_seconds = eta_seconds
        self.clock = clock
        self.total = self.done = self.failed = 0
        self.running: set[str] = set()
        self.started = clock()
        self._last_line = self.started
        self._bar = None
        # ETA before any task finished: each task's family's typical duration from the run history.
        self.typical_durations = typical_durations
        self.workers = max(1, workers)
        self._families: list[str] = []

    def __call__(self, event: RunEvent) -> None:
        kind = event.kind
        if kind == Kind.PENDING and event.reason != "retrying":
            self.total += 1
            if event.task is not None and self.typical_durations is not None:
                self._families.append(event.task.get_task_family())
        elif kind == Kind.RUNNING:
            if self.typical_durations is not None and self.eta_seconds is None and self._families:
                self._estimate()
            self.running.add(event.task_id)
        elif kind in (Kind.DONE, Kind.COMPLETE) and event.task_id in self.running:
            self.running.discard(event.task_id)
            self.done += 1
        elif kind == Kind.FAILED:
            self.running.discard(event.task_id)
            self.failed += 1
        elif kind == Kind.RETRY_WAIT:
            self.failed -= 1  # it will be tried again
        elif kind in (Kind.SUSPENDED, Kind.RUN_BY_OTHER):
            self.running.discard(event.task_id)
        if kind == Kind.RUN_FINISHED:
            self.finish()
        elif self.tty:
            self._draw()
        elif self.clock() - self._last_line >= self.interval:
            self._line()

    def _estimate(self) -> None:
        try:
            typical = self.typical_durations(set(self._families))
        except Exception:  # noqa: BLE001 - an ETA is a nicety; never break a run for it
            typical = {}
        known = [typical[f] for f in self._families if f in typical]
        if known:
            # Tasks of families never run here count as the average known one.
            per_task = sum(known) / len(known)
            self.eta_seconds = per_task * len(self._families) / self.workers
        self._families = []

    def _eta(self) -> str:
        elapsed = self.clock() - self.started
        if self.done and self.total:
            left = elapsed / self.done * (self.total - self.done)
        elif self.eta_seconds is not None:
            left = max(0.0, self.eta_seconds - elapsed)
        else:
            return "?"
        return f"{left:.0f}s"

    def _text(self) -> str:
        return f"{self.done}/{self.total} done, {len(self.running)} running, {self.failed} failed, eta {self._eta()}"

    def _line(self) -> None:
        self._last_line = self.clock()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self.stream.write(f"{stamp} nbpipe: {self._text()}\n")
        self.stream.flush()

    def _draw(self) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, file=self.stream, unit="task", dynamic_ncols=True, leave=True)
        bar = self._bar
        if bar.total != self.total:
            bar.total = self.total
        bar.n = self.done
        bar.set_postfix_str(f"running {len(self.running)}, failed {self.failed}, eta {self._eta()}", refresh=False)
        bar.refresh()

    def finish(self) -> None:
        if self._bar is not None:
            self._draw()
            self._bar.close()
            self._bar = None
        elif not self.tty and self.clock() - self.started >= self.interval:
            self._line()
