"""Task parameters, compatible with Luigi's ``luigi.parameter`` module.

A parameter object sits on a task class and describes one argument of the
task.  Every parameter class implements the same contract:

``parse(text)``
    The value written ``text`` (command line, INI config, serialised task).
    Bad text raises :class:`ParameterValueError` (a ``ValueError`` *and* a
    :class:`ParameterException`) whose one-line message ends with
    ``expected <expected_form()>``.
``serialize(value) -> str``
    The inverse of ``parse``; identical to Luigi's output, so task ids agree.
``normalize(value)``
    The canonical, hashable form of a value given in code, by ``parse`` or
    as a default.  Called for every parameter of every task instance, so it
    is cheap when the value is already canonical.
``next_in_enumeration(value)``
    The next value in the parameter's natural order, or ``None``.
``expected_form() -> str``
    A short description of the accepted text, e.g. ``"an integer"``.
``_get_value(task_family, param_name)``
    The normalised value from the configuration (section ``task_family``,
    option ``param_name``, then ``config_path``), else the normalised
    default, else the sentinel :data:`_no_value`.

Parameters do not act as descriptors: the task layer stores values in the
instance ``__dict__``, where they shadow the class attribute.
"""

from __future__ import annotations

import datetime
import json
import operator
import re
import threading
import warnings
from ast import literal_eval
from collections.abc import Mapping
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any, Callable, Iterable

from . import config as _config
from . import date_interval
from .freezing import FrozenOrderedDict, recursively_freeze, recursively_unfreeze

__all__ = [
    "ParameterVisibility", "ParameterException", "MissingParameterException",
    "UnknownParameterException", "DuplicateParameterException", "ParameterValueError",
    "ParameterTypeWarning", "OptionalParameterTypeWarning", "UnconsumedParameterWarning",
    "Parameter", "OptionalParameterMixin", "OptionalParameter", "StrParameter",
    "OptionalStrParameter", "IntParameter", "OptionalIntParameter", "FloatParameter",
    "OptionalFloatParameter", "BoolParameter", "OptionalBoolParameter", "NumericalParameter",
    "OptionalNumericalParameter", "ChoiceParameter", "ChoiceListParameter",
    "OptionalChoiceParameter", "DateParameter", "MonthParameter", "YearParameter",
    "DateHourParameter", "DateMinuteParameter", "DateSecondParameter", "DateIntervalParameter",
    "TimeDeltaParameter", "TaskParameter", "EnumParameter", "EnumListParameter",
    "DictParameter", "OptionalDictParameter", "ListParameter", "OptionalListParameter",
    "TupleParameter", "OptionalTupleParameter", "PathParameter", "OptionalPathParameter",
]


class _NoValueType:
    """Type of the :data:`_no_value` sentinel ("no value given"); a singleton."""

    _instance: "_NoValueType | None" = None

    def __new__(cls) -> "_NoValueType":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no_value>"

    def __reduce__(self) -> str:
        return "_no_value"  # pickles by reference: stays the same object


_no_value = _NoValueType()


class ParameterVisibility(IntEnum):
    """Who sees a parameter: PUBLIC everywhere, HIDDEN not in the task id
    shown to the scheduler, PRIVATE never serialised."""

    PUBLIC = 0
    HIDDEN = 1
    PRIVATE = 2

    @classmethod
    def has_value(cls, value: object) -> bool:
        return any(value == item.value for item in cls)

    def serialize(self) -> int:
        return self.value


class ParameterException(Exception):
    """Base class of parameter errors."""


class MissingParameterException(ParameterException):
    """A parameter has no value (none given, none configured, no default)."""


class UnknownParameterException(ParameterException):
    """A value was given for a parameter the task does not have."""


class DuplicateParameterException(ParameterException):
    """A parameter was given more than once."""


class ParameterValueError(ParameterException, ValueError):
    """A value a parameter cannot accept; the message is one line:
    ``"<reason>: expected <form>"`` (reason defaults to ``invalid value <value!r>``)."""

    def __init__(self, value: Any, form: str, reason: str | None = None):
        self.value, self.form, self.reason = value, form, reason
        super().__init__(f"{reason or f'invalid value {value!r}'}: expected {form}")

    def __reduce__(self):
        return (type(self), (self.value, self.form, self.reason))


