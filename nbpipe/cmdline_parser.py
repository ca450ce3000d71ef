"""Task parameters as command-line options, as Luigi's ``cmdline_parser`` makes them.

``[options] [NOTEBOOK.ipynb] TASK [--param value ...]`` is parsed by argparse,
in Luigi's phases, because TASK's options are only known once the modules
defining it are imported:

1. ``--module MOD`` (written in full) is imported, and a NOTEBOOK.ipynb is
   loaded by the caller's ``load_notebook`` (the CLI and the magics run its
   ``%%pipeline`` cells; this module is below the headless layer);
2. TASK is found: the first positional word, after the command's own options
   and every task family's ``--Family-param`` options;
3. the command's options, TASK's parameters as ``--name`` (its families'
   and Config classes' as ``--Family-name``) and TASK are parsed by one
   parser, so ``--x=y``, abbreviations and TASK's ``--help`` come from argparse.

Values go through the Parameter's ``parse``; a BoolParameter is a flag that
also takes ``true``/``false``.  ``--Family-name`` values become configuration
(``[Family] name``), which is where task parameter defaults come from.

Every mistake raises :class:`UsageError` with one line naming the option (or
task, parameter and value) and the fix; callers print it and exit with
:data:`nbpipe.retcodes.USAGE_ERROR`.  ``--help`` prints and raises
``SystemExit(0)``, as argparse (and Luigi) do.  This module is used by the CLI,
the notebook magics and :func:`nbpipe.interface.run`; it imports none of them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from nbpipe.cmdline_argparse import ArgumentParser, _Ambiguous, _executor_kind, _log_level, _positive_int
from nbpipe.exceptions import CommandLineUsageError, UsageError

__all__ = [
    "UsageError",
    "ArgumentParser",
    "add_task_command_options",
    "parse_task_command",
    "RunPlan",
    "run_parser",
    "parse_run_arguments",
    "CmdlineParser",
    "usage_exit",
]


# -- the options every task command has ----------------------------------------------------------


def add_task_command_options(parser: ArgumentParser) -> ArgumentParser:
    """``--module``, ``--help`` and ``--help-all``: what :func:`parse_task_command` needs of a command's parser.

    Help is an option, not argparse's action, because it is shown only once
    TASK (and so its parameters) is known.
    """
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="MOD",
        help="import MOD (dotted name, written in full) before looking up TASK; repeatable",
    )
    parser.add_argument("-h", "--help", action="store_true", help="show this help; after TASK, with TASK's parameters")
    parser.add_argument("--help-all", action="store_true", help="also list every task family's --Family-param options")
    return parser


def _import_modules(modules: list[str]) -> None:
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    for name in modules:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                raise UsageError(
                    f"--module {name}: no module named {exc.name!r} (is it on PYTHONPATH, "
                    f"or in the current directory {cwd}?)"
                ) from None
            raise


def _option(param_name: str) -> str:
    return "--" + param_name.replace("_", "-")


def _value_parser(family: str, option: str, param: Any, keep_text: bool = False) -> Callable[[str], Any]:
    """argparse ``type=``: the Parameter's ``parse``, failing with a line naming task, option and value.

    UsageError is not one of the exceptions argparse rewords, so the line
    reaches the user as written here.
    """

    def parse(text: str) -> Any:
        try:
            value = param.parse(text)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the user's value
            form = param.expected_form()
            detail = f" ({exc})" if str(exc) and form not in str(exc) else ""
            error = UsageError(f"{family} {option}: {text!r} is not valid; expected {form}{detail}")
            error.parse_error = exc  # type: ignore[attr-defined]  # Luigi's entry points re-raise some (below)
            raise error from None
        return text if keep_text else value

    return parse


def _param_kwargs(family: str, option: str, param: Any, keep_text: bool = False) -> dict:
    from nbpipe.parameter import BoolParameter

    kwargs: dict = {"default": argparse.SUPPRESS, "type": _value_parser(family, option, param, keep_text)}
    if isinstance(param, BoolParameter):
        # A flag in both of Luigi's parsing modes; "--flag false" keeps working as it always has here.
        kwargs.update(nargs="?", const=True, metavar="true|false")
    else:
        kwargs["metavar"] = "VALUE"
    return kwargs


def _describe(task_cls: type, name: str, param: Any) -> str:
    """Help text: the description, the accepted form and the default (or "required")."""
    from nbpipe.parameter import _no_value

    try:
        default = task_cls._defaults().get(name, _no_value)
    except Exception:  # noqa: BLE001 - a bad configured default must not break --help
        default = param._default
    if default is _no_value:
        tail = "required"
    else:
        try:
            tail = f"default: {param.serialize(default)}"
        except Exception:  # noqa: BLE001
            tail = f"default: {default!r}"
    text = f"{param.description} " if param.description else ""
    return f"{text}({param.expected_form()}; {tail})".replace("%", "%%")


def _global_dest(family: str, name: str) -> str:
    return f"global {family} {name}"


def _add_global_options(parser: ArgumentParser, root: type | None, help_all: bool) -> None:
    """``--Family-param`` for every parameter of every registered task family (Luigi's global options).

    Luigi's spelling (underscores in the family as dashes too) is accepted
    as well.  An option string the command already has keeps its meaning.
    """
    from nbpipe.task_register import Register

    group = parser.add_argument_group("other task families' parameters (set [Family] name)")
    taken = set(parser._option_string_actions)
    for family, cls in sorted(Register._get_reg().items()):
        if not getattr(cls, "_visible_in_registry", True) and not getattr(cls, "_options_on_command_line", False):
            continue  # Luigi's own sections ([core], [email]): their options are the command's, or none
        # A Config class with use_cmdline_section = False takes --param, without its family (Luigi's rule).
        sectionless = getattr(cls, "use_cmdline_section", True) is False
        for name, param in cls.get_params():
            option = f"--{name.replace('_', '-')}" if sectionless else f"--{family}-{name.replace('_', '-')}"
            strings = [s for s in dict.fromkeys([option, option.replace("_", "-")]) if s not in taken]
            if not strings:
                continue
            taken.update(strings)
            # TASK's own show as --name, unless a command option took that name.
            local = parser._option_string_actions.get(_option(name))
            shown = (
                help_all or param.always_in_help or (cls is root and (local is None or local.dest != f"param {name}"))
            )
            group.add_argument(
                *strings,
                dest=_global_dest(family, name),
                help=_describe(cls, name, param) if shown else argparse.SUPPRESS,
                **_param_kwargs(family, strings[0], param, keep_text=True),
            )


def _add_task_options(parser: ArgumentParser, task_cls: type) -> list[str]:
    """TASK's parameters as ``--name``; returns the usage words for them."""
    family = task_cls.get_task_family()
    doc = (task_cls.__doc__ or "").strip()
    inherited = (task_cls.__mro__[1].__doc__ or "").strip()
    summary = doc.splitlines()[0].replace("%", "%%") if doc and doc != inherited else None
    group = parser.add_argument_group(f"{family} parameters", summary)
    taken = set(parser._option_string_actions)
    usage = []
    for name, param in task_cls.get_params():
        option = _option(name)
        if option in taken:
            continue  # a command option of that name wins; --Family-name still sets it
        help_text = _describe(task_cls, name, param)
        action = group.add_argument(
            option, dest=f"param {name}", help=help_text, **_param_kwargs(family, option, param)
        )
        word = f"{option} [{action.metavar}]" if action.nargs == "?" else f"{option} {action.metavar}"
        usage.append(word if help_text.endswith("; required)") else f"[{word}]")
    return usage


def _unknown_task_class(error: BaseException) -> BaseException | None:
    """The ``TaskClassNotFoundException`` behind a value that did not parse (a ``TaskParameter``'s), if any."""
    from nbpipe.exceptions import TaskClassNotFoundException

    cause = getattr(error, "parse_error", None)
    while cause is not None and not isinstance(cause, TaskClassNotFoundException):
        cause = cause.__cause__
    return cause


def _with_task(make_parser: Callable[[], ArgumentParser], task_cls: type | None, help_all: bool = False):
    parser = make_parser()
    usage = _add_task_options(parser, task_cls) if task_cls is not None else []
    _add_global_options(parser, task_cls, help_all)
    parser.add_argument("task", nargs="?", metavar="TASK", help="the task family; its parameters follow it")
    if task_cls is not None:
        parser.usage = " ".join(["%(prog)s [options]", task_cls.get_task_family(), *usage])
    return parser


def _find_task(argv: list[str], make_parser: Callable[[], ArgumentParser]) -> argparse.Namespace:
    """Phase 2: the command's options and the task name, TASK's own options still unknown."""
    parser = _with_task(make_parser, None)
    try:
        return parser.parse_known_args(argv)[0]
    except _Ambiguous:
        # An abbreviation of the command's options may be one of TASK's parameters in full ("--n").
        parser.allow_abbrev = False
        return parser.parse_known_args(argv)[0]


def parse_task_command(
    argv: list[str],
    make_parser: Callable[[], ArgumentParser],
    require_task: bool = True,
    load_notebook: Callable[[str], None] | None = None,
    set_globals: bool = True,
) -> argparse.Namespace:
    """Parse ``[options] [NOTEBOOK.ipynb] TASK [--param value ...]`` (see the module docs).

    ``make_parser()`` returns a fresh parser with the command's options and
    :func:`add_task_command_options`.  Returns its namespace with ``task``
    replaced by the task instance (``None`` when no TASK was given and
    ``require_task`` is false).  A TASK ending in ``.ipynb`` is a notebook
    given to ``load_notebook`` (which raises UsageError if it cannot), and
    the word after it is TASK.  ``--Family-param`` values are set as
    configuration (with ``set_globals=False``, as Luigi's entry points use
    it: only returned, as ``global_values`` ``{family: {name: text}}``, TASK
    is made with them in force, and an unknown TASK or a missing parameter
    raises Luigi's ``TaskClassNotFoundException`` / ``MissingParameterException``).  Raises :class:`UsageError`; prints help and raises
    ``SystemExit(0)`` for ``--help``.
    """
    argv = list(argv)
    modules = ArgumentParser(add_help=False, allow_abbrev=False)
    modules.add_argument("--module", action="append", default=[])
    imported = modules.parse_known_args(argv)[0].module
    _import_modules(imported)
    found = _find_task(argv, make_parser)
    while found.task is not None and found.task.endswith(".ipynb"):
        if load_notebook is None:
            raise UsageError(
                f"{found.task}: notebooks are read by `nbpipe run NOTEBOOK.ipynb TASK` and "
                "%pipeline; here, name the module defining TASK with --module"
            )
        load_notebook(found.task)  # its %%pipeline cells define TASK
        argv.remove(found.task)
        found = _find_task(argv, make_parser)
    if found.module != imported:
        raise UsageError("--module must be written in full: it is read before TASK's options are known")
    task_cls = None
    if found.task is not None:
        from nbpipe.task_register import TaskClassNotFoundException, get_task_cls

        try:
            task_cls = get_task_cls(found.task)
        except TaskClassNotFoundException as exc:
            if not set_globals:
                raise  # Luigi's entry points raise Luigi's exception
            raise UsageError(str(exc)) from None
    parser = _with_task(make_parser, task_cls, found.help_all)
    if found.help or found.help_all:
        parser.print_help()
        raise SystemExit(0)
    try:
        args, extras = parser.parse_known_args(argv)
    except UsageError as exc:
        missing = _unknown_task_class(exc)
        if missing is not None and not set_globals:
            raise missing from None  # Luigi's entry points: a TaskParameter naming no task raises Luigi's exception
        raise
    if task_cls is None and require_task:
        unknown = [a for a in extras if a.startswith("-")]
        # Luigi's entry points (set_globals=False) say it in Luigi's words.
        raise UsageError(
            f"{'no task given' if set_globals else 'No task specified'}: {parser.prog} [--module MOD] TASK [--param value ...]"
            + (f" (unknown option {unknown[0]})" if unknown else "")
        )
    if extras:
        raise UsageError(parser.leftover_message(extras, _takes(task_cls)))
    args.global_values = _global_values(args)
    if set_globals:
        _set_global_options(args.global_values)
        args.task = None if task_cls is None else _instantiate(task_cls, args)
        return args
    from nbpipe.configuration import command_line_values

    # Luigi's entry points make TASK as Luigi does: its own exceptions (a missing parameter) propagate.
    with command_line_values(args.global_values):
        values = {dest[len("param ") :]: v for dest, v in vars(args).items() if dest.startswith("param ")}
        args.task = None if task_cls is None else task_cls(**values)
    return args


def _takes(task_cls: type | None) -> str:
    if task_cls is None:
        return "; no TASK was given"
    family, params = task_cls.get_task_family(), task_cls.get_params()
    if not params:
        return f"; {family} has no parameters"
    return f"; {family} takes: {', '.join(sorted(_option(n) for n, _ in params))}"


def _global_values(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """``{family: {name: text}}`` of the ``--Family-param`` options given."""
    values: dict[str, dict[str, str]] = {}
    for dest, text in vars(args).items():
        if dest.startswith("global "):
            _, family, name = dest.split(" ")
            values.setdefault(family, {})[name] = "true" if text is True else text
    return values


def _set_global_options(values: dict[str, dict[str, str]]) -> None:
    from nbpipe import configuration as config

    for family, options in values.items():
        for name, text in options.items():
            config.set_option(family, name, text)


def _instantiate(task_cls: type, args: argparse.Namespace) -> Any:
    from nbpipe.parameter import MissingParameterException, ParameterException, _no_value

    family, params = task_cls.get_task_family(), dict(task_cls.get_params())
    values = {dest[len("param ") :]: value for dest, value in vars(args).items() if dest.startswith("param ")}
    try:
        return task_cls(**values)
    except MissingParameterException as exc:
        defaults = task_cls._defaults()
        missing = [n for n in params if n not in values and defaults.get(n, _no_value) is _no_value]
        if not missing:  # raised by the task's own __init__
            raise UsageError(f"{family}: {exc}") from None
        forms = ", ".join(f"{_option(n)} ({params[n].expected_form()})" for n in missing)
        raise UsageError(f"{family} needs {forms}") from None
    except (ParameterException, ValueError, TypeError) as exc:
        raise UsageError(f"{family}: {exc}") from None


# -- `run`: what nbpipe run, %pipeline run/show and nbpipe.run(argv) share ---------------------------


@dataclass
class RunPlan:
    """A parsed ``run`` command line: the task and how to build it."""

    task: Any
    workers: int
    executor: str | None
    log_level: str
    rerun: str = "missing"
    background: bool = False
    dask_address: str | None = None
    global_values: dict | None = None  # with set_globals=False: the --Family-param values, to put in force

    def how(self) -> dict[str, Any]:
        """How to build the task, as the keyword arguments of ``execute`` and ``DagWidget``."""
        return {
            "workers": self.workers,
            "executor": self.executor,
            "rerun": self.rerun,
            "dask_address": self.dask_address,
        }


def run_parser(prog: str | None = "nbpipe run", out: TextIO | None = None) -> ArgumentParser:
    """The parser of ``run`` (without TASK's options, which :func:`parse_task_command` adds)."""
    parser = ArgumentParser(
        prog=prog,
        add_help=False,
        out=out,
        usage="%(prog)s [options] [NOTEBOOK.ipynb] TASK [--param value ...]",
        description="Build TASK and everything it needs. TASK's parameters follow it: TASK --name value; "
        "TASK --help lists them. With NOTEBOOK.ipynb, its %%pipeline cells define the tasks.",
    )
    add_task_command_options(parser)
    parser.add_argument(
        "--workers",
        type=_positive_int("--workers"),
        metavar="N",
        help="tasks run at once (default: [core] workers, or 1)",
    )
    parser.add_argument(
        "--executor",
        type=_executor_kind,
        metavar="KIND",
        help="inline | thread | process | dask (default: inline for 1 worker, process for more)",
    )
    parser.add_argument(
        "--dask-address",
        metavar="ADDR",
        help="(executor dask) the Dask scheduler, e.g. tcp://host:8786 "
        "(default: [dask] address, $NBPIPE_DASK_ADDRESS, or a local cluster)",
    )
    parser.add_argument(
        "--log-level", default="INFO", type=_log_level, metavar="LEVEL", help="DEBUG, INFO, WARNING, ERROR"
    )
    parser.add_argument(
        "--rerun-stale",
        action="store_true",
        help="also rerun complete tasks whose code or inputs changed, and what depends on them",
    )
    parser.add_argument("--background", action="store_true", help="(notebook) return at once; the run goes on")
    parser.add_argument("--local-scheduler", action="store_true", help=argparse.SUPPRESS)  # Luigi's; no meaning here
    parser.add_argument("--no-lock", action="store_true", help=argparse.SUPPRESS)
    return parser


def parse_run_arguments(
    argv: list[str],
    prog: str | None = "nbpipe run",
    out: TextIO | None = None,
    load_notebook: Callable[[str], None] | None = None,
    set_globals: bool = True,
) -> RunPlan:
    """Turn ``[--module M] [NOTEBOOK.ipynb] TASK [--param v ...] [--workers N] ...`` into a :class:`RunPlan`.

    Raises :class:`UsageError`; ``--help`` prints to ``out`` and raises
    SystemExit(0).  ``load_notebook``: see :func:`parse_task_command`.
    """
    args = parse_task_command(argv, lambda: run_parser(prog, out), load_notebook=load_notebook, set_globals=set_globals)
    workers = args.workers
    if workers is None:
        from nbpipe.configuration import option_value
        from nbpipe.options import CORE_WORKERS

        workers = option_value(CORE_WORKERS)
        if workers < 1:
            raise UsageError(f"[core] workers = {workers}: expected a positive integer")
    executor = args.executor
    if args.dask_address is not None:
        if executor not in (None, "dask"):
            raise UsageError(f"--dask-address goes with --executor dask, not --executor {executor}")
        executor = "dask"
    return RunPlan(
        args.task,
        workers,
        executor,
        args.log_level,
        "stale" if args.rerun_stale else "missing",
        args.background,
        args.dask_address,
        None if set_globals else args.global_values,
    )


# -- Luigi's CmdlineParser: the command line in force ------------------------------------------------


def usage_exit(exc: UsageError) -> CommandLineUsageError:
    """Print the one line of ``exc`` on stderr (as argparse does) and return the exception to raise."""
    print(f"error: {exc}", file=sys.stderr)
    return CommandLineUsageError(str(exc))


class CmdlineParser:
    """One parsed command line: ``[options] TASK [--param value ...]`` (options may come before TASK).

    ``known_args`` is the argparse namespace; ``global_values`` the
    ``--Family-param`` texts by family; ``get_task_obj()`` makes TASK with its
    own parameters (those values in force while it is made).
    """

    _instance: CmdlineParser | None = None

    def __init__(self, cmdline_args: list[str]) -> None:
        try:
            self.known_args = parse_task_command(list(cmdline_args), lambda: run_parser(prog=None), set_globals=False)
        except UsageError as exc:
            raise usage_exit(exc) from None
        self.global_values: dict[str, dict[str, str]] = self.known_args.global_values
        self._task = self.known_args.task

    @classmethod
    def get_instance(cls) -> CmdlineParser | None:
        """The command line in force, or None."""
        return cls._instance

    @classmethod
    @contextlib.contextmanager
    def global_instance(cls, cmdline_args: list[str], allow_override: bool = False) -> Iterator[CmdlineParser]:
        """Parse ``cmdline_args`` and keep it in force (its ``--Family-param`` values too) while the block runs.

        Raises AssertionError when another is in force and ``allow_override`` is false, as Luigi does.
        """
        from nbpipe.configuration import command_line_values

        original = cls._instance
        assert original is None or allow_override, "a command line is already in force"
        new = cls(cmdline_args)
        cls._instance = new
        try:
            with command_line_values(new.global_values):
                yield new
        finally:
            cls._instance = original

    def get_task_obj(self) -> Any:
        """TASK, made with its parameters from this command line."""
        return self._task
