"""The DAG as a static picture: an inline SVG, a legend and a table, for views with no widget code.

Front ends without a widget manager, and an nbconvert HTML export of an
executed notebook, show an output's ``text/html``; this module makes that
HTML tell how the graph *ended*.  No Graphviz is needed in the kernel (the
browser lays out the live view with WASM Graphviz): the picture is a
left-to-right layered drawing made here — ranks by longest path from the
sources, each rank ordered by the mean position of the tasks it requires
(one barycentre sweep, enough for the pipelines people read).  Colours and
labels come from the shown-state vocabulary (:mod:`nbpipe.engine.shown_state`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from nbpipe.engine.events import Kind, RunEvent
from nbpipe.engine.shown_state import LEGEND_ORDER, STYLES, ShownState, shown_for_event

__all__ = ["MAX_DRAWN_TASKS", "graph_from_events", "static_dag_html", "static_svg"]

#: Larger graphs get the legend and the table only: a static drawing of thousands of boxes reads as noise.
MAX_DRAWN_TASKS = 400

_BOX_H, _RANK_GAP, _ROW_GAP, _CHAR_W, _PAD = 26, 48, 12, 6.6, 12


def _style(state: str):
    try:
        return STYLES[ShownState(state)]
    except ValueError:
        return None


def _ranks(ids: list[str], edges: list[list[str]]) -> dict[str, int]:
    """Longest-path rank of each task from the sources (iterative; a cycle's members keep rank 0)."""
    import graphlib

    preds: dict[str, list[str]] = {tid: [] for tid in ids}
    for src, dst in edges:
        if src in preds and dst in preds:
            preds[dst].append(src)
    sorter = graphlib.TopologicalSorter(preds)
    rank: dict[str, int] = {}
    try:
        order = list(sorter.static_order())
    except graphlib.CycleError:
        order = ids
    for tid in order:
        rank[tid] = 1 + max((rank.get(p, 0) for p in preds[tid]), default=-1)
    # Pull each task right, next to the first task that needs it, so an edge rarely crosses a rank
    # (a source that only the final wrapper needs sits beside it, not at the far left).
    succs: dict[str, list[str]] = {tid: [] for tid in ids}
    for tid, ps in preds.items():
        for p in ps:
            succs[p].append(tid)
    for tid in reversed(order):
        if succs[tid]:
            rank[tid] = max(rank[tid], min(rank[s] for s in succs[tid]) - 1)
    return rank


def static_svg(nodes: dict, edges: list[list[str]], states: dict | None = None) -> str:
    """An SVG drawing of the graph with each task coloured by its shown state (``states`` wins over the node's own).

    Each node is a ``<g class="nbpipe-static-node nbpipe-state-<state>" data-task-id=...>`` with a
    ``<title>`` tooltip (label, state and reasons), so tests and people can read it.
    """
    states = states or {}
    ids = list(nodes)
    rank = _ranks(ids, edges)
    columns: dict[int, list[str]] = {}
    for tid in ids:
        columns.setdefault(rank[tid], []).append(tid)
    preds: dict[str, list[str]] = {tid: [] for tid in ids}
    for src, dst in edges:
        if src in preds and dst in preds:
            preds[dst].append(src)
    row: dict[str, float] = {}
    for r in sorted(columns):
        col = columns[r]
        if r > 0:  # order by where the tasks it requires sit (barycentre), ties in discovery order
            col.sort(key=lambda t: sum(row[p] for p in preds[t]) / len(preds[t]) if preds[t] else 0.0)
        for i, tid in enumerate(col):
            row[tid] = float(i)
    width_of = {tid: max(60.0, len(nodes[tid]["label"]) * _CHAR_W + 2 * _PAD) for tid in ids}
    x_of, x = {}, 8.0
    for r in sorted(columns):
        x_of[r] = x
        x += max(width_of[t] for t in columns[r]) + _RANK_GAP
    height = max((len(c) for c in columns.values()), default=0) * (_BOX_H + _ROW_GAP) + 8
    total_w = x - _RANK_GAP + 8
    pos = {tid: (x_of[rank[tid]], 8 + row[tid] * (_BOX_H + _ROW_GAP)) for tid in ids}

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nbpipe-static-svg" width="{total_w:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {total_w:.0f} {height:.0f}" role="img" '
        f'aria-label="pipeline graph" style="font-family:sans-serif;font-size:11px">',
        '<defs><marker id="nbpipe-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#757575"/></marker></defs>',
    ]
    for src, dst in edges:
        if src not in pos or dst not in pos:
            continue
        (sx, sy), (dx, dy) = pos[src], pos[dst]
        x1, y1 = sx + width_of[src], sy + _BOX_H / 2
        x2, y2 = dx, dy + _BOX_H / 2
        mid = (x1 + x2) / 2
        parts.append(
            f'<path d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
            'fill="none" stroke="#757575" stroke-width="1" marker-end="url(#nbpipe-arrow)"/>'
        )
    for tid in ids:
        node = nodes[tid]
        state = states.get(tid) or node["state"]
        style = _style(state)
        fill, stroke, label = (style.fill, style.stroke, style.label) if style else ("#ffffff", "#616161", state)
        tip = f"{node['label']}\nstate: {label}" + "".join(f"\n- {r}" for r in node.get("reasons") or ())
        bx, by = pos[tid]
        parts.append(
            f'<g class="nbpipe-static-node nbpipe-state-{html.escape(state)}" data-task-id="{html.escape(tid)}">'
            f"<title>{html.escape(tip)}</title>"
            f'<rect x="{bx:.1f}" y="{by:.1f}" width="{width_of[tid]:.1f}" height="{_BOX_H}" rx="5" '
            f'fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{bx + width_of[tid] / 2:.1f}" y="{by + _BOX_H / 2 + 4:.1f}" text-anchor="middle" '
            f'fill="#212121">{html.escape(node["label"])}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _legend(shown: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for s in shown:
        counts[s] = counts.get(s, 0) + 1
    items = []
    for state in LEGEND_ORDER:
        n = counts.get(state.value, 0)
        if n:
            style = STYLES[state]
            items.append(
                f'<span title="{html.escape(style.meaning)}" style="margin-right:10px;white-space:nowrap">'
                f'<span style="display:inline-block;width:10px;height:10px;background:{style.fill};'
                f'border:1px solid {style.stroke};margin-right:4px"></span>{html.escape(style.label)} {n}</span>'
            )
    return f'<div class="nbpipe-static-legend" style="margin:4px 0">{"".join(items)}</div>'


def static_dag_html(nodes: dict, edges: list[list[str]], states: dict | None = None, table: str = "") -> str:
    """The whole static view: a legend, the SVG (up to :data:`MAX_DRAWN_TASKS` tasks) and ``table`` (the
    per-task list, folded away under the picture when there is one)."""
    states = states or {}
    shown = [states.get(tid) or node["state"] for tid, node in nodes.items()]
    parts = ['<div class="nbpipe-static">', _legend(shown)]
    if 0 < len(nodes) <= MAX_DRAWN_TASKS:
        parts.append(f'<div style="overflow:auto;max-height:560px">{static_svg(nodes, edges, states)}</div>')
        if table:
            parts.append(f"<details><summary>tasks and why</summary>{table}</details>")
    elif table:
        parts.append(table)
    parts.append("</div>")
    return "".join(parts)


def graph_from_events(events: Iterable[RunEvent]) -> tuple[dict, list[list[str]]]:
    """(nodes, edges) of a finished run, from its events alone: each task's last shown state and why.

    Used where there is no widget (``nbpipe execute``, a terminal): the run's
    summary then draws the graph as it ended.
    """
    from nbpipe.notebook.graph import upstream_failure_reason

    nodes: dict[str, dict] = {}
    deps: dict[str, list[str]] = {}
    started: dict[str, float] = {}
    for ev in events:
        tid = ev.task_id
        if not tid:
            continue
        if ev.kind in (Kind.DISCOVERED, Kind.SUSPENDED):
            deps.setdefault(tid, [])
            deps[tid] += [d for d in ev.deps if d not in deps[tid]]
        if tid not in nodes:
            label = str(ev.task) if ev.task is not None else tid
            nodes[tid] = {
                "label": label if len(label) <= 60 else label[:57] + "...",
                "state": ShownState.NOT_BUILT.value,
                "reasons": [],
            }
        state = shown_for_event(ev.kind)
        if state is None:
            continue
        node = nodes[tid]
        node["state"] = state.value
        if ev.kind == Kind.RUNNING:
            started[tid] = ev.time
        if ev.kind == Kind.DONE:
            node["reasons"] = [f"ran in {ev.time - started[tid]:.2f} s"] if tid in started else []
        elif ev.kind in (Kind.FAILED, Kind.MISSING, Kind.SCHEDULING_FAILED, Kind.DISABLED):
            error = ev.data.get("error") or ev.reason
            node["reasons"] = [str(error).splitlines()[0]] if error else []
    states = {tid: n["state"] for tid, n in nodes.items()}
    for tid, node in nodes.items():
        if node["state"] == ShownState.UPSTREAM_FAILED:
            node["reasons"] = [upstream_failure_reason(tid, deps, states, nodes)]
        elif node["state"] == ShownState.NOT_BUILT:
            node["reasons"] = ["not run: the run stopped before it"]
    edges = [[d, tid] for tid, ds in deps.items() for d in ds if d in nodes]
    return nodes, edges
