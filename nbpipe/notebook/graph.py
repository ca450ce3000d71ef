"""The data a DAG view draws: DOT source, nodes with their state, edges.

Pure functions over :class:`nbpipe.state.staleness.TaskStatus` lists, so they are
tested without a browser or a kernel.  The DOT source is built with the
``graphviz`` package (no system ``dot`` needed: the browser lays it out).
"""

from __future__ import annotations

from collections.abc import Iterable

from nbpipe.engine.shown_state import STYLES
from nbpipe.state.staleness import TaskStatus

__all__ = ["STATE_COLOURS", "graph_data", "dot_source", "static_html"]

#: Fill colour per shown state (the front end's table is generated from the same source).
STATE_COLOURS = {state.value: style.fill for state, style in STYLES.items()}


def _label(task) -> str:
    text = str(task)
    return text if len(text) <= 60 else text[:57] + "..."


def graph_data(statuses: Iterable[TaskStatus]) -> tuple[dict, list]:
    """(nodes, edges) for the widget: nodes by task id, edges requirement -> dependent."""
    nodes: dict[str, dict] = {}
    edges: list[list[str]] = []
    for st in statuses:
        last = st.last_attempt or {}
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
            "error": last.get("error") or None,
            "traceback": last.get("traceback") or None,
        }
        for dep in st.deps:
            edges.append([dep, st.task_id])
    return nodes, edges


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
        tooltip = node["state"] + (": " + "; ".join(node["reasons"]) if node["reasons"] else "")
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


def static_html(nodes: dict) -> str:
    """A table of the tasks and their states, for front ends without the widget."""
    import html

    rows = []
    for node in nodes.values():
        colour = STATE_COLOURS.get(node["state"], "#ffffff")
        why = html.escape("; ".join(node["reasons"]))
        rows.append(
            f'<tr><td style="background:{colour}">{html.escape(node["state"])}</td>'
            f"<td><code>{html.escape(node['label'])}</code></td><td>{why}</td></tr>"
        )
    return (
        '<table class="nbpipe-static"><thead><tr><th>state</th><th>task</th><th>why</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def static_text(nodes: dict) -> str:
    width = max((len(n["state"]) for n in nodes.values()), default=0)
    lines = []
    for node in nodes.values():
        why = f"  ({'; '.join(node['reasons'])})" if node["reasons"] else ""
        lines.append(f"{node['state']:<{width}}  {node['label']}{why}")
    return "\n".join(lines)
