"""Immutable, hashable containers for dict/list parameter values (compatible with Luigi).

* :class:`FrozenOrderedDict` -- a read-only, insertion-ordered mapping that is
  hashable (order-insensitive hash and equality, like a ``dict``).
* :func:`recursively_freeze` -- mappings become ``FrozenOrderedDict``, lists
  and tuples become ``tuple``; anything else is returned unchanged.
* :func:`recursively_unfreeze` -- the inverse: mappings become ``dict``,
  lists and tuples become ``list``.

``recursively_freeze`` is on the hot path of task instantiation, so a value
that is already deeply frozen is returned as is (same object), without copying.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["FrozenOrderedDict", "recursively_freeze", "recursively_unfreeze"]


class FrozenOrderedDict(Mapping):
    """An immutable, hashable, insertion-ordered mapping.

    Accepts the same arguments as ``dict``.  Equality is that of ``dict``
    (order-insensitive, equal to any mapping with the same items); the hash
    is the XOR of the item hashes, so every value must be hashable to hash.
    """

    __slots__ = ("_wrapped", "_hash", "_deep")

    def __init__(self, *args: Any, **kwargs: Any):
        self._wrapped: dict = dict(*args, **kwargs)
        self._hash: int | None = None
        self._deep = False  # True when built by recursively_freeze (all values frozen)

    def __getitem__(self, key: Any) -> Any:
        return self._wrapped[key]

    def __contains__(self, key: object) -> bool:
        return key in self._wrapped

    def __iter__(self) -> Iterator:
        return iter(self._wrapped)

    def __len__(self) -> int:
        return len(self._wrapped)

    def get(self, key: Any, default: Any = None) -> Any:
        return self._wrapped.get(key, default)

    def keys(self):
        return self._wrapped.keys()

    def items(self):
        return self._wrapped.items()

    def values(self):
        return self._wrapped.values()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenOrderedDict):
            return self._wrapped == other._wrapped
        if isinstance(other, Mapping):
            return self._wrapped == dict(other.items())
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = 0
            for item in self._wrapped.items():
                h ^= hash(item)
            self._hash = h
        return h

    def __repr__(self) -> str:
        return repr(self._wrapped)

    def __reduce__(self):
        return (_rebuild, (list(self._wrapped.items()), self._deep))

    def get_wrapped(self) -> dict:
        """The underlying ``dict`` (do not mutate it)."""
        return self._wrapped


def _rebuild(items: list, deep: bool) -> FrozenOrderedDict:
    d = FrozenOrderedDict(items)
    d._deep = deep
    return d


_SCALAR_TYPES = frozenset({str, int, float, bool, type(None), bytes})


def recursively_freeze(value: Any) -> Any:
    """``value`` with every ``Mapping`` made a :class:`FrozenOrderedDict` and every
    ``list``/``tuple`` made a ``tuple``, recursively.

    Returns ``value`` itself when nothing needed freezing.
    """
    t = type(value)
    if t in _SCALAR_TYPES:
        return value
    if t is tuple:
        for i, item in enumerate(value):
            frozen = recursively_freeze(item)
            if frozen is not item:
                return value[:i] + (frozen,) + tuple(recursively_freeze(v) for v in value[i + 1 :])
        return value
    if t is FrozenOrderedDict and value._deep:
        return value
    if isinstance(value, Mapping):
        result = FrozenOrderedDict((k, recursively_freeze(v)) for k, v in value.items())
        result._deep = True
        return result
    if isinstance(value, (list, tuple)):
        return tuple(recursively_freeze(v) for v in value)
    return value


def recursively_unfreeze(value: Any) -> Any:
    """``value`` with every ``Mapping`` made a ``dict`` and every ``list``/``tuple``
    made a ``list``, recursively (a fresh, mutable copy)."""
    if isinstance(value, Mapping):
        return {k: recursively_unfreeze(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [recursively_unfreeze(v) for v in value]
    return value
