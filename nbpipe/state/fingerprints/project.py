"""What counts as project code: the code whose changes make a task stale.

"Project" code is code defined in ``__main__`` (scripts, notebooks) or in a
file under one of :func:`project_roots` (the working directory plus
``[core] project_roots``), and not in site-packages / dist-packages, the
standard library, or nbpipe itself.
"""

from __future__ import annotations

import os
import re
import sys
import sysconfig
import types
from collections.abc import Iterable
from typing import Any

from nbpipe.state.fingerprints.members import member_functions

__all__ = ["project_roots", "ProjectCode", "is_nbpipe_module", "is_pseudo_file"]

_PSEUDO_FILE = re.compile(r"^<.*>$")


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
    from nbpipe.configuration import option_value
    from nbpipe.options import CORE_PROJECT_ROOTS

    for text in option_value(CORE_PROJECT_ROOTS):
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


def is_nbpipe_module(name: Any) -> bool:
    return isinstance(name, str) and (name == "nbpipe" or name.startswith("nbpipe."))


def is_pseudo_file(filename: Any) -> bool:
    return not isinstance(filename, str) or not filename or bool(_PSEUDO_FILE.match(filename))


class ProjectCode:
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
            installed = "site-packages" in parts or "dist-packages" in parts
            if installed or any(_is_under(real, d) for d in _excluded_dirs()):
                status = "excluded"
            elif any(_is_under(real, r) for r in self.roots):
                status = "root"
            else:
                status = "other"
            self._paths[path] = status
        return status

    def module_name_is_project(self, name: Any) -> bool:
        """For code without a real file: decide by the module it claims to be in."""
        if not isinstance(name, str) or is_nbpipe_module(name):
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
        if is_nbpipe_module(name):
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
        if is_nbpipe_module(module):
            return False
        filename = func.__code__.co_filename
        if not is_pseudo_file(filename):
            status = self.path_status(filename)
            if status != "other":
                return status == "root"
            # A real file outside the roots: a script run as __main__ (or a
            # notebook kernel's cell file such as /tmp/ipykernel_1/123.py).
            return module == "__main__"
        return self.module_name_is_project(module)

    def class_is_project(self, cls: type) -> bool:
        module = getattr(cls, "__module__", None)
        if is_nbpipe_module(module) or not isinstance(module, str):
            return False
        mod = sys.modules.get(module)
        filename = getattr(mod, "__file__", None) if mod is not None else None
        if module != "__main__" and filename:
            return self.path_status(filename) == "root"
        # __main__ or a module without a file: look at the code written in
        # the class body (not functions a metaclass copied in, as Enum does).
        prefix = f"{cls.__qualname__}."
        for value in vars(cls).values():
            for _, func in member_functions(value) or ():
                if isinstance(func, types.FunctionType) and func.__qualname__.startswith(prefix):
                    return self.function_is_project(func)
        return self.module_name_is_project(module)
