"""Luigi's ``luigi.scheduler``: ``Scheduler``, the table of tasks a :class:`~nbpipe.worker.Worker` reports to.

nbpipe has no central scheduler: what is ready is decided inside each run
by :mod:`nbpipe.engine.scheduling`.  This face keeps Luigi's API for code
that constructs a scheduler and reads it back: it accepts Luigi's
constructor keywords (``remove_delay``, ``retry_delay``, ``disable_window``,
``prune_on_get_work``, ...; stored, most without effect), records every task
a worker reports with :meth:`add_task` (a worker reports each task of its
run with its final state), and answers :meth:`task_list`, :meth:`get_work`
(the next PENDING task whose dependencies are DONE) and :meth:`prune`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Scheduler", "PENDING", "RUNNING", "DONE", "FAILED", "DISABLED", "UNKNOWN", "BATCH_RUNNING"]

PENDING = "PENDING"
RUNNING = "RUNNING"
DONE = "DONE"
FAILED = "FAILED"
DISABLED = "DISABLED"
UNKNOWN = "UNKNOWN"
BATCH_RUNNING = "BATCH_RUNNING"
STATUSES = (PENDING, RUNNING, DONE, FAILED, DISABLED, UNKNOWN, BATCH_RUNNING)


class Scheduler:
    """An in-memory table of tasks by id, as Luigi's local scheduler shows them.

    ``config`` holds Luigi's constructor keywords as given.
    """

    def __init__(self, config: Any = None, resources: dict[str, int] | None = None, **kwargs: Any) -> None:
        self.config = dict(kwargs)
        self._resources = dict(resources or {})
        self._tasks: dict[str, dict[str, Any]] = {}
        self._workers: dict[str, dict[str, Any]] = {}

    def add_task(
        self,
        task_id: str | None = None,
        status: str = PENDING,
        deps: Any = None,
        worker: str | None = None,
        family: str = "",
        params: dict | None = None,
        **kwargs: Any,
    ) -> None:
        """Record or update ``task_id``: its status, dependencies, family and parameters (Luigi's keywords)."""
        if status not in STATUSES:
            raise ValueError(f"add_task(status={status!r}): choose one of {', '.join(STATUSES)}")
        entry = self._tasks.setdefault(
            task_id or "", {"status": PENDING, "deps": set(), "workers": set(), "name": family, "params": {}}
        )
        entry["status"] = status
        if deps is not None:
            entry["deps"] = set(deps)
        if worker is not None:
            entry["workers"].add(worker)
            self._workers.setdefault(worker, {})
        if family:
            entry["name"] = family
        if params is not None:
            entry["params"] = dict(params)
        for key in ("priority", "resources", "retry_policy_dict", "tracking_url", "expl", "runnable"):
            if key in kwargs:
                entry[key] = kwargs[key]

    def add_worker(self, worker: str, info: Any) -> None:
        self._workers.setdefault(worker, {})["info"] = info

    def update_resources(self, **resources: int) -> None:
        self._resources.update(resources)

    def ping(self, **kwargs: Any) -> None:
        """Workers' keep-alive; nothing expires here."""

    def prune(self) -> None:
        """Forget DONE tasks no worker needs any more (Luigi prunes after ``remove_delay``; nothing waits here)."""
        wanted = {dep for entry in self._tasks.values() if entry["status"] != DONE for dep in entry["deps"]}
        for task_id in [t for t, e in self._tasks.items() if e["status"] == DONE and t not in wanted]:
            del self._tasks[task_id]

    def get_work(self, worker: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """The next PENDING task whose dependencies are all DONE (``task_id`` None when there is none)."""
        pending = [t for t, e in self._tasks.items() if e["status"] == PENDING]
        ready = [
            t for t in pending if all(self._tasks.get(d, {}).get("status") == DONE for d in self._tasks[t]["deps"])
        ]
        chosen = min(ready, key=lambda t: (-self._tasks[t].get("priority", 0), t)) if ready else None
        return {
            "n_pending_tasks": len(pending),
            "n_unique_pending": len(pending),
            "n_pending_last_scheduled": len(pending),
            "running_tasks": [],
            "worker_state": "active",
            "task_id": chosen,
            "task_family": self._tasks[chosen]["name"] if chosen else None,
            "task_params": self._tasks[chosen]["params"] if chosen else None,
        }

    def count_pending(self, worker: str) -> dict[str, int]:
        pending = [e for e in self._tasks.values() if e["status"] == PENDING and worker in e["workers"]]
        return {"n_pending_tasks": len(pending), "n_unique_pending": len(pending), "n_pending_last_scheduled": 0}

    def task_list(
        self, status: str = "", upstream_status: str = "", limit: bool = True, search: str | None = None, **kwargs: Any
    ) -> dict:
        """Tasks by id (filtered by ``status`` and ``search``), each as a dict with ``status``, ``deps``, ``name``, ``params``."""
        out = {}
        for task_id, entry in self._tasks.items():
            if status and entry["status"] != status:
                continue
            if search and not all(term in task_id for term in search.split()):
                continue
            out[task_id] = {**entry, "deps": sorted(entry["deps"]), "workers": sorted(entry["workers"])}
        return out

    def worker_list(self, **kwargs: Any) -> list[dict[str, Any]]:
        return [{"name": name, **info} for name, info in self._workers.items()]

    def resource_list(self) -> dict[str, Any]:
        return {name: {"total": total, "used": 0} for name, total in self._resources.items()}
