"""The run loop: roots -> resolver -> scheduler -> executor -> events.

One function, :func:`execute`, drives a whole run.  It owns no policy: the
resolver decides what exists, the scheduler what runs next, the executor
where, and every consumer (summary, progress, user callbacks) reads the
event stream.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterable

from nbpipe.engine import run_context as runtime
from nbpipe.configuration import get_config
from nbpipe.engine.events import EventBus, Kind, RunEvent
from nbpipe.event import Event
from nbpipe.executors.run_one import DONE, SUSPENDED, Outcome
from nbpipe.executors import Executor, make_executor
from nbpipe.engine.resolver import Resolved, Resolver, find_cycle
from nbpipe.engine.scheduling import Scheduler, State
from nbpipe.engine.summary import RunResult
from nbpipe.task import Task, flatten

__all__ = ["execute"]

logger = logging.getLogger("nbpipe")

RERUN_CHOICES = ("missing",)


def _int_resources(section: dict[str, Any]) -> dict[str, int]:
    out = {}
    for name, value in section.items():
        try:
            out[name] = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"[resources] {name} = {value!r}: a resource capacity must be an integer") from None
    return out


class _Run:
    """The state of one run; see :func:`execute`."""

    def __init__(self, roots: list[Task], executor: Executor, bus: EventBus, check_threads: int,
                 force: dict | None = None, walk_complete: bool = False, store=None, locks=None,
                 registry=None):
        cfg = get_config()
        self.roots = roots
        self.executor = executor
        self.bus = bus
        self.tasks: dict[str, Task] = {}
        self.resolver = Resolver(check_threads, force=force, walk_complete=walk_complete)
        self.store = store
        self.locks = locks
        self.registry = registry
        self.on_locked = str(cfg.get("core", "on_locked", "wait"))
        if self.on_locked not in ("wait", "skip"):
            raise ValueError(f"[core] on_locked = {self.on_locked!r}: choose 'wait' or 'skip'")
        self.lock_poll = cfg.get_float("core", "lock_poll_interval", 0.2)
        self.lock_waits: dict[str, Any] = {}
        self.stop = None
        self.disable_persist = cfg.get_float("scheduler", "disable_persist", 86400.0)
        self.started = time.time()
        retry_count = cfg.get("scheduler", "retry_count")
        self.scheduler = Scheduler(
            resources=_int_resources(cfg.section("resources")),
            retry_count=int(retry_count) if retry_count is not None else None,
            retry_delay=cfg.get_float("scheduler", "retry_delay", 0.0),
            disable_window=cfg.get_float("scheduler", "disable_window", 3600.0),
        )
        self.fire = bool(Task._event_callbacks)

    # -- graph ------------------------------------------------------------

    def add(self, found: list[Resolved], now: float) -> None:
        emit = self.bus.emit
        tasks = self.tasks
        sched_add = self.scheduler.add
        past = self._past_failures(found, now)
        for r in found:
            task = r.task
            tid = task.task_id
            tasks[tid] = task
            state = r.state
            emit(
                RunEvent(
                    Kind.DISCOVERED,
                    tid,
                    now,
                    task,
                    tuple(r.deps),
                    "",
                    {"complete": state == State.COMPLETE, "external": state == State.MISSING},
                )
            )
            history = past.get(tid)
            if state == State.PENDING and history is not None and history[0] is not None:
                state = State.DISABLED
                r.reason = (f"{task} was disabled at {time.strftime('%H:%M', time.localtime(history[0]))} after "
                            f"repeated failures; re-enable it with `nbpipe enable` (or nbpipe.enable(task))")
                r.state = state
            if state == State.PENDING:
                sched_add(
                    tid,
                    r.deps,
                    priority=task.priority,
                    resources=task.process_resources(),
                    retry_count=task.retry_count,
                    retry_delay=task.retry_delay,
                    disable_window=task.disable_window,
                    past_failures=history[1] if history else (),
                )
            else:
                sched_add(tid, r.deps, state=state, reason=r.reason)
                if state == State.SCHEDULING_FAILED:
                    logger.error("%s", r.reason, extra={"nbpipe_event": Kind.SCHEDULING_FAILED})
                elif state == State.MISSING:
                    logger.warning("Data for %s does not exist (it is external; nothing here can make it)", task)
        if self.fire:
            for r in found:
                self._fire_discovery(r)

    def _past_failures(self, found: list[Resolved], now: float) -> dict[str, tuple]:
        """For tasks with a retry policy: (disabled_at or None, failure times) from earlier runs."""
        if self.store is None:
            return {}
        default_count = self.scheduler.default_retry_count
        policy = [r for r in found if r.state == State.PENDING
                  and (r.task.retry_count is not None or default_count is not None)]
        if not policy:
            return {}
        window = max((r.task.disable_window or self.scheduler.default_disable_window) for r in policy)
        since = now - max(window, self.disable_persist)
        rows = self.store.failure_history([r.task_id for r in policy], since)
        out = {}
        for r in policy:
            history = rows.get(r.task_id, [])
            task_window = r.task.disable_window or self.scheduler.default_disable_window
            disabled = [t for t, status in history if status == "disabled" and t >= now - self.disable_persist]
            failures = [t for t, status in history if status == "failed" and t >= now - task_window]
            out[r.task_id] = (disabled[-1] if disabled else None, failures)
        return out

    def _fire_discovery(self, r: Resolved) -> None:
        task = r.task
        for dep_id in r.deps:
            task.trigger_event(Event.DEPENDENCY_DISCOVERED, task, self.tasks[dep_id])
        if r.state == State.COMPLETE:
            task.trigger_event(Event.DEPENDENCY_PRESENT, task)
        elif r.state == State.MISSING:
            task.trigger_event(Event.DEPENDENCY_MISSING, task)
        elif r.state == State.SCHEDULING_FAILED:
            task.trigger_event(Event.BROKEN_TASK, task, RuntimeError(r.reason))

    def flush(self) -> None:
        emit = self.bus.emit
        tasks = self.tasks
        for event in self.scheduler.drain_events():
            event.task = tasks.get(event.task_id)
            emit(event)

    # -- outcomes ---------------------------------------------------------

    def handle(self, outcome: Outcome, now: float) -> None:
        task = self.tasks[outcome.task_id]
        sched = self.scheduler
        if self.locks is not None:
            self.registry.finished(task.task_id)
            self.locks.release(task.task_id)
        if outcome.status == DONE:
            sched.done(task.task_id, now, outcome.worker)
            if self.fire:
                task.trigger_event(Event.SUCCESS, task)
                task.trigger_event(Event.PROCESSING_TIME, task, outcome.elapsed)
        elif outcome.status == SUSPENDED:
            self._suspend(task, outcome, now)
        else:
            data = {"traceback": outcome.traceback, "explanation": outcome.explanation, "worker": outcome.worker,
                    "failure_kind": outcome.kind, "elapsed": outcome.elapsed}
            sched.failed(task.task_id, now, outcome.reason, **data)
            logger.error("%s failed: %s", task, outcome.reason)
            if outcome.traceback:
                logger.debug("%s", outcome.traceback)
            if self.fire:
                if outcome.kind == "timeout":
                    task.trigger_event(Event.TIMEOUT, task, outcome.reason)
                elif outcome.kind == "worker_died":
                    task.trigger_event(Event.PROCESS_FAILURE, task, outcome.reason)
                task.trigger_event(Event.FAILURE, task, outcome.exception or RuntimeError(outcome.reason))

    def _suspend(self, task: Task, outcome: Outcome, now: float) -> None:
        sched = self.scheduler
        new_deps = outcome.new_deps
        found = self.resolver.resolve(new_deps)
        self.add(found, now)
        dep_ids = list(dict.fromkeys(d.task_id for d in new_deps))
        # A requirement that already ran in this run but still is not complete
        # would make run() yield it forever: fail with the reason instead.
        stuck = [d for d in dep_ids if sched.state(d) == State.DONE and d not in {r.task_id for r in found}]
        reason = ""
        if stuck:
            reason = (f"run() yielded {self.tasks[stuck[0]]}, which ran in this run but is still not complete; "
                      "check that its output() matches what its run() writes")
        else:
            cycle = self._cycle_through(task.task_id, dep_ids)
            if cycle:
                reason = "dependency cycle: " + " -> ".join(str(self.tasks[t]) for t in cycle + cycle[:1])
        if not reason:
            sched.suspend(task.task_id, dep_ids, now)
            return
        sched.commit(now)  # the requirements found stay in the graph
        sched.failed(task.task_id, now, reason, final=True, failure_kind="error")
        logger.error("%s failed: %s", task, reason)

    def _cycle_through(self, task_id: str, dep_ids: list[str]) -> list[str] | None:
        known = self.resolver.known
        nodes = self.scheduler.nodes

        def deps_of(tid):
            out = list(known[tid].deps) if tid in known else []
            if tid == task_id:
                out += dep_ids
            return [d for d in out if nodes[d].state not in (State.DONE, State.COMPLETE)]

        cycle = find_cycle([task_id], deps_of)
        return cycle if cycle and task_id in cycle else None

    # -- the loop ---------------------------------------------------------

    def run(self) -> None:
        sched, executor = self.scheduler, self.executor
        clock = time.time
        now = clock()
        self.add(self.resolver.resolve(self.roots), now)
        sched.commit(now)
        self.flush()
        fire = self.fire
        tasks = self.tasks
        stop = self.stop
        while True:
            if stop is not None and stop.is_set():
                raise _Stopped
            now = clock()
            if self.lock_waits:
                self._retry_locked(now)
            while executor.free_slots() > 0:
                task_id = sched.next_ready(now)
                if task_id is None:
                    break
                task = tasks[task_id]
                if self.locks is not None and self.registry.needs_lock(task_id) and not self._lock(task_id, now):
                    continue
                if fire:
                    task.trigger_event(Event.START, task)
                executor.submit(task, self._static_deps(task_id))
            self.flush()
            if not sched.is_active():
                break
            wake = sched.next_wakeup()
            timeout = None if wake is None else max(0.0, wake - clock())
            if self.lock_waits:
                timeout = self.lock_poll if timeout is None else min(timeout, self.lock_poll)
                if not executor.running():
                    time.sleep(timeout)  # only other runs can change anything now
                    continue
            if stop is not None:
                # Wake up regularly to notice a stop request.
                timeout = 0.2 if timeout is None else min(timeout, 0.2)
            outcomes = executor.wait(timeout)
            now = clock()
            for outcome in outcomes:
                self.handle(outcome, now)
            self.flush()

    def _lock(self, task_id: str, now: float) -> bool:
        """Claim the task for this run: True when it should run here now.

        Takes the task's lock; when another run holds it, the task waits for
        the lock or is skipped (``[core] on_locked``).  Once the lock is
        ours, the task is checked again: another run may have finished it
        since this run looked (check, lock, check again).
        """
        holder = self.locks.try_acquire(task_id)
        if holder is not None:
            who = _holder_text(holder)
            if self.on_locked == "skip":
                logger.info("%s is being run by another worker (%s); skipping it", self.tasks[task_id], who)
                self.scheduler.run_by_other(task_id, now, worker=who)
            else:
                logger.info("%s is being run by another worker (%s); waiting for it", self.tasks[task_id], who)
                self.lock_waits[task_id] = holder
            return False
        if self._done_elsewhere(task_id):
            self.locks.release(task_id)
            self.scheduler.completed_elsewhere(task_id, now, by="another run")
            return False
        return True

    def _done_elsewhere(self, task_id: str) -> bool:
        task = self.tasks[task_id]
        if task_id in self.resolver.force:
            # Complete all along (invalidated or stale): done elsewhere only
            # if another run recorded it after this run started.
            if self.store is None:
                return False
            record = self.store.fingerprints([task_id]).get(task_id)
            return record is not None and record.completed > self.started
        try:
            return bool(task.complete())
        except Exception:  # noqa: BLE001 - let the run itself report the problem
            return False

    def _retry_locked(self, now: float) -> None:
        """Tasks whose lock another run held: claim them once it is free."""
        executor, tasks = self.executor, self.tasks
        for task_id in list(self.lock_waits):
            if executor.free_slots() <= 0:
                return
            if self.locks.try_acquire(task_id) is not None:
                continue
            holder = self.lock_waits.pop(task_id)
            if self._done_elsewhere(task_id):
                self.locks.release(task_id)
                self.scheduler.completed_elsewhere(task_id, now, by=_holder_text(holder))
                continue
            task = tasks[task_id]
            if self.fire:
                task.trigger_event(Event.START, task)
            executor.submit(task, self._static_deps(task_id))

    def _static_deps(self, task_id: str) -> list[Task] | None:
        """The task's requirements as resolved (so run_task need not call requires() again)."""
        resolved = self.resolver.known.get(task_id)
        if resolved is None:
            return None
        tasks = self.tasks
        return [tasks[d] for d in resolved.deps]

    def interrupt(self) -> None:
        """Record the tasks an interrupt stopped mid-run as failed."""
        now = time.time()
        for task_id in sorted(self.scheduler.running):
            node = self.scheduler.nodes.get(task_id)
            if node is not None and node.state == State.RUNNING:
                self.scheduler.failed(task_id, now, "interrupted (the run was stopped)", final=True,
                                      failure_kind="interrupted")
        self.flush()


