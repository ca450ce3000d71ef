"""Sending tasks to other processes: each task class once per worker, then only the task's values.

A task class defined in ``__main__`` or a notebook travels by value with
cloudpickle, together with every global its methods refer to (a 20 MB
DataFrame included).  Pickling each task with its class would send all that
again for every task; here a task is pickled with its class (and any other
task class it refers to) replaced by a *definition key*, so a task costs
its family and parameter values, and each definition is sent to a worker
once:

* :class:`DefinitionShipper` (driver side, one per run) pickles each task
  class once, by value when a fresh process could not import it by name,
  and keys it by the digest of its bytes.  A redefined class (a re-run
  ``%%pipeline`` cell) is a new class object, so it gets a new key: tasks
  of the old and of the new definition never share one.
* :class:`DefinitionCache` (worker side) keeps the definitions received and
  loads each one on first use; a definition or task that cannot be loaded
  raises :class:`TaskLoadError` naming the module and the reason, which the
  worker reports as that task's failure instead of dying.

Classes from modules a fresh process cannot import by name (loaded by file
path with ``importlib.util.spec_from_file_location``, or executed into a
synthetic module) are registered with ``cloudpickle.register_pickle_by_value``,
so they travel by value like ``__main__``'s.

The run's configuration travels the same way (:func:`config_snapshot`,
:func:`install_config`), so ``Config`` classes and ``--Family-param`` values
given on the command line, read from files in the driver's working directory
or set with ``set_option`` are the same in every worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import sys
import threading
import types
from collections import OrderedDict
from dataclasses import dataclass
from importlib.machinery import PathFinder
from typing import Any

import cloudpickle

from nbpipe.task_register import Register

__all__ = [
    "Definition",
    "DefinitionShipper",
    "DefinitionCache",
    "TaskLoadError",
    "config_snapshot",
    "dumps_result",
    "install_config",
]

_PID_TAG = "nbpipe-definition"


class TaskLoadError(Exception):
    """A worker could not load a task or its class; the message names the module and the reason."""


@dataclass(frozen=True, slots=True)
class Definition:
    """One task class, pickled: ``needs`` are the keys of task classes its bytes refer to (sent first)."""

    key: str
    blob: bytes
    needs: tuple[str, ...]
    module: str
    qualname: str
    origin: str  # where the driver loaded the module from, for messages


# -- driver side -----------------------------------------------------------------------------------------------


_code_reduce = getattr(getattr(cloudpickle, "cloudpickle", None), "_code_reduce", None)


class _KeyedPickler(cloudpickle.Pickler):
    """cloudpickle, with every task class but ``top`` replaced by its definition key."""

    def __init__(self, file: io.BytesIO, shipper: DefinitionShipper, top: type | None):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._shipper = shipper
        self._top = top
        self.needs: list[str] = []

    def reducer_override(self, obj: Any) -> Any:
        # cloudpickle names the file of code it ships by value "<dynamic-code>"; keep the real
        # one, so a task's traceback in a worker names its file and lines as in the driver.
        if type(obj) is types.CodeType and _code_reduce is not None:
            constructor, args = _code_reduce(obj)
            return constructor, tuple(obj.co_filename if a == "<dynamic-code>" else a for a in args)
        return super().reducer_override(obj)

    def persistent_id(self, obj: Any) -> Any:  # called for every object pickled: keep it cheap
        if isinstance(obj, Register) and obj is not self._top:
            key = self._shipper.key_of(obj)
            if key is not None:
                if key not in self.needs:
                    self.needs.append(key)
                return (_PID_TAG, key)
        return None


class DefinitionShipper:
    """Pickles tasks for one run's workers; see the module docstring.

    A definition is made once per class object and run: the class's globals
    are read then, as a task pickled at dispatch time would read them.
    """

    def __init__(self) -> None:
        self._by_class: dict[type, Definition] = {}
        self._by_key: dict[str, Definition] = {}
        self._building: set[type] = set()
        self._lock = threading.Lock()

    def key_of(self, cls: type) -> str | None:
        """The definition key of task class ``cls`` (made now if new); None while ``cls`` is being pickled.

        None makes the pickler inline the class by value, which only happens
        for task classes that refer to each other in a cycle; cloudpickle
        then maps both copies to one class in the worker.
        """
        found = self._by_class.get(cls)
        if found is not None:
            return found.key
        if cls in self._building:
            return None
        return self._define(cls).key

    def _define(self, cls: type) -> Definition:
        module_name = getattr(cls, "__module__", "") or ""
        ship_by_value_if_needed(module_name)
        self._building.add(cls)
        try:
            buffer = io.BytesIO()
            pickler = _KeyedPickler(buffer, self, cls)
            pickler.dump(cls)
        finally:
            self._building.discard(cls)
        blob = buffer.getvalue()
        module = sys.modules.get(module_name)
        definition = Definition(
            key=hashlib.sha1(blob).hexdigest(),
            blob=blob,
            needs=tuple(pickler.needs),
            module=module_name,
            qualname=getattr(cls, "__qualname__", repr(cls)),
            origin=str(getattr(module, "__file__", None) or "no file"),
        )
        self._by_class[cls] = definition
        self._by_key[definition.key] = definition
        return definition

    def dumps(self, obj: Any) -> tuple[bytes, list[str]]:
        """``obj`` pickled with task classes as keys, and those keys (what the receiver must have)."""
        with self._lock:
            buffer = io.BytesIO()
            pickler = _KeyedPickler(buffer, self, None)
            pickler.dump(obj)
            return buffer.getvalue(), pickler.needs

    def closure(self, keys: list[str]) -> list[Definition]:
        """The definitions of ``keys`` and of every definition they need, each needed one before its user."""
        out: list[Definition] = []
        seen: set[str] = set()

        def visit(key: str) -> None:
            if key in seen:
                return
            seen.add(key)
            definition = self._by_key[key]
            for needed in definition.needs:
                visit(needed)
            out.append(definition)

        for key in keys:
            visit(key)
        return out


_by_value_checked: dict[str, int] = {}


def ship_by_value_if_needed(module_name: str) -> None:
    """Have cloudpickle ship module ``module_name`` by value when a fresh process cannot import it by name."""
    module = sys.modules.get(module_name)
    if module is None or module_name == "__main__":
        return  # not in sys.modules: cloudpickle pickles it by value anyway; __main__ too
    if _by_value_checked.get(module_name) == id(module):
        return
    _by_value_checked[module_name] = id(module)
    if not importable_by_name(module):
        try:
            cloudpickle.register_pickle_by_value(module)
        except ValueError:
            pass  # not registrable (e.g. renamed in sys.modules); cloudpickle's own rules apply


def importable_by_name(module: Any) -> bool:
    """True when a fresh Python on the same ``sys.path`` would import the same file under ``module``'s name.

    False for a module loaded by file path under a name the path finders do
    not map to that file (``spec_from_file_location``, ``%run``), and for one
    executed into a synthetic module (no ``__spec__``).
    """
    name = getattr(module, "__name__", None)
    spec = getattr(module, "__spec__", None)
    if not name or spec is None or spec.name != name:
        return False
    origin = spec.origin
    if origin is None or not getattr(spec, "has_location", False):
        return True  # built-in, frozen, namespace package: found by name
    parent_name, _, _ = name.rpartition(".")
    path = None
    if parent_name:
        parent = sys.modules.get(parent_name)
        if parent is None or not importable_by_name(parent):
            return False
        path = getattr(parent, "__path__", None)
        if path is None:
            return False
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            found = find_spec(name, path) if finder is not PathFinder else PathFinder.find_spec(name, path)
        except Exception:  # noqa: BLE001 - a broken finder: ask the next one
            continue
        if found is not None:
            found_origin = found.origin
            return found_origin is not None and os.path.realpath(found_origin) == os.path.realpath(origin)
    return False


# -- worker side -----------------------------------------------------------------------------------------------


class _KeyedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, cache: DefinitionCache):
        super().__init__(io.BytesIO(data))
        self._cache = cache

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 2 and pid[0] == _PID_TAG):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        return self._cache.load_class(pid[1])


class DefinitionCache:
    """A worker's task classes by definition key; loads each on first use.

    ``limit`` bounds how many loaded classes are kept (a long-lived Dask
    worker sees many definitions); one dropped is loaded again from its
    bytes when needed.  Without ``keep_blobs`` the bytes are dropped once
    loaded (a Dask task brings them along with every call).  Thread-safe: a Dask worker runs tasks in threads.
    """

    def __init__(self, limit: int | None = None, keep_blobs: bool = True):
        self._keep_blobs = keep_blobs
        self._meta: dict[str, tuple[bytes, str, str, str]] = {}
        self._loaded: OrderedDict[str, type] = OrderedDict()
        self._failed: dict[str, str] = {}
        self._limit = limit
        self._lock = threading.RLock()
        #: How many definitions were unpickled here (each should be once per worker and definition).
        self.loads = 0

    def __contains__(self, key: str) -> bool:
        return key in self._loaded or key in self._meta

    def add(self, key: str, blob: bytes, module: str, qualname: str, origin: str) -> None:
        with self._lock:
            if key not in self._meta and key not in self._loaded:
                self._meta[key] = (blob, module, qualname, origin)

    def load_class(self, key: str) -> type:
        with self._lock:
            cls = self._loaded.get(key)
            if cls is not None:
                self._loaded.move_to_end(key)
                return cls
            if key in self._failed:
                raise TaskLoadError(self._failed[key])
            entry = self._meta.get(key)
            if entry is None:
                raise TaskLoadError(f"task class definition {key[:12]} was never sent to this worker")
            blob, module, qualname, origin = entry
            try:
                cls = _KeyedUnpickler(blob, self).load()
            except TaskLoadError:
                raise
            except Exception as exc:  # noqa: BLE001 - reported as the task's failure, the worker lives on
                self._failed[key] = _load_failure(module, qualname, origin, exc)
                raise TaskLoadError(self._failed[key]) from None
            self.loads += 1
            self._loaded[key] = cls
            if not self._keep_blobs:
                del self._meta[key]
            if self._limit is not None and len(self._loaded) > self._limit:
                self._loaded.popitem(last=False)
            return cls

    def loads_task(self, payload: bytes) -> Any:
        """Unpickle what :meth:`DefinitionShipper.dumps` made; raises TaskLoadError naming what failed."""
        try:
            return _KeyedUnpickler(payload, self).load()
        except TaskLoadError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise TaskLoadError(_load_failure(getattr(exc, "name", None) or "", "the task's values", "", exc)) from None


def _load_failure(module: str, what: str, origin: str, exc: BaseException) -> str:
    missing = getattr(exc, "name", None) if isinstance(exc, ImportError) else None
    reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": ")
    where = f" (the driver loaded it from {origin})" if origin and origin != "no file" else ""
    if missing:
        return (
            f"the worker cannot load {what} of module {module or missing!r}{where}: module {missing!r} "
            f"cannot be imported there ({reason}); install it where the workers run or put it on their sys.path"
        )
    return f"the worker cannot load {what}{f' of module {module!r}' if module else ''}{where}: {reason}"


def dumps_result(message: Any) -> bytes:
    """A worker's reply (an Outcome inside), pickled for the driver.

    Plain pickle first (several times faster than cloudpickle, and an
    Outcome is plain data); cloudpickle when something in it has a class
    only this process can name (an exception or a requirement of a task
    class shipped by value); without the exception when even that fails.
    """
    try:
        return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - see the docstring
        pass
    try:
        return cloudpickle.dumps(message)
    except Exception:  # noqa: BLE001 - an exception that cannot cross processes
        outcome = message[-1] if isinstance(message, tuple) else message
        outcome.exception = None
        return cloudpickle.dumps(message)


# -- configuration ---------------------------------------------------------------------------------------------


def config_snapshot() -> bytes:
    """The driver's whole configuration, pickled: what a worker needs to see the values the driver sees.

    That is the process-wide configuration object (files read in the
    driver's working directory and named by the environment, with
    ``set_option`` values applied), the ``set_option`` overrides (kept
    across a reload), and the command-line values in force
    (``configuration.command_line_layers()``: ``--Family-param`` and
    ``Config`` options of ``nbpipe run`` / ``nbpipe.run``).
    """
    from nbpipe import configuration

    layers = configuration.command_line_layers() if hasattr(configuration, "command_line_layers") else []
    state = {
        "config": configuration.get_config(),
        # No public accessor: the overrides only matter if task code reloads the configuration.
        "overrides": list(getattr(configuration, "_overrides", [])),
        "command_line": layers,
    }
    return cloudpickle.dumps(state)


_installed_config: str | None = None
_installed_layers = contextlib.ExitStack()


def install_config(snapshot: bytes, key: str | None = None) -> None:
    """Make ``snapshot`` (from :func:`config_snapshot`) this process's configuration.

    ``key`` (the snapshot's digest) skips the work when it is installed
    already.  The configuration is per process: a Dask worker serving
    drivers with different configurations at once would switch between
    them, so give such drivers their own workers.
    """
    global _installed_config
    if key is not None and key == _installed_config:
        return
    from nbpipe import configuration

    state = pickle.loads(snapshot)
    cfg = state["config"]
    parser = getattr(configuration, "LuigiConfigParser", None)
    with configuration._lock:
        if parser is not None:
            # Luigi's documented way to make a configuration object the process-wide one.
            parser._instance = cfg
            toml = getattr(configuration, "LuigiTomlParser", None)
            if toml is not None and isinstance(cfg, toml):
                toml._instance = cfg
        else:
            configuration._config = cfg  # type: ignore[attr-defined]
        overrides = getattr(configuration, "_overrides", None)
        if overrides is not None:
            overrides[:] = state["overrides"]
    _installed_layers.close()
    if hasattr(configuration, "command_line_values"):
        for layer in state["command_line"]:
            _installed_layers.enter_context(configuration.command_line_values(layer))
    configuration._bump_generation()  # task classes cache parameter defaults by it
    _installed_config = key
