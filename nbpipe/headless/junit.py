"""JUnit XML for ``nbpipe execute --junit``: one test case per task of every pipeline run, one per cell error."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

__all__ = ["write_junit"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd]")


def _clean(text: str) -> str:
    """Tracebacks from kernels carry colour codes; XML 1.0 allows neither them nor other control characters."""
    return _NOT_XML.sub("", _ANSI.sub("", text or ""))


def write_junit(
    target: Path, notebook: Path, runs: list[dict], cell_error: dict | None, elapsed: float, cut_short: str = ""
) -> None:
    """Write the report; ``cut_short`` says why the notebook stopped before its end (a timeout, a dead kernel)."""
    suite = ET.Element("testsuite", name=f"nbpipe {notebook.name}", time=f"{elapsed:.3f}")
    tests = failures = errors = skipped = 0
    for number, run in enumerate(runs, 1):
        for task in run.get("tasks", []):
            tests += 1
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{notebook.stem}.run{number}.{task['family']}",
                name=task["name"],
                time=f"{task.get('duration') or 0:.3f}",
            )
            status = task["status"]
            if status == "failed":
                failures += 1
                node = ET.SubElement(case, "failure", message=_clean(task.get("message", "failed")), type="TaskFailed")
                node.text = _clean(task.get("details", ""))
            elif status == "scheduling_error":
                errors += 1
                node = ET.SubElement(case, "error", message=_clean(task.get("message", "")), type="SchedulingError")
                node.text = _clean(task.get("details", ""))
            elif status not in ("completed", "already_done"):
                skipped += 1
                ET.SubElement(case, "skipped", message=status.replace("_", " "))
    if cell_error is not None:
        tests += 1
        errors += 1
        case = ET.SubElement(suite, "testcase", classname=f"{notebook.stem}.cells", name=f"cell {cell_error['index']}")
        node = ET.SubElement(
            case, "error", message=_clean(f"{cell_error['ename']}: {cell_error['evalue']}"), type=cell_error["ename"]
        )
        node.text = _clean(cell_error["traceback"])
    if cut_short:
        # Without a case of its own, a notebook whose kernel died would read as passed.
        tests += 1
        errors += 1
        case = ET.SubElement(suite, "testcase", classname=f"{notebook.stem}.cells", name="notebook")
        ET.SubElement(case, "error", message=_clean(cut_short), type="NotebookCutShort")
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    ET.ElementTree(suite).write(target, encoding="utf-8", xml_declaration=True)
