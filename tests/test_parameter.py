"""Tests for nbpipe.parameter and nbpipe.params.freezing, including a cross-check with Luigi."""

import datetime
import enum
import json
import operator
import pickle
import sys
import types
import warnings
from pathlib import Path

import pytest

import nbpipe.parameter as P
from nbpipe import configuration as config
from nbpipe import date_interval as di
from nbpipe.params.freezing import FrozenOrderedDict, recursively_freeze, recursively_unfreeze

D = datetime.date
DT = datetime.datetime
TD = datetime.timedelta


class Color(enum.Enum):
    red = 1
    green = 2
    blue = 3


@pytest.fixture(autouse=True)
def clean_config():
    config.reload_config(clear_overrides=True)
    yield
    config.reload_config(clear_overrides=True)


def _luigi():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # luigi warns on import
        import luigi
    return luigi


# -- round trips: (factory, text, canonical value) -----------------------------------

ROUND_TRIPS = [
    (lambda: P.Parameter(), "hello", "hello"),
    (lambda: P.StrParameter(), "x y", "x y"),
    (lambda: P.OptionalParameter(), "abc", "abc"),
    (lambda: P.OptionalParameter(), "", None),
    (lambda: P.OptionalStrParameter(), "", None),
    (lambda: P.IntParameter(), "-42", -42),
    (lambda: P.OptionalIntParameter(), "7", 7),
    (lambda: P.OptionalIntParameter(), "", None),
    (lambda: P.FloatParameter(), "2.5", 2.5),
    (lambda: P.OptionalFloatParameter(), "", None),
    (lambda: P.BoolParameter(), "True", True),
    (lambda: P.BoolParameter(), "False", False),
    (lambda: P.OptionalBoolParameter(), "", None),
    (lambda: P.NumericalParameter(var_type=int, min_value=0, max_value=10), "3", 3),
    (lambda: P.NumericalParameter(var_type=float, min_value=0, max_value=1), "0.25", 0.25),
    (lambda: P.OptionalNumericalParameter(var_type=int, min_value=0, max_value=10), "", None),
    (lambda: P.ChoiceParameter(choices=["a", "b"]), "b", "b"),
    (lambda: P.ChoiceParameter(choices=[1, 2], var_type=int), "2", 2),
    (lambda: P.ChoiceListParameter(choices=["a", "b"]), "b,a,b", ("b", "a", "b")),
    (lambda: P.ChoiceListParameter(choices=["a", "b"]), "", ()),
    (lambda: P.OptionalChoiceParameter(choices=["a", "b"]), "", None),
    (lambda: P.DateParameter(), "2024-01-31", D(2024, 1, 31)),
    (lambda: P.MonthParameter(), "2024-02", D(2024, 2, 1)),
    (lambda: P.YearParameter(), "2024", D(2024, 1, 1)),
    (lambda: P.DateHourParameter(), "2024-01-31T05", DT(2024, 1, 31, 5)),
    (lambda: P.DateMinuteParameter(), "2024-01-31T0507", DT(2024, 1, 31, 5, 7)),
    (lambda: P.DateSecondParameter(), "2024-01-31T050709", DT(2024, 1, 31, 5, 7, 9)),
    (lambda: P.DateIntervalParameter(), "2024-W05", di.Week(2024, 5)),
    (lambda: P.DateIntervalParameter(), "2024-01-01-2024-02-01", di.Custom(D(2024, 1, 1), D(2024, 2, 1))),
    (lambda: P.TimeDeltaParameter(), "1 w 2 d 3 h 4 m 5 s", TD(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
    (lambda: P.EnumParameter(enum=Color), "green", Color.green),
    (lambda: P.EnumListParameter(enum=Color), "red,blue", (Color.red, Color.blue)),
    (lambda: P.EnumListParameter(enum=Color), "", ()),
    (lambda: P.ListParameter(), '[1, "one", true, null]', (1, "one", True, None)),
    (lambda: P.ListParameter(), '[[1, 2], {"a": [3]}]', ((1, 2), FrozenOrderedDict(a=(3,)))),
    (lambda: P.OptionalListParameter(), "", None),
    (lambda: P.TupleParameter(), "[[1, 2], [3, 4]]", ((1, 2), (3, 4))),
    (lambda: P.OptionalTupleParameter(), "", None),
    (
        lambda: P.DictParameter(),
        '{"b": 1, "a": [1, {"c": null}]}',
        FrozenOrderedDict(b=1, a=(1, FrozenOrderedDict(c=None))),
    ),
    (lambda: P.OptionalDictParameter(), "", None),
    (lambda: P.PathParameter(), "data/x.csv", Path("data/x.csv")),
    (lambda: P.OptionalPathParameter(), "", None),
]


@pytest.mark.parametrize("factory, text, value", ROUND_TRIPS)
def test_round_trip(factory, text, value):
    p = factory()
    parsed = p.normalize(p.parse(text))
    assert parsed == value
    assert type(parsed) is type(value)
    assert p.serialize(value) == text
    assert p.normalize(p.parse(p.serialize(parsed))) == parsed
    hash(parsed)  # every canonical value is hashable


def test_parse_alternative_forms():
    assert P.BoolParameter().parse("TRUE") is True and P.BoolParameter().parse("fAlse") is False
    assert P.TupleParameter().parse("((1, 2), (3, 4))") == ((1, 2), (3, 4))
    assert P.TupleParameter().parse("('a', 'b')") == ("a", "b")
    assert P.TupleParameter().parse('["a", "b"]') == ("a", "b")
    assert P.ListParameter().parse("[1, [2]]") == [1, [2]]  # like Luigi: a list until normalised
    assert P.ListParameter().parse("null") is None
    assert P.IntParameter().parse(" 12 ") == 12
    assert P.DateIntervalParameter().parse("2024") == di.Year(2024)
    assert P.DateIntervalParameter().parse("2024-03") == di.Month(2024, 3)
    assert P.DateIntervalParameter().parse("2024-03-04") == di.Date(2024, 3, 4)
    assert P.ChoiceParameter(choices=[1, 2], var_type=int).parse(2) == 2
    assert P.DictParameter().parse({"already": "parsed"}) == {"already": "parsed"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("90", TD(seconds=90)),
        ("1.5", TD(seconds=1.5)),
        ("1 day", TD(days=1)),
        ("2 seconds", TD(seconds=2)),
        ("3w 4h 5m", TD(weeks=3, hours=4, minutes=5)),
        ("P4DT12H30M5S", TD(days=4, hours=12, minutes=30, seconds=5)),
        ("P5D", TD(days=5)),
        ("P5W", TD(weeks=5)),
        ("PT6M", TD(minutes=6)),
    ],
)
def test_timedelta_forms(text, expected):
    assert P.TimeDeltaParameter().parse(text) == expected


def test_date_minute_deprecated_form():
    with pytest.warns(DeprecationWarning, match='"H"'):
        assert P.DateMinuteParameter().parse("2024-01-31T05H07") == DT(2024, 1, 31, 5, 7)


# -- normalize -------------------------------------------------------------------------


def test_date_normalize_interval_and_start():
    assert P.DateParameter().normalize(DT(2024, 1, 31, 13, 5)) == D(2024, 1, 31)
    assert type(P.DateParameter().normalize(DT(2024, 1, 31, 13, 5))) is D
    p = P.DateParameter(interval=7, start=D(2024, 1, 1))
    assert p.normalize(D(2024, 1, 10)) == D(2024, 1, 8)
    assert p.normalize(D(2023, 12, 31)) == D(2023, 12, 25)
    assert p.normalize(None) is None
    with pytest.raises(TypeError, match="expected a date"):
        P.DateParameter().normalize("2024-01-01")


def test_month_year_normalize():
    assert P.MonthParameter().normalize(D(2024, 2, 17)) == D(2024, 2, 1)
    assert P.MonthParameter().normalize(di.Month(2024, 5)) == D(2024, 5, 1)
    assert P.MonthParameter(interval=3).normalize(D(2024, 5, 17)) == D(2024, 4, 1)
    assert P.MonthParameter(interval=2, start=D(2000, 2, 1)).normalize(D(2024, 2, 9)) == D(2024, 2, 1)
    assert P.YearParameter().normalize(D(2024, 7, 4)) == D(2024, 1, 1)
    assert P.YearParameter().normalize(di.Year(1999)) == D(1999, 1, 1)
    assert P.YearParameter(interval=10).normalize(D(2024, 7, 4)) == D(2020, 1, 1)
    assert P.MonthParameter().normalize(None) is None and P.YearParameter().normalize(None) is None


def test_datetime_normalize():
    assert P.DateHourParameter().normalize(DT(2024, 1, 1, 5, 59, 59, 999)) == DT(2024, 1, 1, 5)
    assert P.DateHourParameter(interval=6).normalize(DT(2024, 1, 1, 11, 30)) == DT(2024, 1, 1, 6)
    assert P.DateMinuteParameter(interval=15).normalize(DT(2024, 1, 1, 11, 44, 3)) == DT(2024, 1, 1, 11, 30)
    assert P.DateSecondParameter().normalize(DT(2024, 1, 1, 1, 2, 3, 456)) == DT(2024, 1, 1, 1, 2, 3)
    assert P.DateHourParameter().normalize(D(2024, 1, 2)) == DT(2024, 1, 2)
    start = DT(2024, 1, 1, 0, 10)
    assert P.DateMinuteParameter(interval=30, start=start).normalize(DT(2024, 1, 1, 9, 0)) == DT(2024, 1, 1, 8, 40)
    assert P.DateHourParameter().normalize(DT(1960, 5, 5, 5, 5)) == DT(1960, 5, 5, 5)  # before the epoch
    assert P.DateHourParameter().normalize(None) is None


def test_bool_normalize_like_luigi():
    p = P.BoolParameter()
    assert p.normalize(True) is True and p.normalize("false") is False
    assert p.normalize("yes") is None and p.normalize(None) is None
    assert p._default is False
    assert P.BoolParameter(default=True)._default is True
    assert P.OptionalBoolParameter()._default is None


def test_json_normalize_freezes_and_keeps_frozen_values():
    lp, dp = P.ListParameter(), P.DictParameter()
    value = lp.normalize([1, [2, {"a": [3]}]])
    assert value == (1, (2, FrozenOrderedDict(a=(3,))))
    assert lp.normalize(value) is value
    frozen = dp.normalize({"a": [1, 2], "b": {"c": 1}})
    assert dp.normalize(frozen) is frozen
    assert hash(frozen) == hash(dp.normalize({"b": {"c": 1}, "a": (1, 2)}))
    assert P.TupleParameter().normalize([[1, 2], [3]]) == ((1, 2), (3,))
    assert lp.normalize(None) is None


def test_other_normalize():
    assert P.EnumListParameter(enum=Color).normalize([Color.red]) == (Color.red,)
    assert P.PathParameter().normalize("a/b") == Path("a/b")
    p = Path("a")
    assert P.PathParameter().normalize(p) is p
    assert P.PathParameter(absolute=True).normalize("a").is_absolute()
    assert P.ChoiceListParameter(choices=["a", "b"]).normalize(["a"]) == ("a",)
    with pytest.raises(ValueError, match="one of a, b"):
        P.ChoiceParameter(choices=["a", "b"]).normalize("c")


def test_path_exists(tmp_path):
    existing = tmp_path / "f.txt"
    existing.write_text("x")
    p = P.PathParameter(exists=True)
    assert p.parse(str(existing)) == existing
    with pytest.raises(ValueError, match="does not exist: expected an existing path"):
        p.parse(str(tmp_path / "missing"))
    assert P.OptionalPathParameter(exists=True).parse("") is None


# -- next_in_enumeration -----------------------------------------------------------------


@pytest.mark.parametrize(
    "factory, value, expected",
    [
        (lambda: P.IntParameter(), 4, 5),
        (lambda: P.DateParameter(), D(2024, 2, 28), D(2024, 2, 29)),
        (lambda: P.DateParameter(interval=7), D(2024, 1, 4), D(2024, 1, 11)),
        (lambda: P.MonthParameter(), D(2024, 12, 1), D(2025, 1, 1)),
        (lambda: P.MonthParameter(interval=5), D(2024, 10, 1), D(2025, 3, 1)),
        (lambda: P.YearParameter(interval=2), D(2024, 1, 1), D(2026, 1, 1)),
        (lambda: P.DateHourParameter(), DT(2024, 1, 1, 23), DT(2024, 1, 2, 0)),
        (lambda: P.DateMinuteParameter(interval=15), DT(2024, 1, 1, 23, 45), DT(2024, 1, 2, 0, 0)),
        (lambda: P.DateSecondParameter(), DT(2024, 1, 1, 0, 0, 59), DT(2024, 1, 1, 0, 1, 0)),
        (lambda: P.OptionalIntParameter(), 4, None),
        (lambda: P.Parameter(), "x", None),
        (lambda: P.FloatParameter(), 1.0, None),
        (lambda: P.BoolParameter(), True, None),
        (lambda: P.ListParameter(), (1,), None),
        (lambda: P.DateIntervalParameter(), di.Year(2024), None),
        (lambda: P.NumericalParameter(var_type=int, min_value=0, max_value=9), 1, None),
        (lambda: P.EnumParameter(enum=Color), Color.red, None),
    ],
)
def test_next_in_enumeration(factory, value, expected):
    assert factory().next_in_enumeration(value) == expected


# -- errors for bad text -----------------------------------------------------------------

BAD_INPUT = [
    (lambda: P.IntParameter(), "1.5", "expected an integer"),
    (lambda: P.OptionalIntParameter(), "x", "expected an integer, or an empty string for None"),
    (lambda: P.FloatParameter(), "abc", "expected a number"),
    (lambda: P.BoolParameter(), "yes", "expected true or false"),
    (
        lambda: P.NumericalParameter(var_type=int, min_value=0, max_value=10),
        "10",
        "10 is out of range: expected int in [0, 10)",
    ),
    (
        lambda: P.NumericalParameter(
            var_type=int, min_value=0, max_value=10, left_op=operator.lt, right_op=operator.le
        ),
        "0",
        "expected int in (0, 10]",
    ),
    (lambda: P.NumericalParameter(var_type=int, min_value=0, max_value=10), "x", "expected int in [0, 10)"),
    (lambda: P.ChoiceParameter(choices=["b", "a", "c"]), "d", "invalid choice 'd': expected one of b, a, c"),
    (lambda: P.ChoiceParameter(choices=[1, 2], var_type=int), "x", "expected one of 1, 2"),
    (lambda: P.ChoiceListParameter(choices=["a", "b"]), "a,z", "expected a comma-separated list of a, b"),
    (lambda: P.DateParameter(), "2024-13-01", "expected a date YYYY-MM-DD"),
    (lambda: P.DateParameter(), "31/01/2024", "invalid value '31/01/2024': expected a date YYYY-MM-DD"),
    (lambda: P.MonthParameter(), "2024-01-01", "expected a month YYYY-MM"),
    (lambda: P.YearParameter(), "24x", "expected a year YYYY"),
    (lambda: P.DateHourParameter(), "2024-01-01", "expected a date and hour YYYY-MM-DDTHH"),
    (lambda: P.DateMinuteParameter(), "2024-01-01T", "expected a date and time YYYY-MM-DDTHHMM"),
    (lambda: P.DateSecondParameter(), "2024-01-01T05", "expected a date and time YYYY-MM-DDTHHMMSS"),
    (lambda: P.DateIntervalParameter(), "2024-W54", "expected a date interval"),
    (lambda: P.DateIntervalParameter(), "last week", "expected a date interval"),
    (lambda: P.TimeDeltaParameter(), "P6M", "Invalid time delta - could not parse P6M: expected a duration"),
    (lambda: P.EnumParameter(enum=Color), "purple", "expected one of red, green, blue"),
    (
        lambda: P.EnumListParameter(enum=Color),
        "red,pink",
        "invalid value 'pink' at index 1: expected a comma-separated list of red, green, blue",
    ),
    (lambda: P.ListParameter(), '{"invalid"}', "expected a JSON list"),
    (lambda: P.ListParameter(), '"NOT A LIST"', "expected a JSON list"),
    (lambda: P.TupleParameter(), "(1, ", "expected a JSON list or a Python tuple literal"),
    (lambda: P.TupleParameter(), '("abcd")', "expected a JSON list or a Python tuple literal"),
    (lambda: P.DictParameter(), "[1, 2]", "expected a JSON object"),
    (lambda: P.DictParameter(), "{'a': 1}", "expected a JSON object"),
]


@pytest.mark.parametrize("factory, text, message", BAD_INPUT)
def test_bad_text_raises_value_error_naming_expected_form(factory, text, message):
    p = factory()
    with pytest.raises(P.ParameterValueError) as info:
        p.parse(text)
    assert isinstance(info.value, ValueError) and isinstance(info.value, P.ParameterException)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert str(info.value).endswith("expected " + p.expected_form())


def test_wrong_kind_and_bad_syntax_are_also_type_and_syntax_errors():
    # Luigi's parse fails with TypeError / SyntaxError for these; nbpipe's one-line error is both.
    with pytest.raises(TypeError, match="expected a JSON list"):
        P.ListParameter().parse('"NOT A LIST"')
    with pytest.raises(SyntaxError, match="expected a JSON list or a Python tuple literal"):
        P.TupleParameter().parse("((1,2),(3,4")
    err = pickle.loads(pickle.dumps(P.TupleParameter()._invalid("x")))
    assert str(err) == "invalid value 'x': expected a JSON list or a Python tuple literal"


def test_schema_warning_follows_the_jsonschema_switch(monkeypatch):
    monkeypatch.setattr(P, "_JSONSCHEMA_ENABLED", False)
    with pytest.warns(UserWarning, match="'jsonschema' package is not installed"):
        p = P.ListParameter(schema={"type": "array"})
    assert p.schema is None


def test_path_parameter_names_a_missing_path(tmp_path):
    with pytest.raises(ValueError, match="The path .* does not exist"):
        P.PathParameter(exists=True).normalize(tmp_path / "nope")


def test_parameter_value_error_pickles():
    err = P.ParameterValueError("x", "an integer", None)
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err) == "invalid value 'x': expected an integer"


