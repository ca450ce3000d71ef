"""Recording runs in the state store, and reading them back.

:class:`HistoryRecorder` is an event observer: it turns the run's events
into attempt rows and, for each task that ran successfully, a fingerprint
row (its code, its inputs' fingerprints and its outputs' fingerprints),
and writes them in batches so the store never becomes the bottleneck.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from stat import S_ISDIR
from typing import Any

from nbpipe.engine.events import EventBus, Kind, RunEvent
from nbpipe.exceptions import StateStoreError
from nbpipe.state.store import StateStore
from nbpipe.target import LocalTarget
from nbpipe.task import Task, flatten

__all__ = ["HistoryRecorder", "OutputDigests"]

logger = logging.getLogger("nbpipe")

#: Attempt rows kept in memory while the store cannot be written.
MAX_PENDING_ROWS = 200_000

_FINAL: dict[str, str] = {
    Kind.DONE: "done",
    Kind.FAILED: "failed",
    Kind.DISABLED: "disabled",
    Kind.UPSTREAM_FAILED: "upstream_failed",
    Kind.RUN_BY_OTHER: "run_by_other",
}


def _digest(value: Any) -> str:
    return hashlib.blake2b(json.dumps(value, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()


_NO_INPUTS = hashlib.blake2b(b"", digest_size=8).hexdigest()


def _combine(digests: list[str]) -> str:
    """One digest over the digests of a wrapper's requirements (order-free)."""
    if not digests:
        return _NO_INPUTS
    return hashlib.blake2b("|".join(sorted(digests)).encode(), digest_size=8).hexdigest()


class OutputDigests:
    """What a task hands downstream, as one digest per task id (memoised).

    A task with outputs: a digest of its outputs' fingerprints.  A task
    without outputs (a wrapper): a digest of its requirements' digests, so a
    change below a wrapper still reaches the tasks above it.
    """

    def __init__(
        self,
        content_hash: bool = False,
        known_deps: Mapping[str, Sequence[str]] | None = None,
        known_tasks: dict[str, Task] | None = None,
    ):
        self.content_hash = content_hash
        self.memo: dict[str, str] = {}
        self.outputs: dict[str, dict] = {}
        # Requirements already known (from the run's events) need no second
        # requires() call, which would build task instances again.
        self.known_deps = known_deps if known_deps is not None else {}
        self.known_tasks = known_tasks if known_tasks is not None else {}

    def _fingerprint_outputs(self, outputs) -> dict:
        if not outputs:
            return {}
        if type(outputs) is LocalTarget and not self.content_hash:
            # The common case, without the general machinery: one stat.
            path = outputs.path
            try:
                st = os.stat(path)
            except OSError:
                return {path: None}
            if not S_ISDIR(st.st_mode):
                return {path: f"size={st.st_size};mtime_ns={st.st_mtime_ns}"}
        from nbpipe.state.fingerprints import target_fingerprint
        from nbpipe.state.fingerprints import target_name as _target_name

        result: dict = {}
        for index, target in enumerate(flatten(outputs)):
            name = _target_name(target, index)
            if name in result:
                name = f"{name}[{index}]"
            result[name] = target_fingerprint(target, content_hash=self.content_hash)
        return result

    def outputs_of(self, task: Task) -> dict:
        fps = self.outputs.get(task.task_id)
        if fps is None:
            try:
                fps = self._fingerprint_outputs(task.output())
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
            dep_ids = self.known_deps.get(tid)
            if dep_ids is not None and all(d in self.known_tasks for d in dep_ids):
                deps = [self.known_tasks[d] for d in dep_ids]
            else:
                try:
                    deps = [d for d in flatten(current.requires()) if isinstance(d, Task)]
                except Exception:  # noqa: BLE001
                    deps = []
            if expanded or not deps:
                memo[tid] = _combine([memo.get(d.task_id, "") for d in deps])
                continue
            stack.append((current, True))
            stack.extend((d, False) for d in deps if d.task_id not in memo)
        return memo[task.task_id]

    def forget(self, task_id: str) -> None:
        self.memo.pop(task_id, None)
        self.outputs.pop(task_id, None)


