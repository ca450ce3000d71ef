"""Date and time parameters (part of :mod:`nbpipe.parameter`, which re-exports them)."""

from __future__ import annotations

import datetime
import re
import warnings
from typing import Any

from nbpipe import date_interval
from nbpipe.params.base import Parameter, _is_number, _no_value

_EPOCH = datetime.datetime(1970, 1, 1)
_DATE = datetime.date
_DATETIME = datetime.datetime


# -- dates and times -----------------------------------------------------------------


class _DateParameterBase(Parameter):
    """A ``datetime.date`` written with ``date_format``, clamped to every
    ``interval``-th unit counted from ``start`` (default 1970-01-01)."""

    date_format = "%Y-%m-%d"
    _form = "a date YYYY-MM-DD"

    def __init__(self, default: Any = _no_value, interval: int = 1, start: datetime.date | None = None, **kwargs: Any):
        super().__init__(default=default, **kwargs)
        self.interval = interval
        self.start = start if start is not None else _EPOCH.date()

    def parse(self, s: Any) -> datetime.date:
        try:
            return _DATETIME.strptime(s, self.date_format).date()
        except (ValueError, TypeError):
            raise self._invalid(s) from None

    def serialize(self, dt: Any) -> str:
        return "None" if dt is None else dt.strftime(self.date_format)

    def expected_form(self) -> str:
        return self._form

    def _coerce(self, value: Any) -> Any:
        if not isinstance(value, _DATE):
            raise TypeError(f"not a date: {value!r}")
        return self.normalize(value)


class DateParameter(_DateParameterBase):
    """A date ``YYYY-MM-DD``; enumerable by ``interval`` days."""

    def serialize(self, dt: Any) -> str:
        if type(dt) is _DATE and dt.year >= 1000:
            return dt.isoformat()
        return super().serialize(dt)

    def normalize(self, x: Any) -> Any:
        if type(x) is _DATE and self.interval == 1:
            return x
        if x is None:
            return None
        if isinstance(x, _DATETIME):
            x = x.date()
        elif not isinstance(x, _DATE):
            raise TypeError(f"{type(self).__name__}: expected {self._form} as a datetime.date, got {x!r}")
        delta = (x - self.start).days % self.interval
        return x - datetime.timedelta(days=delta) if delta else x

    def next_in_enumeration(self, value: datetime.date) -> datetime.date:
        return value + datetime.timedelta(days=self.interval)


class MonthParameter(DateParameter):
    """A month ``YYYY-MM``; the value is the first day of the month.
    Accepts dates (the day is ignored) and :class:`date_interval.Month`."""

    date_format = "%Y-%m"
    _form = "a month YYYY-MM"

    def serialize(self, dt: Any) -> str:
        if type(dt) is _DATE and dt.year >= 1000:
            return f"{dt.year}-{dt.month:02d}"
        return _DateParameterBase.serialize(self, dt)

    @staticmethod
    def _add_months(d: datetime.date, months: int) -> datetime.date:
        year = d.year + (d.month + months - 1) // 12
        month = (d.month + months - 1) % 12 + 1
        return _DATE(year, month, 1)

    def next_in_enumeration(self, value: datetime.date) -> datetime.date:
        return self._add_months(value, self.interval)

    def normalize(self, x: Any) -> Any:
        if type(x) is _DATE and x.day == 1 and self.interval == 1:
            return x
        if x is None:
            return None
        if isinstance(x, date_interval.Month):
            x = x.date_a
        months = (x.year - self.start.year) * 12 + (x.month - self.start.month)
        return self._add_months(self.start, months - months % self.interval)


