"""Recording runs in the state store, and reading them back.

:class:`HistoryRecorder` is an event observer: it turns the run's events
into attempt rows and, for each task that ran successfully, a fingerprint
row (its code, its inputs' fingerprints and its outputs' fingerprints),
and writes them in batches so the store never becomes the bottleneck.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from .events import Kind, RunEvent
from .store import AttemptRow, FingerprintRow, StateStore
from .task import Task, flatten

__all__ = ["HistoryRecorder", "outputs_digest"]

_FINAL = {
    Kind.DONE: "done",
    Kind.FAILED: "failed",
    Kind.DISABLED: "disabled",
    Kind.UPSTREAM_FAILED: "upstream_failed",
    Kind.RUN_BY_OTHER: "run_by_other",
}


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


class OutputDigests:
    """What a task hands downstream, as one digest per task id (memoised).

    A task with outputs: a digest of its outputs' fingerprints.  A task
    without outputs (a wrapper): a digest of its requirements' digests, so a
    change below a wrapper still reaches the tasks above it.
    """

    def __init__(self, content_hash: bool = False):
        from .fingerprint import output_fingerprints

        self._output_fingerprints = output_fingerprints
        self.content_hash = content_hash
        self.memo: dict[str, str] = {}
        self.outputs: dict[str, dict] = {}

    def outputs_of(self, task: Task) -> dict:
        fps = self.outputs.get(task.task_id)
        if fps is None:
            try:
                fps = self._output_fingerprints(task, self.content_hash)
            except Exception:  # noqa: BLE001 - a broken output() gives no fingerprint
                fps = {}
            self.outputs[task.task_id] = fps
        return fps

    def digest(self, task: Task) -> str:
        memo = self.memo
        found = memo.get(task.task_id)
        if found is not None:
            return found
        # Iterative post-order over output-less tasks (no recursion limit).
        stack = [(task, False)]
        while stack:
            current, expanded = stack.pop()
            tid = current.task_id
            if tid in memo:
                continue
            outputs = self.outputs_of(current)
            if outputs:
                memo[tid] = _digest(outputs)
                continue
            try:
                deps = [d for d in flatten(current.requires()) if isinstance(d, Task)]
            except Exception:  # noqa: BLE001
                deps = []
            if expanded or not deps:
                memo[tid] = _digest(sorted(memo.get(d.task_id, "") for d in deps))
                continue
            stack.append((current, True))
            stack.extend((d, False) for d in deps if d.task_id not in memo)
        return memo[task.task_id]

    def forget(self, task_id: str) -> None:
        self.memo.pop(task_id, None)
        self.outputs.pop(task_id, None)


def outputs_digest(task: Task, content_hash: bool = False) -> str:
    return OutputDigests(content_hash).digest(task)


class HistoryRecorder:
    """Writes a run's attempts and fingerprints to a :class:`StateStore`."""

    def __init__(self, store: StateStore, run_id: str, content_hash: bool = False,
                 batch_size: int = 2000, batch_seconds: float = 1.0):
        from .fingerprint import code_fingerprint

        self.store = store
        self.run_id = run_id
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self._code_fingerprint = code_fingerprint
        self.digests = OutputDigests(content_hash)
        self._attempts: list[AttemptRow] = []
        self._fingerprints: list[FingerprintRow] = []
        self._cleared: list[str] = []
        self._started: dict[str, float] = {}
        self._tasks: dict[str, Task] = {}
        self._deps: dict[str, list[str]] = {}
        self._code_json: dict[type, str] = {}
        self._params_json: dict[str, str] = {}
        self._last_flush = time.monotonic()

    def __call__(self, event: RunEvent) -> None:
        kind = event.kind
        tid = event.task_id
        if kind == Kind.DISCOVERED:
            self._tasks[tid] = event.task
            self._deps[tid] = list(event.deps)
            return
        if kind == Kind.RUNNING:
            self._started[tid] = event.time
            return
        if kind == Kind.SUSPENDED:
            self._deps.setdefault(tid, []).extend(event.deps)
            return
        if kind == Kind.RUN_FINISHED:
            self.flush()
            return
        status = _FINAL.get(kind)
        if status is None:
            return
        task = event.task or self._tasks.get(tid)
        if task is None:
            return
        data = event.data
        if data.get("failure_kind") == "interrupted":
            status = "interrupted"
        self._attempts.append(AttemptRow(
            self.run_id, tid, task.get_task_family(), self._params(task), status,
            self._started.pop(tid, None) if kind in (Kind.DONE, Kind.FAILED) else None, event.time,
            data.get("worker", ""), event.reason if kind != Kind.DONE else "", data.get("traceback", ""),
            data.get("attempt", 1),
        ))
        if kind == Kind.DONE:
            self._fingerprints.append(self._fingerprint(task, event.time))
            self._cleared.append(tid)
        if len(self._attempts) >= self.batch_size or time.monotonic() - self._last_flush > self.batch_seconds:
            self.flush()

    def _params(self, task: Task) -> str:
        cached = self._params_json.get(task.task_id)
        if cached is None:
            cached = json.dumps(task.to_str_params(only_significant=True), sort_keys=True)
        return cached

    def _fingerprint(self, task: Task, when: float) -> FingerprintRow:
        cls = type(task)
        code = self._code_json.get(cls)
        if code is None:
            try:
                code = json.dumps(self._code_fingerprint(cls), sort_keys=True)
            except Exception:  # noqa: BLE001 - source unavailable in odd environments
                code = "{}"
            self._code_json[cls] = code
        digests = self.digests
        digests.forget(task.task_id)  # it just ran: its outputs are new
        inputs = {}
        for dep_id in self._deps.get(task.task_id, ()):
            dep = self._tasks.get(dep_id)
            if dep is not None:
                inputs[dep_id] = digests.digest(dep)
        return FingerprintRow(task.task_id, task.get_task_family(), self.run_id, when, code, inputs,
                              digests.outputs_of(task))

    def flush(self) -> None:
        if self._attempts or self._fingerprints or self._cleared:
            attempts, self._attempts = self._attempts, []
            fingerprints, self._fingerprints = self._fingerprints, []
            cleared, self._cleared = self._cleared, []
            self.store.record(attempts, fingerprints, cleared)
        self._last_flush = time.monotonic()
