"""Targets on any fsspec file system: ``FsspecTarget("s3://bucket/key")``.

A write must never leave a half-written object that looks complete, nor be
visible before the stream is closed cleanly.  How depends on what the
backend does atomically:

=======================================  ==================================  =============================
backend (protocols)                      a write goes to                     and is published by
=======================================  ==================================  =============================
local (``file``, a plain path)           a sibling named with ``TEMP_MARK``  ``os.replace``, a rename
object store (``s3 s3a gs gcs az abfs``  the final key                       the PUT (or completed
``abfss``)                                                                   multipart upload) itself
anything else (``memory``, ``sftp``...)  a key named with ``TEMP_MARK``      ``fs.mv`` into place
=======================================  ==================================  =============================

Local writes are :class:`~nbpipe.target.LocalTarget`'s.  An object store
shows an upload whole or not at all, but fsspec's buffered files commit in
``close()``, which their ``__exit__`` and finaliser both call: an exception
inside ``with fs.open(key, "wb")`` *publishes* what was written so far.  So an
abort here calls the file's ``discard()`` (s3fs aborts a started multipart
upload) and marks it closed, so it never commits.  Other backends are as
atomic as their ``mv``: a rename on most, copy then delete on ``memory``,
whose files are visible, and growing, from the moment they are opened.

fsspec is imported when a target is made, not when :mod:`nbpipe` is.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from nbpipe import format as _format
from nbpipe.exceptions import MissingBackendError
from nbpipe.target import (
    TEMP_MARK,
    CommitOnCleanExit,
    FileSystemTarget,
    LocalTarget,
    _ClosingReader,
    atomic_writer,
    format_for_mode,
)
from nbpipe.targets.temp_files import HOST_TAG, temp_prefix

__all__ = ["OBJECT_STORE_PROTOCOLS", "FsspecTarget", "MissingBackendError"]

logger = logging.getLogger("nbpipe")

#: Protocols whose uploads are atomic by themselves (see the module docstring).
OBJECT_STORE_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss"})


def _backend_hint(url: str) -> str | None:
    """What is missing to open ``url``, or None when every protocol in it resolves."""
    import importlib.util

    from fsspec.core import split_protocol
    from fsspec.registry import known_implementations, registry

    for part in url.split("::"):  # chained URLs: "simplecache::s3://..."
        protocol = split_protocol(part)[0] or "file"
        if protocol in registry:
            continue
        known = known_implementations.get(protocol)
        if known is None:
            return (
                f"fsspec knows no backend for protocol {protocol!r}; check the URL's scheme, "
                "or install and import the package that registers it"
            )
        package = known["class"].split(".")[0]
        if importlib.util.find_spec(package) is None:
            return f"the {protocol!r} backend is not installed: pip install {package}"
    return None


def _open_filesystem(url: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    """``fsspec.core.url_to_fs(url, **storage_options)``; raises MissingBackendError with the fix."""
    import fsspec.core

    try:
        return fsspec.core.url_to_fs(url, **storage_options)
    except (ImportError, ValueError) as err:
        hint = _backend_hint(url)
        if hint is None and not isinstance(err, ImportError):
            raise  # a bad URL or option, not a missing backend
        raise MissingBackendError(f"cannot open {url!r}: {hint or err}") from err


def _backend_kind(fs: Any) -> str:
    """``"local"``, ``"object-store"`` or ``"staged"``: which row of the table applies."""
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(fs, LocalFileSystem):
        return "local"
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    return "object-store" if protocols & OBJECT_STORE_PROTOCOLS else "staged"


def _temp_key(path: str) -> str:
    """A hidden sibling key of ``path``, shaped like :func:`nbpipe.target.temp_path_for`'s names."""
    head, sep, tail = path.rpartition("/")
    return f"{head}{sep}{temp_prefix(tail)}{os.getpid()}-{HOST_TAG}-{random.randrange(16**8):08x}"