def test_constructor_errors_like_luigi():
    with pytest.raises(P.ParameterException, match="var_type"):
        P.NumericalParameter(min_value=0, max_value=1)
    with pytest.raises(P.ParameterException, match="min_value"):
        P.NumericalParameter(var_type=int, max_value=1)
    with pytest.raises(P.ParameterException, match="choices"):
        P.ChoiceParameter()
    with pytest.raises(AssertionError):
        P.ChoiceParameter(var_type=int, choices=[1, 2, "3"])
    with pytest.raises(P.ParameterException, match="enum"):
        P.EnumParameter()
    with pytest.raises(P.ParameterException, match="enum"):
        P.EnumListParameter()
    with pytest.raises(P.ParameterException, match="config_path"):
        P.Parameter(config_path={"section": "x"})


def test_descriptions():
    assert P.NumericalParameter(var_type=int, min_value=0, max_value=5).description == "permitted values: int in [0, 5)"
    assert (
        P.NumericalParameter(var_type=int, min_value=0, max_value=5, description="N.").description
        == "N. permitted values: int in [0, 5)"
    )
    assert P.ChoiceParameter(choices=["x", "y"], description="Pick.").description == "Pick. Choices: {x, y}"


# -- attributes ----------------------------------------------------------------------------


def test_attributes_and_counter():
    a = P.Parameter()
    b = P.IntParameter(
        significant=False,
        positional=False,
        description="d",
        always_in_help=True,
        batch_method=max,
        visibility=P.ParameterVisibility.HIDDEN,
    )
    assert a._counter < b._counter and P.Parameter._counter > b._counter
    assert (a.significant, a.positional, a.visibility, a.description, a.always_in_help) == (
        True,
        True,
        P.ParameterVisibility.PUBLIC,
        None,
        False,
    )
    assert (b.significant, b.positional, b.description, b.always_in_help) == (False, False, "d", True)
    assert b.visibility is P.ParameterVisibility.HIDDEN and b.visibility.serialize() == 1
    assert b._is_batchable() and not a._is_batchable()
    assert b._parse_list(["3", "9", "4"]) == 9
    assert P.Parameter(visibility=2).visibility is P.ParameterVisibility.PRIVATE
    assert P.Parameter(visibility=7).visibility is P.ParameterVisibility.PUBLIC
    assert P.ParameterVisibility.has_value(2) and not P.ParameterVisibility.has_value(3)
    with pytest.warns(DeprecationWarning):
        assert P.Parameter(is_global=True).positional is False


