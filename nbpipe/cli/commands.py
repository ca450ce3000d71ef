"""The command line: ``nbpipe run --module MOD TASK --param value [--workers N]``.

Parsing happens in two steps, as the task's own options are only known once
the module is imported: first the general options and the task name, then
the task's parameters.  Every user mistake ends in one line on stderr and
exit code 2 (see :mod:`nbpipe.retcodes`), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from dataclasses import dataclass

from nbpipe import retcodes
from nbpipe.engine.shown_state import ShownState
from nbpipe.executors import EXECUTOR_KINDS, ExecutorUnavailable
from nbpipe.state.store import StateStoreError

__all__ = ["main", "parse_run_arguments", "UsageError"]


class UsageError(Exception):
    """A mistake in the command line; the message is shown as is."""


@dataclass
class RunPlan:
    task: object
    workers: int
    executor: str | None
    log_level: str
    rerun: str = "missing"
    downstream: bool = False
    within: str | None = None
    as_json: bool = False
    background: bool = False
    dask_address: str | None = None


def _general_parser(prog: str = "nbpipe run") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        add_help=False,
        allow_abbrev=False,  # "--n" is a task parameter, not short for --no-lock
        description="Build TASK and everything it needs. Task parameters follow the task name: "
        "TASK --name value. Use TASK --help to list them.",
    )
    parser.add_argument("--module", action="append", default=[], metavar="MOD",
                        help="import MOD (dotted name) before looking up TASK; repeatable")
    parser.add_argument("--workers", default=None, metavar="N", help="tasks run at once (default 1)")
    parser.add_argument("--executor", default=None, metavar="KIND",
                        help="inline | thread | process | dask (default: inline for 1 worker, process for more)")
    parser.add_argument("--dask-address", default=None, metavar="ADDR",
                        help="(executor dask) the Dask scheduler, e.g. tcp://host:8786 "
                        "(default: [dask] address, $NBPIPE_DASK_ADDRESS, or a local cluster)")
    parser.add_argument("--log-level", default="INFO", metavar="LEVEL", help="DEBUG, INFO, WARNING, ERROR")
    parser.add_argument("--rerun-stale", action="store_true",
                        help="also rerun complete tasks whose code or inputs changed, and what depends on them")
    parser.add_argument("--downstream", action="store_true", help="(invalidate) also every task depending on TASK")
    parser.add_argument("--within", default=None, metavar="ROOT",
                        help="(invalidate --downstream) the root task family whose graph bounds 'downstream'")
    parser.add_argument("--json", action="store_true", help="(status, history) print JSON")
    parser.add_argument("--background", action="store_true", help="(notebook) return at once; the run goes on")
    parser.add_argument("--local-scheduler", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-lock", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-h", "--help", action="store_true", help="show this help (after TASK: the task's parameters)")
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
                raise UsageError(f"--module {name}: no module named {exc.name!r} (is it on PYTHONPATH, "
                                 f"or in the current directory {cwd}?)") from None
            raise


def _option_name(param_name: str) -> str:
    return "--" + param_name.replace("_", "-")


def _task_help(task_cls) -> str:
    from nbpipe.parameter import BoolParameter

    lines = [f"usage: nbpipe run {task_cls.get_task_family()} [--param value ...]", ""]
    doc = (task_cls.__doc__ or "").strip()
    if doc and doc != (task_cls.__mro__[1].__doc__ or "").strip():
        lines += [doc.splitlines()[0], ""]
    params = task_cls.get_params()
    if not params:
        lines.append("This task has no parameters.")
    else:
        lines.append("parameters:")
    defaults = task_cls._defaults()
    from nbpipe.parameter import _no_value

    for name, param in params:
        form = param.expected_form() if hasattr(param, "expected_form") else "a value"
        flag = _option_name(name)
        if isinstance(param, BoolParameter):
            flag += " [true|false]"
        else:
            flag += " VALUE"
        default = defaults.get(name, _no_value)
        if default is _no_value:
            tail = "required"
        else:
            try:
                tail = f"default: {param.serialize(default)}"
            except Exception:  # noqa: BLE001
                tail = f"default: {default!r}"
        description = f"{param.description} " if getattr(param, "description", None) else ""
        lines.append(f"  {flag:<28} {description}({form}; {tail})")
    return "\n".join(lines)


def _parse_task_params(task_cls, args: list[str]) -> dict:
    """``--name value`` pairs for the task's parameters (and ``--Family-name`` config)."""
    from nbpipe import configuration as config
    from nbpipe.parameter import BoolParameter
    from nbpipe.task_register import Register

    params = dict(task_cls.get_params())
    by_option = {_option_name(n): n for n in params}
    by_option.update({"--" + n: n for n in params})
    values: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise UsageError(f"unexpected argument {arg!r}; task parameters are given as --name value")
        key, eq, inline_value = arg.partition("=")
        name = by_option.get(key)
        if name is None:
            family_param = _family_option(key[2:], Register._by_family)
            if family_param is None:
                import difflib

                close = difflib.get_close_matches(key, sorted(by_option), n=1)
                hint = f"; did you mean {close[0]}?" if close else (
                    f"; {task_cls.get_task_family()} takes: {', '.join(sorted(_option_name(n) for n in params))}"
                    if params else f"; {task_cls.get_task_family()} has no parameters")
                raise UsageError(f"unknown option {key}{hint}")
            family, pname = family_param
            value, i = _take_value(args, i, key, eq, inline_value)
            config.set_option(family, pname, value)
            continue
        param = params[name]
        if isinstance(param, BoolParameter) and not eq and (i + 1 >= len(args) or args[i + 1].startswith("--")):
            values[name] = True
            i += 1
            continue
        value, i = _take_value(args, i, key, eq, inline_value)
        try:
            values[name] = param.parse(value)
        except Exception as exc:  # noqa: BLE001 - turned into one line for the user
            form = param.expected_form() if hasattr(param, "expected_form") else "a valid value"
            raise UsageError(f"{task_cls.get_task_family()} {key}: {value!r} is not valid; expected {form}"
                             + (f" ({exc})" if str(exc) and form not in str(exc) else "")) from None
    return values


