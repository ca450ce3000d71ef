"""Luigi's ``luigi.scheduler``: :class:`Scheduler`, the table of tasks that :class:`~nbpipe.worker.Worker` objects share.

Luigi's protocol, kept here in memory and in one process: a worker reports
each task it finds with :meth:`Scheduler.add_task` (status, dependencies,
priority, resources), then asks for work with :meth:`Scheduler.get_work`,
which hands out the highest-priority PENDING task whose dependencies are
DONE and whose resources are free, marks it RUNNING for that worker, and
lists the tasks other workers are running.  The worker reports the end of
each task with ``add_task`` again.  A FAILED task is PENDING again after
``retry_delay`` seconds (checked by :meth:`prune`), and DISABLED after
``retry_count`` failures within ``disable_window`` seconds, for
``disable_persist`` seconds.

nbpipe's own runs (``nbpipe.build``, ``nbpipe run``, the magics) are
scheduled by :mod:`nbpipe.engine.scheduling` and never come here; this
table serves Luigi code that drives a :class:`~nbpipe.worker.Worker`.
Several workers (threads) may share one scheduler; every method holds the
scheduler's lock.  There is no server: ``RemoteScheduler`` is in
:mod:`nbpipe.rpc`, and says so.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from nbpipe.scheduler_records import (
    _UPSTREAM_OF_STATUS,
    _UPSTREAM_SEVERITY,
    BATCH_RUNNING,
    DISABLED,
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    STATUSES,
    SUSPENDED,
    UNKNOWN,
    UPSTREAM_DISABLED,
    UPSTREAM_MISSING_INPUT,
    RunningTaskMessages,
    TableView,
    TaskRecord,
    WorkerRecord,
    scheduler,
)

__all__ = [
    "Scheduler",
    "scheduler",
    "PENDING",
    "RUNNING",
    "DONE",
    "FAILED",
    "DISABLED",
    "UNKNOWN",
    "BATCH_RUNNING",
    "SUSPENDED",
]


class Scheduler(RunningTaskMessages):
    """Luigi's local scheduler: ``add_task``, ``get_work``, ``count_pending``, ``task_list``, ``prune`` and friends.

    ``config`` is a :class:`scheduler` (default: one read from the
    ``[scheduler]`` section); keywords override its options, as Luigi's
    ``Scheduler(retry_delay=..., remove_delay=...)`` does.  ``resources``
    are the capacities (a resource nobody declared has capacity 1).
    """

    def __init__(self, config: Any = None, resources: dict[str, int] | None = None, **kwargs: Any) -> None:
        self._config = config or scheduler(**kwargs)
        self._resources: dict[str, int] = dict(resources or {})
        self._tasks: dict[str, TaskRecord] = {}
        self._workers: dict[str, WorkerRecord] = {}
        self._paused = False
        self._batchers: dict[tuple[str, str], tuple[list[str], float]] = {}
        self._rpc_messages: dict[str, list[dict[str, Any]]] = {}
        self._message_responses: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()
        self._state = TableView(self)

    # -- workers -----------------------------------------------------------------------------------------------------

    def _update_worker(self, worker_id: str, reference: Any = None, get_work: bool = False) -> WorkerRecord:
        worker = self._workers.get(worker_id)
        if worker is None:
            worker = self._workers[worker_id] = WorkerRecord(worker_id)
        worker.last_active = time.time()
        if get_work:
            worker.last_get_work = time.time()
        if reference is not None:
            worker.reference = reference
        return worker

    def add_worker(self, worker: str, info: Any, **kwargs: Any) -> None:
        with self._lock:
            self._update_worker(worker).info.update(dict(info))

    def disable_worker(self, worker: str) -> None:
        with self._lock:
            self._update_worker(worker).disabled = True

    def ping(self, **kwargs: Any) -> dict[str, list]:
        """A worker's keep-alive; answers the messages waiting for it (and forgets them)."""
        with self._lock:
            self._update_worker(kwargs["worker"])
            messages, self._rpc_messages[kwargs["worker"]] = self._rpc_messages.get(kwargs["worker"], []), []
        return {"rpc_messages": messages}

    def worker_list(self, include_running: bool = True, **kwargs: Any) -> list[dict[str, Any]]:
        with self._lock:
            out = []
            for worker in self._workers.values():
                running = [t for t in self._tasks.values() if t.status == RUNNING and t.worker_running == worker.id]
                entry = {
                    "name": worker.id,
                    "last_active": worker.last_active,
                    "started": worker.started,
                    "state": worker.state,
                    "first_task": None,
                    "num_pending": sum(
                        1 for t in self._tasks.values() if t.status == PENDING and worker.id in t.workers
                    ),
                    "num_uniques": sum(
                        1 for t in self._tasks.values() if t.status == PENDING and list(t.workers) == [worker.id]
                    ),
                    "num_running": len(running),
                    **worker.info,
                }
                if include_running:
                    entry["running"] = {t.id: self._serialize(t) for t in running}
                out.append(entry)
            out.sort(key=lambda w: w["started"], reverse=True)
            return out

    # -- tasks -------------------------------------------------------------------------------------------------------

    def add_task(
        self,
        task_id: str | None = None,
        status: str = PENDING,
        runnable: bool | None = True,
        deps: Any = None,
        new_deps: Any = None,
        expl: Any = None,
        resources: dict[str, int] | None = None,
        priority: float = 0,
        family: str = "",
        module: str | None = None,
        params: dict | None = None,
        param_visibilities: dict | None = None,
        accepts_messages: bool = False,
        assistant: bool = False,
        tracking_url: str | None = None,
        worker: str | None = None,
        batchable: bool | None = None,
        batch_id: str | None = None,
        retry_policy_dict: dict | None = None,
        owners: Any = None,
        **kwargs: Any,
    ) -> None:
        """Add ``task_id`` if new; update its status, dependencies, resources, priority and stakeholders.

        A task RUNNING on one worker keeps its state against other workers'
        reports: only the worker running it (or new dependencies) changes it.
        """
        if worker is None:
            raise ValueError("add_task() needs worker=: the id of the worker reporting the task")
        if status not in STATUSES:
            raise ValueError(f"add_task(status={status!r}): choose one of {', '.join(STATUSES)}")
        with self._lock:
            state = self._update_worker(worker)
            task = self._tasks.get(task_id or "")
            if task is None:
                if state.disabled:
                    return
                task = self._tasks[task_id or ""] = TaskRecord(task_id or "", PENDING, deps, priority, family, params)
            elif task.status != RUNNING and state.disabled:
                return
            if status == PENDING and task.status == DONE:
                if time.time() - task.updated < self._config.stable_done_cooldown_secs:
                    return  # it was done moments ago: a worker's stale view
            if not task.family:
                task.family = family
            if not task.module:
                task.module = module
            if not task.param_visibilities:
                task.param_visibilities = dict(param_visibilities or {})
            if not task.params:
                task.params = dict(params or {})
            if batch_id is not None:
                task.batch_id = batch_id
            if status == RUNNING and not task.worker_running:
                task.worker_running = worker
                if batch_id:
                    first = self._batch_running(batch_id)
                    task.resources_running = dict(first[0].resources_running) if first else {}
                task.time_running = time.time()
            task.accepts_messages = bool(accepts_messages)
            if tracking_url is not None or task.status != RUNNING:
                task.tracking_url = tracking_url
            if batchable is not None:
                task.batchable = batchable
            task.remove = None
            if expl is not None:
                task.expl = expl
                if task.batch_id is not None:
                    for member in self._batch_running(task.batch_id):
                        member.expl = expl
            not_running = task.status not in (RUNNING, BATCH_RUNNING)
            finished_here = status in (DONE, FAILED, RUNNING) and task.worker_running == worker
            if not_running or finished_here or new_deps:
                self._set_status(task, PENDING if status == SUSPENDED else status)
            if deps is not None:
                task.deps = set(deps)
            if new_deps is not None:
                task.deps.update(new_deps)
            if resources is not None:
                task.resources = dict(resources)
            if not state.disabled and not assistant:
                task.stakeholders.add(worker)
                for dep in task.deps:
                    dep_task = self._tasks.get(dep)
                    if dep_task is None:
                        dep_task = self._tasks[dep] = TaskRecord(dep, UNKNOWN, None, priority, "", None)
                    dep_task.stakeholders.add(worker)
            self._update_priority(task, priority)
            policy = retry_policy_dict or {}
            task.retry_policy = (
                policy.get("retry_count") or self._config.retry_count,
                policy.get("disable_hard_timeout") or self._config.disable_hard_timeout,
                policy.get("disable_window") or self._config.disable_window,
            )
            if runnable and status != FAILED and not state.disabled:
                task.workers.pop(worker, None)
                task.workers[worker] = None
                state.tasks.add(task.id)
                task.runnable = True

    def _update_priority(self, task: TaskRecord, priority: float) -> None:
        """Raise ``task`` and everything it needs to at least ``priority`` (a task is as urgent as what waits on it)."""
        stack = [task]
        while stack:
            current = stack.pop()
            if current.priority >= priority and current is not task:
                continue
            current.priority = max(current.priority, priority)
            stack.extend(self._tasks[d] for d in current.deps if d in self._tasks)

    def _set_status(self, task: TaskRecord, status: str) -> None:
        if status == DISABLED and task.status in (RUNNING, BATCH_RUNNING):
            return
        if task.status == DISABLED:
            if status == DONE:
                self._re_enable(task)
            elif task.scheduler_disable_time is not None and status != DISABLED:
                return  # workers cannot override the scheduler's disable
        if task.status == RUNNING and task.batch_id is not None and status != RUNNING:
            # A batch ends as one: every task it ran for gets its outcome.
            for member in self._batch_running(task.batch_id):
                member.batch_id = None
                self._set_status(member, status)
            task.batch_id = None
        if status == FAILED and task.status != DISABLED:
            task.add_failure()
            if task.has_excessive_failures():
                task.scheduler_disable_time = time.time()
                status = DISABLED
        elif status == DISABLED:
            task.scheduler_disable_time = None
        if status != task.status:
            task.status = status
            task.updated = time.time()
        if status != RUNNING:
            task.worker_running = None
            task.resources_running = {}
        if status == FAILED:
            task.retry = time.time() + self._config.retry_delay

    def _re_enable(self, task: TaskRecord) -> None:
        task.scheduler_disable_time = None
        task.clear_failures()
        task.status = FAILED
        task.retry = 0.0

    def re_enable_task(self, task_id: str) -> dict:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is not None and task.status == DISABLED and task.scheduler_disable_time:
                self._re_enable(task)
                return self._serialize(task)
            return {}

    def announce_scheduling_failure(self, **kwargs: Any) -> None:
        """Luigi batches scheduling-failure e-mails here; nbpipe sends no e-mail."""

    def add_task_batcher(self, worker: str, task_family: str, batched_args: Any, max_batch_size: Any = None) -> None:
        """``worker`` runs tasks of ``task_family`` in batches: ``batched_args`` combined, at most ``max_batch_size``."""
        with self._lock:
            size = float("inf") if max_batch_size is None else max_batch_size
            self._batchers[(worker, task_family)] = (list(batched_args), size)

    def _batch_running(self, batch_id: str) -> list[TaskRecord]:
        return [t for t in self._tasks.values() if t.status == BATCH_RUNNING and t.batch_id == batch_id]

    def _batch_with(self, best: TaskRecord, worker: str, ranked: list[TaskRecord]) -> list[TaskRecord]:
        """The tasks to run with ``best`` as one batch: same family, same unbatched parameters and resources."""
        batcher = self._batchers.get((worker, best.family))
        if batcher is None or not best.batchable:
            return [best]
        names, size = batcher
        if any(name not in best.params for name in names):
            return [best]
        fixed = {k: v for k, v in best.params.items() if k not in names}
        batch = [best]
        for task in ranked:
            if len(batch) >= size:
                break
            if (
                task is not best
                and task.family == best.family
                and task.batchable
                and worker in task.workers
                and all(task.params.get(k) == v for k, v in fixed.items())
                and task.resources == best.resources
                and self._schedulable(task)
            ):
                batch.append(task)
        return batch

    def update_resources(self, **resources: int) -> bool:
        with self._lock:
            self._resources.update(resources)
        return True

    def prune(self) -> None:
        """Forget workers gone quiet, retry FAILED tasks whose delay passed, re-enable expired disables,
        and remove tasks no active worker has wanted for ``remove_delay`` seconds."""
        with self._lock:
            now = time.time()
            limit = now - self._config.worker_disconnect_delay
            for worker_id in [w for w, s in self._workers.items() if s.last_active < limit]:
                del self._workers[worker_id]
                for task in self._tasks.values():
                    if task.status == RUNNING and task.worker_running == worker_id:
                        self._set_status(task, FAILED)  # its worker is gone
            active = set(self._workers)
            for task_id, task in list(self._tasks.items()):
                if not task.stakeholders & active and task.remove is None:
                    task.remove = now + self._config.remove_delay
                if task.status == DISABLED and task.scheduler_disable_time is not None:
                    if now - task.scheduler_disable_time > self._config.disable_persist:
                        self._re_enable(task)
                if task.remove is not None and now > task.remove:
                    del self._tasks[task_id]
                    continue
                if task.status == FAILED and self._config.retry_delay >= 0 and task.retry < now:
                    self._set_status(task, PENDING)

    # -- handing out work --------------------------------------------------------------------------------------------

    def _schedulable(self, task: TaskRecord) -> bool:
        if task.status != PENDING:
            return False
        return all(d in self._tasks and self._tasks[d].status == DONE for d in task.deps)

    def _has_resources(self, needed: dict[str, int], used: dict[str, int]) -> bool:
        return all(amount + used.get(name, 0) <= self._resources.get(name, 1) for name, amount in needed.items())

    def _used_resources(self) -> dict[str, int]:
        used: dict[str, int] = {}
        for task in self._tasks.values():
            if task.status == RUNNING:
                for name, amount in (task.resources_running or task.resources).items():
                    used[name] = used.get(name, 0) + amount
        return used

    def count_pending(self, worker: str) -> dict[str, Any]:
        """How many tasks wait for ``worker`` (Luigi's counts) and which of its tasks other workers are running."""
        with self._lock:
            state = self._update_worker(worker)
            running_tasks = []
            n_pending = n_unique = n_last = 0
            for task in self._tasks.values():
                if worker not in task.workers:
                    continue
                if task.status == RUNNING and task.worker_running is not None:
                    other = self._workers.get(task.worker_running)
                    info = {"task_id": task.id, "worker": str(other or task.worker_running)}
                    info.update(other.info if other is not None else {})
                    running_tasks.append(info)
                elif task.status in (PENDING, FAILED):
                    if self._upstream_status(task.id, {}) == UPSTREAM_DISABLED:
                        continue
                    n_pending += 1
                    n_unique += int(len(task.workers) == 1)
                    n_last += int(next(reversed(task.workers)) == worker)
            return {
                "n_pending_tasks": n_pending,
                "n_unique_pending": n_unique,
                "n_pending_last_scheduled": n_last,
                "worker_state": state.state,
                "running_tasks": running_tasks,
            }

    def get_work(
        self,
        host: str | None = None,
        assistant: bool = False,
        current_tasks: Any = None,
        worker: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Give ``worker`` the best task it can run now, marked RUNNING (``task_id`` None when there is none).

        Best: highest priority, then the earliest added; ready: PENDING with
        every dependency DONE and its resources free.  A task this worker
        was given but does not list in ``current_tasks`` is given again.
        """
        if self._config.prune_on_get_work:
            self.prune()
        if worker is None:
            raise ValueError("get_work() needs worker=: the id of the worker asking")
        with self._lock:
            state = self._update_worker(worker, reference={"host": host}, get_work=True)
            if state.disabled:
                return {
                    "n_pending_tasks": 0,
                    "running_tasks": [],
                    "task_id": None,
                    "n_unique_pending": 0,
                    "worker_state": state.state,
                }
            if assistant:
                state.info["assistant"] = assistant
            ranked = sorted(self._tasks.values(), key=lambda t: (-t.priority, t.rank))
            best = None
            batch: list[TaskRecord] = []
            if current_tasks is not None:
                given = set(current_tasks)
                for task in ranked:
                    if task.status == RUNNING and task.worker_running == worker and task.id not in given:
                        best = task
                        break
                # Batched tasks not claimed since the last get_work go back to the pool.
                running_batches = {t.batch_id for t in self._tasks.values() if t.status == RUNNING}
                for task in self._tasks.values():
                    if task.status == BATCH_RUNNING and task.worker_running == worker:
                        if task.batch_id not in running_batches:
                            task.status, task.batch_id, task.worker_running = PENDING, None, None
            if best is None and not self._paused:
                used = self._used_resources()
                for task in ranked:
                    if not self._schedulable(task):
                        continue
                    mine = (assistant and task.runnable) or worker in task.workers
                    if mine and self._has_resources(task.resources, used):
                        best = task
                        batch = self._batch_with(task, worker, ranked)
                        break
            reply = self.count_pending(worker)
            if len(batch) > 1 and best is not None:
                ids = [t.id for t in batch]
                batch_id = hashlib.md5("|".join(ids).encode("utf-8"), usedforsecurity=False).hexdigest()
                names = self._batchers[(worker, best.family)][0]
                params = dict(best.params)
                params.update({name: [t.params.get(name) for t in batch] for name in names})
                for task in batch:
                    task.status, task.batch_id, task.worker_running = BATCH_RUNNING, batch_id, worker
                    task.updated = time.time()
                reply.update(
                    task_id=None,
                    task_family=best.family,
                    task_module=best.module,
                    task_params=params,
                    batch_id=batch_id,
                    batch_task_ids=ids,
                )
            elif best is not None:
                self._set_status(best, RUNNING)
                best.worker_running = worker
                best.resources_running = dict(best.resources)
                best.time_running = time.time()
                reply.update(task_id=best.id, task_family=best.family, task_module=best.module, task_params=best.params)
            else:
                reply["task_id"] = None
            return reply

    # -- reading the table -------------------------------------------------------------------------------------------

    def _upstream_status(self, task_id: str, memo: dict[str, str]) -> str:
        """The most severe state upstream of ``task_id``: UPSTREAM_DISABLED, _FAILED, _MISSING_INPUT, _RUNNING or ''."""
        if task_id in memo:
            return memo[task_id]
        memo[task_id] = ""  # a cycle reads as nothing upstream
        task = self._tasks.get(task_id)
        worst = ""
        for dep_id in task.deps if task is not None else ():
            dep = self._tasks.get(dep_id)
            if dep is None:
                continue
            if dep.status in _UPSTREAM_OF_STATUS:
                found = _UPSTREAM_OF_STATUS[dep.status]
            elif dep.status == PENDING and not dep.workers:
                found = UPSTREAM_MISSING_INPUT
            else:
                found = self._upstream_status(dep_id, memo)
            if _UPSTREAM_SEVERITY.index(found) > _UPSTREAM_SEVERITY.index(worst):
                worst = found
        memo[task_id] = worst
        return worst

    def _serialize(self, task: TaskRecord) -> dict[str, Any]:
        out = {
            "display_name": task.pretty_id(),
            "deps": sorted(task.deps),
            "status": task.status,
            "workers": list(task.workers),
            "worker_running": task.worker_running,
            "time_running": task.time_running,
            "start_time": task.time,
            "last_updated": task.updated,
            "params": dict(task.params),
            "name": task.family,
            "priority": task.priority,
            "resources": dict(task.resources),
            "resources_running": dict(task.resources_running),
            "tracking_url": task.tracking_url,
            "status_message": task.status_message,
            "progress_percentage": task.progress_percentage,
        }
        if task.status == DISABLED:
            out["re_enable_able"] = task.scheduler_disable_time is not None
        return out

    def task_list(
        self,
        status: str = "",
        upstream_status: str = "",
        limit: bool = True,
        search: str | None = None,
        max_shown_tasks: int | None = None,
        **kwargs: Any,
    ) -> dict:
        """Tasks by id, each serialised as Luigi does; filtered by ``status``, ``upstream_status`` and ``search``
        (every word must be in the id).  Over ``max_shown_tasks`` with ``limit``: ``{"num_tasks": n}``."""
        with self._lock:
            memo: dict[str, str] = {}
            terms = search.split() if search else []
            chosen = [
                t
                for t in self._tasks.values()
                if (not status or t.status == status)
                and all(term in t.id for term in terms)
                and (
                    not upstream_status
                    or (t.status == PENDING and self._upstream_status(t.id, memo) == upstream_status)
                )
            ]
            most = max_shown_tasks or self._config.max_shown_tasks
            if limit and len(chosen) > most:
                return {"num_tasks": len(chosen)}
            return {t.id: self._serialize(t) for t in chosen}

    def resource_list(self) -> dict[str, Any]:
        with self._lock:
            used = self._used_resources()
            return {name: {"total": total, "used": used.get(name, 0)} for name, total in self._resources.items()}

    def resources(self) -> dict[str, int]:
        return dict(self._resources)

    def fetch_error(self, task_id: str, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                return {"taskId": task_id, "error": "", "displayName": "", "taskParams": {}, "taskFamily": ""}
            return {
                "taskId": task_id,
                "error": task.expl,
                "displayName": task.pretty_id(),
                "taskParams": task.params,
                "taskFamily": task.family,
            }