class _FewerCollections:
    """Collect cyclic garbage less often while a run builds its large graph.

    A run allocates a few objects per task and frees almost none until it
    ends, which makes CPython's generational collector rescan a growing heap:
    at 100 000 tasks that costs a third of the run.  Reference counting
    still frees everything acyclic at once; cycles wait a little longer.
    Nested or concurrent runs share one setting; the last one out restores it.
    """

    _depth = 0
    _saved: tuple | None = None

    def __enter__(self):
        import gc

        if _FewerCollections._depth == 0:
            _FewerCollections._saved = gc.get_threshold()
            first, *rest = _FewerCollections._saved
            gc.set_threshold(max(first, 50_000), max(rest[0], 50), max(rest[1], 100))
        _FewerCollections._depth += 1

    def __exit__(self, *exc):
        import gc

        _FewerCollections._depth -= 1
        if _FewerCollections._depth == 0 and _FewerCollections._saved is not None:
            gc.set_threshold(*_FewerCollections._saved)


def _close_locks(run: _Run) -> None:
    """Release what the run still holds; idempotent."""
    if run.registry is not None:
        run.registry.close()
    if run.locks is not None:
        run.locks.close()


def _holder_text(holder) -> str:
    return holder.describe() if hasattr(holder, "describe") else "another process"


