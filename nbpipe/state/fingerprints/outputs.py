"""Fingerprints of targets: what a task's outputs look like now, to notice changes.

A local file gives its size and modification time (or a content hash with
``[core] content_hash = true``); a directory, the same over its files; any
target with a ``fingerprint()`` method, what that returns.  Used by the run
history (:mod:`nbpipe.state.recorder`) and staleness (:mod:`nbpipe.state.staleness`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Any

from nbpipe.state.fingerprints.digests import ADDRESS, qualified

__all__ = ["READ_CHUNK", "target_fingerprint", "target_name", "output_fingerprints"]

#: Bytes read at a time when hashing a file's content.
READ_CHUNK = 1 << 20


def _local_path(target: Any) -> str | None:
    from nbpipe.target import FileSystemTarget, LocalFileSystem

    fs = getattr(target, "fs", None)
    local = isinstance(fs, LocalFileSystem) or type(fs).__name__ == "LocalFileSystem"
    if not local:
        return None
    if not isinstance(target, FileSystemTarget) and not hasattr(target, "exists"):
        return None
    path = getattr(target, "path", None)
    if isinstance(path, (str, os.PathLike)):
        text = os.fspath(path)
        return text if text else None
    return None


def _file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while True:
            chunk = stream.read(READ_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def _directory_fingerprint(path: str, content_hash: bool) -> str | None:
    from nbpipe.target import TEMP_MARK

    digest = hashlib.sha256()
    for directory, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if TEMP_MARK not in d)
        rel_dir = os.path.relpath(directory, path).replace(os.sep, "/")
        for name in dirnames:
            digest.update(f"D\0{rel_dir}/{name}\n".encode("utf-8", "surrogateescape"))
        for name in sorted(filenames):
            if TEMP_MARK in name:
                continue  # an atomic write in progress
            full = os.path.join(directory, name)
            try:
                if content_hash:
                    value = _file_sha256(full)
                else:
                    st = os.stat(full)
                    value = f"{st.st_size}\0{st.st_mtime_ns}"
            except (FileNotFoundError, NotADirectoryError):
                continue  # removed while we walked
            digest.update(f"F\0{rel_dir}/{name}\0{value}\n".encode("utf-8", "surrogateescape"))
    return ("sha256=" if content_hash else "tree=") + digest.hexdigest()


def target_fingerprint(target: Any, content_hash: bool = False) -> str | None:
    """What a target offers to detect a change, or None.

    * a target with a ``fingerprint()`` method returning a str: that;
    * a target with a local path (``LocalTarget``, a ``FileSystemTarget``
      on the local file system): ``"size=<n>;mtime_ns=<n>"``, or with
      ``content_hash`` ``"sha256=<hex>"`` of the bytes; a directory gives
      ``"tree=<hex>"`` over its sorted relative paths with sizes and mtimes
      (``"sha256=<hex>"`` over paths and file hashes with ``content_hash``);
      a missing path gives None;
    * any other target: None.
    """
    method = getattr(target, "fingerprint", None)
    if callable(method):
        value = method()
        if isinstance(value, str):
            return value
    path = _local_path(target)
    if path is None:
        return None
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISDIR(st.st_mode):
        return _directory_fingerprint(path, content_hash)
    if content_hash:
        try:
            return "sha256=" + _file_sha256(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
    return f"size={st.st_size};mtime_ns={st.st_mtime_ns}"


def target_name(target: Any, index: int) -> str:
    """The name an output is recorded under: its path, else its repr, else
    ``<module.Class>[index]`` when the repr is empty or holds a memory address."""
    path = getattr(target, "path", None)
    if isinstance(path, (str, os.PathLike)) and os.fspath(path):
        return os.fspath(path)
    try:
        text = repr(target)
    except Exception:  # noqa: BLE001
        text = ""
    if not text or ADDRESS.search(text):
        return f"{qualified(type(target))}[{index}]"
    return text


def output_fingerprints(task: Any, content_hash: bool = False) -> dict[str, str | None]:
    """:func:`target_fingerprint` of each flattened output of ``task``, keyed
    by the target's path (or its repr when it has none)."""
    from nbpipe.task import flatten

    result: dict[str, str | None] = {}
    for index, target in enumerate(flatten(task.output())):
        name = target_name(target, index)
        if name in result:
            name = f"{name}[{index}]"
        result[name] = target_fingerprint(target, content_hash=content_hash)
    return result
