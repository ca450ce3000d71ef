"""How a notebook shows run results: inline HTML (counts per category, failures with their error,
durations) with Luigi's summary text as the plain form.

The engine's :class:`~nbpipe.engine.summary.RunResult` knows nothing of notebooks;
:func:`register_formatters`, called when the extension loads, teaches IPython to show it.
"""

from __future__ import annotations

import html

from nbpipe.engine.summary import RunResult
from nbpipe.notebook.graph import readable_traceback
from nbpipe.notebook.timeline import timeline_html

__all__ = ["summary_html", "RunDisplay", "register_formatters", "run_graph_html"]

_LABELS = {
    "completed": "ran successfully",
    "already_done": "already complete",
    "failed": "failed",
    "scheduling_error": "failed scheduling",
    "still_pending_ext": "missing external data",
    "upstream_failure": "had failed dependencies",
    "upstream_missing_dependency": "had missing dependencies",
    "run_by_other_worker": "being run by another worker",
    "not_run": "not run",
}


#: An error is one monospace block that wraps at spaces (inline: exported HTML has no nbpipe stylesheet).
_ERROR_STYLE = (
    ' style="white-space:pre-wrap;word-break:normal;overflow-wrap:break-word;'
    'font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,12px)"'
)


def summary_html(result: RunResult) -> str:
    """A compact HTML summary of ``result`` (the Luigi text stays the plain-text form)."""
    summary = result.summary
    parts = [f'<div class="nbpipe-summary"><b>{html.escape(result.one_line_summary)}</b><ul>']
    for category, label in _LABELS.items():
        tasks = summary.categories.get(category, [])
        if tasks:
            parts.append(f"<li>{len(tasks)} {html.escape(label)}</li>")
    parts.append("</ul>")
    stragglers = getattr(result, "stragglers", None)
    if stragglers is not None and not stragglers.wait(0):
        parts.append(
            f"<p>{html.escape(stragglers.describe())}. Their locks are kept until they end, so no other run "
            "starts them meanwhile; restarting the kernel ends them now.</p>"
        )
    if summary.failures:
        parts.append("<details open><summary>failures</summary>")
        objects = {t.task_id: t for t in summary.categories.get("failed", [])}
        for task_id, text in summary.failures.items():
            name = html.escape(str(objects.get(task_id, task_id)))
            text = readable_traceback(text, objects.get(task_id)) or text
            parts.append(f"<p><code>{name}</code></p><pre{_ERROR_STYLE}>{html.escape(text)}</pre>")
        parts.append("</details>")
    slow = sorted(summary.durations.items(), key=lambda kv: kv[1], reverse=True)[:5]
    if slow:
        parts.append("<details><summary>slowest tasks</summary><ul>")
        parts += [f"<li><code>{html.escape(t)}</code>: {d:.3f} s</li>" for t, d in slow]
        parts.append("</ul></details>")
    if _ran_more_than_one_task(result):
        parts.append(timeline_html(result.events))
    parts.append("</div>")
    return "".join(parts)


def _ran_more_than_one_task(result: RunResult) -> bool:
    """Whether the run scheduled more than one task (a one-task run needs no timeline)."""
    return len({ev.task_id for ev in result.events if ev.task_id}) > 1


class RunDisplay:
    """What ``%pipeline run`` shows for a finished run: HTML, with Luigi's text as the plain form."""

    def __init__(self, result: RunResult):
        self.result = result

    def _repr_mimebundle_(self, include=None, exclude=None):
        text = summary_html(self.result)
        if not getattr(self.result, "drawn_by_widget", False):
            # No live widget drew this run (``nbpipe execute``, a terminal, no ipywidgets): the summary
            # carries the graph as it ended, so an HTML export of the notebook shows it.
            text += run_graph_html(self.result)
        return {"text/plain": self.result.summary_text, "text/html": text}


def run_graph_html(result: RunResult) -> str:
    """The run's graph as it ended (inline SVG and legend, from the run's events); "" for a one-task run."""
    from nbpipe.notebook.graph import static_html
    from nbpipe.notebook.static_view import graph_from_events, static_dag_html

    nodes, edges = graph_from_events(result.events)
    if len(nodes) < 2:
        return ""
    return static_dag_html(nodes, edges, table=static_html(nodes))


def _display_run_result(result: RunResult) -> None:
    """IPython's display of a RunResult: the inline summary, unless ``%pipeline run`` has just shown it.

    The magic marks the result it shows and returns (``shown_by_magic``); the mark is
    dropped here, so that displaying the same result again later shows it.
    """
    if result.__dict__.pop("shown_by_magic", False):
        return
    from IPython.display import display

    display(RunDisplay(result))


def register_formatters(ipython) -> None:
    """Make ``ipython`` display every :class:`RunResult` as :class:`RunDisplay` (HTML and Luigi's text).

    Registered with IPython's ``ipython_display_formatter``, which takes over the whole
    display of a RunResult (the Out[] value included) as RunResult's own
    ``_ipython_display_`` used to.  Idempotent.
    """
    ipython.display_formatter.ipython_display_formatter.for_type(RunResult, _display_run_result)
