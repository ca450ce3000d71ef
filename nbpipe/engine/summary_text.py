"""Luigi's execution summary text, laid out from a run's categories.

:func:`render_summary` writes the body line for line as Luigi's
``execution_summary`` does (families grouped, parameter ranges shortened),
so code and people used to Luigi's report find the same report here;
:func:`wrap_summary` adds the title lines, ``===== nbpipe Execution Summary =====``
(the only intended difference), and :func:`strip_summary_title` removes
nbpipe's or Luigi's.
"""

from __future__ import annotations

import re
from typing import Any

from nbpipe.engine.status_codes import StatusCode, one_line_summary
from nbpipe.task_register import Register

__all__ = ["TITLE", "wrap_summary", "strip_summary_title", "render_summary", "enable_command"]

TITLE = "===== nbpipe Execution Summary ====="

# Sections of the text, in print order.  "ever_failed" has no heading and
# "still_pending" is a heading without a task list, as in Luigi's report.
_PRINT_ORDER = (
    "already_done",
    "completed",
    "ever_failed",
    "failed",
    "scheduling_error",
    "still_pending",
    "still_pending_ext",
    "run_by_other_worker",
    "upstream_failure",
    "upstream_missing_dependency",
    "upstream_run_by_other_worker",
    "upstream_scheduling_error",
    "not_run",
)
_INDENTED = frozenset(_PRINT_ORDER[_PRINT_ORDER.index("still_pending_ext") :])
_HEADINGS = {
    "already_done": "complete ones were encountered",
    "completed": "ran successfully",
    "failed": "failed",
    "scheduling_error": "failed scheduling",
    "still_pending": "were left pending, among these",
    "still_pending_ext": "were missing external dependencies",
    "run_by_other_worker": "were being run by another worker",
    "upstream_failure": "had failed dependencies",
    "upstream_missing_dependency": "had missing dependencies",
    "upstream_run_by_other_worker": "had dependencies that were being run by other worker",
    "upstream_scheduling_error": "had dependencies whose scheduling failed",
    "not_run": "was not granted run permission by the scheduler",
}

_WRAPPED = re.compile(
    r"\A\n===== (?:nbpipe|Luigi) Execution Summary =====\n\n(.*)\n\n===== (?:nbpipe|Luigi) Execution Summary =====\n\Z",
    re.S,
)


def wrap_summary(body: str) -> str:
    """``body`` between two title lines, as the summary is printed."""
    return f"\n{TITLE}\n\n{body}\n\n{TITLE}\n"


def strip_summary_title(text: str) -> str:
    """The body of a wrapped summary (nbpipe's or Luigi's), without the title lines."""
    match = _WRAPPED.match(text)
    if match is None:
        raise ValueError("not a wrapped execution summary: " + repr(text[:80]))
    return match.group(1)


def _family(task: Any) -> str:
    try:
        return task.get_task_family()
    except AttributeError:
        return task.task_family


def _names_length(params: list) -> int:
    return sum(len(name) for name, _ in params)


def _contiguous_range(values: set, param: Any) -> tuple[Any, Any]:
    """(first, last) when ``values`` are consecutive in the parameter's enumeration."""
    successors = {param.next_in_enumeration(v) for v in values}
    starts = values - successors
    beyond = successors - values
    if len(starts) == 1 and len(beyond) == 1:
        for value in values:
            if {param.next_in_enumeration(value)} == beyond:
                return next(iter(starts)), value
    return None, None


def _listed_values(tasks: list, name: str, param: Any) -> str:
    """The first values of a one-parameter family, comma-separated, cut with '...'."""
    row = ""
    last = len(tasks) - 1
    for count, task in enumerate(tasks):
        if (len(row) >= 30 and count > 2 and count != last) or len(row) > 200:
            return row + "..."
        row += str(param.serialize(getattr(task, name)))
        if count < last:
            row += ","
    return row


def _value_set(tasks: list, name: str) -> set | None:
    try:
        return {getattr(task, name) for task in tasks}
    except TypeError:  # unhashable values: no ranging
        return None


def _same_everywhere(tasks: list, name: str) -> bool:
    """True when every task has the same hashable value for ``name`` (a set of them has one member)."""
    first = getattr(tasks[0], name)
    try:
        hash(first)
        for task in tasks:
            value = getattr(task, name)
            if value is not first and value != first:
                return False
    except Exception:  # noqa: BLE001 - unhashable values (no ranging, as for a set of them), an odd __eq__
        return False
    return True


