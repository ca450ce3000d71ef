"""Size-capped previews of a task's outputs, made in the kernel when the widget asks for one.

:func:`describe_output` says where an output is, how big it is and when it
was modified; :func:`preview_output` adds a look at its content, as plain
data the front end renders with DOM APIs (never as HTML):

* ``{"kind": "table", "columns": [...], "rows": [[...], ...]}`` — the first
  rows of a CSV/TSV file (and of a Parquet file when pandas and pyarrow are
  importable);
* ``{"kind": "text", "text": "..."}`` — the first lines of a text or JSON file;
* ``{"kind": "image", "mime": "image/png", "data": "<base64>"}`` — a PNG, JPEG
  or SVG image up to :data:`MAX_IMAGE_BYTES`;
* ``{"kind": "message", "text": "..."}`` — why there is no preview (missing
  file, not a local file, a binary format, too big).

Every preview also carries ``path``, ``size`` (bytes or None) and ``mtime``
(seconds since the epoch or None), and ``truncated`` when only the start is
shown.  Only the first :data:`MAX_READ_BYTES` of a text or table file are read,
so a huge file costs no more than a small one.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from typing import Any

__all__ = [
    "describe_output",
    "preview_output",
    "preview_file",
    "MAX_ROWS",
    "MAX_COLUMNS",
    "MAX_LINES",
    "MAX_READ_BYTES",
    "MAX_IMAGE_BYTES",
    "MAX_CELL_CHARS",
]

MAX_ROWS = 20  # table rows shown (besides the header)
MAX_COLUMNS = 30
MAX_CELL_CHARS = 200
MAX_LINES = 40  # text lines shown
MAX_LINE_CHARS = 500
MAX_READ_BYTES = 64 * 1024  # read at most this much of a text or table file
MAX_IMAGE_BYTES = 1024 * 1024  # larger images are described, not sent

_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
_TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
_TEXT_SUFFIXES = frozenset(
    ".txt .text .log .md .rst .json .jsonl .ndjson .yaml .yml .toml .ini .cfg .py .sql .xml .html .out .err".split()
)


def _local_path(target: Any) -> str | None:
    """The local file path of ``target``, or None when it is not a file on this machine."""
    from nbpipe.target import LocalTarget

    if isinstance(target, LocalTarget):
        return str(target.path)
    return None


def _shown_path(target: Any) -> str:
    path = getattr(target, "path", None)
    return str(path) if path is not None else repr(target)


def describe_output(target: Any) -> dict[str, Any]:
    """``{"path", "size", "mtime", "exists"}`` for one output; size and mtime are None when unknown."""
    info: dict[str, Any] = {"path": _shown_path(target), "size": None, "mtime": None, "exists": None}
    local = _local_path(target)
    if local is None:
        return info
    try:
        st = os.stat(local)
    except OSError:
        info["exists"] = False
        return info
    info.update(exists=True, mtime=st.st_mtime, size=None if os.path.isdir(local) else st.st_size)
    return info


def preview_output(target: Any) -> dict[str, Any]:
    """A capped preview of one output (see the module docstring); never raises for a bad file."""
    info = describe_output(target)
    local = _local_path(target)
    if local is None:
        kind = type(target).__name__
        return {**info, "kind": "message", "text": f"No preview: {kind} is not a file on this machine."}
    return {**info, **preview_file(local)}


def preview_file(path: str) -> dict[str, Any]:
    """The content part of a preview of the local file ``path`` (``kind`` and its fields)."""
    if not os.path.exists(path):
        return _message(f"No preview: {path} does not exist (the task has not made it yet).")
    if os.path.isdir(path):
        return _directory(path)
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix in _IMAGE_TYPES:
            return _image(path, _IMAGE_TYPES[suffix])
        if suffix in _TABLE_DELIMITERS:
            return _table(path, _TABLE_DELIMITERS[suffix])
        if suffix == ".parquet":
            return _parquet(path)
        return _text(path, suffix)
    except (OSError, ValueError) as exc:
        return _message(f"No preview: reading {path} failed ({type(exc).__name__}: {exc}).")


def _message(text: str) -> dict[str, Any]:
    return {"kind": "message", "text": text}


def _head(path: str) -> tuple[bytes, bool]:
    """The first :data:`MAX_READ_BYTES` of ``path`` and whether the file is longer."""
    with open(path, "rb") as f:
        data = f.read(MAX_READ_BYTES + 1)
    return data[:MAX_READ_BYTES], len(data) > MAX_READ_BYTES


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def _table(path: str, delimiter: str) -> dict[str, Any]:
    data, cut = _head(path)
    lines = data.decode("utf-8", errors="replace").splitlines()
    if cut and lines:
        lines = lines[:-1]  # the last line may be cut in the middle
    rows = list(csv.reader(io.StringIO("\n".join(lines[: MAX_ROWS + 1])), delimiter=delimiter))
    if not rows:
        return {"kind": "text", "text": "", "truncated": False, "note": "empty file"}
    header, body = rows[0], rows[1:]
    truncated = cut or len(lines) > MAX_ROWS + 1 or len(header) > MAX_COLUMNS
    return {
        "kind": "table",
        "columns": [_cell(c) for c in header[:MAX_COLUMNS]],
        "rows": [[_cell(c) for c in row[:MAX_COLUMNS]] for row in body],
        "truncated": truncated,
    }


def _parquet(path: str) -> dict[str, Any]:
    try:
        import pandas  # noqa: F401 - the preview of Parquet is promised with pandas and pyarrow
        import pyarrow.parquet as pq
    except ImportError:
        return _message("No preview: reading Parquet needs pandas and pyarrow, which are not installed.")
    pf = pq.ParquetFile(path)
    names = list(pf.schema_arrow.names)
    batch = next(pf.iter_batches(batch_size=MAX_ROWS, columns=names[:MAX_COLUMNS]), None)
    records = batch.to_pylist() if batch is not None else []
    return {
        "kind": "table",
        "columns": [_cell(n) for n in names[:MAX_COLUMNS]],
        "rows": [[_cell(r.get(n)) for n in names[:MAX_COLUMNS]] for r in records],
        "truncated": pf.metadata.num_rows > len(records) or len(names) > MAX_COLUMNS,
    }


def _looks_binary(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return True
    try:
        data[:8192].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(data[:8192]) - 4  # a character cut at the end of the sample is fine
    return False


def _text(path: str, suffix: str) -> dict[str, Any]:
    data, cut = _head(path)
    if suffix not in _TEXT_SUFFIXES and _looks_binary(data):
        size = os.path.getsize(path)
        return _message(f"No preview for this type of file ({suffix or 'no extension'}, {size:,} bytes).")
    text = data.decode("utf-8", errors="replace")
    if suffix == ".json" and not cut:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass  # shown as it is
    lines = text.splitlines()
    truncated = cut or len(lines) > MAX_LINES
    lines = [ln if len(ln) <= MAX_LINE_CHARS else ln[: MAX_LINE_CHARS - 1] + "…" for ln in lines[:MAX_LINES]]
    return {"kind": "text", "text": "\n".join(lines), "truncated": truncated}


def _image(path: str, mime: str) -> dict[str, Any]:
    size = os.path.getsize(path)
    if size > MAX_IMAGE_BYTES:
        return _message(f"No preview: the image is {size:,} bytes, above the {MAX_IMAGE_BYTES:,}-byte preview limit.")
    with open(path, "rb") as f:
        data = f.read(MAX_IMAGE_BYTES)
    return {"kind": "image", "mime": mime, "data": base64.b64encode(data).decode("ascii"), "truncated": False}


def _directory(path: str) -> dict[str, Any]:
    names = sorted(os.listdir(path))
    shown = names[:MAX_LINES]
    text = "\n".join(n + ("/" if os.path.isdir(os.path.join(path, n)) else "") for n in shown)
    return {"kind": "text", "text": text, "truncated": len(names) > len(shown), "note": f"folder of {len(names)}"}