def _take_value(args, i, key, eq, inline_value):
    if eq:
        return inline_value, i + 1
    if i + 1 >= len(args):
        raise UsageError(f"option {key} needs a value")
    return args[i + 1], i + 2


def _family_option(text: str, families: dict) -> tuple[str, str] | None:
    """Split ``Family-param-name`` (Luigi's ``--Family-param`` form) if Family exists."""
    for family in sorted(families, key=len, reverse=True):
        if text.startswith(family + "-") and len(text) > len(family) + 1:
            return family, text[len(family) + 1:].replace("-", "_")
    return None


def parse_run_arguments(argv: list[str]) -> RunPlan:
    """Turn ``[--module M] TASK [--param v ...] [--workers N]`` into a task to build.

    Raises :class:`UsageError` with a one-line message for any mistake; a
    bare ``--help`` raises SystemExit(0) after printing help.
    """
    parser = _general_parser()
    general, rest = parser.parse_known_args(argv)
    _import_modules(general.module)
    # `nbpipe run NOTEBOOK.ipynb TASK`: the notebook's %%pipeline cells are the module.
    notebooks = [a for a in rest if a.endswith(".ipynb") and not a.startswith("-")]
    if notebooks:
        from nbpipe.headless.notebook_module import NotebookLoadError, load_pipeline_cells

        try:
            load_pipeline_cells(notebooks[0])
        except NotebookLoadError as exc:
            raise UsageError(str(exc)) from None
        rest = [a for a in rest if a != notebooks[0]]
    task_name = None
    task_args: list[str] = []
    for j, arg in enumerate(rest):
        if not arg.startswith("-"):
            task_name = arg
            task_args = rest[:j] + rest[j + 1:]
            break
    if task_name is None:
        if general.help:
            parser.print_help()
            raise SystemExit(0)
        unknown = [a for a in rest if a.startswith("-")]
        raise UsageError("no task given: nbpipe run [--module MOD] TASK [--param value ...]"
                         + (f" (unknown option {unknown[0]})" if unknown else ""))
    from nbpipe.parameter import MissingParameterException, ParameterException
    from nbpipe.task_register import TaskClassNotFoundException, get_task_cls

    try:
        task_cls = get_task_cls(task_name)
    except TaskClassNotFoundException as exc:
        raise UsageError(str(exc)) from None
    if general.help:
        print(_task_help(task_cls))
        raise SystemExit(0)
    # General options may also come after the task's own.
    general2, task_args = parser.parse_known_args(task_args, namespace=general)
    values = _parse_task_params(task_cls, task_args)
    try:
        task = task_cls(**values)
    except MissingParameterException:
        missing = [n for n, p in task_cls.get_params() if n not in values and task_cls._defaults()[n] is _no_value()]
        forms = ", ".join(f"{_option_name(n)} ({dict(task_cls.get_params())[n].expected_form()})" for n in missing)
        raise UsageError(f"{task_cls.get_task_family()} needs {forms}") from None
    except (ParameterException, ValueError, TypeError) as exc:
        raise UsageError(f"{task_cls.get_task_family()}: {exc}") from None
    workers = general.workers
    if workers is None:
        from nbpipe.configuration import get_config

        workers = get_config().get_int("core", "workers", 1)
    try:
        workers = int(workers)
        if workers < 1:
            raise ValueError
    except ValueError:
        raise UsageError(f"--workers {general.workers}: expected a positive integer") from None
    if general.executor is not None and general.executor not in EXECUTOR_KINDS:
        raise UsageError(f"--executor {general.executor}: choose one of {', '.join(EXECUTOR_KINDS)}")
    level = general.log_level.upper()
    if not isinstance(logging.getLevelName(level), int):
        raise UsageError(f"--log-level {general.log_level}: choose DEBUG, INFO, WARNING or ERROR")
    executor = general.executor
    if general.dask_address is not None:
        if executor not in (None, "dask"):
            raise UsageError(f"--dask-address goes with --executor dask, not --executor {executor}")
        executor = "dask"
    return RunPlan(task, workers, executor, level, "stale" if general.rerun_stale else "missing",
                   general.downstream, general.within, general.json, general.background, general.dask_address)


