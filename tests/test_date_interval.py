"""Tests for nbpipe.date_interval (and its agreement with Luigi's)."""

import datetime
import pickle
import warnings

import pytest

from nbpipe import date_interval as di

D = datetime.date


@pytest.mark.parametrize(
    "kind, text, a, b",
    [
        (di.Date, "2024-01-31", D(2024, 1, 31), D(2024, 2, 1)),
        (di.Week, "2024-W05", D(2024, 1, 29), D(2024, 2, 5)),
        (di.Week, "2009-W01", D(2008, 12, 29), D(2009, 1, 5)),
        (di.Week, "2009-W53", D(2009, 12, 28), D(2010, 1, 4)),
        (di.Month, "2024-02", D(2024, 2, 1), D(2024, 3, 1)),
        (di.Month, "2024-12", D(2024, 12, 1), D(2025, 1, 1)),
        (di.Year, "2024", D(2024, 1, 1), D(2025, 1, 1)),
        (di.Custom, "2024-01-01-2024-01-31", D(2024, 1, 1), D(2024, 1, 31)),
    ],
)
def test_parse_and_to_string(kind, text, a, b):
    interval = kind.parse(text)
    assert type(interval) is kind
    assert (interval.date_a, interval.date_b) == (a, b)
    assert interval.to_string() == text == str(interval) == repr(interval)


@pytest.mark.parametrize(
    "kind, text",
    [
        (di.Date, "2024-01"),
        (di.Date, "2024-1-31"),
        (di.Week, "2024-05"),
        (di.Month, "2024"),
        (di.Month, "2024-01-01"),
        (di.Year, "24"),
        (di.Year, "2024-01"),
        (di.Custom, "2024-01-01"),
        (di.Custom, "2024-01-01/2024-01-31"),
    ],
)
def test_parse_returns_none_for_other_forms(kind, text):
    assert kind.parse(text) is None


def test_invalid_dates_in_the_right_form_raise():
    with pytest.raises(ValueError, match="Invalid week"):
        di.Week.parse("2023-W53")  # 2023 has 52 ISO weeks
    with pytest.raises(ValueError):
        di.Week(2024, 0)
    with pytest.raises(ValueError):
        di.Month.parse("2024-13")
    with pytest.raises(ValueError):
        di.Date.parse("2023-02-29")


def test_dates_hours_iter_contains():
    month = di.Month(2024, 2)
    dates = month.dates()
    assert len(dates) == 29 and dates[0] == D(2024, 2, 1) and dates[-1] == D(2024, 2, 29)
    assert list(month) == dates
    hours = list(di.Date(2024, 1, 1).hours())
    assert len(hours) == 24
    assert hours[0] == datetime.datetime(2024, 1, 1, 0) and hours[-1] == datetime.datetime(2024, 1, 1, 23)
    assert D(2024, 2, 29) in month
    assert D(2024, 3, 1) not in month
    assert datetime.datetime(2024, 2, 3) not in month  # a datetime is never equal to a date
    assert "2024-02-03" not in month
    assert di.Custom(D(2024, 1, 5), D(2024, 1, 5)).dates() == []


def test_prev_next():
    assert di.Month(2024, 1).prev() == di.Month(2023, 12)
    assert di.Month(2024, 12).next() == di.Month(2025, 1)
    assert di.Year(2014).next() == di.Year(2015)
    assert di.Date(2024, 3, 1).prev() == di.Date(2024, 2, 29)
    assert di.Week(2013, 52).next() == di.Week(2014, 1)
    assert str(di.Week(2009, 1).prev()) == "2008-W52"
    with pytest.raises(NotImplementedError):
        di.Custom(D(2024, 1, 1), D(2024, 2, 1)).next()
    with pytest.raises(NotImplementedError):
        di.DateInterval(D(2024, 1, 1), D(2024, 2, 1)).to_string()


def test_from_date():
    d = D(2012, 6, 6)
    assert di.Month.from_date(d) == di.Month(2012, 6)
    assert di.Year.from_date(d) == di.Year(2012)
    assert di.Date.from_date(d) == di.Date(2012, 6, 6)
    assert di.Week.from_date(D(2010, 1, 3)) == di.Week(2009, 53)


def test_comparisons_and_hash():
    assert di.Year(2014) < di.Year(2015) <= di.Year(2015)
    assert di.Month(2014, 3) > di.Month(2014, 2) >= di.Month(2014, 2)
    assert di.Year(2014) == di.Year(2014)
    assert di.Year(2014) != di.Year(2015)
    assert hash(di.Month(2014, 3)) == hash(di.Month.parse("2014-03"))
    assert len({di.Date(2014, 1, 1), di.Date.parse("2014-01-01"), di.Date(2014, 1, 2)}) == 2
    assert (di.Year(2014) == "2014") is False
    assert di.Year(2014) != 2014
    with pytest.raises(TypeError):
        _ = di.Year(2014) < di.Month(2014, 1)
    with pytest.raises(TypeError):
        di.Year(2014) == di.Month(2014, 1)  # noqa: B015 -- as in Luigi, kinds do not compare


def test_sorting_and_pickle():
    weeks = [di.Week(2024, w) for w in (5, 1, 3)]
    assert [str(w) for w in sorted(weeks)] == ["2024-W01", "2024-W03", "2024-W05"]
    for interval in (di.Week(2024, 5), di.Custom(D(2024, 1, 1), D(2024, 2, 1)), di.Year(1999)):
        copy = pickle.loads(pickle.dumps(interval))
        assert copy == interval and type(copy) is type(interval)


@pytest.mark.parametrize(
    "text",
    ["2024", "2024-02", "2024-W05", "2020-W53", "2008-W01", "2024-02-29", "2024-01-01-2024-03-05", "1999-12-31"],
)
def test_agrees_with_luigi(text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # luigi warns on import
        from luigi import date_interval as ldi

    ours = theirs = None
    for kind in ("Year", "Month", "Week", "Date", "Custom"):
        ours = ours or getattr(di, kind).parse(text)
        theirs = theirs or getattr(ldi, kind).parse(text)
    assert type(ours).__name__ == type(theirs).__name__
    assert ours.to_string() == theirs.to_string() == text
    assert (ours.date_a, ours.date_b) == (theirs.date_a, theirs.date_b)
    assert ours.dates() == theirs.dates()
    if type(ours) is not di.Custom:
        assert ours.prev().to_string() == theirs.prev().to_string()
        assert ours.next().to_string() == theirs.next().to_string()
