"""The scheduler: a pure state machine deciding which task runs next.

No I/O, no clock reads, no threads: the run loop calls it with the current
time and executes what it hands out.  The same shape as :mod:`graphlib`'s
``TopologicalSorter`` (add, then ask for ready work, then report done),
extended with what a pipeline needs:

State kept (all of it; :meth:`Scheduler.snapshot` returns it as data):

``nodes``        task id -> :class:`Node` (state, dependencies, dependents,
                 number of unmet dependencies, priorities, resources, retry
                 policy, failure times).
``ready``        a heap of ``(-priority, seq, task id)`` for PENDING tasks
                 whose dependencies are all met.  Entries go stale when a
                 task's priority rises or it leaves PENDING; stale entries
                 are skipped when popped (lazy deletion), so every dispatch
                 is O(log n) amortised and nothing scans all pending tasks.
``waiting``      a heap of ``(retry_at, seq, task id)`` for RETRY_WAIT tasks.
``blocked``      resource name -> task ids popped while that resource was
                 full; they return to ``ready`` when it is released.
``used``         resource name -> amount held by RUNNING tasks.

Transitions (each emits one :class:`~nbpipe.engine.events.RunEvent`)::

    PENDING -> RUNNING              next_ready()
    RUNNING -> DONE                 done()
    RUNNING -> COMPLETE             completed_elsewhere(): another run made it
    RUNNING -> RETRY_WAIT           failed(), failures below the task's limit
    RUNNING -> FAILED | DISABLED    failed(), no retry policy | limit reached
    RETRY_WAIT -> PENDING           next_ready() once retry_at has passed
    RUNNING -> PENDING              suspend(): run() yielded new dependencies
    PENDING -> UPSTREAM_FAILED      a dependency ended FAILED/DISABLED/UPSTREAM_FAILED
    PENDING -> RUN_BY_OTHER         run_by_other()

Initial states come from the resolver: PENDING, COMPLETE (output already
there), MISSING (external and absent), SCHEDULING_FAILED, DISABLED.

Priorities follow Luigi: a task runs before lower-priority ones, and a
dependency inherits the highest priority of the tasks that need it.  Ties go
to the task added first.  Resources follow Luigi too: a task needs
``resources = {"db": 1}``; capacities come from configuration and a
resource that is not configured has capacity 1.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal, get_args

from nbpipe.engine.events import Kind, RunEvent
from nbpipe.exceptions import SchedulerError

__all__ = ["Scheduler", "Node", "State", "StateName", "ALL_STATES", "SchedulerError"]


#: Every scheduler state (a type checker sees the list; :data:`ALL_STATES` is the set).
StateName = Literal[
    "pending",
    "running",
    "done",
    "failed",
    "disabled",
    "upstream_failed",
    "retry_wait",
    "complete",
    "missing",
    "scheduling_failed",
    "run_by_other",
]


class State:
    """Where the scheduler holds a task.

    Each value is the :class:`~nbpipe.engine.events.Kind` of the event that
    puts a task in that state, so an event's kind names the state it enters.
    Plain strings (the :data:`StateName` literal type), for speed: the
    scheduler compares states many times per task.
    """

    PENDING: Final = "pending"
    RUNNING: Final = "running"
    DONE: Final = "done"
    FAILED: Final = "failed"
    DISABLED: Final = "disabled"
    UPSTREAM_FAILED: Final = "upstream_failed"
    RETRY_WAIT: Final = "retry_wait"
    COMPLETE: Final = "complete"
    MISSING: Final = "missing"
    SCHEDULING_FAILED: Final = "scheduling_failed"
    RUN_BY_OTHER: Final = "run_by_other"


ALL_STATES: frozenset[str] = frozenset(get_args(StateName))

#: States in which a dependency counts as met.
_MET = frozenset({State.DONE, State.COMPLETE})
#: States after which dependents can never run.
_DEAD = frozenset({State.FAILED, State.DISABLED, State.UPSTREAM_FAILED})
_INITIAL = frozenset({State.PENDING, State.COMPLETE, State.MISSING, State.SCHEDULING_FAILED, State.DISABLED})


#: The resources of a task that needs none (most): one shared, read-only mapping instead of a dict per task.
_NO_RESOURCES: Mapping[str, int] = MappingProxyType({})


@dataclass(slots=True, eq=False)
class Node:
    task_id: str
    state: str
    seq: int
    deps: list = field(default_factory=list)
    dependents: list = field(default_factory=list)
    unmet: int = 0
    priority: float = 0
    effective_priority: float = 0
    resources: Mapping[str, int] = field(default_factory=lambda: _NO_RESOURCES)
    retry_count: int | None = None
    retry_delay: float = 0.0
    disable_window: float = 3600.0
    failures: Sequence[float] = ()  # replaced, never changed in place: most nodes share the empty one
    attempts: int = 0
    retry_at: float = 0.0
    reason: str = ""


class Scheduler:
    """Decides what runs next.  See the module docstring for the state kept."""

    def __init__(
        self,
        resources: dict[str, int] | None = None,
        retry_count: int | None = None,
        retry_delay: float = 0.0,
        disable_window: float = 3600.0,
        validate: bool = False,
    ):
        self.capacity: dict[str, int] = dict(resources or {})
        self.default_retry_count = retry_count
        self.default_retry_delay = retry_delay
        self.default_disable_window = disable_window
        self.validate = validate
        self.nodes: dict[str, Node] = {}
        self.ready: list[tuple] = []
        self.waiting: list[tuple] = []
        self.blocked: dict[str, list[str]] = {}
        self.used: dict[str, int] = {}
        self.running: set[str] = set()
        self._staged: list[Node] = []
        self._events: list[RunEvent] = []
        self._seq = 0

    # -- building the graph ---------------------------------------------------

    def add(
        self,
        task_id: str,
        deps: Iterable[str] = (),
        *,
        state: str = State.PENDING,
        priority: float = 0,
        resources: dict[str, int] | None = None,
        retry_count: int | None = None,
        retry_delay: float | None = None,
        disable_window: float | None = None,
        past_failures: Iterable[float] = (),
        reason: str = "",
    ) -> None:
        """Stage a task; it takes part once :meth:`commit` is called.

        ``deps`` may name tasks added later in the same batch.  ``state`` is
        what the resolver found.  ``past_failures`` are failure times from
        earlier runs, counted by the disable policy.
        """
        if state not in _INITIAL:
            raise SchedulerError(f"{task_id}: cannot add a task in state {state!r}")
        if task_id in self.nodes:
            raise SchedulerError(f"{task_id}: added twice")
        # Every field by position, in Node's order: twice as fast as by keyword, once per task.
        node = Node(
            task_id,
            state,
            self._seq,
            list(dict.fromkeys(deps)),  # deps
            [],  # dependents
            0,  # unmet
            priority,
            priority,  # effective_priority
            dict(resources) if resources else _NO_RESOURCES,
            retry_count if retry_count is not None else self.default_retry_count,
            self.default_retry_delay if retry_delay is None else retry_delay,
            self.default_disable_window if disable_window is None else disable_window,
            sorted(past_failures) if past_failures else (),  # failures
            0,  # attempts
            0.0,  # retry_at
            reason,
        )
        self._seq += 1
        self.nodes[task_id] = node
        self._staged.append(node)

    def commit(self, now: float, _check: bool = True) -> None:
        """Link staged tasks to their dependencies and queue the ready ones."""
        staged, self._staged = self._staged, []
        nodes = self.nodes
        for node in staged:
            for dep_id in node.deps:
                dep = nodes.get(dep_id)
                if dep is None:
                    raise SchedulerError(f"{node.task_id} requires {dep_id}, which was never added")
                dep.dependents.append(node.task_id)
        events = self._events
        for node in staged:  # (the event _emit makes, without a call and a keyword dict per task)
            events.append(RunEvent(node.state, node.task_id, now, None, (), node.reason, {}))
        # Priorities: push each staged node's priority down to its dependencies.
        for node in staged:
            inherited = node.priority
            for parent_id in node.dependents:
                p = nodes[parent_id].effective_priority
                if p > inherited:
                    inherited = p
            if inherited > node.effective_priority or node.priority:
                node.effective_priority = max(inherited, node.effective_priority)
                self._raise_priority(node)
        dead = []
        for node in staged:
            if node.state != State.PENDING:
                if node.state == State.DISABLED:
                    dead.append(node)
                continue
            unmet = 0
            for dep_id in node.deps:
                dep_state = nodes[dep_id].state
                if dep_state not in _MET:
                    unmet += 1
                    if dep_state in _DEAD:
                        dead.append(nodes[dep_id])
            node.unmet = unmet
            if unmet == 0:
                self._push_ready(node)
        for node in dead:
            self._fail_dependents(node, now)
        if _check:
            self._check()

    def _raise_priority(self, start: Node) -> None:
        stack = [start]
        nodes = self.nodes
        while stack:
            node = stack.pop()
            p = node.effective_priority
            for dep_id in node.deps:
                dep = nodes.get(dep_id)
                if dep is not None and dep.effective_priority < p:
                    dep.effective_priority = p
                    if dep.state == State.PENDING and dep.unmet == 0:
                        self._push_ready(dep)  # the old heap entry goes stale
                    stack.append(dep)

    # -- dispatch -------------------------------------------------------------

    def _push_ready(self, node: Node) -> None:
        heapq.heappush(self.ready, (-node.effective_priority, node.seq, node.task_id))

    def next_ready(self, now: float) -> str | None:
        """The next task to run (now RUNNING), or None if none can start now."""
        if self.waiting:
            self._release_due_retries(now)
        ready = self.ready
        nodes = self.nodes
        while ready:
            neg_prio, _, task_id = heapq.heappop(ready)
            node = nodes[task_id]
            if node.state != State.PENDING or node.unmet or -neg_prio != node.effective_priority:
                continue  # stale entry
            if node.resources:
                short = self._missing_resource(node)
                if short is not None:
                    self.blocked.setdefault(short, []).append(task_id)
                    continue
                for name, amount in node.resources.items():
                    self.used[name] = self.used.get(name, 0) + amount
            node.state = State.RUNNING
            node.attempts += 1
            self.running.add(task_id)
            self._events.append(RunEvent(State.RUNNING, task_id, now, None, (), "", {"attempt": node.attempts}))
            if self.validate:
                self._check()
            return task_id
        return None

    def _missing_resource(self, node: Node) -> str | None:
        for name, amount in node.resources.items():
            if self.used.get(name, 0) + amount > self.capacity.get(name, 1):
                return name
        return None

    def _release_due_retries(self, now: float) -> None:
        waiting = self.waiting
        while waiting and waiting[0][0] <= now:
            _, _, task_id = heapq.heappop(waiting)
            node = self.nodes[task_id]
            if node.state == State.RETRY_WAIT:
                node.state = State.PENDING
                self._emit(State.PENDING, node, now, reason="retrying")
                self._push_ready(node)

    def _release(self, node: Node) -> None:
        self.running.discard(node.task_id)
        if not node.resources:
            return
        for name, amount in node.resources.items():
            self.used[name] -= amount
            for task_id in self.blocked.pop(name, ()):
                blocked = self.nodes[task_id]
                if blocked.state == State.PENDING:
                    self._push_ready(blocked)

    def _expect_running(self, task_id: str) -> Node:
        node = self.nodes.get(task_id)
        if node is None:
            raise SchedulerError(f"{task_id}: unknown task")
        if node.state != State.RUNNING:
            raise SchedulerError(f"{task_id}: is {node.state}, not running")
        return node

    # -- outcomes -------------------------------------------------------------

    def done(self, task_id: str, now: float, worker: str = "", **data) -> None:
        """The task ran successfully; dependents whose needs are now met become ready.

        ``data`` goes into the DONE event (e.g. the task's ``log`` lines).
        """
        if worker:
            data["worker"] = worker
        self._met(task_id, now, State.DONE, data)

    def completed_elsewhere(self, task_id: str, now: float, by: str = "") -> None:
        """Another run made the task complete while this one waited for it (COMPLETE)."""
        self._met(task_id, now, State.COMPLETE, {"by": by})

    def _met(self, task_id: str, now: float, state: str, data: dict) -> None:
        """``data``: the event's own dict (made by the caller for it: the event keeps it)."""
        node = self.nodes.get(task_id)
        if node is None or node.state != State.RUNNING:
            node = self._expect_running(task_id)  # (raises, naming what is wrong)
        if node.resources:
            self._release(node)
        else:
            self.running.discard(task_id)
        node.state = state
        data["attempt"] = node.attempts
        self._events.append(RunEvent(state, task_id, now, None, (), "", data))
        nodes = self.nodes
        for parent_id in node.dependents:
            parent = nodes[parent_id]
            if parent.state != State.PENDING:
                continue
            parent.unmet -= 1
            if parent.unmet == 0:
                self._push_ready(parent)
        if self.validate:
            self._check()

    def failed(self, task_id: str, now: float, reason: str = "", final: bool = False, **data) -> str:
        """The task failed; returns its new state (RETRY_WAIT, FAILED or DISABLED).

        With a retry policy (``retry_count``), failures within the task's
        disable window below the limit lead to a retry after ``retry_delay``;
        reaching the limit disables the task.  Without one, or with
        ``final`` (a failure no retry can mend: an interrupt, a cycle), it
        is FAILED.
        """
        node = self._expect_running(task_id)
        self._release(node)
        node.reason = reason
        self._emit(State.FAILED, node, now, reason=reason, attempt=node.attempts, **data)
        window_start = now - node.disable_window
        node.failures = [t for t in (*node.failures, now) if t >= window_start]
        limit = None if final else node.retry_count
        if limit is not None and len(node.failures) < limit:
            node.state = State.RETRY_WAIT
            node.retry_at = now + node.retry_delay
            heapq.heappush(self.waiting, (node.retry_at, node.seq, task_id))
            self._emit(State.RETRY_WAIT, node, now, retry_at=node.retry_at)
        elif limit is not None:
            node.state = State.DISABLED
            self._emit(
                State.DISABLED,
                node,
                now,
                reason=f"failed {len(node.failures)} times within {node.disable_window:g} s (retry_count={limit})",
            )
            self._fail_dependents(node, now)
        else:
            node.state = State.FAILED
            self._fail_dependents(node, now)
        self._check()
        return node.state

    def suspend(self, task_id: str, new_deps: Iterable[str], now: float) -> None:
        """run() yielded dependencies that are not complete: wait for them, then rerun.

        The new dependencies must have been :meth:`add`-ed (and are linked by
        :meth:`commit`, which this calls).
        """
        node = self._expect_running(task_id)
        self._release(node)
        node.attempts -= 1  # a suspension is not a failed attempt
        fresh = [d for d in dict.fromkeys(new_deps) if d not in node.deps]
        nodes = self.nodes
        for dep_id in fresh:
            if dep_id not in nodes:
                raise SchedulerError(f"{task_id} yielded {dep_id}, which was never added")
        node.deps.extend(fresh)
        node.state = State.PENDING
        self._emit(Kind.SUSPENDED, node, now, deps=tuple(fresh))
        self.commit(now, _check=False)  # link staged dependencies first
        dead = None
        unmet = 0
        for dep_id in fresh:
            dep = nodes[dep_id]
            if task_id not in dep.dependents:
                dep.dependents.append(task_id)
            if dep.effective_priority < node.effective_priority:
                dep.effective_priority = node.effective_priority
                self._raise_priority(dep)
                if dep.state == State.PENDING and dep.unmet == 0:
                    self._push_ready(dep)
            if dep.state not in _MET:
                unmet += 1
                if dep.state in _DEAD:
                    dead = dep
        node.unmet = unmet
        if dead is not None:
            self._mark_upstream_failed(node, now, dead.task_id)
        elif unmet == 0:
            self._push_ready(node)
        self._check()

    def run_by_other(self, task_id: str, now: float, worker: str = "") -> None:
        """Another run holds this task's lock: it will not run here."""
        node = self.nodes[task_id]
        if node.state == State.RUNNING:
            self._release(node)
            node.attempts -= 1
        node.state = State.RUN_BY_OTHER
        self._emit(State.RUN_BY_OTHER, node, now, worker=worker)
        self._check()

    def _mark_upstream_failed(self, node: Node, now: float, because: str) -> None:
        node.state = State.UPSTREAM_FAILED
        self._emit(State.UPSTREAM_FAILED, node, now, reason=f"dependency {because} failed")
        self._fail_dependents(node, now)

    def _fail_dependents(self, start: Node, now: float) -> None:
        """Mark every pending task downstream of ``start`` UPSTREAM_FAILED (iteratively)."""
        nodes = self.nodes
        stack = [(start.task_id, pid) for pid in start.dependents]
        while stack:
            cause, parent_id = stack.pop()
            parent = nodes[parent_id]
            if parent.state != State.PENDING:
                continue
            parent.state = State.UPSTREAM_FAILED
            self._emit(State.UPSTREAM_FAILED, parent, now, reason=f"dependency {cause} failed")
            stack.extend((parent_id, pid) for pid in parent.dependents)

    # -- queries --------------------------------------------------------------

    def is_active(self) -> bool:
        """True while something runs, waits for a retry, or could start now.

        Tasks blocked forever (a dependency is missing, or they need more of
        a resource than exists) do not count: the run ends without them.
        """
        if self.running or self.waiting:
            return True
        ready, nodes = self.ready, self.nodes
        while ready:
            neg_prio, _, task_id = ready[0]
            node = nodes[task_id]
            if node.state == State.PENDING and not node.unmet and -neg_prio == node.effective_priority:
                return self._missing_resource(node) is None
            heapq.heappop(ready)
        return False

    def next_wakeup(self) -> float | None:
        """When the earliest retry is due, or None."""
        return self.waiting[0][0] if self.waiting else None

    def state(self, task_id: str) -> str:
        return self.nodes[task_id].state

    def drain_events(self) -> Sequence[RunEvent]:
        """The transitions since the last call, in order."""
        events = self._events
        if not events:
            return ()  # (no new list for the several calls per task that find nothing)
        self._events = []
        return events

    def snapshot(self) -> dict:
        """Everything the scheduler knows, as plain data (for tests and debugging)."""
        live_ready = sorted(
            (nprio, seq, tid)
            for nprio, seq, tid in self.ready
            if self.nodes[tid].state == State.PENDING
            and not self.nodes[tid].unmet
            and -nprio == self.nodes[tid].effective_priority
        )
        return {
            "states": {tid: n.state for tid, n in self.nodes.items()},
            "unmet": {tid: n.unmet for tid, n in self.nodes.items() if n.state == State.PENDING},
            "priorities": {tid: n.effective_priority for tid, n in self.nodes.items()},
            "ready": list(dict.fromkeys(tid for _, _, tid in live_ready)),
            "running": sorted(self.running),
            "waiting": sorted((t, tid) for t, _, tid in self.waiting if self.nodes[tid].state == State.RETRY_WAIT),
            "used": {k: v for k, v in self.used.items() if v},
            "blocked": {k: list(v) for k, v in self.blocked.items() if v},
        }

    def _emit(self, kind: str, node: Node, now: float, reason: str = "", deps: tuple = (), **data) -> None:
        self._events.append(RunEvent(kind, node.task_id, now, None, deps, reason, data))

    # -- validation -----------------------------------------------------------

    def _check(self) -> None:
        if not self.validate:
            return
        used: dict[str, int] = {}
        for tid, node in self.nodes.items():
            if node.state == State.RUNNING:
                assert tid in self.running, f"{tid} running but not in running set"
                for name, amount in node.resources.items():
                    used[name] = used.get(name, 0) + amount
            else:
                assert tid not in self.running, f"{tid} in running set but {node.state}"
            if node.state == State.PENDING and tid not in {n.task_id for n in self._staged}:
                unmet = sum(1 for d in node.deps if self.nodes[d].state not in _MET)
                assert unmet == node.unmet, f"{tid}: unmet {node.unmet} != {unmet}"
            for dep_id in node.deps:
                assert self.nodes[dep_id].effective_priority >= node.effective_priority or node in self._staged, (
                    f"{dep_id} has lower priority than its dependent {tid}"
                )
        for name, amount in used.items():
            assert self.used.get(name, 0) == amount, f"resource {name}: used {self.used.get(name)} != {amount}"
            assert amount <= self.capacity.get(name, 1), f"resource {name} over capacity"