def _describe_family(family: str, tasks: list) -> str:
    """One line for the tasks of one family (already sorted by str), as Luigi words it."""
    n = len(tasks)
    first = tasks[0]
    params = first.get_params()
    if not params:
        return f"{n} {family}()"
    first_str = str(first)
    name_len = _names_length(params)
    two_long = n == 2 and len(params) > 1 and (name_len > 40 or len(first_str) > 100)
    if name_len > 60 or len(first_str) > 200 or two_long:
        return f"{n} {family}(...)"
    if len(params) == 1:
        name, param = params[0]
        values = _value_set(tasks, name)
        lo, hi = _contiguous_range(values, param) if values is not None else (None, None)
        if lo is not None and hi is not None and values is not None and len(values) > 3:
            shown = f"{param.serialize(lo)}...{param.serialize(hi)}"
        else:
            shown = _listed_values(tasks, name, param)
        return f"{n} {family}({name}={shown})"
    varying = []
    for name, param in params:
        if not _same_everywhere(tasks, name):
            varying.append((name, param))
            if len(varying) > 1:  # no range to show: the other values need not be looked at
                break
    values = _value_set(tasks, varying[0][0]) if len(varying) == 1 else None
    if values is not None:
        vname, vparam = varying[0]
        lo, hi = _contiguous_range(values, vparam)
        if lo is not None and hi is not None and len(values) > 2:
            parts = []
            for name, param in params:
                if name == vname:
                    parts.append(f"{name}={vparam.serialize(lo)}...{vparam.serialize(hi)}")
                else:
                    parts.append(f"{name}={param.serialize(getattr(first, name))}")
            return f"{n} {family}({', '.join(parts)})"
    if n == 1:
        return f"{n} {first_str}"
    if n == 2:
        return f"{n} {first_str} and {tasks[1]}"
    return f"{n} {first_str} ..."


def _group_by_family(tasks: list) -> dict[str, list]:
    groups: dict[str, list] = {}
    family_of: dict[type, str] = {}  # a task class has one family: asked once per class, not per task
    last_cls: type | None = None
    group: list = []
    for task in tasks:
        cls = type(task)
        if cls is last_cls:  # (tasks sorted by str come in runs of one class)
            group.append(task)
            continue
        family = family_of.get(cls)
        if family is None:
            family = _family(task)
            if type(cls) is Register:  # (a stand-in for an unknown task is its own family)
                family_of[cls] = family
        last_cls = cls if type(cls) is Register else None
        group = groups.setdefault(family, [])
        group.append(task)
    return groups


def _family_lines(tasks: list, indented: bool, summary_length: int) -> str:
    prefix = " " * (8 if indented else 4)
    groups = _group_by_family(tasks)
    lines: list[str] = []
    for family in sorted(groups):
        if summary_length > 0 and len(lines) >= summary_length:
            lines.append(prefix + "...")
            break
        lines.append(prefix + "- " + _describe_family(family, groups[family]))
    return "\n".join(lines)


def enable_command(task: Any) -> str:
    """The command line that re-enables ``task``: ``nbpipe enable Family --param value ...``."""
    import shlex

    words = ["nbpipe", "enable", task.get_task_family()]
    for name, value in task.to_str_params(only_significant=True).items():
        words += ["--" + name.replace("_", "-"), value]
    return shlex.join(words)


def _disabled_lines(tasks: list, reasons: dict[str, str]) -> str:
    """One line per disabled task: why, and the command that re-enables it (not in Luigi's report)."""
    lines = [f"* {len(tasks)} were disabled after repeated failures:"]
    for task in tasks:
        reason = (reasons.get(task.task_id) or "").strip().splitlines()
        why = reason[0].split("; re-enable it with")[0] if reason else "too many failures"
        why = why.removeprefix(f"{task} ")  # "Flaky(n=1): was disabled at 09:12 ...", not its name twice
        lines.append(f"    - {task}: {why}; re-enable with `{enable_command(task)}`")
    return "\n".join(lines) + "\n"


def render_summary(
    cats: dict[str, list],
    other_workers: dict[str, list],
    status: StatusCode,
    summary_length: int,
    disabled_reasons: dict[str, str] | None = None,
) -> str:
    """The summary body (without title lines), laid out as Luigi does.

    Tasks in ``cats["disabled"]`` get a section of their own after the
    failed ones, with ``disabled_reasons`` (task id to reason) and the
    ``nbpipe enable`` command; Luigi has no such section, so a run without a
    disabled task reads exactly as Luigi's.
    """
    counted = ("already_done", "completed", "failed", "scheduling_error", "still_pending_ext", "still_pending_not_ext")
    total = sum(len(cats[name]) for name in counted)
    if total == 0:
        return "Did not schedule any tasks"
    parts = [f"Scheduled {total} tasks of which:\n"]
    for status_name in _PRINT_ORDER:
        if status_name == "ever_failed":
            continue
        if status_name == "still_pending":
            n = len(cats["still_pending_ext"]) + len(cats["still_pending_not_ext"])
        else:
            n = len(cats[status_name])
        if not n:
            continue
        indented = status_name in _INDENTED
        parts.append(f"{'    ' if indented else ''}* {n} {_HEADINGS[status_name]}:\n")
        if status_name != "still_pending":
            parts.append(_family_lines(cats[status_name], indented, summary_length) + "\n")
        if status_name == "failed" and cats.get("disabled"):
            parts.append(_disabled_lines(cats["disabled"], disabled_reasons or {}))
    if other_workers:
        parts.append("\nThe other workers were:\n")
        n_workers = len(other_workers)
        for count, (worker, tasks) in enumerate(other_workers.items()):
            if 3 < count < n_workers - 1:
                # No newline after this line, as in Luigi's report.
                parts.append(f"    and {n_workers - count} other workers")
                break
            parts.append(f"    - {worker} ran {len(tasks)} tasks\n")
        parts.append("\n")
    if not cats["completed"] and not cats["failed"]:
        if not other_workers:
            parts.append("\n")
        parts.append("Did not run any tasks")
    parts.append("\n" + one_line_summary(status))
    return "".join(parts)