class ParameterTypeWarning(UserWarning):
    """A task was given a value whose type does not fit its parameter."""


class OptionalParameterTypeWarning(ParameterTypeWarning):
    """An optional parameter was given a value of the wrong type (not None)."""


class UnconsumedParameterWarning(UserWarning):
    """A configured parameter is not consumed by the task."""


_counter_lock = threading.Lock()
_EPOCH = datetime.datetime(1970, 1, 1)
_DATE = datetime.date
_DATETIME = datetime.datetime


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Parameter:
    """A parameter whose value is a ``str`` (by convention), and the base class.

    ``default`` is the value when none is given or configured.  ``significant``
    parameters make up the task id.  ``positional`` ones may be passed by
    position.  ``config_path={"section": s, "name": n}`` is a deprecated
    extra config location.  ``batch_method`` is stored but batching is not
    implemented.  ``_counter`` orders parameters by creation.
    """

    _counter = 0

    def __init__(
        self,
        default: Any = _no_value,
        is_global: bool = False,
        significant: bool = True,
        description: str | None = None,
        config_path: dict | None = None,
        positional: bool = True,
        always_in_help: bool = False,
        batch_method: Callable[[Iterable[Any]], Any] | None = None,
        visibility: ParameterVisibility = ParameterVisibility.PUBLIC,
    ):
        self._default = default
        self._batch_method = batch_method
        if is_global:
            warnings.warn("is_global support is removed. Assuming positional=False", DeprecationWarning, stacklevel=2)
            positional = False
        self.significant = significant
        self.positional = positional
        try:
            self.visibility = ParameterVisibility(visibility)
        except (ValueError, TypeError):
            self.visibility = ParameterVisibility.PUBLIC
        self.description = description
        self.always_in_help = always_in_help
        if config_path is not None and ("section" not in config_path or "name" not in config_path):
            raise ParameterException("config_path must be a hash containing entries for section and name")
        self._config_path = config_path
        with _counter_lock:
            self._counter = Parameter._counter
            Parameter._counter += 1

    # -- the value contract (overridden by subclasses) ---------------------------

    def parse(self, x: Any) -> Any:
        """The value written ``x``; the identity here."""
        return x

    def serialize(self, x: Any) -> str:
        """The text of value ``x`` (inverse of :meth:`parse`)."""
        return str(x)

    def normalize(self, x: Any) -> Any:
        """The canonical form of ``x``; the identity here."""
        return x

    def next_in_enumeration(self, value: Any) -> Any:
        """The value after ``value`` (e.g. ``value + 1``), or ``None`` if unordered."""
        return None

    def expected_form(self) -> str:
        """Short description of the accepted text, for help and error messages."""
        return "a string"

    def _coerce(self, value: Any) -> Any:
        """The normalised value of a non-string configuration value (TOML)."""
        return self.normalize(value)

    def _invalid(self, value: Any, reason: str | None = None) -> ParameterValueError:
        return ParameterValueError(value, self.expected_form(), reason)

    # -- defaults from configuration ------------------------------------------

    def _get_value_from_config(self, section: str, name: str) -> Any:
        """The normalised value of ``[section] name``, or ``_no_value`` if unset.

        Strings go through :meth:`parse`, other (TOML) values are converted;
        a bad value raises :class:`ParameterException` naming all four of
        section, option, value and expected form.
        """
        raw = _config.get_config().get(section, name)
        if raw is None:
            return _no_value
        try:
            if isinstance(raw, str):
                return self.normalize(self.parse(raw))
            return self._coerce(raw)
        except Exception as exc:
            raise ParameterException(f"[{section}] {name} = {raw!r}: expected {self.expected_form()}") from exc

    def _get_value(self, task_family: str, param_name: str) -> Any:
        """Configured value, else normalised default, else ``_no_value``."""
        value = self._get_value_from_config(task_family, param_name)
        if value is not _no_value:
            return value
        cp = self._config_path
        if cp:
            value = self._get_value_from_config(cp["section"], cp["name"])
            if value is not _no_value:
                warnings.warn(
                    f"The use of the configuration [{cp['section']}] {cp['name']} is deprecated. "
                    f"Please use [{task_family}] {param_name}",
                    DeprecationWarning,
                )
                return value
        if self._default is _no_value:
            return _no_value
        return self.normalize(self._default)

    def has_task_value(self, task_family: str, param_name: str) -> bool:
        return self._get_value(task_family, param_name) is not _no_value

    def task_value(self, task_family: str, param_name: str) -> Any:
        value = self._get_value(task_family, param_name)
        if value is _no_value:
            raise MissingParameterException("No default specified")
        return value

    def _parse_or_no_value(self, x: Any) -> Any:
        return _no_value if not x else self.parse(x)

    # -- batching (stored only) and command-line helpers --------------------------

    def _is_batchable(self) -> bool:
        return self._batch_method is not None

    def _parse_list(self, xs: Iterable[str]) -> Any:
        if not self._is_batchable():
            raise NotImplementedError("No batch method found")
        if not xs:
            raise ValueError("Empty parameter list passed to parse_list")
        return self._batch_method(map(self.parse, xs))  # type: ignore[misc]

    @staticmethod
    def _parser_global_dest(param_name: str, task_name: str) -> str:
        return task_name + "_" + param_name

    def _parser_kwargs(self, param_name: str, task_name: str | None = None) -> dict:
        dest = self._parser_global_dest(param_name, task_name) if task_name else param_name
        return {"action": "store", "dest": dest}

    # -- type warnings ----------------------------------------------------------

    def _warn_on_wrong_param_type(self, param_name: str, param_value: Any) -> None:
        if type(self) is Parameter and not isinstance(param_value, str):
            self._warn_once(param_name, f'Parameter "{param_name}" with value "{param_value}" is not of type string.')

    def _warn_once(self, param_name: str, message: str, category: type = ParameterTypeWarning) -> None:
        """Warn about ``param_name`` once per parameter object, not once per task."""
        warned = self.__dict__.setdefault("_type_warned", set())
        if param_name not in warned:
            warned.add(param_name)
            warnings.warn(message, category, stacklevel=3)


