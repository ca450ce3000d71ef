"""``nbpipe execute NOTEBOOK.ipynb``: run every cell in a fresh kernel with nbclient, for CI.

The kernel runs in a headless environment (:mod:`nbpipe.headless.protocol`:
the magics then show text, ``--background`` runs are awaited, and each
``%pipeline run`` appends its outcome to a report file as one JSON line),
which this module prints as it happens and turns into the exit code and the
JUnit report.

Exit codes (see also :mod:`nbpipe.retcodes`):

====  ================================================================
0     every cell ran and every pipeline run succeeded (a cell calling
      ``sys.exit(0)`` or ``sys.exit()`` ends the notebook early, with
      success, as papermill does)
2     bad arguments (checked before any cell runs: the notebook is
      readable, ``-p`` names are assigned by the ``parameters`` cell,
      ``--output`` / ``--junit`` folders exist, the kernel exists), or a
      usage mistake in a ``%pipeline`` command (unknown task, bad value)
20+   a pipeline run's own code: 20 missing data, 25 not run, 30 failed
      tasks, 35 scheduling errors (the largest one wins)
50    a cell raised an error (a ``%%pipeline`` cell too), or called
      ``sys.exit`` with another code
60    a cell timed out, or the kernel died
130   Ctrl-C (SIGINT): the kernel was interrupted, the run inside it
      stopped as on Ctrl-C, and the notebook written; a second Ctrl-C
      ends at once
143   SIGTERM, the same way
====  ================================================================
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nbpipe import retcodes
from nbpipe.exceptions import UsageError
from nbpipe.headless.console import cell_error_record, describe_cell_error, kernel_stderr, task_failures
from nbpipe.headless.parameters import check_parameters, inject, parse_value
from nbpipe.headless.protocol import kernel_environment, read_runs

__all__ = ["execute_notebook", "CELL_ERROR", "TIMEOUT", "parse_value", "default_output"]

CELL_ERROR = 50
TIMEOUT = 60
#: The exception a ``%pipeline`` usage mistake raises in the kernel (nbpipe.exceptions).
_MAGIC_USAGE_ERROR = "PipelineUsageError"
#: ``str(SystemExit(x))`` for the exits that mean success: sys.exit(), sys.exit(0), sys.exit(None).
_CLEAN_EXITS = ("", "0", "None")


@dataclass
class _Outcome:
    runs: list[dict] = field(default_factory=list)
    cell_error: dict | None = None
    timed_out: str = ""
    exited_early: int | None = None  # the cell that called sys.exit(0)
    stopped_by: str | None = None  # "SIGINT" or "SIGTERM" when a signal interrupted the kernel


def default_output(path: Path) -> Path:
    """``NOTEBOOK.executed.ipynb`` beside the input (the project's .gitignore ignores ``*.executed.ipynb``)."""
    return path.with_name(path.stem + ".executed.ipynb")


def _read(path: Path) -> Any:
    import nbformat

    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a notebook")
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such notebook") from None
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{path}: not a valid notebook ({first})") from None
    return nb


def _check_file_argument(option: str, target: Path, notebook: Path) -> None:
    if target.resolve() == notebook.resolve():
        raise UsageError(f"{option} {target}: that is the input notebook; name another file")
    if target.is_dir():
        raise UsageError(f"{option} {target}: is a folder; name a file in it")
    if not target.parent.is_dir():
        raise UsageError(f"{option} {target}: folder {target.parent} does not exist; create it first")


def _check_kernel(client: Any, kernel_name: str) -> None:
    try:
        client.km = client.create_kernel_manager()
        client.km.kernel_spec  # noqa: B018 - reading it looks the kernel up
    except Exception as exc:  # noqa: BLE001 - jupyter_client's NoSuchKernel, and a broken spec
        if type(exc).__name__ == "NoSuchKernel":
            raise UsageError(f"--kernel {kernel_name}: no such kernel (see `jupyter kernelspec list`)") from None
        raise UsageError(f"--kernel {kernel_name}: cannot be used ({type(exc).__name__}: {exc})") from None


def execute_notebook(
    path: str | Path,
    parameters: dict[str, Any] | None = None,
    output: str | Path | None = None,
    junit: str | Path | None = None,
    timeout: float | None = None,
    kernel: str | None = None,
    cwd: str | Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the notebook; print each pipeline run's summary, every failure's cause and a verdict; return the code.

    Every argument is checked before the kernel starts; a bad one prints one
    line on ``err`` and returns 2 with no cell run.  Relative paths in the
    notebook resolve from its own folder (``cwd`` overrides), as in Jupyter;
    ``output`` and ``junit`` from the caller's.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        return _execute(Path(path), parameters or {}, output, junit, timeout, kernel, cwd, out, err)
    except UsageError as exc:
        print(f"nbpipe execute: error: {exc}", file=err)
        return retcodes.USAGE_ERROR


def _execute(
    path: Path,
    parameters: dict[str, Any],
    output: str | Path | None,
    junit: str | Path | None,
    timeout: float | None,
    kernel: str | None,
    cwd: str | Path | None,
    out: TextIO,
    err: TextIO,
) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = _read(path)
    check_parameters(nb, str(path), parameters)
    target = Path(output) if output else default_output(path)
    _check_file_argument("--output", target, path)
    if junit:
        _check_file_argument("--junit", Path(junit), path)
    workdir = Path(cwd) if cwd else path.parent
    if not workdir.is_dir():
        raise UsageError(f"--cwd {workdir}: not a directory")
    inject(nb, parameters)
    kernel_name = kernel or nb.metadata.get("kernelspec", {}).get("name") or "python3"
    extra = []
    if nb.metadata.get("kernelspec", {}).get("language", "python") == "python" and kernel_name.startswith("python"):
        # The kernel binds 127.0.0.1 only; its warning that TCP is not
        # encrypted is noise in a CI log.  Its errors still show.
        extra = ["--IPKernelApp.log_level=ERROR"]
    outcome = _Outcome()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nbpipe-execute-") as scratch:
        report = Path(scratch) / "runs.jsonl"

        def after_cell(cell, cell_index, execute_reply):
            for run in read_runs(report, len(outcome.runs)):
                outcome.runs.append(run)
                out.write(run["summary_text"] + "\n")
                for line in task_failures(run):
                    out.write(line + "\n")
                out.flush()

        running: list[int] = []  # the index of the cell the kernel is running

        def before_cell(cell, cell_index):
            running[:] = [cell_index]

        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name=kernel_name,
            extra_arguments=extra,
            resources={"metadata": {"path": str(workdir)}},
            on_cell_execute=before_cell,
            on_cell_executed=after_cell,
        )
        _check_kernel(client, kernel_name)
        kernel: list[Any] = []  # its process, kept to read how it ended

        def on_start(notebook) -> None:
            kernel.append(getattr(getattr(client.km, "provisioner", None), "process", None))
            _signals_interrupt_the_kernel(client, outcome)

        client.on_notebook_start = on_start
        with open(Path(scratch) / "kernel.stderr", "w+", encoding="utf-8", errors="replace") as kernel_err:
            try:
                # The kernel's own stderr goes to a file, shown below without shutdown noise.
                client.execute(env=kernel_environment(report), stderr=kernel_err)
            except CellTimeoutError as exc:
                where = _cell_named(nb, running)
                outcome.timed_out = f"{where} ran longer than --timeout {timeout:g} s" if timeout else str(exc)
            except DeadKernelError:
                outcome.timed_out = f"the kernel died{_how_it_ended(kernel)} while running {_cell_named(nb, running)}"
            except CellExecutionError as exc:
                index = _failed_cell(nb)
                if exc.ename == "SystemExit" and exc.evalue.strip() in _CLEAN_EXITS:
                    outcome.exited_early = index
                else:
                    outcome.cell_error = cell_error_record(nb, index, exc.ename, exc.evalue, str(exc))
            after_cell(None, None, None)
            kernel_err.seek(0)
            noise_free = kernel_stderr(kernel_err.read())
        if noise_free:
            print(noise_free, file=err)
    elapsed = time.monotonic() - started
    nbformat.write(nb, str(target))
    if junit:
        from nbpipe.headless.junit import write_junit

        write_junit(Path(junit), path, outcome.runs, outcome.cell_error, elapsed, outcome.timed_out)
    if outcome.cell_error is not None:
        for line in describe_cell_error(outcome.cell_error):
            out.write(line + "\n")
    code = _exit_code(outcome)
    out.write(_verdict(path, outcome, code, elapsed, target) + "\n")
    out.flush()
    return code


def _signals_interrupt_the_kernel(client: Any, outcome: _Outcome) -> None:
    """Ctrl-C or SIGTERM interrupts the kernel, as Jupyter's stop button does; a second one ends it.

    The run inside the kernel then stops as on Ctrl-C (its summary is
    reported, workers stopped, partial outputs discarded), its cell fails
    with KeyboardInterrupt, the notebook is written, and the exit code is
    130 (SIGINT) or 143 (SIGTERM).  nbclient's own handlers, which this
    replaces once the kernel has started, would shut the kernel down at once.
    """
    import asyncio

    def on_signal(signum: int) -> None:
        first = outcome.stopped_by is None
        outcome.stopped_by = outcome.stopped_by or signal.Signals(signum).name
        process = getattr(getattr(client.km, "provisioner", None), "process", None)
        if first and process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGINT)
        else:
            asyncio.ensure_future(client._async_cleanup_kernel())

    try:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
    except (RuntimeError, NotImplementedError):
        pass  # not the main thread, or no signals here: nbclient's handling stays


