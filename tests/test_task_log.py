"""A task's own log lines from its last attempt, kept in the run history (nbpipe.engine.task_log)."""

import logging
import os
import sqlite3
import sys

import pytest

import nbpipe
from nbpipe.engine import task_log
from nbpipe.state.store import SCHEMA_VERSION, open_store

log = logging.getLogger("weather.fetch")


class Talks(nbpipe.Task):
    n = nbpipe.IntParameter()
    lines = nbpipe.IntParameter(default=2)
    fail = nbpipe.BoolParameter(default=False)
    folder = nbpipe.Parameter()

    def output(self):
        return nbpipe.LocalTarget(os.path.join(self.folder, f"talks_{self.n}.txt"))

    def run(self):
        for i in range(self.lines):
            log.warning("task %d says %d", self.n, i)
        logging.getLogger("nbpipe").warning("an engine message, not the task's")
        if self.fail:
            raise ValueError(f"task {self.n} broke")
        with self.output().open("w") as f:
            f.write("ok")


class Quiet(nbpipe.Task):
    folder = nbpipe.Parameter()

    def output(self):
        return nbpipe.LocalTarget(os.path.join(self.folder, "quiet.txt"))

    def run(self):
        with self.output().open("w") as f:
            f.write("ok")


class Prints(nbpipe.Task):
    n = nbpipe.IntParameter()
    folder = nbpipe.Parameter()

    def output(self):
        return nbpipe.LocalTarget(os.path.join(self.folder, f"prints_{self.n}.txt"))

    def run(self):
        print(f"task {self.n} prints")
        print("part one, ", end="")
        log.warning("task %d logs", self.n)
        print("part two")
        sys.stderr.write(f"task {self.n} to stderr\n")
        for percent in (0, 50, 100):
            sys.stderr.write(f"\rprogress {percent}%")
        sys.stderr.write("\n")
        print("no newline at the end", end="")
        with self.output().open("w") as f:
            f.write("ok")


def _printed(n):
    return [
        f"task {n} prints",
        f"WARNING weather.fetch: task {n} logs",
        "part one, part two",
        f"task {n} to stderr",
        "progress 100%",
        "no newline at the end",
    ]


def _store():
    return open_store(os.environ["NBPIPE_STATE_DIR"])


@pytest.mark.parametrize("executor", ["inline", "thread", "process"])
def test_each_task_keeps_its_own_lines_whatever_the_executor(tmp_path, executor):
    tasks = [Talks(n=n, lines=3, folder=str(tmp_path)) for n in range(4)]
    assert nbpipe.build(tasks, workers=2, executor=executor, local_scheduler=True)
    store = _store()
    for n, task in enumerate(tasks):
        got = store.last_log(task.task_id)
        assert got is not None, n
        assert got["lines"] == [f"WARNING weather.fetch: task {n} says {i}" for i in range(3)]
        assert got["status"] == "done" and got["dropped"] == 0


def test_a_failed_attempt_keeps_its_lines_and_the_traceback_is_not_among_them(tmp_path):
    task = Talks(n=7, fail=True, folder=str(tmp_path))
    assert not nbpipe.build([task], local_scheduler=True)
    got = _store().last_log(task.task_id)
    assert got["status"] == "failed"
    assert got["lines"] == ["WARNING weather.fetch: task 7 says 0", "WARNING weather.fetch: task 7 says 1"]


def test_only_the_last_attempt_counts(tmp_path):
    task = Talks(n=1, fail=True, folder=str(tmp_path))
    nbpipe.build([task], local_scheduler=True)
    assert _store().last_log(task.task_id) is not None
    quiet = Quiet(folder=str(tmp_path))
    nbpipe.build([quiet], local_scheduler=True)
    assert _store().last_log(quiet.task_id) is None  # ran, logged nothing
    (tmp_path / "talks_1.txt").write_text("made by hand")  # now complete: no new attempt, same last log
    nbpipe.build([task], local_scheduler=True)
    assert _store().last_log(task.task_id)["status"] == "failed"


def test_a_task_that_logs_a_lot_keeps_its_last_lines_and_counts_the_rest(tmp_path):
    task = Talks(n=2, lines=task_log.MAX_LINES + 50, folder=str(tmp_path))
    assert nbpipe.build([task], local_scheduler=True)
    got = _store().last_log(task.task_id)
    assert len(got["lines"]) == task_log.MAX_LINES and got["dropped"] == 50
    assert got["lines"][-1] == f"WARNING weather.fetch: task 2 says {task_log.MAX_LINES + 49}"