def test_no_value_sentinel():
    assert repr(P._no_value) == "<no_value>"
    assert type(P._no_value)() is P._no_value
    assert pickle.loads(pickle.dumps(P._no_value)) is P._no_value


def test_bool_parser_kwargs():
    assert P.BoolParameter()._parser_kwargs("flag")["action"] == "store_true"
    kw = P.BoolParameter(parsing=P.BoolParameter.EXPLICIT_PARSING)._parser_kwargs("flag", "T")
    assert kw["nargs"] == "?" and kw["const"] is True and kw["dest"] == "T_flag"
    assert P.IntParameter()._parser_kwargs("n") == {"action": "store", "dest": "n"}


@pytest.mark.parametrize("factory, _text, _value", ROUND_TRIPS)
def test_expected_form_is_a_short_line(factory, _text, _value):
    form = factory().expected_form()
    assert form and "\n" not in form and len(form) < 100


# -- configuration defaults ----------------------------------------------------------------


def test_default_used_and_normalised():
    assert P.DateParameter(default=DT(2024, 1, 5, 3))._get_value("T", "d") == D(2024, 1, 5)
    assert P.ListParameter(default=[1, [2]])._get_value("T", "l") == (1, (2,))
    assert P.IntParameter()._get_value("T", "n") is P._no_value
    assert not P.IntParameter().has_task_value("T", "n")
    assert P.IntParameter(default=3).has_task_value("T", "n")
    with pytest.raises(P.MissingParameterException):
        P.IntParameter().task_value("T", "n")


