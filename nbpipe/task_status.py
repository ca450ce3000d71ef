"""Luigi's ``luigi.task_status``: the statuses a task has in :class:`nbpipe.scheduler.Scheduler`.

Declared once here; the scheduler and the worker import them.  nbpipe's own
engine has its own vocabulary (:mod:`nbpipe.engine.scheduling`).
"""

from __future__ import annotations

__all__ = ["PENDING", "FAILED", "DONE", "RUNNING", "BATCH_RUNNING", "SUSPENDED", "UNKNOWN", "DISABLED"]

PENDING = "PENDING"
FAILED = "FAILED"
DONE = "DONE"
RUNNING = "RUNNING"
BATCH_RUNNING = "BATCH_RUNNING"
SUSPENDED = "SUSPENDED"  # a task waiting for the requirements its run() yielded; the scheduler keeps it PENDING
UNKNOWN = "UNKNOWN"
DISABLED = "DISABLED"
