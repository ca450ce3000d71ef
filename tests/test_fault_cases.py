"""The single faults of the second fault pass, each reproduced: long output names, leftovers of dead
writers, outputs a failed attempt left, requires() that never ends, a state disk that cannot be
written, runs killed outright, SIGTERM to a worker process and to ``nbpipe execute``.

The same faults across every executor are in ``test_fault_matrix.py``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import nbpipe
from nbpipe.engine.resolver import Resolver
from nbpipe.engine.scheduling import State
from nbpipe.targets.temp_files import HOST_TAG, TEMP_MARK, remove_dead_temp_files, temp_path_for


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- temporary names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [200, 226, 240, 255])
def test_any_legal_output_name_can_be_written_atomically(tmp_path, length):
    name = "n" * (length - 4) + ".txt"
    target = nbpipe.LocalTarget(str(tmp_path / name))
    with target.open("w") as f:
        f.write("whole")
    assert target.open().read() == "whole"
    assert os.listdir(tmp_path) == [name]
    assert len(os.fsencode(os.path.basename(temp_path_for(str(tmp_path / name))))) <= 255


def test_long_names_keep_distinct_temporary_prefixes(tmp_path):
    a = os.path.basename(temp_path_for(str(tmp_path / ("é" * 120 + "a"))))
    b = os.path.basename(temp_path_for(str(tmp_path / ("é" * 120 + "b"))))
    assert a.split(TEMP_MARK)[0] != b.split(TEMP_MARK)[0]
    assert len(os.fsencode(a)) <= 255 and len(os.fsencode(b)) <= 255


def test_a_failed_write_prints_no_finaliser_noise(tmp_path):
    script = textwrap.dedent(f"""
        import gc, nbpipe
        target = nbpipe.LocalTarget({str(tmp_path / "missing-folder-is-a-file" / "x")!r})
        open({str(tmp_path / "missing-folder-is-a-file")!r}, "w").close()
        try:
            target.open("w")
        except OSError as exc:
            print("error:", type(exc).__name__)
        gc.collect()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "error:" in done.stdout
    assert "Exception ignored" not in done.stderr, done.stderr


def test_leftovers_of_a_dead_writer_go_with_the_next_write_in_their_folder(tmp_path):
    dead = _dead_pid()
    leftover = tmp_path / f".a.txt{TEMP_MARK}{dead}-{HOST_TAG}-0000abcd"
    leftover.write_text("partial")
    alive = tmp_path / f".b.txt{TEMP_MARK}{os.getppid()}-{HOST_TAG}-0000abcd"  # a live writer's
    alive.write_text("in progress")
    other_host = tmp_path / f".c.txt{TEMP_MARK}{dead}-zzzz-0000abcd"  # cannot be checked from here
    other_host.write_text("elsewhere")
    with nbpipe.LocalTarget(str(tmp_path / "new.txt")).open("w") as f:
        f.write("x")
    names = sorted(os.listdir(tmp_path))
    assert leftover.name not in names
    assert alive.name in names and other_host.name in names and "new.txt" in names


def test_sweeping_a_folder_is_done_at_most_once_a_minute(tmp_path):
    (tmp_path / f".a{TEMP_MARK}{_dead_pid()}-{HOST_TAG}-1").write_text("")
    assert len(remove_dead_temp_files(str(tmp_path))) == 1
    (tmp_path / f".b{TEMP_MARK}{_dead_pid()}-{HOST_TAG}-2").write_text("")
    assert remove_dead_temp_files(str(tmp_path)) == []  # listed a moment ago


# -- outputs a failed attempt left behind ---------------------------------------------------------------

HALF_WRITER = textwrap.dedent("""
    import os
    import nbpipe

    class Half(nbpipe.Task):
        def output(self):
            return nbpipe.LocalTarget("half.txt")

        def run(self):
            with open(self.output().path, "w") as f:   # not atomic
                f.write("half")
            if not os.path.exists("fixed"):
                raise RuntimeError("crashed after writing")

    class Reader(nbpipe.Task):
        def requires(self):
            return Half()

        def output(self):
            return nbpipe.LocalTarget("read.txt")

        def run(self):
            with self.output().open("w") as f:
                f.write(self.input().open().read())
""")


