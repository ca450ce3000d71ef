"""The text a function is hashed by: its AST without positions and docstrings, or its bytecode.

Normalising through the AST means comments, docstrings, blank lines,
formatting and quote style do not change a fingerprint.  When no source is
available (or the file on disk no longer holds the function), the code
object's bytecode, constants and names are used instead.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import textwrap
import types
from typing import Any

from nbpipe.state.fingerprints.digests import short_digest
from nbpipe.state.fingerprints.project import is_pseudo_file

__all__ = ["normalised_source", "code_material"]

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


def normalised_source(code: types.CodeType, module_globals: dict | None) -> str | None:
    """The normalised AST text of the function whose code is ``code``, or None."""
    filename = code.co_filename
    if not isinstance(filename, str) or not filename:
        return None
    try:
        if not is_pseudo_file(filename):
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
        return "code:" + short_digest(code_material(value))
    if isinstance(value, tuple):
        return "(" + ",".join(_const_material(v) for v in value) + ")"
    if isinstance(value, frozenset):
        return "frozenset{" + ",".join(sorted(_const_material(v) for v in value)) + "}"
    return f"{type(value).__name__}:{value!r}"


def code_material(code: types.CodeType) -> str:
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
