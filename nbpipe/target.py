"""Targets: what a task produces, and how it is written without half-files.

``LocalTarget.open("w")`` writes to a hidden temporary file beside the final
path and renames it into place only when the stream is closed cleanly.  When
the ``with`` block raises, or the stream is dropped without ``close()``, the
temporary file is removed and the final path is untouched.  A process that
dies mid-write leaves a temporary file whose name carries its pid; the
executor removes it (see :func:`remove_temp_files`).
"""

from __future__ import annotations

import abc
import io
import os
import random
import shutil
from contextlib import contextmanager
from pathlib import Path

from nbpipe import configuration
from nbpipe import format as _format
from nbpipe.exceptions import FileAlreadyExists, FileSystemException, MissingParentDirectory, NotADirectory  # noqa: F401 - their home in Luigi's API
from nbpipe.options import CORE_FSYNC_OUTPUTS
from nbpipe.targets.temp_files import TEMP_MARK, remove_dead_temp_files, remove_temp_files, temp_path_for

__all__ = [
    "Target",
    "FileSystemTarget",
    "FileSystem",
    "LocalFileSystem",
    "LocalTarget",
    "AtomicLocalFile",
    "FileAlreadyExists",
    "MissingParentDirectory",
    "NotADirectory",
    "remove_temp_files",
    "TEMP_MARK",
    "temp_path_for",
]


class Target(abc.ABC):
    """Something a task produces; ``exists()`` says whether it is there (abstract, as in Luigi)."""

    @abc.abstractmethod
    def exists(self) -> bool:
        """True when the target is there."""


class CommitOnCleanExit:
    """For atomic writers: commit (``close``) on a clean exit; ``abort`` on an
    exception, or when dropped without ``close()`` (``_finished`` still False),
    so a possibly partial file is never published."""

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self):
        if not getattr(self, "_finished", True):
            try:
                self.abort()
            except Exception:  # noqa: BLE001 - a finaliser has no one to tell
                pass


def _create_temp_file(path: str) -> tuple[str, io.FileIO]:
    """A new hidden temporary sibling of ``path`` (its name, and the file open for writing)."""
    tmp_path = temp_path_for(path)
    parent = os.path.dirname(path)
    remove_dead_temp_files(parent)
    try:
        return tmp_path, io.FileIO(tmp_path, "w")
    except FileNotFoundError:
        if not parent:
            raise
        # Create missing parent folders only when needed: most writes go to a
        # folder that exists, and asking first costs a failed mkdir per write.
        os.makedirs(parent, exist_ok=True)
        return tmp_path, io.FileIO(tmp_path, "w")


def _publish(tmp_path: str, path: str, fsync: bool) -> None:
    """Move the closed temporary file into place (after flushing it to the disk, with ``fsync``)."""
    if fsync:
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(tmp_path, path)


def _discard(tmp_path: str) -> None:
    try:
        os.remove(tmp_path)
    except FileNotFoundError:
        pass


class _PublishedOnClose(CommitOnCleanExit):
    """A local file written under a temporary name: ``close()`` publishes it at ``path``, ``abort()`` discards it.

    Mixed in before an ``io`` class, whose own ``close`` (next in the MRO) closes the file.
    """

    path: str
    tmp_path: str
    _fsync: bool
    _finished: bool

    def close(self) -> None:
        if self._finished:
            return
        try:
            super().close()  # type: ignore[misc]  # the io class's: flushes; raises if the disk is full
            _publish(self.tmp_path, self.path, self._fsync)
        except BaseException:
            self.abort()
            raise
        self._finished = True

    def abort(self) -> None:
        """Discard what was written; the final path is left as it was."""
        if self._finished:
            return
        self._finished = True
        try:
            super().close()  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - we are discarding anyway
            pass
        _discard(self.tmp_path)

    def move_to_final_destination(self) -> None:  # Luigi's hook name
        os.replace(self.tmp_path, self.path)


class AtomicLocalFile(_PublishedOnClose, io.BufferedWriter):
    """A binary file that appears at ``path`` only when closed cleanly."""

    def __init__(self, path: str, fsync: bool = False):
        self.path = path
        self._fsync = fsync
        self._finished = True  # nothing to abort until the temporary file exists
        self.tmp_path, raw = _create_temp_file(path)
        super().__init__(raw)
        self._finished = False


class AtomicTextFile(_PublishedOnClose, io.TextIOWrapper):
    """A text file that appears at ``path`` only when closed cleanly: what ``open("w")`` gives for text.

    The same contract as an :class:`AtomicLocalFile` under a text layer, in
    one object instead of three (the file, the layer and a proxy): most
    outputs are small text files, where those layers cost as much as the
    write itself.
    """

    def __init__(self, path: str, encoding: str = "utf-8", newline: str | None = None, fsync: bool = False):
        self.path = path
        self._fsync = fsync
        self._finished = True  # nothing to abort until the temporary file exists
        self.tmp_path, raw = _create_temp_file(path)
        super().__init__(io.BufferedWriter(raw), encoding=encoding, newline=newline)
        self._finished = False


