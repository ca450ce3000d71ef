"""A run's timeline: one Gantt row per worker slot, drawn as inline SVG from the run's events.

Each attempt of a task is a bar from its RUNNING event to the event that
ended it (DONE, FAILED or SUSPENDED; an attempt still open when the events
end runs to the last event and is shown as running).  A bar's row is the
worker named in its final event (``data["worker"]``); attempts with no worker
name, and attempts that would overlap another on the same named worker, are
packed greedily into numbered rows (first row whose last bar ended before
this one starts), so bars never overlap in a row.

The drawing is plain SVG with inline styles and a ``<title>`` per bar (no
script, no stylesheet), so it reads the same in every front end and in an
nbconvert HTML export.  Big runs are capped: only the first
:data:`MAX_BARS` attempts by start time are drawn, and the caption says so.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nbpipe.engine.events import Kind, RunEvent
from nbpipe.engine.shown_state import STYLES, ShownState

__all__ = ["Bar", "MAX_BARS", "bars_from_events", "assign_rows", "timeline_html", "format_seconds"]

#: Bars drawn at most; a bigger run draws the first ones by start time and says so.
MAX_BARS = 2000

_WIDTH = 720  # whole drawing, in px
_LABEL_W = 120  # row labels on the left
_ROW_H = 16
_BAR_H = 12
_AXIS_H = 22
_PAD = 6
_FONT = "font-family:var(--jp-ui-font-family,sans-serif);font-size:11px"


@dataclass(frozen=True)
class Bar:
    """One attempt of one task: when it ran, where, and how it ended."""

    task_id: str
    label: str  # the task as a person reads it (``str(task)``), or its id
    start: float
    end: float
    state: ShownState  # RAN, FAILED, RUNNING (suspended, or still running when the events end)
    worker: str  # "" when the final event named no worker
    note: str = ""  # "suspended" or "unfinished"; "" otherwise

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


_ENDINGS = {Kind.DONE: ShownState.RAN, Kind.FAILED: ShownState.FAILED, Kind.SUSPENDED: ShownState.RUNNING}


def bars_from_events(events: Iterable[RunEvent]) -> list[Bar]:
    """Every attempt in ``events`` as a :class:`Bar`, ordered by start time then task id."""
    opened: dict[str, RunEvent] = {}
    bars: list[Bar] = []
    last = None
    for ev in events:
        last = ev.time if last is None else max(last, ev.time)
        if ev.kind == Kind.RUNNING and ev.task_id:
            opened[ev.task_id] = ev
        elif ev.kind in _ENDINGS and ev.task_id in opened:
            began = opened.pop(ev.task_id)
            note = "suspended" if ev.kind == Kind.SUSPENDED else ""
            worker = ev.data.get("worker") or began.data.get("worker") or ""
            bars.append(_bar(began, ev.time, _ENDINGS[ev.kind], str(worker), note))
    for began in opened.values():  # interrupted, or the events were cut short
        end = last if last is not None else began.time
        bars.append(_bar(began, end, ShownState.RUNNING, str(began.data.get("worker") or ""), "unfinished"))
    bars.sort(key=lambda b: (b.start, b.task_id))
    return bars


def _bar(began: RunEvent, end: float, state: ShownState, worker: str, note: str) -> Bar:
    label = str(began.task) if began.task is not None else began.task_id
    return Bar(began.task_id, label, began.time, max(end, began.time), state, worker, note)


def assign_rows(bars: Sequence[Bar]) -> list[tuple[str, list[Bar]]]:
    """Group ``bars`` (sorted by start) into rows ``(name, bars)`` where no two bars overlap.

    Named workers come first, in order of their first bar, then the slots
    packed for bars without a worker name ("slot 1", "slot 2", ...).  A named
    worker whose bars overlap (a name shared by several threads) gets extra
    rows "name #2", ... packed the same way.
    """
    named: dict[str, list[list[Bar]]] = {}
    unnamed: list[list[Bar]] = []
    for bar in bars:
        lanes = named.setdefault(bar.worker, []) if bar.worker else unnamed
        for lane in lanes:
            if lane[-1].end <= bar.start:
                lane.append(bar)
                break
        else:
            lanes.append([bar])
    rows: list[tuple[str, list[Bar]]] = []
    for name, lanes in named.items():
        rows += [(name if i == 0 else f"{name} #{i + 1}", lane) for i, lane in enumerate(lanes)]
    rows += [(f"slot {i + 1}", lane) for i, lane in enumerate(unnamed)]
    return rows


def format_seconds(seconds: float) -> str:
    """A duration for a tooltip or an axis tick: "250 ms", "1.5 s", "3 min 20 s", "1 h 5 min"."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.3g} s"
    if seconds < 3600:
        m, s = divmod(round(seconds), 60)
        return f"{m} min {s} s" if s else f"{m} min"
    h, m = divmod(round(seconds / 60), 60)
    return f"{h} h {m} min" if m else f"{h} h"