class OptionalParameterMixin:
    """Makes a parameter optional: ``None`` is a value, written as the empty string.

    ``expected_type`` (a type or tuple of types) is what values should be;
    other non-None values trigger one :class:`OptionalParameterTypeWarning`.
    """

    expected_type: Any = type(None)

    def __init__(self, default: Any = None, **kwargs: Any):
        super().__init__(default=default, **kwargs)  # type: ignore[call-arg]

    def serialize(self, x: Any) -> str:
        return "" if x is None else super().serialize(x)  # type: ignore[misc]

    def parse(self, x: Any) -> Any:
        if not isinstance(x, str):
            return x
        return super().parse(x) if x else None  # type: ignore[misc]

    def normalize(self, x: Any) -> Any:
        return None if x is None else super().normalize(x)  # type: ignore[misc]

    def next_in_enumeration(self, value: Any) -> None:
        return None

    def expected_form(self) -> str:
        return super().expected_form() + ", or an empty string for None"  # type: ignore[misc]

    def _warn_on_wrong_param_type(self, param_name: str, param_value: Any) -> None:
        if param_value is None or isinstance(param_value, self.expected_type):
            return
        if isinstance(self.expected_type, tuple):
            kind = "any type in [" + ", ".join(f'"{t.__name__}"' for t in self.expected_type) + "]"
        else:
            kind = f'type "{self.expected_type.__name__}"'
        self._warn_once(  # type: ignore[attr-defined]
            param_name,
            f'{type(self).__name__} "{param_name}" with value "{param_value}" is not of {kind} or None.',
            OptionalParameterTypeWarning,
        )


class OptionalParameter(OptionalParameterMixin, Parameter):
    """An optional ``str`` parameter."""

    expected_type = str


class StrParameter(Parameter):
    """A parameter whose value is ``str(x)``."""

    def parse(self, x: Any) -> str:
        return str(x)

    def _coerce(self, value: Any) -> str:
        return str(value)