class _StreamProxy:
    """A format-layer stream plus the raw file beneath it, used as one file object."""

    def __init__(self, stream, raw):
        self._stream = stream
        self._raw = raw

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def __iter__(self):
        return iter(self._stream)

    def __next__(self):
        return next(self._stream)

    def __enter__(self):
        return self


class _AtomicWriter(_StreamProxy):
    """The stream returned by ``open("w")``: a format layer over an atomic file.

    Closing commits; leaving a ``with`` block by an exception aborts.
    """

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def close(self) -> None:
        try:
            if self._stream is not self._raw:
                self._stream.close()
        except BaseException:
            self._raw.abort()
            raise
        self._raw.close()

    def abort(self) -> None:
        self._raw.abort()
        try:
            if self._stream is not self._raw:
                self._stream.close()
        except Exception:  # noqa: BLE001 - the raw file is already gone
            pass

    @property
    def closed(self) -> bool:
        return self._raw._finished

    def __del__(self):
        raw = self.__dict__.get("_raw")
        if raw is not None and not raw._finished:
            try:
                raw.abort()
            except Exception:  # noqa: BLE001 - a finaliser has no one to tell
                pass


class FileSystem:
    """The operations a :class:`FileSystemTarget` needs from its storage."""

    def exists(self, path: str) -> bool:
        raise NotImplementedError

    def remove(self, path: str, recursive: bool = True) -> None:
        raise NotImplementedError

    def isdir(self, path: str) -> bool:
        raise NotImplementedError

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        raise NotImplementedError

    def listdir(self, path: str):
        raise NotImplementedError