def _no_value():
    from nbpipe.parameter import _no_value as sentinel

    return sentinel


def _run_command(argv: list[str]) -> int:
    from nbpipe.configuration import ConfigError
    from nbpipe.interface import setup_logging

    try:
        plan = parse_run_arguments(argv)
    except (UsageError, ConfigError) as exc:
        print(f"nbpipe run: error: {exc}", file=sys.stderr)
        return retcodes.USAGE_ERROR
    setup_logging(plan.log_level)
    from nbpipe.engine.run_loop import execute

    from nbpipe.configuration import get_config
    from nbpipe.cli.progress import ProgressDisplay

    typical = None
    if get_config().get_bool("core", "state", True):
        from nbpipe.engine.run_context import state_dir
        from nbpipe.state.store import open_store

        def typical(families):
            return open_store(state_dir()).typical_durations(families)

    try:
        result = execute([plan.task], workers=plan.workers, executor=plan.executor, rerun=plan.rerun,
                         dask_address=plan.dask_address, observers=[ProgressDisplay(sys.stderr, typical_durations=typical, workers=plan.workers)])
    except KeyboardInterrupt as exc:
        result = getattr(exc, "result", None)
        if result is not None:
            print(result.summary_text)
        print("nbpipe run: interrupted; every worker was stopped", file=sys.stderr)
        return retcodes.INTERRUPTED
    except (ValueError, ConfigError, StateStoreError) as exc:
        print(f"nbpipe run: error: {exc}", file=sys.stderr)
        return retcodes.USAGE_ERROR
    except ExecutorUnavailable as exc:  # e.g. no Dask scheduler at the address given
        print(f"nbpipe run: error: {exc}", file=sys.stderr)
        return retcodes.USAGE_ERROR
    print(result.summary_text)
    return result.exit_code