class OptionalStrParameter(OptionalParameterMixin, Parameter):
    """An optional ``str`` parameter."""

    expected_type = str


# -- numbers and booleans -------------------------------------------------------


class IntParameter(Parameter):
    """An ``int``, parsed with ``int()``; enumerable (``value + 1``)."""

    def parse(self, x: Any) -> int:
        try:
            return int(x)
        except (ValueError, TypeError):
            raise self._invalid(x) from None

    def next_in_enumeration(self, value: int) -> int:
        return value + 1

    def expected_form(self) -> str:
        return "an integer"

    def _coerce(self, value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if type(value) is not int:
            raise TypeError(f"not an integer: {value!r}")
        return self.normalize(value)


class OptionalIntParameter(OptionalParameterMixin, IntParameter):
    expected_type = int


class FloatParameter(Parameter):
    """A ``float``, parsed with ``float()``."""

    def parse(self, x: Any) -> float:
        try:
            return float(x)
        except (ValueError, TypeError):
            raise self._invalid(x) from None

    def expected_form(self) -> str:
        return "a number"

    def _coerce(self, value: Any) -> float:
        if not _is_number(value):
            raise TypeError(f"not a number: {value!r}")
        return self.normalize(float(value))


class OptionalFloatParameter(OptionalParameterMixin, FloatParameter):
    expected_type = float


class BoolParameter(Parameter):
    """A ``bool``; text is ``true``/``false`` in any case.  The default default is False.

    On the command line, IMPLICIT parsing makes ``--flag`` a switch; EXPLICIT
    parsing takes an optional value (``--flag false``).  Set per parameter with
    ``parsing=`` or for all later parameters with ``BoolParameter.parsing = ...``.
    ``normalize`` maps anything it cannot read to ``None``, as Luigi does.
    """

    IMPLICIT_PARSING = "implicit"
    EXPLICIT_PARSING = "explicit"
    parsing = IMPLICIT_PARSING

    def __init__(self, default: Any = _no_value, parsing: str | None = None, **kwargs: Any):
        self.parsing = type(self).parsing if parsing is None else parsing
        super().__init__(default=default, **kwargs)
        if self._default is _no_value:
            self._default = False

    def parse(self, x: Any) -> bool:
        s = str(x).lower()
        if s == "true":
            return True
        if s == "false":
            return False
        raise self._invalid(x)

    def normalize(self, x: Any) -> bool | None:
        if x is True or x is False:
            return x
        try:
            return self.parse(x)
        except ValueError:
            return None

    def expected_form(self) -> str:
        return "true or false"

    def _coerce(self, value: Any) -> bool:
        if not isinstance(value, bool):
            raise TypeError(f"not a boolean: {value!r}")
        return value

    def _parser_kwargs(self, param_name: str, task_name: str | None = None) -> dict:
        kwargs = super()._parser_kwargs(param_name, task_name)
        if self.parsing == self.IMPLICIT_PARSING:
            kwargs["action"] = "store_true"
        elif self.parsing == self.EXPLICIT_PARSING:
            kwargs["nargs"] = "?"
            kwargs["const"] = True
        else:
            raise ValueError(f"unknown parsing value '{self.parsing}'")
        return kwargs


class OptionalBoolParameter(OptionalParameterMixin, BoolParameter):
    expected_type = bool


class NumericalParameter(Parameter):
    """A number of ``var_type`` with ``min_value left_op value right_op max_value``
    (default ``min <= value < max``).  ``normalize`` does not check the range."""

    def __init__(
        self,
        default: Any = _no_value,
        *,
        var_type: type | None = None,
        min_value: Any = None,
        max_value: Any = None,
        left_op: Callable[[Any, Any], bool] = operator.le,
        right_op: Callable[[Any, Any], bool] = operator.lt,
        **kwargs: Any,
    ):
        if var_type is None:
            raise ParameterException("var_type must be specified")
        if min_value is None:
            raise ParameterException("min_value must be specified")
        if max_value is None:
            raise ParameterException("max_value must be specified")
        self._var_type, self._min_value, self._max_value = var_type, min_value, max_value
        self._left_op, self._right_op = left_op, right_op
        left = "[" if left_op == operator.le else "("
        right = ")" if right_op == operator.lt else "]"
        self._permitted_range = f"{var_type.__name__} in {left}{min_value}, {max_value}{right}"
        super().__init__(default=default, **kwargs)
        self.description = (self.description + " " if self.description else "") + "permitted values: " + self._permitted_range

    def _in_range(self, value: Any, shown: Any) -> Any:
        if self._left_op(self._min_value, value) and self._right_op(value, self._max_value):
            return value
        raise self._invalid(shown, f"{shown} is out of range")

    def parse(self, x: Any) -> Any:
        try:
            value = self._var_type(x)
        except (ValueError, TypeError):
            raise self._invalid(x) from None
        return self._in_range(value, x)

    def expected_form(self) -> str:
        return self._permitted_range

    def _coerce(self, value: Any) -> Any:
        if not _is_number(value):
            raise TypeError(f"not a number: {value!r}")
        return self._in_range(self._var_type(value), value)


class OptionalNumericalParameter(OptionalParameterMixin, NumericalParameter):
    def __init__(self, default: Any = _no_value, **kwargs: Any):
        NumericalParameter.__init__(self, default=default, **kwargs)
        self.expected_type = self._var_type


class ChoiceParameter(Parameter):
    """A value of ``var_type`` (default ``str``) that must be one of ``choices``."""

    def __init__(self, default: Any = _no_value, *, choices: Iterable[Any] | None = None, var_type: type = str, **kwargs: Any):
        if choices is None:
            raise ParameterException("A choices iterable must be specified")
        self._choice_list = list(dict.fromkeys(choices))  # unique, in the given order
        self._choices = set(self._choice_list)
        self._var_type = var_type
        if not all(type(choice) is var_type for choice in self._choice_list):
            raise AssertionError("Invalid type in choices")
        super().__init__(default=default, **kwargs)
        shown = ", ".join(str(c) for c in self._choice_list)
        self.description = (self.description + " " if self.description else "") + "Choices: {" + shown + "}"

    def parse(self, x: Any) -> Any:
        try:
            value = self._var_type(x)
        except (ValueError, TypeError):
            raise self._invalid(x) from None
        return self.normalize(value)

    def normalize(self, x: Any) -> Any:
        if x in self._choices:
            return x
        raise self._invalid(x, f"invalid choice {x!r}")

    def expected_form(self) -> str:
        return "one of " + ", ".join(str(c) for c in self._choice_list)

    def _coerce(self, value: Any) -> Any:
        return self.normalize(value) if type(value) is self._var_type else self.parse(value)


class ChoiceListParameter(ChoiceParameter):
    """A tuple of choices, written comma-separated (``a,b``; empty text is ``()``)."""

    _sep = ","

    def __init__(self, default: Any = _no_value, var_type: type = str, choices: Iterable[Any] | None = None, **kwargs: Any):
        super().__init__(default=default, var_type=var_type, choices=choices, **kwargs)

    def parse(self, x: Any) -> tuple:
        try:
            values = [self._var_type(v) for v in ([] if x == "" else x.split(self._sep))]
        except (ValueError, TypeError, AttributeError):
            raise self._invalid(x) from None
        return self.normalize(values)

    def normalize(self, x: Any) -> tuple:
        check = ChoiceParameter.normalize
        return tuple(check(self, v) for v in x)

    def serialize(self, x: Any) -> str:
        return self._sep.join(x)

    def expected_form(self) -> str:
        return "a comma-separated list of " + ", ".join(str(c) for c in self._choice_list)

    def _coerce(self, value: Any) -> tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"not a list: {value!r}")
        return self.normalize(self._var_type(v) for v in value)


