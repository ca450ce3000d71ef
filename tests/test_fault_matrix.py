"""The fault matrix: every executor against every way a run can be hurt.

Each case runs the real command line (``python -m nbpipe run``) in a
subprocess over a small pipeline whose task bodies prove, by themselves,
that no task ever ran twice at once: a body takes a non-blocking ``flock``
on a file of its own before anything else, and writes ``OVERLAP`` to an
append-only log when another body of the same task still holds it (flocks
belong to open files, so two threads of one process conflict too, and a
dead process's flock is gone with it).

After every case, a last plain run must succeed, and then:

* no body overlapped another (the log has no ``OVERLAP``);
* every output present reads ``partial complete``: nothing half-written
  looks complete;
* no temporary file is left anywhere in the workspace;
* every run in history is closed (killed runs are closed as ``died`` by the
  next run).

Cases needing small file systems (full disks, a read-only output folder)
mount tmpfs and run only as root.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

#: "dask" starts a cluster of its own for each run; "dask-shared" runs on one cluster every driver shares.
EXECUTORS = ["inline", "thread", "process", "dask", "dask-shared"]
WORKERS = {"inline": 1, "thread": 2, "process": 2, "dask": 2, "dask-shared": 2}
IN_DRIVER = {"inline", "thread"}  # task code runs in the driver process itself
LINGERING = {"thread", "dask-shared"}  # an interrupt cannot stop a running task: the run waits for it

PIPELINE = textwrap.dedent("""
    import fcntl, os, signal, time
    import nbpipe

    def log(line):
        fd = os.open("body.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, (line + "\\n").encode())
        os.close(fd)

    class Part(nbpipe.Task):
        n = nbpipe.IntParameter()
        mode = nbpipe.Parameter(default="ok")

        @property
        def worker_timeout(self):  # only the hanging task: a gated one waits as long as the test needs
            return 4 if self.mode == "hang" else None

        def output(self):
            return nbpipe.LocalTarget(f"out/part{self.n}")

        def run(self):
            fd = os.open(f"body/{self.n}", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log(f"OVERLAP {self.n} {os.getpid()}")
                raise RuntimeError(f"part {self.n} is already running elsewhere")
            try:
                log(f"start {self.n} {os.getpid()}")
                with self.output().open("w") as f:
                    f.write("partial ")
                    f.flush()
                    open(f"started/{self.n}", "w").close()
                    if self.mode == "gate":
                        while not os.path.exists("gate"):
                            time.sleep(0.02)
                    elif self.mode == "raise":
                        raise RuntimeError("disk on fire")
                    elif self.mode == "exit":
                        os._exit(7)
                    elif self.mode == "kill":
                        os.kill(os.getpid(), signal.SIGKILL)
                    elif self.mode == "hang":
                        while True:
                            time.sleep(0.1)
                    elif self.mode == "big":
                        f.write("x" * 3_000_000)
                    elif self.mode == "fill_state":
                        fill("state")  # relative: a shared cluster's workers have their own environment
                    f.write("complete")
                log(f"end {self.n}")
            finally:
                os.close(fd)

    def fill(folder):
        with open(os.path.join(folder, "filler"), "ab", buffering=0) as f:  # unbuffered: close has nothing left to write
            try:
                while True:
                    f.write(b"\\0" * 65536)
                    f.flush()
            except OSError:
                pass

    class Root(nbpipe.WrapperTask):
        mode = nbpipe.Parameter(default="ok")

        def requires(self):
            return [Part(i, self.mode if i == 1 else "ok") for i in range(4)]

    class Gated(nbpipe.WrapperTask):
        def requires(self):
            return [Part(i, "gate") for i in range(4)]
""")


class Workspace:
    def __init__(self, root: Path, executor: str, cluster_address: str = ""):
        self.root = root
        self.executor = executor
        self.cluster_address = cluster_address
        self.state = root / "state"
        for name in ("out", "body", "started", "state"):
            (root / name).mkdir(exist_ok=True)
        (root / "matrix.py").write_text(PIPELINE)
        self.env = dict(os.environ, PYTHONPATH=str(root), NBPIPE_STATE_DIR=str(self.state), PYTHONUNBUFFERED="1")
        self.started: list[subprocess.Popen] = []

    def args(self, task: str, *extra: str, executor: str | None = None) -> list[str]:
        executor = executor or self.executor
        shared = ["--dask-address", self.cluster_address] if executor == "dask-shared" else []
        return [
            sys.executable,
            "-m",
            "nbpipe",
            "run",
            "--module",
            "matrix",
            task,
            *extra,
            "--workers",
            str(WORKERS[executor]),
            "--executor",
            executor.removesuffix("-shared"),
            *shared,
        ]

    def run(self, task: str, *extra: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.args(task, *extra), cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def start(self, task: str, *extra: str, executor: str | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(
            self.args(task, *extra, executor=executor),
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started.append(proc)
        return proc

    def close(self) -> None:
        """After a failed case: open the gate and end every driver it started, so none lingers."""
        self.open_gate()
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    def wait_started(self, proc: subprocess.Popen, count: int, timeout: float = 120) -> None:
        """Until ``count`` task bodies are inside their output's ``with`` block."""
        deadline = time.monotonic() + timeout
        while len(os.listdir(self.root / "started")) < count:
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"the run ended before {count} tasks started:\n{out}\n{err}")
            assert time.monotonic() < deadline, "tasks never started"
            time.sleep(0.02)

    def open_gate(self) -> None:
        (self.root / "gate").write_text("")

    def runs(self) -> list[tuple]:
        with sqlite3.connect(self.state / "state.db") as db:
            return db.execute("SELECT run_id, ended, outcome FROM runs ORDER BY started").fetchall()

    def finish_and_check(self) -> None:
        """The last plain run, then the matrix's invariants."""
        self.open_gate()
        last = self.run("Root")
        assert last.returncode == 0, last.stdout + last.stderr
        log = (self.root / "body.log").read_text() if (self.root / "body.log").exists() else ""
        assert "OVERLAP" not in log, log
        outputs = sorted(os.listdir(self.root / "out"))
        assert outputs == [f"part{i}" for i in range(4)], outputs
        for name in outputs:
            text = (self.root / "out" / name).read_text()
            assert text.startswith("partial ") and text.endswith("complete"), (name, text[:40])
        leftovers = [str(p) for p in self.root.rglob("*nbpipe-tmp*")]
        assert leftovers == [], leftovers
        open_runs = [r for r in self.runs() if r[1] is None]
        assert open_runs == [], open_runs


@pytest.fixture(scope="module")
def shared_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    ) as cluster:
        yield cluster