def _plan_or_error(command: str, argv: list[str]):
    from nbpipe.configuration import ConfigError

    try:
        return parse_run_arguments(argv)
    except (UsageError, ConfigError) as exc:
        print(f"nbpipe {command}: error: {exc}", file=sys.stderr)
        return None


def _status_command(argv: list[str]) -> int:
    from nbpipe.state.staleness import status

    plan = _plan_or_error("status", argv)
    if plan is None:
        return retcodes.USAGE_ERROR
    entries = status(plan.task)
    if plan.as_json:
        import json

        print(json.dumps([e.to_dict() for e in entries], indent=2, default=str))
        return 0
    width = max(len(e.state) for e in entries)
    for entry in entries:
        why = f"  ({'; '.join(entry.reasons)})" if entry.reasons else ""
        print(f"{entry.state:<{width}}  {entry.task}{why}")
    from nbpipe.state.staleness import estimate_seconds

    to_run = [e.task for e in entries if e.state in (ShownState.NOT_BUILT, ShownState.FAILED, ShownState.INVALIDATED)]
    if to_run:
        seconds, unknown = estimate_seconds(to_run)
        line = f"{len(to_run)} task(s) would run (stale ones too with --rerun-stale); typical time {seconds:.1f} s"
        if unknown:
            line += f" plus {unknown} task(s) never run here"
        print(line)
    return 0


def _invalidate_command(argv: list[str]) -> int:
    from nbpipe.task_register import TaskClassNotFoundException, get_task_cls
    from nbpipe.state.staleness import invalidate

    plan = _plan_or_error("invalidate", argv)
    if plan is None:
        return retcodes.USAGE_ERROR
    within = None
    if plan.within:
        try:
            within = get_task_cls(plan.within)()
        except TaskClassNotFoundException as exc:
            print(f"nbpipe invalidate: error: --within: {exc}", file=sys.stderr)
            return retcodes.USAGE_ERROR
        except Exception as exc:  # noqa: BLE001 - a root needing parameters
            print(f"nbpipe invalidate: error: --within {plan.within}: cannot build it with default parameters "
                  f"({exc})", file=sys.stderr)
            return retcodes.USAGE_ERROR
    try:
        marked = invalidate(plan.task, downstream=plan.downstream, within=within)
    except ValueError as exc:
        print(f"nbpipe invalidate: error: {exc}", file=sys.stderr)
        return retcodes.USAGE_ERROR
    print(f"marked {len(marked)} task(s) to be rerun (outputs kept until they are replaced):")
    for task in marked:
        print(f"  {task}")
    return 0


def _clear_command(argv: list[str]) -> int:
    from nbpipe.state.staleness import clear_invalidations

    if argv:
        plan = _plan_or_error("invalidate --clear", argv)
        if plan is None:
            return retcodes.USAGE_ERROR
        count = clear_invalidations([plan.task])
    else:
        count = clear_invalidations()
    print(f"cleared {count} invalidation mark(s)")
    return 0


def _enable_command(argv: list[str]) -> int:
    from nbpipe.state.staleness import enable

    plan = _plan_or_error("enable", argv)
    if plan is None:
        return retcodes.USAGE_ERROR
    enable(plan.task)
    print(f"re-enabled {plan.task}; its earlier failures no longer count")
    return 0


