"""Run tasks on a Dask distributed cluster.

The driver keeps deciding what is ready (its pure scheduler); Dask only runs
each ready task, on whichever worker it picks.  Which cluster, first match:

1. ``address=`` (``build(..., dask_address=...)``, ``--dask-address``), or a
   ready ``distributed.Client`` passed as ``client=``;
2. ``[dask] address`` in the configuration;
3. the ``NBPIPE_DASK_ADDRESS`` environment variable, then Dask's own
   ``scheduler-address`` setting (``DASK_SCHEDULER_ADDRESS``);
4. none: a ``distributed.LocalCluster`` of ``workers`` single-threaded worker
   processes, started for the run and closed at its end.

``workers`` is how many of this driver's tasks run at once, as for the
other executors; on a shared cluster, set it to the share you want.

Tasks travel as their parameter values; each task class (with the globals
cloudpickle carries by value, so notebook classes work) and the driver's
configuration become one cluster key per run and definition, which a
worker fetches and loads once, keeping it by digest
(:mod:`nbpipe.executors.shipping`).  :func:`~nbpipe.executors.dask_task.run_payload`
runs tasks and is imported on the workers: nbpipe must be installed there.

No double runs: on a cluster this executor started, local file locks do;
on one other drivers may share, Dask's distributed locks, taken only while
another nbpipe driver is connected, and the task bodies still running on
the workers for a driver that stopped (:mod:`nbpipe.executors.dask_locks`).

A small result is pushed by the worker as an event on the scheduler's
stream, so it reaches the driver with no request of its own; a large one is
fetched from the worker as the future's result.

Failure handling:

* a task error comes back as a normal failed outcome; retries and the retry
  delay are the driver scheduler's, exactly as with local executors;
* a lost worker: Dask reschedules the task on another worker (outputs are
  atomic, so a half-run attempt left nothing behind); when the task has been
  on ``distributed.scheduler.allowed-failures`` + 1 lost workers, Dask gives up
  with ``KilledWorker`` and the task fails as "worker died";
* ``worker_timeout``: the task fails as timed out, its future is cancelled and
  the worker running it is restarted (through its nanny) so the hung code
  stops; the run moves on;
* a lost connection to the scheduler fails the running tasks instead of
  hanging the run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import sys
import time
from dataclasses import dataclass
from typing import Any

import cloudpickle

from nbpipe.engine.executor import FAILED, Executor, ExecutorUnavailable, Outcome
from nbpipe.executors.base import remove_task_temp_files
from nbpipe.executors.run_one import one_line_error
from nbpipe.executors.shipping import Definition, DefinitionShipper, config_snapshot
from nbpipe.task import Task

logger = logging.getLogger("nbpipe")

ENV_ADDRESS = "NBPIPE_DASK_ADDRESS"
_PROGRESS = object()  # marks a progress report in the completion queue
_WORKER_LOST = object()  # marks a lost worker in the completion queue
_STARTED = "nbpipe:started"  # the progress kind of dask_task's start report
_OUTCOME = "nbpipe:outcome"  # the progress kind of dask_task's pushed result
#: While each worker has this many of the run's tasks sent to it (running or queued), newly ready
#: tasks are held back until _SEND_AT_ONCE of them can be sent together.
_KEEP_QUEUED = 2
_SEND_AT_ONCE = 4
_INLINE_BYTES = 256  # definitions up to this size travel with each task instead of as a cluster key


@dataclass
class _Submitted:
    task: Task
    future: Any  # None until sent (see DaskExecutor._send)
    started: float
    deadline: float | None
    timeout: float | None
    interrupted: bool = False  # an attempt died with its worker
    constrained: bool = False  # needs a Dask resource: only some workers can run it


def cluster_address(explicit: str | None = None) -> tuple[str | None, str]:
    """The scheduler address to use and where it came from (None: start a local cluster)."""
    if explicit:
        return explicit, "the call"
    from nbpipe.configuration import option_value
    from nbpipe.options import DASK_ADDRESS

    configured = option_value(DASK_ADDRESS)
    if configured:
        return configured, "[dask] address"
    if os.environ.get(ENV_ADDRESS):
        return os.environ[ENV_ADDRESS], ENV_ADDRESS
    import dask

    from_dask = dask.config.get("scheduler-address", None)
    if from_dask:
        return str(from_dask), "Dask's scheduler-address setting"
    return None, ""


class DaskExecutor(Executor):
    """Ready tasks become Dask futures; see the module docstring."""

    kind = "dask"
    shares_a_cluster = True
    lingers = "on the shared Dask cluster"

    def __init__(self, workers: int, address: str | None = None, client: Any = None, **options):
        super().__init__(**options)
        self.workers = max(1, int(workers))
        self.address = address
        self.client = client
        self._own_client = client is None
        self.cluster = None
        self._slots = self.workers
        self._submitted: dict[str, _Submitted] = {}
        self._stragglers: dict[str, _Submitted] = {}  # still running on a shared cluster after an interrupt
        self._finished: queue.Queue = queue.Queue()
        self._immediate: list[Outcome] = []
        self._unsent: list[tuple[str, tuple, dict | None, int]] = []  # submitted, to be sent by the next wait()
        self._sys_path: list[str] = []
        self._cwd = ""
        self._resources: dict[str, float] = {}
        self._resources_at = 0.0
        self._counter = 0
        self._locks = None
        self._registry: Any = None
        self._log_level = logging.getLogger().getEffectiveLevel()
        self._shipper = DefinitionShipper()
        self._scattered: dict[str, Any] = {}  # definition key -> the future of its scattered bytes
        self._config: tuple | None = None
        # A cluster this executor starts is its own: no other driver can reach it.
        try:
            self.shares_a_cluster = client is not None or cluster_address(address)[0] is not None
        except ImportError:  # no Dask: start() says so
            self.shares_a_cluster = False

    # -- lifecycle --------------------------------------------------------

    def start(self, context) -> None:
        super().start(context)
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ExecutorUnavailable("executor 'dask' needs Dask distributed: pip install 'nbpipe[dask]'") from None
        if self.client is None:
            address, source = cluster_address(self.address)
            if address is None:
                self.cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self.client = Client(self.cluster, set_as_default=False)
                logger.info("started a local Dask cluster of %d worker process(es) for this run", self.workers)
            else:
                try:
                    self.client = Client(address, set_as_default=False, timeout=_connect_timeout())
                except (OSError, TimeoutError) as exc:
                    raise ExecutorUnavailable(
                        f"cannot reach the Dask scheduler at {address} (from {source}): {one_line_error(exc)}; "
                        f"start one (`dask scheduler`, then `dask worker {address}`), or unset it to run on "
                        "a local cluster"
                    ) from None
            self.address = address
        self._refresh_resources()
        self._slots = self._tasks_in_flight()
        self.client.subscribe_topic(_progress_topic(), self._on_progress_event)
        self.client.subscribe_topic("all", self._on_cluster_event)
        self._shipper = DefinitionShipper()
        self._scattered = {}
        self._sys_path, self._cwd = list(sys.path), os.getcwd()
        snapshot = config_snapshot()
        self._config = (hashlib.sha1(snapshot).hexdigest(), self._scatter(snapshot, "configuration"))

    def _scatter(self, data: bytes, name: str) -> Any:
        """``data`` as a cluster key (its digest, shared by drivers): a worker fetches it once, from a peer.

        A task returning the bytes, not ``scatter``: when the worker holding
        it dies, Dask computes it again elsewhere, where a scattered value
        is lost with its dependents (and ``broadcast=True`` logs an "all"
        event holding WorkerState objects, which breaks this client's
        subscription to that topic).
        """
        from nbpipe.executors.dask_task import hold

        return self.client.submit(hold, data, key=f"nbpipe-{name}-{hashlib.sha1(data).hexdigest()}", pure=False)

    def _definition_args(self, definitions: list[Definition]) -> tuple:
        """``(key, bytes future, module, qualname, origin)`` of each definition, for ``run_payload``."""
        out = []
        for d in definitions:  # a tiny one (a class importable by name) costs less inline than as a key
            if len(d.blob) > _INLINE_BYTES and d.key not in self._scattered:
                self._scattered[d.key] = self._scatter(d.blob, "definition")
            out.append((d.key, self._scattered.get(d.key, d.blob), d.module, d.qualname, d.origin))
        return tuple(out)

    def cluster_task_locks(self):
        """On a cluster others may share: Dask's distributed locks, taken while another driver is connected.

        None on a cluster this executor started: then the driver's local
        file locks keep runs on this machine apart.
        """
        if not self.shares_a_cluster:
            return None
        from nbpipe.executors.dask_locks import ClusterRunRegistry, DaskTaskLocks

        self._locks = DaskTaskLocks(self.client, self.context.run_id)
        self._registry = ClusterRunRegistry(self.client, self.context.run_id, self._locks)
        return self._locks, self._registry

    def shutdown(self, kill: bool = False) -> list[str]:
        killed = [s.task.task_id for s in self._submitted.values()]
        self._unsent = []  # never sent: nothing to cancel
        client = self.client
        if client is not None:
            running = self._running_on_workers() if kill and self.shares_a_cluster else {}
            for key, submitted in self._submitted.items():
                if key not in running and submitted.future is not None:
                    submitted.future.cancel()
            self._submitted.clear()
            if running:
                # A worker thread cannot be stopped, and the cluster is not ours to restart:
                # these tasks run on, and the run keeps their locks until they end (wait_stopped).
                self._stragglers = running
                return killed
            self._close_client()
        if self.cluster is not None:
            self.cluster.close()  # its worker processes end, and the tasks in them
            self.cluster = None
        return killed

    def _running_on_workers(self) -> dict[str, _Submitted]:
        """The submitted tasks a worker of the (shared) cluster has started or queued."""
        try:
            processing = {key for keys in self.client.processing().values() for key in keys}
        except Exception:  # noqa: BLE001 - the scheduler is gone: nothing runs there any more
            return {}
        return {key: s for key, s in self._submitted.items() if key in processing}

    def _close_client(self) -> None:
        client = self.client
        if self._locks is not None:
            self._locks.close()  # while the scheduler can still hear it
        if self._registry is not None:
            self._registry.close()
        self._scattered.clear()  # the cluster may forget the definitions; workers keep what they loaded
        try:
            client.unsubscribe_topic(_progress_topic())
            client.unsubscribe_topic("all")
        except Exception:  # noqa: BLE001 - the scheduler may already be gone
            pass
        if self._own_client:
            client.close()
            self.client = None

    def still_running(self) -> list[str]:
        return [s.task.task_id for s in self._stragglers.values()]

    def wait_stopped(self, timeout: float | None) -> list[str]:
        """Each straggler's future ends when its worker finishes it; its done-callback feeds ``_finished``."""
        ended: list[str] = []
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._stragglers and not ended:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._finished.get(timeout=left)
            except queue.Empty:
                break
            submitted = self._stragglers.pop(getattr(item, "key", None), None)  # progress reports have no key
            if submitted is not None:
                ended.append(submitted.task.task_id)
        if ended and not self._stragglers:
            logger.info("the tasks still running on the Dask cluster when the run stopped have ended")
        return ended

    # -- running ----------------------------------------------------------

    def free_slots(self) -> int:
        return self._slots - len(self._submitted)

    def running(self) -> list[str]:
        return [s.task.task_id for s in self._submitted.values()]

    def submit(self, task: Task, deps: list | None = None) -> None:
        wanted = task.process_resources() or {}
        if any(name not in self._resources for name in wanted) and time.monotonic() - self._resources_at > 10:
            self._refresh_resources()  # the cluster may have grown
        dask_resources = {name: amount for name, amount in wanted.items() if name in self._resources}
        too_big = {n: a for n, a in dask_resources.items() if a > self._resources[n]}
        if too_big:
            name, amount = next(iter(too_big.items()))
            reason = (
                f"needs resource {name}={amount} but the largest Dask worker offers "
                f"{name}={self._resources[name]:g}; lower the task's resources or start a bigger worker"
            )
            self._immediate.append(Outcome(task.task_id, FAILED, 0.0, reason=reason, explanation=reason, kind="error"))
            return
        self._counter += 1
        key = f"nbpipe-{task.get_task_family()}-{_digest(task.task_id)}-{self._counter}"
        payload, keys = self._shipper.dumps((task, self.context, self.check_unfulfilled_deps))
        timeout = self.timeout_for(task)
        args = (
            self._sys_path,
            self._cwd,
            payload,
            self._log_level,
            key if timeout else None,
            task.task_id,
            str(task),
            self._definition_args(self._shipper.closure(keys)),
            self._config,
            key,
        )
        self._unsent.append((key, args, dask_resources or None, task.priority))
        # The clock of a timeout starts when a worker starts the task (it
        # reports it), not while the task waits in Dask's queue.
        self._submitted[key] = _Submitted(task, None, time.monotonic(), None, timeout, constrained=bool(dask_resources))

    def _send(self) -> None:
        """Send the tasks submitted since the last call: one graph update per kind of task, not one per task."""
        from nbpipe.executors.dask_task import run_payload

        if not self._unsent:
            return
        groups: dict[tuple, list[tuple[str, tuple]]] = {}
        for key, args, resources, priority in self._unsent:
            kind = (tuple(sorted(resources.items())) if resources else None, priority)
            groups.setdefault(kind, []).append((key, args))
        self._unsent = []
        for (resources, priority), items in groups.items():
            keys = [key for key, _ in items]
            futures = self.client.map(
                run_payload,
                *zip(*(args for _, args in items), strict=True),
                key=keys,
                pure=False,
                resources=dict(resources) if resources else None,
                priority=priority,
            )
            for key, future in zip(keys, futures, strict=True):
                self._submitted[key].future = future
                future.add_done_callback(self._finished.put)

    def wait(self, timeout: float | None) -> list[Outcome]:
        # Sent and not finished, that any worker can run (a task needing a resource may wait for its worker).
        queued = sum(1 for s in self._submitted.values() if s.future is not None and not s.constrained)
        if len(self._unsent) >= _SEND_AT_ONCE or queued < _KEEP_QUEUED * self.workers:
            # Each send costs the driver about as much as a few tasks' worth of results: while every
            # worker still has tasks queued, new ones wait to go together (they could not start sooner).
            self._send()
        if self._immediate:
            outcomes, self._immediate = self._immediate, []
            return outcomes
        end = None if timeout is None else time.monotonic() + timeout
        while self._submitted:
            now = time.monotonic()
            limit = end
            deadlines = [s.deadline for s in self._submitted.values() if s.deadline is not None]
            if deadlines:
                limit = min(deadlines) if limit is None else min(limit, min(deadlines))
            # Wake at least once a second to notice a lost scheduler.
            block = 1.0 if limit is None else max(0.0, min(1.0, limit - now))
            outcomes: list[Outcome] = []
            try:
                item = self._finished.get(timeout=block)
                while True:
                    outcome = self._collect(item)
                    if outcome is not None:
                        outcomes.append(outcome)
                    item = self._finished.get_nowait()
            except queue.Empty:
                pass
            now = time.monotonic()
            for key, submitted in list(self._submitted.items()):
                if submitted.deadline is not None and now >= submitted.deadline:
                    outcomes.append(self._time_out(key, submitted))
            if not outcomes and self.client.status not in ("running", "connecting"):
                outcomes = self._scheduler_lost()
            if outcomes or (end is not None and now >= end):
                return outcomes
        return []

    def _collect(self, item) -> Outcome | None:
        if isinstance(item, tuple) and item and item[0] is _PROGRESS:
            if item[2] == _OUTCOME:
                # The result pushed by the worker: the task is done without fetching it.
                # Its future's own completion, which may come first or later, is then ignored.
                key, data, output = item[3]
                return self._finish(key, data, output)
            if item[2] == _STARTED:
                submitted = self._submitted.get(item[3])
                if submitted is not None and submitted.timeout:
                    submitted.started = time.monotonic()
                    submitted.deadline = submitted.started + submitted.timeout
            elif self.on_progress is not None:
                self.on_progress(*item[1:])
            return None
        if isinstance(item, tuple) and item and item[0] is _WORKER_LOST:
            self._worker_lost(*item[1:])
            return None
        if item.status == "finished":
            if item.key not in self._submitted:
                return None  # its pushed result came first (the usual order)
            result = item.result()
            # None: the result was pushed as an event, which finishes the task when it arrives.
            return None if result is None else self._finish(item.key, *result)
        submitted = self._submitted.pop(item.key, None)
        if submitted is None:
            return None  # cancelled after a timeout, already reported
        task = submitted.task
        elapsed = time.monotonic() - submitted.started
        if submitted.interrupted:
            _remove_temp_files(task)
        if item.status == "cancelled":
            reason = "cancelled on the Dask cluster (by another client or a scheduler restart)"
            return Outcome(task.task_id, FAILED, elapsed, reason=reason, explanation=reason, kind="worker_died")
        exc = item.exception()
        if type(exc).__name__ == "KilledWorker":
            _remove_temp_files(task)
            reason = f"worker died: every Dask worker that ran it died ({one_line_error(exc)})"
            return Outcome(task.task_id, FAILED, elapsed, reason=reason, explanation=reason, kind="worker_died")
        reason = f"the Dask cluster could not run it: {one_line_error(exc)}"
        return Outcome(task.task_id, FAILED, elapsed, reason=reason, explanation=reason, kind="error", exception=exc)

    def _finish(self, key: str, data: bytes, output: str) -> Outcome | None:
        submitted = self._submitted.pop(key, None)
        if submitted is None:
            return None  # already finished by its pushed result, or timed out
        if submitted.interrupted:
            # An attempt died with its worker: remove what it left half-written.
            # The task's lock is still ours, so no other writer can be at work.
            _remove_temp_files(submitted.task)
        if output:
            _write_tagged(submitted.task, output)
        return cloudpickle.loads(data)

    def _time_out(self, key: str, submitted: _Submitted) -> Outcome:
        del self._submitted[key]
        worker = self._worker_running(key)  # before cancelling: then the scheduler forgets it
        if submitted.future is not None:
            submitted.future.cancel()
        if worker is not None:
            try:
                self.client.restart_workers([worker], raise_for_error=True)
            except Exception as exc:  # noqa: BLE001 - e.g. a worker without a nanny
                logger.warning(
                    "could not restart Dask worker %s to stop %s (%s); the task may finish there, "
                    "its outputs are written atomically",
                    worker,
                    submitted.task,
                    one_line_error(exc),
                )
        _remove_temp_files(submitted.task)
        reason = f"timed out after {submitted.timeout:g} s (worker_timeout); Dask worker restarted"
        return Outcome(
            submitted.task.task_id,
            FAILED,
            time.monotonic() - submitted.started,
            reason=reason,
            explanation=reason,
            kind="timeout",
            worker=f"dask-{worker}" if worker else "dask",
        )

    def _worker_running(self, key: str) -> str | None:
        try:
            processing = self.client.processing()
        except Exception:  # noqa: BLE001
            return None
        for worker, keys in processing.items():
            if key in keys:
                return worker
        return None

    def _worker_lost(self, worker: str, keys) -> None:
        for key in keys:
            submitted = self._submitted.get(key)
            if submitted is not None:
                submitted.interrupted = True
                logger.warning(
                    "Dask worker %s was lost while running %s; Dask runs it again elsewhere", worker, submitted.task
                )

    def _scheduler_lost(self) -> list[Outcome]:
        reason = f"lost the connection to the Dask scheduler ({self.client.status})"
        outcomes = [
            Outcome(
                s.task.task_id,
                FAILED,
                time.monotonic() - s.started,
                reason=reason,
                explanation=reason,
                kind="worker_died",
            )
            for s in self._submitted.values()
        ]
        self._submitted.clear()
        return outcomes

    # -- helpers ----------------------------------------------------------

    def _tasks_in_flight(self) -> int:
        """How many tasks to keep submitted.

        Each Dask round trip (submit, run, result) takes milliseconds, so
        with only ``workers`` tasks in flight the workers would idle between
        tasks; Dask queues extra ones in its scheduler and hands them out as
        threads free up.  That is only done when the cluster has no more
        threads than ``workers``: then still at most ``workers`` tasks run
        at once, as with every executor.
        """
        from nbpipe.configuration import option_value
        from nbpipe.options import DASK_TASKS_IN_FLIGHT_PER_WORKER

        threads = sum(w.get("nthreads", 1) for w in self.client.scheduler_info().get("workers", {}).values())
        if threads == 0 or threads > self.workers:
            return self.workers
        return self.workers * max(1, option_value(DASK_TASKS_IN_FLIGHT_PER_WORKER))

    def _refresh_resources(self) -> None:
        """The largest amount of each resource any worker offers."""
        offered: dict[str, float] = {}
        for worker in self.client.scheduler_info().get("workers", {}).values():
            for name, amount in (worker.get("resources") or {}).items():
                offered[name] = max(offered.get(name, 0.0), float(amount))
        self._resources = offered
        self._resources_at = time.monotonic()

    def _on_cluster_event(self, event) -> None:
        # Called on the client's event loop thread: hand over to wait().
        _, message = event
        if isinstance(message, dict) and message.get("action") == "remove-worker":
            keys = [k for k in message.get("processing-tasks", ()) if isinstance(k, str) and k.startswith("nbpipe-")]
            if keys:
                self._finished.put((_WORKER_LOST, message.get("worker", "?"), keys))

    def _on_progress_event(self, event) -> None:
        # Called on the client's event loop thread: hand over to wait().
        _, message = event
        run_id, task_id, kind, value = message
        if run_id == self.context.run_id:
            self._finished.put((_PROGRESS, task_id, kind, value))


