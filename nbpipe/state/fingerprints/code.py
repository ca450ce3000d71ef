"""Fingerprints for staleness: the code a task class runs, and its outputs.

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

Target fingerprint
    :func:`target_fingerprint` gives ``"size=<n>;mtime_ns=<n>"`` for a local
    file (one ``os.stat``), ``"sha256=<hex>"`` with ``content_hash=True``,
    whatever a target's own ``fingerprint()`` returns, or None.

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

import ast
import dis
import enum
import functools
import hashlib
import inspect
import linecache
import os
import re
import sys
import sysconfig
import textwrap
import threading
import types
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Any

__all__ = [
    "code_fingerprint",
    "code_version",
    "describe_code_change",
    "target_fingerprint",
    "output_fingerprints",
    "project_roots",
    "clear_cache",
    "IGNORED_CLASS_ATTRIBUTES",
]

#: Length of the hex digests of code components.
DIGEST_LENGTH = 16

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

_PSEUDO_FILE = re.compile(r"^<.*>$")
def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_LENGTH]


# ---------------------------------------------------------------------------
# Caches
# ---------------------------------------------------------------------------

_lock = threading.Lock()
# task class -> {roots tuple -> fingerprint}
_class_cache: weakref.WeakKeyDictionary[type, dict[tuple, dict[str, str]]] = weakref.WeakKeyDictionary()
# function -> (digest of its normalised source or bytecode, scan of its code)
_function_cache: weakref.WeakKeyDictionary[types.FunctionType, tuple[str, _Scan]] = weakref.WeakKeyDictionary()


def clear_cache() -> None:
    """Forget cached fingerprints (call when code may have been reloaded)."""
    with _lock:
        _class_cache.clear()
        _function_cache.clear()


# ---------------------------------------------------------------------------
# Project roots and what counts as project code
# ---------------------------------------------------------------------------


def project_roots() -> list[str]:
    """Directories whose modules are project code: cwd plus ``[core] project_roots``.

    The option is a list of paths or one string separated by ``os.pathsep``
    (or newlines); relative paths are taken from the working directory.
    """
    roots: list[str] = []
    try:
        roots.append(os.getcwd())
    except OSError:  # the working directory was removed
        pass
    from nbpipe.configuration import get_config

    value = get_config().get("core", "project_roots")
    items: list[Any]
    if value is None or value == "":
        items = []
    elif isinstance(value, (str, os.PathLike)):
        items = re.split(r"[\n" + re.escape(os.pathsep) + r"]", os.fspath(value))
    else:
        items = list(value)
    for item in items:
        if isinstance(item, (str, os.PathLike)):
            text = os.fspath(item).strip()
            if text:
                roots.append(os.path.abspath(os.path.expanduser(text)))
    seen: list[str] = []
    for root in roots:
        if root not in seen:
            seen.append(root)
    return seen


def _norm(path: str) -> str:
    return os.path.normcase(os.path.realpath(os.path.abspath(path)))


def _is_under(path: str, root: str) -> bool:
    if path == root:
        return True
    prefix = root if root.endswith(os.sep) else root + os.sep
    return path.startswith(prefix)


_excluded_dirs_cache: list[str] | None = None


def _excluded_dirs() -> list[str]:
    global _excluded_dirs_cache
    if _excluded_dirs_cache is None:
        dirs = []
        paths = sysconfig.get_paths()
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            if paths.get(key):
                dirs.append(_norm(paths[key]))
        dirs.append(_norm(os.path.dirname(os.path.abspath(__file__))))  # nbpipe itself
        _excluded_dirs_cache = sorted(set(dirs))
    return _excluded_dirs_cache


def _is_nbpipe_module(name: Any) -> bool:
    return isinstance(name, str) and (name == "nbpipe" or name.startswith("nbpipe."))


def _is_pseudo_file(filename: Any) -> bool:
    return not isinstance(filename, str) or not filename or bool(_PSEUDO_FILE.match(filename))


def _is_task_class(obj: Any) -> bool:
    from nbpipe.task import Task

    try:
        return isinstance(obj, type) and issubclass(obj, Task)
    except TypeError:
        return False


class _Project:
    """Decides, with memos, whether files, modules, functions and classes are project code."""

    def __init__(self, roots: Iterable[str]):
        self.roots = [_norm(r) for r in roots]
        self._paths: dict[str, str] = {}

    def path_status(self, path: str) -> str:
        """'excluded', 'root' (under a project root) or 'other'."""
        status = self._paths.get(path)
        if status is None:
            real = _norm(path)
            parts = real.split(os.sep)
            if "site-packages" in parts or "dist-packages" in parts or any(_is_under(real, d) for d in _excluded_dirs()):
                status = "excluded"
            elif any(_is_under(real, r) for r in self.roots):
                status = "root"
            else:
                status = "other"
            self._paths[path] = status
        return status

    def module_name_is_project(self, name: Any) -> bool:
        """For code without a real file: decide by the module it claims to be in."""
        if not isinstance(name, str) or _is_nbpipe_module(name):
            return False
        if name == "__main__":
            return True  # notebooks, exec'd scripts
        module = sys.modules.get(name)
        if module is None:
            return True  # code built at run time under a module name nobody imported
        filename = getattr(module, "__file__", None)
        if not filename:
            if name in sys.builtin_module_names:
                return False
            origin = getattr(getattr(module, "__spec__", None), "origin", None)
            return origin not in ("built-in", "frozen")
        return self.path_status(filename) == "root"

    def module_is_project(self, module: types.ModuleType) -> bool:
        name = getattr(module, "__name__", None)
        if _is_nbpipe_module(name):
            return False
        filename = getattr(module, "__file__", None)
        if isinstance(filename, str) and filename:
            return self.path_status(filename) == "root"
        search = getattr(module, "__path__", None)
        if search is not None:  # a namespace package
            try:
                return any(self.path_status(p) == "root" for p in list(search))
            except TypeError:
                return False
        return self.module_name_is_project(name)

    def function_is_project(self, func: types.FunctionType) -> bool:
        module = getattr(func, "__module__", None)
        if _is_nbpipe_module(module):
            return False
        filename = func.__code__.co_filename
        if not _is_pseudo_file(filename):
            status = self.path_status(filename)
            if status != "other":
                return status == "root"
            # A real file outside the roots: a script run as __main__ (or a
            # notebook kernel's cell file such as /tmp/ipykernel_1/123.py).
            return module == "__main__"
        return self.module_name_is_project(module)

    def class_is_project(self, cls: type) -> bool:
        module = getattr(cls, "__module__", None)
        if _is_nbpipe_module(module) or not isinstance(module, str):
            return False
        mod = sys.modules.get(module)
        filename = getattr(mod, "__file__", None) if mod is not None else None
        if module != "__main__" and filename:
            return self.path_status(filename) == "root"
        # __main__ or a module without a file: look at the code written in
        # the class body (not functions a metaclass copied in, as Enum does).
        prefix = f"{cls.__qualname__}."
        for value in vars(cls).values():
            for _, func in _member_functions(value) or ():
                if isinstance(func, types.FunctionType) and func.__qualname__.startswith(prefix):
                    return self.function_is_project(func)
        return self.module_name_is_project(module)


# ---------------------------------------------------------------------------
# Normalised source and bytecode
# ---------------------------------------------------------------------------

_SKIPPED_FIELDS = frozenset({"kind", "type_comment"})


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                del body[0]


def _serialise_ast(node: Any, out: list[str]) -> None:
    """A dump of the AST without positions; absent/empty fields are left out
    (as ``ast.dump`` does from Python 3.13), so the text changes only when the
    code does."""
    if isinstance(node, ast.AST):
        out.append(type(node).__name__)
        out.append("(")
        for field in node._fields:
            if field in _SKIPPED_FIELDS:
                continue
            value = getattr(node, field, None)
            if value is None or (isinstance(value, list) and not value):
                continue
            out.append(field)
            out.append("=")
            _serialise_ast(value, out)
            out.append(",")
        out.append(")")
    elif isinstance(node, list):
        out.append("[")
        for item in node:
            _serialise_ast(item, out)
            out.append(",")
        out.append("]")
    else:
        out.append(f"{type(node).__name__}:{node!r}")


def _parse_block(source: str) -> ast.Module | None:
    try:
        return ast.parse(textwrap.dedent(source))
    except SyntaxError:
        pass
    # dedent fails when a multi-line string inside the block is less indented.
    try:
        wrapper = ast.parse("if 1:\n" + source)
    except SyntaxError:
        return None
    body = wrapper.body[0].body if wrapper.body and isinstance(wrapper.body[0], ast.If) else None
    return ast.Module(body=body, type_ignores=[]) if body else None


def _normalised_source(code: types.CodeType, module_globals: dict | None) -> str | None:
    """The normalised AST text of the function whose code is ``code``, or None."""
    filename = code.co_filename
    if not isinstance(filename, str) or not filename:
        return None
    try:
        if not _is_pseudo_file(filename):
            linecache.checkcache(filename)
        lines = linecache.getlines(filename, module_globals)
    except Exception:  # noqa: BLE001 - a broken loader: use the bytecode
        return None
    start = code.co_firstlineno - 1
    if not lines or not 0 <= start < len(lines):
        return None
    try:
        block = inspect.getblock(lines[start:])
    except Exception:  # noqa: BLE001 - tokenizer errors on odd source
        return None
    tree = _parse_block("".join(block))
    if tree is None or not tree.body:
        return None
    if code.co_name == "<lambda>":
        if not any(isinstance(n, ast.Lambda) for n in ast.walk(tree)):
            return None
        node: ast.AST = tree
    else:
        node = tree.body[0]
        # The source must be this function's (the file may have changed on
        # disk since it was imported); otherwise use the bytecode.
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name != code.co_name:
            return None
    _strip_docstrings(node)
    out: list[str] = []
    _serialise_ast(node, out)
    return "".join(out)


def _const_material(value: Any) -> str:
    if isinstance(value, types.CodeType):
        return "code:" + _digest(_code_material(value))
    if isinstance(value, tuple):
        return "(" + ",".join(_const_material(v) for v in value) + ")"
    if isinstance(value, frozenset):
        return "frozenset{" + ",".join(sorted(_const_material(v) for v in value)) + "}"
    return f"{type(value).__name__}:{value!r}"


def _code_material(code: types.CodeType) -> str:
    """A deterministic text for a code object: bytecode, constants, names."""
    parts = [
        code.co_name,
        f"{code.co_argcount},{code.co_posonlyargcount},{code.co_kwonlyargcount},{code.co_flags}",
        code.co_code.hex(),
        _const_material(code.co_consts),
        ",".join(code.co_names),
        ",".join(code.co_varnames),
        ",".join(code.co_freevars),
        ",".join(code.co_cellvars),
    ]
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# What a code object refers to
# ---------------------------------------------------------------------------

_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_ATTR_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_STORE_GLOBAL_OPS = frozenset({"STORE_GLOBAL", "DELETE_GLOBAL"})


class _Scan:
    """Names a code object (and its nested code objects) refers to."""

    __slots__ = ("chains", "imports", "attrs", "stored")

    def __init__(self) -> None:
        self.chains: list[tuple[str, ...]] = []  # global name + attributes loaded from it
        self.imports: list[tuple[int, str, tuple[str, ...]]] = []  # (level, module, from-names)
        self.attrs: list[str] = []  # every attribute name loaded
        self.stored: list[str] = []  # globals assigned (global x; x = ...)


def _scan_code(code: types.CodeType, scan: _Scan | None = None) -> _Scan:
    scan = scan if scan is not None else _Scan()
    todo = [code]
    while todo:
        current = todo.pop()
        instructions = list(dis.get_instructions(current))
        count = len(instructions)
        for i, ins in enumerate(instructions):
            op = ins.opname
            if op in _GLOBAL_OPS and isinstance(ins.argval, str):
                chain = [ins.argval]
                j = i + 1
                while j < count and instructions[j].opname in _ATTR_OPS and isinstance(instructions[j].argval, str):
                    chain.append(instructions[j].argval)
                    j += 1
                scan.chains.append(tuple(chain))
            elif op in _ATTR_OPS and isinstance(ins.argval, str):
                scan.attrs.append(ins.argval)
            elif op in _STORE_GLOBAL_OPS and isinstance(ins.argval, str):
                scan.stored.append(ins.argval)
            elif op == "IMPORT_NAME" and isinstance(ins.argval, str):
                level = 0
                if i >= 2 and isinstance(instructions[i - 2].argval, int):
                    level = instructions[i - 2].argval
                names = []
                j = i + 1
                while j < count and instructions[j].opname in ("IMPORT_FROM", "STORE_FAST", "STORE_NAME", "STORE_DEREF", "STORE_GLOBAL"):
                    if instructions[j].opname == "IMPORT_FROM":
                        names.append(instructions[j].argval)
                    j += 1
                scan.imports.append((level, ins.argval, tuple(names)))
        # Nested code: comprehensions, lambdas, inner functions and classes.
        for const in reversed(current.co_consts):
            if isinstance(const, types.CodeType):
                todo.append(const)
    return scan


def _function_info(func: types.FunctionType) -> tuple[str, _Scan]:
    """(digest of the function's normalised code, scan of its references); cached."""
    with _lock:
        cached = _function_cache.get(func)
    if cached is not None:
        return cached
    code = func.__code__
    source = _normalised_source(code, getattr(func, "__globals__", None))
    material = "ast:" + source if source is not None else "bytecode:" + _code_material(code)
    info = (_digest(material), _scan_code(code))
    with _lock:
        _function_cache[func] = info
    return info


# ---------------------------------------------------------------------------
# Class members
# ---------------------------------------------------------------------------


def _member_functions(value: Any, label: str = "", depth: int = 0) -> list[tuple[str, Any]] | None:
    """The functions behind a class member (method, descriptor, wrapper), or
    None when the member is plain data."""
    if depth > 8:
        return None
    if isinstance(value, types.FunctionType):
        wrapped = value.__dict__.get("__wrapped__")
        if wrapped is not None and wrapped is not value:
            # functools.wraps: the decorated function, then the wrapper.
            inner = _member_functions(wrapped, label, depth + 1) or []
            return inner + [(f"{label}wrapper", value)]
        return [(label or "function", value)]
    if isinstance(value, (staticmethod, classmethod)):
        return _member_functions(value.__func__, f"{label}{type(value).__name__}:", depth + 1) or [
            (f"{label}{type(value).__name__}", value.__func__)
        ]
    if isinstance(value, property):
        found: list[tuple[str, Any]] = []
        for accessor in ("fget", "fset", "fdel"):
            func = getattr(value, accessor)
            if func is not None:
                found.extend(_member_functions(func, f"{label}property.{accessor}:", depth + 1) or [(accessor, func)])
        return found
    if isinstance(value, functools.cached_property):
        return _member_functions(value.func, f"{label}cached_property:", depth + 1)
    if isinstance(value, functools.partialmethod):
        return _member_functions(value.func, f"{label}partialmethod:", depth + 1)
    if isinstance(value, type) or not callable(value):
        return None
    try:
        wrapped = inspect.getattr_static(value, "__wrapped__", None)
    except Exception:  # noqa: BLE001
        wrapped = None
    if wrapped is not None and wrapped is not value:
        inner = _member_functions(wrapped, f"{label}{type(value).__qualname__}:", depth + 1)
        if inner:
            return inner
    return None


def _is_ignored_attribute(name: str) -> bool:
    if name in IGNORED_CLASS_ATTRIBUTES:
        return True
    return name.startswith("_") and name.endswith("_cache")


def _is_constant(value: Any, depth: int = 0) -> bool:
    """Immutable plain values whose text is stable (module-level constants)."""
    if depth > 8:
        return False
    if isinstance(value, (bool, int, float, complex, str, bytes)):
        return True
    if isinstance(value, enum.Enum):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_is_constant(v, depth + 1) for v in value)
    return False


