"""The engine options nbpipe reads, declared once: section, name, type, default, meaning.

Code reads an engine option through its declaration, never by a string with
a default of its own::

    from nbpipe.configuration import option_value
    from nbpipe.options import CORE_STATE

    if option_value(CORE_STATE): ...

(or ``get_config().value("core", "state")``).  The declaration supplies the
default and the conversion: a value from an INI file is a string and is
converted by the declared type, a TOML value must already have it (a
number may also be written as a string).  Reading an option that is not
declared here raises :class:`UndeclaredOptionError`: it is a programming
error, not a user's.

Two kinds of section stay free-form: ``[resources]`` (any resource name, an
integer capacity each; read with :meth:`nbpipe.configuration.Config.resources`)
and task-family sections (``[MyTask] param = ...``; parsed by the parameter).

This module only declares and converts; :mod:`nbpipe.configuration` reads the
sources and raises :class:`~nbpipe.configuration.ConfigError` naming the file.
``docs/CONFIGURATION.md`` is generated from the table by
:mod:`nbpipe.options_docs`::

    PYTHONPATH=. python -m nbpipe.options_docs --markdown > docs/CONFIGURATION.md
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nbpipe.exceptions import UndeclaredOptionError

__all__ = [
    "Option",
    "OptionType",
    "OPTIONS",
    "UndeclaredOptionError",
    "declared",
    "options_in",
    "ENGINE_SECTIONS",
    "RESOURCES_SECTION",
    "BOOL",
    "INT",
    "FLOAT",
    "STRING",
    "PATH_LIST",
    "choice",
]

#: The free-form section of resource capacities (``db = 2``); not in :data:`OPTIONS`.
RESOURCES_SECTION = "resources"


@dataclass(frozen=True)
class OptionType:
    """How a configured value becomes the option's value.

    ``convert`` takes a non-empty raw value (an INI string, a TOML value, or
    whatever was passed to ``set_option``) and returns the typed value, or
    raises ValueError/TypeError; ``expected`` completes "expected ..." in
    the error message; ``name`` is the type column of the documentation.
    """

    name: str
    expected: str
    convert: Callable[[Any], Any]


def _to_bool(value: Any) -> bool:
    # The words configparser's getboolean accepts, case-insensitively; TOML gives real booleans.
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):  # an int subclass, but `retry_count = true` is a mistake
        raise TypeError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    raise TypeError(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise TypeError(value)


def _to_string(value: Any) -> str:
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value).strip()
    raise TypeError(value)


def _to_path_list(value: Any) -> tuple[str, ...]:
    # One string (os.pathsep- or newline-separated, the INI form) or a list of paths (TOML, set_option).
    if isinstance(value, (str, os.PathLike)):
        items: list[Any] = re.split(r"[\n" + re.escape(os.pathsep) + r"]", os.fspath(value))
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise TypeError(value)
    out = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(value)
        text = os.fspath(item).strip()
        if text:
            out.append(text)
    return tuple(out)


BOOL = OptionType("bool", "true or false (also yes/no, on/off, 1/0)", _to_bool)
INT = OptionType("int", "an integer", _to_int)
FLOAT = OptionType("float", "a number", _to_float)
STRING = OptionType("string", "a string", _to_string)
PATH_LIST = OptionType(
    "path list", f"a list of paths, or one string of paths separated by {os.pathsep!r}", _to_path_list
)


def choice(*values: str) -> OptionType:
    """A string that must be one of ``values`` (compared exactly)."""

    def convert(value: Any) -> str:
        text = _to_string(value)
        if text not in values:
            raise ValueError(value)
        return text

    shown = " or ".join(repr(v) for v in values)
    return OptionType(" or ".join(f"`{v}`" for v in values), shown, convert)


@dataclass(frozen=True)
class Option:
    """One engine option: ``[section] name``, its type, its default, and one sentence on what it does.

    ``default`` is the value the engine gets when the option is unset (or
    set to an empty string); None means "unset" and is documented in the
    description.
    """

    section: str
    name: str
    type: OptionType
    default: Any
    description: str

    def __str__(self) -> str:
        return f"[{self.section}] {self.name}"

    def convert(self, value: Any) -> Any:
        """The typed value of a raw, non-empty configured value; ValueError/TypeError if ill-typed."""
        return self.type.convert(value)


# -- the table ---------------------------------------------------------------------------------------------------
# Keep each description one sentence: it is the "meaning" column of docs/CONFIGURATION.md.

CORE_STATE = Option(
    "core",
    "state",
    BOOL,
    True,
    'Record runs, fingerprints and failures in the state directory (needed by `rerun="stale"`, '
    "`nbpipe status`, `invalidate` and disabling across runs); false turns all of that off.",
)
CORE_STATE_DIR = Option(
    "core",
    "state_dir",
    STRING,
    ".nbpipe",
    "Directory of the run history and task locks, relative to the working directory; the "
    "`NBPIPE_STATE_DIR` environment variable takes precedence.",
)
CORE_STATE_TIMEOUT = Option(
    "core",
    "state_timeout",
    FLOAT,
    30.0,
    "Seconds a process waits for another one writing to the state store before it gives up with an error.",
)
CORE_TASK_LOCKS = Option(
    "core",
    "task_locks",
    BOOL,
    True,
    "While several runs use one state directory, lock each task before it runs so no task runs twice at "
    "once (needs `state`).",
)
CORE_ON_LOCKED = Option(
    "core",
    "on_locked",
    choice("wait", "skip"),
    "wait",
    "What a run does with a task another run holds the lock of: `wait` for it and use its result, or "
    "`skip` it and report it as being run by another worker.",
)
CORE_LOCK_POLL_INTERVAL = Option(
    "core", "lock_poll_interval", FLOAT, 0.2, "Seconds between two checks of a task lock held by another run."
)
CORE_CONTENT_HASH = Option(
    "core",
    "content_hash",
    BOOL,
    False,
    "Fingerprint files by content (sha256) instead of size and modification time when deciding staleness.",
)
CORE_COMPLETENESS_CHECK_THREADS = Option(
    "core",
    "completeness_check_threads",
    INT,
    16,
    "Threads that run slow `complete()` checks in parallel while the graph is resolved.",
)
CORE_FSYNC_OUTPUTS = Option(
    "core",
    "fsync_outputs",
    BOOL,
    False,
    "fsync each local output file before its atomic rename, so it survives a power loss (slower).",
)
CORE_WORKERS = Option("core", "workers", INT, 1, "Number of workers of `nbpipe run` when `--workers` is not given.")
CORE_PROJECT_ROOTS = Option(
    "core",
    "project_roots",
    PATH_LIST,
    (),
    "Directories besides the working directory whose modules count as project code in a task's code "
    "fingerprint (relative paths are taken from the working directory).",
)

SCHEDULER_RETRY_COUNT = Option(
    "scheduler",
    "retry_count",
    INT,
    None,
    "Failures within `disable_window` before a task is disabled, retried in the run until then (unset: no "
    "retry, a failure is final); a task's `retry_count` attribute overrides it.",
)
SCHEDULER_RETRY_DELAY = Option(
    "scheduler",
    "retry_delay",
    FLOAT,
    0.0,
    "Seconds to wait before a failed task is retried; a task's `retry_delay` attribute overrides it.",
)
SCHEDULER_DISABLE_WINDOW = Option(
    "scheduler",
    "disable_window",
    FLOAT,
    3600.0,
    "Seconds within which failures count towards `retry_count`; a task's `disable_window` attribute overrides it.",
)
SCHEDULER_DISABLE_PERSIST = Option(
    "scheduler",
    "disable_persist",
    FLOAT,
    86400.0,
    "Seconds a task disabled by repeated failures stays disabled in later runs, unless re-enabled with "
    "`nbpipe enable`.",
)

WORKER_TIMEOUT = Option(
    "worker",
    "timeout",
    FLOAT,
    None,
    "Seconds a task may run before it is stopped and failed, for tasks without a `worker_timeout` "
    "(unset or 0: no limit).",
)
WORKER_CHECK_UNFULFILLED_DEPS = Option(
    "worker",
    "check_unfulfilled_deps",
    BOOL,
    True,
    "Check just before a task runs that its dependencies are complete, and fail it when one is not.",
)

DASK_ADDRESS = Option(
    "dask",
    "address",
    STRING,
    None,
    "Address of the Dask scheduler of executor `dask` when the call gives none (unset: "
    "`NBPIPE_DASK_ADDRESS`, then Dask's `scheduler-address`, then a local cluster for the run).",
)
DASK_TASKS_IN_FLIGHT_PER_WORKER = Option(
    "dask",
    "tasks_in_flight_per_worker",
    INT,
    8,
    "Tasks queued per worker on a Dask cluster with no more threads than `workers`, so workers do not idle "
    "between tasks (at least 1).",
)
DASK_CONNECT_TIMEOUT = Option(
    "dask", "connect_timeout", FLOAT, 10.0, "Seconds to wait for the Dask scheduler at `address` before the run fails."
)

# Luigi's option names; the defaults must equal nbpipe.retcodes.RetCodes' (tests check it).
RETCODE_ALREADY_RUNNING = Option(
    "retcode", "already_running", INT, 10, "Exit code when another worker or run was running tasks this run needed."
)
RETCODE_MISSING_DATA = Option(
    "retcode", "missing_data", INT, 20, "Exit code when an external task's output is missing."
)
RETCODE_NOT_RUN = Option(
    "retcode",
    "not_run",
    INT,
    25,
    "Exit code when tasks were left pending for none of the other reasons, or the root task did not complete.",
)
RETCODE_TASK_FAILED = Option(
    "retcode", "task_failed", INT, 30, "Exit code when a task's `run()` failed for good (after its retries)."
)
RETCODE_SCHEDULING_ERROR = Option(
    "retcode",
    "scheduling_error",
    INT,
    35,
    "Exit code when a task's `requires()` or `complete()` raised, or the graph has a cycle.",
)
RETCODE_UNHANDLED_EXCEPTION = Option(
    "retcode", "unhandled_exception", INT, 40, "Exit code when an internal error stopped the run."
)

EXECUTION_SUMMARY_SUMMARY_LENGTH = Option(
    "execution_summary",
    "summary_length",
    INT,
    5,
    "Task families listed per category of the execution summary before a `...` line (0: no limit).",
)

#: Every engine option, in documentation order.
OPTIONS: tuple[Option, ...] = (
    CORE_STATE,
    CORE_STATE_DIR,
    CORE_STATE_TIMEOUT,
    CORE_TASK_LOCKS,
    CORE_ON_LOCKED,
    CORE_LOCK_POLL_INTERVAL,
    CORE_CONTENT_HASH,
    CORE_COMPLETENESS_CHECK_THREADS,
    CORE_FSYNC_OUTPUTS,
    CORE_WORKERS,
    CORE_PROJECT_ROOTS,
    SCHEDULER_RETRY_COUNT,
    SCHEDULER_RETRY_DELAY,
    SCHEDULER_DISABLE_WINDOW,
    SCHEDULER_DISABLE_PERSIST,
    WORKER_TIMEOUT,
    WORKER_CHECK_UNFULFILLED_DEPS,
    DASK_ADDRESS,
    DASK_TASKS_IN_FLIGHT_PER_WORKER,
    DASK_CONNECT_TIMEOUT,
    RETCODE_ALREADY_RUNNING,
    RETCODE_MISSING_DATA,
    RETCODE_NOT_RUN,
    RETCODE_TASK_FAILED,
    RETCODE_SCHEDULING_ERROR,
    RETCODE_UNHANDLED_EXCEPTION,
    EXECUTION_SUMMARY_SUMMARY_LENGTH,
)

_BY_KEY: dict[tuple[str, str], Option] = {(o.section, o.name): o for o in OPTIONS}
if len(_BY_KEY) != len(OPTIONS):  # pragma: no cover - caught by the tests and at import
    raise RuntimeError("an option is declared twice in nbpipe.options.OPTIONS")

#: The sections nbpipe itself reads (every other section is a task family's).
ENGINE_SECTIONS: tuple[str, ...] = tuple(dict.fromkeys([o.section for o in OPTIONS] + [RESOURCES_SECTION]))


def declared(section: str, name: str) -> Option:
    """The declaration of ``[section] name`` (``-`` and ``_`` alike); UndeclaredOptionError if there is none."""
    option = _BY_KEY.get((section, name.replace("-", "_")))
    if option is not None:
        return option
    if section == RESOURCES_SECTION:
        raise UndeclaredOptionError("[resources] holds free-form capacities: read them with Config.resources()")
    known = [o.name for o in OPTIONS if o.section == section]
    if not known:
        raise UndeclaredOptionError(f"[{section}] is not an engine section; declared: {', '.join(ENGINE_SECTIONS)}")
    import difflib  # only on this error path: it is slow to import

    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; declared: {', '.join(known)}"
    raise UndeclaredOptionError(f"[{section}] {name} is not declared in nbpipe.options.OPTIONS{hint}")


def options_in(section: str) -> tuple[Option, ...]:
    """The declared options of ``section``, in table order."""
    return tuple(o for o in OPTIONS if o.section == section)
