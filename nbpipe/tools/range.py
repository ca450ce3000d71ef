"""Luigi's ``luigi.tools.range``: keep a contiguous range of a recurring task complete.

``RangeDaily(of=Report, start=date(2024, 1, 1))`` is a wrapper task that
requires the instances of ``Report`` (a task with one date parameter) whose
outputs are missing, from ``start`` (or ``days_back`` before now, whichever
is later) up to ``stop`` (or ``days_forward`` after now), oldest first and at
most ``task_limit`` of them (newest first with ``reverse=True``).  Rerun it
on a schedule and gaps left by downtime fill themselves.

The classes: ``RangeDailyBase`` / ``RangeHourlyBase`` / ``RangeByMinutesBase``
check each instance's ``complete()``; ``RangeDaily`` / ``RangeHourly`` /
``RangeByMinutes`` first try the task class's ``bulk_complete``, then infer
completeness from file listings (:mod:`nbpipe.tools.range_inference`);
``RangeMonthly`` checks each month's ``complete()``.  Each ``requires()``
fires :class:`RangeEvent` events with the family of ``of``.  ``of_params``
gives the other parameters of ``of``; ``param_name`` names the ranged
parameter when it is not ``of``'s first positional one.
"""

from __future__ import annotations

import functools
import logging
import time
import warnings
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from nbpipe.event import Event
from nbpipe.exceptions import ParameterException
from nbpipe.parameter import (
    BoolParameter,
    DateHourParameter,
    DateMinuteParameter,
    DateParameter,
    DictParameter,
    IntParameter,
    MonthParameter,
    OptionalParameter,
    Parameter,
    TaskParameter,
)
from nbpipe.task import Task, WrapperTask
from nbpipe.task_register import Register
from nbpipe.tools.range_inference import (
    _constrain_glob,
    _get_filesystems_and_globs,
    _list_existing,
    infer_bulk_complete_from_fs,
    most_common,
)

__all__ = [
    "RangeBase",
    "RangeByMinutes",
    "RangeByMinutesBase",
    "RangeDaily",
    "RangeDailyBase",
    "RangeEvent",
    "RangeHourly",
    "RangeHourlyBase",
    "RangeMonthly",
    "_constrain_glob",
    "_get_filesystems_and_globs",
    "_list_existing",
    "infer_bulk_complete_from_fs",
    "most_common",
]

logger = logging.getLogger("luigi-interface")


class RangeEvent(Event):
    """Events a range task fires on each ``requires()``, with ``(family of of, value)``.

    ``COMPLETE_COUNT``: how many instances of the range are complete.
    ``COMPLETE_FRACTION``: that count over the range's size (1.0 when empty).
    ``DELAY``: how many instances lie from the first missing one to the end
    of the range (0 when none is missing).  The range is the finite one
    examined, widened to ``start`` / ``stop`` when they are given.
    """

    COMPLETE_COUNT = "event.tools.range.complete.count"
    COMPLETE_FRACTION = "event.tools.range.complete.fraction"
    DELAY = "event.tools.range.delay"


def _utc_now(now: float | None) -> datetime:
    """``now`` seconds since the epoch (the clock when None) as a naive UTC datetime."""
    return datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc).replace(tzinfo=None)


def _steps(first: datetime, step: timedelta, start: datetime, stop: datetime) -> list[datetime]:
    """``first``, ``first + step``, … that lie in ``[start, stop)``."""
    out = []
    t = first
    while t < stop:
        if t >= start:
            out.append(t)
        t += step
    return out