def execute(
    tasks,
    workers: int = 1,
    executor: str | Executor | None = None,
    *,
    observers: Iterable[Callable[[RunEvent], None]] = (),
    check_threads: int | None = None,
    rerun: str = "missing",
    stop: "threading.Event | None" = None,
    dask_address: str | None = None,
) -> RunResult:
    """Run ``tasks`` and everything they need; return a :class:`RunResult`.

    ``executor`` is ``"inline"``, ``"thread"``, ``"process"``, ``"dask"``
    or an :class:`Executor`; by default inline for one worker, process for
    more.  ``dask_address`` is the Dask scheduler to use with ``"dask"``
    (default: ``[dask] address``, ``$NBPIPE_DASK_ADDRESS``, or a local cluster).
    ``observers`` receive every :class:`RunEvent` as it happens.  A
    KeyboardInterrupt stops every worker, then propagates after the result
    is recorded on the exception as ``exc.result``.  Setting ``stop`` (from
    another thread) stops the run the same way, but returns the result.
    """
    cfg = get_config()
    roots = flatten(tasks)
    for root in roots:
        if not isinstance(root, Task):
            from nbpipe.engine.resolver import _describe

            raise TypeError(f"build() needs tasks; got {_describe(root)}")
    if check_threads is None:
        check_threads = cfg.get_int("core", "completeness_check_threads", 16)
    bus = EventBus()
    for observer in observers:
        bus.subscribe(observer)

    def on_progress(task_id: str, kind: str, value: Any) -> None:
        bus.emit(RunEvent(Kind.PROGRESS, task_id, time.time(), run.tasks.get(task_id), (), "", {kind: value}))

    if not isinstance(executor, Executor):
        timeout = cfg.get("worker", "timeout")
        executor = make_executor(
            executor,
            workers,
            check_unfulfilled_deps=cfg.get_bool("worker", "check_unfulfilled_deps", True),
            on_progress=on_progress,
            default_timeout=float(timeout) if timeout not in (None, "", 0, "0") else None,
            address=dask_address,
        )
    if rerun not in ("missing", "stale"):
        raise ValueError(f"rerun={rerun!r}: choose 'missing' (Luigi's rule) or 'stale'")
    context = runtime.RunContext(runtime.new_run_id(), runtime.state_dir())
    store = locks = registry = None
    marks: dict = {}
    force: dict[str, str] = {}
    walk_complete = False
    if cfg.get_bool("core", "state", True):
        from nbpipe.state.store import open_store

        store = open_store(context.state_dir)  # raises StateStoreError before anything runs
        marks = store.invalidations()
        if rerun == "stale":
            from nbpipe.state.staleness import graph_status

            statuses = graph_status(roots, store, check_threads=check_threads)
            force = {tid: "; ".join(st.reasons) for tid, st in statuses.items()
                     if st.state in ("stale", "invalidated")}
            walk_complete = True
        elif marks:
            force = {tid: mark["reason"] for tid, mark in marks.items()}
            walk_complete = True
        if cfg.get_bool("core", "task_locks", True) and not hasattr(executor, "task_locks"):
            from nbpipe.state.task_locks import TaskLocks
            from nbpipe.state.live_runs import RunRegistry

            locks = TaskLocks(context.state_dir, context.run_id)
            registry = RunRegistry(context.state_dir, context.run_id, locks)
    elif rerun == "stale":
        raise ValueError("rerun='stale' needs the state store; remove [core] state = false")
    run = _Run(roots, executor, bus, check_threads, force, walk_complete, store, locks, registry)
    run.stop = stop
    if store is not None:
        from nbpipe.state.recorder import HistoryRecorder

        bus.subscribe(HistoryRecorder(store, context.run_id,
                                      content_hash=cfg.get_bool("core", "content_hash", False),
                                      marked=frozenset(marks)))
        store.start_run(context.run_id, time.time(), [t.task_id for t in roots],
                        {"workers": workers, "executor": executor.kind, "rerun": rerun})
    bus.emit(RunEvent(Kind.RUN_STARTED, "", time.time(), None, (), "",
                      {"roots": [t.task_id for t in roots], "run_id": context.run_id,
                       "executor": executor.kind, "workers": workers}))
    previous_context = runtime.current()
    runtime.set_current(context)
    interrupted: KeyboardInterrupt | None = None
    try:
        try:
            executor.start(context)
            if hasattr(executor, "task_locks") and cfg.get_bool("core", "task_locks", True):
                # A cluster executor brings locks every driver of the cluster sees.
                from nbpipe.executors.dask_locks import ClusterLockPolicy

                run.locks, run.registry = executor.task_locks(), ClusterLockPolicy()
            with _FewerCollections():
                run.run()
        except (KeyboardInterrupt, _Stopped) as exc:
            interrupted = exc
            executor.shutdown(kill=True)
            run.interrupt()
        finally:
            if interrupted is None:
                executor.shutdown()
    except BaseException:
        if store is not None and interrupted is None:
            store.finish_run(context.run_id, time.time(), "error")
        raise
    finally:
        run.resolver.close()
        _close_locks(run)
        runtime.set_current(previous_context)
    bus.emit(RunEvent(Kind.RUN_FINISHED, "", time.time(), None, (), "", {"interrupted": interrupted is not None}))
    result = RunResult(bus.events)
    if store is not None:
        store.finish_run(context.run_id, time.time(), "interrupted" if interrupted is not None else result.status.name)
    result.run_id = context.run_id
    result.interrupted = interrupted is not None
    if isinstance(interrupted, KeyboardInterrupt):
        interrupted.result = result
        raise interrupted
    return result


class _Stopped(Exception):
    """The run's stop event was set."""