class OptionalChoiceParameter(OptionalParameterMixin, ChoiceParameter):
    def __init__(self, default: Any = _no_value, var_type: type = str, choices: Iterable[Any] | None = None, **kwargs: Any):
        ChoiceParameter.__init__(self, default=default, var_type=var_type, choices=choices, **kwargs)
        self.expected_type = self._var_type


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

    def __init__(self, default: Any = _no_value, interval: int = 1, start: datetime.datetime | None = None, **kwargs: Any):
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
                warnings.warn('Using "H" between hours and minutes is deprecated, omit it instead.', DeprecationWarning, stacklevel=2)
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
        for kind in (date_interval.Year, date_interval.Month, date_interval.Week, date_interval.Date, date_interval.Custom):
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
            self._warn_once(param_name, f'Parameter "{param_name}" with value "{param_value}" is not of type timedelta.')


# -- tasks, enums, paths --------------------------------------------------------------


class TaskParameter(Parameter):
    """A task class; written as its task family (``my_namespace.MyTask``)."""

    def parse(self, x: Any) -> type:
        from nbpipe.registry import get_task_cls

        try:
            return get_task_cls(x)
        except Exception as exc:
            raise self._invalid(x, str(exc) or f"unknown task {x!r}") from exc

    def serialize(self, x: Any) -> str:
        return x.get_task_family()

    def expected_form(self) -> str:
        return "a task family name"

    def _coerce(self, value: Any) -> Any:
        if not isinstance(value, type):
            raise TypeError(f"not a task class: {value!r}")
        return value