def _tick_step(span: float, max_ticks: int = 8) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving at most ``max_ticks`` ticks over ``span``."""
    raw = span / max_ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def timeline_html(events: Sequence[RunEvent], max_bars: int = MAX_BARS) -> str:
    """The timeline of a run as HTML (a ``<details>`` holding an inline SVG); "" when no task ran."""
    bars = bars_from_events(events)
    if not bars:
        return ""
    total = len(bars)
    bars = bars[:max_bars]
    rows = assign_rows(bars)
    t0 = min(b.start for b in bars)
    span = max(max(b.end for b in bars) - t0, 1e-3)
    plot_w = _WIDTH - _LABEL_W - _PAD - 24  # room on the right for the last tick's label
    scale = plot_w / span
    height = _PAD + len(rows) * _ROW_H + _AXIS_H
    out = [
        f'<svg class="nbpipe-timeline-svg" xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {height}" style="max-width:100%;height:auto;{_FONT}" role="img" '
        f'aria-label="timeline: {total} task attempt(s) on {len(rows)} worker slot(s)">'
    ]
    x0 = _LABEL_W + _PAD
    axis_y = _PAD + len(rows) * _ROW_H
    step = _tick_step(span)
    tick = 0.0
    while tick <= span + step * 1e-9:
        x = x0 + tick * scale
        out.append(
            f'<line x1="{x:.1f}" y1="{_PAD}" x2="{x:.1f}" y2="{axis_y + 4}" stroke="#9e9e9e" stroke-opacity="0.35"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle" fill="currentColor">'
            f"{html.escape(format_seconds(tick) if tick else '0')}</text>"
        )
        tick += step
    out.append(f'<line x1="{x0}" y1="{axis_y}" x2="{x0 + plot_w}" y2="{axis_y}" stroke="#9e9e9e"/>')
    for i, (name, lane) in enumerate(rows):
        y = _PAD + i * _ROW_H
        short = name if len(name) <= 18 else name[:17] + "…"
        out.append(
            f'<text class="nbpipe-timeline-row" x="{_LABEL_W}" y="{y + _BAR_H - 1}" text-anchor="end" '
            f'fill="currentColor"><title>{html.escape(name)}</title>{html.escape(short)}</text>'
        )
        for bar in lane:
            style = STYLES[bar.state]
            x = x0 + (bar.start - t0) * scale
            w = max(bar.duration * scale, 1.0)
            state = bar.note or style.label
            tip = f"{bar.label}: {format_seconds(bar.duration)}, {state}" + (f" (on {name})" if name else "")
            out.append(
                f'<rect class="nbpipe-bar" data-state="{bar.state.value}" x="{x:.1f}" y="{y + 1}" '
                f'width="{w:.1f}" height="{_BAR_H}" fill="{style.fill}" stroke="{style.stroke}" stroke-width="0.75">'
                f"<title>{html.escape(tip)}</title></rect>"
            )
    out.append("</svg>")
    caption = f"timeline: {total} task attempt{'s' if total != 1 else ''} on {len(rows)} worker slot"
    caption += "s" if len(rows) != 1 else ""
    note = ""
    if total > len(bars):
        note = (
            f'<p class="nbpipe-timeline-capped">Showing the first {len(bars):,} of {total:,} attempts '
            "(by start time); the rest are not drawn.</p>"
        )
    return (
        f'<details class="nbpipe-timeline" open><summary>{html.escape(caption)}</summary>{note}{"".join(out)}'
        f"{_legend(bars)}</details>"
    )


def _legend(bars: Sequence[Bar]) -> str:
    """One swatch per outcome drawn, in a fixed order (inline styles: exports have no stylesheet)."""
    present = {b.state for b in bars}
    items = []
    for state in (ShownState.RAN, ShownState.FAILED, ShownState.RUNNING):
        if state in present:
            style = STYLES[state]
            label = "running or suspended" if state is ShownState.RUNNING else style.label
            items.append(
                f'<span style="margin-right:12px"><span style="display:inline-block;width:10px;height:10px;'
                f'background:{style.fill};border:1px solid {style.stroke};vertical-align:middle"></span> '
                f"{html.escape(label)}</span>"
            )
    return f'<div class="nbpipe-timeline-legend" style="{_FONT};margin-left:{_LABEL_W}px">{"".join(items)}</div>'