_MISSING = object()


class _Walker:
    """Collects the components of one task class's code fingerprint."""

    def __init__(self, roots: Iterable[str]):
        from nbpipe.parameter import Parameter

        self.Parameter = Parameter
        self.project = _Project(roots)
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
            if base is not object and not _is_nbpipe_module(base.__module__) and self.project.class_is_project(base)
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
                self._put(f"{prefix}.{member}", klass, _digest(material))
        self._drain()
        self._add_constants()

    def _class_members(self, klass: type) -> list[tuple[str, str]]:
        """(member name, material) per function member, plus '<attributes>'."""
        members: list[tuple[str, str]] = []
        attributes: list[str] = []
        for name, value in list(vars(klass).items()):
            if _is_ignored_attribute(name) or isinstance(value, self.Parameter):
                continue
            funcs = _member_functions(value)
            if funcs is not None:
                members.append((name, "\n".join(f"{label}={self._function_digest(f)}" for label, f in funcs)))
            elif not (name.startswith("__") and name.endswith("__")):
                attributes.append(f"{name}={self._stable(value)}")
        attributes.sort()
        attributes.append("__bases__=" + ",".join(_qualified(b) for b in klass.__bases__))
        members.append(("<attributes>", "\n".join(attributes)))
        return members

    def _function_digest(self, func: Any) -> str:
        """Digest of a member function; queues what it uses."""
        if isinstance(func, types.FunctionType) and self.project.function_is_project(func):
            self._mark(func)  # a member, not also a "used" function
            digest, _ = _function_info(func)
            self._walk_function(func)
            return digest
        # Library code (say ``run = some_library.run``): by reference only,
        # but project code it wraps is still followed.
        self._follow_wrapped(func)
        return "ref:" + _qualified(func)

    # -- uses -----------------------------------------------------------------

    def _drain(self) -> None:
        while self._queue:
            obj = self._queue.popleft()
            if isinstance(obj, type):
                material = "\n".join(f"{m}:{_digest(t)}" for m, t in self._class_members(obj))
                for base in obj.__bases__:
                    if base is not object:
                        self.consider(base)
                self._put(_qualified(obj), obj, _digest("class:" + material))
            else:
                digest, _ = _function_info(obj)
                self._put(_qualified(obj), obj, digest)
                self._walk_function(obj)

    def _walk_function(self, func: types.FunctionType) -> None:
        if id(func) in self._walked:
            return
        self._walked[id(func)] = func
        _, scan = _function_info(func)
        globals_ = getattr(func, "__globals__", None) or {}
        owner = globals_.get("__name__")
        owner = owner if isinstance(owner, str) else "__main__"
        for name in scan.stored:
            self._stored.add((owner, name))
        for chain in scan.chains:
            self._resolve_chain(globals_, owner, chain)
        for level, module_name, names in scan.imports:
            module = _import_target(globals_, level, module_name)
            for candidate in _imported_modules(module_name, module):
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
        if module is not None and name is not None and _is_constant(obj):
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
            self._put(f"{module}.{name}", ("constant", module, name), _digest("constant:" + self._stable(value)))

    # -- stable text of data ------------------------------------------------

    def _stable(self, value: Any, depth: int = 0) -> str:
        """A text for a data value with no addresses or hash-order in it;
        project classes and functions found in it are queued as uses."""
        if depth > 20:
            return "..."
        kind = type(value)
        if value is None or kind in (bool, int, float, complex, str, bytes):
            return f"{kind.__name__}:{value!r}"
        if isinstance(value, enum.Enum):
            self.consider(kind)
            return f"enum:{_qualified(kind)}.{value.name}"
        if isinstance(value, (tuple, list)):
            return f"{kind.__name__}[" + ",".join(self._stable(v, depth + 1) for v in value) + "]"
        if isinstance(value, (set, frozenset)):
            return f"{kind.__name__}{{" + ",".join(sorted(self._stable(v, depth + 1) for v in value)) + "}"
        if isinstance(value, dict):
            items = ",".join(f"{self._stable(k, depth + 1)}:{self._stable(v, depth + 1)}" for k, v in value.items())
            return f"{kind.__name__}{{{items}}}"
        if isinstance(value, type):
            self.consider(value)
            return "class:" + _qualified(value)
        if isinstance(value, types.ModuleType):
            return "module:" + value.__name__
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, functools.partial)):
            self.consider(value)
            if isinstance(value, functools.partial):
                return "partial:" + _qualified(value.func) + self._stable((value.args, value.keywords), depth + 1)
            return "function:" + _qualified(value)
        self.consider(value)
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001
            text = ""
        if not text or _ADDRESS.search(text):
            return "object:" + _qualified(kind)
        return f"object:{_qualified(kind)}:{text}"


