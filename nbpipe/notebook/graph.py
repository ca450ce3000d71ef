"""The data a DAG view draws: DOT source, nodes with their state, edges.

Pure functions over :class:`nbpipe.state.staleness.TaskStatus` lists, so they are
tested without a browser or a kernel.  The DOT source is built with the
``graphviz`` package (no system ``dot`` needed: the browser lays it out).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from nbpipe.engine.events import Kind, RunEvent
from nbpipe.engine.shown_state import STYLES, ShownState
from nbpipe.state.staleness import TaskStatus

__all__ = [
    "STATE_COLOURS",
    "graph_data",
    "dot_source",
    "event_details",
    "static_html",
    "static_text",
    "readable_traceback",
    "upstream_failure_reason",
]

#: Shown states that stop everything downstream of them from running.
_BLOCKING = frozenset({ShownState.FAILED, ShownState.UPSTREAM_FAILED, ShownState.DISABLED, ShownState.UNSCHEDULABLE})

#: Fill colour per shown state (the front end's table is generated from the same source).
STATE_COLOURS = {state.value: style.fill for state, style in STYLES.items()}


def _label(task) -> str:
    text = str(task)
    return text if len(text) <= 60 else text[:57] + "..."


def graph_data(statuses: Iterable[TaskStatus]) -> tuple[dict, list]:
    """(nodes, edges) for the widget: nodes by task id, edges requirement -> dependent."""
    nodes: dict[str, dict] = {}
    edges: list[list[str]] = []
    statuses = list(statuses)
    deps = {st.task_id: list(st.deps) for st in statuses}
    for st in statuses:
        last = st.last_attempt or {}
        failed = last.get("status") in ("failed", "disabled")
        task = st.task
        try:
            outputs = [getattr(t, "path", repr(t)) for t in _flatten_outputs(task)]
        except Exception:  # noqa: BLE001 - a broken output() must not break the view
            outputs = []
        nodes[st.task_id] = {
            "label": _label(task),
            "family": task.get_task_family(),
            "params": task.to_str_params(only_significant=True),
            "state": st.state.value,
            "reasons": list(st.reasons),
            "outputs": [str(o) for o in outputs],
            "duration": last.get("duration")
            if last.get("duration") is not None
            else ((last["ended"] - last["started"]) if last.get("started") else None),
            # Only a failed attempt has an error of its own ("dependency X failed" is the upstream's, said in reasons).
            "error": (last.get("error") or None) if failed else None,
            "traceback": readable_traceback(last.get("traceback"), task) if failed else None,
        }
        for dep in st.deps:
            edges.append([dep, st.task_id])
    # Statuses come dependencies first, but nodes are keyed in discovery order: explain once all are known.
    states = {tid: node["state"] for tid, node in nodes.items()}
    for st in statuses:
        node = nodes[st.task_id]
        if node["state"] == ShownState.NOT_BUILT and not node["reasons"]:
            if any(states.get(d) in _BLOCKING for d in deps[st.task_id]):
                node["state"] = states[st.task_id] = ShownState.UPSTREAM_FAILED.value
                node["reasons"] = [upstream_failure_reason(st.task_id, deps, states, nodes)]
            else:
                node["reasons"] = _why_not_built(st.task_id, deps, states, nodes)
    return nodes, edges


def _name(task_id: str, nodes: dict) -> str:
    node = nodes.get(task_id)
    return node["label"] if node else task_id


def upstream_failure_reason(task_id: str, deps: dict, states: dict, nodes: dict) -> str:
    """ "upstream Fetch(station=north) failed": the failed task (not only the first link) that blocks ``task_id``.

    Follows dependencies shown upstream-failed back to one that failed,
    was disabled or could not be scheduled; ``states`` maps task ids to
    shown-state values, ``deps`` task ids to the ids they require.
    """
    seen = {task_id}
    frontier = [task_id]
    fallback = None
    while frontier:
        current = frontier.pop(0)
        for dep in deps.get(current, ()):
            if dep in seen:
                continue
            seen.add(dep)
            state = states.get(dep)
            if state in (ShownState.FAILED, ShownState.DISABLED):
                return f"upstream {_name(dep, nodes)} failed"
            if state == ShownState.UNSCHEDULABLE:
                return f"upstream {_name(dep, nodes)} could not be scheduled"
            if state == ShownState.UPSTREAM_FAILED:
                fallback = fallback or dep
                frontier.append(dep)
    return f"upstream {_name(fallback, nodes)} failed" if fallback else "a task it requires failed"


def _why_not_built(task_id: str, deps: dict, states: dict, nodes: dict) -> list[str]:
    """Why a task is not built: what it waits for, or its missing outputs."""
    missing_inputs = [d for d in deps.get(task_id, ()) if states.get(d) == ShownState.EXTERNAL_MISSING]
    if missing_inputs:
        return [f"waits for external input {_name(d, nodes)}, which is missing" for d in missing_inputs[:3]]
    waits = [d for d in deps.get(task_id, ()) if states.get(d) in (ShownState.NOT_BUILT, ShownState.INVALIDATED)]
    outputs = nodes[task_id]["outputs"]
    reasons = []
    if outputs:
        shown = ", ".join(outputs[:3]) + (f" and {len(outputs) - 3} more" if len(outputs) > 3 else "")
        reasons.append(f"output {shown} is not there yet" if len(outputs) == 1 else f"outputs {shown} not all there")
    if waits:
        more = f" and {len(waits) - 2} more" if len(waits) > 2 else ""
        reasons.append(f"waits for {', '.join(_name(d, nodes) for d in waits[:2])}{more}, not built yet")
    return reasons or ["not complete yet: its complete() says False"]


def event_details(event: RunEvent, started: float | None, deps: dict, states: dict, nodes: dict) -> dict | None:
    """The fields of a task's node that a run event changes (reasons, duration, error, traceback), or None.

    Sent live, so a node's details are right as soon as its task ends,
    not only when the run does.  ``states`` holds the run's shown states so
    far (for "upstream X failed").
    """
    kind = event.kind
    if kind == Kind.RUNNING:
        worker = event.data.get("worker")
        return {"reasons": [f"running{f' on {worker}' if worker else ''} since {_clock(event.time)}"]}
    if kind == Kind.DONE:
        duration = event.time - started if started is not None else None
        return {"reasons": [], "duration": duration, "error": None, "traceback": None}
    if kind == Kind.FAILED:
        error = event.data.get("error") or event.reason or "failed"
        duration = event.time - started if started is not None else None
        return {
            "reasons": [str(error).splitlines()[0] if str(error).strip() else "failed"],
            "duration": duration,
            "error": str(error),
            "traceback": readable_traceback(event.data.get("traceback"), event.task),
        }
    if kind == Kind.UPSTREAM_FAILED:
        return {"reasons": [upstream_failure_reason(event.task_id, deps, states, nodes)]}
    if kind == Kind.RUN_BY_OTHER:
        return {"reasons": ["being run by another run (it holds the task's lock)"]}
    if kind == Kind.RETRY_WAIT:
        return {
            "reasons": [
                f"failed; retried at {_clock(event.data['retry_at'])}"
                if "retry_at" in event.data
                else "failed; will be retried"
            ]
        }
    if kind in (Kind.MISSING, Kind.SCHEDULING_FAILED, Kind.DISABLED) and event.reason:
        return {"reasons": [event.reason]}
    return None


def _clock(ts: float) -> str:
    import time

    return time.strftime("%H:%M:%S", time.localtime(ts))


def _flatten_outputs(task):
    from nbpipe.task import flatten

    return flatten(task.output())


def dot_source(nodes: dict, edges: list) -> str:
    """Graphviz DOT of the graph; each node's ``id`` is its task id."""
    import graphviz

    graph = graphviz.Digraph(
        "pipeline",
        graph_attr={"rankdir": "LR"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "sans-serif", "fontsize": "10"},
    )
    for task_id, node in nodes.items():
        tooltip = _label_of(node["state"]) + (": " + "; ".join(node["reasons"]) if node["reasons"] else "")
        graph.node(
            task_id,
            label=node["label"],
            id=task_id,
            tooltip=tooltip,
            fillcolor=STATE_COLOURS.get(node["state"], "#ffffff"),
        )
    for src, dst in edges:
        if src in nodes and dst in nodes:
            graph.edge(src, dst)
    return graph.source


