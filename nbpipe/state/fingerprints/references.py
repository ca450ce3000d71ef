"""What a function refers to (global names, attribute chains, imports), and its digest.

:func:`function_info` is the per-function unit of the code fingerprint: the
digest of its normalised code and a :class:`Scan` of the names its bytecode
loads, both cached per function object.
"""

from __future__ import annotations

import dis
import sys
import threading
import types
import weakref

from nbpipe.state.fingerprints.ast_normalise import code_material, normalised_source
from nbpipe.state.fingerprints.digests import short_digest

__all__ = ["Scan", "scan_code", "function_info", "clear_function_cache", "import_target", "imported_modules"]

_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_ATTR_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_STORE_GLOBAL_OPS = frozenset({"STORE_GLOBAL", "DELETE_GLOBAL"})
# What follows IMPORT_NAME: the names of a from-import and the stores binding them.
_IMPORT_TAIL_OPS = ("IMPORT_FROM", "STORE_FAST", "STORE_NAME", "STORE_DEREF", "STORE_GLOBAL")


class Scan:
    """Names a code object (and its nested code objects) refers to."""

    __slots__ = ("chains", "imports", "attrs", "stored")

    def __init__(self) -> None:
        self.chains: list[tuple[str, ...]] = []  # global name + attributes loaded from it
        self.imports: list[tuple[int, str, tuple[str, ...]]] = []  # (level, module, from-names)
        self.attrs: list[str] = []  # every attribute name loaded
        self.stored: list[str] = []  # globals assigned (global x; x = ...)


def scan_code(code: types.CodeType, scan: Scan | None = None) -> Scan:
    scan = scan if scan is not None else Scan()
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
                while j < count and instructions[j].opname in _IMPORT_TAIL_OPS:
                    if instructions[j].opname == "IMPORT_FROM":
                        names.append(instructions[j].argval)
                    j += 1
                scan.imports.append((level, ins.argval, tuple(names)))
        # Nested code: comprehensions, lambdas, inner functions and classes.
        for const in reversed(current.co_consts):
            if isinstance(const, types.CodeType):
                todo.append(const)
    return scan


_lock = threading.Lock()
# function -> (digest of its normalised source or bytecode, scan of its code)
_function_cache: weakref.WeakKeyDictionary[types.FunctionType, tuple[str, Scan]] = weakref.WeakKeyDictionary()


def clear_function_cache() -> None:
    """Forget the cached digests and scans of functions."""
    with _lock:
        _function_cache.clear()


def function_info(func: types.FunctionType) -> tuple[str, Scan]:
    """(digest of the function's normalised code, scan of its references); cached."""
    with _lock:
        cached = _function_cache.get(func)
    if cached is not None:
        return cached
    code = func.__code__
    source = normalised_source(code, getattr(func, "__globals__", None))
    material = "ast:" + source if source is not None else "bytecode:" + code_material(code)
    info = (short_digest(material), scan_code(code))
    with _lock:
        _function_cache[func] = info
    return info


def import_target(globals_: dict, level: int, name: str) -> types.ModuleType | None:
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


def imported_modules(name: str, module: types.ModuleType | None) -> list[types.ModuleType]:
    found = [module] if module is not None else []
    # ``import a.b`` binds ``a``; attributes are looked up on both.
    top = sys.modules.get(name.partition(".")[0]) if "." in name else None
    if top is not None and top is not module:
        found.append(top)
    return found
