"""The code fingerprint of a task class, and the reasons two of them differ.

A complete task is *stale* when its code changed since it ran, or an input
changed.  This module only computes fingerprints; storing them and comparing
runs is the engine's job (:func:`describe_code_change` turns two code
fingerprints into reasons a human can read).

Code fingerprint
    :func:`code_fingerprint` maps readable component names to short sha256
    digests:

    * ``"<ClassName>.<member>"`` for every function (method, static/class
      method, property accessor, ...) in the body of the task class and of
      each *project* base class, and ``"<ClassName>.<attributes>"`` for the
      other class attributes (Parameters excluded) and the list of bases;
    * ``"<module>.<qualname>"`` for each project function or class those
      functions use, transitively (found by walking the bytecode for global
      names and attribute chains on modules, closures, defaults and
      function-level imports);
    * ``"<module>.<NAME>"`` for immutable module-level constants (numbers,
      strings, tuples, enum members...) that project code reads.

    Functions are hashed by their source normalised through the AST (so
    comments, docstrings, blank lines, formatting and quote style do not
    count); when no source is available, by their code object.  Other task
    classes are never included: an upstream task's code is its own
    fingerprint.

"Project" code is code defined in ``__main__`` (scripts, notebooks) or in a
file under one of :func:`project_roots` (the working directory plus
``[core] project_roots``), and not in site-packages / dist-packages, the
standard library, or nbpipe itself.

Target fingerprints (what a task's outputs look like) are computed by
:mod:`nbpipe.state.fingerprints.outputs`.

What can slip through (the analysis is static and conservative, not exact):

* code reached dynamically: ``getattr(module, name)``, ``importlib``,
  ``self.<attribute>`` holding a function set at run time, functions passed
  around as data, plugins looked up in registries (singledispatch
  implementations are followed; other registries are not);
* modules referred to through local variables other than a function-level
  ``import`` (attribute names are then matched against that module);
* mutable module-level data (lists, dicts, sets, objects) — only immutable
  constants are hashed, and a global assigned with ``global X`` in walked
  code is ignored (it is state, not code); data files read by the code;
* installed packages, the standard library and nbpipe (by design), and the
  Python version for the bytecode fallback;
* functions whose source is not available are hashed by bytecode, which
  counts docstring edits as changes and differs across Python versions; a
  module file edited on disk but not re-imported is hashed from the disk
  when the edited function is still found at the same line (the running
  code is used otherwise).

Fingerprints are meant to be computed in the driver process: in a worker
that unpickled a notebook class by value the cell source is not in
``linecache``, so the bytecode fallback would give other digests.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from nbpipe.state.fingerprints.digests import short_digest
from nbpipe.state.fingerprints.project import project_roots
from nbpipe.state.fingerprints.references import clear_function_cache
from nbpipe.state.fingerprints.walker import Walker

__all__ = ["code_fingerprint", "code_version", "describe_code_change", "clear_cache"]

_lock = threading.Lock()
# task class -> {roots tuple -> fingerprint}
_class_cache: weakref.WeakKeyDictionary[type, dict[tuple, dict[str, str]]] = weakref.WeakKeyDictionary()


def clear_cache() -> None:
    """Forget cached fingerprints (call when code may have been reloaded)."""
    with _lock:
        _class_cache.clear()
    clear_function_cache()


class _NotPinned:
    pass


#: A pinned version is kept readable in the fingerprint: "=" and the version (digests are hex, never "=...").
_PIN = "="
_PIN_LENGTH = 80


def _pinned_version(task_cls: type) -> Any:
    from nbpipe.parameter import Parameter

    for klass in task_cls.__mro__:
        if "version" in vars(klass):
            value = vars(klass)["version"]
            if value is None or isinstance(value, (Parameter, property, staticmethod, classmethod)) or callable(value):
                return _NotPinned
            return value
    return _NotPinned


def _roots_key(roots: Iterable[str] | None) -> tuple[str, ...]:
    if roots is None:
        roots = project_roots()
    if isinstance(roots, (str, os.PathLike)):
        roots = [roots]
    return tuple(os.path.abspath(os.fspath(r)) for r in roots)


def code_fingerprint(task_cls: type, roots: Iterable[str] | None = None) -> dict[str, str]:
    """Per-component hashes of the code a task class runs, for staleness.

    Keys are readable component names, values 16-hex-digit sha256 digests:
    ``"<ClassName>.<member>"`` for the functions in the body of the class and
    of its project base classes, ``"<ClassName>.<attributes>"`` for their
    other class attributes (Parameters excluded) and bases, and
    ``"<module>.<qualname>"`` for the project functions and classes they use,
    transitively (other task classes excluded), plus ``"<module>.<NAME>"``
    for immutable module-level constants they read.

    A class attribute ``version`` that is not None (on the class or an
    ancestor) pins the code: the result is ``{"<ClassName>.version":
    "=<version>"}``, the version itself (at most 80 characters) rather than a
    digest, so a change reads "version changed from 1 to 2".

    ``roots`` replaces :func:`project_roots` (mainly for tests).  Results are
    cached per class and roots; :func:`clear_cache` forgets them.
    """
    if not isinstance(task_cls, type):
        raise TypeError(f"code_fingerprint() needs a task class, not {type(task_cls).__name__}")
    key = _roots_key(roots)
    with _lock:
        per_class = _class_cache.get(task_cls)
        cached = per_class.get(key) if per_class is not None else None
    if cached is not None:
        return dict(cached)
    pinned = _pinned_version(task_cls)
    if pinned is not _NotPinned:
        result = {f"{task_cls.__name__}.version": _PIN + str(pinned)[:_PIN_LENGTH]}
    else:
        walker = Walker(key)
        walker.add_task_class(task_cls)
        result = dict(sorted(walker.components.items()))
    with _lock:
        _class_cache.setdefault(task_cls, {})[key] = result
    return dict(result)


def code_version(task_cls: type, roots: Iterable[str] | None = None) -> str:
    """One digest over :func:`code_fingerprint` (sorted items)."""
    fingerprint = code_fingerprint(task_cls, roots=roots)
    return short_digest("\n".join(f"{k}={v}" for k, v in sorted(fingerprint.items())))


def _pin_of(fingerprint: dict[str, str]) -> str | None:
    """The pinned version of a fingerprint: the version, "" when pinned by an older nbpipe (a digest), else None."""
    if len(fingerprint) != 1:
        return None
    ((key, value),) = fingerprint.items()
    if not key.endswith(".version"):
        return None
    return value[len(_PIN) :] if value.startswith(_PIN) else ""


def describe_code_change(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Human reasons for the difference between two code fingerprints, sorted.

    ``["code of Clean.run changed", "Clean.validate was added",
    "Clean.old was removed"]``; empty when they are equal.
    """
    old = old or {}
    new = new or {}
    pin_old, pin_new = _pin_of(old), _pin_of(new)
    if pin_old is not None or pin_new is not None:
        # A pin replaces the whole fingerprint: one reason, not every component added or removed.
        if pin_old == pin_new:
            return []
        if pin_new is None:
            return [f"version pin {pin_old} was removed" if pin_old else "version pin was removed"]
        return [f"version changed from {pin_old} to {pin_new}" if pin_old else f"version changed to {pin_new}"]
    reasons = []
    for key in old.keys() | new.keys():
        if key not in new:
            reasons.append(f"{key} was removed")
        elif key not in old:
            reasons.append(f"{key} was added")
        elif old[key] != new[key]:
            reasons.append(f"code of {key} changed")
    return sorted(reasons)