def _drop(handle: Any) -> None:
    """Throw away what a backend file buffered or staged, without publishing it."""
    from fsspec.spec import AbstractBufferedFile

    if isinstance(handle, AbstractBufferedFile):
        # Its close(), __exit__ and finaliser would all upload and commit.
        try:
            handle.discard()
        finally:
            handle.closed = True
    elif not handle.closed:
        handle.close()  # e.g. a memory file: publishes only the temporary key, removed next


class _PublishOnClose(CommitOnCleanExit, io.BufferedIOBase):
    """A write-only binary stream over a backend file, published only by a clean ``close()``.

    ``publish`` runs once the backend file has closed (object stores: nothing,
    the close was the upload; staged backends: move the temporary key into
    place).  ``cleanup`` runs after an abort (remove the temporary key).
    """

    def __init__(self, handle: Any, publish: Callable[[], None], cleanup: Callable[[], None]):
        super().__init__()
        self._handle = handle
        self._publish = publish
        self._cleanup = cleanup
        self._finished = False

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self._finished:
            raise ValueError("write to a closed or aborted target stream")
        self._handle.write(data)
        return memoryview(data).nbytes

    def flush(self) -> None:
        """Nothing: what was written is pushed and published by close() only."""

    def close(self) -> None:
        if self._finished:
            return
        try:
            self._handle.close()
            self._publish()
        except BaseException:
            self.abort()
            raise
        self._finished = True
        super().close()

    def abort(self) -> None:
        """Discard what was written; the target is left as it was."""
        if self._finished:
            return
        self._finished = True
        try:
            _drop(self._handle)
            self._cleanup()
        except Exception as err:  # noqa: BLE001 - must not mask the error that caused the abort
            logger.warning("could not discard an aborted write (%s): %s", self._handle, err)
        super().close()