class EnumParameter(Parameter):
    """A member of ``enum``, written by name."""

    def __init__(self, default: Any = _no_value, *, enum: type[Enum] | None = None, **kwargs: Any):
        if enum is None:
            raise ParameterException("An enum class must be specified.")
        self._enum = enum
        super().__init__(default=default, **kwargs)

    def parse(self, x: Any) -> Enum:
        try:
            return self._enum[x]
        except (KeyError, TypeError):
            raise self._invalid(x) from None

    def serialize(self, x: Enum) -> str:
        return x.name

    def expected_form(self) -> str:
        return "one of " + ", ".join(self._enum.__members__)

    def _coerce(self, value: Any) -> Enum:
        return value if isinstance(value, self._enum) else self._enum(value)


class EnumListParameter(Parameter):
    """A tuple of members of ``enum``, written comma-separated by name
    (empty text is ``()``).  ``normalize`` turns a list into a tuple."""

    _sep = ","

    def __init__(self, default: Any = _no_value, *, enum: type[Enum] | None = None, **kwargs: Any):
        if enum is None:
            raise ParameterException("An enum class must be specified.")
        self._enum = enum
        super().__init__(default=default, **kwargs)

    def parse(self, x: Any) -> tuple:
        if not isinstance(x, str):
            raise self._invalid(x)
        values = [] if x == "" else x.split(self._sep)
        for i, v in enumerate(values):
            try:
                values[i] = self._enum[v]
            except KeyError:
                raise self._invalid(x, f"invalid value {v!r} at index {i}") from None
        return tuple(values)

    def normalize(self, x: Any) -> Any:
        return tuple(x) if isinstance(x, list) else x

    def serialize(self, x: Iterable[Enum]) -> str:
        return self._sep.join([e.name for e in x])

    def expected_form(self) -> str:
        return "a comma-separated list of " + ", ".join(self._enum.__members__)

    def _coerce(self, value: Any) -> tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"not a list: {value!r}")
        return tuple(v if isinstance(v, self._enum) else self._enum[v] for v in value)


_PATH_TYPE = type(Path())


class PathParameter(Parameter):
    """A ``pathlib.Path``; made absolute if ``absolute``, required to exist if
    ``exists`` (else ``ParameterValueError``).  ``parse`` returns the Path."""

    def __init__(self, default: Any = _no_value, *, absolute: bool = False, exists: bool = False, **kwargs: Any):
        super().__init__(default=default, **kwargs)
        self.absolute = absolute
        self.exists = exists

    def parse(self, x: Any) -> Path:
        return self.normalize(x)

    def normalize(self, x: Any) -> Path:
        if type(x) is _PATH_TYPE and not self.absolute and not self.exists:
            return x
        path = Path(x)
        if self.absolute:
            path = path.absolute()
        if self.exists and not path.exists():
            raise self._invalid(x, f"the path {path} does not exist")
        return path

    def expected_form(self) -> str:
        return "an existing path" if self.exists else "a path"