def _execute_command(argv: list[str]) -> int:
    from nbpipe.headless.execute import execute_notebook, parse_value

    parser = argparse.ArgumentParser(prog="nbpipe execute", description="Run every cell of a notebook in a fresh "
                                     "kernel; print each pipeline run's summary; exit non-zero on failure.")
    parser.add_argument("notebook")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="set NAME = VALUE (a Python literal when it is one) after the cell tagged 'parameters'")
    parser.add_argument("--output", metavar="OUT.ipynb", help="where to write the executed notebook "
                        "(default: NOTEBOOK.executed.ipynb beside the input)")
    parser.add_argument("--junit", metavar="FILE", help="write a JUnit XML report (one test case per task)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="longest time a cell may run")
    parser.add_argument("--kernel", metavar="NAME", help="the kernel to use (default: the notebook's)")
    parser.add_argument("--cwd", metavar="DIR", help="working directory of the kernel (default: the notebook's folder)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return retcodes.USAGE_ERROR if exc.code else 0
    for name, _ in args.parameter:
        if not name.isidentifier():
            print(f"nbpipe execute: error: -p {name}: not a Python name", file=sys.stderr)
            return retcodes.USAGE_ERROR
    parameters = {name: parse_value(value) for name, value in args.parameter}
    return execute_notebook(args.notebook, parameters, args.output, args.junit, args.timeout, args.kernel, args.cwd)


def _history_command(argv: list[str]) -> int:
    import json
    import time as _time

    from nbpipe.state.staleness import history

    parser = argparse.ArgumentParser(prog="nbpipe history", description="recent runs, or a task's attempts")
    parser.add_argument("task", nargs="?", help="a task id or a task family")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = history(args.task, limit=args.limit)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0

    def when(ts):
        return _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(ts)) if ts else "-"

    if args.task is None:
        for run in rows:
            took = f"{run['ended'] - run['started']:.1f} s" if run["ended"] else "running"
            print(f"{run['run_id']}  {when(run['started'])}  {took:>9}  {run['outcome'] or '-':<28} "
                  f"{', '.join(run['roots'])}")
        return 0
    if not rows:
        print(f"no attempts recorded for {args.task}", file=sys.stderr)
        return 1
    for row in rows:
        took = f"{row['duration']:.3f} s" if row["duration"] is not None else "-"
        error = f"  {row['error']}" if row["error"] else ""
        print(f"{when(row['ended'])}  {row['status']:<16} {took:>10}  {row['task_id']}{error}")
    return 0


USAGE = """usage: nbpipe COMMAND ...

commands:
  run [--module MOD] TASK [--param value ...] [--workers N] [--executor KIND] [--dask-address ADDR] [--rerun-stale]
      build TASK and what it needs; TASK --help lists its parameters
  status [--module MOD] TASK [--param value ...] [--json]
      each task of TASK's graph: complete, stale (and why), invalidated, missing, failed
  invalidate [--module MOD] TASK [--param value ...] [--downstream [--within ROOT]]
      mark tasks to be rerun; outputs stay until the rerun replaces them
  invalidate --clear [[--module MOD] TASK ...]
      remove invalidation marks (all, or TASK's)
  enable [--module MOD] TASK [--param value ...]
      re-enable a task disabled after too many failures
  history [TASK_ID | FAMILY] [--limit N] [--json]
      recent runs, or the attempts of a task
  execute NOTEBOOK.ipynb [-p NAME VALUE ...] [--output OUT.ipynb] [--junit FILE] [--timeout S] [--kernel K]
      run every cell in a fresh kernel (CI); exit 0, or 30 failed tasks, 50 cell error, 60 timeout, 2 bad input
  run NOTEBOOK.ipynb TASK [--param value ...]
      build TASK from the notebook's %%pipeline cells (the other cells do not run)

exit codes: 0 success, 2 usage error, 10 run by another worker, 20 missing external data,
25 not run, 30 failed tasks, 35 scheduling errors, 40 internal error, 130 interrupted
"""


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if argv else retcodes.USAGE_ERROR
    command, rest = argv[0], argv[1:]
    commands = {"run": _run_command, "status": _status_command, "invalidate": _invalidate_command,
                "enable": _enable_command, "history": _history_command, "execute": _execute_command}
    if command == "invalidate" and "--clear" in rest:
        command, rest = "clear", [a for a in rest if a != "--clear"]
        commands["clear"] = _clear_command
    if command in commands:
        try:
            return commands[command](rest)
        except StateStoreError as exc:
            print(f"nbpipe {command}: error: {exc}", file=sys.stderr)
            return retcodes.USAGE_ERROR
        except SystemExit as exc:
            return int(exc.code or 0)
        except Exception:  # an internal error: keep the traceback, it is a bug
            import traceback

            traceback.print_exc()
            codes = retcodes.RetCodes.from_config()
            return codes.unhandled_exception
    print(f"nbpipe: unknown command {command!r}\n{USAGE}", file=sys.stderr, end="")
    return retcodes.USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