class RangeBase(WrapperTask):
    """Requires the missing instances of ``of`` in a range of instants; subclasses say which instants.

    A subclass gives ``start`` / ``stop`` their parameter type and defines
    the conversions and the moving window (the abstract methods below).  At
    least one of ``start`` and ``stop`` is needed, and ``start`` unless
    ``reverse``.  ``requires()`` is computed once per instance.
    """

    of = TaskParameter(description="the task to keep complete; it takes one date-like parameter")
    of_params = DictParameter(default={}, description="other parameters to give each instance of 'of'")
    start = Parameter()
    stop = Parameter()
    reverse = BoolParameter(
        default=False,
        description="fill the newest missing instances first (default: the oldest first)",
    )
    task_limit = IntParameter(default=50, description="require at most this many instances at once")
    now = IntParameter(default=None, description="the current time in seconds since the epoch (default: the clock)")
    param_name = OptionalParameter(
        default=None,
        description="the parameter of 'of' that takes the instant (default: its first positional parameter)",
        positional=False,
    )

    # -- what subclasses define ----------------------------------------------

    def datetime_to_parameter(self, dt: datetime) -> Any:
        """The value of the ranged parameter for instant ``dt``."""
        raise NotImplementedError

    def parameter_to_datetime(self, p: Any) -> datetime:
        """The instant a value of the ranged parameter stands for."""
        raise NotImplementedError

    def datetime_to_parameters(self, dt: datetime) -> dict[str, Any]:
        """The keyword arguments of ``of`` for instant ``dt`` (``of_params`` included)."""
        return self._task_parameters(self.datetime_to_parameter(dt))

    def parameters_to_datetime(self, p: dict[str, Any]) -> datetime:
        """The instant named by the keyword arguments ``p`` of ``of``."""
        return self.parameter_to_datetime(p[self._param_name])

    def moving_start(self, now: datetime) -> datetime:
        """The earliest instant examined when ``start`` is earlier or not given."""
        raise NotImplementedError

    def moving_stop(self, now: datetime) -> datetime:
        """The instant examination stops at when ``stop`` is later or not given."""
        raise NotImplementedError

    def finite_datetimes(self, finite_start: datetime, finite_stop: datetime) -> list[datetime]:
        """The instants of the range in ``[finite_start, finite_stop)``, sorted."""
        raise NotImplementedError

    def missing_datetimes(self, finite_datetimes: list[datetime]) -> list[datetime]:
        """The instants of ``finite_datetimes`` whose task is not complete.

        This base asks each instance's ``complete()``; subclasses override it
        with bulk checks.
        """
        return [d for d in finite_datetimes if not self._instantiate_task_cls(self.datetime_to_parameter(d)).complete()]

    # -- the range -----------------------------------------------------------

    @property
    def of_cls(self) -> type:
        """The task class of ``of`` (looked up by name, with a warning, when a string was given)."""
        if isinstance(self.of, str):
            warnings.warn('When using Range programatically, dont pass "of" param as string!', stacklevel=2)
            return Register.get_task_cls(self.of)
        return self.of

    @property
    def _param_name(self) -> str:
        if self.param_name is not None:
            return self.param_name
        return next(name for name, param in self.of_cls.get_params() if param.positional)

    def _task_parameters(self, param: Any) -> dict[str, Any]:
        kwargs = dict(self.of_params)
        kwargs[self._param_name] = param
        return kwargs

    def _instantiate_task_cls(self, param: Any) -> Any:
        return self.of_cls(**self._task_parameters(param))

    def _format_datetime(self, dt: datetime) -> str:
        return str(self.datetime_to_parameter(dt))

    def _format_range(self, datetimes: Sequence[datetime]) -> str:
        return f"[{self._format_datetime(datetimes[0])}, {self._format_datetime(datetimes[-1])}]"

    def _missing_datetimes(self, finite_datetimes: list[datetime]) -> list[datetime]:
        """``missing_datetimes``, also when a subclass still defines Luigi's old ``(task_cls, datetimes)`` form."""
        try:
            return self.missing_datetimes(finite_datetimes)
        except TypeError as exc:
            if "missing_datetimes()" not in str(exc):
                raise
            warnings.warn(
                "In your Range* subclass, missing_datetimes() should only take 1 argument (see latest docs)",
                stacklevel=2,
            )
            return self.missing_datetimes(self.of_cls, finite_datetimes)  # type: ignore[call-arg]

    def _emit_metrics(self, missing: list[datetime], finite_start: datetime, finite_stop: datetime) -> None:
        start = finite_start if self.start is None else min(finite_start, self.parameter_to_datetime(self.start))
        stop = finite_stop if self.stop is None else max(finite_stop, self.parameter_to_datetime(self.stop))
        datetimes = self.finite_datetimes(start, stop)
        family = self.of_cls.get_task_family()
        delay = len(datetimes) - datetimes.index(missing[0]) if datetimes and missing else 0
        self.trigger_event(RangeEvent.DELAY, family, delay)
        complete = len(datetimes) - len(missing)
        self.trigger_event(RangeEvent.COMPLETE_COUNT, family, complete)
        self.trigger_event(RangeEvent.COMPLETE_FRACTION, family, complete / len(datetimes) if datetimes else 1)

    def requires(self) -> list[Any]:
        cached = self.__dict__.get("_cached_requires")
        if cached is not None:
            return cached
        if not self.start and not self.stop:
            raise ParameterException("At least one of start and stop needs to be specified")
        if not self.start and not self.reverse:
            raise ParameterException("Either start needs to be specified or reverse needs to be True")
        if self.start and self.stop and self.start > self.stop:
            raise ParameterException("Can't have start > stop")

        now = _utc_now(self.now)
        finite_start = self.moving_start(now)
        if self.start is not None:
            finite_start = max(finite_start, self.parameter_to_datetime(self.start))
        finite_stop = self.moving_stop(now)
        if self.stop is not None:
            finite_stop = min(finite_stop, self.parameter_to_datetime(self.stop))
        datetimes = self.finite_datetimes(finite_start, finite_stop) if finite_start <= finite_stop else []

        family = self.of_cls.get_task_family()
        if datetimes:
            missing = sorted(self._missing_datetimes(datetimes))
            logger.debug(
                "Range %s lacked %d of expected %d %s instances",
                self._format_range(datetimes),
                len(missing),
                len(datetimes),
                family,
            )
        else:
            missing = []
            logger.debug("Empty range. No %s instances expected", family)
        self._emit_metrics(missing, finite_start, finite_stop)

        if self.reverse:
            # The newest ``task_limit``, newest first.
            chosen = missing[-self.task_limit :] if self.task_limit > 0 else []
            chosen.reverse()
        else:
            chosen = missing[: self.task_limit]
        if chosen:
            logger.debug(
                "Requiring %d missing %s instances in range %s", len(chosen), family, self._format_range(chosen)
            )
        required = [self._instantiate_task_cls(self.datetime_to_parameter(d)) for d in chosen]
        self.__dict__["_cached_requires"] = required
        return required


