"""Progress on a terminal (a bar) and in logs (plain timestamped lines)."""

import io
import re

from nbpipe.cli.progress import ProgressDisplay
from nbpipe.engine.events import Kind, RunEvent


def events(*spec):
    return [RunEvent(kind, tid, 0.0, None, (), reason, {}) for kind, tid, reason in spec]


RUN = events(
    (Kind.PENDING, "a", ""),
    (Kind.PENDING, "b", ""),
    (Kind.PENDING, "c", ""),
    (Kind.RUNNING, "a", ""),
    (Kind.DONE, "a", ""),
    (Kind.RUNNING, "b", ""),
    (Kind.FAILED, "b", "boom"),
    (Kind.RETRY_WAIT, "b", ""),
    (Kind.PENDING, "b", "retrying"),
    (Kind.RUNNING, "b", ""),
    (Kind.FAILED, "b", "boom"),
    (Kind.RUNNING, "c", ""),
    (Kind.DONE, "c", ""),
    (Kind.RUN_FINISHED, "", ""),
)


def test_plain_lines_in_logs_with_counts_and_no_carriage_returns():
    now = [0.0]
    out = io.StringIO()
    display = ProgressDisplay(out, interval=1.0, clock=lambda: now[0], tty=False)
    for i, event in enumerate(RUN):
        now[0] = i * 0.5  # each event half a second after the previous one
        display(event)
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d nbpipe: \d+/3 done", line) for line in lines)
    assert "2/3 done, 0 running, 1 failed" in lines[-1]
    assert 3 <= len(lines) <= 8  # throttled to one per second of run time, plus the last


def test_short_runs_in_logs_stay_quiet():
    out = io.StringIO()
    display = ProgressDisplay(out, interval=10.0, clock=lambda: 0.0, tty=False)
    for event in RUN:
        display(event)
    assert out.getvalue() == ""


def test_a_bar_on_a_terminal():
    out = io.StringIO()
    display = ProgressDisplay(out, tty=True)
    for event in RUN:
        display(event)
    text = out.getvalue()
    assert "\r" in text and "2/3" in text and "failed 1" in text


class _Task:
    def __init__(self, family):
        self.family = family

    def get_task_family(self):
        return self.family


def test_eta_before_the_first_task_finishes_comes_from_the_history():
    now = [0.0]
    out = io.StringIO()
    asked = []

    def typical(families):
        asked.append(sorted(families))
        return {"Slow": 10.0}  # "Fresh" never ran here

    display = ProgressDisplay(out, interval=1.0, clock=lambda: now[0], tty=False, typical_durations=typical, workers=2)
    for family, tid in [("Slow", "s1"), ("Slow", "s2"), ("Fresh", "f1"), ("Fresh", "f2")]:
        display(RunEvent(Kind.PENDING, tid, 0.0, _Task(family), (), "", {}))
    display(RunEvent(Kind.RUNNING, "s1", 0.0, None, (), "", {}))
    now[0] = 5.0
    display(RunEvent(Kind.RUNNING, "s2", 0.0, None, (), "", {}))
    assert asked == [["Fresh", "Slow"]]
    # 4 tasks x 10 s (the known family's median stands in for the unknown one) / 2 workers = 20 s; 5 s gone.
    assert out.getvalue().rstrip().endswith("0/4 done, 2 running, 0 failed, eta 15s")
