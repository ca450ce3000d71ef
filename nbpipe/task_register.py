"""The task registry: every task class by family name, and the instance cache.

Differences from Luigi, on purpose:

* Redefining a class with the same family (re-running a notebook cell,
  reloading a module) *replaces* the registered class instead of making the
  name ambiguous.  Two classes of the same family defined in different
  modules are still allowed; the later one wins and a warning names both.
* The instance cache is keyed by class object, so instances of a replaced
  class are never returned for the new class.
"""

from __future__ import annotations

import abc
import datetime
import difflib
import logging
from collections.abc import Callable
from typing import Any

from nbpipe import configuration as _config
from nbpipe.exceptions import TaskClassAmbigiousException, TaskClassException, TaskClassNotFoundException  # noqa: F401 - their home in Luigi's API

__all__ = [
    "Register",
    "TaskClassException",
    "TaskClassNotFoundException",
    "get_task_cls",
    "task_names",
    "load_task",
    "namespace",
    "auto_namespace",
]

logger = logging.getLogger("nbpipe")

SAME_AS_PYTHON_MODULE = "_same_as_python_module"


class Register(abc.ABCMeta):
    """Metaclass of :class:`nbpipe.Task`: registers classes, caches instances."""

    _by_family: dict[str, type] = {}
    _instance_cache: dict[Any, Any] | None = {}
    _default_namespaces: dict[str, str] = {}
    # Provided by the classes this metaclass makes (a classmethod of Task);
    # declared here, without a value, so the metaclass's own methods type-check.
    get_task_family: Callable[[], str]

    def __new__(mcs, classname, bases, classdict, **kwargs):
        cls = super().__new__(mcs, classname, bases, classdict, **kwargs)
        cls._namespace_at_class_time = mcs._namespace_for_module(cls.__module__)
        # Parameter lists and defaults are computed lazily per class.
        cls._param_list_cache = None
        family = cls.get_task_family()
        previous = mcs._by_family.get(family)
        # A spawned process (Dask's nanny, multiprocessing) imports the main
        # script as __mp_main__; the same classes arriving as __main__ are no news.
        if previous is not None and _module_name(previous.__module__) != _module_name(cls.__module__):
            logger.warning(
                "task family %s defined in %s replaces the one from %s", family, cls.__module__, previous.__module__
            )
        mcs._by_family[family] = cls
        return cls

    def __call__(cls, *args, **kwargs):
        """Instantiate, returning the cached instance for equal parameters."""
        cache = Register._instance_cache
        raw = None
        if cache is not None:
            # Fast path: the same raw arguments as an earlier call, under the same
            # configuration, give the instance that call gave, without binding and
            # normalising again.  Only for arguments whose equality implies equal
            # normalised values (exact int/str/None/date/datetime; no bool/float,
            # which compare equal to ints) and classes whose parameters all
            # normalise purely (no filesystem, clock or user code).
            epoch = _raw_epoch
            if (
                epoch[1] != _config.generation
                or epoch[2] is not _config.LuigiConfigParser._instance
                or epoch[0] is not cache
            ):
                _new_raw_epoch(cache)
            own = cls.__dict__  # (a new proxy object at each access: taken once)
            ok = own.get("_raw_ok_cache")
            if ok is None or ok[0] is not own.get("_param_list_cache"):
                ok = _raw_ok(cls)
            if ok[1]:
                # (the types checked in C, not a Python loop: this runs for every task made)
                if kwargs:
                    if _RAW_TYPES.issuperset(map(type, kwargs.values())) and (
                        not args or _RAW_TYPES.issuperset(map(type, args))
                    ):
                        # (one flat tuple: the cache keeps it, and pairs would be three objects more)
                        raw = (cls, _RAW, args, *kwargs, *kwargs.values())
                elif _RAW_TYPES.issuperset(map(type, args)):
                    raw = (cls, _RAW, args)
                if raw is not None:
                    hit = cache.get(raw)
                    if hit is not None:
                        return hit
        fast = cls._has_default_init()
        param_values = cls.get_param_values(cls.get_params(), args, kwargs)
        if cache is not None:
            key = (cls, tuple(param_values))
            try:
                hit = cache.get(key)
            except TypeError:  # an unhashable parameter value: no caching
                key, hit = None, None
            if hit is not None:
                if raw is not None:
                    cache[raw] = hit
                return hit
        else:
            key = None
        if fast:
            instance = cls.__new__(cls)
            instance._init_from_values(param_values)
        else:
            instance = super().__call__(*args, **kwargs)
        if key is not None:
            cache[key] = instance
            if raw is not None:
                cache[raw] = instance
        return instance

    def __setattr__(cls, name, value):
        super().__setattr__(name, value)
        if name.endswith("_cache"):
            return
        from nbpipe.params.base import Parameter

        if isinstance(value, Parameter):
            # A parameter added after class creation (util.inherits): every
            # class may inherit it, so forget all cached parameter lists.
            for registered in list(Register._by_family.values()) + [cls]:
                type.__setattr__(registered, "_param_list_cache", None)
                type.__setattr__(registered, "_defaults_cache", None)
                type.__setattr__(registered, "_raw_ok_cache", None)
            _forget_raw_keys()

    @classmethod
    def clear_instance_cache(mcs) -> None:
        """Forget every cached task instance."""
        mcs._instance_cache = {}

    @classmethod
    def disable_instance_cache(mcs) -> None:
        mcs._instance_cache = None

    @property
    def task_family(cls) -> str:
        return cls.get_task_family()

    # -- namespaces ---------------------------------------------------------

    @classmethod
    def _namespace_for_module(mcs, module_name: str) -> str:
        parts = module_name.split(".")
        for i in range(len(parts), 0, -1):
            entry = mcs._default_namespaces.get(".".join(parts[:i]))
            if entry:
                return entry
        return mcs._default_namespaces.get("", "")

    # -- lookup -------------------------------------------------------------

    @classmethod
    def get_task_cls(mcs, name: str) -> type:
        cls = mcs._by_family.get(name)
        if cls is None:
            # A class renamed after it was defined (``cls.__name__ = ...``, as class factories do)
            # is found under its family now, as Luigi computes families when it looks them up.
            for family, registered in list(mcs._by_family.items()):
                if family != name and registered.get_task_family() == name:  # type: ignore[attr-defined]
                    del mcs._by_family[family]
                    mcs._by_family[name] = cls = registered
                    break
        if cls is None:
            raise TaskClassNotFoundException(missing_task_message(name))
        return cls

    @classmethod
    def task_names(mcs) -> list[str]:
        """Registered families, without classes marked ``_visible_in_registry = False`` (Luigi's own Config sections)."""
        return sorted(n for n, cls in mcs._by_family.items() if getattr(cls, "_visible_in_registry", True))

    @classmethod
    def task_classes(mcs) -> dict[str, type]:
        """A copy of the registry: family -> the task class registered under it now."""
        return dict(mcs._by_family)

    @classmethod
    def _get_reg(mcs) -> dict[str, type]:  # Luigi's name for the same
        return mcs.task_classes()

    @classmethod
    def _set_reg(mcs, reg: dict[str, type]) -> None:
        """Make ``reg`` (a copy from :meth:`_get_reg`) the registry again: classes registered since are forgotten."""
        mcs._by_family = dict(reg)

    @classmethod
    def get_all_params(mcs):
        """(family, is_without_section, name, parameter) of every registered class (Luigi's generator)."""
        for family, cls in sorted(mcs._by_family.items()):
            without_section = getattr(cls, "use_cmdline_section", True) is False
            for name, param in cls.get_params():
                yield family, without_section, name, param


