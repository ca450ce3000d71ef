"""Task state across runs: status and staleness, invalidation, re-enabling, history.

A complete task is **stale** when, since it last ran successfully here,
its code changed (see :mod:`nbpipe.state.fingerprints.code`), an input it read changed
(an upstream task re-ran, or a file was edited), or its own output was
modified outside nbpipe.  Each reason is kept in words.  An **invalidated**
task was marked by :func:`invalidate` to be rerun; its output stays in
place until the rerun replaces it.
"""

from __future__ import annotations

import datetime
import graphlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from nbpipe.engine.resolver import Resolver
from nbpipe.engine.scheduling import State
from nbpipe.engine.shown_state import ShownState
from nbpipe.state.recorder import OutputDigests
from nbpipe.state.store import FingerprintRow, StateStore, open_store
from nbpipe.task import Task, flatten

__all__ = [
    "TaskStatus",
    "status",
    "graph_status",
    "estimate_seconds",
    "invalidate",
    "clear_invalidations",
    "enable",
    "history",
    "stale_reasons",
    "store_for_config",
]


@dataclass
class TaskStatus:
    """One task of a graph as the state store sees it.

    ``state`` is a :class:`~nbpipe.engine.shown_state.ShownState`; across
    runs a task is not built, complete, stale, invalidated, failed (its last
    attempt failed), external input missing, disabled or unschedulable.
    """

    task: Task
    state: ShownState
    reasons: list[str] = field(default_factory=list)
    deps: list[str] = field(default_factory=list)
    last_attempt: dict | None = None
    completed: float | None = None

    @property
    def task_id(self) -> str:
        return self.task.task_id

    def to_dict(self) -> dict:
        return {
            "task_id": self.task_id,
            "task": str(self.task),
            "family": self.task.get_task_family(),
            "state": self.state,
            "reasons": list(self.reasons),
            "deps": list(self.deps),
            "completed": self.completed,
            "last_attempt": self.last_attempt,
        }

    def __repr__(self) -> str:
        why = f" ({'; '.join(self.reasons)})" if self.reasons else ""
        return f"<{self.task} {self.state}{why}>"


def store_for_config() -> StateStore:
    from nbpipe.engine.run_context import state_dir

    return open_store(state_dir())


def _when(ts: float) -> str:
    moment = datetime.datetime.fromtimestamp(ts)
    if moment.date() == datetime.date.today():
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


def stale_reasons(
    task: Task,
    record: FingerprintRow | None,
    code_now: dict,
    digests: OutputDigests,
    tasks: dict[str, Task],
    records: dict[str, FingerprintRow],
    components: dict[str, dict],
    deps: list[str],
    code_cache: dict | None = None,
) -> list[str]:
    """Why ``task`` (complete now, requiring ``deps``) is stale against its ``record``; [] when not.

    ``code_cache`` (a dict the caller keeps for one walk) remembers the
    code-change reasons per (recorded digest, current fingerprint object).

    A requirement with its own record counts as changed when it completed
    after ``task`` did; one recorded by digest (it was complete before, or
    external) when what it offers now has another digest.
    """
    if record is None:
        return []  # never ran here (or before history existed): nothing to compare
    from nbpipe.state.fingerprints import describe_code_change

    reasons = []
    code_then = components.get(record.code)
    if code_then and code_now:
        if code_cache is None:
            reasons += describe_code_change(code_then, code_now)
        else:
            # Thousands of tasks of one class share two fingerprints: compare them once.
            key = (record.code, id(code_now))
            if key not in code_cache:
                code_cache[key] = describe_code_change(code_then, code_now)
            reasons += code_cache[key]
    outputs_now = digests.outputs_of(task)
    changed = sorted(
        name for name in set(record.outputs) | set(outputs_now) if record.outputs.get(name) != outputs_now.get(name)
    )
    if changed:
        reasons.append(
            f"output {changed[0]} modified outside nbpipe"
            if len(changed) == 1
            else f"outputs {', '.join(changed)} modified outside nbpipe"
        )
    for dep_id in deps:
        dep = tasks.get(dep_id)
        dep_record = records.get(dep_id)
        old = record.inputs.get(dep_id)
        if dep_record is not None and dep_record.completed > record.completed:
            reasons.append(f"upstream {dep} re-ran at {_when(dep_record.completed)}")
        elif old is not None and dep is not None and digests.digest(dep) != old:
            reasons.append(f"input from {dep} changed")
    return reasons


