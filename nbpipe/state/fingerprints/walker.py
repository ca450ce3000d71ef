"""The walk that collects the components of one task class's code fingerprint.

Starting from the task class (and its project base classes), it hashes each
member function and follows what those functions use -- project functions,
classes and immutable constants -- transitively; see
:func:`nbpipe.state.fingerprints.code.code_fingerprint` for the result's shape.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import inspect
import sys
import types
from collections import deque
from collections.abc import Iterable
from typing import Any

from nbpipe.state.fingerprints.digests import ADDRESS, qualified, short_digest
from nbpipe.state.fingerprints.members import is_constant, is_ignored_attribute, member_functions
from nbpipe.state.fingerprints.project import ProjectCode, is_nbpipe_module
from nbpipe.state.fingerprints.references import function_info, import_target, imported_modules

#: Strings and bytes longer than this are fingerprinted by their sha256, not their repr.
_LONG_TEXT = 4096

__all__ = ["Walker"]


def _is_task_class(obj: Any) -> bool:
    from nbpipe.task import Task

    try:
        return isinstance(obj, type) and issubclass(obj, Task)
    except TypeError:
        return False


_MISSING = object()


class Walker:
    """Collects the components of one task class's code fingerprint."""

    def __init__(self, roots: Iterable[str]):
        from nbpipe.parameter import Parameter

        self.Parameter = Parameter
        self.project = ProjectCode(roots)
        self.components: dict[str, str] = {}
        self._owners: dict[str, Any] = {}  # component name -> object (collisions)
        self._visited: dict[int, Any] = {}  # id -> object (kept alive)
        self._walked: dict[int, Any] = {}  # functions whose references were followed
        self._queue: deque = deque()
        self._constants: list[tuple[str, str, Any]] = []  # (module, name, value)
        self._stored: set[tuple[str, str]] = set()  # (module, global) assigned by walked code

    # -- naming -------------------------------------------------------------

    def _put(self, name: str, obj: Any, digest: str) -> None:
        key, n = name, 1
        while key in self.components and self._owners[key] is not obj:
            n += 1
            key = f"{name}#{n}"
        self.components[key] = digest
        self._owners[key] = obj

    def _mark(self, obj: Any) -> bool:
        """True the first time ``obj`` is seen."""
        if id(obj) in self._visited:
            return False
        self._visited[id(obj)] = obj
        return True

    # -- the task class -----------------------------------------------------

    def add_task_class(self, task_cls: type) -> None:
        classes = [task_cls] + [
            base
            for base in task_cls.__mro__[1:]
            if base is not object and not is_nbpipe_module(base.__module__) and self.project.class_is_project(base)
        ]
        for klass in classes:
            self._mark(klass)  # members are keyed by class below, never as a "used" class
        prefixes: set[str] = set()
        for klass in classes:
            prefix = klass.__name__
            if prefix in prefixes:
                prefix = f"{klass.__module__}.{klass.__qualname__}"
            prefixes.add(prefix)
            for member, material in self._class_members(klass):
                self._put(f"{prefix}.{member}", klass, short_digest(material))
        self._drain()
        self._add_constants()

    def _class_members(self, klass: type) -> list[tuple[str, str]]:
        """(member name, material) per function member, plus '<attributes>'."""
        members: list[tuple[str, str]] = []
        attributes: list[str] = []
        for name, value in list(vars(klass).items()):
            if is_ignored_attribute(name) or isinstance(value, self.Parameter):
                continue
            funcs = member_functions(value)
            if funcs is not None:
                members.append((name, "\n".join(f"{label}={self._function_digest(f)}" for label, f in funcs)))
            elif not (name.startswith("__") and name.endswith("__")):
                attributes.append(f"{name}={self._stable(value)}")
        attributes.sort()
        attributes.append("__bases__=" + ",".join(qualified(b) for b in klass.__bases__))
        members.append(("<attributes>", "\n".join(attributes)))
        return members

    def _function_digest(self, func: Any) -> str:
        """Digest of a member function; queues what it uses."""
        if isinstance(func, types.FunctionType) and self.project.function_is_project(func):
            self._mark(func)  # a member, not also a "used" function
            digest, _ = function_info(func)
            self._walk_function(func)
            return digest
        # Library code (say ``run = some_library.run``): by reference only,
        # but project code it wraps is still followed.
        self._follow_wrapped(func)
        return "ref:" + qualified(func)

    # -- uses -----------------------------------------------------------------

    def _drain(self) -> None:
        while self._queue:
            obj = self._queue.popleft()
            if isinstance(obj, type):
                material = "\n".join(f"{m}:{short_digest(t)}" for m, t in self._class_members(obj))
                for base in obj.__bases__:
                    if base is not object:
                        self.consider(base)
                self._put(qualified(obj), obj, short_digest("class:" + material))
            else:
                digest, _ = function_info(obj)
                self._put(qualified(obj), obj, digest)
                self._walk_function(obj)

    def _walk_function(self, func: types.FunctionType) -> None:
        if id(func) in self._walked:
            return
        self._walked[id(func)] = func
        _, scan = function_info(func)
        globals_ = getattr(func, "__globals__", None) or {}
        owner = globals_.get("__name__")
        owner = owner if isinstance(owner, str) else "__main__"
        for name in scan.stored:
            self._stored.add((owner, name))
        for chain in scan.chains:
            self._resolve_chain(globals_, owner, chain)
        for level, module_name, names in scan.imports:
            module = import_target(globals_, level, module_name)
            for candidate in imported_modules(module_name, module):
                if names:
                    for name in names:
                        self._consider_attribute(candidate, name)
                else:
                    for attr in scan.attrs:
                        self._consider_attribute(candidate, attr)
        for cell in func.__closure__ or ():
            try:
                self.consider(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        for value in (func.__defaults__ or ()) + tuple((func.__kwdefaults__ or {}).values()):
            self.consider(value)

    def _resolve_chain(self, globals_: dict, owner: str, chain: tuple[str, ...]) -> None:
        obj = globals_.get(chain[0], _MISSING)
        if obj is _MISSING:
            return  # a builtin, or a name not defined (yet)
        module_name, name = owner, chain[0]
        for attr in chain[1:]:
            if not isinstance(obj, types.ModuleType):
                break
            if not self.project.module_is_project(obj):
                return  # nothing of a library is included; don't trigger its lazy imports
            module_name, name = obj.__name__, attr
            nxt = getattr(obj, attr, _MISSING)
            if nxt is _MISSING:
                nxt = sys.modules.get(f"{obj.__name__}.{attr}", _MISSING)
            if nxt is _MISSING:
                return
            obj = nxt
        self.consider(obj, module_name, name)

    def _consider_attribute(self, module: types.ModuleType, name: str) -> None:
        if not self.project.module_is_project(module):
            return
        value = getattr(module, name, _MISSING)
        if value is _MISSING:
            value = sys.modules.get(f"{module.__name__}.{name}", _MISSING)
        if value is not _MISSING:
            self.consider(value, module.__name__, name)

    def consider(self, obj: Any, module: str | None = None, name: str | None = None) -> None:
        """Queue ``obj`` when it is project code the walked code uses."""
        try:
            self._consider(obj, module, name)
        except Exception:  # noqa: BLE001 - an odd object (proxy, lazy module...): not code we follow
            pass

    def _consider(self, obj: Any, module: str | None, name: str | None) -> None:
        if obj is None or isinstance(obj, types.ModuleType):
            return
        if module is not None and name is not None and is_constant(obj):
            self._constants.append((module, name, obj))
            if not isinstance(obj, enum.Enum):
                return
        if isinstance(obj, type):
            if not self._mark(obj) or _is_task_class(obj):
                return
            if self.project.class_is_project(obj):
                self._queue.append(obj)
            return
        if isinstance(obj, types.FunctionType):
            if not self._mark(obj):
                return
            if self.project.function_is_project(obj):
                self._queue.append(obj)
            self._follow_wrapped(obj)
            return
        if isinstance(obj, types.MethodType):
            self.consider(obj.__func__)
            self.consider(obj.__self__)
            return
        if isinstance(obj, functools.partial):
            if self._mark(obj):
                self.consider(obj.func)
                for arg in obj.args + tuple(obj.keywords.values()):
                    self.consider(arg)
            return
        if isinstance(obj, (staticmethod, classmethod)):
            self.consider(obj.__func__)
            return
        if callable(obj):
            self._follow_wrapped(obj)
        # An instance: its class is code (unless it is a task or library class).
        cls = type(obj)
        if cls.__module__ not in ("builtins",) and not isinstance(obj, self.Parameter):
            self.consider(cls)

    def _follow_wrapped(self, obj: Any) -> None:
        try:
            wrapped = inspect.getattr_static(obj, "__wrapped__", None)
        except Exception:  # noqa: BLE001
            wrapped = None
        if wrapped is not None and wrapped is not obj:
            self.consider(wrapped)
        registry = getattr(obj, "registry", None) if isinstance(obj, types.FunctionType) else None
        if isinstance(registry, types.MappingProxyType):  # functools.singledispatch
            for impl in list(registry.values()):
                self.consider(impl)
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                contents = cell.cell_contents
            except ValueError:
                continue
            if isinstance(contents, (types.FunctionType, type)):
                self.consider(contents)

    def _add_constants(self) -> None:
        for module, name, value in self._constants:
            if (module, name) in self._stored:
                continue  # rebound at run time (a counter, a lazy slot): not code
            self._put(f"{module}.{name}", ("constant", module, name), short_digest("constant:" + self._stable(value)))

    # -- stable text of data ------------------------------------------------

    def _stable(self, value: Any, depth: int = 0) -> str:
        """A text for a data value with no addresses or hash-order in it;
        project classes and functions found in it are queued as uses."""
        if depth > 20:
            return "..."
        kind = type(value)
        if kind in (str, bytes) and len(value) > _LONG_TEXT:
            # A large constant (a data blob held by a module) is hashed as it
            # is: its repr would be a second copy, and hashing that costs more.
            raw = value.encode("utf-8", "surrogatepass") if kind is str else value
            return f"{kind.__name__}[{len(value)}]:sha256:{hashlib.sha256(raw).hexdigest()}"
        if value is None or kind in (bool, int, float, complex, str, bytes):
            return f"{kind.__name__}:{value!r}"
        if isinstance(value, enum.Enum):
            self.consider(kind)
            return f"enum:{qualified(kind)}.{value.name}"
        if isinstance(value, (tuple, list)):
            return f"{kind.__name__}[" + ",".join(self._stable(v, depth + 1) for v in value) + "]"
        if isinstance(value, (set, frozenset)):
            return f"{kind.__name__}{{" + ",".join(sorted(self._stable(v, depth + 1) for v in value)) + "}"
        if isinstance(value, dict):
            items = ",".join(f"{self._stable(k, depth + 1)}:{self._stable(v, depth + 1)}" for k, v in value.items())
            return f"{kind.__name__}{{{items}}}"
        if isinstance(value, type):
            self.consider(value)
            return "class:" + qualified(value)
        if isinstance(value, types.ModuleType):
            return "module:" + value.__name__
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, functools.partial)):
            self.consider(value)
            if isinstance(value, functools.partial):
                return "partial:" + qualified(value.func) + self._stable((value.args, value.keywords), depth + 1)
            return "function:" + qualified(value)
        self.consider(value)
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001
            text = ""
        if not text or ADDRESS.search(text):
            return "object:" + qualified(kind)
        return f"object:{qualified(kind)}:{text}"