def test_an_output_left_by_a_failed_attempt_is_stale_and_rerun(tmp_path, run_cli):
    (tmp_path / "halfwriter.py").write_text(HALF_WRITER)
    first = run_cli("run", "--module", "halfwriter", "Half", cwd=tmp_path)
    assert first.returncode == 30
    assert (tmp_path / "half.txt").exists()  # Luigi's complete() accepts it: the default is unchanged
    status = run_cli("status", "--module", "halfwriter", "Reader", "--all", cwd=tmp_path)
    assert "its output exists, but its last attempt failed (RuntimeError: crashed after writing)" in status.stdout
    assert "stale" in status.stdout
    (tmp_path / "fixed").write_text("")
    rerun = run_cli("run", "--module", "halfwriter", "Reader", "--rerun-stale", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Half()" in rerun.stdout.split("ran successfully")[1].split("*")[0]
    after = run_cli("status", "--module", "halfwriter", "Half", "--all", cwd=tmp_path)
    assert "its output exists" not in after.stdout


PLAIN_WRITER = textwrap.dedent("""
    import os, time
    import nbpipe

    class Plain(nbpipe.Task):
        def output(self):
            return nbpipe.LocalTarget("plain.txt")

        def run(self):
            with open(self.output().path, "w") as f:   # not atomic
                f.write("half")
                f.flush()
                open("started", "w").close()
                while not os.path.exists("gate"):
                    time.sleep(0.02)
                f.write(" and whole")
""")


@pytest.mark.slow
def test_an_output_left_by_a_killed_run_is_stale_and_rerun(tmp_path, run_cli):
    (tmp_path / "plainwriter.py").write_text(PLAIN_WRITER)
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, NBPIPE_STATE_DIR=str(tmp_path / ".nbpipe"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbpipe", "run", "--module", "plainwriter", "Plain"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

    def recorded_running() -> bool:
        if not (tmp_path / "started").exists():
            return False
        with sqlite3.connect(tmp_path / ".nbpipe" / "state.db") as db:
            return db.execute("SELECT count(*) FROM attempts WHERE status = 'running'").fetchone()[0] == 1

    _wait_for(recorded_running, proc, "the running attempt was never recorded")
    proc.kill()
    proc.communicate()
    assert (tmp_path / "plain.txt").read_text() == "half"  # complete() says yes: Luigi's meaning is kept
    status = run_cli("status", "--module", "plainwriter", "Plain", "--all", cwd=tmp_path)
    assert "its last attempt (started at" in status.stdout and "never finished" in status.stdout, status.stdout
    (tmp_path / "gate").write_text("")
    rerun = run_cli("run", "--module", "plainwriter", "Plain", "--rerun-stale", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert (tmp_path / "plain.txt").read_text() == "half and whole"
    with sqlite3.connect(tmp_path / ".nbpipe" / "state.db") as db:
        statuses = [r[0] for r in db.execute("SELECT status FROM attempts ORDER BY id")]
        outcomes = [r[0] for r in db.execute("SELECT outcome FROM runs ORDER BY started")]
    assert statuses == ["running", "done"]  # the killed run's attempt stays; the rerun's replaced its own
    assert outcomes == ["died", "SUCCESS"]


# -- requires() that never ends -------------------------------------------------------------------------


class Forever(nbpipe.Task):
    n = nbpipe.IntParameter(default=0)

    def requires(self):
        return Forever(self.n + 1)

    def output(self):
        return nbpipe.LocalTarget(f"/nonexistent/forever/{self.n}")


def test_a_requires_chain_past_the_bound_fails_naming_the_chain():
    with Resolver(1, max_depth=50) as resolver:
        found = resolver.resolve([Forever()])
    failed = [r for r in found if r.state == State.SCHEDULING_FAILED]
    assert [r.task.n for r in failed] == [51]  # Forever(n=51) is 51 requirements below the root
    reason = failed[0].reason
    assert "deeper than 50 levels" in reason
    assert (
        "Forever(n=0) -> Forever(n=1) -> Forever(n=2) -> ... -> Forever(n=49) -> Forever(n=50) -> Forever(n=51)"
        in reason
    )
    assert len(found) == 52


def test_a_long_graph_walk_logs_its_progress(monkeypatch, caplog):
    import nbpipe.engine.resolver as resolver_module

    monkeypatch.setattr(resolver_module, "PROGRESS_EVERY", 0.0)  # every level is "after a long while"
    with caplog.at_level("WARNING", logger="nbpipe"), Resolver(1, max_depth=5) as resolver:
        resolver.resolve([Forever()])
    progress = [r.getMessage() for r in caplog.records if "still walking the graph" in r.getMessage()]
    assert progress and "tasks found" in progress[0] and "levels deep" in progress[0]


# -- the state store ----------------------------------------------------------------------------------


def test_runs_whose_driver_died_are_closed_by_the_next_run(tmp_path, monkeypatch):
    from nbpipe.state.store import StateStore

    store = StateStore(tmp_path)
    store.start_run("killed", time.time() - 5, ["X"], {})
    with sqlite3.connect(tmp_path / "state.db") as db:
        db.execute("UPDATE runs SET pid = ? WHERE run_id = 'killed'", (_dead_pid(),))
    store.start_run("live", time.time(), ["X"], {})  # this process: alive
    assert store.close_dead_runs(time.time()) == ["killed"]
    outcomes = {r["run_id"]: (r["outcome"], r["ended"] is not None) for r in store.runs()}
    assert outcomes == {"killed": ("died", True), "live": (None, False)}


def test_a_full_state_disk_is_reported_as_full_never_as_damage(tmp_path):
    from nbpipe.exceptions import StateStoreError, StateStoreUnwritable
    from nbpipe.state.store_errors import explain

    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    error = explain(full, "recording attempts", tmp_path / "state.db", tmp_path, 30)
    assert isinstance(error, StateStoreUnwritable)
    assert "no space left" in str(error) and str(tmp_path) in str(error) and "damaged" not in str(error)
    corrupt = sqlite3.DatabaseError("database disk image is malformed")
    corrupt.sqlite_errorcode = 11  # type: ignore[attr-defined]
    damaged = explain(corrupt, "opening", tmp_path / "state.db", tmp_path, 30)
    assert isinstance(damaged, StateStoreError) and not isinstance(damaged, StateStoreUnwritable)
    assert "damaged" in str(damaged)


def test_a_locked_state_database_s_message_says_how_long_it_was_waited_for(tmp_path):
    """ "Stayed locked for more than 30 s" only after a wait that long; SQLite's immediate "busy"
    (where waiting would deadlock) is not described as a wait."""
    from nbpipe.state.store_errors import explain

    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = 5  # type: ignore[attr-defined]
    at_once = str(explain(busy, "recording attempts", tmp_path / "state.db", tmp_path, 30, waited=0.004))
    assert "gave up after 0.00 s instead of waiting" in at_once and "more than" not in at_once
    assert "recording attempts" in at_once and str(tmp_path / "state.db") in at_once
    waited = str(explain(busy, "recording attempts", tmp_path / "state.db", tmp_path, 30, waited=30.02))
    assert "stayed locked by another process for more than 30 s while recording attempts" in waited


def test_a_state_database_held_by_another_writer_is_reported_after_the_timeout(tmp_path):
    """A real lock: another connection holds a write transaction past the store's timeout."""
    from nbpipe.exceptions import StateStoreError
    from nbpipe.state.store import StateStore

    store = StateStore(tmp_path, timeout=0.3)
    other = sqlite3.connect(str(tmp_path / "state.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(StateStoreError, match=r"stayed locked by another process for more than 0.3 s while"):
            store.enable(["T_1"], time.time())
        assert time.monotonic() - started >= 0.3
    finally:
        other.execute("ROLLBACK")
        other.close()


# -- SIGTERM ------------------------------------------------------------------------------------------------

GATED = textwrap.dedent("""
    import os, time
    import nbpipe

    class Gated(nbpipe.Task):
        n = nbpipe.IntParameter()

        def output(self):
            return nbpipe.LocalTarget(f"out/{self.n}")

        def run(self):
            with self.output().open("w") as f:
                f.write("partial ")
                with open(f"pids/{self.n}", "w") as p:
                    p.write(str(os.getpid()))
                while not os.path.exists("gate"):
                    time.sleep(0.02)
                f.write("complete")

    class Pair(nbpipe.WrapperTask):
        def requires(self):
            return [Gated(0), Gated(1)]
""")


def _wait_for(predicate, proc, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.slow
def test_sigterm_to_a_worker_process_fails_its_task_cleanly(tmp_path):
    (tmp_path / "gated.py").write_text(GATED)
    (tmp_path / "out").mkdir()
    (tmp_path / "pids").mkdir()
    env = dict(os.environ, PYTHONPATH=str(tmp_path), NBPIPE_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbpipe", "run", "--module", "gated", "Pair", "--workers", "2", "--executor", "process"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: len(os.listdir(tmp_path / "pids")) == 2, proc, "workers never started")
    victim = int((tmp_path / "pids" / "0").read_text())
    os.kill(victim, signal.SIGTERM)
    _wait_for(lambda: not Path(f"/proc/{victim}").exists(), proc, "the worker did not leave")
    (tmp_path / "gate").write_text("")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 30, out + err
    assert f"worker process {victim} received SIGTERM while running it; the task was stopped" in err
    assert sorted(os.listdir(tmp_path / "out")) == ["1"]  # no partial file, no temporary file


NOTEBOOK_CELLS = [
    "%load_ext nbpipe",
    "%%pipeline\n" + GATED.replace("import nbpipe\n", "import nbpipe\n", 1),
    "%pipeline run Pair --workers 2 --executor process",
    "print('after the run')",
]


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_nbpipe_execute_stops_the_run_inside_the_kernel(tmp_path, sig, code):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in NOTEBOOK_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "gated.ipynb"
    nbformat.write(nb, str(path))
    (tmp_path / "out").mkdir()
    (tmp_path / "pids").mkdir()
    env = dict(os.environ, NBPIPE_STATE_DIR=str(tmp_path / "state"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbpipe", "execute", str(path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: len(os.listdir(tmp_path / "pids")) == 2, proc, "tasks never started", timeout=120)
    workers = [int(p.read_text()) for p in (tmp_path / "pids").iterdir()]
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, out + err
    assert "Execution Summary" in out  # the run inside the kernel reported before the cell failed
    assert "after the run" not in out
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert os.listdir(tmp_path / "out") == []
    executed = nbformat.read(str(tmp_path / "gated.executed.ipynb"), as_version=4)
    assert any(o.get("ename") == "KeyboardInterrupt" for o in executed.cells[2].outputs)


# -- Stop (the widget's button) with the thread executor --------------------------------------------------


class Waits(nbpipe.Task):
    n = nbpipe.IntParameter()
    folder = nbpipe.Parameter()

    def output(self):
        return nbpipe.LocalTarget(os.path.join(self.folder, f"out{self.n}"))

    def run(self):
        with self.output().open("w") as f:
            open(os.path.join(self.folder, f"started{self.n}"), "w").close()
            while not os.path.exists(os.path.join(self.folder, "gate")):
                time.sleep(0.02)
            f.write("done")


def test_stop_keeps_the_locks_of_tasks_threads_still_run(tmp_path, monkeypatch):
    import threading

    from nbpipe.driver.run import execute
    from nbpipe.state.task_locks import TaskLocks

    monkeypatch.setenv("NBPIPE_STATE_DIR", str(tmp_path / "state"))
    stop = threading.Event()
    tasks = [Waits(0, str(tmp_path)), Waits(1, str(tmp_path))]
    results: list = []
    runner = threading.Thread(target=lambda: results.append(execute(tasks, workers=2, executor="thread", stop=stop)))
    runner.start()
    _wait_for_files(tmp_path, ["started0", "started1"])
    # Another run appears (as a second notebook or a CLI run would), then Stop is pressed.
    observer = TaskLocks(str(tmp_path / "state"), "observer")
    from nbpipe.state.live_runs import RunRegistry

    registry = RunRegistry(str(tmp_path / "state"), "observer", observer)
    try:
        stop.set()
        runner.join(timeout=60)
        assert not runner.is_alive()
        result = results[0]
        assert result.interrupted
        assert sorted(t.n for t in result.stragglers.tasks) == [0, 1]
        for task in tasks:
            holder = observer.try_acquire(task.task_id)
            assert holder is not None, "a task still running in a thread lost its lock"
        (tmp_path / "gate").write_text("")
        assert result.stragglers.wait(60)
        for task in tasks:
            assert observer.try_acquire(task.task_id) is None  # free once the thread ended
    finally:
        (tmp_path / "gate").write_text("")
        registry.close()
        observer.close()
    assert (tmp_path / "out0").read_text() == "done"


def _wait_for_files(folder: Path, names: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all((folder / n).exists() for n in names):
        assert time.monotonic() < deadline, f"{names} never appeared"
        time.sleep(0.02)
