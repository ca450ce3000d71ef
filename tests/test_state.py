"""State across runs: history, staleness, invalidation, disabling, store errors."""

import importlib
import multiprocessing
import os
import shutil
import sqlite3
import sys

import pytest

import nbpipe
from nbpipe import configuration as config
from nbpipe.state.store import AttemptRow, StateStore, StateStoreError, open_store
from nbpipe.task_register import Register

PIPE = """
import nbpipe

def scale(x):
    return x * {factor}

class Download(nbpipe.Task):
    station = nbpipe.IntParameter()
    {download_version}
    def output(self):
        return nbpipe.LocalTarget(f"raw/{{self.station}}.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write(str(self.station * 10))

class Clean(nbpipe.Task):
    station = nbpipe.IntParameter()
    {clean_version}
    def requires(self):
        return Download(self.station)

    def output(self):
        return nbpipe.LocalTarget(f"clean/{{self.station}}.txt")

    def run(self):
        # read the raw value
        value = int(self.input().open().read())
        result = scale(value) {clean_op}
        with self.output().open("w") as f:
            f.write(str(result))

class Report(nbpipe.Task):
    def requires(self):
        return [Clean(1), Clean(2)]

    def output(self):
        return nbpipe.LocalTarget("report.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write(",".join(t.open().read() for t in self.input()))
"""

BASE = dict(factor=2, clean_op="+ 0", download_version="", clean_version="")


def load(tmp_path, **edits):
    """Write the pipeline (with edits) as a fresh module and import it."""
    values = {**BASE, **edits}
    # The same module name each time, as when a user edits their pipeline file.
    name = "pipeline_under_test"
    (tmp_path / f"{name}.py").write_text(PIPE.format(**values))
    sys.modules.pop(name, None)
    shutil.rmtree(tmp_path / "__pycache__", ignore_errors=True)
    importlib.invalidate_caches()
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))
    Register.clear_instance_cache()
    return module


def states(task):
    return {str(s.task): (s.state, s.reasons) for s in nbpipe.status(task)}


@pytest.fixture(autouse=True)
def _fresh_fingerprints():
    from nbpipe.state.fingerprints import code as fingerprint

    fingerprint.clear_cache()


class _Upper(nbpipe.Parameter):
    def serialize(self, x):
        return str(x).upper()


class _RecordedParams(nbpipe.Task):
    ran: set = set()

    def complete(self):
        return self.task_id in self.ran

    def run(self):
        self.ran.add(self.task_id)


class RecordedPlain(_RecordedParams):
    n = nbpipe.IntParameter()
    text = nbpipe.Parameter()
    ratio = nbpipe.FloatParameter()
    shout = _Upper()
    note = nbpipe.Parameter(significant=False, default="not recorded")


class RecordedHidden(_RecordedParams):
    n = nbpipe.IntParameter()
    token = nbpipe.Parameter(visibility=nbpipe.parameter.ParameterVisibility.HIDDEN)
    secret = nbpipe.Parameter(visibility=nbpipe.parameter.ParameterVisibility.PRIVATE, default="s")


class RecordedOwnStrParams(_RecordedParams):
    n = nbpipe.IntParameter()

    def to_str_params(self, only_significant=False, only_public=False):
        return {"n": f"<{self.n}>"}


@pytest.mark.parametrize(
    "make",
    [
        lambda: RecordedPlain(n=7, text='quote " back \\ slash, new\nline, é, 日本', ratio=0.1, shout="hey"),
        lambda: RecordedHidden(n=1, token="t0k"),
        lambda: RecordedOwnStrParams(n=3),
    ],
    ids=["plain", "hidden", "own-to_str_params"],
)
def test_the_history_holds_each_task_s_significant_parameters_as_its_parameters_write_them(make):
    """The history keeps the parameters each significant, non-private parameter's serialize() writes
    (hidden ones too), whatever the class does for its id; the id's own JSON is reused only where
    it holds exactly those."""
    task = make()
    nbpipe.build([task], workers=1, executor="inline")
    expected = {
        name: param.serialize(getattr(task, name))
        for name, param in task.get_params()
        if param.significant and param.visibility != nbpipe.parameter.ParameterVisibility.PRIVATE
    }
    assert nbpipe.history(task)[0]["params"] == expected


