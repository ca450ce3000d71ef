"""Per-task "no double run" locks for runs on a Dask cluster.

Two drivers sharing one cluster may sit on different machines with different
state directories, so file locks cannot see each other; Dask's distributed
``Lock`` lives in the cluster's scheduler and can.  The interface is the part
of :class:`nbpipe.state.task_locks.TaskLocks` the run loop uses.

A lock's lease is kept alive by its driver's client; when a driver dies, the
scheduler drops its leases after ``distributed.scheduler.locks.lease-timeout``
(30 s by default), so a crashed run never blocks the others for good.

Two lock round trips per task cost more than running a small task, so a
driver alone on the cluster takes none: :class:`ClusterRunRegistry` is the
cluster's version of :class:`nbpipe.state.live_runs.RunRegistry`, with the
scheduler's named datasets as the folder of runs and a distributed lock per
run as the proof that its driver is alive.

A lock does not cover a task body a driver left running when it was killed
outright: nothing stops a worker thread, and the dead driver's leases lapse.
So each worker keeps the list of bodies it is running
(:func:`nbpipe.executors.dask_task.bodies_in_progress`); a driver asks every
worker for it when it starts, locks each task another run's body is still
running, and does not take that task's lock while a list at most
``BODIES_FRESH`` seconds old still shows that body.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

__all__ = ["DaskTaskLocks", "ClusterLockPolicy", "ClusterRunRegistry"]

logger = logging.getLogger("nbpipe")

RUN_PREFIX = "nbpipe-run-"
ACK_PREFIX = "nbpipe-ack-"
#: How old the list of bodies running on the workers may be when a lock is taken (seconds).
BODIES_FRESH = 1.0


class ClusterHolder:
    """Who holds a task's lock, as far as the scheduler tells: another driver."""

    def __init__(self, task_id: str, address: str):
        self.task_id = task_id
        self.address = address

    def describe(self, now: float | None = None) -> str:
        return f"another driver on the Dask cluster at {self.address}"


class BodyHolder:
    """A task body still running on a Dask worker for another run (perhaps of a driver that died)."""

    def __init__(self, task_id: str, run_id: str):
        self.task_id = task_id
        self.run_id = run_id

    def describe(self, now: float | None = None) -> str:
        return f"a task body of run {self.run_id} still running on the Dask cluster"


