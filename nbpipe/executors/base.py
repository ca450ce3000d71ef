"""The executor interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable

from nbpipe.executors.run_one import Outcome
from nbpipe.engine.run_context import RunContext
from nbpipe.target import remove_temp_files
from nbpipe.task import Task, flatten

class ExecutorUnavailable(RuntimeError):
    """The executor cannot start: a package is missing or a cluster is unreachable."""


#: Called with (task_id, kind, value) when a running task reports progress.
ProgressCallback = Callable[[str, str, Any], None]


class Executor(ABC):
    """Runs tasks handed over by the run loop.

    Protocol: ``start`` once; then ``submit`` while ``free_slots() > 0`` and
    ``wait`` for outcomes; ``shutdown`` at the end (``kill=True`` after an
    interrupt: stop running tasks now).
    """

    kind = "abstract"

    def __init__(self, check_unfulfilled_deps: bool = True, on_progress: ProgressCallback | None = None,
                 default_timeout: float | None = None):
        self.check_unfulfilled_deps = check_unfulfilled_deps
        self.on_progress = on_progress
        self.default_timeout = default_timeout

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

    def shutdown(self, kill: bool = False) -> None:
        """Release workers; with ``kill``, stop running tasks at once."""

    def warn_unenforceable_timeout(self, task: Task) -> None:
        """Say once per class that this executor cannot stop a task on time."""
        cls = type(task)
        warned = self.__dict__.setdefault("_timeout_warned", set())
        if cls not in warned and self.timeout_for(task):
            warned.add(cls)
            import logging

            logging.getLogger("nbpipe").warning(
                "%s has worker_timeout=%s, which the %s executor cannot enforce; "
                "use executor='process' to have hung tasks killed", task.get_task_family(),
                self.timeout_for(task), self.kind)

    def timeout_for(self, task: Task) -> float | None:
        timeout = getattr(task, "worker_timeout", None)
        if timeout is None:
            timeout = self.default_timeout
        return float(timeout) if timeout else None


def remove_task_temp_files(task: Task | None, pid: int | None = None) -> list[str]:
    """Remove temporary files left beside ``task``'s local outputs by process ``pid`` (any if None)."""
    if task is None:
        return []
    removed: list[str] = []
    try:
        outputs = flatten(task.output())
    except Exception:  # noqa: BLE001 - a broken output() must not mask the real failure
        return removed
    for output in outputs:
        path = getattr(output, "path", None)
        if isinstance(path, str) and "://" not in path:
            removed.extend(remove_temp_files(path, pid))
    return removed
