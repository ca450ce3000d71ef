"""Task, enum, path and JSON-structured parameters (part of :mod:`nbpipe.parameter`, which re-exports them)."""

from __future__ import annotations

import json
import sys
import warnings
from ast import literal_eval
from collections.abc import Iterable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from nbpipe.exceptions import ParameterSyntaxError, ParameterTypeError
from nbpipe.params.base import OptionalParameter, OptionalParameterMixin, Parameter, ParameterException, _no_value
from nbpipe.params.freezing import FrozenOrderedDict, recursively_freeze, recursively_unfreeze

# -- tasks, enums, paths --------------------------------------------------------------


class TaskParameter(Parameter):
    """A task class; written as its task family (``my_namespace.MyTask``)."""

    def parse(self, x: Any) -> type:
        from nbpipe.task_register import get_task_cls

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
            raise self._invalid(x, f"The path {path} does not exist")
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
            # The switch lives on the face module nbpipe.parameter, Luigi's home for it (code may
            # turn it off there); that module imports this one, so it is read, not imported.
            face = sys.modules.get("nbpipe.parameter")
            if not getattr(face, "_JSONSCHEMA_ENABLED", True):
                warnings.warn(
                    "The 'jsonschema' package is not installed so the parameter can not be validated even though a schema is given.",
                    stacklevel=2,
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

    #: What the parsed JSON must be (None, JSON null, is always accepted).
    _json_types: tuple = (object,)

    def parse(self, x: Any) -> Any:
        if not isinstance(x, str):
            return x  # already a value (e.g. from TOML)
        try:
            value = _json_loads(x)
        except ValueError:
            raise self._invalid(x) from None
        if value is not None and not isinstance(value, self._json_types):
            raise ParameterTypeError(x, self.expected_form())
        return value


class DictParameter(_JSONParameter):
    """A mapping, frozen to a hashable :class:`FrozenOrderedDict`; written as a JSON object."""

    _json_types = (Mapping,)

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

    _json_types = (list,)

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
        except SyntaxError:
            raise ParameterSyntaxError(x, self.expected_form()) from None
        except (ValueError, TypeError, MemoryError, RecursionError):
            raise self._invalid(x) from None
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise self._invalid(x)
        return tuple(value)

    def expected_form(self) -> str:
        return "a JSON list or a Python tuple literal"


class OptionalTupleParameter(OptionalParameterMixin, TupleParameter):
    expected_type = tuple
