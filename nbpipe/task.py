"""Tasks: the Luigi task contract (``requires`` / ``output`` / ``run``).

A task is a value: its class and its significant parameters give its
``task_id`` (Luigi's format, ``Family_<first three params>_<md5[:10]>``), and
two tasks with the same id are equal.  ``Task(...)`` returns the cached
instance for equal parameters (see :mod:`nbpipe.task_register`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from nbpipe import configuration as _config
from nbpipe.parameter import (
    DuplicateParameterException,
    MissingParameterException,
    Parameter,
    ParameterException,
    ParameterVisibility,
    UnconsumedParameterWarning,
    UnknownParameterException,
    _no_value,
)
from nbpipe.task_ids import (  # noqa: F401 - Luigi's names, in Luigi's module
    TASK_ID_INCLUDE_PARAMS,
    TASK_ID_INVALID_CHAR_REGEX,
    TASK_ID_TRUNCATE_HASH,
    TASK_ID_TRUNCATE_PARAMS,
    _task_id_and_json,
    task_id_from_sorted,
    task_id_str,
)
from nbpipe.task_plans import init_plan, public_params, repr_plan
from nbpipe.task_register import SAME_AS_PYTHON_MODULE, Register, auto_namespace, namespace
from nbpipe.task_structure import (
    DynamicRequirements,
    MixinNaiveBulkComplete,
    externalize,
    flatten,
    flatten_output,
    getpaths,
    is_external,
)

__all__ = [
    "Task",
    "WrapperTask",
    "ExternalTask",
    "Config",
    "MixinNaiveBulkComplete",
    "DynamicRequirements",
    "externalize",
    "is_external",
    "flatten",
    "flatten_output",
    "getpaths",
    "task_id_str",
    "namespace",
    "auto_namespace",
]

logger = logging.getLogger("nbpipe")

_NOT_USER_SPECIFIED = "__not_user_specified"


class Task(metaclass=Register):
    """Base class of all tasks.  Override ``requires``, ``output`` and ``run``."""

    # Luigi's class attributes, with Luigi's meanings.
    priority = 0
    disabled = False
    resources: dict[str, int] = {}
    worker_timeout: float | None = None
    max_batch_size = float("inf")
    accepts_messages = False
    #: With ``accepts_messages``, the messages the scheduler sent before the task started (Luigi's worker
    #: protocol: :class:`nbpipe.worker.Worker`); None otherwise.
    scheduler_messages: Any = None
    owner_email = None
    task_namespace = _NOT_USER_SPECIFIED
    #: Failures tolerated before the task is disabled; None means the
    #: configuration's ``[scheduler] retry_count`` (default: no retry).
    retry_count: int | None = None
    #: Seconds to wait before a retry; None means ``[scheduler] retry_delay``.
    retry_delay: float | None = None
    disable_hard_timeout = None
    disable_window = None

    _event_callbacks: dict[type, dict[str, dict[tuple, Callable]]] = {}
    _warned_no_output: set = set()

    # Set on each instance when it is made (Register.__call__ and __init__).
    task_id: str
    param_kwargs: dict[str, Any]
    # Set on each class by the Register metaclass.
    _namespace_at_class_time: str

    # -- events ---------------------------------------------------------------

    @classmethod
    def event_handler(cls, event: str):
        """Decorator: call the function when ``event`` fires for a task of ``cls``.

        Handlers are keyed by their qualified name, so re-running the cell
        that defines one replaces it instead of adding a second copy.
        """

        def wrapped(callback):
            key = (getattr(callback, "__module__", None), getattr(callback, "__qualname__", id(callback)))
            cls._event_callbacks.setdefault(cls, {}).setdefault(event, {})[key] = callback
            return callback

        return wrapped

    @classmethod
    def remove_event_handler(cls, event: str, callback: Callable) -> None:
        """Stop calling ``callback`` for ``event`` on ``cls``; raises KeyError when it was not registered there."""
        handlers = cls._event_callbacks.get(cls, {}).get(event, {})
        key = next((k for k, registered in handlers.items() if registered is callback), None)
        if key is None:
            raise KeyError(f"{callback!r} is not a handler of {event!r} on {cls.__name__}")
        del handlers[key]

    def trigger_event(self, event: str, *args, **kwargs) -> None:
        """Call the handlers registered for ``event`` on any class of this task."""
        for event_class, callbacks in list(self._event_callbacks.items()):
            if not isinstance(self, event_class):
                continue
            for callback in list(callbacks.get(event, {}).values()):
                try:
                    callback(*args, **kwargs)
                except KeyboardInterrupt:
                    raise
                except BaseException:
                    logger.exception("Error in event callback for %r", event)

    # -- class-level metadata -----------------------------------------------

    @classmethod
    def get_task_namespace(cls) -> str:
        if cls.task_namespace != _NOT_USER_SPECIFIED:
            return cls.task_namespace
        if cls._namespace_at_class_time == SAME_AS_PYTHON_MODULE:
            return cls.__module__
        return cls._namespace_at_class_time

    @classmethod
    def get_task_family(cls) -> str:
        ns = cls.get_task_namespace()
        return f"{ns}.{cls.__name__}" if ns else cls.__name__

    @property
    def task_family(self) -> str:
        return self.get_task_family()

    @classmethod
    def get_params(cls) -> list[tuple[str, Parameter]]:
        """(name, parameter) pairs in definition order."""
        cached = cls.__dict__.get("_param_list_cache")
        if cached is not None:
            return cached
        params = []
        for name in dir(cls):
            value = getattr(cls, name, None)
            if isinstance(value, Parameter):
                params.append((name, value))
        params.sort(key=lambda item: item[1]._counter)
        cls._param_list_cache = params
        return params

    @classmethod
    def _public_params(cls) -> list[tuple[str, Callable[[Any], str]]]:
        """(name, serialize) of the significant public parameters: what a task's id and its str show."""
        return public_params(cls)

    @classmethod
    def batch_param_names(cls) -> list[str]:
        return [name for name, p in cls.get_params() if getattr(p, "_is_batchable", lambda: False)()]

    @property
    def batchable(self) -> bool:
        """True when a parameter has a ``batch_method``: Luigi's worker may run this task in a batch."""
        return bool(self.batch_param_names())

    @classmethod
    def get_param_names(cls, include_significant: bool = False) -> list[str]:
        return [name for name, p in cls.get_params() if include_significant or p.significant]

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        """Parameter defaults (config or declared), cached per config generation."""
        cached = cls.__dict__.get("_defaults_cache")
        # The current configuration object is part of the key: Luigi code swaps it
        # (``LuigiConfigParser._instance = ...``) without going through set_option.
        current = _config.LuigiConfigParser._instance
        if cached is not None and cached[0] == _config.generation and cached[2] is current:
            return cached[1]
        family = cls.get_task_family()
        defaults = {name: p._get_value(family, name) for name, p in cls.get_params()}
        cls._defaults_cache = (_config.generation, defaults, _config.LuigiConfigParser._instance)
        return defaults

    @classmethod
    def get_param_values(cls, params, args, kwargs) -> list[tuple[str, Any]]:
        """Bind ``args``/``kwargs`` to ``params``; fill defaults; normalise.

        Raises :class:`UnknownParameterException` for extra or unknown
        arguments and :class:`MissingParameterException` naming the task and
        the parameter that has no value.
        """
        family = None
        values: dict[str, Any] = {}
        if args:
            positional = [(n, p) for n, p in params if p.positional]
            family = cls.get_task_family()
            if len(args) > len(positional):
                raise UnknownParameterException(
                    f"{family}[args={args}, kwargs={kwargs}]: takes at most {len(positional)} "
                    f"positional parameters ({len(args)} given)"
                )
            for (name, _), arg in zip(positional, args, strict=False):  # fewer args than positional parameters is fine
                values[name] = arg
        if kwargs:
            plan = cls.__dict__.get("_init_plan_cache")
            names = plan[4] if plan is not None and plan[0] is params else {n for n, _ in params}
            if not values and names.issuperset(kwargs):
                values = kwargs  # (by name only, every name known: nothing to check one by one)
            else:
                for name, arg in kwargs.items():
                    if name in values:
                        raise DuplicateParameterException(
                            f"{cls.get_task_family()}: parameter {name!r} was given twice (positionally and by name)"
                        )
                    if name not in names:
                        family = cls.get_task_family()
                        import difflib

                        close = difflib.get_close_matches(name, sorted(names), n=1)
                        hint = (
                            f"; did you mean {close[0]!r}?"
                            if close
                            else f"; its parameters are: {', '.join(sorted(names)) or 'none'}"
                        )
                        raise UnknownParameterException(f"{family}: unknown parameter {name!r}{hint}")
                    values[name] = arg
        # Defaults (config lookups) are computed only when a parameter was left out.
        try:
            defaults = cls._defaults() if len(values) < len(params) else {}
        except ParameterException as exc:
            bad = next((n for n, p in params if n not in values and _default_fails(p, cls.get_task_family(), n)), "?")
            raise DefaultValueError(
                f"{cls.get_task_family()}[args={args}, kwargs={kwargs}]: "
                f"Error when parsing the default value of {bad!r}: {exc}"
            ) from exc
        result = []
        for name, param in params:
            if name in values:
                value = param.normalize(values[name])
            else:
                value = defaults[name]
                if value is _no_value:
                    raise MissingParameterException(
                        f"{cls.get_task_family()}: requires the '{name}' parameter to be set"
                    )
            result.append((name, value))
        if cls.__dict__.get("_unconsumed_checked") != _config.generation:  # once per configuration change
            cls._warn_unconsumed({name for name, _ in params})
        return result

    @classmethod
    def _warn_unconsumed(cls, names: set[str]) -> None:
        """Warn once per option of the task's configuration section that no parameter takes (Luigi's
        UnconsumedParameterWarning); options named in the class's ``ignore_unconsumed`` are expected."""
        conf = _config.get_config()
        # Once per class and configuration content: instantiation is the engine's hot path.
        type.__setattr__(cls, "_unconsumed_checked", _config.generation)
        family = cls.get_task_family()
        if not conf.has_section(family):
            return
        warned = cls.__dict__.get("_unconsumed_warned")
        if warned is None:
            warned = set()
            type.__setattr__(cls, "_unconsumed_warned", warned)
        ignored: set[str] = set(getattr(cls, "ignore_unconsumed", ()))
        # nbpipe's engine options of the same section ([core], [worker], [scheduler], ...) are consumed by the engine.
        from nbpipe.options import OPTIONS

        ignored.update(option.name for option in OPTIONS if option.section == family)
        for key, value in conf.items(family):
            key = key.replace("-", "_")
            if key not in names and key not in ignored and key not in warned:
                warnings.warn(
                    f"The configuration contains the parameter '{key}' with value '{value}' "
                    f"that is not consumed by the task '{family}'.",
                    UnconsumedParameterWarning,
                    stacklevel=3,
                )
                warned.add(key)

    # -- construction ---------------------------------------------------------

    @classmethod
    def _has_default_init(cls) -> bool:
        return cls.__init__ is Task.__init__

    def __init__(self, *args, **kwargs):
        params = self.get_params()
        self._init_from_values(self.get_param_values(params, args, kwargs))

    def _init_from_values(self, param_values: list[tuple[str, Any]]) -> None:
        cls = type(self)
        own = cls.__dict__  # (a new proxy object at each access: taken once)
        params = own.get("_param_list_cache") or cls.get_params()
        plan = own.get("_init_plan_cache")
        if plan is None or plan[0] is not params:
            plan = cls._init_plan(params)
        d = self.__dict__
        kw = dict(param_values)
        d.update(kw)
        d["param_kwargs"] = kw
        for name, param in plan[1]:
            if name in kw:
                param._warn_on_wrong_param_type(name, kw[name])
        if cls.to_str_params is Task.to_str_params:  # (what it gives, without its per-parameter checks)
            names, prefixes, serializers, template = plan[5]
            values = [serialize(kw[name]) for name, serialize in zip(names, serializers, strict=True)]
            task_id, params_json = task_id_from_sorted(cls.get_task_family(), names, prefixes, values, template)
        else:  # a subclass's own to_str_params decides, as in Luigi
            str_params = self.to_str_params(only_significant=True, only_public=True)
            task_id, params_json = _task_id_and_json(cls.get_task_family(), str_params, sorted(str_params))
        d["task_id"] = task_id
        # The run history stores this JSON for each task that runs; made here anyway, it is kept.
        d["_Task__params_json"] = params_json

    @classmethod
    def _init_plan(cls, params: list[tuple[str, Parameter]]) -> tuple:
        return init_plan(cls, params)

    @property
    def param_args(self) -> tuple:
        """The parameter values in declaration order (Luigi's positional view of the task)."""
        return tuple(self.param_kwargs[name] for name, _ in self.get_params())

    @property
    def disable_window_seconds(self):
        """Deprecated name of ``disable_window``."""
        warnings.warn(
            "Use of `disable_window_seconds` has been deprecated, use `disable_window` instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.disable_window

    def _get_param_visibilities(self) -> dict[str, int]:
        """Each parameter's visibility as a number (0 public, 1 hidden, 2 private), except private ones."""
        return {
            name: param.visibility.value
            for name, param in self.get_params()
            if param.visibility != ParameterVisibility.PRIVATE
        }

    @classmethod
    def from_str_params(cls, params_str: dict[str, str]):
        """A task from serialised parameter strings (the inverse of to_str_params)."""
        kwargs = {}
        for name, param in cls.get_params():
            if name in params_str:
                value = params_str[name]
                if isinstance(value, list):  # a batch's values, combined by the parameter's batch_method
                    kwargs[name] = param._parse_list(value)
                else:
                    kwargs[name] = param.parse(value) if isinstance(value, str) else value
        return cls(**kwargs)

    def to_str_params(self, only_significant: bool = False, only_public: bool = False) -> dict[str, str]:
        out = {}
        kw = self.param_kwargs
        for name, param in self.get_params():
            if only_significant and not param.significant:
                continue
            if only_public and param.visibility != ParameterVisibility.PUBLIC:
                continue
            if param.visibility == ParameterVisibility.PRIVATE:
                continue  # private parameters are never serialised (as in Luigi)
            out[name] = param.serialize(kw[name])
        return out

    def clone(self, cls=None, **kwargs):
        """A task of ``cls`` (default: this class) sharing this task's parameters.

        Each parameter of ``cls`` takes, in this order, its value in
        ``kwargs``, or this task's attribute of that name (a parameter, or
        any attribute or property, as Luigi does), else its default.
        """
        if cls is None:
            cls = self.__class__
        new_kwargs = {}
        for name, _ in cls.get_params():
            if name in kwargs:
                new_kwargs[name] = kwargs[name]
            elif hasattr(self, name):
                new_kwargs[name] = getattr(self, name)
        return cls(**new_kwargs)

    def __hash__(self) -> int:
        # Not kept on the instance: a str keeps its own hash once computed, and string hashes are
        # salted per process, so a task sent to a worker must hash like an equal task made there.
        return hash(self.task_id)

    def __eq__(self, other) -> bool:
        return self.__class__ is other.__class__ and self.task_id == other.task_id

    def __repr__(self) -> str:
        cls = type(self)
        own = cls.__dict__  # (a new proxy object at each access: taken once)
        plan = own.get("_repr_plan_cache")
        if plan is None or plan[0] is not own.get("_param_list_cache"):
            plan = repr_plan(cls)
        if plan[1] is not None:
            return cls.get_task_family() + plan[1] % plan[2](self.param_kwargs)
        kw = self.param_kwargs
        parts = [f"{name}={serialize(kw[name])}" for name, serialize in plan[3]]
        return f"{cls.get_task_family()}({', '.join(parts)})"

    def __getstate__(self):
        return self.__dict__

    def __setstate__(self, state):
        self.__dict__.update(state)

    # -- the user contract ----------------------------------------------------

    def requires(self):
        """The tasks this task needs: a task, a list/tuple/dict of tasks, or []."""
        return []

    def _requires(self):
        return flatten(self.requires())

    def output(self):
        """The target(s) this task produces."""
        return []

    def run(self):
        """Do the work. May ``yield`` tasks to add dynamic dependencies."""

    def complete(self) -> bool:
        """True when every output exists.

        A task with no outputs is never complete (Luigi's rule); it then
        reruns each time, which a warning points out once per class.
        """
        outputs = flatten(self.output())
        if not outputs:
            cls = type(self)
            if cls not in Task._warned_no_output:
                Task._warned_no_output.add(cls)
                warnings.warn(
                    f"Task {self.get_task_family()} has no outputs and no custom complete() method; "
                    "it will run every time",
                    stacklevel=2,
                )
            return False
        for output in outputs:
            if not output.exists():
                return False
        return True

    @classmethod
    def bulk_complete(cls, parameter_tuples):
        raise NotImplementedError(f"{cls.get_task_family()} has no bulk_complete")

    def deps(self) -> list:
        """The flattened list of required tasks."""
        return flatten(self._requires())

    def input(self):
        """The outputs of ``requires()``, in the same structure."""
        return getpaths(self.requires())

    def process_resources(self) -> dict[str, int]:
        return self.resources

    def on_failure(self, exception: BaseException) -> str:
        """Called in the worker when run() raises; the text is the failure message."""
        import traceback

        return "Runtime error:\n" + "".join(
            traceback.format_exception(type(exception), exception, exception.__traceback__)
        )

    def on_success(self):
        """Called in the worker after run() succeeded."""

    # Progress reporting while run() executes; the executor installs a sink.
    def set_tracking_url(self, url: str) -> None:
        _report(self, "tracking_url", url)

    def set_status_message(self, message: str) -> None:
        _report(self, "status_message", message)

    def set_progress_percentage(self, percentage: float) -> None:
        _report(self, "progress_percentage", percentage)

    @contextmanager
    def no_unpicklable_properties(self):
        """Set aside, while the block runs, the reporting callables a worker may have put on this task
        (they are often closures, which pickle cannot take); they are back afterwards."""
        names = ("set_tracking_url", "set_status_message", "set_progress_percentage", "decrease_running_resources")
        saved = {name: self.__dict__.pop(name) for name in names if name in self.__dict__}
        try:
            yield
        finally:
            self.__dict__.update(saved)

    def _get_param_str(self) -> str:
        return repr(self)


class DefaultValueError(ParameterException, ValueError):
    """A parameter's default (from the configuration) does not parse; names the task, the call and the parameter."""


def _default_fails(param: Parameter, family: str, name: str) -> bool:
    try:
        param._get_value(family, name)
    except ParameterException:
        return True
    return False


_progress_sink: Callable[[Task, str, Any], None] | None = None


def _report(task: Task, kind: str, value: Any) -> None:
    sink = _progress_sink
    if sink is not None:
        sink(task, kind, value)


def set_progress_sink(sink: Callable[[Task, str, Any], None] | None) -> None:
    """Install the callable that receives set_status_message & co."""
    global _progress_sink
    _progress_sink = sink


class WrapperTask(Task):
    """A task that only gathers requirements; complete when they all are."""

    def complete(self) -> bool:
        return all(r.complete() for r in flatten(self.requires()))


class Config(Task):
    """A bag of parameters read from a configuration section (Luigi's Config)."""


class ExternalTask(Task):
    """A task whose output is made outside the pipeline; it never runs."""

    run = None  # type: ignore[assignment]
