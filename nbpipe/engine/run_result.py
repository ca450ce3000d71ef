"""What a run returns: :class:`RunResult`, Luigi's ``LuigiRunResult``.

It holds plain data and text only.  How a notebook shows it (HTML) is the
notebook layer's business: :func:`nbpipe.notebook.display.register_formatters`
teaches IPython, so the engine never imports anything of Jupyter.
"""

from __future__ import annotations

from typing import Any

from nbpipe.engine.categorise import Summary, summarize
from nbpipe.engine.events import RunEvent

__all__ = ["RunResult"]


class RunResult:
    """What ``nbpipe.build(..., detailed_summary=True)`` returns (Luigi's ``LuigiRunResult``).

    Attributes: ``status`` (:class:`StatusCode`), ``summary_text``,
    ``one_line_summary``, ``scheduling_succeeded`` (Luigi's meaning: no
    scheduling errors and no failed tasks),
    ``summary`` (the :class:`Summary`), ``events`` and ``exit_code``.
    """

    def __init__(self, events: list[RunEvent], summary: Summary | None = None) -> None:
        self.events = list(events)
        self.summary = summary if summary is not None else summarize(self.events)
        self.status = self.summary.status
        self.summary_text = self.summary.summary_text
        self.one_line_summary = self.summary.one_line_summary
        cats = self.summary.categories
        self.scheduling_succeeded = not cats["scheduling_error"] and not cats["failed"]
        self.run_id = ""
        self.interrupted = self.summary.interrupted
        #: After an interrupt: the tasks still running in threads, whose locks the run keeps until
        #: they end (a :class:`nbpipe.driver.run.Stragglers`), or None.
        self.stragglers: Any = None

    @property
    def exit_code(self) -> int:
        """The process exit code for this run, with the configured ``[retcode]`` values."""
        return self.summary.exit_code()

    def __str__(self) -> str:
        return f"RunResult with status {self.status}"

    def __repr__(self) -> str:
        return f"RunResult(status={self.status!r},scheduling_succeeded={self.scheduling_succeeded!r})"
