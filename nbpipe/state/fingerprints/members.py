"""The members of a class that are code, and the values that are constants.

:func:`member_functions` finds the functions behind a class member (methods,
static/class methods, properties, wrappers); :func:`is_constant` tells the
immutable module-level values that are hashed as data.
"""

from __future__ import annotations

import enum
import functools
import inspect
import types
from typing import Any

__all__ = ["IGNORED_CLASS_ATTRIBUTES", "member_functions", "is_ignored_attribute", "is_constant"]

#: Class attributes that are bookkeeping, never code: set by Python itself,
#: by ``abc``, or by nbpipe's registry at class creation or lazily later.
#: (Any ``_..._cache`` attribute is ignored as well: the registry's rule.)
IGNORED_CLASS_ATTRIBUTES = frozenset(
    {
        "__module__",
        "__qualname__",
        "__doc__",
        "__dict__",
        "__weakref__",
        "__annotations__",
        "__annotate__",
        "__annotate_func__",
        "__annotations_cache__",
        "__abstractmethods__",
        "__orig_bases__",
        "__parameters__",
        "__type_params__",
        "__static_attributes__",
        "__firstlineno__",
        "__classcell__",
        "_abc_impl",
        "_namespace_at_class_time",
        "_param_list_cache",
        "_defaults_cache",
    }
)


def member_functions(value: Any, label: str = "", depth: int = 0) -> list[tuple[str, Any]] | None:
    """The functions behind a class member (method, descriptor, wrapper), or
    None when the member is plain data."""
    if depth > 8:
        return None
    if isinstance(value, types.FunctionType):
        wrapped = value.__dict__.get("__wrapped__")
        if wrapped is not None and wrapped is not value:
            # functools.wraps: the decorated function, then the wrapper.
            decorated = member_functions(wrapped, label, depth + 1) or []
            return decorated + [(f"{label}wrapper", value)]
        return [(label or "function", value)]
    if isinstance(value, (staticmethod, classmethod)):
        return member_functions(value.__func__, f"{label}{type(value).__name__}:", depth + 1) or [
            (f"{label}{type(value).__name__}", value.__func__)
        ]
    if isinstance(value, property):
        found: list[tuple[str, Any]] = []
        for accessor in ("fget", "fset", "fdel"):
            func = getattr(value, accessor)
            if func is not None:
                found.extend(member_functions(func, f"{label}property.{accessor}:", depth + 1) or [(accessor, func)])
        return found
    if isinstance(value, functools.cached_property):
        return member_functions(value.func, f"{label}cached_property:", depth + 1)
    if isinstance(value, functools.partialmethod):
        return member_functions(value.func, f"{label}partialmethod:", depth + 1)
    if isinstance(value, type) or not callable(value):
        return None
    try:
        wrapped = inspect.getattr_static(value, "__wrapped__", None)
    except Exception:  # noqa: BLE001
        wrapped = None
    if wrapped is not None and wrapped is not value:
        inner = member_functions(wrapped, f"{label}{type(value).__qualname__}:", depth + 1)
        if inner:
            return inner
    return None


def is_ignored_attribute(name: str) -> bool:
    if name in IGNORED_CLASS_ATTRIBUTES:
        return True
    return name.startswith("_") and name.endswith("_cache")


def is_constant(value: Any, depth: int = 0) -> bool:
    """Immutable plain values whose text is stable (module-level constants)."""
    if depth > 8:
        return False
    if isinstance(value, (bool, int, float, complex, str, bytes)):
        return True
    if isinstance(value, enum.Enum):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(is_constant(v, depth + 1) for v in value)
    return False
