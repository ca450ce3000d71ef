"""The executor interface: how the run loop hands tasks to wherever they run.

The engine knows executors only through :class:`Executor`; the adapters
(inline, thread, process, dask) live in :mod:`nbpipe.executors` and report
each attempt as an :class:`Outcome`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from nbpipe.exceptions import ExecutorUnavailable

if TYPE_CHECKING:
    from nbpipe.engine.run_context import RunContext
    from nbpipe.task import Task

__all__ = [
    "Executor",
    "ExecutorUnavailable",
    "ProgressCallback",
    "Outcome",
    "OutcomeStatus",
    "DONE",
    "FAILED",
    "SUSPENDED",
]


class OutcomeStatus(StrEnum):
    """How one attempt of a task ended, as an executor reports it."""

    DONE = "done"
    FAILED = "failed"
    SUSPENDED = "suspended"  # run() yielded requirements that are not complete yet


DONE, FAILED, SUSPENDED = OutcomeStatus.DONE, OutcomeStatus.FAILED, OutcomeStatus.SUSPENDED


@dataclass(slots=True)
class Outcome:
    """What happened when a task ran.

    ``status`` is DONE, FAILED or SUSPENDED (run() yielded requirements that
    are not complete yet; they are in ``new_deps``).  For failures,
    ``reason`` is one line for summaries and ``explanation`` what the
    task's ``on_failure`` returned (Luigi's failure message, with the
    traceback).
    """

    task_id: str
    status: str
    elapsed: float = 0.0
    reason: str = ""
    explanation: str = ""
    traceback: str = ""
    exception: BaseException | None = None
    new_deps: list = field(default_factory=list)
    message: str = ""
    worker: str = ""
    kind: str = ""  # "error", "timeout", "worker_died", "unfulfilled", "interrupted"
    log: tuple = ()  # what the task logged or printed in this attempt (nbpipe.engine.task_log)
    log_dropped: int = 0  # earlier lines not kept


#: Called with (task_id, kind, value) when a running task reports progress.
ProgressCallback = Callable[[str, str, Any], None]


class Executor(ABC):
    """Runs tasks handed over by the run loop.

    Protocol: ``start`` once; then ``submit`` while ``free_slots() > 0`` and
    ``wait`` for outcomes; ``shutdown`` at the end (``kill=True`` after an
    interrupt: stop running tasks now).
    """

    kind = "abstract"
    #: True when tasks run on a cluster other drivers share, so local file locks cannot keep runs apart.
    shares_a_cluster = False
    #: True when submit() runs the task to its end before returning (inline): the run loop then
    #: publishes the task's RUNNING event before submitting, so observers see it running.
    runs_tasks_in_submit = False
    #: Where tasks an interrupt cannot stop go on running (see :meth:`still_running`).
    lingers = "in threads"

    def __init__(
        self,
        check_unfulfilled_deps: bool = True,
        on_progress: ProgressCallback | None = None,
        default_timeout: float | None = None,
    ):
        self.check_unfulfilled_deps = check_unfulfilled_deps
        self.on_progress = on_progress
        self.default_timeout = default_timeout
        self._timeout_checked: set[type] = set()  # the task classes warn_unenforceable_timeout has seen

    def start(self, context: RunContext) -> None:
        self.context = context

    @abstractmethod
    def free_slots(self) -> int: ...

    @abstractmethod
    def submit(self, task: Task, deps: list | None = None) -> None:
        """Start ``task``; ``deps`` are its requirements if the caller knows them."""

    @abstractmethod
    def wait(self, timeout: float | None) -> list[Outcome]:
        """Outcomes of finished tasks; blocks until at least one, or ``timeout`` seconds."""

    @abstractmethod
    def running(self) -> list[str]:
        """Task ids currently running."""

    def shutdown(self, kill: bool = False) -> None:  # noqa: B027 - optional: executors with nothing to release
        """Release workers; with ``kill``, stop running tasks at once."""

    def still_running(self) -> list[str]:
        """After ``shutdown(kill=True)``: tasks whose code may still be running (threads cannot be killed).

        The run keeps their locks until :meth:`wait_stopped` says they ended,
        so no other run starts them meanwhile.
        """
        return []

    def wait_stopped(self, timeout: float | None) -> list[str]:
        """Wait until at least one of :meth:`still_running` ends (or ``timeout``); return those that ended."""
        return []

    def cluster_task_locks(self) -> tuple[Any, Any] | None:
        """``(locks, policy)`` that every driver of a shared cluster sees, or None to use local file locks.

        Called once after :meth:`start`.  ``locks`` has ``try_acquire(task_id)``
        (None when acquired, else a holder), ``release(task_id)`` and
        ``close()``; ``policy`` has ``needs_lock(task_id)``, ``finished(task_id)``
        and ``close()`` — the same shape as the state package's file locks.
        """
        return None

    def warn_unenforceable_timeout(self, task: Task) -> None:
        """Say once per class that this executor cannot stop a task on time."""
        cls = type(task)
        checked = self._timeout_checked
        if cls in checked:
            return
        checked.add(cls)
        if self.timeout_for(task):
            import logging

            logging.getLogger("nbpipe").warning(
                "%s has worker_timeout=%s, which the %s executor cannot enforce; "
                "use executor='process' to have hung tasks killed",
                task.get_task_family(),
                self.timeout_for(task),
                self.kind,
            )

    def timeout_for(self, task: Task) -> float | None:
        timeout = getattr(task, "worker_timeout", None)
        if timeout is None:
            timeout = self.default_timeout
        return float(timeout) if timeout else None
