"""What every executor adapter shares beyond the :class:`~nbpipe.engine.executor.Executor` interface."""

from __future__ import annotations

from nbpipe.target import remove_temp_files
from nbpipe.task import Task, flatten


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