class OptionalPathParameter(OptionalParameter, PathParameter):
    expected_type = (str, Path)


# -- JSON-valued parameters -----------------------------------------------------------


class _DictParamEncoder(json.JSONEncoder):
    """Encodes FrozenOrderedDict as its wrapped dict; otherwise ``json.dumps`` defaults."""

    def default(self, obj: Any) -> Any:
        if isinstance(obj, FrozenOrderedDict):
            return obj.get_wrapped()
        return super().default(obj)


_json_encode = _DictParamEncoder().encode


def _json_loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=FrozenOrderedDict)


class _JSONParameter(Parameter):
    """Shared by Dict/List/Tuple: frozen values, JSON text, optional JSON schema.

    ``schema`` is a JSON schema dict or an object with ``validate(instance)``;
    it needs the optional ``jsonschema`` package (without it a dict schema is
    ignored with a warning, as Luigi does).
    """

    def __init__(self, default: Any = _no_value, *, schema: Any = None, **kwargs: Any):
        if schema is not None and not callable(getattr(schema, "validate", None)):
            try:
                import jsonschema  # noqa: F401
            except ImportError:
                warnings.warn(
                    "The 'jsonschema' package is not installed so the parameter can not be validated even though a schema is given."
                )
                schema = None
        self.schema = schema
        super().__init__(default=default, **kwargs)

    def normalize(self, x: Any) -> Any:
        if self.schema is not None:
            unfrozen = recursively_unfreeze(x)
            validate = getattr(self.schema, "validate", None)
            if callable(validate):
                validate(unfrozen)
            else:
                import jsonschema

                jsonschema.validate(instance=unfrozen, schema=self.schema)
            x = unfrozen
        return recursively_freeze(x)

    def serialize(self, x: Any) -> str:
        return _json_encode(x)


class DictParameter(_JSONParameter):
    """A mapping, frozen to a hashable :class:`FrozenOrderedDict`; written as a JSON object."""

    def parse(self, x: Any) -> Any:
        if not isinstance(x, str):
            return x  # already a value (e.g. from TOML)
        try:
            value = _json_loads(x)
        except ValueError:
            raise self._invalid(x) from None
        if value is not None and not isinstance(value, Mapping):
            raise self._invalid(x)
        return value

    def expected_form(self) -> str:
        return "a JSON object"

    def _coerce(self, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"not a mapping: {value!r}")
        return self.normalize(value)


class OptionalDictParameter(OptionalParameterMixin, DictParameter):
    expected_type = FrozenOrderedDict


class ListParameter(_JSONParameter):
    """A list, frozen to a (nested) tuple; written as a JSON list.
    ``parse`` returns a ``list`` (``normalize`` freezes it)."""

    def parse(self, x: Any) -> Any:
        if not isinstance(x, str):
            return x
        try:
            value = _json_loads(x)
        except ValueError:
            raise self._invalid(x) from None
        if value is not None and not isinstance(value, list):
            raise self._invalid(x)
        return value

    def expected_form(self) -> str:
        return "a JSON list"

    def _coerce(self, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"not a list: {value!r}")
        return self.normalize(value)


class OptionalListParameter(OptionalParameterMixin, ListParameter):
    expected_type = tuple


class TupleParameter(ListParameter):
    """A tuple (of tuples); written as a JSON list (``[[1, 2], [3, 4]]``) or a
    Python literal (``((1, 2), (3, 4))``).  ``parse`` makes the outer list and
    each directly nested list a tuple."""

    def parse(self, x: Any) -> Any:
        if not isinstance(x, str):
            return x
        try:
            value = _json_loads(x)
        except ValueError:
            value = None
        if isinstance(value, list):
            return tuple(tuple(v) if type(v) is list else v for v in value)
        try:
            value = literal_eval(x)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise self._invalid(x) from None
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise self._invalid(x)
        return tuple(value)

    def expected_form(self) -> str:
        return "a JSON list or a Python tuple literal"


class OptionalTupleParameter(OptionalParameterMixin, TupleParameter):
    expected_type = tuple