class YearParameter(DateParameter):
    """A year ``YYYY``; the value is January 1st.
    Accepts dates (month and day ignored), :class:`date_interval.Year` and, from
    TOML, an integer year."""

    date_format = "%Y"
    _form = "a year YYYY"

    def serialize(self, dt: Any) -> str:
        if type(dt) is _DATE and dt.year >= 1000:
            return str(dt.year)
        return _DateParameterBase.serialize(self, dt)

    def next_in_enumeration(self, value: datetime.date) -> datetime.date:
        return value.replace(year=value.year + self.interval)

    def normalize(self, x: Any) -> Any:
        if type(x) is _DATE and x.month == 1 and x.day == 1 and self.interval == 1:
            return x
        if x is None:
            return None
        if isinstance(x, date_interval.Year):
            x = x.date_a
        delta = (x.year - self.start.year) % self.interval
        return _DATE(x.year - delta, 1, 1)

    def _coerce(self, value: Any) -> Any:
        if type(value) is int:
            value = _DATE(value, 1, 1)
        return super()._coerce(value)


class _DatetimeParameterBase(Parameter):
    """A naive ``datetime.datetime`` written with ``date_format``, truncated to
    whole seconds and clamped to every ``interval`` × ``_timedelta`` from
    ``start`` (default 1970-01-01T00:00:00).  Dates count as midnight."""

    date_format = ""
    _timedelta = datetime.timedelta(seconds=1)
    _timespec = "seconds"  # datetime.isoformat timespec giving the same text (minus ':')
    _form = ""

    def __init__(
        self, default: Any = _no_value, interval: int = 1, start: datetime.datetime | None = None, **kwargs: Any
    ):
        super().__init__(default=default, **kwargs)
        self.interval = interval
        self.start = start if start is not None else _EPOCH

    def parse(self, s: Any) -> datetime.datetime:
        try:
            return _DATETIME.strptime(s, self.date_format)
        except (ValueError, TypeError):
            raise self._invalid(s) from None

    def serialize(self, dt: Any) -> str:
        if type(dt) is _DATETIME and dt.tzinfo is None and dt.year >= 1000:
            return dt.isoformat(timespec=self._timespec).replace(":", "")
        return "None" if dt is None else dt.strftime(self.date_format)

    def normalize(self, dt: Any) -> Any:
        if dt is None:
            return None
        if not isinstance(dt, _DATETIME):
            if not isinstance(dt, _DATE):
                raise TypeError(f"{type(self).__name__}: expected {self._form} as a datetime.datetime, got {dt!r}")
            dt = _DATETIME.combine(dt, datetime.time.min)
        if dt.microsecond:
            dt = dt.replace(microsecond=0)
        rem = (dt - self.start) % (self._timedelta * self.interval)
        return dt - rem if rem else dt

    def next_in_enumeration(self, value: datetime.datetime) -> datetime.datetime:
        return value + self._timedelta * self.interval

    def expected_form(self) -> str:
        return self._form

    def _coerce(self, value: Any) -> Any:
        if not isinstance(value, _DATE):
            raise TypeError(f"not a date or datetime: {value!r}")
        return self.normalize(value)


class DateHourParameter(_DatetimeParameterBase):
    """A datetime to the hour, ``YYYY-MM-DDTHH`` (e.g. ``2013-07-10T19``)."""

    date_format = "%Y-%m-%dT%H"
    _timedelta = datetime.timedelta(hours=1)
    _timespec = "hours"
    _form = "a date and hour YYYY-MM-DDTHH"


class DateMinuteParameter(_DatetimeParameterBase):
    """A datetime to the minute, ``YYYY-MM-DDTHHMM`` (e.g. ``2013-07-10T1907``).
    The old form ``YYYY-MM-DDTHHHMM`` is accepted with a DeprecationWarning."""

    date_format = "%Y-%m-%dT%H%M"
    deprecated_date_format = "%Y-%m-%dT%HH%M"
    _timedelta = datetime.timedelta(minutes=1)
    _timespec = "minutes"
    _form = "a date and time YYYY-MM-DDTHHMM"

    def parse(self, x: Any) -> datetime.datetime:
        if isinstance(x, str) and "H" in x:
            try:
                value = _DATETIME.strptime(x, self.deprecated_date_format)
            except ValueError:
                pass
            else:
                warnings.warn(
                    'Using "H" between hours and minutes is deprecated, omit it instead.',
                    DeprecationWarning,
                    stacklevel=2,
                )
                return value
        return super().parse(x)


