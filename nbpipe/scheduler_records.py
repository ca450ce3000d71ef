"""The records behind :class:`nbpipe.scheduler.Scheduler`: Luigi's statuses, its ``[scheduler]`` options, and
one record per task and per worker.  Kept apart so the scheduler module holds the protocol only."""

from __future__ import annotations

import itertools
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from nbpipe.parameter import BoolParameter, FloatParameter, IntParameter, Parameter
from nbpipe.task import Config
from nbpipe.task_status import BATCH_RUNNING, DISABLED, DONE, FAILED, PENDING, RUNNING, SUSPENDED, UNKNOWN

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.scheduler import Scheduler

STATUSES = (PENDING, RUNNING, DONE, FAILED, DISABLED, UNKNOWN, BATCH_RUNNING, SUSPENDED)

UPSTREAM_RUNNING = "UPSTREAM_RUNNING"
UPSTREAM_MISSING_INPUT = "UPSTREAM_MISSING_INPUT"
UPSTREAM_FAILED = "UPSTREAM_FAILED"
UPSTREAM_DISABLED = "UPSTREAM_DISABLED"
_UPSTREAM_SEVERITY = ("", UPSTREAM_RUNNING, UPSTREAM_MISSING_INPUT, UPSTREAM_FAILED, UPSTREAM_DISABLED)
_UPSTREAM_OF_STATUS = {FAILED: UPSTREAM_FAILED, DISABLED: UPSTREAM_DISABLED, RUNNING: UPSTREAM_RUNNING}

WORKER_STATE_ACTIVE = "active"
WORKER_STATE_DISABLED = "disabled"


class scheduler(Config):
    """``[scheduler]``: Luigi's scheduler options (``--scheduler-retry-delay 0`` on a command line)."""

    _visible_in_registry = False  # an engine section, not a task to run
    _options_on_command_line = True  # --section-option, as Luigi's command line takes them
    retry_delay = FloatParameter(default=900.0)
    remove_delay = FloatParameter(default=600.0)
    worker_disconnect_delay = FloatParameter(default=60.0)
    state_path = Parameter(default="")
    batch_emails = BoolParameter(default=False)
    disable_window = IntParameter(default=3600)
    retry_count = IntParameter(default=999999999)
    disable_hard_timeout = IntParameter(default=999999999)
    disable_persist = IntParameter(default=86400)
    max_shown_tasks = IntParameter(default=100000)
    max_graph_nodes = IntParameter(default=100000)
    record_task_history = BoolParameter(default=False)
    prune_on_get_work = BoolParameter(default=False)
    pause_enabled = BoolParameter(default=True)
    send_messages = BoolParameter(default=True)
    stable_done_cooldown_secs = IntParameter(default=10)


class TaskRecord:
    """One task as the scheduler knows it (Luigi's ``scheduler.Task``)."""

    _order = itertools.count()

    def __init__(self, task_id: str, status: str, deps: Any, priority: float, family: str, params: dict | None):
        self.id = task_id
        self.status = status
        self.deps: set[str] = set(deps or ())
        self.stakeholders: set[str] = set()
        self.workers: dict[str, None] = {}  # ordered: the last one scheduled it last
        self.worker_running: str | None = None
        self.time_running: float | None = None
        self.priority = priority
        self.resources: dict[str, int] = {}
        self.resources_running: dict[str, int] = {}
        self.family = family
        self.module: str | None = None
        self.params: dict = dict(params or {})
        self.param_visibilities: dict = {}
        self.expl: Any = None
        self.runnable = False
        self.retry_policy = (999999999, 999999999, 3600)  # retry_count, disable_hard_timeout, disable_window
        self.failures: deque[float] = deque()
        self.first_failure_time: float | None = None
        self.scheduler_disable_time: float | None = None
        self.retry = 0.0
        self.remove: float | None = None
        self.updated = time.time()
        self.time = time.time()
        self.rank = next(self._order)
        self.tracking_url: str | None = None
        self.status_message: str | None = None
        self.progress_percentage: float | None = None
        self.batchable = False
        self.batch_id: str | None = None
        self.accepts_messages = False

    def add_failure(self) -> None:
        now = time.time()
        if self.first_failure_time is None:
            self.first_failure_time = now
        self.failures.append(now)

    def has_excessive_failures(self) -> bool:
        retry_count, hard_timeout, window = self.retry_policy
        now = time.time()
        if self.first_failure_time is not None and now >= self.first_failure_time + hard_timeout:
            return True
        while self.failures and self.failures[0] < now - window:
            self.failures.popleft()
        return len(self.failures) >= retry_count

    def num_failures(self) -> int:
        """Failures within the disable window (Luigi's count toward ``retry_count``)."""
        window = self.retry_policy[2]
        return sum(1 for t in self.failures if t >= time.time() - window)

    def clear_failures(self) -> None:
        self.failures.clear()
        self.first_failure_time = None

    def pretty_id(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.params.items() if self.param_visibilities.get(k, 0) == 0)
        return f"{self.family}({params})"