def test_config_string_values_are_parsed():
    config.set_option("MyTask", "n", "5")
    config.set_option("MyTask", "day", "2024-02-03")
    config.set_option("MyTask", "tags", '{"a": [1]}')
    config.set_option("MyTask", "opt", "")
    config.set_option("MyTask", "dash-name", "x")
    assert P.IntParameter(default=1)._get_value("MyTask", "n") == 5
    assert P.DateParameter()._get_value("MyTask", "day") == D(2024, 2, 3)
    assert P.DictParameter()._get_value("MyTask", "tags") == FrozenOrderedDict(a=(1,))
    assert P.OptionalIntParameter(default=3)._get_value("MyTask", "opt") is None
    assert P.Parameter()._get_value("MyTask", "dash_name") == "x"
    assert P.IntParameter().task_value("MyTask", "n") == 5
    assert P.IntParameter(default=1)._get_value("OtherTask", "n") == 1


@pytest.mark.parametrize(
    "factory, raw, expected",
    [
        (lambda: P.IntParameter(), 5, 5),
        (lambda: P.IntParameter(), 5.0, 5),
        (lambda: P.FloatParameter(), 2, 2.0),
        (lambda: P.BoolParameter(default=True), False, False),
        (lambda: P.OptionalBoolParameter(), True, True),
        (lambda: P.StrParameter(), 12, "12"),
        (lambda: P.NumericalParameter(var_type=float, min_value=0, max_value=10), 3, 3.0),
        (lambda: P.ChoiceParameter(choices=[1.5, 2.0], var_type=float), 2, 2.0),
        (lambda: P.ChoiceListParameter(choices=["a", "b"]), ["b", "a"], ("b", "a")),
        (lambda: P.DateParameter(), D(2024, 1, 2), D(2024, 1, 2)),
        (lambda: P.DateParameter(), DT(2024, 1, 2, 3, 4), D(2024, 1, 2)),
        (lambda: P.MonthParameter(), D(2024, 1, 20), D(2024, 1, 1)),
        (lambda: P.YearParameter(), 2024, D(2024, 1, 1)),
        (lambda: P.DateHourParameter(), DT(2024, 1, 2, 3, 4), DT(2024, 1, 2, 3)),
        (lambda: P.DateSecondParameter(), D(2024, 1, 2), DT(2024, 1, 2)),
        (lambda: P.DateIntervalParameter(), D(2024, 1, 2), di.Date(2024, 1, 2)),
        (lambda: P.TimeDeltaParameter(), 90, TD(seconds=90)),
        (lambda: P.EnumParameter(enum=Color), 2, Color.green),
        (lambda: P.EnumListParameter(enum=Color), ["red", "blue"], (Color.red, Color.blue)),
        (lambda: P.ListParameter(), [1, [2, 3]], (1, (2, 3))),
        (lambda: P.TupleParameter(), [[1, 2]], ((1, 2),)),
        (lambda: P.DictParameter(), {"a": {"b": [1]}}, FrozenOrderedDict(a=FrozenOrderedDict(b=(1,)))),
        (lambda: P.OptionalListParameter(), [1], (1,)),
        (lambda: P.PathParameter(), "out/x", Path("out/x")),
    ],
)
def test_config_typed_values_are_converted(factory, raw, expected):
    config.set_option("TypedTask", "value", raw)
    got = factory()._get_value("TypedTask", "value")
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    "factory, raw, form",
    [
        (lambda: P.IntParameter(), "abc", "an integer"),
        (lambda: P.IntParameter(), 1.5, "an integer"),
        (lambda: P.IntParameter(), True, "an integer"),
        (lambda: P.FloatParameter(), "x", "a number"),
        (lambda: P.BoolParameter(), 1, "true or false"),
        (lambda: P.DateParameter(), "2024/01/02", "a date YYYY-MM-DD"),
        (lambda: P.DateParameter(), 20240102, "a date YYYY-MM-DD"),
        (lambda: P.ListParameter(), {"a": 1}, "a JSON list"),
        (lambda: P.DictParameter(), [1], "a JSON object"),
        (lambda: P.ChoiceParameter(choices=["a"]), "b", "one of a"),
        (lambda: P.NumericalParameter(var_type=int, min_value=0, max_value=3), 7, "int in [0, 3)"),
        (lambda: P.EnumParameter(enum=Color), "pink", "one of red, green, blue"),
        (lambda: P.TimeDeltaParameter(), "soon", "a duration"),
    ],
)
def test_bad_config_value_names_section_option_value_and_form(factory, raw, form):
    config.set_option("Bad.Task", "the_option", raw)
    p = factory()
    with pytest.raises(P.ParameterException) as info:
        p._get_value("Bad.Task", "the_option")
    assert p.expected_form().startswith(form)
    assert str(info.value) == f"[Bad.Task] the_option = {raw!r}: expected {p.expected_form()}"