@pytest.fixture(params=EXECUTORS)
def ws(request, tmp_path) -> Iterator[Workspace]:
    address = request.getfixturevalue("shared_cluster").scheduler_address if request.param == "dask-shared" else ""
    workspace = Workspace(tmp_path, request.param, address)
    yield workspace
    workspace.close()


def _mount_tmpfs(path: Path, size: str, read_only: bool = False) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def mounts():
    mounted: list[Path] = []
    yield lambda path, size, read_only=False: (_mount_tmpfs(path, size, read_only), mounted.append(path))
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


# -- faults inside a task ---------------------------------------------------------------------


def test_task_raises(ws):
    done = ws.run("Root", "--mode", "raise")
    assert done.returncode == 30, done.stderr
    assert "RuntimeError: disk on fire" in done.stdout + done.stderr
    assert sorted(os.listdir(ws.root / "out")) == ["part0", "part2", "part3"]
    ws.finish_and_check()


@pytest.mark.parametrize("mode,code", [("exit", 7), ("kill", -signal.SIGKILL)])
def test_task_ends_its_process(ws, mode, code):
    done = ws.run("Root", "--mode", mode)
    if ws.executor in IN_DRIVER:
        assert done.returncode == code  # the task's process is the driver: it ends the run too
    else:
        assert done.returncode == 30, done.stdout + done.stderr
        failed = done.stdout.split("failed:", 1)[1].split("* ", 1)[0]
        assert f"Part(n=1, mode={mode})" in failed, done.stdout
    assert not (ws.root / "out" / "part1").exists()
    ws.finish_and_check()
    if ws.executor in IN_DRIVER:
        assert ws.runs()[0][2] == "died"


def test_task_hangs_past_worker_timeout(ws):
    if ws.executor in IN_DRIVER:
        pytest.skip("documented: threads cannot be stopped, so worker_timeout needs executor process or dask")
    done = ws.run("Root", "--mode", "hang")
    assert done.returncode == 30, done.stdout + done.stderr
    assert "timed out after 4 s" in done.stdout + done.stderr
    ws.finish_and_check()


# -- signals to the driver ----------------------------------------------------------------------


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_driver_stopped_by_a_signal(ws, sig, code):
    proc = ws.start("Gated")
    ws.wait_started(proc, WORKERS[ws.executor])
    proc.send_signal(sig)
    if ws.executor in LINGERING:
        # Threads cannot be stopped: the run says so and waits for them, keeping their locks.
        line = proc.stderr.readline()
        while "still running" not in line:
            assert line, "the run never said which tasks still run"
            line = proc.stderr.readline()
        ws.open_gate()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, out + err
    assert "Execution Summary" in out
    assert ws.runs()[-1][2] == "interrupted"
    ws.finish_and_check()


