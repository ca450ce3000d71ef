"""Sorting a run's tasks into Luigi's summary categories, from the run's events.

:func:`summarize` reads a sequence of :class:`~nbpipe.engine.events.RunEvent` (and
nothing else), sorts the tasks into Luigi's categories, picks the overall
status and has :mod:`nbpipe.engine.summary_text` render Luigi's text.

Categories (Luigi's names, also the keys of :attr:`Summary.categories`):

``already_done``
    complete when discovered (DISCOVERED with ``complete`` true, or COMPLETE);
``completed``
    ran successfully in this run (DONE);
``ever_failed`` / ``failed``
    had a FAILED (or DISABLED) event / and did not complete later;
``disabled``
    reached DISABLED (they are also in ``failed``);
``scheduling_error``
    ``requires()`` or ``complete()`` raised, or a cycle (SCHEDULING_FAILED);
``still_pending_ext``
    external tasks whose output is missing (MISSING);
``still_pending_not_ext``
    every other task that neither finished, failed nor was complete;
``run_by_other_worker``
    pending tasks another worker was running (RUN_BY_OTHER);
``upstream_failure``, ``upstream_missing_dependency``,
``upstream_run_by_other_worker``, ``upstream_scheduling_error``, ``not_run``
    why the pending tasks stayed pending, found by Luigi's depth-first walk
    over the dependency edges carried by DISCOVERED and SUSPENDED events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nbpipe.engine.events import Kind, RunEvent
from nbpipe.engine.status_codes import StatusCode, one_line_summary, status_of
from nbpipe.engine.summary_text import render_summary, wrap_summary
from nbpipe.retcodes import RetCodes

__all__ = ["CATEGORIES", "Summary", "summarize"]

#: Every key of :attr:`Summary.categories`, in a stable order.
CATEGORIES = (
    "already_done",
    "completed",
    "ever_failed",
    "failed",
    "disabled",
    "scheduling_error",
    "still_pending_ext",
    "still_pending_not_ext",
    "run_by_other_worker",
    "upstream_failure",
    "upstream_missing_dependency",
    "upstream_run_by_other_worker",
    "upstream_scheduling_error",
    "not_run",
)


class _UnknownTask:
    """Stands for a task whose events never carried the task object."""

    __slots__ = ("task_id",)

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id

    def get_task_family(self) -> str:
        return self.task_id

    @property
    def task_family(self) -> str:
        return self.task_id

    @staticmethod
    def get_params() -> list:
        return []

    def __repr__(self) -> str:
        return self.task_id


def _explain_pending(
    pending: list[str],
    deps: dict[str, list[str]],
    sets: dict[str, set],
) -> None:
    """Luigi's depth-first walk, iteratively: why is each pending task pending?

    Fills ``upstream_failure``, ``upstream_missing_dependency``,
    ``upstream_run_by_other_worker``, ``upstream_scheduling_error`` and
    ``not_run`` in ``sets`` (sets of task ids).  Each pending task is the
    start of a walk, visited or not, and only unvisited dependencies are
    descended into; a dependency is judged after its own walk returns.
    Every edge is looked at most twice, so the cost is linear.
    """
    pending_set = sets["still_pending_not_ext"]
    ever_failed = sets["ever_failed"]
    missing_ext = sets["still_pending_ext"]
    by_other = sets["run_by_other_worker"]
    sched_err = sets["scheduling_error"]
    up_failure = sets["upstream_failure"]
    up_missing = sets["upstream_missing_dependency"]
    up_other = sets["upstream_run_by_other_worker"]
    up_sched = sets["upstream_scheduling_error"]
    not_run = sets["not_run"]
    visited: set[str] = set()
    empty: list[str] = []

    for start in pending:
        visited.add(start)
        # A frame: [task id, its deps, next dep index, any upstream reason found]
        stack: list[list[Any]] = [[start, deps.get(start, empty), 0, False]]
        while stack:
            frame = stack[-1]
            node, node_deps, i = frame[0], frame[1], frame[2]
            if i < len(node_deps):
                dep = node_deps[i]
                if dep not in visited:
                    visited.add(dep)
                    if dep in pending_set:
                        # Walk the dependency first; come back to judge it.
                        stack.append([dep, deps.get(dep, empty), 0, False])
                        continue
                frame[2] = i + 1
                if dep in ever_failed or dep in up_failure:
                    up_failure.add(node)
                    frame[3] = True
                if dep in missing_ext or dep in up_missing:
                    up_missing.add(node)
                    frame[3] = True
                if dep in by_other or dep in up_other:
                    up_other.add(node)
                    frame[3] = True
                if dep in sched_err:  # direct dependencies only, as in Luigi
                    up_sched.add(node)
                    frame[3] = True
                continue
            stack.pop()
            if not frame[3] and node not in by_other:
                not_run.add(node)


def _failure_text(event: RunEvent) -> str:
    reason = event.reason or str(event.data.get("error") or "")
    traceback = event.data.get("traceback")
    if traceback and traceback not in reason:
        return f"{reason}\n{traceback}" if reason else str(traceback)
    return reason


def _as_id(value: Any) -> str:
    return value if isinstance(value, str) else value.task_id


def _dep_ids(events: Iterable[RunEvent]) -> dict[str, list[str]]:
    """Each task's requirements as ids (DISCOVERED and SUSPENDED events give them, as ids or
    tasks), without repeats, in the order the events gave them."""
    raw: dict[str, list[Iterable[Any]]] = {}
    for ev in events:
        if ev.deps and ev.task_id and ev.kind in (Kind.DISCOVERED, Kind.SUSPENDED):
            raw.setdefault(ev.task_id, []).append(ev.deps)
    deps: dict[str, list[str]] = {}
    for tid, batches in raw.items():
        ids = [_as_id(d) for batch in batches for d in batch]
        deps[tid] = list(dict.fromkeys(ids)) if len(batches) > 1 else ids
    return deps


class Summary:
    """What happened in a run, by Luigi's categories; see :func:`summarize`.

    ``categories`` maps every name in :data:`CATEGORIES` to a list of tasks
    sorted by ``str``; ``failures`` maps the id of each failed task to its
    last failure message (and traceback); ``scheduling_errors`` does the
    same for SCHEDULING_FAILED; ``durations`` maps task ids to the seconds of
    their last attempt; ``other_workers`` maps each other worker to the ids
    of the tasks it was running.
    """

    def __init__(
        self,
        *,
        categories: dict[str, list],
        status: StatusCode,
        body: str,
        root_task_id: str | None,
        failures: dict[str, str],
        scheduling_errors: dict[str, str],
        durations: dict[str, float],
        other_workers: dict[str, list[str]],
        interrupted: bool = False,
    ) -> None:
        self.categories = categories
        self.status = status
        self.body = body
        self.summary_text = wrap_summary(body)
        self.one_line_summary = one_line_summary(status)
        self.root_task_id = root_task_id
        self.failures = failures
        self.scheduling_errors = scheduling_errors
        self.durations = durations
        self.other_workers = other_workers
        self.interrupted = interrupted

    def task_ids(self, category: str) -> list[str]:
        """The ids of the tasks in ``category``, in the category's order."""
        return [t.task_id for t in self.categories[category]]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form of the summary."""
        return {
            "status": self.status.name,
            "counts": {name: len(tasks) for name, tasks in self.categories.items()},
            "tasks": {name: self.task_ids(name) for name in self.categories},
            "failures": dict(self.failures),
            "scheduling_errors": dict(self.scheduling_errors),
            "durations": dict(self.durations),
            "other_workers": {w: list(ids) for w, ids in self.other_workers.items()},
            "root_task_id": self.root_task_id,
            "interrupted": self.interrupted,
            "one_line_summary": self.one_line_summary,
        }

    def exit_code(self, codes: RetCodes | None = None) -> int:
        """The process exit code for this outcome (see :mod:`nbpipe.retcodes`)."""
        if codes is None:
            codes = RetCodes.from_config()
        return codes.for_summary(self)

    def __str__(self) -> str:
        return self.summary_text

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.categories.items() if v)
        return f"Summary(status={self.status.name}, {counts})"


def summarize(events: Iterable[RunEvent], summary_length: int | None = None) -> Summary:
    """Build the execution :class:`Summary` of a run from its events.

    ``summary_length`` is the number of task families listed per category
    before a ``...`` line (0: no limit); by default the configuration's
    ``[execution_summary] summary_length`` (5).
    """
    if summary_length is None:
        from nbpipe.configuration import option_value
        from nbpipe.options import EXECUTION_SUMMARY_SUMMARY_LENGTH

        summary_length = option_value(EXECUTION_SUMMARY_SUMMARY_LENGTH)

    tasks: dict[str, Any] = {}  # id -> task object (None until one is seen), in first-seen order
    roots: list[str] | None = None
    first_discovered: str | None = None
    complete: set[str] = set()
    done: set[str] = set()
    ever_failed: set[str] = set()
    disabled: set[str] = set()
    sched_err: set[str] = set()
    missing: set[str] = set()
    other_by_task: dict[str, str] = {}
    last_failure: dict[str, RunEvent] = {}
    last_disabled: dict[str, RunEvent] = {}
    sched_reason: dict[str, str] = {}
    running_at: dict[str, float] = {}
    durations: dict[str, float] = {}
    interrupted = False

    if not isinstance(events, (list, tuple)):
        events = list(events)  # (read twice when a task is left pending)
    # The kinds as locals, the per-task ones first: this loop sees about four events per task.
    k_discovered, k_pending, k_running, k_done = Kind.DISCOVERED, Kind.PENDING, Kind.RUNNING, Kind.DONE
    k_complete, k_missing, k_sched_failed, k_failed = Kind.COMPLETE, Kind.MISSING, Kind.SCHEDULING_FAILED, Kind.FAILED
    k_disabled, k_by_other = Kind.DISABLED, Kind.RUN_BY_OTHER
    k_started, k_finished = Kind.RUN_STARTED, Kind.RUN_FINISHED
    tasks_get = tasks.get
    for ev in events:
        kind = ev.kind
        tid = ev.task_id
        if not tid:
            if kind == k_started:
                given = ev.data.get("roots")
                if given:
                    roots = [_as_id(r) for r in given]
            elif kind == k_finished:
                interrupted = bool(ev.data.get("interrupted"))
            continue
        if tasks_get(tid) is None:
            tasks[tid] = ev.task
        if kind == k_pending:
            continue
        if kind == k_discovered:
            if first_discovered is None:
                first_discovered = tid
            data = ev.data
            if data.get("complete"):
                complete.add(tid)
            elif data.get("external") and data.get("complete") is False:
                missing.add(tid)
        elif kind == k_running:
            running_at[tid] = ev.time
        elif kind == k_done:
            done.add(tid)
            if tid in running_at:
                durations[tid] = ev.time - running_at[tid]
        elif kind == k_complete:
            complete.add(tid)
        elif kind == k_missing:
            missing.add(tid)
        elif kind == k_sched_failed:
            sched_err.add(tid)
            sched_reason[tid] = _failure_text(ev)
        elif kind == k_failed:
            ever_failed.add(tid)
            last_failure[tid] = ev
            if tid in running_at:
                durations[tid] = ev.time - running_at[tid]
        elif kind == k_disabled:
            ever_failed.add(tid)
            disabled.add(tid)
            last_disabled[tid] = ev
        elif kind == k_by_other:
            worker = ev.data.get("worker")
            other_by_task[tid] = "unknown worker" if worker is None else str(worker)

    # Partition, with precedence: ran > failed > scheduling error > complete > missing > pending.
    failed = ever_failed - done
    sets: dict[str, set] = {
        "already_done": set(),
        "completed": done,
        "ever_failed": ever_failed,
        "failed": failed,
        "disabled": disabled - done,
        "scheduling_error": set(),
        "still_pending_ext": set(),
        "still_pending_not_ext": set(),
        "run_by_other_worker": set(),
        "upstream_failure": set(),
        "upstream_missing_dependency": set(),
        "upstream_run_by_other_worker": set(),
        "upstream_scheduling_error": set(),
        "not_run": set(),
    }
    pending_order: list[str] = []
    for tid in tasks:
        if tid in done or tid in failed:
            continue
        if tid in sched_err:
            sets["scheduling_error"].add(tid)
        elif tid in complete:
            sets["already_done"].add(tid)
        elif tid in missing:
            sets["still_pending_ext"].add(tid)
        else:
            sets["still_pending_not_ext"].add(tid)
            pending_order.append(tid)
            if tid in other_by_task:
                sets["run_by_other_worker"].add(tid)

    if pending_order:
        # The requirements are read only now: a run that leaves nothing pending never needs them.
        _explain_pending(pending_order, _dep_ids(events), sets)

    # Task objects, and a deterministic order: by str, then first-seen.
    objects = tasks
    unknown = [tid for tid, obj in tasks.items() if obj is None]  # events that never carried their task
    if unknown:
        objects = dict(tasks)
        for tid in unknown:
            objects[tid] = _UnknownTask(tid)
    names = {tid: str(obj) for tid, obj in objects.items()}
    ordered = sorted(names, key=names.__getitem__)
    rank: dict[str, int] = {}
    categories: dict[str, list] = {}
    for name in CATEGORIES:
        members = sets[name]
        if len(members) == len(ordered):  # every task (as in a run that went well): no sorting again
            categories[name] = [objects[t] for t in ordered]
        elif len(members) < 2:
            categories[name] = [objects[t] for t in members]
        else:
            if not rank:
                rank = {tid: i for i, tid in enumerate(ordered)}
            categories[name] = [objects[t] for t in sorted(members, key=rank.__getitem__)]

    other_workers: dict[str, list[str]] = {}
    for tid, worker in other_by_task.items():
        if tid in sets["run_by_other_worker"]:
            other_workers.setdefault(worker, []).append(tid)
    if other_workers and not rank:
        rank = {tid: i for i, tid in enumerate(ordered)}
    for ids in other_workers.values():
        ids.sort(key=rank.__getitem__)

    failures: dict[str, str] = {}
    for t in categories["failed"]:
        failure_ev = last_failure.get(t.task_id) or last_disabled.get(t.task_id)
        if failure_ev is not None:
            failures[t.task_id] = _failure_text(failure_ev)
    scheduling_errors = {t.task_id: sched_reason.get(t.task_id, "") for t in categories["scheduling_error"]}

    root: str | None
    if roots:
        root = roots[0]
    else:
        root = first_discovered if first_discovered is not None else next(iter(tasks), None)

    status = status_of(categories)
    ext_workers = {w: [objects[t] for t in ids] for w, ids in other_workers.items()}
    disabled_reasons = {tid: _failure_text(ev) for tid, ev in last_disabled.items()}
    body = render_summary(categories, ext_workers, status, summary_length, disabled_reasons)
    return Summary(
        categories=categories,
        status=status,
        body=body,
        root_task_id=root,
        failures=failures,
        scheduling_errors=scheduling_errors,
        durations=durations,
        other_workers=other_workers,
        interrupted=interrupted,
    )