def test_config_path_fallback_warns():
    config.set_option("legacy", "size", "11")
    p = P.IntParameter(default=1, config_path=dict(section="legacy", name="size"))
    with pytest.warns(DeprecationWarning, match=r"\[legacy\] size is deprecated. Please use \[T\] n"):
        assert p._get_value("T", "n") == 11
    config.set_option("T", "n", "12")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert p._get_value("T", "n") == 12  # the task's own section wins, silently
    assert P.Parameter(config_path=dict(section="nowhere", name="x"))._get_value("T", "x") is P._no_value


def test_config_reload_clears_values():
    config.set_option("R", "x", "1")
    assert P.IntParameter()._get_value("R", "x") == 1
    config.reload_config(clear_overrides=True)
    assert P.IntParameter()._get_value("R", "x") is P._no_value


# -- optional type warnings -------------------------------------------------------------------


def test_optional_type_warning_once_per_parameter():
    p = P.OptionalIntParameter()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        p._warn_on_wrong_param_type("n", None)
        p._warn_on_wrong_param_type("n", 3)
        p._warn_on_wrong_param_type("n", "bad data")
        p._warn_on_wrong_param_type("n", "more bad data")
    assert len(record) == 1
    assert record[0].category is P.OptionalParameterTypeWarning
    assert str(record[0].message) == 'OptionalIntParameter "n" with value "bad data" is not of type "int" or None.'


