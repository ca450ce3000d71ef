"""The parameter base class and contract, its sentinel, visibility and warnings.

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

import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Any

from nbpipe import configuration as _config
from nbpipe.exceptions import (
    DuplicateParameterException,
    MissingParameterException,
    ParameterException,
    ParameterValueError,
    UnknownParameterException,
)

__all__ = [
    "ParameterVisibility",
    "ParameterException",
    "MissingParameterException",
    "UnknownParameterException",
    "DuplicateParameterException",
    "ParameterValueError",
    "ParameterTypeWarning",
    "OptionalParameterTypeWarning",
    "UnconsumedParameterWarning",
    "Parameter",
    "OptionalParameterMixin",
    "OptionalParameter",
    "serializer_of",
]


class _NoValueType:
    """Type of the :data:`_no_value` sentinel ("no value given"); a singleton."""

    _instance: _NoValueType | None = None

    def __new__(cls) -> _NoValueType:
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


class ParameterTypeWarning(UserWarning):
    """A task was given a value whose type does not fit its parameter."""


class OptionalParameterTypeWarning(ParameterTypeWarning):
    """An optional parameter was given a value of the wrong type (not None)."""


class UnconsumedParameterWarning(UserWarning):
    """A configured parameter is not consumed by the task."""


_counter_lock = threading.Lock()


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
        cfg = _config.get_config()
        raw = cfg.get(section, name)
        if raw is None:
            return _no_value
        if (section, name.replace("-", "_")) in getattr(cfg, "_dashed", ()):
            dashed = name.replace("_", "-")
            warnings.warn(
                f"Configuration [{section}] {dashed} (with dashes) should be avoided. "
                f"Please use underscores: {name.replace('-', '_')}.",
                DeprecationWarning,
                stacklevel=3,
            )
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
                    stacklevel=2,
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

    def _warn_once(self, param_name: str, message: str, category: type | None = None) -> None:
        """Warn about ``param_name`` once per parameter object, not once per task.

        The call is Luigi's, ``warnings.warn(message[, category])`` (UserWarning
        without a category), made through the public :mod:`nbpipe.parameter`
        module's ``warnings``, where Luigi code and tests look for it.
        """
        warned = self.__dict__.setdefault("_type_warned", set())
        if param_name not in warned:
            warned.add(param_name)
            # Looked up, not imported: nbpipe.parameter imports this module.
            public = sys.modules.get("nbpipe.parameter")
            warn = (public.warnings if public is not None else warnings).warn
            if category is None:
                warn(message)
            else:
                warn(message, category)


def serializer_of(param: Parameter) -> Callable[[Any], str]:
    """``param.serialize``, or the built-in ``str`` where that is all it does (the base class's, as
    Int-, Float- and plain parameters keep it): one Python call less per value, on paths that
    serialise every task's parameters (its id, its str, its history row)."""
    if type(param).serialize is Parameter.serialize and "serialize" not in getattr(param, "__dict__", ()):
        return str
    return param.serialize


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
