"""``nbpipe execute NOTEBOOK.ipynb``: run every cell in a fresh kernel with nbclient, for CI.

The kernel runs in a headless environment (:mod:`nbpipe.headless.protocol`:
the magics then show text, ``--background`` runs are awaited, and each
``%pipeline run`` appends its outcome to a report file as one JSON line),
which this module prints as it happens and turns into the exit code and the
JUnit report.

Exit codes (see also :mod:`nbpipe.retcodes`):

====  ================================================================
0     every cell ran and every pipeline run succeeded
2     unreadable or invalid notebook, bad arguments, unknown kernel
20+   a pipeline run's own code: 20 missing data, 25 not run, 30 failed
      tasks, 35 scheduling errors (the largest one wins)
50    a cell raised an error
60    a cell timed out, or the kernel died
====  ================================================================
"""

from __future__ import annotations

import ast
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nbpipe import retcodes
from nbpipe.headless.protocol import kernel_environment, read_runs

__all__ = ["execute_notebook", "CELL_ERROR", "TIMEOUT", "parse_value"]

CELL_ERROR = 50
TIMEOUT = 60


def parse_value(text: str) -> Any:
    """A ``-p`` value: a Python literal when it is one ("3", "[1, 2]", "True"), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _inject(nb, parameters: dict[str, Any]) -> None:
    """Put ``name = value`` lines in a new cell after the one tagged ``parameters`` (as papermill does)."""
    import nbformat

    if not parameters:
        return
    lines = ["# Parameters injected by nbpipe execute"] + [f"{k} = {v!r}" for k, v in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    where = next((i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    nb.cells.insert(0 if where is None else where + 1, cell)


@dataclass
class _Outcome:
    runs: list[dict] = field(default_factory=list)
    cell_error: dict | None = None
    timed_out: str = ""


def execute_notebook(
    path: str | Path,
    parameters: dict[str, Any] | None = None,
    output: str | Path | None = None,
    junit: str | Path | None = None,
    timeout: float | None = None,
    kernel: str | None = None,
    cwd: str | Path | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the notebook; print each pipeline run's summary and a verdict; return the exit code."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    out = out or sys.stdout
    path = Path(path)
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except FileNotFoundError:
        print(f"nbpipe execute: error: {path}: no such notebook", file=sys.stderr)
        return retcodes.USAGE_ERROR
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"nbpipe execute: error: {path}: not a valid notebook ({first})", file=sys.stderr)
        return retcodes.USAGE_ERROR
    _inject(nb, parameters or {})
    workdir = Path(cwd) if cwd else path.parent
    if not workdir.is_dir():
        print(f"nbpipe execute: error: --cwd {workdir}: not a directory", file=sys.stderr)
        return retcodes.USAGE_ERROR
    kernel_name = kernel or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    outcome = _Outcome()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nbpipe-execute-") as scratch:
        report = Path(scratch) / "runs.jsonl"

        def after_cell(cell, cell_index, execute_reply):
            for run in read_runs(report, len(outcome.runs)):
                outcome.runs.append(run)
                out.write(run["summary_text"] + "\n")
                out.flush()

        extra = []
        if nb.metadata.get("kernelspec", {}).get("language", "python") == "python" and kernel_name.startswith("python"):
            # The kernel binds 127.0.0.1 only; its warning that TCP is not
            # encrypted is noise in a CI log.  Its errors still show.
            extra = ["--IPKernelApp.log_level=ERROR"]
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name=kernel_name,
            extra_arguments=extra,
            resources={"metadata": {"path": str(workdir)}},
            on_cell_executed=after_cell,
        )
        try:
            client.execute(env=kernel_environment(report))
        except CellTimeoutError as exc:
            outcome.timed_out = f"a cell ran longer than --timeout {timeout:g} s" if timeout else str(exc)
        except DeadKernelError as exc:
            outcome.timed_out = f"the kernel died ({exc})"
        except CellExecutionError as exc:
            outcome.cell_error = {
                "index": _failed_cell(nb),
                "ename": exc.ename,
                "evalue": exc.evalue,
                "traceback": str(exc),
            }
        except Exception as exc:
            if type(exc).__name__ == "NoSuchKernel":
                print(
                    f"nbpipe execute: error: no kernel named {kernel_name!r} (see `jupyter kernelspec list`)",
                    file=sys.stderr,
                )
                return retcodes.USAGE_ERROR
            raise
        after_cell(None, None, None)
    elapsed = time.monotonic() - started
    target = Path(output) if output else path.with_name(path.stem + ".executed.ipynb")
    if target.resolve() == path.resolve():
        print(f"nbpipe execute: error: --output {target} would overwrite the input", file=sys.stderr)
        return retcodes.USAGE_ERROR
    nbformat.write(nb, str(target))
    if junit:
        from nbpipe.headless.junit import write_junit

        write_junit(Path(junit), path, outcome.runs, outcome.cell_error, elapsed)
    code = _exit_code(outcome)
    out.write(_verdict(path, outcome, code, elapsed, target) + "\n")
    out.flush()
    return code


def _failed_cell(nb) -> int | None:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return index
    return None


def _exit_code(outcome: _Outcome) -> int:
    if outcome.timed_out:
        return TIMEOUT
    if outcome.cell_error is not None:
        return CELL_ERROR
    return max((run.get("exit_code", 0) for run in outcome.runs), default=0)


def _verdict(path: Path, outcome: _Outcome, code: int, elapsed: float, target: Path) -> str:
    ran = sum(len(r.get("completed", [])) for r in outcome.runs)
    failed = sum(len(r.get("failed", [])) for r in outcome.runs)
    head = "OK" if code == 0 else f"FAILED (exit code {code})"
    detail = f"{len(outcome.runs)} pipeline run(s), {ran} task(s) ran, {failed} failed"
    if outcome.timed_out:
        detail += f"; {outcome.timed_out}"
    if outcome.cell_error is not None:
        err = outcome.cell_error
        detail += f"; cell {err['index']} raised {err['ename']}: {err['evalue']}"
    return f"nbpipe execute {path.name}: {head} — {detail} in {elapsed:.1f} s; executed notebook: {target}"
