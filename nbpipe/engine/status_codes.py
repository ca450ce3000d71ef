"""The overall outcome of a run: Luigi's status codes and the rule that picks one."""

from __future__ import annotations

import enum

__all__ = ["StatusCode", "LuigiStatusCode", "status_of", "one_line_summary"]


class StatusCode(enum.Enum):
    """The overall outcome of a run (Luigi's ``LuigiStatusCode``).

    =============================  ==========================================================
    Name                           Meaning
    =============================  ==========================================================
    SUCCESS                        There were no failed tasks or missing dependencies
    SUCCESS_WITH_RETRY             There were failed tasks but they all succeeded in a retry
    FAILED                         There were failed tasks
    FAILED_AND_SCHEDULING_FAILED   There were failed tasks and tasks whose scheduling failed
    SCHEDULING_FAILED              There were tasks whose scheduling failed
    NOT_RUN                        There were tasks that were not granted run permission by the scheduler
    MISSING_EXT                    There were missing external dependencies
    =============================  ==========================================================
    """

    SUCCESS = (":)", "there were no failed tasks or missing dependencies")
    SUCCESS_WITH_RETRY = (":)", "there were failed tasks but they all succeeded in a retry")
    FAILED = (":(", "there were failed tasks")
    FAILED_AND_SCHEDULING_FAILED = (":(", "there were failed tasks and tasks whose scheduling failed")
    SCHEDULING_FAILED = (":(", "there were tasks whose scheduling failed")
    NOT_RUN = (":|", "there were tasks that were not granted run permission by the scheduler")
    MISSING_EXT = (":|", "there were missing external dependencies")


LuigiStatusCode = StatusCode


def status_of(cats: dict[str, list]) -> StatusCode:
    """Luigi's rule for the overall status, from the tasks per summary category."""
    if cats["ever_failed"]:
        if not cats["failed"]:
            return StatusCode.SUCCESS_WITH_RETRY
        if cats["scheduling_error"]:
            return StatusCode.FAILED_AND_SCHEDULING_FAILED
        return StatusCode.FAILED
    if cats["scheduling_error"]:
        return StatusCode.SCHEDULING_FAILED
    if cats["not_run"]:
        return StatusCode.NOT_RUN
    if cats["still_pending_ext"]:
        return StatusCode.MISSING_EXT
    return StatusCode.SUCCESS


def one_line_summary(status: StatusCode) -> str:
    """Luigi's "This progress looks :) because ..." sentence for ``status``."""
    face, because = status.value
    return f"This progress looks {face} because {because}"