def test_the_typical_durations_of_a_batch_are_each_family_s_latest_twenty_oldest_first():
    from nbpipe.state.rows import DURATION_SAMPLE, recent_durations

    # successes: (run_id, task_id, family, params, started, ended, ...)
    successes = [("r", f"A{i}", "A", "{}", 100.0 + i, 100.0 + i + i / 10) for i in range(50)]
    successes += [("r", f"B{i}", "B", "{}", 200.0 + i, 201.0 + i) for i in range(3)]
    successes.append(("r", "C0", "C", "{}", None, 300.0))  # no start time: no duration
    # other rows: (run_id, task_id, family, params, status, started, ended, ...)
    rows = [("r", "B9", "B", "{}", "done", 150.0, 152.5), ("r", "B8", "B", "{}", "failed", 150.0, 190.0)]
    got = recent_durations(rows, successes)
    assert set(got) == {"A", "B"}
    assert got["A"] == pytest.approx([i / 10 for i in range(50 - DURATION_SAMPLE, 50)])
    assert got["B"] == pytest.approx([2.5, 1.0, 1.0, 1.0])


def test_history_records_runs_and_attempts(tmp_path):
    m = load(tmp_path)
    result = nbpipe.build([m.Report()], detailed_summary=True)
    runs = nbpipe.history()
    assert [r["run_id"] for r in runs] == [result.run_id]
    assert runs[0]["outcome"] == "SUCCESS" and runs[0]["roots"] == [m.Report().task_id]
    attempts = nbpipe.history(m.Clean(1))
    assert [a["status"] for a in attempts] == ["done"]
    assert attempts[0]["params"] == {"station": "1"} and attempts[0]["duration"] >= 0
    assert (attempts[0]["error"], attempts[0]["traceback"], attempts[0]["attempt"]) == (None, None, 1)
    assert attempts[0]["worker"] == "inline" and attempts[0]["started"] <= attempts[0]["ended"]
    assert len(nbpipe.history("Clean")) == 2
    assert set(open_store(tmp_path / ".nbpipe").typical_durations(["Clean", "Download"])) == {"Clean", "Download"}


STALENESS = [
    # (edits, expected states of Download(1), Clean(1), Report)
    ("comment", dict(clean_op="+ 0  # a harmless comment"), ("complete", "complete", "complete")),
    ("formatting", dict(clean_op="+0"), ("complete", "complete", "complete")),
    ("logic in Clean.run", dict(clean_op="+ 1"), ("complete", "stale", "stale")),
    ("helper used by run", dict(factor=3), ("complete", "stale", "stale")),
    (
        "version pinned, logic edit",
        dict(clean_op="+ 1", clean_version='version = "1"'),
        ("complete", "complete", "complete"),
    ),
]


@pytest.mark.parametrize("label,edits,expected", STALENESS, ids=[s[0] for s in STALENESS])
def test_staleness_after_code_edits(tmp_path, label, edits, expected):
    first_edits = {"clean_version": 'version = "1"'} if "pinned" in label else {}
    m1 = load(tmp_path, **first_edits)
    assert nbpipe.build([m1.Report()])
    m2 = load(tmp_path, **edits)
    got = states(m2.Report())
    assert (got["Download(station=1)"][0], got["Clean(station=1)"][0], got["Report()"][0]) == expected
    if label == "logic in Clean.run":
        assert got["Clean(station=1)"][1] == ["code of Clean.run changed"]
        assert got["Report()"][1] == ["upstream Clean(station=1) is stale", "upstream Clean(station=2) is stale"]
    if label == "helper used by run":
        assert any("scale" in r and "changed" in r for r in got["Clean(station=1)"][1])


