"""Every exception nbpipe raises, in one place.

Luigi's exceptions keep their Luigi names and are also importable from the
modules Luigi defines them in (``nbpipe.parameter.ParameterException``,
``nbpipe.task_register.TaskClassNotFoundException``,
``nbpipe.target.FileSystemException``...).  Each message names the task,
parameter, option or file at fault and says how to fix it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ParameterException",
    "MissingParameterException",
    "UnknownParameterException",
    "DuplicateParameterException",
    "ParameterValueError",
    "TaskClassException",
    "TaskClassNotFoundException",
    "TaskClassAmbigiousException",
    "FileSystemException",
    "FileAlreadyExists",
    "MissingParentDirectory",
    "NotADirectory",
    "MissingBackendError",
    "ConfigError",
    "UndeclaredOptionError",
    "SchedulerError",
    "ExecutorUnavailable",
    "StateStoreError",
    "StateStoreUnwritable",
    "Terminated",
    "LockError",
    "NotebookLoadError",
    "UsageError",
]


# -- the task model (Luigi's) ------------------------------------------------------


class ParameterException(Exception):
    """Base class of parameter errors."""


class MissingParameterException(ParameterException):
    """A parameter has no value (none given, none configured, no default)."""


class UnknownParameterException(ParameterException):
    """A value was given for a parameter the task does not have."""


class DuplicateParameterException(ParameterException):
    """A parameter was given more than once."""


class ParameterValueError(ParameterException, ValueError):
    """A value a parameter cannot accept; the message is one line:
    ``"<reason>: expected <form>"`` (reason defaults to ``invalid value <value!r>``)."""

    def __init__(self, value: Any, form: str, reason: str | None = None):
        self.value, self.form, self.reason = value, form, reason
        super().__init__(f"{reason or f'invalid value {value!r}'}: expected {form}")

    def __reduce__(self):
        # Keeps the three arguments when a worker process sends the error back.
        return (type(self), (self.value, self.form, self.reason))


class TaskClassException(Exception):
    """A task class could not be found or is not a task."""


class TaskClassNotFoundException(TaskClassException):
    """No task class of that family is registered."""


# Luigi spells it this way; keep the alias for code that catches it.
TaskClassAmbigiousException = TaskClassException


class FileSystemException(Exception):
    """Base of file system errors."""


class FileAlreadyExists(FileSystemException):
    """The destination of a move, copy or mkdir exists."""


class MissingParentDirectory(FileSystemException):
    """The parent folder of a path does not exist."""


class NotADirectory(FileSystemException):
    """A path that should be a folder is not one."""


class MissingBackendError(ImportError):
    """No fsspec backend can serve a URL; the message names the URL and what to install."""


# -- configuration -------------------------------------------------------------------


class ConfigError(ValueError):
    """A configuration file is unreadable or malformed, or a configured value is ill-typed."""


class UndeclaredOptionError(LookupError):
    """Code read an engine option that :data:`nbpipe.options.OPTIONS` does not declare (a bug in nbpipe)."""


# -- running -------------------------------------------------------------------------


class SchedulerError(RuntimeError):
    """The caller broke the scheduler's protocol (unknown task, wrong state, ...)."""


class ExecutorUnavailable(RuntimeError):
    """The executor cannot start: a package is missing or a cluster is unreachable."""


# -- state -----------------------------------------------------------------------------


class StateStoreError(RuntimeError):
    """The state database cannot be used; the message says why and what to do."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: the run stops as on Ctrl-C (summary, clean-up), then exits with code 143."""


class StateStoreUnwritable(StateStoreError):
    """The state database is healthy but cannot be written now (disk full, I/O error).

    A run goes on without recording its history, and says so once: history
    is never a reason to change what the tasks did.
    """


class LockError(RuntimeError):
    """The lock directory cannot be used (cannot be created or written, no flock)."""


# -- notebooks and the command line ------------------------------------------------------


class NotebookLoadError(Exception):
    """The notebook cannot be read, or one of its %%pipeline cells failed; the message says where."""


class UsageError(Exception):
    """A mistake in the command line or a magic's arguments; the message is shown as is."""


class PipelineMagicError(Exception):
    """A ``%%pipeline`` cell or a ``%pipeline`` command failed; the message is one line, shown as is.

    The cell becomes an error (``Run All`` stops there, ``nbpipe execute``
    sees it), yet the notebook shows one line instead of a traceback: IPython
    shows what ``_render_traceback_`` returns.  ``nbpipe execute`` exits with
    50 (a cell error) for it, and with 2 for :class:`PipelineUsageError`.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"pipeline: error: {self}"]


class PipelineUsageError(PipelineMagicError):
    """A mistake in a ``%pipeline`` command's arguments: unknown task, bad value, unknown option."""


class CommandLineUsageError(UsageError, SystemExit):
    """A command-line mistake from Luigi's entry points (``luigi.run``, ``CmdlineParser``).

    It is a :class:`UsageError` (one line, shown as is) and a ``SystemExit``
    with code 2, which is what argparse raises for Luigi code.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = 2


class TaskException(Exception):
    """Luigi's ``luigi.worker.TaskException``: a value given to ``Worker.add`` is not a task."""


# Imported here, not at the top: this file is shared and only appended to.
import configparser  # noqa: E402


class InterpolationMissingEnvvarError(configparser.InterpolationError):
    """Luigi's ``luigi.configuration.cfg_parser.InterpolationMissingEnvvarError``:
    a configuration value refers with ``${NAME}`` to an environment variable that is not set."""

    def __init__(self, option: str, section: str, value: str, envvar: str) -> None:
        message = f"Config refers to a nonexisting environment variable {envvar}. Section [{section}], option {option}={value}"
        super().__init__(option, section, message)
        self.envvar = envvar


class ParameterTypeError(ParameterValueError, TypeError):
    """Text that parses, but to a value of the wrong kind (``"a string"`` where a JSON list is expected).

    A ``TypeError`` too, as Luigi's parse fails with one for such text.
    """


class ParameterSyntaxError(ParameterValueError, SyntaxError):
    """Text that is not valid syntax for the parameter (an unclosed tuple literal).

    A ``SyntaxError`` too, as Luigi's ``TupleParameter`` fails with one.
    """

    def __str__(self) -> str:
        # SyntaxError's own __str__ reads ``msg``, which ValueError's constructor never sets.
        return str(self.args[0]) if self.args else ""
