"""Two lock domains as one: this machine's file locks and a shared cluster's locks.

A run on a Dask cluster that other drivers share takes the cluster's locks
(other drivers may be on other machines); a run here with local executors
takes file locks in the state directory.  A task must be kept from running
twice by either kind of neighbour, so a shared-cluster run takes both: the
file lock first, then the cluster's, giving the first back when the second
is held elsewhere.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PairedLocks", "PairedPolicy"]


class PairedLocks:
    """``try_acquire`` / ``release`` / ``close`` over two lock objects of the run loop's shape."""

    def __init__(self, local: Any, cluster: Any):
        self.local = local
        self.cluster = cluster

    def try_acquire(self, task_id: str) -> Any:
        holder = self.local.try_acquire(task_id)
        if holder is not None:
            return holder
        holder = self.cluster.try_acquire(task_id)
        if holder is not None:
            self.local.release(task_id)
        return holder

    def release(self, task_id: str) -> None:
        self.cluster.release(task_id)
        self.local.release(task_id)

    def close(self) -> None:
        self.cluster.close()
        self.local.close()


class PairedPolicy:
    """A task needs its locks when either domain has another run that could start it."""

    def __init__(self, local: Any, cluster: Any):
        self.local = local
        self.cluster = cluster

    def needs_lock(self, task_id: str) -> bool:
        local = self.local.needs_lock(task_id)  # both asked: each records what runs unlocked
        return self.cluster.needs_lock(task_id) or local

    def finished(self, task_id: str) -> None:
        self.cluster.finished(task_id)
        self.local.finished(task_id)

    def close(self) -> None:
        self.cluster.close()
        self.local.close()
