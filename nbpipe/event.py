"""Luigi's event names (``luigi.event.Event``), for ``@Task.event_handler(...)`` callbacks.

Handlers run in the driver process (where the notebook or the CLI lives),
whatever executor ran the task, so they may touch driver state.
"""

__all__ = ["Event"]


class Event:
    """Luigi-compatible event names (``nbpipe.Event.SUCCESS`` etc.)."""

    DEPENDENCY_DISCOVERED = "event.core.dependency.discovered"
    DEPENDENCY_MISSING = "event.core.dependency.missing"
    DEPENDENCY_PRESENT = "event.core.dependency.present"
    BROKEN_TASK = "event.core.task.broken"
    START = "event.core.start"
    PROGRESS = "event.core.progress"
    FAILURE = "event.core.failure"
    SUCCESS = "event.core.success"
    PROCESSING_TIME = "event.core.processing_time"
    TIMEOUT = "event.core.timeout"
    PROCESS_FAILURE = "event.core.process_failure"