class FsspecTarget(FileSystemTarget):
    """A file (or directory) at any fsspec URL, written atomically (see the module docstring).

    ``storage_options`` go to ``fsspec.core.url_to_fs`` (for S3: ``key``,
    ``secret``, ``endpoint_url``, ``client_kwargs``, ...).  They travel with
    the pickled target, so worker processes reach the same storage; prefer
    credentials from the environment to keep secrets out of pickles.

    ``path`` is the local path for local targets (so they compare equal to,
    and are cleaned up like, local paths) and the URL otherwise; ``url`` is
    the URL as given.  ``format`` works as for :class:`~nbpipe.target.LocalTarget`.
    Raises :class:`MissingBackendError` when the URL's backend is not installed.
    """

    def __init__(self, url: str | os.PathLike, format: _format.Format | None = None, **storage_options: Any):
        self.url = os.fspath(url)
        self.storage_options = storage_options
        self._fs, self._fs_path = _open_filesystem(self.url, storage_options)
        self._fs_pid = os.getpid()
        self._kind = _backend_kind(self._fs)
        self._default_format = format is None
        self.format = format if format is not None else _format.get_default_format()
        super().__init__(self._fs_path if self._kind == "local" else self.url)

    @property
    def fs(self) -> Any:  # an fsspec AbstractFileSystem, not an nbpipe FileSystem
        """The backend file system, re-created after unpickling or in a forked child."""
        if self._fs is None or self._fs_pid != os.getpid():
            self._fs, _ = _open_filesystem(self.url, self.storage_options)
            self._fs_pid = os.getpid()
        return self._fs

    def __getstate__(self) -> dict[str, Any]:
        # A file system holds sessions, event loops and caches: rebuild it on the other side.
        return {**self.__dict__, "_fs": None}

    def exists(self) -> bool:
        fs = self.fs
        fs.invalidate_cache(self._fs_path)  # another process may have written it since we listed
        return fs.exists(self._fs_path)

    def remove(self) -> None:
        self.fs.rm(self._fs_path, recursive=True)

    def open(self, mode: str = "r"):
        """A stream: ``"r"``/``"rb"`` read, ``"w"``/``"wb"`` write atomically: nothing is
        published by a ``with`` block that raises or a stream dropped without ``close()``.

        Raises FileNotFoundError reading a missing target, ValueError for another mode.
        """
        rw = mode.replace("b", "").replace("t", "")
        if rw not in ("r", "w"):
            raise ValueError(f"{self!r}: mode must be 'r' or 'w' (got {mode!r})")
        if self._kind == "local":
            return LocalTarget(self.path, format=None if self._default_format else self.format).open(mode)
        fmt = format_for_mode(self.format, self._default_format, mode)
        if rw == "r":
            raw = self.fs.open(self._fs_path, "rb")
            stream = fmt.pipe_reader(raw)
            return raw if stream is raw else _ClosingReader(stream, raw)
        return atomic_writer(fmt, self._raw_writer())

    def _raw_writer(self) -> _PublishOnClose:
        fs, path = self.fs, self._fs_path
        if self._kind == "object-store":
            return _PublishOnClose(fs.open(path, "wb"), publish=lambda: None, cleanup=lambda: None)
        parent = path.rpartition("/")[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        tmp = _temp_key(path)
        return _PublishOnClose(
            fs.open(tmp, "wb"), publish=lambda: fs.mv(tmp, path), cleanup=lambda: fs.rm(tmp) if fs.exists(tmp) else None
        )

    def temporary_path(self) -> AbstractContextManager[str]:
        """A local path to write; on success what is there is published at this target.

        Local targets rename it into place (a file or a directory); other
        backends upload it as :meth:`open` ``("wb")`` would, so it must be a file.
        """
        if self._kind == "local":
            return LocalTarget(self.path).temporary_path()
        return self._uploaded_temporary_path()

    @contextmanager
    def _uploaded_temporary_path(self) -> Iterator[str]:
        with tempfile.TemporaryDirectory(prefix="nbpipe-") as scratch:
            local = os.path.join(scratch, self._fs_path.rpartition("/")[2] or "data")
            yield local
            if os.path.isdir(local):
                raise IsADirectoryError(
                    f"{self!r}: temporary_path() on this backend publishes one file, "
                    f"but {local!r} is a directory; use one target per file"
                )
            with open(local, "rb") as source, self._raw_writer() as sink:
                while chunk := source.read(1 << 20):
                    sink.write(chunk)

    def fingerprint(self) -> str | None:
        """What the backend says about this target now, or None when it does not exist.

        ``"etag=<etag>"`` when the backend has one (S3, GCS, Azure), else
        ``"size=<n>;mtime=<time>"`` (or ``"size=<n>"``); a directory gives
        ``"tree=<sha256>"`` over its files' relative names and fingerprints,
        leaving out writes in progress.
        """
        fs, path = self.fs, self._fs_path
        fs.invalidate_cache(path)
        try:
            info = fs.info(path)
        except FileNotFoundError:
            return None
        if info.get("type") != "directory":
            return _stamp(info)
        digest = hashlib.sha256()
        prefix = path.rstrip("/") + "/"
        for name, entry in sorted(fs.find(path, detail=True).items()):
            if TEMP_MARK in name:
                continue
            relative = name.removeprefix(prefix)
            digest.update(f"{relative}\0{_stamp(entry)}\n".encode("utf-8", "surrogateescape"))
        return "tree=" + digest.hexdigest()


def _stamp(info: dict[str, Any]) -> str:
    """The fingerprint of one file from its ``fs.info`` entry."""
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return "etag=" + str(etag).strip('"')
    size = info.get("size")
    for key in ("mtime", "LastModified", "last_modified", "modified", "created"):
        value = info.get(key)
        if value is not None:
            when = value.isoformat() if hasattr(value, "isoformat") else repr(value)
            return f"size={size};mtime={when}"
    return f"size={size}"