def test_other_type_warnings():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        P.OptionalPathParameter()._warn_on_wrong_param_type("p", 3)
        P.Parameter()._warn_on_wrong_param_type("s", 3)
        P.TimeDeltaParameter()._warn_on_wrong_param_type("t", 3)
        P.IntParameter()._warn_on_wrong_param_type("i", "x")  # no warning: Luigi only checks these classes
        P.TimeDeltaParameter()._warn_on_wrong_param_type("t", TD(1))
    assert [str(r.message) for r in record] == [
        'OptionalPathParameter "p" with value "3" is not of any type in ["str", "Path"] or None.',
        'Parameter "s" with value "3" is not of type string.',
        'Parameter "t" with value "3" is not of type timedelta.',
    ]
    assert all(issubclass(r.category, UserWarning) for r in record)


# -- TaskParameter (with a stand-in registry) --------------------------------------------------


def test_task_parameter(monkeypatch):
    class FakeTask:
        @classmethod
        def get_task_family(cls):
            return "ns.FakeTask"

    def get_task_cls(name):
        if name == "ns.FakeTask":
            return FakeTask
        raise LookupError(f"No task named {name!r} is defined")

    monkeypatch.setitem(sys.modules, "nbpipe.task_register", types.SimpleNamespace(get_task_cls=get_task_cls))
    p = P.TaskParameter()
    assert p.parse("ns.FakeTask") is FakeTask
    assert p.serialize(FakeTask) == "ns.FakeTask"
    with pytest.raises(P.ParameterValueError, match="No task named 'Nope' is defined: expected a task family name"):
        p.parse("Nope")
    config.set_option("T", "task", "ns.FakeTask")
    assert p._get_value("T", "task") is FakeTask


# -- freezing -----------------------------------------------------------------------------------


def test_frozen_ordered_dict():
    d = FrozenOrderedDict([("b", 1), ("a", 2)])
    assert list(d) == ["b", "a"] and len(d) == 2 and d["a"] == 2 and "a" in d and d.get("z", 0) == 0
    assert d == {"a": 2, "b": 1} and d == FrozenOrderedDict(a=2, b=1) and d != {"a": 2}
    assert hash(d) == hash(FrozenOrderedDict(a=2, b=1))
    assert repr(d) == "{'b': 1, 'a': 2}"
    with pytest.raises(TypeError):
        d["c"] = 3  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(FrozenOrderedDict(a=[1]))
    assert pickle.loads(pickle.dumps(d)) == d
    assert d.get_wrapped() == {"b": 1, "a": 2}