class _BulkMissing:
    """``missing_datetimes`` from ``of``'s ``bulk_complete``, else from file listings.

    Mixed into the Range classes that take a strftime pattern with one group
    per date field (``_FIELDS_RE``).
    """

    _FIELDS_RE = ""

    def missing_datetimes(self, finite_datetimes: list[datetime]) -> list[datetime]:
        task: Any = self
        of = task.of_cls
        # bulk_complete is a classmethod of ``of``; called with a partial of
        # the class so that ``cls(value)`` inside it gets ``of_params`` too.
        with_params = functools.partial(of, **dict(task.of_params))
        bulk = getattr(of.bulk_complete, "__func__", None)
        # Task's own bulk_complete only raises NotImplementedError, and reads
        # the family off its first argument, which a partial does not have.
        if bulk is not None and bulk is not Task.bulk_complete.__func__:  # type: ignore[attr-defined]
            try:
                complete = bulk(with_params, [task.datetime_to_parameter(d) for d in finite_datetimes])
            except NotImplementedError:
                pass
            else:
                done = {task.parameter_to_datetime(p) for p in complete}
                return [d for d in finite_datetimes if d not in done]
        return infer_bulk_complete_from_fs(
            finite_datetimes,
            lambda d: task._instantiate_task_cls(task.datetime_to_parameter(d)),
            lambda d: d.strftime(self._FIELDS_RE),
        )


class RangeDailyBase(RangeBase):
    """A range of days; ``of`` takes a ``DateParameter``."""

    start = DateParameter(default=None, description="first day, inclusive (default: none; needs reverse=True)")
    stop = DateParameter(default=None, description="last day, exclusive (default: none, forward forever)")
    days_back = IntParameter(
        default=100,
        description="examine at most this many days before now; keep it within the outputs' retention",
    )
    days_forward = IntParameter(default=0, description="examine up to this many days after now")

    def datetime_to_parameter(self, dt: datetime) -> date:
        return dt.date()

    def parameter_to_datetime(self, p: date) -> datetime:
        return datetime(p.year, p.month, p.day)

    def moving_start(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days_back)

    def moving_stop(self, now: datetime) -> datetime:
        return now + timedelta(days=self.days_forward)

    def finite_datetimes(self, finite_start: datetime, finite_stop: datetime) -> list[datetime]:
        """Midnights in ``[finite_start, finite_stop)``."""
        first = datetime(finite_start.year, finite_start.month, finite_start.day)
        return _steps(first, timedelta(days=1), finite_start, finite_stop)


class RangeHourlyBase(RangeBase):
    """A range of hours; ``of`` takes a ``DateHourParameter``."""

    start = DateHourParameter(default=None, description="first hour, inclusive (default: none; needs reverse=True)")
    stop = DateHourParameter(default=None, description="last hour, exclusive (default: none, forward forever)")
    hours_back = IntParameter(
        default=100 * 24,
        description="examine at most this many hours before now; keep it within the outputs' retention",
    )
    hours_forward = IntParameter(default=0, description="examine up to this many hours after now")

    def datetime_to_parameter(self, dt: datetime) -> datetime:
        return dt

    def parameter_to_datetime(self, p: datetime) -> datetime:
        return p

    def moving_start(self, now: datetime) -> datetime:
        return now - timedelta(hours=self.hours_back)

    def moving_stop(self, now: datetime) -> datetime:
        return now + timedelta(hours=self.hours_forward)

    def finite_datetimes(self, finite_start: datetime, finite_stop: datetime) -> list[datetime]:
        """Whole hours in ``[finite_start, finite_stop)``."""
        first = finite_start.replace(minute=0, second=0, microsecond=0)
        return _steps(first, timedelta(hours=1), finite_start, finite_stop)

    def _format_datetime(self, dt: datetime) -> str:
        return DateHourParameter().serialize(dt)