def missing_task_message(name: str) -> str:
    """'No task X.' plus the closest registered names, for humans."""
    candidates = [
        n
        for n, cls in Register._by_family.items()
        if not n.startswith("_") and getattr(cls, "_visible_in_registry", True)
    ]
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    if not close:
        lowered = {n.lower(): n for n in candidates}
        close = [lowered[n] for n in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)]
    message = f"No task named {name!r} is defined"
    if close:
        message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    else:
        message += " (is the module that defines it imported? pass --module MOD)"
    return message


def get_task_cls(name: str) -> type:
    """The task class registered under family ``name``.

    Raises :class:`TaskClassNotFoundException` with "did you mean" hints.
    """
    return Register.get_task_cls(name)


def task_names() -> list[str]:
    return Register.task_names()


def load_task(module: str | None, task_name: str, params_str: dict[str, str]) -> Any:
    """Import ``module`` (when given), then make task family ``task_name`` from its parameters as text.

    Raises :class:`TaskClassNotFoundException` for an unknown family.
    """
    if module is not None:
        __import__(module)
    task_cls: Any = Register.get_task_cls(task_name)
    return task_cls.from_str_params(params_str)


def namespace(namespace: str | None = None, scope: str = "") -> None:
    """Set the namespace of task classes defined after the call (Luigi's API).

    ``scope`` limits it to classes whose module starts with ``scope``.
    """
    Register._default_namespaces[scope] = namespace or ""


