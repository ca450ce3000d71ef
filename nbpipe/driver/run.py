"""One run in the driver process: the engine's run loop wired to an executor and to the state store.

:func:`execute` is what ``nbpipe.build``, the CLI, the magics and the widget
call.  It composes the layers below it — the engine (resolver, scheduler,
run loop, events), an executor adapter, and the state package (history,
staleness, task locks) — so none of them has to know the others.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from nbpipe import options
from nbpipe.configuration import get_config
from nbpipe.engine import run_context as runtime
from nbpipe.engine.events import EventBus, Kind, RunEvent
from nbpipe.engine.executor import Executor
from nbpipe.engine.run_loop import FewerCollections, RunLoop, Stopped, close_locks
from nbpipe.engine.summary import RunResult
from nbpipe.exceptions import StateStoreError, StateStoreUnwritable
from nbpipe.executors import make_executor
from nbpipe.task import Task, flatten

__all__ = ["execute", "Stragglers"]

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("nbpipe")


class Stragglers:
    """Tasks an interrupt could not stop (they run in threads): the run keeps their locks until each ends.

    So no other run starts one of them while its code is still running
    here.  A waiting thread releases each task's lock as its thread ends,
    then closes the run's locks and its entry among the live runs.
    """

    def __init__(self, executor: Executor, run: RunLoop, tasks: list[Task]):
        self.tasks = tasks
        self._executor = executor
        self._run = run
        self._left = {t.task_id for t in tasks}
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="nbpipe-stragglers", daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        run = self._run
        try:
            while self._left:
                ended = self._executor.wait_stopped(None)
                if not ended and not self._executor.still_running():
                    break
                for task_id in ended:
                    self._left.discard(task_id)
                    if run.locks is not None:
                        run.registry.finished(task_id)
                        run.locks.release(task_id)
        except Exception:  # then nobody can tell when they end: keep the locks
            logger.exception("cannot tell when %s end; their locks are kept until this process ends", self.describe())
            self._ended.set()
            return
        close_locks(run)
        self._executor.shutdown()  # what it kept for the stragglers (a cluster client)
        self._ended.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every straggler ended and the locks are released; False on timeout."""
        return self._ended.wait(timeout)

    def describe(self) -> str:
        names = ", ".join(str(t) for t in self.tasks[:5]) + (" ..." if len(self.tasks) > 5 else "")
        return f"{len(self.tasks)} task(s) still running {self._executor.lingers}, which cannot be stopped: {names}"


def _close_in_history(store, recorder, run_id: str, outcome: str) -> None:
    """Record the run's end; a store that cannot be written leaves it open, for the next run to close."""
    try:
        store.finish_run(run_id, time.time(), outcome)
    except StateStoreError as exc:
        if recorder is not None:
            recorder.unwritable(exc)
        else:
            logger.warning("the end of run %s is not recorded in history: %s", run_id, exc)


def _collecting_less(run: Callable[P, R]) -> Callable[P, R]:
    """``run`` with the collector collecting less often from its start until its graph is freed.

    A run makes a few objects per task that all live until it ends, and
    rescanning them finds nothing.  Leaving only after ``run`` returned (its
    locals freed, the graph with them unless the caller keeps the result)
    spares the collection that restoring the thresholds would start over them.
    """

    @functools.wraps(run)
    def collecting_less(*args: P.args, **kwargs: P.kwargs) -> R:
        with FewerCollections():
            return run(*args, **kwargs)

    return collecting_less


