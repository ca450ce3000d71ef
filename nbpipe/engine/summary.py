"""The execution summary of a run: what happened, Luigi's text, the status and the result.

This module is the interface; the parts are:

:mod:`nbpipe.engine.categorise`
    :func:`summarize` sorts a run's tasks into Luigi's categories
    (:data:`CATEGORIES`) from its events, giving a :class:`Summary`;
:mod:`nbpipe.engine.summary_text`
    Luigi's summary text, titled ``===== nbpipe Execution Summary =====``
    (:data:`TITLE`; :func:`strip_summary_title` removes it);
:mod:`nbpipe.engine.status_codes`
    :class:`StatusCode` (Luigi's ``LuigiStatusCode``) and the rule picking one;
:mod:`nbpipe.engine.run_result`
    :class:`RunResult`, what ``nbpipe.build(..., detailed_summary=True)`` returns.

Luigi code imports the same names from :mod:`nbpipe.execution_summary`.
"""

from __future__ import annotations

from nbpipe.engine.categorise import CATEGORIES, Summary, summarize
from nbpipe.engine.run_result import RunResult
from nbpipe.engine.status_codes import LuigiStatusCode, StatusCode, one_line_summary
from nbpipe.engine.summary_text import TITLE, strip_summary_title

__all__ = [
    "StatusCode",
    "LuigiStatusCode",
    "Summary",
    "RunResult",
    "summarize",
    "strip_summary_title",
    "one_line_summary",
    "CATEGORIES",
    "TITLE",
]