def auto_namespace(scope: str = "") -> None:
    """Like :func:`namespace`, with each class's module as its namespace."""
    namespace(namespace=SAME_AS_PYTHON_MODULE, scope=scope)


# -- the raw-argument fast path of the instance cache ------------------------

_RAW = object()  # marks raw-argument keys in the instance cache: (cls, _RAW, args, *kwargs names, *their values)
# Exact types whose equality implies equality of what a pure ``normalize`` makes
# of them: no two of them compare equal across types (unlike bool, int and float).
_RAW_TYPES = frozenset({int, str, type(None), datetime.date, datetime.datetime})
# The configuration the raw keys in the cache were made under (defaults come from it).
_raw_epoch: list[Any] = [None, None, None]  # [cache, generation, config object]
_pure_normalize: frozenset | None = None


def _pure_normalizers() -> frozenset:
    """The built-in ``normalize`` methods that depend only on the value and the parameter's own settings."""
    global _pure_normalize
    if _pure_normalize is None:
        from nbpipe.params import base, basic, time

        _pure_normalize = frozenset(
            {
                base.Parameter.normalize,
                base.OptionalParameterMixin.normalize,
                basic.BoolParameter.normalize,
                basic.ChoiceParameter.normalize,
                basic.ChoiceListParameter.normalize,
                time.DateParameter.normalize,
                time.MonthParameter.normalize,
                time.YearParameter.normalize,
                time._DatetimeParameterBase.normalize,
            }
        )
    return _pure_normalize


def _raw_ok(cls: Any) -> tuple[list, bool]:
    """Whether every parameter of ``cls`` normalises purely (each ``normalize`` in its MRO is a built-in pure one)."""
    params = cls.get_params()
    cached = cls.__dict__.get("_raw_ok_cache")
    if cached is not None and cached[0] is params:
        return cached
    pure = _pure_normalizers()
    ok = all(
        klass.__dict__["normalize"] in pure
        for _, param in params
        for klass in type(param).__mro__
        if "normalize" in klass.__dict__
    )
    cls._raw_ok_cache = (params, ok)
    return cls._raw_ok_cache


def _forget_raw_keys() -> None:
    cache = Register._instance_cache
    if cache:
        for key in [k for k in list(cache) if len(k) > 2 and k[1] is _RAW]:
            del cache[key]


def _new_raw_epoch(cache: dict) -> None:
    """The configuration changed (defaults may differ) or the cache was replaced: raw keys made before are void."""
    _forget_raw_keys()
    _raw_epoch[:] = [cache, _config.generation, _config.LuigiConfigParser._instance]


def _module_name(name: str) -> str:
    return "__main__" if name == "__mp_main__" else name
