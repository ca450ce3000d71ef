"""Strings, numbers, booleans and choices (part of :mod:`nbpipe.parameter`, which re-exports them)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any

from nbpipe.params.base import (
    OptionalParameterMixin,
    Parameter,
    ParameterException,
    _is_number,
    _no_value,
)

__all__ = [
    "StrParameter",
    "OptionalStrParameter",
    "IntParameter",
    "OptionalIntParameter",
    "FloatParameter",
    "OptionalFloatParameter",
    "BoolParameter",
    "OptionalBoolParameter",
    "NumericalParameter",
    "OptionalNumericalParameter",
    "ChoiceParameter",
    "ChoiceListParameter",
    "OptionalChoiceParameter",
]


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
        prefix = self.description + " " if self.description else ""
        self.description = prefix + "permitted values: " + self._permitted_range

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

    def __init__(
        self, default: Any = _no_value, *, choices: Iterable[Any] | None = None, var_type: type = str, **kwargs: Any
    ):
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

    def __init__(
        self, default: Any = _no_value, var_type: type = str, choices: Iterable[Any] | None = None, **kwargs: Any
    ):
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
    def __init__(
        self, default: Any = _no_value, var_type: type = str, choices: Iterable[Any] | None = None, **kwargs: Any
    ):
        ChoiceParameter.__init__(self, default=default, var_type=var_type, choices=choices, **kwargs)
        self.expected_type = self._var_type