class DaskTaskLocks:
    """Task locks held in the Dask scheduler, named after the task id, and the bodies running elsewhere."""

    def __init__(self, client: Any, run_id: str = ""):
        self.client = client
        self.run_id = run_id
        self._held: dict[str, Any] = {}
        self._bodies_at = 0.0
        self.bodies_elsewhere: dict[str, str] = {}  # task id -> run id, as the workers last said
        self._refresh_bodies()

    def _refresh_bodies(self) -> None:
        from nbpipe.executors.dask_task import bodies_in_progress

        try:
            replies = self.client.run(bodies_in_progress, on_error="return")
        except Exception:  # noqa: BLE001 - a lost scheduler: the run itself reports it
            replies = {}
        found = {}
        for reply in replies.values():
            if isinstance(reply, list):  # an error for a worker without nbpipe: it runs none of our bodies
                found.update({task_id: run_id for run_id, task_id in reply if run_id != self.run_id})
        self.bodies_elsewhere = found
        self._bodies_at = time.monotonic()

    def body_elsewhere(self, task_id: str) -> BodyHolder | None:
        """The other run whose body of this task a fresh list of the workers' bodies shows, if any."""
        if time.monotonic() - self._bodies_at > BODIES_FRESH:
            self._refresh_bodies()
        run_id = self.bodies_elsewhere.get(task_id)
        return None if run_id is None else BodyHolder(task_id, run_id)

    @staticmethod
    def lock_name(task_id: str) -> str:
        digest = hashlib.sha256(task_id.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return f"nbpipe-task-{digest}"

    def try_acquire(self, task_id: str) -> ClusterHolder | None:
        """None when the lock is now ours; else who holds it."""
        if task_id in self._held:
            return None
        body = self.body_elsewhere(task_id)
        if body is not None:
            return body
        from distributed import Lock

        lock = Lock(self.lock_name(task_id), scheduler_rpc=self.client.scheduler, loop=self.client.loop)
        if lock.acquire(blocking=False):
            self._held[task_id] = lock
            return None
        _close(lock)
        return ClusterHolder(task_id, str(self.client.scheduler.address))

    def release(self, task_id: str) -> None:
        lock = self._held.pop(task_id, None)
        if lock is not None:
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - the lease already expired or the scheduler is gone
                pass
            _close(lock)

    def release_all(self) -> None:
        for task_id in list(self._held):
            self.release(task_id)

    def held(self) -> list[str]:
        return sorted(self._held)

    def close(self) -> None:
        self.release_all()


def _close(lock: Any) -> None:
    """Stop this lock object's lease refresher.

    Not ``Lock.close()``: that deletes the lock in the scheduler, leases of
    other drivers included, which would let a third driver in.  The
    scheduler keeps one small entry per task name instead.
    """
    refresher = getattr(lock, "refresh_callback", None)
    if refresher is not None:
        refresher.stop()


class ClusterLockPolicy:
    """Always lock: another driver on the cluster is invisible from here."""

    def needs_lock(self, task_id: str) -> bool:
        return True

    def finished(self, task_id: str) -> None:
        pass

    def close(self) -> None:
        pass


class ClusterRunRegistry:
    """Which nbpipe drivers share a Dask cluster, so a driver locks tasks only when it must.

    The protocol of :class:`nbpipe.state.live_runs.RunRegistry`, on the scheduler:

    1. Each driver holds the distributed lock ``nbpipe-run-<run id>`` for its
       whole run (its client keeps the lease; the scheduler drops it when
       the driver dies) and publishes a dataset of the same name.
    2. A driver that starts while others are live locks every task from the
       start, and before it dispatches anything waits until each live one
       has published ``nbpipe-ack-<newcomer>-<it>``.
    3. A driver's watcher thread, started before that wait, lists the datasets
       every ``poll`` seconds; on a driver it has not acknowledged it switches to locking, takes the locks of the tasks
       it is running, then publishes the acknowledgement.  Dispatching and
       switching share one mutex.

    The interface is the run loop's: ``needs_lock``, ``finished``, ``close``.
    """

    def __init__(self, client: Any, run_id: str, locks: DaskTaskLocks, poll: float = 0.2, ack_timeout: float = 30.0):
        from distributed import Lock

        self.client = client
        self.run_id = run_id
        self.locks = locks
        self.poll = poll
        self.mutex = threading.Lock()
        self.locking = False
        self.unlocked_running: set[str] = set()
        self._published: list[str] = []
        self._acked: set[str] = set()
        self._stop = threading.Event()
        self._alive = Lock(RUN_PREFIX + run_id, scheduler_rpc=client.scheduler, loop=client.loop)
        self._alive.acquire(blocking=False)
        self._publish(RUN_PREFIX + run_id)
        others = self._live_others()
        if others:
            self.locking = True
        # Watching starts before the wait: two drivers that start together each see the
        # other as older, and each must acknowledge the other for either wait to end.
        self._thread = threading.Thread(target=self._watch, name="nbpipe-cluster-runs", daemon=True)
        self._thread.start()
        if others:
            self._wait_for_acks(others, ack_timeout)

    # -- dispatch protocol (called by the run loop) ----------------------------------------------

    def needs_lock(self, task_id: str) -> bool:
        """True when the task must be locked before it runs; else it is recorded as running."""
        with self.mutex:
            if self.locking or task_id in self.locks.bodies_elsewhere:
                return True
            self.unlocked_running.add(task_id)
            return False

    def finished(self, task_id: str) -> None:
        with self.mutex:
            self.unlocked_running.discard(task_id)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for name in self._published:
            try:
                self.client.unpublish_dataset(name)
            except Exception:  # noqa: BLE001 - the scheduler may be gone; the lease then lapses
                pass
        self._published.clear()
        try:
            self._alive.release()
        except Exception:  # noqa: BLE001
            pass
        _close(self._alive)

    # -- other drivers ---------------------------------------------------------------------------

    def _publish(self, name: str) -> None:
        # The client id tells another driver at once whether this one is still connected
        # (the liveness lock's lease outlives a killed driver by 30 s).
        self.client.publish_dataset(**{name: {"time": time.time(), "client": self.client.id}}, override=True)
        self._published.append(name)

    def _connected_clients(self) -> set[str] | None:
        """Ids of the clients connected to the scheduler (None when it cannot tell)."""
        try:
            # A lambda travels by value: the scheduler need not have nbpipe installed.
            return set(self.client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.clients)))
        except Exception:  # noqa: BLE001 - then the liveness lock alone decides
            return None

    def _disconnected(self, name: str, connected: set[str] | None) -> bool:
        """True when the driver that published ``name`` is known to have lost its connection."""
        if connected is None:
            return False
        try:
            value = self.client.get_dataset(name)
        except Exception:  # noqa: BLE001 - gone meanwhile: nothing to wait for
            return True
        return isinstance(value, dict) and value.get("client") not in connected

    def _datasets(self) -> list[str]:
        return [str(name) for name in self.client.list_datasets()]

    def _live_others(self, names: list[str] | None = None) -> set[str]:
        """Run ids of the other drivers still connected with their liveness lock held (a dead one's entry goes)."""
        from distributed import Lock

        live = set()
        connected: set[str] | None = None
        for name in self._datasets() if names is None else names:
            if not name.startswith(RUN_PREFIX) or name == RUN_PREFIX + self.run_id:
                continue
            other = name[len(RUN_PREFIX) :]
            if other in self._acked:
                live.add(other)
                continue
            if connected is None:
                connected = self._connected_clients()
            probe = Lock(name, scheduler_rpc=self.client.scheduler, loop=self.client.loop)
            dead = self._disconnected(name, connected)
            if not dead and probe.acquire(blocking=False):  # its driver died without cleaning up
                probe.release()
                dead = True
            if dead:
                _close(probe)
                try:
                    self.client.unpublish_dataset(name)
                except Exception:  # noqa: BLE001 - another driver removed it first
                    pass
                continue
            _close(probe)
            live.add(other)
        return live

    def _wait_for_acks(self, others: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = set(others)
        while waiting and time.monotonic() < deadline:
            names = set(self._datasets())
            waiting = {o for o in waiting if RUN_PREFIX + o in names and f"{ACK_PREFIX}{self.run_id}-{o}" not in names}
            if waiting:
                time.sleep(self.poll / 4)
        if waiting:
            logger.warning(
                "nbpipe driver(s) %s on this Dask cluster did not acknowledge this run within %g s; "
                "running anyway with every task locked",
                ", ".join(sorted(waiting)),
                timeout,
            )

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                names = self._datasets()
            except Exception:  # noqa: BLE001 - a lost scheduler: the run itself reports it
                continue
            newcomers = {
                n[len(RUN_PREFIX) :]
                for n in names
                if n.startswith(RUN_PREFIX)
                and n != RUN_PREFIX + self.run_id
                and n[len(RUN_PREFIX) :] not in self._acked
            }
            if not newcomers:
                continue
            with self.mutex:
                if not self.locking:
                    self.locking = True
                    for task_id in sorted(self.unlocked_running):
                        if self.locks.try_acquire(task_id) is not None:
                            logger.warning("%s is running here but another driver holds its lock", task_id)
                    self.unlocked_running.clear()
            for other in sorted(newcomers):
                try:
                    self._publish(f"{ACK_PREFIX}{other}-{self.run_id}")
                except Exception:  # noqa: BLE001
                    continue
                self._acked.add(other)
