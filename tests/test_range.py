"""nbpipe.tools.range: ranges of recurring tasks kept complete (Luigi's luigi.tools.range)."""

import datetime
import fnmatch

import pytest

import nbpipe
from nbpipe.exceptions import ParameterException
from nbpipe.mock import MockFileSystem, MockTarget
from nbpipe.tools import range as R
from nbpipe.tools.range_inference import _constrain_glob, infer_bulk_complete_from_fs, most_common

D = datetime.date
DT = datetime.datetime


def epoch(dt: DT) -> int:
    return int((dt - DT(1970, 1, 1)).total_seconds())


@pytest.fixture(autouse=True)
def _clean_mock_fs():
    MockFileSystem._data.clear()
    yield
    MockFileSystem._data.clear()


class Day(nbpipe.Task):
    day = nbpipe.DateParameter()

    def output(self):
        return MockTarget(self.day.strftime("days/%Y-%m-%d.txt"))

    def run(self):
        with self.output().open("w") as f:
            f.write("x")


class Month(nbpipe.Task):
    month = nbpipe.MonthParameter()
    label = nbpipe.Parameter(default="m")

    def output(self):
        return MockTarget(self.month.strftime(f"months/{self.label}/%Y-%m"))

    def run(self):
        with self.output().open("w") as f:
            f.write("x")


def test_daily_base_requires_the_missing_days_oldest_first_up_to_the_limit():
    Day(day=D(2024, 1, 2)).run()
    rng = R.RangeDailyBase(of=Day, start=D(2024, 1, 1), stop=D(2024, 1, 6), now=epoch(DT(2024, 2, 1)), task_limit=3)
    assert [t.day for t in rng.requires()] == [D(2024, 1, 1), D(2024, 1, 3), D(2024, 1, 4)]
    # Computed once: the same list comes back.
    assert rng.requires() is rng.requires()


def test_reverse_takes_the_newest_first():
    rng = R.RangeDailyBase(
        of=Day, start=D(2024, 1, 1), stop=D(2024, 1, 6), now=epoch(DT(2024, 2, 1)), task_limit=2, reverse=True
    )
    assert [t.day for t in rng.requires()] == [D(2024, 1, 5), D(2024, 1, 4)]


def test_days_back_bounds_the_window_when_start_is_earlier():
    rng = R.RangeDailyBase(of=Day, start=D(2000, 1, 1), now=epoch(DT(2024, 1, 10, 12)), days_back=2)
    assert [t.day for t in rng.requires()] == [D(2024, 1, 9), D(2024, 1, 10)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "At least one of start and stop"),
        ({"stop": D(2024, 1, 1)}, "reverse needs to be True"),
        ({"start": D(2024, 2, 1), "stop": D(2024, 1, 1)}, "start > stop"),
    ],
)
def test_bad_bounds_are_refused(kwargs, message):
    with pytest.raises(ParameterException, match=message):
        R.RangeDailyBase(of=Day, **kwargs).requires()


def test_events_report_delay_count_and_fraction():
    seen = []

    @R.RangeDailyBase.event_handler(R.RangeEvent.COMPLETE_FRACTION)
    def fraction(family, value):
        seen.append((family, value))

    try:
        Day(day=D(2024, 1, 1)).run()
        R.RangeDailyBase(of=Day, start=D(2024, 1, 1), stop=D(2024, 1, 5), now=epoch(DT(2024, 2, 1))).requires()
    finally:
        R.RangeDailyBase.remove_event_handler(R.RangeEvent.COMPLETE_FRACTION, fraction)
    assert seen == [("Day", 0.25)]


def test_monthly_with_of_params_and_param_name_runs_to_completion():
    rng = R.RangeMonthly(
        of=Month,
        of_params={"label": "q"},
        param_name="month",
        start=D(2023, 11, 1),
        stop=D(2024, 2, 1),
        now=epoch(DT(2024, 6, 1)),
    )
    assert [(t.label, t.month) for t in rng.requires()] == [
        ("q", D(2023, 11, 1)),
        ("q", D(2023, 12, 1)),
        ("q", D(2024, 1, 1)),
    ]
    assert nbpipe.build([rng], local_scheduler=True)
    assert sorted(MockFileSystem._data) == ["months/q/2023-11", "months/q/2023-12", "months/q/2024-01"]


