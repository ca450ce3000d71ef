"""In-memory targets for tests (``nbpipe.mock.MockTarget``, as in Luigi).

The data lives in this process: use MockTarget with the inline or thread
executor; a process executor's workers each see their own empty store.
"""

from __future__ import annotations

import io
import sys
import threading

from nbpipe import format as _format
from nbpipe.target import FileAlreadyExists, FileSystem, FileSystemTarget

__all__ = ["MockFileSystem", "MockTarget"]


class MockFileSystem(FileSystem):
    """A process-wide dict from path to bytes."""

    _data: dict[str, bytes] = {}
    _lock = threading.Lock()

    def get_all_data(self) -> dict[str, bytes]:
        return self._data

    def get_data(self, path: str) -> bytes:
        return self._data[path]

    def exists(self, path: str) -> bool:
        return path in self._data

    def isdir(self, path: str) -> bool:
        prefix = path.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in self._data)

    def mkdir(self, path: str, parents: bool = True, raise_if_exists: bool = False) -> None:
        """Directories are implicit in a flat store."""

    def listdir(self, path: str):
        prefix = path.rstrip("/") + "/"
        return sorted(p for p in self._data if p.startswith(prefix) or p == path)

    def remove(self, path: str, recursive: bool = True, skip_trash: bool = True) -> None:
        with self._lock:
            if recursive:
                prefix = path.rstrip("/") + "/"
                everything = path.strip("/") == ""  # the root holds every path, relative ones too
                for p in [p for p in self._data if everything or p == path or p.startswith(prefix)]:
                    del self._data[p]
            else:
                self._data.pop(path, None)

    def move(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        with self._lock:
            if raise_if_exists and dest in self._data:
                raise FileAlreadyExists(dest)
            self._data[dest] = self._data.pop(path)

    def rename_dont_move(self, path: str, dest: str) -> None:
        self.move(path, dest, raise_if_exists=True)

    def rename(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        """Luigi's other name for :meth:`move`."""
        self.move(path, dest, raise_if_exists)

    def copy(self, path: str, dest: str, raise_if_exists: bool = False) -> None:
        """Copy the bytes at ``path`` (and below it, for a folder) to ``dest``."""
        with self._lock:
            if raise_if_exists and dest in self._data:
                raise FileAlreadyExists(dest)
            prefix = path.rstrip("/") + "/"
            for p in [p for p in self._data if p == path or p.startswith(prefix)]:
                self._data[dest + p[len(path) :]] = self._data[p]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class _MockWriteBuffer(io.BytesIO):
    """Bytes committed to the store on a clean close only."""

    def __init__(self, target: MockTarget):
        super().__init__()
        self._target = target
        self._aborted = False

    def write(self, data):
        if self._target._mirror_on_stderr:
            sys.stderr.write(self._target.path + ": " + (data.decode("utf8") if isinstance(data, bytes) else data))
        return super().write(data)

    def close(self):
        if not self.closed and not self._aborted:
            with MockFileSystem._lock:
                self._target.fs.get_all_data()[self._target.path] = self.getvalue()
        super().close()


class _MockWriter:
    def __init__(self, stream, buffer: _MockWriteBuffer):
        self._stream = stream
        self._buffer = buffer

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._buffer._aborted = True
        self.close()

    def close(self):
        if self._stream is not self._buffer:
            self._stream.close()  # flush the format layers into the buffer
        self._buffer.close()


class MockTarget(FileSystemTarget):
    fs = MockFileSystem()

    def __init__(self, fn, is_tmp=None, mirror_on_stderr: bool = False, format: _format.Format | None = None):
        self._mirror_on_stderr = mirror_on_stderr
        self._default_format = format is None
        self.path = str(fn)
        self.format = format or _format.get_default_format()
        self.is_tmp = is_tmp

    def exists(self) -> bool:
        return self.path in self.fs.get_all_data()

    def move(self, path, raise_if_exists: bool = False) -> None:
        self.fs.move(self.path, str(path), raise_if_exists)

    def rename(self, *args, **kwargs) -> None:
        self.move(*args, **kwargs)

    def open(self, mode: str = "r"):
        fmt = _format.Nop if ("b" in mode and self._default_format) else self.format
        if mode.startswith("w"):
            buffer = _MockWriteBuffer(self)
            return _MockWriter(fmt.pipe_writer(buffer), buffer)
        if mode.startswith("r"):
            try:
                data = self.fs.get_all_data()[self.path]
            except KeyError:
                raise FileNotFoundError(f"MockTarget {self.path!r} does not exist") from None
            return fmt.pipe_reader(io.BytesIO(data))
        raise ValueError(f"{self!r}: mode must be 'r' or 'w' (got {mode!r})")