def test_driver_killed_then_rerun(ws):
    proc = ws.start("Gated")
    ws.wait_started(proc, WORKERS[ws.executor])
    proc.kill()
    proc.communicate(timeout=60)
    # Rerun at once, gate still shut: a surviving worker of the killed run would overlap here.
    for name in os.listdir(ws.root / "started"):
        os.remove(ws.root / "started" / name)
    rerun = ws.start("Gated")
    if ws.executor == "dask-shared":
        # The killed driver's bodies run on (nothing can stop a worker thread) and hold both of the
        # cluster's threads: the rerun's bodies can start only once they end.
        time.sleep(random.uniform(0.5, 2.0))  # a random moment to open the gate, not a synchronisation
    else:
        ws.wait_started(rerun, WORKERS[ws.executor])
    ws.open_gate()
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, out + err
    ws.finish_and_check()
    assert ws.runs()[0][2] == "died"


def test_a_second_run_with_random_interrupts(ws):
    """Run A (this executor) and run B (processes) on one graph; A is interrupted at a random moment."""
    cycles = 3
    rng = random.Random(os.getpid())
    for cycle in range(cycles):
        for name in os.listdir(ws.root / "started"):
            os.remove(ws.root / "started" / name)
        for name in os.listdir(ws.root / "out"):
            os.remove(ws.root / "out" / name)
        (ws.root / "gate").unlink(missing_ok=True)
        first = ws.start("Gated")
        ws.wait_started(first, 1)
        # Run B: processes; on a shared cluster, another driver of that cluster or (every other
        # cycle) processes on this machine, which only this machine's file locks keep apart.
        shared_neighbour = ws.executor == "dask-shared" and cycle % 2 == 0
        second = ws.start("Gated", executor="dask-shared" if shared_neighbour else "process")
        time.sleep(rng.uniform(0.0, 1.0))  # a random moment to interrupt, not a synchronisation
        first.send_signal(signal.SIGINT)
        if ws.executor in LINGERING:
            time.sleep(rng.uniform(0.0, 0.5))  # let run B wait on the locks the threads keep
        ws.open_gate()
        out1, err1 = first.communicate(timeout=180)
        out2, err2 = second.communicate(timeout=180)
        both = f"cycle {cycle}\n--- run A:\n{out1}{err1}\n--- run B:\n{out2}{err2}"
        assert first.returncode in (0, 130), both
        assert second.returncode == 0, both
        log = (ws.root / "body.log").read_text()
        assert "OVERLAP" not in log, f"{both}\n{log}"
    ws.finish_and_check()


# -- disks ------------------------------------------------------------------------------------------


def test_state_disk_full_at_start(ws, mounts):
    mounts(ws.state, "4m")
    assert ws.run("Part", "--n", "0").returncode == 0  # a healthy database with history
    _fill(ws.state)
    done = ws.run("Root")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no space left" in done.stderr and str(ws.state) in done.stderr
    assert "damaged" not in done.stderr
    (ws.state / "filler").unlink()
    ws.finish_and_check()


def test_state_disk_full_mid_run(ws, mounts):
    mounts(ws.state, "4m")
    done = ws.run("Root", "--mode", "fill_state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Execution Summary" in done.stdout
    assert done.stderr.count("run history is not being recorded") == 1, done.stderr
    assert "damaged" not in done.stderr and "cannot rollback" not in done.stderr
    (ws.state / "filler").unlink()
    ws.finish_and_check()


def test_output_disk_full(ws, mounts):
    mounts(ws.root / "out", "1m")
    done = ws.run("Root", "--mode", "big")
    assert done.returncode == 30, done.stdout + done.stderr
    assert "No space left on device" in done.stdout + done.stderr
    outputs = sorted(os.listdir(ws.root / "out"))
    # part1 fills the disk; with two workers a sibling writing at that moment may fail
    # with the same cause, which is right. What must hold: part1 never appears, every
    # output that does is whole, and the run says why.
    assert "part1" not in outputs and set(outputs) <= {"part0", "part2", "part3"}, outputs
    for name in outputs:
        assert (ws.root / "out" / name).read_text().endswith("complete"), name
    ws.finish_and_check()


def test_read_only_output_folder(ws, mounts):
    mounts(ws.root / "out", "1m", read_only=True)
    done = ws.run("Root")
    assert done.returncode == 30, done.stdout + done.stderr
    assert "Read-only file system" in done.stdout + done.stderr
    assert os.listdir(ws.root / "out") == []
    subprocess.run(["umount", "-l", str(ws.root / "out")], check=True)
    ws.finish_and_check()


def _fill(folder: Path) -> None:
    with open(folder / "filler", "ab", buffering=0) as f:  # unbuffered: close has nothing left to write
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