class DateSecondParameter(_DatetimeParameterBase):
    """A datetime to the second, ``YYYY-MM-DDTHHMMSS`` (e.g. ``2013-07-10T190738``)."""

    date_format = "%Y-%m-%dT%H%M%S"
    _timedelta = datetime.timedelta(seconds=1)
    _timespec = "seconds"
    _form = "a date and time YYYY-MM-DDTHHMMSS"


class DateIntervalParameter(Parameter):
    """A :class:`date_interval.DateInterval`: ``2015``, ``2015-05``, ``2015-W35``,
    ``2015-11-04`` or ``2015-11-04-2015-12-04``."""

    def parse(self, x: Any) -> date_interval.DateInterval:
        for kind in (
            date_interval.Year,
            date_interval.Month,
            date_interval.Week,
            date_interval.Date,
            date_interval.Custom,
        ):
            try:
                interval = kind.parse(x)
            except (ValueError, TypeError):
                raise self._invalid(x) from None
            if interval is not None:
                return interval
        raise self._invalid(x)

    def expected_form(self) -> str:
        return "a date interval YYYY, YYYY-MM, YYYY-Www, YYYY-MM-DD or YYYY-MM-DD-YYYY-MM-DD"

    def _coerce(self, value: Any) -> Any:
        if isinstance(value, date_interval.DateInterval):
            return value
        if isinstance(value, _DATE) and not isinstance(value, _DATETIME):
            return date_interval.Date.from_date(value)
        raise TypeError(f"not a date interval: {value!r}")


def _duration_regexes() -> tuple[re.Pattern, re.Pattern]:
    def field(key: str) -> str:
        return rf"(?P<{key}>\d+){key[0].upper()}"

    opt = "".join(f"({field(k)})?" for k in ("hours", "minutes", "seconds"))
    iso = re.compile(f"P({field('weeks')}|({field('days')})?(T{opt})?)")
    keys = ("weeks", "days", "hours", "minutes", "seconds")
    simple = re.compile("".join(rf"((?P<{k}>\d+) ?{k[0]}({k[1:-1]})?({k[-1]})? ?)?" for k in keys))
    return iso, simple


_ISO_DURATION_RE, _SIMPLE_DURATION_RE = _duration_regexes()


def _match_duration(regex: re.Pattern, text: str) -> datetime.timedelta | None:
    m = regex.match(text)
    if m and any(m.groups()):
        return datetime.timedelta(**{k: int(v) for k, v in m.groupdict(default="0").items()})
    return None


class TimeDeltaParameter(Parameter):
    """A ``datetime.timedelta``, written as seconds (``90``, ``1.5``), as
    ``n w[eeks] n d[ays] n h[ours] n m[inutes] n s[econds]`` (longest unit first),
    or as ISO 8601 ``PnDTnHnMnS`` / ``PnW`` (no years or months)."""

    def parse(self, x: Any) -> datetime.timedelta:
        try:
            return datetime.timedelta(seconds=float(x))
        except (ValueError, TypeError, OverflowError):
            pass
        if isinstance(x, str):
            result = _match_duration(_ISO_DURATION_RE, x) or _match_duration(_SIMPLE_DURATION_RE, x)
            if result is not None:
                return result
        raise self._invalid(x, f"Invalid time delta - could not parse {x}")

    def serialize(self, x: datetime.timedelta) -> str:
        weeks, days = divmod(x.days, 7)
        hours, rest = divmod(x.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        return f"{weeks} w {days} d {hours} h {minutes} m {seconds} s"

    def expected_form(self) -> str:
        return "a duration: seconds, '1 w 2 d 3 h 4 m 5 s' or ISO 8601 like P1DT2H"

    def _coerce(self, value: Any) -> datetime.timedelta:
        if isinstance(value, datetime.timedelta):
            return value
        if _is_number(value):
            return datetime.timedelta(seconds=value)
        raise TypeError(f"not a duration: {value!r}")

    def _warn_on_wrong_param_type(self, param_name: str, param_value: Any) -> None:
        if type(self) is TimeDeltaParameter and not isinstance(param_value, datetime.timedelta):
            self._warn_once(
                param_name, f'Parameter "{param_name}" with value "{param_value}" is not of type timedelta.'
            )
