"""Faults inside tasks with 2 worker processes, driven through the CLI in a subprocess.

For each way a task can die while writing its output — os._exit, SIGKILL,
an exception, a hang past worker_timeout — the task fails alone, its
siblings finish, no partial output or temporary file remains, the summary
names it and the exit code is non-zero.  SIGINT stops the run and leaves
no worker process behind.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.slow  # every test here starts processes, kernels or a browser

PIPELINE = textwrap.dedent("""
    import os, signal, time
    import nbpipe

    class Part(nbpipe.Task):
        n = nbpipe.IntParameter()
        mode = nbpipe.Parameter(default="ok")
        worker_timeout = 3

        def output(self):
            return nbpipe.LocalTarget(f"out/part{self.n}")

        def run(self):
            with open(f"pids/{self.n}", "w") as f:
                f.write(str(os.getpid()))
            print(f"part {self.n} starting")
            with self.output().open("w") as f:
                f.write("partial ")
                f.flush()
                if self.mode == "exit":
                    os._exit(7)
                if self.mode == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                if self.mode == "raise":
                    raise RuntimeError("disk on fire")
                if self.mode == "hang":
                    while True:
                        time.sleep(1)
                f.write("complete")

    class All(nbpipe.WrapperTask):
        bad = nbpipe.Parameter()

        def requires(self):
            return [Part(0), Part(1, self.bad), Part(2), Part(3)]

    class Sleepers(nbpipe.WrapperTask):
        def requires(self):
            return [Part(i, "hang") for i in range(4)]
""")


@pytest.fixture
def pipeline(tmp_path):
    (tmp_path / "faulty.py").write_text(PIPELINE)
    (tmp_path / "out").mkdir()
    (tmp_path / "pids").mkdir()
    return tmp_path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(
    "mode,reason",
    [
        ("exit", "worker died (exit code 7)"),
        ("kill", "worker died (exit code -9, SIGKILL)"),
        ("raise", "RuntimeError: disk on fire"),
        ("hang", "timed out after 3 s (worker_timeout); worker killed"),
    ],
)
def test_a_dying_task_fails_alone_and_leaves_nothing_half_written(pipeline, run_cli, mode, reason):
    proc = run_cli("run", "--module", "faulty", "All", "--bad", mode, "--workers", "2", cwd=pipeline)
    assert proc.returncode == 30, proc.stderr
    assert sorted(os.listdir(pipeline / "out")) == ["part0", "part2", "part3"]
    for name in ["part0", "part2", "part3"]:
        assert (pipeline / "out" / name).read_text() == "partial complete"
    assert "* 1 failed:\n    - 1 Part(n=1, mode=" + mode + ")" in proc.stdout
    assert "* 3 ran successfully:" in proc.stdout
    assert reason in proc.stderr
    assert "[Part(n=1, mode=" + mode + ")] part 1 starting" in proc.stdout
    worker_pid = int((pipeline / "pids" / "1").read_text())
    assert not alive(worker_pid)


def test_sigint_stops_the_run_and_every_worker(pipeline, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(pipeline), NBPIPE_STATE_DIR=str(tmp_path / ".nbpipe"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbpipe", "run", "--module", "faulty", "Sleepers", "--workers", "2"],
        cwd=pipeline,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait until both workers are inside a task (each writes its pid first).
    deadline = time.monotonic() + 60

    def started():
        return [p for p in (pipeline / "pids").iterdir() if p.read_text()]

    while len(started()) < 2:
        assert time.monotonic() < deadline, "workers never started"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    pids = [int(p.read_text()) for p in started()]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    for pid in pids:
        assert not alive(pid), f"worker {pid} survived the interrupt"
    assert os.listdir(pipeline / "out") == []  # no output, no temp file
    assert "failed" in out  # the summary lists the interrupted tasks


MAIN_SCRIPT = textwrap.dedent("""
    import multiprocessing, sys
    import nbpipe

    multiprocessing.set_start_method(sys.argv[1], force=True)

    class Square(nbpipe.Task):          # defined in __main__, as in a notebook
        n = nbpipe.IntParameter()

        def output(self):
            return nbpipe.LocalTarget(f"sq/{self.n}")

        def run(self):
            with self.output().open("w") as f:
                f.write(str(self.n * self.n))

    class Total(nbpipe.Task):
        def requires(self):
            return [Square(i) for i in range(8)]

        def output(self):
            return nbpipe.LocalTarget("total")

        def run(self):
            with self.output().open("w") as f:
                f.write(str(sum(int(t.open().read()) for t in self.input())))

    result = nbpipe.build([Total()], workers=2, detailed_summary=True)
    print(result.status.name, result.summary.to_dict()["counts"]["completed"])
""")


@pytest.mark.parametrize("start_method", ["spawn", "fork", "forkserver"])
def test_classes_defined_in_main_run_in_worker_processes(tmp_path, start_method):
    (tmp_path / "script.py").write_text(MAIN_SCRIPT)
    proc = subprocess.run(
        [sys.executable, "script.py", start_method],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, NBPIPE_STATE_DIR=str(tmp_path / ".s")),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "SUCCESS 9"
    assert (tmp_path / "total").read_text() == str(sum(i * i for i in range(8)))
