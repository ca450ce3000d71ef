"""Formats: how a target's bytes become the objects a task reads and writes.

A format wraps a raw binary stream: ``pipe_reader(raw)`` for reading and
``pipe_writer(raw)`` for writing.  Formats chain with ``>>`` in Luigi's
order, from the task's side to the file's: ``UTF8 >> Gzip`` writes text,
encodes it as UTF-8, then compresses it.  Each format declares what it takes
(``input``) and gives (``output``), ``"unicode"`` or ``"bytes"``; a chain
written the other way round (``Gzip >> UTF8``, nbpipe's earlier order) is
recognised by those types and means the same stack.  Layers close what
they wrap when they are closed (text does, compression does not); the
target's writer therefore aborts the raw atomic file *before* closing the
layers when a write fails, and commits it last when all went well.
"""

from __future__ import annotations

import bz2
import gzip
import io
import os

__all__ = [
    "Format",
    "TextFormat",
    "NopFormat",
    "GzipFormat",
    "Bzip2Format",
    "ChainFormat",
    "NewlineFormat",
    "Text",
    "UTF8",
    "Nop",
    "Gzip",
    "Bzip2",
    "SysNewLine",
    "get_default_format",
]


class Format:
    """Base class; subclasses implement ``pipe_reader`` and ``pipe_writer``."""

    #: True when the format yields ``str`` (a text layer).
    is_text = False
    #: What the task side gives the format and what the format gives the file side (Luigi's names).
    input = "bytes"
    output = "bytes"

    def pipe_reader(self, input_pipe):
        raise NotImplementedError

    def pipe_writer(self, output_pipe):
        raise NotImplementedError

    def __rshift__(self, other: Format) -> ChainFormat:
        return ChainFormat(self, other)


class NopFormat(Format):
    """Bytes in, bytes out."""

    def pipe_reader(self, input_pipe):
        return input_pipe

    def pipe_writer(self, output_pipe):
        return output_pipe


class TextFormat(Format):
    """Text over bytes with an encoding (UTF-8 unless given)."""

    is_text = True
    input = "unicode"

    def __init__(self, encoding: str | None = "utf-8", newline: str | None = None):
        self.encoding = encoding or "utf-8"
        self.newline = newline

    def pipe_reader(self, input_pipe):
        return io.TextIOWrapper(input_pipe, encoding=self.encoding, newline=self.newline)

    def pipe_writer(self, output_pipe):
        return io.TextIOWrapper(output_pipe, encoding=self.encoding, newline=self.newline)


class NewlineFormat(Format):
    """Bytes whose line ends are ``os.linesep`` in the file and ``\\n`` when read back (Luigi's ``SysNewLine``)."""

    def pipe_reader(self, input_pipe):
        return _NewlineReader(input_pipe)

    def pipe_writer(self, output_pipe):
        return _NewlineWriter(output_pipe)


def _unix_newlines(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


class _NewlineWriter(io.BufferedIOBase):
    """Writes ``\\n``, ``\\r\\n`` and ``\\r`` as ``os.linesep`` (read when written); closes what it wraps."""

    def __init__(self, raw) -> None:
        self._raw = raw

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._raw.write(_unix_newlines(bytes(data)).replace(b"\n", os.linesep.encode()))
        return len(data)

    def flush(self) -> None:
        self._raw.flush()

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._raw.close()


class _NewlineReader(io.BufferedIOBase):
    """Reads with every line end as ``\\n``."""

    def __init__(self, raw) -> None:
        self._raw = raw

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read() if size is None or size < 0 else self._raw.read(size)
        if data.endswith(b"\r") and size is not None and size > 0:
            data += self._raw.read(1)  # keep a \r\n pair together
        return _unix_newlines(data)

    def close(self) -> None:
        if not self.closed:
            super().close()
            self._raw.close()


class GzipFormat(Format):
    def __init__(self, compression_level: int = 9):
        self.compression_level = compression_level

    def pipe_reader(self, input_pipe):
        return gzip.GzipFile(fileobj=input_pipe, mode="rb")

    def pipe_writer(self, output_pipe):
        return gzip.GzipFile(fileobj=output_pipe, mode="wb", compresslevel=self.compression_level)


class Bzip2Format(Format):
    def pipe_reader(self, input_pipe):
        return bz2.BZ2File(input_pipe, mode="rb")

    def pipe_writer(self, output_pipe):
        return bz2.BZ2File(output_pipe, mode="wb")


class ChainFormat(Format):
    """Formats from the task's side to the file's: written through in reverse, read back in reverse too.

    ``ChainFormat(UTF8, Gzip)`` (``UTF8 >> Gzip``): the task writes text, UTF8
    encodes it, Gzip compresses the bytes into the file.  A chain given file
    side first (``Gzip >> UTF8``) is turned round when only that order fits
    the formats' ``input``/``output`` types; raises TypeError when neither does.
    """

    def __init__(self, *formats: Format, check_consistency: bool = True):
        flat: list[Format] = []
        for f in formats:
            flat.extend(f.formats if isinstance(f, ChainFormat) else [f])
        if check_consistency and not _fits(flat):
            if not _fits(flat[::-1]):
                names = " >> ".join(type(f).__name__ for f in flat)
                raise TypeError(
                    f"the format chain {names} is not valid in either order: each format's output must be the next one's input"
                )
            flat.reverse()
        self.formats = flat
        self.input = flat[0].input if flat else "bytes"
        self.output = flat[-1].output if flat else "bytes"
        self.is_text = self.input == "unicode"

    def pipe_reader(self, input_pipe):
        for f in reversed(self.formats):
            input_pipe = f.pipe_reader(input_pipe)
        return input_pipe

    def pipe_writer(self, output_pipe):
        for f in reversed(self.formats):
            output_pipe = f.pipe_writer(output_pipe)
        return output_pipe


def _fits(formats: list[Format]) -> bool:
    return all(a.output == b.input for a, b in zip(formats, formats[1:], strict=False))


Nop = NopFormat()
Text = TextFormat()
UTF8 = TextFormat(encoding="utf-8")
SysNewLine = NewlineFormat()
Gzip = GzipFormat()
Bzip2 = Bzip2Format()


def get_default_format() -> Format:
    return Text
