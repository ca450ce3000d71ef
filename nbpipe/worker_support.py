"""The pieces of :mod:`nbpipe.worker` that are not the worker itself: Luigi's ``[worker]`` options, the
``get_work`` answer's shape, and the checks the worker makes of a task (also run in pool processes)."""

from __future__ import annotations

import getpass
from collections import namedtuple
from typing import Any

from nbpipe.parameter import BoolParameter, FloatParameter, IntParameter, OptionalParameter, Parameter
from nbpipe.task import Config, Task

__all__ = ["worker", "GetWorkResponse"]


class worker(Config):
    """``[worker]``: Luigi's worker options (``--worker-task-limit 2`` on a command line)."""

    _visible_in_registry = False  # an engine section, not a task to run
    _options_on_command_line = True  # --section-option, as Luigi's command line takes them
    id = Parameter(default="")
    ping_interval = FloatParameter(default=1.0)
    keep_alive = BoolParameter(default=False)
    count_uniques = BoolParameter(default=False)
    count_last_scheduled = BoolParameter(default=False)
    wait_interval = FloatParameter(default=1.0)
    wait_jitter = FloatParameter(default=5.0)
    max_keep_alive_idle_duration = FloatParameter(default=0.0)
    max_reschedules = IntParameter(default=1)
    timeout = IntParameter(default=0)
    task_limit = OptionalParameter(default=None)
    retry_external_tasks = BoolParameter(default=False)
    send_failure_email = BoolParameter(default=True)
    no_install_shutdown_handler = BoolParameter(default=False)
    check_unfulfilled_deps = BoolParameter(default=True)
    check_complete_on_run = BoolParameter(default=False)
    force_multiprocessing = BoolParameter(default=False)
    task_process_context = OptionalParameter(default=None)
    cache_task_completion = BoolParameter(default=False)


#: What :meth:`Worker._get_work` answers (Luigi's fields, in Luigi's order).
GetWorkResponse = namedtuple(
    "GetWorkResponse",
    ("task_id", "running_tasks", "n_pending_tasks", "n_unique_pending", "n_pending_last_scheduled", "worker_state"),
)


def _is_external(task: Task) -> bool:
    return task.run is None or task.run is NotImplemented


def _check_complete(task: Task) -> tuple[bool, str | None]:
    """(complete?, traceback text when ``complete()`` raised or did not answer a bool); runs in pool processes too."""
    import traceback

    try:
        value = task.complete()
        if value not in (True, False):
            raise Exception(f"Return value of Task.complete() must be boolean (was {value!r})")
        return bool(value), None
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - complete() failing is a scheduling error, reported
        return False, traceback.format_exc()


def _retry_policy_dict(task: Task) -> dict[str, Any]:
    names = ("retry_count", "disable_hard_timeout", "disable_window")
    return {name: getattr(task, name, None) for name in names if getattr(task, name, None) is not None}


def _username() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "unknown"


class SchedulerMessage:
    """A message the scheduler sent to a running task (Luigi's): ``content``; ``respond(text)`` answers it.

    An answer reaches the scheduler when the task runs in the worker's own
    process; in a worker process the scheduler is not reachable and
    :meth:`respond` raises RuntimeError saying so.
    """

    def __init__(self, scheduler: Any, task_id: str, message_id: str, content: Any, **payload: Any) -> None:
        self._scheduler = scheduler
        self._task_id = task_id
        self._message_id = message_id
        self.content = content
        self.payload = payload

    def respond(self, response: Any) -> None:
        if self._scheduler is None:
            raise RuntimeError(f"cannot answer message {self._message_id}: the scheduler is in another process")
        self._scheduler.add_scheduler_message_response(self._task_id, self._message_id, response)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_scheduler": None}  # the scheduler stays in the worker's process

    def __str__(self) -> str:
        return str(self.content)


class MessageQueue:
    """The messages for one task, in the order sent: ``empty()``, ``get()``, ``put()``, ``qsize()`` (picklable)."""

    def __init__(self) -> None:
        self._items: list[SchedulerMessage] = []

    def put(self, item: SchedulerMessage) -> None:
        self._items.append(item)

    def get(self) -> SchedulerMessage:
        if not self._items:
            raise IndexError("no message for this task")
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)
