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
from typing import Any

from nbpipe.configuration import get_config
from nbpipe.engine.events import EventBus, Kind, RunEvent
from nbpipe.engine.executor import DONE, SUSPENDED, Executor, Outcome
from nbpipe.engine.resolver import Resolved, Resolver, find_cycle
from nbpipe.engine.scheduling import Scheduler, State
from nbpipe.event import Event
from nbpipe.options import (
    CORE_LOCK_POLL_INTERVAL,
    CORE_ON_LOCKED,
    SCHEDULER_DISABLE_PERSIST,
    SCHEDULER_DISABLE_WINDOW,
    SCHEDULER_RETRY_COUNT,
    SCHEDULER_RETRY_DELAY,
)
from nbpipe.task import Task

__all__ = ["RunLoop", "Stopped", "FewerCollections", "close_locks"]

logger = logging.getLogger("nbpipe")
_NO_LOG: dict[str, Any] = {}  # (never changed: passed on as keywords only)


class RunLoop:
    """The state of one run; see :func:`execute`."""

    def __init__(
        self,
        roots: list[Task],
        executor: Executor,
        bus: EventBus,
        check_threads: int,
        force: dict | None = None,
        walk_complete: bool = False,
        store=None,
        locks=None,
        registry=None,
    ):
        cfg = get_config()
        self.roots = roots
        self.executor = executor
        self.bus = bus
        self.tasks: dict[str, Task] = {}
        self.resolver = Resolver(check_threads, force=force, walk_complete=walk_complete)
        self.store = store
        self.locks = locks
        self.registry = registry
        self.on_locked = cfg.option_value(CORE_ON_LOCKED)  # 'wait' or 'skip': the declared type checks it
        self.lock_poll = cfg.option_value(CORE_LOCK_POLL_INTERVAL)
        self.lock_waits: dict[str, Any] = {}
        self.stop: threading.Event | None = None
        self.disable_persist = cfg.option_value(SCHEDULER_DISABLE_PERSIST)
        self.started = time.time()
        self.scheduler = Scheduler(
            resources=cfg.resources(),
            retry_count=cfg.option_value(SCHEDULER_RETRY_COUNT),
            retry_delay=cfg.option_value(SCHEDULER_RETRY_DELAY),
            disable_window=cfg.option_value(SCHEDULER_DISABLE_WINDOW),
        )
        self.fire = bool(Task._event_callbacks)

    # -- graph ------------------------------------------------------------

    def add(self, found: list[Resolved], now: float) -> None:
        tasks = self.tasks
        sched_add = self.scheduler.add
        past = self._past_failures(found, now)
        discovered = []
        for r in found:
            task = r.task
            tasks[task.task_id] = task
            state = r.state
            discovered.append(
                RunEvent(
                    Kind.DISCOVERED,
                    task.task_id,
                    now,
                    task,
                    r.deps,
                    "",
                    {"complete": state == State.COMPLETE, "external": state == State.MISSING},
                )
            )
        self.bus.emit_all(discovered)  # (all before any line logged about them below)
        for r in found:
            task = r.task
            tid = task.task_id
            state = r.state
            history = past.get(tid)
            if state == State.PENDING and history is not None and history[0] is not None:
                state = State.DISABLED
                r.reason = (
                    f"{task} was disabled at {time.strftime('%H:%M', time.localtime(history[0]))} after "
                    f"repeated failures; re-enable it with `nbpipe enable` (or nbpipe.enable(task))"
                )
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
        policy = [
            r
            for r in found
            if r.state == State.PENDING and (r.task.retry_count is not None or default_count is not None)
        ]
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
            task.trigger_event(Event.BROKEN_TASK, task, r.exception or RuntimeError(r.reason))

    def flush(self) -> None:
        events = self.scheduler.drain_events()
        if events:
            tasks = self.tasks
            for event in events:
                event.task = tasks.get(event.task_id)
            self.bus.emit_all(events)

    # -- outcomes ---------------------------------------------------------

    def handle(self, outcome: Outcome, now: float) -> None:
        task = self.tasks[outcome.task_id]
        sched = self.scheduler
        if self.locks is not None:
            self.registry.finished(task.task_id)
            self.locks.release(task.task_id)
        log: dict[str, Any] = {"log": outcome.log, "log_dropped": outcome.log_dropped} if outcome.log else _NO_LOG
        if outcome.status == DONE:
            sched.done(task.task_id, now, outcome.worker, **log)
            if self.fire:
                task.trigger_event(Event.SUCCESS, task)
                task.trigger_event(Event.PROCESSING_TIME, task, outcome.elapsed)
        elif outcome.status == SUSPENDED:
            self._suspend(task, outcome, now)
        else:
            sched.failed(
                task.task_id,
                now,
                outcome.reason,
                traceback=outcome.traceback,
                explanation=outcome.explanation,
                worker=outcome.worker,
                failure_kind=outcome.kind,
                elapsed=outcome.elapsed,
                **log,
            )
            if outcome.traceback:  # as Luigi logs it: one record, the traceback under the line
                logger.error("%s failed: %s\n%s", task, outcome.reason, outcome.traceback.rstrip("\n"))
            else:
                logger.error("%s failed: %s", task, outcome.reason)
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
            reason = (
                f"run() yielded {self.tasks[stuck[0]]}, which ran in this run but is still not complete; "
                "check that its output() matches what its run() writes"
            )
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
        in_submit = executor.runs_tasks_in_submit
        tasks = self.tasks
        stop = self.stop
        while True:
            if stop is not None and stop.is_set():
                raise Stopped
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
                if in_submit:
                    self.flush()
                executor.submit(task, self._static_deps(task_id))
            self.flush()
            if not sched.is_active():
                break
            wake = sched.next_wakeup()
            timeout = None if wake is None else max(0.0, wake - clock())
            if self.lock_waits:
                timeout = self.lock_poll if timeout is None else min(timeout, self.lock_poll)
            if stop is not None:
                # Wake up regularly to notice a stop request.
                timeout = 0.2 if timeout is None else min(timeout, 0.2)
            if timeout is not None and not executor.running():
                # Only time (a retry's delay) or other runs (a lock) can change anything now;
                # an executor with nothing running returns at once, so wait here.
                time.sleep(timeout)
                continue
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
            if executor.runs_tasks_in_submit:
                self.flush()
            executor.submit(task, self._static_deps(task_id))

    def _static_deps(self, task_id: str) -> list[Task] | None:
        """The task's requirements as resolved (so run_task need not call requires() again)."""
        resolved = self.resolver.known.get(task_id)
        if resolved is None:
            return None
        tasks = self.tasks
        return [tasks[d] for d in resolved.deps]

    def interrupt(self, still_running: list[str] | tuple = ()) -> None:
        """Record the tasks an interrupt stopped mid-run as failed.

        ``still_running`` are tasks whose code could not be stopped (threads):
        their reason says so, as they may still finish after the run.
        """
        now = time.time()
        lingering = set(still_running)
        for task_id in sorted(self.scheduler.running):
            node = self.scheduler.nodes.get(task_id)
            if node is not None and node.state == State.RUNNING:
                reason = (
                    "interrupted while running in a thread, which cannot be stopped: it may still finish "
                    "(its lock is kept until it does)"
                    if task_id in lingering
                    else "interrupted (the run was stopped)"
                )
                self.scheduler.failed(task_id, now, reason, final=True, failure_kind="interrupted")
        self.flush()


