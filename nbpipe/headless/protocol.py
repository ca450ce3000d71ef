"""How ``nbpipe execute`` and the kernel it starts talk: two environment variables and a JSON-lines file.

The runner starts the kernel with :func:`kernel_environment`; in the kernel,
the magics ask :func:`in_headless_run` (show text, wait for background runs)
and hand each pipeline run's outcome to :func:`report_run`; the runner reads
them back with :func:`read_runs`.  Both sides import this module, so the
protocol is written down once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["HEADLESS_VARIABLE", "REPORT_VARIABLE", "kernel_environment", "in_headless_run", "report_run", "read_runs"]

#: Set to "1" in the kernel of a headless run.
HEADLESS_VARIABLE = "NBPIPE_HEADLESS"
#: The file where each pipeline run in the kernel appends its outcome as one JSON line.
REPORT_VARIABLE = "NBPIPE_REPORT"

# Aggregate summary categories: each of their tasks also sits in a more precise one.
_AGGREGATES = ("ever_failed", "disabled", "still_pending_not_ext")


def kernel_environment(report: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a headless run's kernel: ``base`` (default: this process's) plus the protocol."""
    env = dict(os.environ if base is None else base)
    env[HEADLESS_VARIABLE] = "1"
    env[REPORT_VARIABLE] = str(report)
    return env


def in_headless_run() -> bool:
    """True inside a kernel started by ``nbpipe execute``."""
    return os.environ.get(HEADLESS_VARIABLE) == "1"


def run_record(result: Any) -> dict:
    """One pipeline run's outcome as plain data: summary text, status, exit code, and every task's category."""
    summary = result.summary
    objects = {t.task_id: t for tasks in summary.categories.values() for t in tasks}
    category_of: dict[str, str] = {}
    for category, tasks in summary.categories.items():
        if category in _AGGREGATES:
            continue
        for t in tasks:
            category_of.setdefault(t.task_id, category)
    entries = []
    for task_id, task in objects.items():
        status = category_of.get(task_id, "not_run")
        entry = {
            "task_id": task_id,
            "name": str(task),
            "family": task.get_task_family(),
            "status": status,
            "duration": summary.durations.get(task_id),
        }
        if status == "failed":
            text = summary.failures.get(task_id, "")
            entry["message"] = text.splitlines()[0] if text else "failed"
            entry["details"] = text
        elif status == "scheduling_error":
            text = summary.scheduling_errors.get(task_id, "")
            entry["message"] = text.splitlines()[0] if text else ""
            entry["details"] = text
        entries.append(entry)
    return {
        "summary_text": result.summary_text,
        "status": result.status.name,
        "exit_code": result.exit_code,
        "completed": summary.task_ids("completed"),
        "failed": summary.task_ids("failed"),
        "tasks": entries,
    }


def report_run(result: Any) -> None:
    """Inside a headless run's kernel: append the run's outcome for the runner; elsewhere, nothing."""
    path = os.environ.get(REPORT_VARIABLE)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(run_record(result)) + "\n")


def read_runs(report: Path, seen: int = 0) -> list[dict]:
    """The run records in ``report`` after the first ``seen``."""
    if not report.exists():
        return []
    lines = report.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[seen:] if line.strip()]
