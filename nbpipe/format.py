"""Formats: how a target's bytes become the objects a task reads and writes.

A format wraps a raw binary stream: ``pipe_reader(raw)`` for reading and
``pipe_writer(raw)`` for writing.  Formats chain with ``>>``: ``Gzip >> UTF8``
writes text, encodes it as UTF-8, then compresses it.  Layers close what
they wrap when they are closed (text does, compression does not); the
target's writer therefore aborts the raw atomic file *before* closing the
layers when a write fails, and commits it last when all went well.
"""

from __future__ import annotations

import bz2
import gzip
import io

__all__ = [
    "Format",
    "TextFormat",
    "NopFormat",
    "GzipFormat",
    "Bzip2Format",
    "ChainFormat",
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

    def __init__(self, encoding: str | None = "utf-8", newline: str | None = None):
        self.encoding = encoding or "utf-8"
        self.newline = newline

    def pipe_reader(self, input_pipe):
        return io.TextIOWrapper(input_pipe, encoding=self.encoding, newline=self.newline)

    def pipe_writer(self, output_pipe):
        return io.TextIOWrapper(output_pipe, encoding=self.encoding, newline=self.newline)


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
    """Formats applied in order when reading, in reverse when writing."""

    def __init__(self, *formats: Format):
        flat: list[Format] = []
        for f in formats:
            flat.extend(f.formats if isinstance(f, ChainFormat) else [f])
        self.formats = flat
        self.is_text = any(f.is_text for f in flat)

    def pipe_reader(self, input_pipe):
        for f in self.formats:
            input_pipe = f.pipe_reader(input_pipe)
        return input_pipe

    def pipe_writer(self, output_pipe):
        for f in self.formats:
            output_pipe = f.pipe_writer(output_pipe)
        return output_pipe


Nop = NopFormat()
Text = TextFormat()
UTF8 = TextFormat(encoding="utf-8")
SysNewLine = TextFormat(newline=None)
Gzip = GzipFormat()
Bzip2 = Bzip2Format()


def get_default_format() -> Format:
    return Text
