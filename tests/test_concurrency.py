"""No double runs: concurrent runs of one graph, and a run killed mid-way."""

import collections
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.slow  # every test here starts processes, kernels or a browser

GRAPH = textwrap.dedent("""
    import os, sys, time
    import nbpipe

    WIDTH, LAYERS = 20, 10

    def log(kind, task):
        line = f"{time.time():.6f} {kind} {task.task_id} {os.getpid()}\\n"
        fd = os.open("log.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    class Node(nbpipe.Task):
        layer = nbpipe.IntParameter()
        i = nbpipe.IntParameter()

        def requires(self):
            if self.layer == 0:
                return []
            return [Node(self.layer - 1, (self.i + k) % WIDTH) for k in range(3)]

        def output(self):
            return nbpipe.LocalTarget(f"out/{self.layer}_{self.i}")

        def run(self):
            log("start", self)
            time.sleep(float(os.environ.get("TASK_SECONDS", "0.002")))  # the task's work
            with self.output().open("w") as f:
                f.write("x")
            log("done", self)

    class Top(nbpipe.WrapperTask):
        def requires(self):
            return [Node(LAYERS - 1, i) for i in range(WIDTH)]
""")


@pytest.fixture
def project(tmp_path):
    (tmp_path / "graph200.py").write_text(GRAPH)
    return tmp_path


def start(project, env_extra=None, workers=1):
    env = dict(os.environ, PYTHONPATH=str(project), NBPIPE_STATE_DIR=str(project / ".nbpipe"))
    env.update(env_extra or {})
    return subprocess.Popen(
        [sys.executable, "-m", "nbpipe", "run", "--module", "graph200", "Top", "--workers", str(workers)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_log(project):
    entries = []
    path = project / "log.txt"
    if not path.exists():
        return entries
    for line in path.read_text().splitlines():
        ts, kind, task_id, pid = line.split()
        entries.append((float(ts), kind, task_id, int(pid)))
    return entries


@pytest.fixture
def started():
    """Processes a test starts; any still running at its end are killed."""
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("repeat", range(20))
def test_two_concurrent_runs_run_each_task_exactly_once(project, repeat, started):
    first, second = start(project), start(project, workers=2)
    started += [first, second]
    out1, err1 = first.communicate(timeout=240)
    out2, err2 = second.communicate(timeout=240)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    # Started together, each run found the other at once (no wait for an acknowledgement that never came).
    assert "did not acknowledge" not in err1 + err2
    entries = read_log(project)
    done = collections.Counter(task for _, kind, task, _ in entries if kind == "done")
    started = collections.Counter(task for _, kind, task, _ in entries if kind == "start")
    assert len(done) == 200 and set(done.values()) == {1}
    assert set(started.values()) == {1}
    assert len(os.listdir(project / "out")) == 200


def test_a_killed_run_s_locks_are_taken_over_and_the_graph_finishes(project, started):
    slow = {"TASK_SECONDS": "0.05"}
    first = start(project, slow, workers=2)
    started.append(first)
    deadline = time.monotonic() + 60
    while sum(1 for e in read_log(project) if e[1] == "done") < 10:
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.02)
    second = start(project, slow, workers=2)
    started.append(second)
    # Read the second run's log until it waits for a task the first one holds.
    seen = []
    for line in second.stderr:
        seen.append(line)
        if "is being run by another worker" in line:
            break
    else:
        pytest.fail("the second run never met a task held by the first:\n" + "".join(seen))
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = time.time()
    out, err = second.communicate(timeout=240)
    err = "".join(seen) + err
    assert second.returncode == 0, err
    entries = read_log(project)
    done = collections.Counter(task for _, kind, task, _ in entries if kind == "done")
    assert len(done) == 200 and set(done.values()) == {1}, "a task ran twice or never"
    assert len(os.listdir(project / "out")) == 200
    # Tasks the first run had started but not finished were rerun by the second.
    first_done = {t for _, k, t, p in entries if k == "done" and p == first.pid}
    orphaned = {t for _, k, t, p in entries if k == "start" and p == first.pid} - first_done
    for task in orphaned:
        retaken = [ts for ts, k, t, p in entries if k == "start" and t == task and p == second.pid]
        assert retaken, f"{task} was never rerun"
        assert retaken[0] - killed_at <= 30, "a dead lock was not taken over within 30 s"


HOLDER = textwrap.dedent("""
    import os, time
    import nbpipe

    class Slow(nbpipe.Task):
        def output(self):
            return nbpipe.LocalTarget("slow.txt")

        def run(self):
            open("started", "w").close()
            while not os.path.exists("release"):   # the test says when to finish
                time.sleep(0.01)
            with self.output().open("w") as f:
                f.write("made by the first run")

    class After(nbpipe.Task):
        def requires(self):
            return Slow()

        def output(self):
            return nbpipe.LocalTarget("after.txt")

        def run(self):
            with self.output().open("w") as f:
                f.write(self.input().open().read().upper())
""")


@pytest.mark.parametrize("on_locked", ["skip", "wait"])
def test_a_task_held_by_another_run_is_skipped_or_waited_for(tmp_path, started, on_locked):
    (tmp_path / "holder.py").write_text(HOLDER)
    env = dict(os.environ, PYTHONPATH=str(tmp_path), NBPIPE_STATE_DIR=str(tmp_path / ".nbpipe"))
    first = subprocess.Popen(
        [sys.executable, "-m", "nbpipe", "run", "--module", "holder", "Slow"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(first)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.01)
    second_env = dict(env, NBPIPE_CONFIG_PATH=str(tmp_path / "second.toml"))
    (tmp_path / "second.toml").write_text(f'[core]\non_locked = "{on_locked}"\n')
    second = subprocess.Popen(
        [sys.executable, "-m", "nbpipe", "run", "--module", "holder", "After"],
        cwd=tmp_path,
        env=second_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(second)
    if on_locked == "skip":
        out, err = second.communicate(timeout=120)
        assert second.returncode == 10, err  # already_running
        assert "* 1 were being run by another worker:\n        - 1 Slow()" in out
        assert f"held by pid {first.pid}" in err
        (tmp_path / "release").touch()
        assert first.wait(timeout=120) == 0
        assert not (tmp_path / "after.txt").exists()
    else:
        for line in second.stderr:  # wait until the second run is waiting for Slow()
            if "is being run by another worker" in line:
                break
        (tmp_path / "release").touch()
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert first.wait(timeout=120) == 0
        assert (tmp_path / "after.txt").read_text() == "MADE BY THE FIRST RUN"
        assert "* 1 ran successfully:\n    - 1 After()" in out
    assert (tmp_path / "slow.txt").read_text() == "made by the first run"