@_collecting_less
def execute(
    tasks,
    workers: int = 1,
    executor: str | Executor | None = None,
    *,
    observers: Iterable[Callable[[RunEvent], None]] = (),
    check_threads: int | None = None,
    rerun: str = "missing",
    stop: threading.Event | None = None,
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
        check_threads = cfg.option_value(options.CORE_COMPLETENESS_CHECK_THREADS)
    bus = EventBus()
    for observer in observers:
        bus.subscribe(observer)

    # The run's tasks, filled in below.  Not the run itself: the executor keeps this callback, the
    # run keeps the executor, and that cycle would keep the whole graph alive after the run until
    # the cyclic collector came by (a full collection, for a graph that big).
    run_tasks: dict[str, Task] = {}

    def on_progress(task_id: str, kind: str, value: Any) -> None:
        bus.emit(RunEvent(Kind.PROGRESS, task_id, time.time(), run_tasks.get(task_id), (), "", {kind: value}))

    if not isinstance(executor, Executor):
        executor = make_executor(
            executor,
            workers,
            check_unfulfilled_deps=cfg.option_value(options.WORKER_CHECK_UNFULFILLED_DEPS),
            on_progress=on_progress,
            default_timeout=cfg.option_value(options.WORKER_TIMEOUT) or None,  # 0 means no timeout
            address=dask_address,
        )
    if rerun not in ("missing", "stale"):
        raise ValueError(f"rerun={rerun!r}: choose 'missing' (Luigi's rule) or 'stale'")
    context = runtime.RunContext(runtime.new_run_id(), runtime.state_dir())
    store = locks = registry = None
    marks: dict = {}
    force: dict[str, str] = {}
    walk_complete = False
    if cfg.option_value(options.CORE_STATE):
        from nbpipe.state.store import open_store

        try:
            store = open_store(context.state_dir)  # damaged, newer or locked: StateStoreError before anything runs
        except StateStoreUnwritable as exc:
            if rerun == "stale":
                raise  # which tasks are stale cannot be known without it
            logger.warning("run history is not being recorded: %s. The run goes on without it", exc)
    if store is not None:
        try:
            store.close_dead_runs(time.time())
        except StateStoreError:
            pass  # a full disk: the recorder says so once, below
        marks = store.invalidations()
        if rerun == "stale":
            from nbpipe.state.staleness import graph_status

            statuses = graph_status(roots, store, check_threads=check_threads)
            force = {tid: "; ".join(st.reasons) for tid, st in statuses.items() if st.state in ("stale", "invalidated")}
            walk_complete = True
        elif marks:
            force = {tid: mark["reason"] for tid, mark in marks.items()}
            walk_complete = True
    if cfg.option_value(options.CORE_STATE):
        if cfg.option_value(options.CORE_TASK_LOCKS):
            from nbpipe.state.live_runs import RunRegistry
            from nbpipe.state.task_locks import TaskLocks

            locks = TaskLocks(context.state_dir, context.run_id)
            registry = RunRegistry(context.state_dir, context.run_id, locks)
    elif rerun == "stale":
        raise ValueError("rerun='stale' needs the state store; remove [core] state = false")
    recorder = None
    run = RunLoop(roots, executor, bus, check_threads, force, walk_complete, store, locks, registry)
    run.stop = stop
    run_tasks = run.tasks
    if store is not None:
        from nbpipe.state.recorder import HistoryRecorder

        recorder = HistoryRecorder(
            store, context.run_id, content_hash=cfg.option_value(options.CORE_CONTENT_HASH), marked=frozenset(marks)
        )
        recorder.subscribe_to(bus)
        try:
            store.start_run(
                context.run_id,
                time.time(),
                [t.task_id for t in roots],
                {"workers": workers, "executor": executor.kind, "rerun": rerun},
            )
        except StateStoreError as exc:
            recorder.unwritable(exc)
    bus.emit(
        RunEvent(
            Kind.RUN_STARTED,
            "",
            time.time(),
            None,
            (),
            "",
            {
                "roots": [t.task_id for t in roots],
                "run_id": context.run_id,
                "executor": executor.kind,
                "workers": workers,
            },
        )
    )
    previous_context = runtime.current()
    runtime.set_current(context)
    interrupted: KeyboardInterrupt | Stopped | None = None
    stragglers: Stragglers | None = None
    try:
        try:
            executor.start(context)
            cluster_locks = executor.cluster_task_locks() if cfg.option_value(options.CORE_TASK_LOCKS) else None
            if cluster_locks is not None:
                # A cluster executor brings locks every driver of the cluster sees; this
                # machine's other runs see the file locks, so a task takes both.
                from nbpipe.driver.lock_pair import PairedLocks, PairedPolicy

                if run.locks is None:
                    run.locks, run.registry = cluster_locks
                else:
                    run.locks = PairedLocks(run.locks, cluster_locks[0])
                    run.registry = PairedPolicy(run.registry, cluster_locks[1])
            run.run()
        except (KeyboardInterrupt, Stopped) as exc:
            interrupted = exc
            executor.shutdown(kill=True)
            lingering = executor.still_running()
            run.interrupt(lingering)
            if lingering:
                stragglers = Stragglers(executor, run, [run.tasks[t] for t in lingering])
        finally:
            if interrupted is None:
                executor.shutdown()
    except BaseException:
        if store is not None and interrupted is None:
            _close_in_history(store, recorder, context.run_id, "error")
        raise
    finally:
        run.resolver.close()
        if stragglers is None:
            close_locks(run)
        runtime.set_current(previous_context)
    bus.emit(RunEvent(Kind.RUN_FINISHED, "", time.time(), None, (), "", {"interrupted": interrupted is not None}))
    result = RunResult(bus.events)
    if store is not None:
        _close_in_history(store, recorder, context.run_id, "interrupted" if interrupted else result.status.name)
    result.run_id = context.run_id
    result.interrupted = interrupted is not None
    result.stragglers = stragglers
    if isinstance(interrupted, KeyboardInterrupt):
        interrupted.result = result  # type: ignore[attr-defined]  # the documented way a caller gets it
        raise interrupted
    return result