def test_monthly_window_crosses_years():
    rng = R.RangeMonthly(of=Month, start=D(2000, 1, 1), now=epoch(DT(2024, 2, 15)), months_back=3, months_forward=1)
    # The window is whole months: from three months before now's month to the end of the next.
    assert [t.month for t in rng.requires()] == [D(2023, 11, 1), D(2023, 12, 1), D(2024, 1, 1), D(2024, 2, 1)]


def test_by_minutes_refuses_an_interval_that_does_not_divide_an_hour():
    rng = R.RangeByMinutesBase(of=Day, start=DT(2024, 1, 1), minutes_interval=7, now=epoch(DT(2024, 1, 1, 1)))
    with pytest.raises(ParameterException, match="evenly divide 60"):
        rng.requires()


def test_daily_uses_bulk_complete_with_of_params():
    class Bulk(nbpipe.Task):
        d = nbpipe.DateParameter()
        flag = nbpipe.BoolParameter()

        @classmethod
        def bulk_complete(cls, values):
            # ``cls`` carries of_params: instances made from it have flag set.
            assert all(cls(v).flag for v in values)
            return [v for v in values if v.day % 2]

    rng = R.RangeDaily(
        of=Bulk, of_params={"flag": True}, start=D(2024, 1, 1), stop=D(2024, 1, 6), now=epoch(DT(2024, 2, 1))
    )
    assert [t.d.day for t in rng.requires()] == [2, 4]


def test_daily_infers_completeness_from_folder_listings(monkeypatch):
    class Part(nbpipe.Task):
        d = nbpipe.DateParameter()

        def output(self):
            return MockTarget(self.d.strftime("store/%Y/%m-%d/part"))

    existing = ["store/2024/01-01/part", "store/2024/01-03/part"]
    listed = []

    # MockFileSystem lists by prefix; a file system that understands globs is what the inference needs.
    def listdir(self, glob):
        listed.append(glob)
        return fnmatch.filter(existing, glob + "*")

    monkeypatch.setattr(MockFileSystem, "listdir", listdir)
    monkeypatch.setattr(MockFileSystem, "exists", lambda self, path: True)
    rng = R.RangeDaily(of=Part, start=D(2024, 1, 1), stop=D(2024, 1, 5), now=epoch(DT(2024, 2, 1)))
    assert [t.d.day for t in rng.requires()] == [2, 4]
    # Four days are few enough to list one folder each.
    assert listed == [f"store/2024/01-0{day}" for day in range(1, 5)]


def test_inference_refuses_outputs_without_the_date():
    class Undated(nbpipe.Task):
        d = nbpipe.DateParameter()

        def output(self):
            return MockTarget("always/the/same")

    with pytest.raises(NotImplementedError, match="Couldn't deduce"):
        infer_bulk_complete_from_fs(
            [DT(2024, 1, 1)], lambda d: Undated(d.date()), lambda d: d.strftime("(%Y).*(%m).*(%d)")
        )


def test_constrain_glob_narrows_to_digits_present():
    paths = ["/2024/01/30", "/2024/01/31", "/2024/02/01"]
    assert sorted(_constrain_glob("/[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]", paths, limit=2)) == [
        "/2024/01/3[0-1]",
        "/2024/02/0[1]",
    ]
    assert len(_constrain_glob("/[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]", paths)) == 3
    assert _constrain_glob("/fixed", ["/fixed"]) == ["/fixed"]


def test_most_common():
    assert most_common([3, 1, 3]) == (3, 2)


def test_range_classes_run_from_the_command_line():
    assert nbpipe.run(
        [
            "RangeMonthly",
            "--of",
            "Month",
            "--start",
            "2024-01",
            "--stop",
            "2024-03",
            "--now",
            str(epoch(DT(2024, 6, 1))),
            "--local-scheduler",
        ],
    )
    assert sorted(MockFileSystem._data) == ["months/m/2024-01", "months/m/2024-02"]