def _cell_named(nb, running: list[int]) -> str:
    """``cell 3 (`%pipeline run Report`)``: the cell by its index (as in other messages) and first line."""
    if not running:
        return "a cell"
    lines = str(nb.cells[running[0]].get("source", "")).strip().splitlines()
    first = lines[0] if lines else ""
    return f"cell {running[0]} (`{first[:60]}`)" if first else f"cell {running[0]}"


def _how_it_ended(kernel: list[Any]) -> str:
    """How the kernel process ended, when it can be known: a signal (the out-of-memory killer's SIGKILL) or a code."""
    process = kernel[0] if kernel else None
    code = process.poll() if process is not None else None
    if code is None:
        return ""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = ": out of memory?" if code == -signal.SIGKILL else ""  # what kills a kernel with SIGKILL, mostly
        return f" (killed by {name}{hint})"
    return f" (exit code {code})"


def _failed_cell(nb) -> int | None:
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return index
    return None


def _exit_code(outcome: _Outcome) -> int:
    if outcome.stopped_by is not None:
        return retcodes.TERMINATED if outcome.stopped_by == "SIGTERM" else retcodes.INTERRUPTED
    if outcome.timed_out:
        return TIMEOUT
    if outcome.cell_error is not None:
        return retcodes.USAGE_ERROR if outcome.cell_error["ename"] == _MAGIC_USAGE_ERROR else CELL_ERROR
    return max((run.get("exit_code", 0) for run in outcome.runs), default=0)


def _verdict(path: Path, outcome: _Outcome, code: int, elapsed: float, target: Path) -> str:
    ran = sum(len(r.get("completed", [])) for r in outcome.runs)
    failed = sum(len(r.get("failed", [])) for r in outcome.runs)
    head = "OK" if code == 0 else f"FAILED (exit code {code})"
    detail = f"{len(outcome.runs)} pipeline run(s), {ran} task(s) ran, {failed} failed"
    if outcome.timed_out:
        detail += f"; {outcome.timed_out}"
    if outcome.cell_error is not None:
        error = outcome.cell_error
        detail += f"; cell {error['index']} raised {error['ename']}"
    if outcome.exited_early is not None:
        detail += f"; cell {outcome.exited_early} called sys.exit(0), so the later cells did not run"
    return f"nbpipe execute {path.name}: {head} — {detail} in {elapsed:.1f} s; executed notebook: {target}"