def graph_status(
    roots, store: StateStore | None = None, content_hash: bool | None = None, check_threads: int = 16
) -> dict[str, TaskStatus]:
    """The status of every task in the graphs of ``roots``, in discovery order."""
    from nbpipe.configuration import option_value
    from nbpipe.options import CORE_CONTENT_HASH
    from nbpipe.state.fingerprints import code_fingerprint

    if store is None:
        store = store_for_config()
    if content_hash is None:
        content_hash = option_value(CORE_CONTENT_HASH)
    with Resolver(check_threads, walk_complete=True) as resolver:
        found = resolver.resolve(roots)
    tasks = {r.task_id: r.task for r in found}
    ids = list(tasks)
    records = store.fingerprints(ids)
    components = store.code_components(r.code for r in records.values())
    marks = store.invalidations(ids)
    last = store.last_attempts(ids)
    open_runs = store.open_runs() if any(a["status"] == "running" for a in last.values()) else set()
    digests = OutputDigests(content_hash)
    code_cache: dict[type, dict] = {}
    change_cache: dict = {}
    names: dict[str, str] = {}
    statuses: dict[str, TaskStatus] = {}
    # Dependencies first, so a task can see whether what it reads will change.
    for r in _dependencies_first(found):
        tid = r.task_id
        entry = TaskStatus(
            r.task,
            ShownState.NOT_BUILT,
            [],
            list(r.deps),
            last.get(tid),
            records[tid].completed if tid in records else None,
        )
        statuses[tid] = entry
        if tid in marks:
            entry.state = ShownState.INVALIDATED
            entry.reasons = [marks[tid]["reason"]]
        elif r.state == State.COMPLETE:
            cls = type(r.task)
            if cls not in code_cache:
                try:
                    code_cache[cls] = code_fingerprint(cls)
                except Exception:  # noqa: BLE001
                    code_cache[cls] = {}
            reasons = stale_reasons(
                r.task, records.get(tid), code_cache[cls], digests, tasks, records, components, r.deps, change_cache
            )
            untrusted = _untrusted_output(entry.last_attempt, records.get(tid), open_runs)
            if untrusted:
                reasons.insert(0, untrusted)
            for dep_id in r.deps:
                dep_status = statuses.get(dep_id)
                if dep_status is not None and dep_status.state in (ShownState.STALE, ShownState.INVALIDATED):
                    if dep_id not in names:  # a task's repr costs microseconds; big graphs name each dep often
                        names[dep_id] = str(dep_status.task)
                    reasons.append(f"upstream {names[dep_id]} is {dep_status.state}")
            entry.state = ShownState.STALE if reasons else ShownState.COMPLETE
            entry.reasons = reasons
        elif r.state == State.MISSING:
            entry.state = ShownState.EXTERNAL_MISSING
            entry.reasons = [r.reason]
        elif r.state == State.SCHEDULING_FAILED:
            entry.state = ShownState.UNSCHEDULABLE
            entry.reasons = [r.reason]
        elif r.state == State.DISABLED:
            entry.state = ShownState.DISABLED
            entry.reasons = [r.reason]
        elif entry.last_attempt and entry.last_attempt["status"] in ("failed", "disabled"):
            entry.state = ShownState.FAILED
            entry.reasons = [entry.last_attempt["error"] or "failed in its last run"]
    return {r.task_id: statuses[r.task_id] for r in found}


def _untrusted_output(last_attempt: dict | None, record, open_runs: set[str]) -> str:
    """Why an output that exists cannot be trusted: its task's last attempt failed, or never finished,
    after its last success.

    A task that wrote its output with plain ``open()`` and then raised, or
    whose run was killed, leaves a file ``complete()`` accepts; history
    knows better.  A task running now in an open run is not judged.
    """
    if not last_attempt or last_attempt["status"] not in ("failed", "interrupted", "running"):
        return ""
    if last_attempt["status"] == "running" and last_attempt["run_id"] in open_runs:
        return ""
    if record is not None and record.completed is not None and record.completed >= last_attempt["ended"]:
        return ""
    if last_attempt["status"] == "running":
        return (
            f"its output exists, but its last attempt (started at {_when(last_attempt['ended'])}) never "
            "finished: its run was killed, so the output may be partial"
        )
    what = "was interrupted" if last_attempt["status"] == "interrupted" else "failed"
    error = f" ({last_attempt['error']})" if last_attempt.get("error") else ""
    return f"its output exists, but its last attempt {what}{error} at {_when(last_attempt['ended'])}: it may be partial"