class RangeByMinutesBase(RangeBase):
    """A range of instants ``minutes_interval`` minutes apart; ``of`` takes a ``DateMinuteParameter``."""

    start = DateMinuteParameter(default=None, description="first minute, inclusive (default: none; needs reverse=True)")
    stop = DateMinuteParameter(default=None, description="last minute, exclusive (default: none, forward forever)")
    minutes_back = IntParameter(
        default=60 * 24,
        description="examine at most this many minutes before now; keep it within the outputs' retention",
    )
    minutes_forward = IntParameter(default=0, description="examine up to this many minutes after now")
    minutes_interval = IntParameter(default=1, description="minutes between instances; must divide 60")

    def datetime_to_parameter(self, dt: datetime) -> datetime:
        return dt

    def parameter_to_datetime(self, p: datetime) -> datetime:
        return p

    def moving_start(self, now: datetime) -> datetime:
        return now - timedelta(minutes=self.minutes_back)

    def moving_stop(self, now: datetime) -> datetime:
        return now + timedelta(minutes=self.minutes_forward)

    def finite_datetimes(self, finite_start: datetime, finite_stop: datetime) -> list[datetime]:
        """Instants in ``[finite_start, finite_stop)`` whose minute is a multiple of ``minutes_interval``."""
        step = self.minutes_interval
        if not 0 < step < 60:
            raise ParameterException("minutes-interval must be within 0..60")
        if 60 % step:
            raise ParameterException("minutes-interval does not evenly divide 60")
        first = finite_start.replace(minute=finite_start.minute - finite_start.minute % step, second=0, microsecond=0)
        return _steps(first, timedelta(minutes=step), finite_start, finite_stop)

    def _format_datetime(self, dt: datetime) -> str:
        return DateMinuteParameter().serialize(dt)


def _month_start(dt: datetime) -> datetime:
    return datetime(dt.year, dt.month, 1)


def _add_months(dt: datetime, months: int) -> datetime:
    """The first of the month ``months`` after (or before, when negative) ``dt``'s month."""
    index = dt.year * 12 + dt.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 1)


class RangeMonthly(RangeBase):
    """A range of months; ``of`` takes a ``MonthParameter``.  Each month's ``complete()`` is asked."""

    start = MonthParameter(default=None, description="first month, inclusive (default: none; needs reverse=True)")
    stop = MonthParameter(default=None, description="last month, exclusive (default: none, forward forever)")
    months_back = IntParameter(
        default=13,
        description="examine at most this many months before now; keep it within the outputs' retention",
    )
    months_forward = IntParameter(default=0, description="examine up to this many months after now")

    def datetime_to_parameter(self, dt: datetime) -> date:
        return date(dt.year, dt.month, 1)

    def parameter_to_datetime(self, p: date) -> datetime:
        return datetime(p.year, p.month, 1)

    def _format_datetime(self, dt: datetime) -> str:
        return dt.strftime("%Y-%m")

    def moving_start(self, now: datetime) -> datetime:
        return _add_months(now, -self.months_back)

    def moving_stop(self, now: datetime) -> datetime:
        return _add_months(now, self.months_forward)

    def finite_datetimes(self, finite_start: datetime, finite_stop: datetime) -> list[datetime]:
        """Firsts of months in ``[finite_start, finite_stop)``, the stop taken at the start of its month."""
        out = []
        t = _month_start(finite_start)
        stop = _month_start(finite_stop)
        while t < stop:
            if t >= finite_start:
                out.append(t)
            t = _add_months(t, 1)
        return out


class RangeDaily(_BulkMissing, RangeDailyBase):
    """``RangeDailyBase`` checking completeness in bulk: ``nbpipe RangeDaily --of Report --start 2024-01-01``."""

    _FIELDS_RE = "(%Y).*(%m).*(%d)"


class RangeHourly(_BulkMissing, RangeHourlyBase):
    """``RangeHourlyBase`` checking completeness in bulk: ``nbpipe RangeHourly --of Load --start 2024-01-01T00``."""

    _FIELDS_RE = "(%Y).*(%m).*(%d).*(%H)"


class RangeByMinutes(_BulkMissing, RangeByMinutesBase):
    """``RangeByMinutesBase`` checking completeness in bulk: ``nbpipe RangeByMinutes --of Poll --start 2024-01-01T0000``."""

    _FIELDS_RE = "(%Y).*(%m).*(%d).*(%H).*(%M)"