def test_recursively_freeze_and_unfreeze():
    value = {"a": [1, {"b": (2, [3])}], "c": "s"}
    frozen = recursively_freeze(value)
    assert frozen == FrozenOrderedDict(a=(1, FrozenOrderedDict(b=(2, (3,)))), c="s")
    hash(frozen)
    assert recursively_freeze(frozen) is frozen
    t = (1, "x", (2.0, None))
    assert recursively_freeze(t) is t
    assert recursively_freeze((1, [2])) == (1, (2,))
    assert recursively_freeze({1, 2}) == {1, 2}  # sets are left alone, as in Luigi
    thawed = recursively_unfreeze(frozen)
    assert thawed == {"a": [1, {"b": [2, [3]]}], "c": "s"} and type(thawed["a"]) is list
    assert pickle.loads(pickle.dumps(frozen)) == frozen


# -- cross-check with Luigi ------------------------------------------------------------------------

CROSS = [
    ("Parameter", {}, ["hello", "a b"]),
    ("StrParameter", {}, ["x"]),
    ("OptionalParameter", {}, ["", "x"]),
    ("OptionalStrParameter", {}, ["", "x"]),
    ("IntParameter", {}, ["0", "-17", "123456789012"]),
    ("OptionalIntParameter", {}, ["", "3"]),
    ("FloatParameter", {}, ["1.5", "3", "-0.001", "1e20"]),
    ("OptionalFloatParameter", {}, ["", "2.25"]),
    ("BoolParameter", {}, ["true", "False"]),
    ("OptionalBoolParameter", {}, ["", "TRUE"]),
    ("NumericalParameter", dict(var_type=float, min_value=-1, max_value=1), ["0.5", "-1"]),
    ("OptionalNumericalParameter", dict(var_type=int, min_value=0, max_value=9), ["", "4"]),
    ("ChoiceParameter", dict(choices=[1, 2, 3], var_type=int), ["2"]),
    ("ChoiceListParameter", dict(choices=["a", "b"]), ["a,b,a", ""]),
    ("OptionalChoiceParameter", dict(choices=["a", "b"]), ["", "b"]),
    ("DateParameter", {}, ["2024-01-31", "1999-12-31", "2024-1-5"]),
    ("DateParameter", dict(interval=5, start=D(2020, 1, 3)), ["2024-01-31"]),
    ("MonthParameter", {}, ["2024-01", "1970-12"]),
    ("MonthParameter", dict(interval=4), ["2024-07"]),
    ("YearParameter", {}, ["2024"]),
    ("YearParameter", dict(interval=3, start=D(2001, 1, 1)), ["2024"]),
    ("DateHourParameter", {}, ["2024-01-31T05"]),
    ("DateHourParameter", dict(interval=5), ["2024-01-31T07"]),
    ("DateMinuteParameter", {}, ["2024-01-31T0507"]),
    ("DateMinuteParameter", dict(interval=15), ["2024-01-31T0529"]),
    ("DateSecondParameter", {}, ["2024-01-31T050709", "1960-01-01T000001"]),
    ("DateIntervalParameter", {}, ["2024", "2024-03", "2024-W09", "2024-03-04", "2024-03-04-2024-04-01"]),
    ("TimeDeltaParameter", {}, ["3600", "1.5", "1 w 2 d", "P4DT12H30M5S", "P2W", "3w 4h 5m", "2 days 3 hours"]),
    ("EnumParameter", dict(enum=Color), ["red"]),
    ("EnumListParameter", dict(enum=Color), ["red,green", ""]),
    (
        "ListParameter",
        {},
        ["[]", '[1, "a", true, null, 1.5]', '[[1, 2], {"k": [1, {"z": 2}]}]', '["\\u00e9", "\\"q\\""]'],
    ),
    ("OptionalListParameter", {}, ["", "[1]"]),
    ("TupleParameter", {}, ["[[1, 2], [3, 4]]", "((1, 2), (3, 4))", '["a", "b"]', "[1, 2]", "(1, 'x')"]),
    ("OptionalTupleParameter", {}, ["", "[[1]]"]),
    ("DictParameter", {}, ["{}", '{"b": 1, "a": {"c": [1, 2]}}', '{"x": null, "y": "\\u00fc", "z": 1e3}']),
    ("OptionalDictParameter", {}, ["", '{"a": 1}']),
    ("PathParameter", {}, ["a/b.txt", "/abs/path"]),
    ("OptionalPathParameter", {}, ["", "a/b"]),
]


@pytest.mark.parametrize("name, kwargs, texts", CROSS, ids=[c[0] + str(i) for i, c in enumerate(CROSS)])
def test_parse_and_serialize_agree_with_luigi(name, kwargs, texts):
    luigi = _luigi()
    ours, theirs = getattr(P, name)(**kwargs), getattr(luigi, name)(**kwargs)
    if name.startswith("Enum"):
        theirs = getattr(luigi, name)(enum=Color)
    for text in texts:
        mine = ours.normalize(ours.parse(text))
        ref = theirs.normalize(theirs.parse(text))
        if isinstance(ref, luigi.date_interval.DateInterval):
            assert (type(mine).__name__, mine.date_a, mine.date_b) == (type(ref).__name__, ref.date_a, ref.date_b)
        else:
            assert mine == ref, text
            assert type(mine) is type(ref) or isinstance(ref, luigi.freezing.FrozenOrderedDict), text
        assert ours.serialize(mine) == theirs.serialize(ref), text
        assert ours.next_in_enumeration(mine) == theirs.next_in_enumeration(ref), text


