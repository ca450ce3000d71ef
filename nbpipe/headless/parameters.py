"""``nbpipe execute -p NAME VALUE``: papermill-style parameters, checked against the ``parameters`` cell.

A ``-p`` name must be one the cell tagged ``parameters`` assigns: a name it
does not assign would be injected silently and, more often than not, be a
typo or be overwritten by the notebook's own assignment later.  Values are
Python literals when they parse as one, else strings.
"""

from __future__ import annotations

import ast
from typing import Any

from nbpipe.exceptions import UsageError

__all__ = ["parse_value", "parameters_cell", "assigned_names", "check_parameters", "inject"]

TAG = "parameters"
INJECTED_TAG = "injected-parameters"


def parse_value(text: str) -> Any:
    """A ``-p`` value: a Python literal when it is one ("3", "[1, 2]", "True"), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parameters_cell(nb: Any) -> int | None:
    """The index of the first cell tagged ``parameters``, or None."""
    for index, cell in enumerate(nb.cells):
        if TAG in cell.get("metadata", {}).get("tags", []):
            return index
    return None


def assigned_names(source: str) -> list[str]:
    """The names a cell's top level assigns (``x = 1``, ``x: int = 1``, ``a, b = 1, 2``), in order.

    IPython lines (``%magic``, ``!shell``) are blanked first; a cell that is
    still not Python assigns nothing we can see.
    """
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    names: list[str] = []

    def add(target: ast.expr) -> None:
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                add(element)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                add(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add(node.target)
    return list(dict.fromkeys(names))


def check_parameters(nb: Any, notebook: str, parameters: dict[str, Any]) -> None:
    """Raise UsageError unless every name in ``parameters`` is assigned by ``nb``'s ``parameters`` cell."""
    if not parameters:
        return
    where = parameters_cell(nb)
    if where is None:
        raise UsageError(
            f"-p {next(iter(parameters))}: {notebook} has no cell tagged 'parameters'; "
            "tag the cell that assigns the defaults (cell toolbar > Tags > parameters)"
        )
    known = assigned_names(nb.cells[where].get("source", ""))
    unknown = [name for name in parameters if name not in known]
    if unknown:
        offered = ", ".join(known) if known else "nothing"
        raise UsageError(
            f"-p {unknown[0]}: the parameters cell (cell {where}) of {notebook} does not assign {unknown[0]!r}; "
            f"it assigns: {offered}"
        )


def inject(nb: Any, parameters: dict[str, Any]) -> None:
    """Put ``name = value`` lines in a new cell right after the ``parameters`` cell (as papermill does)."""
    import nbformat

    if not parameters:
        return
    lines = ["# Parameters injected by nbpipe execute"] + [f"{k} = {v!r}" for k, v in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = [INJECTED_TAG]
    where = parameters_cell(nb)
    nb.cells.insert(0 if where is None else where + 1, cell)