def static_html(nodes: dict, states: dict | None = None) -> str:
    """A table of the tasks and their states (``states`` wins over each node's own), for front ends without the widget."""
    import html

    states = states or {}
    rows = []
    for tid, node in nodes.items():
        state = states.get(tid) or node["state"]
        colour = STATE_COLOURS.get(state, "#ffffff")
        why = html.escape("; ".join(node["reasons"]))
        rows.append(
            f'<tr><td style="background:{colour}">{html.escape(_label_of(state))}</td>'
            f"<td><code>{html.escape(node['label'])}</code></td><td>{why}</td></tr>"
        )
    return (
        '<table class="nbpipe-static"><thead><tr><th>state</th><th>task</th><th>why</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def static_text(nodes: dict, states: dict | None = None) -> str:
    """One line per task: its state's name, the task, and why (``states`` wins over each node's own)."""
    states = states or {}
    # Plain text keeps the vocabulary's names (not_built, upstream_failed): greppable, one word each.
    shown = {tid: states.get(tid) or node["state"] for tid, node in nodes.items()}
    width = max((len(s) for s in shown.values()), default=0)
    lines = []
    for tid, node in nodes.items():
        why = f"  ({'; '.join(node['reasons'])})" if node["reasons"] else ""
        lines.append(f"{shown[tid]:<{width}}  {node['label']}{why}")
    return "\n".join(lines)


def _label_of(state: str) -> str:
    """A shown state's label from the vocabulary ("upstream failed"), or the raw name."""
    try:
        return STYLES[ShownState(state)].label
    except ValueError:
        return state


_FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)$')