def test_serialize_of_code_values_agrees_with_luigi():
    luigi = _luigi()
    cases = [
        ("DictParameter", {"b": [1, {"c": (2, 3)}], "a": None, 1: "int key"}),
        ("ListParameter", [1, [2, (3,)], {"k": "v"}]),
        ("TupleParameter", ((1, 2), ("a",))),
        ("DateParameter", DT(2024, 5, 6, 7)),
        ("DateParameter", D(999, 1, 2)),
        ("MonthParameter", D(2024, 5, 6)),
        ("DateHourParameter", DT(2024, 5, 6, 7, 8)),
        ("DateMinuteParameter", DT(2024, 5, 6, 7, 8, 9)),
        ("DateSecondParameter", DT(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)),
        ("TimeDeltaParameter", TD(days=-1, seconds=5)),
        ("TimeDeltaParameter", TD(days=15, seconds=3661, microseconds=5)),
        ("FloatParameter", 0.1 + 0.2),
        ("BoolParameter", True),
        ("IntParameter", 10**20),
    ]
    for name, value in cases:
        ours, theirs = getattr(P, name)(), getattr(luigi, name)()
        assert ours.serialize(value) == theirs.serialize(value), name
        if getattr(value, "tzinfo", None) is None:
            assert ours.serialize(ours.normalize(value)) == theirs.serialize(theirs.normalize(value)), name


def test_task_ids_agree_with_luigi():
    """Task ids hash the JSON of serialised parameters; check that path end to end."""
    luigi = _luigi()
    from luigi.task import task_id_str

    params = {
        "d": ("DictParameter", {"z": 1, "a": [1, 2]}),
        "l": ("ListParameter", [3, {"x": "y"}]),
        "day": ("DateParameter", D(2024, 1, 31)),
        "n": ("IntParameter", 3),
    }
    ours = {k: getattr(P, c)().serialize(getattr(P, c)().normalize(v)) for k, (c, v) in params.items()}
    theirs = {k: getattr(luigi, c)().serialize(getattr(luigi, c)().normalize(v)) for k, (c, v) in params.items()}
    assert task_id_str("Fam", ours) == task_id_str("Fam", theirs)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"a": "plain_value_09"},
        {"a": "x" * 40, "b": "a-b c/d", "c": "é😀", "d": "never in the summary"},
        {"z": "", "y": "_", "x": "__"},
        {"only": "tab\tand\nnewline", "q": 'quote"s'},
    ],
    ids=["none", "simple", "punctuation-unicode-long", "empty-underscores", "control-quotes"],
)
def test_task_id_strings_agree_with_luigi(values):
    """The summary part (first three values, cut, non-word characters replaced) and the hash, as Luigi makes them."""
    _luigi()
    from luigi.task import task_id_str as luigi_task_id_str

    from nbpipe.task import task_id_str

    assert task_id_str("Fam", values) == luigi_task_id_str("Fam", values)


def test_task_ids_of_instances_agree_with_luigi_for_random_values():
    """A task's id, made by the instance path (and its shortcut for plain letters and digits), is
    Luigi's task_id_str of its serialised parameters, for values of every kind of character."""
    _luigi()
    import random

    from luigi.task import task_id_str as luigi_task_id_str

    import nbpipe

    class RandomIdValues(nbpipe.Task):
        b = nbpipe.Parameter()
        a = nbpipe.Parameter()
        d = nbpipe.Parameter()
        c = nbpipe.Parameter()

    rng = random.Random(12)
    alphabets = ["0123456789", "abcXYZ019", "a-b_c.d e", 'q"\\/%s\t\n', "éß日本😀", "x" * 3]
    for _ in range(600):
        values = {name: "".join(rng.choices(rng.choice(alphabets), k=rng.choice([0, 1, 5, 17, 30]))) for name in "abcd"}
        task = RandomIdValues(**values)
        assert task.task_id == luigi_task_id_str(RandomIdValues.get_task_family(), values), values
        assert json.loads(task._Task__params_json) == values


def test_schema_with_custom_validator():
    seen = []

    class Validator:
        def validate(self, instance):
            seen.append(instance)
            if instance.get("a") != 1:
                raise ValueError("a must be 1")

    p = P.DictParameter(schema=Validator())
    assert p.normalize(FrozenOrderedDict(a=1)) == {"a": 1}
    assert seen == [{"a": 1}] and type(seen[0]) is dict  # validators see plain, unfrozen values
    with pytest.raises(ValueError, match="a must be 1"):
        p.normalize({"a": 2})


def test_schema_with_jsonschema():
    jsonschema = pytest.importorskip("jsonschema")
    p = P.ListParameter(schema={"type": "array", "items": {"type": "number", "maximum": 10}, "minItems": 1})
    assert p.normalize([1, 8.5]) == (1, 8.5)
    with pytest.raises(jsonschema.ValidationError):
        p.normalize([])
    with pytest.raises(jsonschema.ValidationError):
        p.normalize([999])