class FewerCollections:
    """Collect cyclic garbage less often while a run holds its large graph.

    A run allocates a few objects per task and frees almost none until it
    ends, which makes CPython's generational collector rescan a growing heap:
    at 100 000 tasks that costs a third of the run.  Reference counting
    still frees everything acyclic at once; cycles wait a little longer.
    Nested or concurrent runs share one setting; the last one out restores it.
    """

    _depth = 0
    _saved: tuple | None = None
    _mutex = threading.Lock()  # runs in several threads (a notebook's background runs) count together

    def __enter__(self):
        import gc

        with FewerCollections._mutex:
            if FewerCollections._depth == 0:
                FewerCollections._saved = gc.get_threshold()
                first, *rest = FewerCollections._saved
                gc.set_threshold(max(first, 50_000), max(rest[0], 50), max(rest[1], 100))
            FewerCollections._depth += 1

    def __exit__(self, *exc):
        import gc

        with FewerCollections._mutex:
            FewerCollections._depth -= 1
            if FewerCollections._depth == 0 and FewerCollections._saved is not None:
                gc.set_threshold(*FewerCollections._saved)


def close_locks(run: RunLoop) -> None:
    """Release what the run still holds; idempotent."""
    if run.registry is not None:
        run.registry.close()
    if run.locks is not None:
        run.locks.close()


def _holder_text(holder) -> str:
    return holder.describe() if hasattr(holder, "describe") else "another process"


class Stopped(Exception):
    """The run's stop event was set."""
