"""Luigi's ``luigi.execution_summary``: the status codes, the run result and the summary text.

Only names; the execution summary itself is :mod:`nbpipe.engine.summary`.
"""

from __future__ import annotations

from nbpipe.engine.summary import (
    TITLE,
    LuigiStatusCode,
    RunResult,
    StatusCode,
    Summary,
    one_line_summary,
    strip_summary_title,
    summarize,
)

#: Luigi's name for what ``build(..., detailed_summary=True)`` returns.
LuigiRunResult = RunResult

__all__ = [
    "LuigiStatusCode",
    "LuigiRunResult",
    "StatusCode",
    "RunResult",
    "Summary",
    "summarize",
    "one_line_summary",
    "strip_summary_title",
    "TITLE",
]
