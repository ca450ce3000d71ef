"""Each ``nbpipe`` subcommand: its argparse parser, and the glue from parsed values to its command function.

:func:`invoke` is the one way in, for the CLI (``nbpipe status ...``) and the
notebook magics (``%pipeline status ...``) alike.  Parsers of commands that
take a TASK go through :func:`nbpipe.cmdline_parser.parse_task_command`,
which adds TASK's parameters; the others are plain argparse.  Mistakes raise
:class:`~nbpipe.cmdline_parser.UsageError`; ``--help`` prints to ``out`` and
raises ``SystemExit(0)``.

One folder rule (from the command line): a command given NOTEBOOK.ipynb
(``run``, ``status``, ``invalidate``, ``enable``, ``history``) works in the
notebook's folder, as Jupyter and ``nbpipe execute`` do, so relative paths,
configuration files and the state directory are the notebook's wherever the
shell is.  The magics stay in the kernel's folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

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

__all__ = [
    "Call",
    "Subcommand",
    "SUBCOMMANDS",
    "invoke",
    "parser_for",
    "load_notebook",
    "enter_notebook_folder",
    "refuse_base_class",
]

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
        "[--json] [--all] ",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (every task)")
    parser.add_argument(
        "--all",
        action="store_true",
        help="list every task (default: counts per family and state, then what needs attention)",
    )
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
    parser = ArgumentParser(
        prog=prog,
        out=out,
        usage="%(prog)s [-h] [--limit N] [--json] [--log] [NOTEBOOK.ipynb] [TASK_ID | FAMILY]",
        description="Recent runs, or the attempts of a task. With NOTEBOOK.ipynb: the history kept "
        "in the notebook's folder.",
    )
    parser.add_argument("task", nargs="*", metavar="TASK_ID | FAMILY", help="a task id or a task family")
    parser.add_argument("--limit", type=_limit, default=20, metavar="N", help="at most N rows (default 20)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--log", action="store_true", help="also the lines each task logged or printed in its last attempt"
    )
    return parser


def _execute_parser(prog: str, out: TextIO | None = None) -> ArgumentParser:
    parser = ArgumentParser(
        prog=prog,
        out=out,
        description="Run every cell of a notebook in a fresh kernel; "
        "print each pipeline run's summary; exit non-zero on failure.",
        epilog="exit codes: 0 success (sys.exit(0) in a cell ends early with success), 2 bad arguments or a "
        "%%pipeline usage mistake, 20 missing data, 25 not run, 30 failed tasks, 35 scheduling errors, "
        "50 cell error, 60 timeout or dead kernel",
    )
    parser.add_argument("notebook", metavar="NOTEBOOK.ipynb")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set NAME = VALUE (a Python literal when it is one) after the cell tagged 'parameters'; "
        "NAME must be assigned there",
    )
    parser.add_argument(
        "--output",
        metavar="OUT.ipynb",
        help="where to write the executed notebook (default: NOTEBOOK.executed.ipynb beside the input, "
        "which the project's .gitignore ignores); its folder must exist",
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


def enter_notebook_folder(path: str) -> None:
    """Work in NOTEBOOK's folder (the one folder rule): chdir, then reread the configuration there."""
    from nbpipe.configuration import reload_config

    folder = Path(path).parent
    if not Path(path).is_file():
        raise UsageError(f"{path}: no such notebook")
    os.chdir(folder)
    reload_config()  # nbpipe.toml / pyproject.toml of the notebook's folder; set_option values are kept


def _notebook_loader(call: Call) -> Callable[[str], None]:
    """What a TASK ending in .ipynb does: from the command line, move to its folder first (see the module docs)."""
    if not call.from_command_line:
        return load_notebook

    def load(path: str) -> None:
        absolute = str(Path(path).absolute())
        enter_notebook_folder(absolute)
        load_notebook(absolute)

    return load


def refuse_base_class(task: Any) -> None:
    """Raise UsageError when ``task`` is one of nbpipe's own base classes (``Task``, ``WrapperTask``...).

    They are registered like any task family, but building one runs nothing
    of the user's and reports success.
    """
    if (
        task is not None
        and type(task).__module__.split(".")[0] == "nbpipe"
        and not type(task).__module__.startswith("nbpipe.examples")
    ):
        family = task.get_task_family()
        raise UsageError(f"{family} is one of nbpipe's base classes, not a task to run; name a task defined from it")


