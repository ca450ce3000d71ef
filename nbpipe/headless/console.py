"""What ``nbpipe execute`` says on the console about failures: why each task and cell failed, and kernel noise.

A CI log is often all a person sees of a run, so each failed task is shown
with its error and the end of its traceback, and a failed cell with its
number, line, source line and exception — not only inside the executed
notebook.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["strip_ansi", "task_failures", "cell_error_record", "describe_cell_error", "kernel_stderr"]

#: How many lines of a traceback's end the console shows.
TAIL_LINES = 6

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")
#: What a failed %%pipeline cell raises (nbpipe.exceptions), and where its message gives the line.
_PIPELINE_CELL_ERROR = "PipelineMagicError"
_PIPELINE_CELL_LINE = re.compile(r"^this %%pipeline cell raised \w+ at line (\d+)")
_LOG_INTRO = re.compile(r"^\[\w+\] ERROR \| .*:\s*$")
_IPYTHON_INPUT_LINE = re.compile(r'File "[^"]*(?:ipykernel_\d+|ipython-input)[^"]*", line (\d+)')


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text or "")


def _tail(details: str, first: str) -> list[str]:
    lines = [line.rstrip() for line in strip_ansi(details).splitlines() if line.strip()]
    if lines and lines[0].strip() == first.strip():
        lines = lines[1:]
    return lines[-TAIL_LINES:]


def task_failures(run: dict) -> list[str]:
    """For each failed task of a run record: a line naming it and its error, then its traceback's last lines."""
    text = []
    for task in run.get("tasks", []):
        if task.get("status") not in ("failed", "scheduling_error"):
            continue
        message = strip_ansi(task.get("message") or "failed")
        verb = "failed" if task["status"] == "failed" else "could not be scheduled"
        text.append(f"nbpipe execute: {task['name']} {verb}: {message}")
        text += [f"    | {line}" for line in _tail(task.get("details", ""), message)]
    return text


def cell_error_record(nb: Any, index: int | None, ename: str, evalue: str, traceback: str) -> dict:
    """A failed cell as plain data: index, line (when the traceback names one), source line, exception."""
    line = None
    source_line = ""
    shown: list[str] = []
    if index is not None:
        cell = nb.cells[index]
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            shown = [strip_ansi(part) for part in errors[-1].get("traceback", [])]
        pipeline_line = _PIPELINE_CELL_LINE.search(evalue) if ename == _PIPELINE_CELL_ERROR else None
        if pipeline_line and len(errors) > 1:
            # A %%pipeline cell: the real error is the one IPython showed first;
            # its line, counted with the %%pipeline line, is in our message.
            ename, evalue = errors[0].get("ename", ename), errors[0].get("evalue", evalue)
            shown = [strip_ansi(part) for part in errors[0].get("traceback", [])]
            line = int(pipeline_line.group(1))
        else:
            found = [int(m) for part in shown for m in _CELL_LINE.findall(part) + _IPYTHON_INPUT_LINE.findall(part)]
            if found:
                line = found[-1]
        source = cell.get("source", "").splitlines()
        if line is not None and 0 < line <= len(source):
            source_line = source[line - 1].strip()
        elif len(source) == 1:
            line, source_line = 1, source[0].strip()
    return {
        "index": index,
        "line": line,
        "source_line": source_line,
        "ename": ename,
        "evalue": evalue,
        "traceback": strip_ansi("\n".join(shown)) or strip_ansi(traceback),
    }


def describe_cell_error(error: dict) -> list[str]:
    """``cell 3, line 2 (`x = y`) raised NameError: ...`` and the end of its traceback."""
    where = f"cell {error['index']}" if error["index"] is not None else "a cell"
    if error.get("line"):
        where += f", line {error['line']}"
    if error.get("source_line"):
        where += f" (`{error['source_line']}`)"
    head = f"nbpipe execute: {where} raised {error['ename']}: {error['evalue']}"
    tail = _tail(error["traceback"], head)
    if len(tail) <= 1:
        return [head]  # a one-line error (a %pipeline mistake) says it all in the head
    return [head] + [f"    | {line}" for line in tail]


def kernel_stderr(text: str) -> str:
    """The kernel process's own stderr without shutdown noise; real errors are kept.

    When a kernel is interrupted or shut down (``--timeout``, the end of the
    run), ipykernel may print a traceback ending in ``ZMQError`` as its
    sockets close under it.  Those blocks are dropped; every other line stays.
    """
    kept: list[str] = []
    block: list[str] = []
    for line in text.splitlines():
        if block:
            block.append(line)
            if line and not line[0].isspace() and not line.startswith("Traceback"):
                if "ZMQError" not in line:
                    kept += block
                elif kept and _LOG_INTRO.match(kept[-1]):
                    kept.pop()  # "[IPKernelApp] ERROR | Exception in message handler:" introduced it
                block = []
        elif line.startswith("Traceback (most recent call last)"):
            block = [line]
        elif "ZMQError" not in line:
            kept.append(line)
    if block and not any("ZMQError" in line for line in block):
        kept += block
    return "\n".join(line for line in kept).strip()