def _dependencies_first(found) -> list:
    """``found`` ordered so every task comes after the tasks it requires.

    Tasks on or behind a dependency cycle (the resolver already marked them
    unschedulable) follow the rest, in their order in ``found``.
    """
    by_id = {r.task_id: r for r in found}
    sorter = graphlib.TopologicalSorter({r.task_id: [d for d in r.deps if d in by_id] for r in found})
    try:
        sorter.prepare()
    except graphlib.CycleError:
        pass  # get_ready() still hands out every task that no cycle blocks
    order: list = []
    while sorter.is_active():
        ready = sorter.get_ready()
        if not ready:
            break
        order.extend(by_id[tid] for tid in ready)
        sorter.done(*ready)
    placed = {r.task_id for r in order}
    return order + [r for r in found if r.task_id not in placed]


def status(task, **kwargs) -> list[TaskStatus]:
    """Each task of ``task``'s graph with its state and the reasons (see :class:`TaskStatus`)."""
    return list(graph_status(flatten(task), **kwargs).values())


def estimate_seconds(tasks: Iterable[Task], store: StateStore | None = None, workers: int = 1) -> tuple[float, int]:
    """An ETA for running ``tasks``: (seconds, how many of them had no history).

    Each task counts for the median duration of its family's last successful
    attempts; tasks of families never run here are counted apart.  Divided
    by ``workers`` (an optimistic bound when the graph is narrow).
    """
    if store is None:
        store = store_for_config()
    tasks = list(tasks)
    typical = store.typical_durations({t.get_task_family() for t in tasks})
    known = [typical[t.get_task_family()] for t in tasks if t.get_task_family() in typical]
    return sum(known) / max(1, workers), len(tasks) - len(known)


def _descendants(target_id: str, graph: dict[str, list[str]]) -> set[str]:
    parents: dict[str, list[str]] = {}
    for tid, deps in graph.items():
        for d in deps:
            parents.setdefault(d, []).append(tid)
    out, stack = set(), [target_id]
    while stack:
        for p in parents.get(stack.pop(), ()):
            if p not in out:
                out.add(p)
                stack.append(p)
    return out


def invalidate(task: Task, downstream: bool = False, within=None, store: StateStore | None = None) -> list[Task]:
    """Mark ``task`` to be rerun, without deleting anything; returns the tasks marked.

    With ``downstream``, every task that depends on it inside the graph of
    ``within`` (a task or tasks; by default ``task`` itself, which has no
    dependents) is marked too.  The outputs stay in place; the next run
    reruns the marked tasks and replaces their outputs atomically, and a
    failed rerun leaves the previous output untouched.
    """
    if not isinstance(task, Task):
        raise TypeError(f"invalidate() needs a task; got {task!r}")
    if store is None:
        store = store_for_config()
    marked = [task]
    if downstream:
        roots = flatten(within) if within is not None else [task]
        with Resolver(walk_complete=True) as resolver:
            found = resolver.resolve(roots)
        graph = {r.task_id: r.deps for r in found}
        if task.task_id not in graph:
            raise ValueError(
                f"{task} is not in the graph of {', '.join(str(r) for r in roots)}; "
                "pass the root whose graph contains it as within="
            )
        by_id = {r.task_id: r.task for r in found}
        marked += [by_id[t] for t in sorted(_descendants(task.task_id, graph))]
    reason = f"invalidated at {_when(time.time())}"
    store.mark_invalid(
        [(t.task_id, t.get_task_family(), reason if t is task else f"{reason} (downstream of {task})") for t in marked],
        time.time(),
    )
    return marked


def clear_invalidations(tasks: Iterable[Task] | Task | None = None, store: StateStore | None = None) -> int:
    """Remove invalidation marks (of ``tasks``, or all); returns how many were removed."""
    if store is None:
        store = store_for_config()
    ids = None if tasks is None else [t.task_id for t in flatten(tasks)]
    return store.clear_invalidations(ids)


def enable(task, store: StateStore | None = None) -> None:
    """Re-enable tasks disabled after too many failures; earlier failures stop counting."""
    if store is None:
        store = store_for_config()
    store.enable([t.task_id for t in flatten(task)], time.time())


def history(task: Task | str | None = None, limit: int = 50, store: StateStore | None = None) -> list[dict]:
    """Recent attempts of a task (a task, a task id or a family name), or recent runs when None."""
    if store is None:
        store = store_for_config()
    if task is None:
        return store.runs(limit)
    if isinstance(task, Task):
        return store.attempts(task_id=task.task_id, limit=limit)
    rows = store.attempts(task_id=task, limit=limit)
    return rows or store.attempts(family=task, limit=limit)
