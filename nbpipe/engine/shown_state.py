"""The states a task is shown in: one vocabulary for the widget, its legend, tooltips and ``nbpipe status``.

Three state machines meet here, each with its own vocabulary:

* :data:`nbpipe.engine.events.KindName` (constants in ``Kind``) — what
  happened to a task in a run (the event stream);
* :data:`nbpipe.engine.scheduling.StateName` (constants in ``State``) —
  where the scheduler holds a task;
* :class:`ShownState` — what a person is told about a task, in a run or
  between runs.

The mappings between them are explicit (:data:`SHOWN_FOR_EVENT`,
:data:`SHOWN_FOR_SCHEDULER_STATE`), and every shown state has one style
(:data:`STYLES`): label, colours and meaning.  The browser's TypeScript
union, colours and legend are generated from this module
(``python -m nbpipe.engine.shown_state``; a test checks the generated file
is current), so the two sides cannot drift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from nbpipe.engine.events import Kind
from nbpipe.engine.scheduling import State

__all__ = [
    "ShownState",
    "StateStyle",
    "STYLES",
    "LEGEND_ORDER",
    "SHOWN_FOR_EVENT",
    "SHOWN_FOR_SCHEDULER_STATE",
    "shown_for_event",
    "typescript_source",
]


class ShownState(StrEnum):
    """What a task is, as shown to a person."""

    NOT_BUILT = "not_built"
    RUNNING = "running"
    RAN = "ran"
    COMPLETE = "complete"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"
    EXTERNAL_MISSING = "external_missing"
    INVALIDATED = "invalidated"
    STALE = "stale"
    DISABLED = "disabled"
    UNSCHEDULABLE = "unschedulable"


@dataclass(frozen=True)
class StateStyle:
    label: str  # a word or two, for the legend and the detail panel
    fill: str  # node fill; mid-light so dark text stays legible on light and dark themes
    stroke: str  # node outline
    meaning: str  # one sentence: what the state says about the task


STYLES: dict[ShownState, StateStyle] = {
    ShownState.NOT_BUILT: StateStyle(
        "not built", "#e0e0e0", "#757575", "not built yet: its outputs are not there, so it will run"
    ),
    ShownState.RUNNING: StateStyle("running", "#90caf9", "#1565c0", "running now (in this run or another one)"),
    ShownState.RAN: StateStyle("ran", "#66bb6a", "#1b5e20", "ran successfully in this run"),
    ShownState.COMPLETE: StateStyle("complete", "#c8e6c9", "#388e3c", "was already complete: its outputs exist"),
    ShownState.FAILED: StateStyle("failed", "#ef5350", "#b71c1c", "its last attempt raised an error"),
    ShownState.UPSTREAM_FAILED: StateStyle(
        "upstream failed", "#ffab91", "#d84315", "not run because a task it requires failed"
    ),
    ShownState.EXTERNAL_MISSING: StateStyle(
        "external input missing", "#f8bbd0", "#ad1457", "an external input that nothing here can make is absent"
    ),
    ShownState.INVALIDATED: StateStyle(
        "invalidated", "#ce93d8", "#6a1b9a", "marked to be rerun; its old outputs stay until the rerun replaces them"
    ),
    ShownState.STALE: StateStyle(
        "stale", "#ffe082", "#ff8f00", "complete, but its code, parameters or inputs changed since it ran"
    ),
    ShownState.DISABLED: StateStyle(
        "disabled", "#f5f5f5", "#9e9e9e", "disabled after repeated failures: it will not run until re-enabled"
    ),
    ShownState.UNSCHEDULABLE: StateStyle(
        "could not be scheduled",
        "#e57373",
        "#880e4f",
        "could not be scheduled: requires() or complete() raised, or a cycle",
    ),
}

#: Legend order: activity first, then settled states, then problems.
LEGEND_ORDER: tuple[ShownState, ...] = (
    ShownState.NOT_BUILT,
    ShownState.RUNNING,
    ShownState.RAN,
    ShownState.COMPLETE,
    ShownState.STALE,
    ShownState.INVALIDATED,
    ShownState.FAILED,
    ShownState.UPSTREAM_FAILED,
    ShownState.EXTERNAL_MISSING,
    ShownState.UNSCHEDULABLE,
    ShownState.DISABLED,
)

#: Which state a group of tasks (a collapsed family) shows: the first of these any member is in.
GROUP_PRIORITY: tuple[ShownState, ...] = (
    ShownState.FAILED,
    ShownState.UNSCHEDULABLE,
    ShownState.RUNNING,
    ShownState.UPSTREAM_FAILED,
    ShownState.EXTERNAL_MISSING,
    ShownState.INVALIDATED,
    ShownState.STALE,
    ShownState.NOT_BUILT,
    ShownState.RAN,
    ShownState.COMPLETE,
    ShownState.DISABLED,
)

#: Run events that change what a task is shown as.  Kinds absent here (run
#: framing, DISCOVERED, SUSPENDED, PROGRESS) leave the shown state as it was.
SHOWN_FOR_EVENT: dict[str, ShownState] = {
    Kind.PENDING: ShownState.NOT_BUILT,
    Kind.RETRY_WAIT: ShownState.NOT_BUILT,
    Kind.RUNNING: ShownState.RUNNING,
    Kind.RUN_BY_OTHER: ShownState.RUNNING,
    Kind.DONE: ShownState.RAN,
    Kind.COMPLETE: ShownState.COMPLETE,
    Kind.FAILED: ShownState.FAILED,
    Kind.DISABLED: ShownState.DISABLED,
    Kind.UPSTREAM_FAILED: ShownState.UPSTREAM_FAILED,
    Kind.MISSING: ShownState.EXTERNAL_MISSING,
    Kind.SCHEDULING_FAILED: ShownState.UNSCHEDULABLE,
}

#: Each scheduler state, as shown.
SHOWN_FOR_SCHEDULER_STATE: dict[str, ShownState] = {
    State.PENDING: ShownState.NOT_BUILT,
    State.RETRY_WAIT: ShownState.NOT_BUILT,
    State.RUNNING: ShownState.RUNNING,
    State.RUN_BY_OTHER: ShownState.RUNNING,
    State.DONE: ShownState.RAN,
    State.COMPLETE: ShownState.COMPLETE,
    State.FAILED: ShownState.FAILED,
    State.DISABLED: ShownState.DISABLED,
    State.UPSTREAM_FAILED: ShownState.UPSTREAM_FAILED,
    State.MISSING: ShownState.EXTERNAL_MISSING,
    State.SCHEDULING_FAILED: ShownState.UNSCHEDULABLE,
}


def shown_for_event(kind: str) -> ShownState | None:
    """The shown state an event of ``kind`` puts its task in; None when the event changes nothing shown."""
    return SHOWN_FOR_EVENT.get(kind)


def typescript_source() -> str:
    """The TypeScript module the front end imports (``labextension/src/states.generated.ts``)."""
    names = " | ".join(f"'{s.value}'" for s in ShownState)
    styles = {
        s.value: {
            "label": STYLES[s].label,
            "fill": STYLES[s].fill,
            "stroke": STYLES[s].stroke,
            "description": STYLES[s].meaning,
        }
        for s in ShownState
    }
    lines = [
        "// Generated by `python -m nbpipe.engine.shown_state` from nbpipe/engine/shown_state.py.",
        "// Do not edit: change the Python definitions and regenerate (a test checks this file is current).",
        "",
        "/** The states a task is shown in (ShownState in Python). */",
        f"export type TaskState = {names};",
        "",
        "export interface IStateStyle {",
        "  /** A word or two for the legend and the detail panel. */",
        "  label: string;",
        "  /** Node fill colour. */",
        "  fill: string;",
        "  /** Node outline colour. */",
        "  stroke: string;",
        "  /** What the state says about the task. */",
        "  description: string;",
        "}",
        "",
        "export const STATE_STYLES: { readonly [S in TaskState]: IStateStyle } = " + json.dumps(styles, indent=2) + ";",
        "",
        "/** All states, in legend order. */",
        "export const STATES: readonly TaskState[] = " + json.dumps([s.value for s in LEGEND_ORDER]) + ";",
        "",
        "/** Which state a collapsed family shows: the first of these any member is in. */",
        "export const STATE_PRIORITY: readonly TaskState[] = " + json.dumps([s.value for s in GROUP_PRIORITY]) + ";",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(typescript_source(), end="")