class WorkerRecord:
    def __init__(self, worker_id: str) -> None:
        self.id = worker_id
        self.info: dict[str, Any] = {}
        self.reference: Any = None
        self.last_active = time.time()
        self.last_get_work: float | None = None
        self.started = time.time()
        self.tasks: set[str] = set()
        self.disabled = False

    @property
    def state(self) -> str:
        return WORKER_STATE_DISABLED if self.disabled else WORKER_STATE_ACTIVE

    def __str__(self) -> str:
        return self.id


class TableView:
    """Luigi's ``scheduler._state`` reads: the task and worker records by id."""

    def __init__(self, owner: Scheduler) -> None:
        self._owner = owner

    def get_task(self, task_id: str, default: Any = None, setdefault: Any = None) -> Any:
        tasks = self._owner._tasks
        if setdefault is not None:
            return tasks.setdefault(task_id, setdefault)
        return tasks.get(task_id, default)

    def get_worker(self, worker_id: str) -> Any:
        return self._owner._workers.get(worker_id)

    def get_active_tasks(self) -> list:
        return list(self._owner._tasks.values())

    def get_active_tasks_by_status(self, *statuses: str) -> list:
        return [t for t in self._owner._tasks.values() if t.status in statuses]


class RunningTaskMessages:
    """What running tasks report to :class:`~nbpipe.scheduler.Scheduler` (status message, progress, resources
    given back) and its pause switch; a part of the scheduler, kept here for the module's size."""

    _tasks: dict[str, TaskRecord]
    _lock: Any
    _paused: bool
    _config: Any
    _rpc_messages: dict[str, list[dict[str, Any]]]
    _message_responses: dict[tuple[str, str], Any]

    def send_scheduler_message(self, worker: str, task: str, content: Any) -> dict[str, Any]:
        """Queue ``content`` for ``task`` on ``worker`` (given to the task when it starts); ``message_id`` None
        when ``[scheduler] send_messages`` is off."""
        if not self._config.send_messages:
            return {"message_id": None}
        message_id = str(uuid.uuid4())
        with self._lock:
            self._rpc_messages.setdefault(worker, []).append(
                {
                    "name": "dispatch_scheduler_message",
                    "kwargs": {"task_id": task, "message_id": message_id, "content": content},
                }
            )
        return {"message_id": message_id}

    def add_scheduler_message_response(self, task_id: str, message_id: str, response: Any) -> None:
        with self._lock:
            self._message_responses[(task_id, message_id)] = response

    def get_scheduler_message_response(self, task_id: str, message_id: str) -> dict[str, Any]:
        with self._lock:
            return {"response": self._message_responses.pop((task_id, message_id), None)}

    # -- messages from running tasks ---------------------------------------------------------------------------------

    def set_task_status_message(self, task_id: str, status_message: str) -> None:
        with self._lock:
            if task_id in self._tasks:
                self._tasks[task_id].status_message = status_message

    def get_task_status_message(self, task_id: str) -> dict[str, Any]:
        task = self._tasks.get(task_id)
        return {"taskId": task_id, "statusMessage": task.status_message if task else ""}

    def set_task_progress_percentage(self, task_id: str, progress_percentage: float) -> None:
        with self._lock:
            if task_id in self._tasks:
                self._tasks[task_id].progress_percentage = progress_percentage

    def get_task_progress_percentage(self, task_id: str) -> dict[str, Any]:
        task = self._tasks.get(task_id)
        return {"taskId": task_id, "progressPercentage": task.progress_percentage if task else None}

    def decrease_running_task_resources(self, task_id: str, decrease_resources: dict[str, int]) -> None:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is not None and task.status == RUNNING:
                for name, amount in decrease_resources.items():
                    if name in task.resources_running:
                        task.resources_running[name] = max(0, task.resources_running[name] - amount)

    def get_running_task_resources(self, task_id: str) -> dict[str, Any]:
        task = self._tasks.get(task_id)
        return {"taskId": task_id, "resources": task.resources_running if task else None}

    # -- pausing -----------------------------------------------------------------------------------------------------

    def is_pause_enabled(self) -> dict[str, bool]:
        return {"enabled": self._config.pause_enabled}

    def is_paused(self) -> dict[str, bool]:
        return {"paused": self._paused}

    def pause(self) -> None:
        if self._config.pause_enabled:
            self._paused = True

    def unpause(self) -> None:
        if self._config.pause_enabled:
            self._paused = False
