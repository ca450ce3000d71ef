"""Pytest plugin: ``import luigi`` gives nbpipe, ``luigi.X`` gives ``nbpipe.X``.

Loaded with ``-p luigi_alias`` before any conftest, so Luigi's own
``test/conftest.py`` and ``test/helpers.py`` already see the alias.  A
meta-path finder placed first answers every ``luigi`` / ``luigi.*`` import
with the nbpipe module of the same dotted name, or with
``ModuleNotFoundError`` when nbpipe has no such module: the installed Luigi
is never reached, and no name is invented here.  The finder only renames
modules; it adds no attribute and patches no behaviour.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

import nbpipe


class _AliasLoader(importlib.abc.Loader):
    """Loads ``luigi.X`` by importing ``nbpipe.X`` and returning that module object."""

    def __init__(self, target: str, original: importlib.machinery.ModuleSpec) -> None:
        self.target = target
        self.original = original

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        # The nbpipe module is already executed.  importlib has just set its
        # __spec__ to the alias spec; the nbpipe spec is put back so that the
        # module keeps its own identity (reload, pickling by reference).
        module.__spec__ = self.original

    def get_code(self, fullname: str):  # type: ignore[no-untyped-def]
        """The code of the nbpipe module (``python -m luigi`` runs ``nbpipe/__main__.py``)."""
        return self.original.loader.get_code(self.target)  # type: ignore[union-attr]

    def is_package(self, fullname: str) -> bool:
        return self.original.submodule_search_locations is not None


class LuigiToNbpipeFinder(importlib.abc.MetaPathFinder):
    """Maps the ``luigi`` package tree onto ``nbpipe``'s modules of the same name."""

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname != "luigi" and not fullname.startswith("luigi."):
            return None
        mapped = "nbpipe" + fullname[len("luigi") :]
        try:
            spec = importlib.util.find_spec(mapped)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            raise ModuleNotFoundError(f"No module named {fullname!r} (nbpipe has no {mapped})", name=fullname)
        is_package = spec.submodule_search_locations is not None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(mapped, spec), is_package=is_package)


def install() -> None:
    """Put the finder first and alias the modules nbpipe has already imported."""
    for name in [n for n in sys.modules if n == "luigi" or n.startswith("luigi.")]:
        del sys.modules[name]
    sys.meta_path.insert(0, LuigiToNbpipeFinder())
    for name, module in list(sys.modules.items()):
        if name == "nbpipe" or name.startswith("nbpipe."):
            sys.modules["luigi" + name[len("nbpipe") :]] = module
    assert sys.modules["luigi"] is nbpipe


install()