_encode = json.JSONEncoder(sort_keys=True).encode
_quote = json.encoder.encode_basestring_ascii  # the C implementation


def _json_or_empty(value: dict) -> str:
    """JSON of a dict; a fast path for the common {str: str | None} shape (one per task)."""
    if not value:
        return "{}"
    try:
        return (
            "{"
            + ", ".join(f"{_quote(k)}: {'null' if v is None else _quote(v)}" for k, v in sorted(value.items()))
            + "}"
        )
    except TypeError:  # other value types: the general encoder
        return _encode(value)


class HistoryRecorder:
    """Writes a run's attempts and fingerprints to a :class:`StateStore`."""

    def __init__(
        self,
        store: StateStore,
        run_id: str,
        content_hash: bool = False,
        batch_size: int = 2000,
        batch_seconds: float = 1.0,
        marked: set | frozenset = frozenset(),
    ):
        from nbpipe.state.fingerprints import code_fingerprint

        self.store = store
        self.run_id = run_id
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self._code_fingerprint = code_fingerprint
        self._tasks: dict[str, Task] = {}
        self._deps: dict[str, tuple[str, ...]] = {}
        self.digests = OutputDigests(content_hash, self._deps, self._tasks)
        # Rows are plain tuples in the store's column order (see StateStore.record).
        self._attempts: list[tuple] = []
        self._successes: list[tuple] = []  # successful attempts: StateStore.record's shorter rows
        self._cleared: list[str] = []
        self._logs: list[tuple] = []  # (task_id, run_id, ended, JSON lines, dropped) of attempts that logged
        self._started: dict[str, float] = {}
        self._done: set[str] = set()
        self._per_class: dict[type, tuple] = {}
        self._handlers: dict[str, Callable[[RunEvent], None]] = {
            Kind.DONE: self._on_done,
            Kind.RUNNING: self._on_running,
            Kind.DISCOVERED: self._on_discovered,
            Kind.SUSPENDED: self._on_suspended,
            Kind.RUN_FINISHED: self._on_finished,
            **{kind: self._on_other_outcome for kind in _FINAL if kind != Kind.DONE},
        }
        self._new_code: dict[str, str] = {}
        self._last_flush = time.monotonic()
        #: Tasks with an invalidation mark; a successful rerun clears it.
        self.marked = marked
        #: The last error of a history write that failed, None once a write succeeds.
        self.failed_writes: StateStoreError | None = None
        self._warned = False
        #: Tasks whose "running" row is in the store (see _running_rows_due).
        self._running_rows: set[str] = set()
        self._mutex = threading.Lock()
        self._timer: threading.Timer | None = None

    def __call__(self, event: RunEvent) -> None:
        handler = self._handlers.get(event.kind)
        if handler is not None:
            handler(event)

    def subscribe_to(self, bus: EventBus) -> None:
        """Receive ``bus``'s events of the kinds it records, each straight in its handler."""
        for kind, handler in self._handlers.items():
            bus.subscribe(handler, kinds=(kind,))

    def _on_running(self, event: RunEvent) -> None:
        self._started[event.task_id] = event.time
        if self._timer is None:
            # A task still running a moment from now gets a "running" row (see _running_rows_due);
            # quick tasks end before the timer fires and cost nothing more.
            self._timer = threading.Timer(self.batch_seconds, self._record_running)
            self._timer.daemon = True
            self._timer.start()

    def _record_running(self) -> None:
        with self._mutex:
            self._timer = None
            rows = self._running_rows_due()
            if not rows:
                return
            try:
                self.store.record(rows)
            except StateStoreError as exc:
                self.unwritable(exc)
            else:
                self._running_rows.update(row[1] for row in rows)

    def _on_discovered(self, event: RunEvent) -> None:
        tid = event.task_id
        self._tasks[tid] = event.task
        if event.deps or not event.data.get("complete"):
            # (requirements of a complete task were not walked: unknown, not "none")
            self._deps[tid] = event.deps

    def _on_suspended(self, event: RunEvent) -> None:
        self._deps[event.task_id] = tuple(self._deps.get(event.task_id, ())) + tuple(event.deps)

    def _on_finished(self, event: RunEvent) -> None:
        timer = self._timer
        if timer is not None:
            timer.cancel()
        self.flush(wait=True)

    def _family(self, task: Task) -> str:
        return self._class_info(type(task))[0]

    def _class_info(self, cls: type[Task]) -> tuple[str, str, list, bool]:
        """(family, code digest, parameter spec, whether a task's id JSON is its parameters' JSON) of
        a task class, computed once per run."""
        info = self._per_class.get(cls)
        if info is None:
            from nbpipe.parameter import ParameterVisibility
            from nbpipe.params.base import serializer_of

            try:
                components = _encode(self._code_fingerprint(cls))
            except Exception:  # noqa: BLE001 - source unavailable in odd environments
                components = "{}"
            code = hashlib.blake2b(components.encode(), digest_size=8).hexdigest()
            self._new_code[code] = components
            spec = [
                (name, _quote(name) + ":", serializer_of(param))
                for name, param in sorted(cls.get_params())
                if param.significant and param.visibility != ParameterVisibility.PRIVATE
            ]
            # The JSON a task made for its id holds the same values when no parameter is
            # hidden and the class keeps Luigi's to_str_params (see Task._init_from_values).
            same_as_id = cls.to_str_params is Task.to_str_params and all(
                param.visibility == ParameterVisibility.PUBLIC
                for name, param in cls.get_params()
                if param.significant and param.visibility != ParameterVisibility.PRIVATE
            )
            info = self._per_class[cls] = (cls.get_task_family(), code, spec, same_as_id)
        return info

    def _params(self, task: Task, spec: list | None = None) -> str:
        """JSON of the significant, serialised parameters (what to_str_params gives), fast."""
        if spec is None:
            spec = self._class_info(type(task))[2]
        if not spec:
            return "{}"
        kw = task.param_kwargs
        try:
            return "{" + ",".join([prefix + _quote(serialize(kw[name])) for name, prefix, serialize in spec]) + "}"
        except TypeError:  # a serialize() that does not return str
            return _json_or_empty(task.to_str_params(only_significant=True))

    def _on_done(self, event: RunEvent) -> None:
        # The hot path of recording: once per task that ran, so kept flat.
        tid = event.task_id
        task = event.task or self._tasks.get(tid)
        if task is None:
            return
        info = self._per_class.get(type(task))
        family, code, spec, same_as_id = info if info is not None else self._class_info(type(task))
        # A requirement that ran in this run has its own record: comparing
        # completion times later tells whether it re-ran since, so nothing is
        # stored for it.  Anything else (complete before, external) is
        # fingerprinted now.
        done = self._done
        deps = self._deps.get(tid)
        parts = (
            [
                _quote(dep_id) + ": " + _quote(self.digests.digest(self._tasks[dep_id]))
                for dep_id in deps
                if dep_id not in done and dep_id in self._tasks
            ]
            if deps and not done.issuperset(deps)  # (usually every requirement ran in this run)
            else None
        )
        done.add(tid)
        digests = self.digests
        digests.memo.pop(tid, None)  # it just ran: what it offers is new
        try:
            declared = task.output()
            outputs = digests._fingerprint_outputs(declared) if declared else {}
        except Exception:  # noqa: BLE001 - a broken output() gives no fingerprint
            outputs = {}
        digests.outputs[tid] = outputs
        data = event.data
        successes = self._successes
        successes.append(
            (  # (see StateStore.record: status, error and traceback are implied)
                self.run_id,
                tid,
                family,
                (same_as_id and task.__dict__.get("_Task__params_json")) or self._params(task, spec),
                self._started.pop(tid, None),
                event.time,
                data.get("worker"),
                data.get("attempt", 1),
                code,
                "{" + ", ".join(parts) + "}" if parts else "{}",
                _json_or_empty(outputs) if outputs else "{}",
            )
        )
        if tid in self.marked:
            self._cleared.append(tid)
        if "log" in data:
            self._keep_log(tid, event)
        if len(successes) % 64 == 0:
            self._maybe_flush()

    def _on_other_outcome(self, event: RunEvent) -> None:
        tid = event.task_id
        task = event.task or self._tasks.get(tid)
        if task is None:
            return
        kind, data = event.kind, event.data
        status = "interrupted" if data.get("failure_kind") == "interrupted" else _FINAL[kind]
        started = self._started.pop(tid, None) if kind == Kind.FAILED else None
        self._attempts.append(
            (
                self.run_id,
                tid,
                self._family(task),
                self._params(task),
                status,
                started,
                event.time,
                data.get("worker", ""),
                event.reason,
                data.get("traceback", ""),
                data.get("attempt", 1),
                None,
                None,
                None,
            )
        )
        if "log" in data:
            self._keep_log(tid, event)
        self._maybe_flush()

    def _keep_log(self, tid: str, event: RunEvent) -> None:
        lines = [str(line) for line in event.data["log"]]
        self._logs.append((tid, self.run_id, event.time, json.dumps(lines), int(event.data.get("log_dropped", 0))))

    def _maybe_flush(self) -> None:
        if (
            len(self._attempts) + len(self._successes) >= self.batch_size
            or time.monotonic() - self._last_flush > self.batch_seconds
        ):
            self.flush()

    def flush(self, wait: bool = False) -> None:
        """Write the pending rows in one transaction (``wait`` is accepted for symmetry).

        When the store cannot be written (a full disk, an I/O error), the
        rows stay pending and the next flush tries again; the run itself
        goes on as if nothing happened, after one warning.
        """
        if self._attempts or self._successes or self._cleared:
            with self._mutex:  # the running-rows timer writes too
                marked = self._running_rows
                superseded = (
                    [
                        (self.run_id, row[1])
                        for rows in (self._attempts, self._successes)
                        for row in rows
                        if row[1] in marked
                    ]
                    if marked
                    else []
                )
                try:
                    self.store.record(
                        self._attempts, self._cleared, self._new_code, superseded, self._logs, successes=self._successes
                    )
                except StateStoreError as exc:
                    self.unwritable(exc)
                    for rows in (self._attempts, self._successes, self._logs):
                        if len(rows) > MAX_PENDING_ROWS:  # give up on the oldest rather than grow without end
                            del rows[: len(rows) - MAX_PENDING_ROWS]
                else:
                    marked.difference_update(tid for _, tid in superseded)
                    self._attempts, self._successes, self._cleared, self._new_code, self._logs = [], [], [], {}, []
                    self.failed_writes = None
        self._last_flush = time.monotonic()

    def _running_rows_due(self) -> list[tuple]:
        """Rows saying "started, not finished" for tasks running now and not yet recorded so.

        A run killed outright leaves them as its tasks' last attempts, so an
        output such a task left behind is known not to be trusted; a task's
        final row replaces its running row.  Only tasks running at a flush
        get one: at most a few per batch, whatever the run's size.
        """
        rows = []
        for tid, started in self._started.copy().items():  # a copy: the run's thread adds to it
            task = self._tasks.get(tid)
            if tid in self._running_rows or task is None:
                continue
            rows.append(
                (self.run_id, tid, self._family(task), self._params(task), "running", started, started)
                + (None, None, None, 1, None, None, None)
            )
        return rows

    def unwritable(self, exc: StateStoreError) -> None:
        """Say once per run that history is not being recorded, and why."""
        if self.failed_writes is None and not self._warned:
            logger.warning(
                "run history is not being recorded: %s. The run goes on; its results and exit code are "
                "unaffected, and its history is written if space returns before it ends",
                exc,
            )
            self._warned = True
        self.failed_writes = exc
