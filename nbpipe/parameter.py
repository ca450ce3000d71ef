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
import operator
import threading
import warnings
from enum import IntEnum
from typing import Any, Callable, Iterable

from nbpipe import configuration as _config

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


# The larger families live in their own modules; this module re-exports them.
from nbpipe.params.time import (  # noqa: E402, F401 - re-exported
    DateHourParameter,
    DateIntervalParameter,
    DateMinuteParameter,
    DateParameter,
    DateSecondParameter,
    MonthParameter,
    TimeDeltaParameter,
    YearParameter,
    _DateParameterBase,
    _DatetimeParameterBase,
)
from nbpipe.params.structured import (  # noqa: E402, F401 - re-exported
    DictParameter,
    EnumListParameter,
    EnumParameter,
    ListParameter,
    OptionalDictParameter,
    OptionalListParameter,
    OptionalPathParameter,
    OptionalTupleParameter,
    PathParameter,
    TaskParameter,
    TupleParameter,
    _DictParamEncoder,
    _JSONParameter,
)