def test_a_nested_build_does_not_take_the_outer_tasks_lines(tmp_path):
    class Outer(nbpipe.Task):
        def output(self):
            return nbpipe.LocalTarget(str(tmp_path / "outer.txt"))

        def run(self):
            log.warning("outer before")
            nbpipe.build([Talks(n=9, lines=1, folder=str(tmp_path))], local_scheduler=True)
            log.warning("outer after")
            with self.output().open("w") as f:
                f.write("ok")

    assert nbpipe.build([Outer()], local_scheduler=True)
    store = _store()
    assert store.last_log(Outer().task_id)["lines"] == [
        "WARNING weather.fetch: outer before",
        "WARNING weather.fetch: outer after",
    ]
    assert store.last_log(Talks(n=9, lines=1, folder=str(tmp_path)).task_id)["lines"] == [
        "WARNING weather.fetch: task 9 says 0"
    ]


def test_a_database_of_the_first_schema_gains_the_log_table(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    conn = sqlite3.connect(folder / "state.db")
    conn.executescript("CREATE TABLE runs (run_id TEXT PRIMARY KEY); PRAGMA user_version = 1;")
    conn.close()
    store = open_store(folder)
    tables = {r[0] for r in store._read("test", "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "task_logs" in tables and "runs" in tables
    assert store._read("test", "PRAGMA user_version")[0][0] == SCHEMA_VERSION


def test_history_log_prints_the_last_attempts_lines(tmp_path, capsys):
    from nbpipe import retcodes
    from nbpipe.cli.main import main

    talking, quiet = Talks(n=3, fail=True, folder=str(tmp_path)), Quiet(folder=str(tmp_path))
    nbpipe.build([talking, quiet], local_scheduler=True)
    capsys.readouterr()
    assert main(["history", talking.task_id, "--log"]) == 0
    out = capsys.readouterr().out
    assert " failed " in out
    assert "    WARNING weather.fetch: task 3 says 0\n    WARNING weather.fetch: task 3 says 1\n" in out
    assert main(["history", "Quiet", "--log"]) == 0
    assert "    (its last attempt logged nothing)\n" in capsys.readouterr().out
    assert main(["history", "--log"]) == retcodes.USAGE_ERROR
    assert "--log needs a task id or family" in capsys.readouterr().err


def test_logging_configured_anew_between_runs_does_not_stop_the_capture(tmp_path):
    first = Talks(n=4, lines=1, folder=str(tmp_path))
    assert nbpipe.build([first], local_scheduler=True)
    logging.basicConfig(level=logging.WARNING, force=True)  # removes every root handler, ours included
    second = Talks(n=5, lines=1, folder=str(tmp_path))
    assert nbpipe.build([second], local_scheduler=True)
    assert _store().last_log(second.task_id)["lines"] == ["WARNING weather.fetch: task 5 says 0"]


@pytest.mark.parametrize("executor", ["inline", "thread", "process"])
def test_what_a_task_prints_is_kept_with_its_log_lines(tmp_path, executor):
    tasks = [Prints(n=n, folder=str(tmp_path)) for n in range(3)]
    assert nbpipe.build(tasks, workers=2, executor=executor, local_scheduler=True)
    store = _store()
    for n, task in enumerate(tasks):
        assert store.last_log(task.task_id)["lines"] == _printed(n)


def test_printed_lines_still_reach_the_screen(tmp_path, capsys):
    assert nbpipe.build([Prints(n=5, folder=str(tmp_path))], executor="inline", local_scheduler=True)
    out, err = capsys.readouterr()
    assert "task 5 prints\npart one, part two\nno newline at the end" in out
    assert "task 5 to stderr\n\rprogress 0%\rprogress 50%\rprogress 100%\n" in err


def test_a_log_handler_writing_to_stdout_does_not_keep_each_record_twice(tmp_path):
    nbpipe.build([Quiet(folder=str(tmp_path))], local_scheduler=True)  # stdout is wrapped from here on
    handler = logging.StreamHandler(sys.stdout)  # as logging.basicConfig(stream=sys.stdout) makes
    logging.getLogger().addHandler(handler)
    try:
        task = Talks(n=6, lines=2, folder=str(tmp_path))
        assert nbpipe.build([task], local_scheduler=True)
    finally:
        logging.getLogger().removeHandler(handler)
    assert _store().last_log(task.task_id)["lines"] == [
        "WARNING weather.fetch: task 6 says 0",
        "WARNING weather.fetch: task 6 says 1",
    ]


def test_a_stream_replaced_between_runs_is_wrapped_again(tmp_path, monkeypatch):
    import io

    nbpipe.build([Quiet(folder=str(tmp_path))], local_scheduler=True)
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stdout", screen)  # as contextlib.redirect_stdout or %%capture do
    task = Prints(n=8, folder=str(tmp_path))
    assert nbpipe.build([task], executor="inline", local_scheduler=True)
    assert _store().last_log(task.task_id)["lines"] == _printed(8)
    assert "task 8 prints" in screen.getvalue()
