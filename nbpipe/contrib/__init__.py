"""Extras with Luigi's import paths: ``nbpipe.contrib.simulate``, ``sqla``, ``s3``, ``external_program``.

``sqla`` and ``s3`` need packages nbpipe does not install by default; they
import them when first used, so importing nbpipe (or the contrib module)
stays light, and a missing package gives one :class:`MissingDependencyError`
naming the pip extra that installs it (see ``docs/CONTRIB.md``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingDependencyError", "require"]


class MissingDependencyError(ImportError):
    """A contrib module needs a package that is not installed; the message says how to install it."""


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``pip install 'nbpipe[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{feature} needs the {module.split('.')[0]!r} package, which could not be imported ({err}); "
            f"install it with: pip install 'nbpipe[{extra}]'",
            name=module,
        ) from err