def test_upstream_rerun_makes_downstream_stale_and_rerun_stale_fixes_it(tmp_path):
    m = load(tmp_path)
    assert nbpipe.build([m.Report()])
    nbpipe.invalidate(m.Download(1))
    result = nbpipe.build([m.Download(1)], detailed_summary=True)
    assert result.summary.task_ids("completed") == [m.Download(1).task_id]
    got = states(m.Report())
    assert got["Download(station=1)"][0] == "complete"
    assert got["Clean(station=1)"][0] == "stale"
    assert got["Clean(station=1)"][1][0].startswith("upstream Download(station=1) re-ran at ")
    assert got["Clean(station=2)"][0] == "complete"
    # Luigi's rule runs nothing: everything exists.
    assert nbpipe.build([m.Report()], detailed_summary=True).summary.task_ids("completed") == []
    rerun = nbpipe.build([m.Report()], rerun="stale", detailed_summary=True)
    assert sorted(rerun.summary.task_ids("completed")) == sorted([m.Clean(1).task_id, m.Report().task_id])
    assert {s.state for s in nbpipe.status(m.Report())} == {"complete"}


def test_output_modified_outside_nbpipe_is_stale(tmp_path):
    m = load(tmp_path)
    assert nbpipe.build([m.Report()])
    with open("clean/2.txt", "w") as f:
        f.write("hand edited")
    os.utime("clean/2.txt", (1, 1))
    got = states(m.Report())
    assert got["Clean(station=2)"] == ("stale", ["output clean/2.txt modified outside nbpipe"])
    assert got["Report()"][1] == ["upstream Clean(station=2) is stale"]


def test_changed_significant_parameter_is_another_task_not_stale(tmp_path):
    m = load(tmp_path)
    assert nbpipe.build([m.Clean(1)])
    got = states(m.Clean(3))
    assert got == {"Clean(station=3)": ("not_built", []), "Download(station=3)": ("not_built", [])}
    assert states(m.Clean(1))["Clean(station=1)"] == ("complete", [])


def test_invalidate_marks_without_deleting_and_downstream_covers_descendants(tmp_path):
    m = load(tmp_path)
    assert nbpipe.build([m.Report()])
    before = {p: open(p, "rb").read() for p in ["raw/1.txt", "clean/1.txt", "report.txt"]}
    marked = nbpipe.invalidate(m.Download(1), downstream=True, within=m.Report())
    assert [str(t) for t in marked] == ["Download(station=1)", "Clean(station=1)", "Report()"]
    for path, data in before.items():
        assert open(path, "rb").read() == data  # nothing deleted or touched
    got = states(m.Report())
    assert {k for k, v in got.items() if v[0] == "invalidated"} == {
        "Download(station=1)",
        "Clean(station=1)",
        "Report()",
    }
    assert got["Download(station=2)"][0] == "complete"
    result = nbpipe.build([m.Report()], detailed_summary=True)
    assert sorted(map(str, result.summary.categories["completed"])) == [
        "Clean(station=1)",
        "Download(station=1)",
        "Report()",
    ]
    assert {s.state for s in nbpipe.status(m.Report())} == {"complete"}  # marks cleared by the rerun


def test_invalidate_without_downstream_marks_one_and_clear_removes_marks(tmp_path):
    m = load(tmp_path)
    assert nbpipe.build([m.Report()])
    assert [str(t) for t in nbpipe.invalidate(m.Clean(2))] == ["Clean(station=2)"]
    assert states(m.Report())["Clean(station=2)"][0] == "invalidated"
    assert nbpipe.clear_invalidations() == 1
    assert states(m.Report())["Clean(station=2)"][0] == "complete"
    with pytest.raises(ValueError, match="is not in the graph of"):
        nbpipe.invalidate(m.Clean(7), downstream=True, within=m.Report())