def _progress_topic() -> str:
    from nbpipe.executors.dask_task import PROGRESS_TOPIC

    return PROGRESS_TOPIC


def _digest(task_id: str) -> str:
    return hashlib.sha1(task_id.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def _connect_timeout() -> float:
    from nbpipe.configuration import option_value
    from nbpipe.options import DASK_CONNECT_TIMEOUT

    return option_value(DASK_CONNECT_TIMEOUT)


def _write_tagged(task: Task, output: str) -> None:
    from nbpipe.executors.worker import _tag_for

    tag = _tag_for(task)
    text = "".join(f"{tag}{line}\n" for line in output.splitlines())
    stream = sys.stdout
    try:
        try:
            stream.write(text)
        except UnicodeEncodeError:
            # Text the driver's stream cannot encode (an ASCII terminal, a file name's stray
            # bytes): escaped, not the whole chunk lost.
            encoding = getattr(stream, "encoding", None) or "utf-8"
            stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        stream.flush()
    except Exception:  # noqa: BLE001 - a closed driver stream must not stop the run
        pass


def _remove_temp_files(task: Task) -> None:
    """Remove temporary files a dead attempt left beside the task's local outputs."""
    removed = remove_task_temp_files(task)
    if removed:
        logger.info("removed %d partial file(s) left by %s: %s", len(removed), task, ", ".join(removed))
