"""Digests and stable names shared by code and output fingerprints.

:func:`short_digest` is the short sha256 every code component is stored as;
:func:`qualified` and :data:`ADDRESS` turn objects into text that is the same
in every process (no memory addresses).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

__all__ = ["DIGEST_LENGTH", "ADDRESS", "short_digest", "qualified"]

#: Length of the hex digests of code components.
DIGEST_LENGTH = 16

#: A memory address in a repr (``at 0x7f...``): such text differs between processes.
ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{6,}")


def short_digest(text: str) -> str:
    """The first :data:`DIGEST_LENGTH` hex digits of the sha256 of ``text``."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_LENGTH]


def qualified(obj: Any) -> str:
    """``module.qualname`` of a class or function (``qualname`` alone without a module)."""
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__qualname__
    return f"{module}.{name}" if module else str(name)
