"""Each ``nbpipe`` subcommand: its argparse parser, and the glue from parsed values to its command function.

:func:`invoke` is the one way in, for the CLI (``nbpipe status ...``) and the
notebook magics (``%pipeline status ...``) alike.  Parsers of commands that
take a TASK go through :func:`nbpipe.cmdline_parser.parse_task_command`,
which adds TASK's parameters; the others are plain argparse.  Mistakes raise
:class:`~nbpipe.cmdline_parser.UsageError`; ``--help`` prints to ``out`` and
raises ``SystemExit(0)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from nbpipe.cli import actions
from nbpipe.cli.actions import Outcome
from nbpipe.cmdline_parser import (
    ArgumentParser,
    add_task_command_options,
    parse_run_arguments,
    parse_task_command,
    run_parser,
)
from nbpipe.exceptions import NotebookLoadError, UsageError

__all__ = ["Subcommand", "SUBCOMMANDS", "invoke", "parser_for", "load_notebook"]

_TASK_USAGE = "%(prog)s [--module MOD] {options}TASK [--param value ...]"


def _task_parser(prog: str, out: TextIO | None, description: str, options: str = "") -> ArgumentParser:
    parser = ArgumentParser(
        prog=prog, add_help=False, out=out, description=description, usage=_TASK_USAGE.format(options=options)
    )
    return add_task_command_options(parser)


def _status_parser(prog: str, out: TextIO | None = None) -> ArgumentParser:
    parser = _task_parser(
        prog,
        out,
        "Each task of TASK's graph: complete, stale (and why), invalidated, "
        "not built, failed; and what a run would do.",
        "[--json] ",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _invalidate_parser(prog: str, out: TextIO | None = None) -> ArgumentParser:
    parser = _task_parser(
        prog,
        out,
        "Mark TASK to be rerun; its outputs stay until the rerun replaces them. "
        "With --clear: remove the marks (TASK's, or all).",
        "[--downstream [--within ROOT]] [--clear] ",
    )
    parser.add_argument("--downstream", action="store_true", help="also every task depending on TASK")
    parser.add_argument(
        "--within", metavar="ROOT", help="(with --downstream) the root task family whose graph bounds 'downstream'"
    )
    parser.add_argument("--clear", action="store_true", help="remove invalidation marks instead (all without TASK)")
    return parser


def _enable_parser(prog: str, out: TextIO | None = None) -> ArgumentParser:
    return _task_parser(prog, out, "Re-enable TASK, disabled after too many failures.")


def _limit(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--limit {text}: expected an integer") from None


def _history_parser(prog: str, out: TextIO | None = None) -> ArgumentParser:
    parser = ArgumentParser(prog=prog, out=out, description="Recent runs, or the attempts of a task.")
    parser.add_argument("task", nargs="?", metavar="TASK_ID | FAMILY", help="a task id or a task family")
    parser.add_argument("--limit", type=_limit, default=20, metavar="N", help="at most N rows (default 20)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _execute_parser(prog: str, out: TextIO | None = None) -> ArgumentParser:
    parser = ArgumentParser(
        prog=prog,
        out=out,
        description="Run every cell of a notebook in a fresh kernel; "
        "print each pipeline run's summary; exit non-zero on failure.",
        epilog="exit codes: 0 success, 30 failed tasks, 50 cell error, 60 timeout, 2 bad input",
    )
    parser.add_argument("notebook", metavar="NOTEBOOK.ipynb")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set NAME = VALUE (a Python literal when it is one) after the cell tagged 'parameters'",
    )
    parser.add_argument(
        "--output",
        metavar="OUT.ipynb",
        help="where to write the executed notebook (default: NOTEBOOK.executed.ipynb beside the input)",
    )
    parser.add_argument("--junit", metavar="FILE", help="write a JUnit XML report (one test case per task)")
    parser.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="longest time a cell may run")
    parser.add_argument("--kernel", metavar="NAME", help="the kernel to use (default: the notebook's)")
    parser.add_argument("--cwd", metavar="DIR", help="working directory of the kernel (default: the notebook's folder)")
    return parser


def _seconds(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"--timeout {text}: expected a number of seconds") from None


# -- from argv to a command function ---------------------------------------------------------------


def load_notebook(path: str) -> None:
    """Run NOTEBOOK.ipynb's ``%%pipeline`` cells (only those), which define the tasks named after it."""
    from nbpipe.headless.notebook_module import load_pipeline_cells

    try:
        load_pipeline_cells(path)
    except NotebookLoadError as exc:
        raise UsageError(str(exc)) from None