def _import_target(globals_: dict, level: int, name: str) -> types.ModuleType | None:
    if level:
        package = globals_.get("__package__")
        if not package:
            module_name = globals_.get("__name__", "")
            package = module_name if "__path__" in globals_ else module_name.rpartition(".")[0]
        try:
            import importlib.util

            name = importlib.util.resolve_name("." * level + name, package)
        except (ImportError, ValueError, TypeError):
            return None
    return sys.modules.get(name)


def _imported_modules(name: str, module: types.ModuleType | None) -> list[types.ModuleType]:
    found = [module] if module is not None else []
    # ``import a.b`` binds ``a``; attributes are looked up on both.
    top = sys.modules.get(name.partition(".")[0]) if "." in name else None
    if top is not None and top is not module:
        found.append(top)
    return found


# ---------------------------------------------------------------------------
# Public API: code
# ---------------------------------------------------------------------------


class _NotPinned:
    pass


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
    ancestor) pins the code: the result is ``{"<ClassName>.version": ...}``.

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
        result = {f"{task_cls.__name__}.version": _digest(str(pinned))}
    else:
        walker = _Walker(key)
        walker.add_task_class(task_cls)
        result = dict(sorted(walker.components.items()))
    with _lock:
        _class_cache.setdefault(task_cls, {})[key] = result
    return dict(result)


def code_version(task_cls: type, roots: Iterable[str] | None = None) -> str:
    """One digest over :func:`code_fingerprint` (sorted items)."""
    fingerprint = code_fingerprint(task_cls, roots=roots)
    return _digest("\n".join(f"{k}={v}" for k, v in sorted(fingerprint.items())))


def describe_code_change(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """Human reasons for the difference between two code fingerprints, sorted.

    ``["code of Clean.run changed", "Clean.validate was added",
    "Clean.old was removed"]``; empty when they are equal.
    """
    old = old or {}
    new = new or {}
    reasons = []
    for key in old.keys() | new.keys():
        if key not in new:
            reasons.append(f"{key} was removed")
        elif key not in old:
            reasons.append(f"{key} was added")
        elif old[key] != new[key]:
            reasons.append(f"code of {key} changed")
    return sorted(reasons)


# Target fingerprints live in their own module; re-exported for callers of this one.
from nbpipe.state.fingerprints.outputs import (  # noqa: E402, F401
    _ADDRESS,
    _CHUNK,
    _qualified,
    _target_name,
    output_fingerprints,
    target_fingerprint,
)
