"""``nbpipe status``'s text: counts per family and state, then the tasks that need attention, in short.

A graph of 10 000 tasks must read in one screen: by default a table of
counts per family and state, then at most :data:`ATTENTION_LINES` tasks that
need attention (failed, disabled, unschedulable, external input missing,
invalidated, stale, not built; the ones with a cause of their own before the
ones that are only downstream of another), each with short reasons.
``--all`` lists every task, with the same short reasons, and so does the
default for a graph of at most :data:`SMALL_GRAPH` tasks.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from nbpipe.engine.shown_state import STYLES, ShownState

__all__ = ["short_reasons", "summary_lines", "all_lines", "ATTENTION_LINES"]

#: At most this many tasks are listed under "need attention" (and families in the table).
ATTENTION_LINES = 15
FAMILY_ROWS = 10
#: A graph this small is listed task by task, as with ``--all``.
SMALL_GRAPH = 30
#: How many tasks a grouped reason names before "and N more".
NAMED = 3

# Most urgent first; COMPLETE needs no attention.
_ATTENTION_ORDER = [
    ShownState.FAILED,
    ShownState.DISABLED,
    ShownState.UNSCHEDULABLE,
    ShownState.EXTERNAL_MISSING,
    ShownState.INVALIDATED,
    ShownState.STALE,
    ShownState.NOT_BUILT,
]
_UPSTREAM = re.compile(r"^upstream (?P<task>.+) is (?P<state>[a-z ]+)$")


def _count(n: int) -> str:
    """1 419 (a thin space between thousands is hard to type; a plain one reads as well)."""
    return f"{n:,}".replace(",", " ")


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:NAMED])
    return shown if len(items) <= NAMED else f"{shown} and {_count(len(items) - NAMED)} more"


def short_reasons(reasons: Iterable[str]) -> list[str]:
    """``reasons`` with the "upstream X is stale" ones grouped: "3 upstream tasks are stale: A, B, C"."""
    own: list[str] = []
    upstream: dict[str, list[str]] = {}
    for reason in reasons:
        match = _UPSTREAM.match(reason)
        if match:
            upstream.setdefault(match["state"], []).append(match["task"])
        else:
            own.append(reason)
    for state, tasks in upstream.items():
        if len(tasks) == 1:
            own.append(f"upstream {tasks[0]} is {state}")
        else:
            own.append(f"{_count(len(tasks))} upstream tasks are {state}: {_names(tasks)}")
    return own


def _cause_rank(entry: Any) -> int:
    """0: only causes of its own; 1: its own and upstream ones; 2: only upstream ones."""
    upstream = sum(1 for reason in entry.reasons if _UPSTREAM.match(reason))
    if upstream == 0:
        return 0
    return 1 if upstream < len(entry.reasons) else 2


def _pick(attention: list[Any]) -> list[Any]:
    """At most ATTENTION_LINES tasks, every state present getting its share before any gets more."""
    by_state: dict[str, list[Any]] = {}
    for entry in attention:
        by_state.setdefault(entry.state, []).append(entry)
    share = max(1, ATTENTION_LINES // len(by_state))
    picked = [e for tasks in by_state.values() for e in tasks[:share]]
    spare = ATTENTION_LINES - len(picked)
    if spare > 0:
        chosen = {id(e) for e in picked}
        picked += [e for e in attention if id(e) not in chosen][:spare]
    order = {id(e): i for i, e in enumerate(attention)}
    return sorted(picked[:ATTENTION_LINES], key=lambda e: order[id(e)])


def _line(entry: Any, width: int) -> str:
    reasons = short_reasons(entry.reasons)
    why = f"  ({'; '.join(reasons)})" if reasons else ""
    return f"{entry.state:<{width}}  {entry.task}{why}"


def all_lines(entries: list[Any]) -> list[str]:
    """One line per task: state, task, short reasons."""
    width = max((len(e.state) for e in entries), default=0)
    return [_line(e, width) for e in entries]


def summary_lines(entries: list[Any], command: str) -> list[str]:
    """The default view: counts per family and state, then what needs attention (``command`` + ``--all`` for more)."""
    if len(entries) <= SMALL_GRAPH:
        return all_lines(entries)  # fits on a screen as it is
    states = [s for s in ShownState if any(e.state == s for e in entries)]
    by_family: dict[str, Counter] = {}
    for entry in entries:
        by_family.setdefault(entry.task.get_task_family(), Counter())[entry.state] += 1
    families = sorted(by_family, key=lambda f: (-sum(by_family[f].values()), f))
    shown, rest = families[:FAMILY_ROWS], families[FAMILY_ROWS:]
    rows = [[f, *(_count(by_family[f][s]) if by_family[f][s] else "-" for s in states)] for f in shown]
    if rest:
        merged: Counter = Counter()
        for f in rest:
            merged.update(by_family[f])
        rows.append([f"({len(rest)} more families)", *(_count(merged[s]) if merged[s] else "-" for s in states)])
    totals = Counter(e.state for e in entries)
    rows.append(["all", *(_count(totals[s]) for s in states)])
    header = ["family", *(STYLES[s].label for s in states)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))

    lines = [f"{_count(len(entries))} task(s) in the graph", fmt(header), *(fmt(r) for r in rows)]
    # Within a state: tasks with a cause of their own only (code changed, failed) first, then those
    # with their own cause and an upstream one, then those only downstream of another task.
    attention = sorted(
        (e for e in entries if e.state in _ATTENTION_ORDER),
        key=lambda e: (_ATTENTION_ORDER.index(e.state), _cause_rank(e)),
    )
    if not attention:
        lines.append("nothing needs attention: every task is complete")
        return lines
    lines.append("")
    lines.append(f"{_count(len(attention))} task(s) need attention:")
    listed = _pick(attention)
    width = max(len(e.state) for e in listed)
    lines += [_line(e, width) for e in listed]
    if len(attention) > len(listed):
        chosen = {id(e) for e in listed}
        more = Counter(e.state for e in attention if id(e) not in chosen)
        parts = ", ".join(f"{_count(n)} {state}" for state, n in more.items())
        lines.append(
            f"... and {_count(len(attention) - len(listed))} more ({parts}); {command} with --all lists every task"
        )
    return lines