def _run(argv: list[str], prog: str, out: TextIO, err: TextIO, one_line: bool) -> Outcome:
    return actions.run(parse_run_arguments(argv, prog, out, load_notebook), out, err)


def _status(argv: list[str], prog: str, out: TextIO, err: TextIO, one_line: bool) -> Outcome:
    args = parse_task_command(argv, lambda: _status_parser(prog, out), load_notebook=load_notebook)
    return actions.status(args.task, out, as_json=args.json)


def _invalidate(argv: list[str], prog: str, out: TextIO, err: TextIO, one_line: bool) -> Outcome:
    args = parse_task_command(argv, lambda: _invalidate_parser(prog, out), False, load_notebook)
    if args.clear:
        return actions.clear(args.task, out)
    if args.task is None:
        raise UsageError(f"no task given: {prog} [--module MOD] TASK [--param value ...] (or --clear)")
    return actions.invalidate(args.task, out, downstream=args.downstream, within=args.within, one_line=one_line)


def _enable(argv: list[str], prog: str, out: TextIO, err: TextIO, one_line: bool) -> Outcome:
    args = parse_task_command(argv, lambda: _enable_parser(prog, out), load_notebook=load_notebook)
    return actions.enable(args.task, out)


def _history(argv: list[str], prog: str, out: TextIO, err: TextIO, one_line: bool) -> Outcome:
    args = _history_parser(prog, out).parse_args(argv)
    return actions.history(args.task, out, err, limit=args.limit, as_json=args.json)


def _execute(argv: list[str], prog: str, out: TextIO, err: TextIO, one_line: bool) -> Outcome:
    from nbpipe.headless.execute import parse_value

    args = _execute_parser(prog, out).parse_args(argv)
    for name, _ in args.parameter:
        if not name.isidentifier():
            raise UsageError(f"-p {name}: not a Python name")
    parameters = {name: parse_value(value) for name, value in args.parameter}
    return actions.execute(args.notebook, parameters, out, args.output, args.junit, args.timeout, args.kernel, args.cwd)


@dataclass(frozen=True)
class Subcommand:
    """One ``nbpipe`` subcommand: the line ``nbpipe --help`` shows, its parser, and its argv → command glue."""

    summary: str
    parser: Callable[[str, TextIO | None], ArgumentParser]
    handler: Callable[[list[str], str, TextIO, TextIO, bool], Outcome]


SUBCOMMANDS: dict[str, Subcommand] = {
    "run": Subcommand(
        "build TASK and what it needs (from --module MOD or NOTEBOOK.ipynb's %%%%pipeline cells)", run_parser, _run
    ),
    "status": Subcommand(
        "each task of TASK's graph: complete, stale (and why), invalidated, not built, failed", _status_parser, _status
    ),
    "invalidate": Subcommand(
        "mark tasks to be rerun, outputs kept until replaced; --clear removes the marks",
        _invalidate_parser,
        _invalidate,
    ),
    "enable": Subcommand("re-enable a task disabled after too many failures", _enable_parser, _enable),
    "history": Subcommand("recent runs, or the attempts of a task", _history_parser, _history),
    "execute": Subcommand("run every cell of a notebook in a fresh kernel (CI)", _execute_parser, _execute),
}


def parser_for(name: str, prog: str | None = None, out: TextIO | None = None) -> ArgumentParser:
    """Subcommand ``name``'s parser, without the options TASK adds."""
    return SUBCOMMANDS[name].parser(prog or f"nbpipe {name}", out)


def invoke(
    name: str, argv: list[str], out: TextIO, err: TextIO, prog: str | None = None, one_line: bool = False
) -> Outcome:
    """Parse ``argv`` with subcommand ``name``'s parser and run its command function.

    ``prog`` names the command in help and errors (default ``nbpipe NAME``);
    ``one_line``: the notebook's shorter listing where a command has one.
    Raises UsageError (and ConfigError, StateStoreError) for the caller to print in one line.
    """
    return SUBCOMMANDS[name].handler(list(argv), prog or f"nbpipe {name}", out, err, one_line)
