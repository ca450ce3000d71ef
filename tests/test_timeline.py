"""Tests of the run timeline (nbpipe/notebook/timeline.py), from hand-made events and one real run."""

from __future__ import annotations

import re

import pytest

import nbpipe
from nbpipe.engine.events import Kind, RunEvent
from nbpipe.engine.shown_state import STYLES, ShownState
from nbpipe.engine.summary import RunResult
from nbpipe.notebook.display import summary_html
from nbpipe.notebook.timeline import assign_rows, bars_from_events, format_seconds, timeline_html


def ev(kind: str, tid: str, t: float, **data) -> RunEvent:
    return RunEvent(kind, tid, t, None, (), "", data)


def test_bars_pair_running_with_the_event_that_ended_the_attempt():
    events = [
        ev(Kind.RUN_STARTED, "", 0.0),
        ev(Kind.RUNNING, "a", 1.0, attempt=1),
        ev(Kind.RUNNING, "b", 1.5, attempt=1),
        ev(Kind.FAILED, "a", 2.0, worker="w1"),
        ev(Kind.RUNNING, "a", 3.0, attempt=2),
        ev(Kind.DONE, "a", 4.0, worker="w1"),
        ev(Kind.DONE, "b", 5.0, worker="w2"),
        ev(Kind.RUNNING, "c", 5.5),
        ev(Kind.RUN_FINISHED, "", 6.0),
    ]
    bars = bars_from_events(events)
    got = [(b.task_id, b.start, b.end, b.state, b.worker, b.note) for b in bars]
    assert got == [
        ("a", 1.0, 2.0, ShownState.FAILED, "w1", ""),
        ("b", 1.5, 5.0, ShownState.RAN, "w2", ""),
        ("a", 3.0, 4.0, ShownState.RAN, "w1", ""),
        ("c", 5.5, 6.0, ShownState.RUNNING, "", "unfinished"),
    ]


def test_rows_never_hold_overlapping_bars_when_workers_are_unnamed():
    events = []
    for i, (start, end) in enumerate([(0, 4), (1, 2), (2, 3), (3, 5), (4, 6)]):
        events += [ev(Kind.RUNNING, f"t{i}", start), ev(Kind.DONE, f"t{i}", end)]
    events.sort(key=lambda e: e.time)
    rows = assign_rows(bars_from_events(events))
    assert [name for name, _ in rows] == ["slot 1", "slot 2"]
    for _, lane in rows:
        for before, after in zip(lane, lane[1:], strict=False):
            assert before.end <= after.start
    assert sum(len(lane) for _, lane in rows) == 5


def test_a_named_worker_with_overlapping_bars_gets_extra_rows():
    events = [
        ev(Kind.RUNNING, "a", 0),
        ev(Kind.RUNNING, "b", 1),
        ev(Kind.DONE, "a", 2, worker="w"),
        ev(Kind.DONE, "b", 3, worker="w"),
    ]
    assert [name for name, _ in assign_rows(bars_from_events(events))] == ["w", "w #2"]


def test_svg_has_one_bar_per_attempt_coloured_by_outcome_with_a_tooltip():
    events = [
        ev(Kind.RUNNING, "a", 0.0),
        ev(Kind.DONE, "a", 1.0, worker="w1"),
        ev(Kind.RUNNING, "b", 0.0),
        ev(Kind.FAILED, "b", 0.25, worker="w2"),
    ]
    out = timeline_html(events)
    rects = re.findall(r'<rect class="nbpipe-bar"[^>]*>.*?</rect>', out)
    assert len(rects) == 2
    ran = next(r for r in rects if 'data-state="ran"' in r)
    failed = next(r for r in rects if 'data-state="failed"' in r)
    assert f'fill="{STYLES[ShownState.RAN].fill}"' in ran
    assert f'fill="{STYLES[ShownState.FAILED].fill}"' in failed
    assert "<title>a: 1 s, ran (on w1)</title>" in ran
    assert "<title>b: 250 ms, failed (on w2)</title>" in failed
    assert "<script" not in out
    assert ">w1<" in out and ">w2<" in out  # one row label per worker slot
    assert ">0<" in out  # the time axis starts at 0


def test_task_names_are_escaped():
    events = [ev(Kind.RUNNING, "<x>", 0.0), ev(Kind.DONE, "<x>", 1.0, worker="<w>")]
    out = timeline_html(events)
    assert "<x>" not in out and "<w>" not in out
    assert "&lt;x&gt;" in out


def test_big_runs_are_capped_and_say_so():
    events = []
    for i in range(2500):
        events += [ev(Kind.RUNNING, f"t{i}", i * 0.01), ev(Kind.DONE, f"t{i}", i * 0.01 + 0.005, worker="w")]
    out = timeline_html(events)
    assert out.count('class="nbpipe-bar"') == 2000
    assert "first 2,000 of 2,500" in out


def test_no_attempt_no_timeline():
    assert timeline_html([ev(Kind.COMPLETE, "a", 0.0)]) == ""


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "250 ms"), (1.5, "1.5 s"), (200, "3 min 20 s"), (3900, "1 h 5 min")]
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_summary_of_a_one_task_run_has_no_timeline():
    result = RunResult([ev(Kind.RUNNING, "a", 0.0), ev(Kind.DONE, "a", 1.0, worker="w")])
    assert "nbpipe-timeline" not in summary_html(result)


def test_summary_of_a_three_task_run_contains_the_timeline_with_three_bars(tmp_path):
    class Part(nbpipe.Task):
        n = nbpipe.IntParameter()

        def output(self):
            return nbpipe.LocalTarget(str(tmp_path / f"part{self.n}.txt"))

        def run(self):
            with self.output().open("w") as f:
                f.write(str(self.n))

    class Whole(nbpipe.Task):
        def requires(self):
            return [Part(n=1), Part(n=2)]

        def output(self):
            return nbpipe.LocalTarget(str(tmp_path / "whole.txt"))

        def run(self):
            with self.output().open("w") as f:
                f.write("done")

    result = nbpipe.build([Whole()], workers=2, local_scheduler=True, detailed_summary=True)
    html = summary_html(result)
    svg = re.search(r"<svg[^>]*nbpipe-timeline-svg.*?</svg>", html, re.S)
    assert svg is not None
    assert svg.group(0).count('class="nbpipe-bar"') == 3
    assert svg.group(0).count('data-state="ran"') == 3