@dataclass(frozen=True)
class Call:
    """One invocation of a subcommand: its words, its name in messages, its streams, and where it comes from."""

    argv: list[str]
    prog: str
    out: TextIO
    err: TextIO
    one_line: bool = False  # the notebook's shorter listing where a command has one
    from_command_line: bool = False  # the `nbpipe` process (not a magic): follow the one folder rule


def _run(call: Call) -> Outcome:
    plan = parse_run_arguments(call.argv, call.prog, call.out, _notebook_loader(call))
    refuse_base_class(plan.task)
    return actions.run(plan, call.out, call.err)


def _status(call: Call) -> Outcome:
    args = parse_task_command(
        call.argv, lambda: _status_parser(call.prog, call.out), load_notebook=_notebook_loader(call)
    )
    return actions.status(args.task, call.out, as_json=args.json, show_all=args.all)


def _invalidate(call: Call) -> Outcome:
    args = parse_task_command(call.argv, lambda: _invalidate_parser(call.prog, call.out), False, _notebook_loader(call))
    if args.clear:
        return actions.clear(args.task, call.out)
    if args.task is None:
        raise UsageError(f"no task given: {call.prog} [--module MOD] TASK [--param value ...] (or --clear)")
    if args.downstream and not args.within:
        # A task's dependents are only known inside a graph: without a root there are none to find.
        raise UsageError(
            f"--downstream needs --within ROOT: {args.task}'s dependents are found in ROOT's graph "
            f"(e.g. --downstream --within {_example_root(args.task)})"
        )
    return actions.invalidate(
        args.task, call.out, downstream=args.downstream, within=args.within, one_line=call.one_line
    )


def _example_root(task: Any) -> str:
    """A family to suggest for --within: the last registered family other than ``task``'s (often the top)."""
    from nbpipe.task_register import Register

    families = [f for f, cls in Register._get_reg().items() if not cls.__module__.startswith("nbpipe.")]
    others = [f for f in families if f != task.get_task_family()]
    return others[-1] if others else "ROOT"


def _enable(call: Call) -> Outcome:
    args = parse_task_command(
        call.argv, lambda: _enable_parser(call.prog, call.out), load_notebook=_notebook_loader(call)
    )
    return actions.enable(args.task, call.out)


def _history(call: Call) -> Outcome:
    args = _history_parser(call.prog, call.out).parse_args(call.argv)
    words = list(args.task)
    if words and words[0].endswith(".ipynb"):
        if call.from_command_line:
            enter_notebook_folder(str(Path(words[0]).absolute()))
        words = words[1:]
    if len(words) > 1:
        raise UsageError(f"one task id or family at most; got {', '.join(words)}")
    if args.log and not words:
        raise UsageError("--log needs a task id or family: nbpipe history TASK_ID --log")
    return actions.history(
        words[0] if words else None, call.out, call.err, limit=args.limit, as_json=args.json, with_log=args.log
    )


def _execute(call: Call) -> Outcome:
    from nbpipe.headless.parameters import parse_value

    args = _execute_parser(call.prog, call.out).parse_args(call.argv)
    for name, _ in args.parameter:
        if not name.isidentifier():
            raise UsageError(f"-p {name}: not a Python name")
    parameters = {name: parse_value(value) for name, value in args.parameter}
    return actions.execute(
        args.notebook, parameters, call.out, args.output, args.junit, args.timeout, args.kernel, args.cwd, call.err
    )


@dataclass(frozen=True)
class Subcommand:
    """One ``nbpipe`` subcommand: the line ``nbpipe --help`` shows, its parser, and its argv → command glue."""

    summary: str
    parser: Callable[[str, TextIO | None], ArgumentParser]
    handler: Callable[[Call], Outcome]


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
    name: str,
    argv: list[str],
    out: TextIO,
    err: TextIO,
    prog: str | None = None,
    one_line: bool = False,
    from_command_line: bool = False,
) -> Outcome:
    """Parse ``argv`` with subcommand ``name``'s parser and run its command function.

    ``prog`` names the command in help and errors (default ``nbpipe NAME``);
    ``one_line``: the notebook's shorter listing where a command has one;
    ``from_command_line``: the ``nbpipe`` process, which follows the one
    folder rule (see the module docs).
    Raises UsageError (and ConfigError, StateStoreError) for the caller to print in one line.
    """
    call = Call(list(argv), prog or f"nbpipe {name}", out, err, one_line, from_command_line)
    return SUBCOMMANDS[name].handler(call)
