"""Task parameters, compatible with Luigi's ``luigi.parameter`` module.

Every parameter class follows one contract (``parse``, ``serialize``,
``normalize``, ``next_in_enumeration``, ``expected_form``, ``_get_value``),
written down in :mod:`nbpipe.params.base`.

This module is Luigi's face and only re-exports: the base class and errors
live in :mod:`nbpipe.params.base`, the kinds in :mod:`nbpipe.params.basic`,
:mod:`nbpipe.params.time` and :mod:`nbpipe.params.structured`.
"""

from __future__ import annotations

import importlib.util
import warnings  # noqa: F401 - the parameters' type warnings are issued through this name (Luigi's place for it)

from nbpipe import configuration as _config  # noqa: F401 - the module-level name existed before the split
from nbpipe.params.base import (  # noqa: F401 - re-exported
    DuplicateParameterException,
    MissingParameterException,
    OptionalParameter,
    OptionalParameterMixin,
    OptionalParameterTypeWarning,
    Parameter,
    ParameterException,
    ParameterTypeWarning,
    ParameterValueError,
    ParameterVisibility,
    UnconsumedParameterWarning,
    UnknownParameterException,
    _counter_lock,
    _is_number,
    _no_value,
    _NoValueType,
)
from nbpipe.params.basic import (
    BoolParameter,
    ChoiceListParameter,
    ChoiceParameter,
    FloatParameter,
    IntParameter,
    NumericalParameter,
    OptionalBoolParameter,
    OptionalChoiceParameter,
    OptionalFloatParameter,
    OptionalIntParameter,
    OptionalNumericalParameter,
    OptionalStrParameter,
    StrParameter,
)
from nbpipe.params.structured import (  # noqa: F401 - re-exported
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
from nbpipe.params.time import (  # noqa: F401 - re-exported
    _DATE,
    _DATETIME,
    _EPOCH,
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
    "DateParameter",
    "MonthParameter",
    "YearParameter",
    "DateHourParameter",
    "DateMinuteParameter",
    "DateSecondParameter",
    "DateIntervalParameter",
    "TimeDeltaParameter",
    "TaskParameter",
    "EnumParameter",
    "EnumListParameter",
    "DictParameter",
    "OptionalDictParameter",
    "ListParameter",
    "OptionalListParameter",
    "TupleParameter",
    "OptionalTupleParameter",
    "PathParameter",
    "OptionalPathParameter",
]

# Whether Dict/List/Tuple parameters can check a JSON schema (Luigi's switch of
# the same name).  Found without importing jsonschema, which is slow to import;
# a parameter given a schema imports it when it first validates.
_JSONSCHEMA_ENABLED = importlib.util.find_spec("jsonschema") is not None
