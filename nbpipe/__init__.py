"""nbpipe: Luigi's task model for notebooks, made fast.

``import nbpipe as luigi`` runs code written for Luigi's core API.  Only the
core engine is imported here (no Jupyter packages), so ``import nbpipe``
stays cheap; executors, the run loop and the CLI load on first use.
"""

from nbpipe import configuration, event, format, parameter, target, task, util
from nbpipe._version import __version__
from nbpipe.engine.summary import LuigiStatusCode, RunResult, StatusCode
from nbpipe.event import Event
from nbpipe.interface import build, run
from nbpipe.parameter import (
    BoolParameter,
    ChoiceListParameter,
    ChoiceParameter,
    DateHourParameter,
    DateIntervalParameter,
    DateMinuteParameter,
    DateParameter,
    DateSecondParameter,
    DictParameter,
    EnumListParameter,
    EnumParameter,
    FloatParameter,
    IntParameter,
    ListParameter,
    MonthParameter,
    NumericalParameter,
    OptionalBoolParameter,
    OptionalChoiceParameter,
    OptionalDictParameter,
    OptionalFloatParameter,
    OptionalIntParameter,
    OptionalListParameter,
    OptionalNumericalParameter,
    OptionalParameter,
    OptionalPathParameter,
    OptionalStrParameter,
    OptionalTupleParameter,
    Parameter,
    PathParameter,
    StrParameter,
    TaskParameter,
    TimeDeltaParameter,
    TupleParameter,
    YearParameter,
)

# Luigi's top-level ``luigi.freezing`` (recursively_freeze, FrozenOrderedDict) lives with the parameters here.
from nbpipe.params import freezing as freezing
from nbpipe.target import FileSystemTarget, LocalTarget, Target
from nbpipe.targets.fsspec_target import FsspecTarget
from nbpipe.task import Config, DynamicRequirements, ExternalTask, Task, WrapperTask, auto_namespace, namespace

# Imported for its task classes, as Luigi does: ``RangeDaily --of X`` works on the command line.
from nbpipe.tools import range as _range  # noqa: F401  (after the task model it builds on)

# Run-state functions load the state store (sqlite3) on first use only.
_STATE_API = ("status", "invalidate", "clear_invalidations", "enable", "history")


def load_ipython_extension(ipython) -> None:
    """``%load_ext nbpipe``: the %%pipeline / %pipeline magics."""
    from nbpipe.notebook import load_ipython_extension as load

    load(ipython)


def __getattr__(name):
    if name in _STATE_API:
        from nbpipe.state import staleness as state

        return getattr(state, name)
    if name in ("RemoteScheduler", "RPCError", "rpc", "local_target"):
        import importlib

        module = importlib.import_module(f"nbpipe.{'rpc' if name != 'local_target' else name}")
        return module if name in ("rpc", "local_target") else getattr(module, name)
    if name == "DagWidget":
        from nbpipe.notebook.widget import DagWidget

        return DagWidget
    raise AttributeError(f"module 'nbpipe' has no attribute {name!r}")


__all__ = [
    "task",
    "Task",
    "Config",
    "ExternalTask",
    "WrapperTask",
    "namespace",
    "auto_namespace",
    "DynamicRequirements",
    "target",
    "Target",
    "FileSystemTarget",
    "LocalTarget",
    "FsspecTarget",
    "parameter",
    "Parameter",
    "DateParameter",
    "MonthParameter",
    "YearParameter",
    "DateHourParameter",
    "DateMinuteParameter",
    "DateSecondParameter",
    "DateIntervalParameter",
    "TimeDeltaParameter",
    "StrParameter",
    "IntParameter",
    "FloatParameter",
    "BoolParameter",
    "PathParameter",
    "TaskParameter",
    "ListParameter",
    "TupleParameter",
    "EnumParameter",
    "DictParameter",
    "EnumListParameter",
    "NumericalParameter",
    "ChoiceParameter",
    "ChoiceListParameter",
    "OptionalParameter",
    "OptionalStrParameter",
    "OptionalIntParameter",
    "OptionalFloatParameter",
    "OptionalBoolParameter",
    "OptionalPathParameter",
    "OptionalDictParameter",
    "OptionalListParameter",
    "OptionalTupleParameter",
    "OptionalChoiceParameter",
    "OptionalNumericalParameter",
    "configuration",
    "run",
    "build",
    "event",
    "Event",
    "format",
    "util",
    "LuigiStatusCode",
    "StatusCode",
    "RunResult",
    "__version__",
    "RemoteScheduler",
    "RPCError",
    *_STATE_API,
]