def readable_traceback(text: str | None, task=None) -> str | None:
    """A task's traceback as IPython writes one: nbpipe's own frames dropped, notebook code as ``Cell In[5], line 12``.

    Tasks shipped to worker processes lose their file name on the way
    (cloudpickle writes ``<dynamic-code>``); the frame's function is looked
    up on the task's class, and the kernel's cell file it came from gives the
    cell's execution count.  A ``%%pipeline`` cell's lines count its magic
    line, as the notebook shows them.  Text that is not a traceback is
    returned unchanged.
    """
    if not text:
        return None
    import os

    import nbpipe

    package = os.path.dirname(nbpipe.__file__) + os.sep
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _FRAME.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        # A frame is its "File" line and the indented source lines (and carets) under it.
        j = i + 1
        while j < len(lines) and lines[j].startswith("    "):
            j += 1
        path = match["file"]
        if path.startswith(package):
            i = j  # the executor's own frames say nothing about the task
            continue
        cell = _cell_of(path if path != "<dynamic-code>" else _source_file(task, match["func"]))
        if cell is not None:
            count, offset = cell
            out.append(f"  Cell In[{count}], line {int(match['line']) + offset}, in {match['func']}")
        else:
            out.append(lines[i])
        out.extend(lines[i + 1 : j])
        i = j
    return "\n".join(out)


def _source_file(task, func_name: str) -> str:
    """The file the function ``func_name`` of ``task``'s class (or its bases) was defined in, or ""."""
    for cls in type(task).__mro__ if task is not None else ():
        fn = vars(cls).get(func_name)
        code = getattr(fn, "__code__", None)
        if code is not None:
            return code.co_filename
    return ""


def _cell_of(filename: str) -> tuple[int, int] | None:
    """(execution count, line offset) of the notebook cell compiled as ``filename``; None outside a kernel's cells."""
    if not filename:
        return None
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    count = getattr(getattr(shell, "compile", None), "_filename_map", {}).get(filename)
    if not isinstance(count, int):
        return None
    raw = getattr(getattr(shell, "history_manager", None), "input_hist_raw", [])
    source = raw[count] if 0 <= count < len(raw) else ""
    return count, 1 if source.lstrip().startswith("%%pipeline") else 0
