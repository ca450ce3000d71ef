"""Date intervals in ISO 8601 notation, compatible with Luigi's ``date_interval``.

A :class:`DateInterval` is the half-open range ``[date_a, date_b)``.  The
concrete kinds and their string forms are:

==========  ===========================  ==========================
class       constructor                  string form
==========  ===========================  ==========================
``Date``    ``Date(2024, 1, 31)``        ``2024-01-31``
``Week``    ``Week(2024, 5)``            ``2024-W05`` (ISO week)
``Month``   ``Month(2024, 1)``           ``2024-01``
``Year``    ``Year(2024)``               ``2024``
``Custom``  ``Custom(date_a, date_b)``   ``2024-01-01-2024-01-31``
==========  ===========================  ==========================

``Kind.parse(text)`` returns an interval, or ``None`` when ``text`` is not in
that kind's form (it raises ``ValueError`` when the form matches but the date
does not exist, e.g. ``2023-W53``).  Intervals of different kinds do not
compare: ordering them (or ``==`` between two different kinds) raises
``TypeError``, as in Luigi; ``==`` with a non-interval is ``False``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator

__all__ = ["DateInterval", "Date", "Week", "Month", "Year", "Custom"]

_ONE_DAY = datetime.timedelta(days=1)
_DATE_RE = re.compile(r"\d\d\d\d-\d\d-\d\d$")
_WEEK_RE = re.compile(r"\d\d\d\d-W\d\d$")
_MONTH_RE = re.compile(r"\d\d\d\d-\d\d$")
_YEAR_RE = re.compile(r"\d\d\d\d$")
_CUSTOM_RE = re.compile(r"\d\d\d\d-\d\d-\d\d-\d\d\d\d-\d\d-\d\d$")


def _iso_date(d: datetime.date) -> str:
    return d.strftime("%Y-%m-%d")


class DateInterval:
    """Abstract half-open range of dates ``[date_a, date_b)``.

    Subclasses implement :meth:`to_string`, :meth:`from_date` and
    :meth:`parse`; use :class:`Custom` for an arbitrary range.
    """

    def __init__(self, date_a: datetime.date, date_b: datetime.date):
        self.date_a = date_a
        self.date_b = date_b

    # -- content -------------------------------------------------------------

    def dates(self) -> list[datetime.date]:
        """Every date in the interval, in order."""
        out = []
        d = self.date_a
        while d < self.date_b:
            out.append(d)
            d += _ONE_DAY
        return out

    def hours(self) -> Iterator[datetime.datetime]:
        """Every whole hour in the interval (24 per date), in order."""
        for d in self.dates():
            for hour in range(24):
                yield datetime.datetime.combine(d, datetime.time(hour))

    def __iter__(self) -> Iterator[datetime.date]:
        return iter(self.dates())

    def __contains__(self, d: object) -> bool:
        if isinstance(d, datetime.datetime) or not isinstance(d, datetime.date):
            return False  # a datetime never equals a date, as in a list lookup
        return self.date_a <= d < self.date_b

    # -- neighbours ------------------------------------------------------------

    def prev(self) -> DateInterval:
        """The interval of the same kind just before this one (May -> April)."""
        return self.from_date(self.date_a - _ONE_DAY)

    def next(self) -> DateInterval:
        """The interval of the same kind just after this one (2014 -> 2015)."""
        return self.from_date(self.date_b)

    # -- abstract --------------------------------------------------------------

    def to_string(self) -> str:
        raise NotImplementedError

    @classmethod
    def from_date(cls, d: datetime.date) -> DateInterval:
        """The interval of this kind containing ``d``."""
        raise NotImplementedError

    @classmethod
    def parse(cls, s: str) -> DateInterval | None:
        """The interval written ``s``, or ``None`` if ``s`` is not in this kind's form."""
        raise NotImplementedError

    # -- value semantics -------------------------------------------------------

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return self.to_string()

    def __hash__(self) -> int:
        return hash(repr(self))

    def _key(self, other: object) -> tuple:
        if not isinstance(self, type(other)):
            # e.g. is 2012-01-01-2013-01-01 equal to 2012? Deliberately undefined.
            raise TypeError("Date interval type mismatch")
        return (other.date_a, other.date_b)  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DateInterval):
            return False
        return (self.date_a, self.date_b) == self._key(other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __lt__(self, other: DateInterval) -> bool:
        return (self.date_a, self.date_b) < self._key(other)

    def __le__(self, other: DateInterval) -> bool:
        return (self.date_a, self.date_b) <= self._key(other)

    def __gt__(self, other: DateInterval) -> bool:
        return (self.date_a, self.date_b) > self._key(other)

    def __ge__(self, other: DateInterval) -> bool:
        return (self.date_a, self.date_b) >= self._key(other)


class Date(DateInterval):
    """A single day: ``date_b == date_a + 1 day``."""

    def __init__(self, y: int, m: int, d: int):
        a = datetime.date(y, m, d)
        super().__init__(a, a + _ONE_DAY)

    def to_string(self) -> str:
        return _iso_date(self.date_a)

    @classmethod
    def from_date(cls, d: datetime.date) -> Date:
        return Date(d.year, d.month, d.day)

    @classmethod
    def parse(cls, s: str) -> Date | None:
        if _DATE_RE.match(s):
            return Date(*map(int, s.split("-")))
        return None


class Week(DateInterval):
    """An ISO 8601 week, Monday to Sunday.

    Around new year the ISO year differs from the calendar year: Monday
    2008-12-29 is in ``2009-W01`` and Sunday 2010-01-03 in ``2009-W53``.
    """

    def __init__(self, y: int, w: int):
        try:
            a = datetime.date.fromisocalendar(y, w, 1)
        except ValueError:
            raise ValueError("Invalid week") from None
        super().__init__(a, a + datetime.timedelta(days=7))

    def to_string(self) -> str:
        y, w = self.date_a.isocalendar()[:2]
        return f"{y:d}-W{w:02d}"

    @classmethod
    def from_date(cls, d: datetime.date) -> Week:
        return Week(*d.isocalendar()[:2])

    @classmethod
    def parse(cls, s: str) -> Week | None:
        if _WEEK_RE.match(s):
            y, w = map(int, s.split("-W"))
            return Week(y, w)
        return None


class Month(DateInterval):
    """A calendar month."""

    def __init__(self, y: int, m: int):
        a = datetime.date(y, m, 1)
        super().__init__(a, datetime.date(y + m // 12, 1 + m % 12, 1))

    def to_string(self) -> str:
        return self.date_a.strftime("%Y-%m")

    @classmethod
    def from_date(cls, d: datetime.date) -> Month:
        return Month(d.year, d.month)

    @classmethod
    def parse(cls, s: str) -> Month | None:
        if _MONTH_RE.match(s):
            y, m = map(int, s.split("-"))
            return Month(y, m)
        return None


class Year(DateInterval):
    """A calendar year."""

    def __init__(self, y: int):
        super().__init__(datetime.date(y, 1, 1), datetime.date(y + 1, 1, 1))

    def to_string(self) -> str:
        return self.date_a.strftime("%Y")

    @classmethod
    def from_date(cls, d: datetime.date) -> Year:
        return Year(d.year)

    @classmethod
    def parse(cls, s: str) -> Year | None:
        if _YEAR_RE.match(s):
            return Year(int(s))
        return None


class Custom(DateInterval):
    """An arbitrary range ``Custom(date_a, date_b)``, written ``A-B`` (both ``YYYY-MM-DD``).

    It has no kind to step by, so :meth:`prev` and :meth:`next` raise
    ``NotImplementedError``.
    """

    def to_string(self) -> str:
        return f"{_iso_date(self.date_a)}-{_iso_date(self.date_b)}"

    @classmethod
    def parse(cls, s: str) -> Custom | None:
        if _CUSTOM_RE.match(s):
            x = list(map(int, s.split("-")))
            return Custom(datetime.date(*x[:3]), datetime.date(*x[3:]))
        return None