def test_failed_rerun_keeps_the_old_output_byte_for_byte(tmp_path):
    m = load(tmp_path)
    assert nbpipe.build([m.Clean(1)])
    old = open("clean/1.txt", "rb").read()
    broken = load(tmp_path, clean_op="+ 1 / 0")
    nbpipe.invalidate(broken.Clean(1))
    result = nbpipe.build([broken.Clean(1)], detailed_summary=True)
    assert result.summary.task_ids("failed") == [broken.Clean(1).task_id]
    assert open("clean/1.txt", "rb").read() == old
    assert sorted(os.listdir("clean")) == ["1.txt"]
    assert states(broken.Clean(1))["Clean(station=1)"][0] == "invalidated"  # still marked


class Flaky(nbpipe.Task):
    retry_count = 3

    def complete(self):
        return False

    def run(self):
        raise RuntimeError("service down")


def test_failures_from_earlier_runs_count_and_disable_until_enabled(tmp_path):
    store = open_store(tmp_path / ".nbpipe")
    import time

    now = time.time()
    store.record(
        [
            AttemptRow("cron-1", Flaky().task_id, "Flaky", "{}", "failed", now - 7200, now - 7100),
            AttemptRow("cron-2", Flaky().task_id, "Flaky", "{}", "failed", now - 120, now - 100),
            AttemptRow("cron-3", Flaky().task_id, "Flaky", "{}", "failed", now - 60, now - 50),
        ]
    )
    # Two failures within the last hour + one now = 3 = retry_count: disabled after one attempt.
    first = nbpipe.build([Flaky()], detailed_summary=True)
    attempts = [e for e in first.events if e.kind == "failed"]
    assert len(attempts) == 1
    assert [e.kind for e in first.events if e.task_id == Flaky().task_id][-1] == "disabled"
    # The next run does not even try: it reports the task disabled, with how to re-enable it.
    second = nbpipe.build([Flaky()], detailed_summary=True)
    assert [e.kind for e in second.events if e.kind in ("running", "failed")] == []
    assert second.summary.task_ids("failed") == [Flaky().task_id]
    assert "nbpipe enable" in second.summary.failures[Flaky().task_id]
    nbpipe.enable(Flaky())
    third = nbpipe.build([Flaky()], detailed_summary=True)
    assert len([e for e in third.events if e.kind == "failed"]) == 3  # a fresh start: three attempts


def test_corrupt_database_gives_one_clear_error_and_touches_no_output(tmp_path, run_cli):
    (tmp_path / "pipe.py").write_text(PIPE.format(**BASE))
    (tmp_path / ".nbpipe").mkdir()
    (tmp_path / ".nbpipe" / "state.db").write_bytes(b"this is not sqlite" * 100)
    proc = run_cli("run", "--module", "pipe", "Report")
    assert proc.returncode == 2
    assert "state database" in proc.stderr and "is damaged" in proc.stderr and "outputs are untouched" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "report.txt").exists() and not (tmp_path / "raw").exists()


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "s" / "state.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StateStoreError, match="schema version 99, newer than this nbpipe understands"):
        StateStore(db.parent)


