"""A notebook's ``%%pipeline`` cells, in order, loaded as a module (without the other cells).

Used by ``nbpipe run NOTEBOOK.ipynb TASK``.  The module is registered so
that cloudpickle ships its classes by value to worker processes, and each
cell's source is put in ``linecache`` so code fingerprints see it.
"""

from __future__ import annotations

import linecache
import sys
import traceback
import types
from pathlib import Path

from nbpipe.exceptions import NotebookLoadError

__all__ = ["load_pipeline_cells", "NotebookLoadError", "pipeline_cells"]


def pipeline_cells(path: Path) -> list[tuple[int, str]]:
    """(cell index, body) of each ``%%pipeline`` cell, the magic line removed."""
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except FileNotFoundError:
        raise NotebookLoadError(f"{path}: no such notebook") from None
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds for a bad file
        raise NotebookLoadError(f"{path}: not a readable notebook ({type(exc).__name__}: {exc})") from None
    cells = []
    for index, cell in enumerate(nb.cells):
        source = cell.get("source", "")
        if cell.get("cell_type") == "code" and source.lstrip().startswith("%%pipeline"):
            first, _, body = source.lstrip().partition("\n")
            cells.append((index, body))
    return cells


def load_pipeline_cells(path: str | Path) -> types.ModuleType:
    """Run the notebook's %%pipeline cells in a fresh module and return it.

    Raises :class:`NotebookLoadError` naming the cell index and line when a
    cell fails, or when the notebook has no %%pipeline cell.
    """
    path = Path(path)
    cells = pipeline_cells(path)
    if not cells:
        raise NotebookLoadError(f"{path}: no %%pipeline cell defines any task (see `%%pipeline` in the README)")
    import hashlib

    # A stable name (code fingerprints key helpers by module name).
    name = "nbpipe_notebook_" + hashlib.md5(str(path.resolve()).encode(), usedforsecurity=False).hexdigest()[:10]
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    import cloudpickle

    cloudpickle.register_pickle_by_value(module)
    for index, body in cells:
        filename = f"<{path.name} cell {index}>"
        linecache.cache[filename] = (len(body), None, body.splitlines(True), filename)
        try:
            code = compile(body, filename, "exec")
            exec(code, module.__dict__)
        except Exception as exc:  # noqa: BLE001 - reported with the cell and line
            line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
            if line is None:
                frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
                line = frames[-1].lineno if frames else None
            where = f"cell {index}" + (f", line {line + 1}" if line else "")  # +1: the %%pipeline line
            raise NotebookLoadError(f"{path}: %%pipeline {where}: {type(exc).__name__}: {exc}") from None
    return module