class LocalFileSystem(FileSystem):
    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        if os.path.exists(path):
            if raise_if_exists:
                raise FileAlreadyExists(path)
            if not os.path.isdir(path):
                raise NotADirectory(path)
            return
        if parents:
            os.makedirs(path, exist_ok=True)
        else:
            if not os.path.exists(os.path.dirname(path) or "."):
                raise MissingParentDirectory(path)
            os.mkdir(path)

    def listdir(self, path: str):
        for dir_, _, files in os.walk(path):
            for name in files:
                yield os.path.join(dir_, name)

    def remove(self, path: str, recursive: bool = True) -> None:
        if recursive and os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)

    def move(self, old_path: str, new_path: str, raise_if_exists: bool = False) -> None:
        if raise_if_exists and os.path.exists(new_path):
            raise FileAlreadyExists(f"Destination exists: {new_path}")
        parent = os.path.dirname(new_path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        try:
            os.replace(old_path, new_path)
        except OSError as err:
            import errno

            if err.errno != errno.EXDEV:
                raise
            # Across file systems: copy beside the destination, then rename.
            tmp = temp_path_for(new_path)
            shutil.copy2(old_path, tmp)
            os.replace(tmp, new_path)
            os.remove(old_path)

    def copy(self, old_path: str, new_path: str, raise_if_exists: bool = False) -> None:
        if raise_if_exists and os.path.exists(new_path):
            raise FileAlreadyExists(f"Destination exists: {new_path}")
        parent = os.path.dirname(new_path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        tmp = temp_path_for(new_path)
        shutil.copy2(old_path, tmp)
        os.replace(tmp, new_path)

    def rename_dont_move(self, path: str, dest: str) -> None:
        self.move(path, dest, raise_if_exists=True)


class FileSystemTarget(Target):
    """A target at a path of some :class:`FileSystem`."""

    fs: FileSystem

    def __init__(self, path):
        if isinstance(path, Path):
            path = str(path)
        self.path = path

    def exists(self) -> bool:
        return self.fs.exists(self.path)

    def remove(self) -> None:
        self.fs.remove(self.path)

    def open(self, mode: str = "r"):
        raise NotImplementedError

    @contextmanager
    def temporary_path(self):
        """Luigi's contract for any file system: a path to write, renamed into place when the block succeeds.

        The parent folder is made with ``fs.mkdir(parent, parents=True,
        raise_if_exists=False)``; the path is the target's own with
        ``-luigi-tmp-NNNNNNNNNN`` added (a trailing slash kept, for folders);
        on success ``fs.rename_dont_move(tmp, path)`` publishes it, and when the
        block raises nothing is renamed.  :class:`LocalTarget` keeps its own
        hidden temporary names, which crashed attempts are cleaned up by.
        """
        trailing = self.path[len(self.path.rstrip("/\\")) :]
        bare = self.path.rstrip("/\\")
        tmp = f"{bare}-luigi-tmp-{random.randrange(10**10):010d}{trailing}"
        parent = os.path.dirname(bare)
        if parent:
            self.fs.mkdir(parent, parents=True, raise_if_exists=False)
        yield tmp
        self.fs.rename_dont_move(tmp, self.path)

    def _touchz(self) -> None:
        """Create the target empty (Luigi's helper)."""
        with self.open("w"):
            pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.path == other.path

    def __hash__(self) -> int:
        return hash((type(self), self.path))


_fsync_setting: tuple = (None, None, False)  # (configuration generation, configuration object, value)


def _fsync_outputs() -> bool:
    """``[core] fsync_outputs``, read again only when the configuration changed (one lookup per write)."""
    global _fsync_setting
    generation, instance, value = _fsync_setting
    current = configuration.LuigiConfigParser._instance
    if generation != configuration.generation or instance is not current:
        value = bool(configuration.option_value(CORE_FSYNC_OUTPUTS))
        _fsync_setting = (configuration.generation, current, value)
    return value


def format_for_mode(fmt: _format.Format, default_format: bool, mode: str) -> _format.Format:
    """The format a stream opened in ``mode`` uses: bytes for a ``b`` mode
    unless the target was given a format of its own."""
    if "b" in mode and default_format:
        return _format.Nop
    return fmt


def atomic_writer(fmt: _format.Format, raw) -> _AtomicWriter:
    """``fmt``'s writer over ``raw`` (a stream with ``close``/``abort``), committed
    only by a clean close; ``raw`` is aborted if the format cannot wrap it."""
    try:
        stream = fmt.pipe_writer(raw)
    except BaseException:
        raw.abort()
        raise
    return _AtomicWriter(stream, raw)


class LocalTarget(FileSystemTarget):
    """A file on the local file system, written atomically.

    ``format`` defaults to text (UTF-8).  With the default format, a mode
    containing ``b`` reads and writes bytes.
    """

    fs = LocalFileSystem()

    def __init__(self, path=None, format: _format.Format | None = None, is_tmp: bool = False):
        self._default_format = format is None
        if format is None:
            format = _format.get_default_format()
        if not path:
            if not is_tmp:
                raise ValueError("LocalTarget needs a path (or is_tmp=True for a temporary file)")
            import tempfile

            path = os.path.join(tempfile.gettempdir(), f"nbpipe-tmp-{random.randrange(16**8):08x}")
        super().__init__(path)
        self.format = format
        self.is_tmp = is_tmp

    def _format_for(self, mode: str) -> _format.Format:
        return format_for_mode(self.format, self._default_format, mode)

    @contextmanager
    def temporary_path(self):
        """A hidden temporary path beside the file (a file or a folder); moved into place on success.

        Its name (:func:`temp_path_for`) lets a crashed attempt's leftovers be
        found and removed; when the block raises it is removed at once.
        """
        tmp = temp_path_for(self.path)
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        remove_dead_temp_files(parent)
        try:
            yield tmp
        except BaseException:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
            elif os.path.exists(tmp):
                os.remove(tmp)
            raise
        self.fs.rename_dont_move(tmp, self.path)

    def makedirs(self) -> None:
        parent = os.path.dirname(os.path.normpath(self.path))
        if parent:
            os.makedirs(parent, exist_ok=True)

    def open(self, mode: str = "r"):
        rw = mode.replace("b", "").replace("t", "")
        fmt = self._format_for(mode)
        if rw == "w":  # the atomic files create missing parent folders
            if type(fmt) is _format.TextFormat:  # plain text, the usual case: one object does it all
                return AtomicTextFile(self.path, fmt.encoding, fmt.newline, fsync=_fsync_outputs())
            sink = AtomicLocalFile(self.path, fsync=_fsync_outputs())
            return atomic_writer(fmt, sink)
        if rw == "r":
            raw = io.FileIO(self.path, "r")
            stream = fmt.pipe_reader(io.BufferedReader(raw))
            if stream is not raw and not isinstance(stream, io.BufferedReader):
                return _ClosingReader(stream, raw)
            return stream
        raise ValueError(f"{self!r}: mode must be 'r' or 'w' (got {mode!r})")

    def move(self, new_path, raise_if_exists: bool = False) -> None:
        self.fs.move(self.path, str(new_path), raise_if_exists=raise_if_exists)

    def move_dir(self, new_path) -> None:
        self.move(new_path)

    def copy(self, new_path, raise_if_exists: bool = False) -> None:
        self.fs.copy(self.path, str(new_path), raise_if_exists)

    @property
    def fn(self) -> str:
        return self.path

    def __del__(self):
        if getattr(self, "is_tmp", False) and os.path.exists(self.path):
            try:
                self.remove()
            except OSError:
                pass


class _ClosingReader(_StreamProxy):
    """A reading stream that also closes the raw file under its format layers."""

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._raw.close()