def test_locked_database_times_out_with_a_clear_error(tmp_path):
    store = StateStore(tmp_path / "s", timeout=0.2)
    blocker = sqlite3.connect(tmp_path / "s" / "state.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateStoreError, match="stayed locked by another process for more than 0.2 s"):
            store.start_run("r", 0.0, [], {})
    finally:
        blocker.execute("ROLLBACK")


def _open_new_stores_together(folders, barrier):
    for folder in folders:
        barrier.wait()  # every process opens this folder's new database at the same moment
        StateStore(folder, timeout=30).close()  # a StateStoreError ends the process with exit code 1


def test_processes_opening_a_new_database_together_all_get_it(tmp_path):
    # Two runs started at once on a fresh project both create state.db; switching
    # a new database to WAL made the later one fail at once with "locked".
    processes, rounds = 4, 30
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes, timeout=60)
    folders = [tmp_path / f"project{i}" for i in range(rounds)]
    workers = [spawn.Process(target=_open_new_stores_together, args=(folders, barrier)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * processes, "a process could not open a new store"
    for folder in folders:
        assert sqlite3.connect(folder / "state.db").execute("PRAGMA journal_mode").fetchone() == ("wal",)


class ReadsAnUndecodableName(nbpipe.Task):
    folder = nbpipe.Parameter()

    def output(self):
        return nbpipe.LocalTarget(os.path.join(self.folder, "never.txt"))

    def run(self):
        name = os.fsdecode(b"caf\xe9.csv")  # a Latin-1 file name as os.listdir gives it: a lone surrogate
        print(f"reading {name}")
        raise FileNotFoundError(f"no such file: {name}")


class WritesAFile(nbpipe.Task):
    folder = nbpipe.Parameter()

    def output(self):
        return nbpipe.LocalTarget(os.path.join(self.folder, "fine.txt"))

    def run(self):
        with self.output().open("w") as f:
            f.write("ok")


def test_text_sqlite_cannot_hold_is_recorded_escaped_and_the_rest_of_the_batch_kept(tmp_path):
    # An error quoting a file name that is not UTF-8 made the whole batch's write fail:
    # the run's history lost every task of it, not only that one's message.
    bad, fine = ReadsAnUndecodableName(str(tmp_path)), WritesAFile(str(tmp_path))
    assert not nbpipe.build([bad, fine])
    store = open_store(tmp_path / ".nbpipe")
    last = store.last_attempts([bad.task_id, fine.task_id])
    assert last[fine.task_id]["status"] == "done"
    assert last[bad.task_id]["status"] == "failed"
    assert last[bad.task_id]["error"] == "FileNotFoundError: no such file: caf\\udce9.csv"
    assert store.last_log(bad.task_id)["lines"] == ["reading caf\udce9.csv"]


def test_state_can_be_turned_off(tmp_path):
    config.set_option("core", "state", False)
    m = load(tmp_path)
    assert nbpipe.build([m.Clean(1)])
    assert not (tmp_path / ".nbpipe" / "state.db").exists()
    with pytest.raises(ValueError, match="needs the state store"):
        nbpipe.build([m.Clean(1)], rerun="stale")


@pytest.mark.slow
def test_cli_status_invalidate_history(tmp_path, run_cli):
    (tmp_path / "pipe.py").write_text(PIPE.format(**BASE))
    assert run_cli("run", "--module", "pipe", "Report").returncode == 0
    proc = run_cli("invalidate", "--module", "pipe", "Download", "--station", "2", "--downstream", "--within", "Report")
    assert proc.returncode == 0, proc.stderr
    assert "marked 3 task(s)" in proc.stdout
    proc = run_cli("status", "--module", "pipe", "Report")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert any(line.startswith("invalidated") and "Clean(station=2)" in line for line in lines)
    assert any(line.startswith("complete") and "Clean(station=1)" in line for line in lines)
    proc = run_cli("run", "--module", "pipe", "Report")
    assert "* 3 ran successfully:" in proc.stdout
    proc = run_cli("history", "Clean")
    assert proc.returncode == 0 and proc.stdout.count("done") == 3
    runs = run_cli("history").stdout.splitlines()
    assert len(runs) == 2 and all("SUCCESS" in line for line in runs)
    assert "cleared 0 invalidation mark(s)" in run_cli("invalidate", "--clear").stdout


def test_eta_from_typical_durations(tmp_path):
    import time

    from nbpipe.state.staleness import estimate_seconds

    m = load(tmp_path)
    store = open_store(tmp_path / ".nbpipe")
    now = time.time()
    store.record(
        [AttemptRow("r", f"Clean_{i}", "Clean", "{}", "done", now - d, now) for i, d in enumerate([1.0, 2.0, 9.0])]
    )
    seconds, unknown = estimate_seconds([m.Clean(5), m.Clean(6), m.Download(5)])
    assert seconds == pytest.approx(4.0) and unknown == 1  # median 2 s per Clean; Download never ran
    assert estimate_seconds([m.Clean(5), m.Clean(6)], workers=2)[0] == pytest.approx(2.0)
