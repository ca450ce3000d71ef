"""The dask executor on a real ``distributed.LocalCluster`` (worker processes with nannies).

Drivers run as subprocesses whose task classes live in ``__main__``, as in a
notebook, so they reach the Dask workers by value.
"""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import nbpipe  # noqa: E402
from nbpipe import configuration as config  # noqa: E402
from nbpipe.engine.events import Kind  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes; a task killing its worker twice is given up on."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
    yield cluster
    cluster.close()


@pytest.fixture
def driver(tmp_path, cluster):
    """Run a driver script (task classes in its __main__) against the cluster."""

    def start(body: str, *args: str, name: str = "driver.py", state: str = ".nbpipe") -> subprocess.Popen:
        script = tmp_path / name
        script.write_text(HEADER + textwrap.dedent(body))
        env = dict(os.environ, NBPIPE_STATE_DIR=str(tmp_path / state), NBPIPE_DASK_ADDRESS=cluster.scheduler_address)
        return subprocess.Popen(
            [sys.executable, str(script), *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(body: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        proc = start(body, *args, **kwargs)
        out, err = proc.communicate(timeout=240)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    run.start = start
    return run


HEADER = """\
import os, sys, time
import nbpipe

def log(line):
    # One write per line with O_APPEND: lines from concurrent writers never mix.
    fd = os.open("log.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, (line + "\\n").encode())
    os.close(fd)

def main(root, workers=2):
    result = nbpipe.build([root], workers=workers, executor="dask", detailed_summary=True)
    print(result.summary_text)
    sys.exit(result.exit_code)
"""

LAYERED = """
class Leaf(nbpipe.Task):
    n = nbpipe.IntParameter()

    def output(self):
        return nbpipe.LocalTarget(f"out/leaf_{self.n}.txt")

    def run(self):
        log(f"{self} {os.getpid()}")
        print(f"leaf {self.n} here")
        with self.output().open("w") as f:
            f.write(f"{self.n} {os.getpid()}")


class Middle(nbpipe.Task):
    k = nbpipe.IntParameter()

    def requires(self):
        return [Leaf(n=self.k * 10 + i) for i in range(10)]

    def output(self):
        return nbpipe.LocalTarget(f"out/middle_{self.k}.txt")

    def run(self):
        log(f"{self} {os.getpid()}")
        total = sum(int(t.open().read().split()[0]) for t in self.input())
        with self.output().open("w") as f:
            f.write(str(total))


class Root(nbpipe.Task):
    def requires(self):
        return [Middle(k=k) for k in range(18)]

    def output(self):
        return nbpipe.LocalTarget("out/root.txt")

    def run(self):
        log(f"{self} {os.getpid()}")
        with self.output().open("w") as f:
            f.write(str(sum(int(t.open().read()) for t in self.input())))


if __name__ == "__main__":
    main(Root())
"""


def _log_lines(tmp_path):
    return (tmp_path / "log.txt").read_text().splitlines()


def test_a_200_task_notebook_style_pipeline_runs_on_two_dask_workers(driver, tmp_path):
    proc = driver(LAYERED)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "* 199 ran successfully:" in proc.stdout  # 180 leaves, 18 middles, the root
    assert (tmp_path / "out" / "root.txt").read_text() == str(sum(range(180)))
    lines = _log_lines(tmp_path)
    assert len(lines) == 199 == len({line.rsplit(" ", 1)[0] for line in lines})
    assert len({line.rsplit(" ", 1)[1] for line in lines}) == 2  # both worker processes ran tasks
    assert os.getpid() not in {int(line.rsplit(" ", 1)[1]) for line in lines}
    assert "[Leaf(n=7)] leaf 7 here" in proc.stdout  # task prints come back, tagged
    # The history has the run, on the dask executor, with every task done.
    attempts = _store(tmp_path).attempts(limit=500)
    assert {a["status"] for a in attempts} == {"done"} and len(attempts) == 199
    assert {a["worker"].rsplit(":", 1)[0] for a in attempts} == {"dask-tcp://127.0.0.1"}
    leaf = _store(tmp_path).last_log(next(a["task_id"] for a in attempts if a["task_id"].startswith("Leaf_7_")))
    assert leaf is not None and leaf["lines"] == ["leaf 7 here"]  # and are kept in the task's log
    again = driver(LAYERED)
    assert again.returncode == 0 and "* 1 complete ones were encountered:\n    - 1 Root()" in again.stdout
    assert len(_log_lines(tmp_path)) == 199  # nothing ran twice


def _store(tmp_path):
    from nbpipe.state.store import open_store

    return open_store(str(tmp_path / ".nbpipe"))


FLAKY_TASK = """
class Flaky(nbpipe.Task):
    retry_count = 2
    retry_delay = 0.2

    def output(self):
        return nbpipe.LocalTarget("out/flaky.txt")

    def run(self):
        log("attempt")
        if len(open("log.txt").read().splitlines()) < 2:
            raise RuntimeError("first attempt fails")
        with self.output().open("w") as f:
            f.write("ok")
"""

FLAKY = (
    FLAKY_TASK
    + """

class Broken(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("out/broken.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write("half")
            raise ValueError("broken on purpose")


class Both(nbpipe.WrapperTask):
    def requires(self):
        return [Flaky(), Broken()]


if __name__ == "__main__":
    main(Both())
"""
)


def test_a_failure_fails_its_task_and_a_retry_succeeds(driver, tmp_path):
    proc = driver(FLAKY)
    assert proc.returncode == 30, proc.stdout + proc.stderr
    assert _log_lines(tmp_path) == ["attempt", "attempt"]  # retried once by the driver's scheduler
    assert (tmp_path / "out" / "flaky.txt").read_text() == "ok"
    assert "* 1 ran successfully:\n    - 1 Flaky()" in proc.stdout
    assert "* 1 failed:\n    - 1 Broken()" in proc.stdout
    assert "ValueError: broken on purpose" in proc.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["flaky.txt"]  # no half-written output, no temp file
    attempts = [h["status"] for h in reversed(nbpipe.history("Flaky", store=_store(tmp_path)))]
    assert attempts == ["failed", "done"]


RETRY_WAIT = (
    FLAKY_TASK
    + """
from nbpipe.driver.run import execute
from nbpipe.executors import make_executor


class FailsOnce(Flaky):
    retry_delay = 2  # long enough for a spinning driver to show in the count


if __name__ == "__main__":
    executor = make_executor("dask", 2, address=os.environ["NBPIPE_DASK_ADDRESS"])
    waits = []
    original_wait = executor.wait

    def counting_wait(timeout):
        waits.append(timeout)
        return original_wait(timeout)

    executor.wait = counting_wait
    result = execute([FailsOnce()], executor=executor)
    print("waits", len(waits), result.status.name)
    sys.exit(result.exit_code)
"""
)


def test_a_retry_delay_on_dask_is_slept_through_not_spun(driver, tmp_path):
    """Nothing runs on the cluster during a 2 s retry delay: the driver waits a few times, not millions."""
    proc = driver(RETRY_WAIT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _log_lines(tmp_path) == ["attempt", "attempt"]
    waits = int(proc.stdout.split("waits ")[1].split()[0])
    assert waits < 50, proc.stdout


KILLED = """
class Slow(nbpipe.Task):
    n = nbpipe.IntParameter()

    def output(self):
        return nbpipe.LocalTarget(f"out/slow_{self.n}.txt")

    def run(self):
        log(f"start {self.n} {os.getpid()}")
        first = not os.path.exists(f"started_{self.n}")
        open(f"started_{self.n}", "w").write(str(os.getpid()))
        with self.output().open("w") as f:
            f.write("partial ")
            if first and self.n == 0:
                while True:  # until the test kills this worker
                    time.sleep(0.05)
            f.write("done")


class AllSlow(nbpipe.WrapperTask):
    def requires(self):
        return [Slow(n=n) for n in range(4)]


if __name__ == "__main__":
    main(AllSlow())
"""


def test_a_worker_killed_mid_run_gets_its_task_rescheduled(driver, tmp_path):
    proc = driver.start(KILLED)
    marker = tmp_path / "started_0"
    deadline = time.monotonic() + 120
    while not (marker.exists() and marker.read_text()):  # the task is running: kill its worker
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    os.kill(int(marker.read_text()), signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    starts = [line for line in _log_lines(tmp_path) if line.startswith("start 0 ")]
    assert len(starts) == 2  # Dask ran it again on a live worker
    assert all((tmp_path / "out" / f"slow_{n}.txt").read_text() == "partial done" for n in range(4))
    assert sorted(os.listdir(tmp_path / "out")) == [f"slow_{n}.txt" for n in range(4)]


SUICIDAL = """
class Suicidal(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("out/never.txt")

    def run(self):
        log("dying")
        with self.output().open("w") as f:
            f.write("partial")
            os._exit(3)


class Fine(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("out/fine.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write("fine")


class Hangs(nbpipe.Task):
    worker_timeout = 1.5

    def output(self):
        return nbpipe.LocalTarget("out/hangs.txt")

    def run(self):
        log(f"hangs {os.getpid()}")
        while True:
            time.sleep(0.05)


class Mixed(nbpipe.WrapperTask):
    bad = nbpipe.Parameter()

    def requires(self):
        return [Fine(), Suicidal() if self.bad == "suicidal" else Hangs()]


if __name__ == "__main__":
    main(Mixed(bad=sys.argv[1]))
"""


def test_a_task_that_keeps_killing_its_workers_fails_and_the_run_moves_on(driver, tmp_path):
    proc = driver(SUICIDAL, "suicidal")
    assert proc.returncode == 30, proc.stdout + proc.stderr
    assert "* 1 failed:\n    - 1 Suicidal()" in proc.stdout
    assert "* 1 ran successfully:\n    - 1 Fine()" in proc.stdout
    assert "Suicidal() failed: worker died: every Dask worker that ran it died (KilledWorker" in proc.stderr
    # allowed-failures = 1: Dask tried it on a second worker, then gave up.
    assert _log_lines(tmp_path) == ["dying", "dying"]
    assert sorted(os.listdir(tmp_path / "out")) == ["fine.txt"]  # no partial output, no temp file


def test_a_hung_task_times_out_its_worker_is_restarted_and_the_run_moves_on(driver, tmp_path):
    proc = driver(SUICIDAL, "hangs")
    assert proc.returncode == 30, proc.stdout + proc.stderr
    assert "* 1 failed:\n    - 1 Hangs()" in proc.stdout
    assert "Hangs() failed: timed out after 1.5 s (worker_timeout); Dask worker restarted" in proc.stderr
    hung_pid = int(_log_lines(tmp_path)[0].split()[1])
    _wait_dead(hung_pid)  # the hung code was stopped with its worker
    assert sorted(os.listdir(tmp_path / "out")) == ["fine.txt"]


def _wait_dead(pid: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, f"process {pid} still alive"
        time.sleep(0.05)


SHARED = """
class Step(nbpipe.Task):
    n = nbpipe.IntParameter()

    def requires(self):
        return [Step(n=self.n - 1)] if self.n % 10 else []

    def output(self):
        return nbpipe.LocalTarget(f"{OUT}/step_{self.n}.txt")

    def run(self):
        log(f"{self.n} {DRIVER}")
        time.sleep(0.02)  # widen the window in which both drivers want the task
        with self.output().open("w") as f:
            f.write(str(self.n))


class All(nbpipe.WrapperTask):
    def requires(self):
        return [Step(n=n) for n in range(100)]


OUT = os.path.abspath("shared")
DRIVER = sys.argv[1]  # travels with the classes, by value
if __name__ == "__main__":
    main(All(), workers=1)  # each driver its share of the cluster's two threads, so both get work
"""


def test_two_drivers_on_one_cluster_never_run_a_task_twice(driver, tmp_path):
    # Separate state directories, as on two machines: only the Dask lock can see both.
    first = driver.start(SHARED, "first", state="state_a")
    second = driver.start(SHARED, "second", state="state_b")
    results = [p.communicate(timeout=240) + (p.returncode,) for p in (first, second)]
    for out, err, code in results:
        assert code == 0, out + err
    ran = [line.split()[0] for line in _log_lines(tmp_path)]
    assert sorted(ran, key=int) == [str(n) for n in range(100)]  # each task exactly once
    by = {line.split()[1] for line in _log_lines(tmp_path)}
    assert by == {"first", "second"}, results  # and both drivers did part of the work
    assert sorted(os.listdir(tmp_path / "shared")) == sorted(f"step_{n}.txt" for n in range(100))


ORPHAN = """
import fcntl

GATE, LOCK, OUT = os.path.abspath("gate"), os.path.abspath("held.lock"), os.path.abspath("held.txt")
DRIVER = sys.argv[1]


class Held(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget(OUT)

    def run(self):
        log(f"start {DRIVER}")
        fd = os.open(LOCK, os.O_CREAT | os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("OVERLAP")
            raise
        while not os.path.exists(GATE):
            time.sleep(0.02)
        with self.output().open("w") as f:
            f.write(DRIVER)
        log(f"end {DRIVER}")


if __name__ == "__main__":
    main(Held(), workers=1)
"""


def test_a_body_left_running_by_a_killed_driver_is_waited_for(driver, tmp_path):
    # Driver A is killed while its task's body runs on one worker (nothing stops a worker
    # thread); driver B, with the other worker free, must wait for that body, not run its own.
    first = driver.start(ORPHAN, "A")
    _wait_for(lambda: "start A" in _log_text(tmp_path), "driver A's body to start", first)
    first.kill()
    first.communicate(timeout=60)
    second = driver.start(ORPHAN, "B")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(second.stderr), daemon=True)
    reader.start()
    _wait_for(
        lambda: any("waiting for it" in line for line in lines) or "start B" in _log_text(tmp_path),
        "driver B to wait for the body",
        second,
    )
    assert "start B" not in _log_text(tmp_path), "driver B ran the task while driver A's body still ran"
    assert "still running on the Dask cluster" in "".join(lines)
    (tmp_path / "gate").touch()
    out = second.stdout.read()
    assert second.wait(timeout=120) == 0, out + "".join(lines)
    log_text = _log_text(tmp_path)
    assert "start B" not in log_text and "OVERLAP" not in log_text, log_text
    assert (tmp_path / "held.txt").read_text() == "A"  # A's body finished the task; B found it complete


def _log_text(tmp_path) -> str:
    path = tmp_path / "log.txt"
    return path.read_text() if path.exists() else ""


def _wait_for(condition, what: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None or condition(), f"the driver ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # polling a condition, not synchronising on time


def test_small_results_are_pushed_and_large_ones_fetched_whole(cluster, tmp_path, capfd):
    # A result up to PUSHED_RESULT_BYTES reaches the driver as an event; a bigger one
    # (here 200 kB of printed output) is fetched as the future's result: both arrive whole.
    from nbpipe.executors.dask_task import PUSHED_RESULT_BYTES

    config.set_option("dask", "address", cluster.scheduler_address)

    class Talk(nbpipe.Task):
        n = nbpipe.IntParameter()
        size = nbpipe.IntParameter()

        def output(self):
            return nbpipe.LocalTarget(str(tmp_path / f"talk_{self.n}.txt"))

        def run(self):
            print(f"<{self.n}:" + "x" * self.size + ">")
            with self.output().open("w") as f:
                f.write("x")

    sizes = {0: 10, 1: PUSHED_RESULT_BYTES * 3, 2: 10}
    result = nbpipe.build([Talk(n=n, size=k) for n, k in sizes.items()], workers=2, executor="dask")
    assert result is True
    out = capfd.readouterr().out
    for n, k in sizes.items():
        assert f"<{n}:" + "x" * k + ">" in out, n  # one line, tagged with the task's name
        assert (tmp_path / f"talk_{n}.txt").exists()


def test_progress_events_and_the_summary_match_local_executors(cluster, tmp_path):
    config.set_option("dask", "address", cluster.scheduler_address)

    class Counting(nbpipe.Task):
        n = nbpipe.IntParameter()

        def output(self):
            return nbpipe.LocalTarget(str(tmp_path / f"count_{self.n}.txt"))

        def run(self):
            self.set_progress_percentage(50)
            self.set_status_message(f"counting {self.n}")
            with self.output().open("w") as f:
                f.write("x")

    from nbpipe.driver.run import execute

    events = []
    result = execute([Counting(n=n) for n in range(3)], workers=2, executor="dask", observers=[events.append])
    local = execute([Counting(n=n + 10) for n in range(3)], workers=2, executor="thread")
    assert result.exit_code == 0 and result.summary.to_dict()["counts"] == local.summary.to_dict()["counts"]
    progress = [e for e in events if e.kind == Kind.PROGRESS]
    assert {(e.task_id, tuple(e.data.items())) for e in progress} >= {
        (Counting(n=1).task_id, (("progress_percentage", 50),)),
        (Counting(n=1).task_id, (("status_message", "counting 1"),)),
    }
    started = next(e for e in events if e.kind == Kind.RUN_STARTED)
    assert started.data["executor"] == "dask"
    workers = {e.data.get("worker") for e in events if e.kind == Kind.DONE}
    assert all(w.startswith("dask-tcp://127.0.0.1:") for w in workers)


@contextlib.contextmanager
def a_cluster_with_a_gpu_worker():
    """A LocalCluster of one plain worker, and one worker started with --resources gpu=1 by Dask's own CLI.

    Yields the cluster's scheduler address and the gpu worker's address.
    """
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None, silence_logs=40) as small:
        gpu = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", small.scheduler_address]
            + ["--nthreads", "1", "--resources", "gpu=1", "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with distributed.Client(small, set_as_default=False) as client:
                client.wait_for_workers(2, timeout=60)
                gpu_worker = next(a for a, w in client.scheduler_info()["workers"].items() if w["resources"])
            yield small.scheduler_address, gpu_worker
        finally:
            gpu.terminate()
            gpu.wait(timeout=30)


def test_task_resources_map_to_dask_worker_resources(tmp_path):
    with a_cluster_with_a_gpu_worker() as (address, gpu_worker):

        class OnGpu(nbpipe.Task):
            n = nbpipe.IntParameter()
            resources = {"gpu": 1}

            def output(self):
                return nbpipe.LocalTarget(str(tmp_path / f"gpu_{self.n}.txt"))

            def run(self):
                from distributed import get_worker

                with self.output().open("w") as f:
                    f.write(get_worker().address)

        class TooBig(nbpipe.Task):
            resources = {"gpu": 2}

            def complete(self):
                return False

        config.set_option("resources", "gpu", 2)
        from nbpipe.driver.run import execute

        result = execute(
            [OnGpu(n=n) for n in range(4)] + [TooBig()],
            workers=2,
            executor="dask",
            dask_address=address,
        )
        assert {(tmp_path / f"gpu_{n}.txt").read_text() for n in range(4)} == {gpu_worker}
        failed = result.summary.to_dict()
        assert result.exit_code == 30, result.summary_text
        reason = next(e.reason for e in result.events if e.kind == Kind.FAILED)
        assert reason.startswith("needs resource gpu=2 but the largest Dask worker offers gpu=1")
        assert failed["counts"]["completed"] == 4


def test_tasks_waiting_for_a_resource_never_hold_back_tasks_any_worker_can_run(tmp_path):
    # Newly ready tasks wait to be sent together while the workers have work queued; tasks queued for a
    # resource only one worker has do not count, or the plain worker would idle. Here each GPU task
    # waits for the plain tasks (which become ready only after Start), so holding them back deadlocks.
    with a_cluster_with_a_gpu_worker() as (address, _):
        plain_outputs = [tmp_path / f"plain_{n}.txt" for n in range(3)]

        class Start(nbpipe.Task):
            def output(self):
                return nbpipe.LocalTarget(str(tmp_path / "start.txt"))

            def run(self):
                with self.output().open("w") as f:
                    f.write("go")

        class Plain(nbpipe.Task):
            n = nbpipe.IntParameter()

            def requires(self):
                return Start()

            def output(self):
                return nbpipe.LocalTarget(str(plain_outputs[self.n]))

            def run(self):
                with self.output().open("w") as f:
                    f.write("done")

        class OnGpu(nbpipe.Task):
            n = nbpipe.IntParameter()
            resources = {"gpu": 1}

            def output(self):
                return nbpipe.LocalTarget(str(tmp_path / f"gpu_{self.n}.txt"))

            def run(self):
                import os
                import time

                deadline = time.monotonic() + 60
                while not all(os.path.exists(p) for p in plain_outputs):
                    if time.monotonic() > deadline:
                        raise RuntimeError("the plain tasks never ran while this one waited")
                    time.sleep(0.05)
                with self.output().open("w") as f:
                    f.write("done")

        config.set_option("resources", "gpu", 4)  # the driver lets all four go; Dask queues them for its one gpu
        from nbpipe.driver.run import execute

        result = execute(
            [OnGpu(n=n) for n in range(4)] + [Plain(n=n) for n in range(3)],
            workers=2,
            executor="dask",
            dask_address=address,
        )
        assert result.exit_code == 0, result.summary_text
        assert result.summary.to_dict()["counts"]["completed"] == 8


def test_a_local_cluster_is_started_on_demand_and_gone_afterwards(tmp_path):
    script = tmp_path / "ondemand.py"
    script.write_text(
        HEADER
        + textwrap.dedent("""
        class Where(nbpipe.Task):
            n = nbpipe.IntParameter()

            def output(self):
                return nbpipe.LocalTarget(f"where_{self.n}.txt")

            def run(self):
                with self.output().open("w") as f:
                    f.write(str(os.getpid()))

        class Both(nbpipe.WrapperTask):
            def requires(self):
                return [Where(n=0), Where(n=1), Where(n=2)]

        if __name__ == "__main__":
            main(Both())
        """)
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NBPIPE_DASK_ADDRESS", "DASK_SCHEDULER_ADDRESS")}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "started a local Dask cluster of 2 worker process(es)" in proc.stderr
    pids = {int((tmp_path / f"where_{n}.txt").read_text()) for n in range(3)}
    assert proc.returncode == 0 and os.getpid() not in pids
    for pid in pids:
        _wait_dead(pid, within=10)  # the workers ended with the run


def test_an_unreachable_scheduler_is_one_clear_error(run_cli, tmp_path):
    (tmp_path / "tiny.py").write_text("import nbpipe\n\nclass Tiny(nbpipe.Task):\n    pass\n")
    (tmp_path / "nbpipe.toml").write_text("[dask]\nconnect_timeout = 1\n")
    proc = run_cli("run", "--module", "tiny", "Tiny", "--dask-address", "tcp://127.0.0.1:9")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9 (from the call)" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("run", "--module", "tiny", "Tiny", "--executor", "process", "--dask-address", "tcp://x:1")
    assert proc.returncode == 2 and "--dask-address goes with --executor dask" in proc.stderr


MAGIC_CELL = """%%pipeline
import os
import nbpipe

class Cube(nbpipe.Task):
    n = nbpipe.IntParameter()

    def output(self):
        return nbpipe.LocalTarget(f"cubes/{self.n}.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write(f"{self.n ** 3} {os.getpid()}")

class Cubes(nbpipe.WrapperTask):
    def requires(self):
        return [Cube(n=n) for n in range(6)]
"""


def test_pipeline_magic_and_the_widget_run_on_dask(cluster, tmp_path, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from nbpipe.notebook.widget import DagWidget

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nbpipe")
    shell.run_cell(MAGIC_CELL)
    result = shell.run_line_magic("pipeline", f"run Cubes --workers 2 --dask-address {cluster.scheduler_address}")
    assert result.exit_code == 0, result.summary_text
    pids = {int((tmp_path / "cubes" / f"{n}.txt").read_text().split()[1]) for n in range(6)}
    assert os.getpid() not in pids  # classes defined in a cell ran in the Dask workers
    # The six cubes and the wrapper ran, as with local executors (and in Luigi).
    assert "7 ran successfully" in result.summary_text
    # The widget's live states follow a dask run as they follow a local one.
    for n in range(6):
        (tmp_path / "cubes" / f"{n}.txt").unlink()
    widget = DagWidget(shell.user_ns["Cubes"](), workers=2, executor="dask", dask_address=cluster.scheduler_address)
    assert {widget.states[shell.user_ns["Cube"](n=n).task_id] for n in range(6)} == {"not_built"}
    widget.run(background=False)
    assert {widget.states[shell.user_ns["Cube"](n=n).task_id] for n in range(6)} == {"ran"}
    assert widget.pushes >= 1


def test_fsspec_targets_on_s3_shared_by_dask_workers(cluster, tmp_path):
    sys.path.insert(0, os.path.dirname(__file__))
    try:
        from s3_server import s3_server
    finally:
        sys.path.pop(0)

    with s3_server("dask-bucket") as s3:
        options = s3.options

        class Part(nbpipe.Task):
            n = nbpipe.IntParameter()

            def output(self):
                return nbpipe.FsspecTarget(f"s3://dask-bucket/parts/{self.n}.txt", **options)

            def run(self):
                with self.output().open("w") as f:
                    f.write(str(self.n * 10))

        class Total(nbpipe.Task):
            def requires(self):
                return [Part(n=n) for n in range(8)]

            def output(self):
                return nbpipe.FsspecTarget("s3://dask-bucket/total.txt", **options)

            def run(self):
                total = sum(int(t.open("r").read()) for t in self.input())
                with self.output().open("w") as f:
                    f.write(str(total))

        from nbpipe.driver.run import execute

        result = execute([Total()], workers=2, executor="dask", dask_address=cluster.scheduler_address)
        assert result.exit_code == 0, result.summary_text
        assert s3.keys() == sorted([f"parts/{n}.txt" for n in range(8)] + ["total.txt"])
        body = s3.client.get_object(Bucket="dask-bucket", Key="total.txt")["Body"].read()
        assert body == str(sum(n * 10 for n in range(8))).encode()
        again = execute([Total()], workers=2, executor="dask", dask_address=cluster.scheduler_address)
        assert again.summary.to_dict()["counts"]["completed"] == 0  # complete on shared storage


COUNTED_GLOBAL = """
def _loaded(data):
    log(f"loaded {os.getpid()}")  # each time a worker unpickles the global
    return data

class Counted:
    def __init__(self, data):
        self.data = data

    def __reduce__(self):
        return (_loaded, (self.data,))

BIG = Counted(b"x" * 2_000_000)

class UsesBig(nbpipe.Task):
    i = nbpipe.IntParameter()

    def output(self):
        return nbpipe.LocalTarget(f"out/big_{self.i}.txt")

    def run(self):
        log(f"ran {os.getpid()}")
        with self.output().open("w") as f:
            f.write(str(len(BIG)))

if __name__ == "__main__":
    result = nbpipe.build([UsesBig(i=i) for i in range(30)], workers=2, executor="dask", detailed_summary=True)
    sys.exit(result.exit_code)
"""


def test_a_class_and_its_large_global_are_loaded_once_per_dask_worker(driver, tmp_path):
    proc = driver(COUNTED_GLOBAL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = _log_lines(tmp_path)
    loads = [line.split()[1] for line in lines if line.startswith("loaded")]
    ran_on = {line.split()[1] for line in lines if line.startswith("ran")}
    assert len([line for line in lines if line.startswith("ran")]) == 30
    # Once per worker that ran a task (a worker may have it from an earlier test's run: then not at all).
    assert len(loads) == len(set(loads)) <= 2
    assert set(loads) <= ran_on


CONFIGURED = """
class Settings(nbpipe.Config):
    factor = nbpipe.IntParameter(default=1)

class Part(nbpipe.Task):
    i = nbpipe.IntParameter()
    offset = nbpipe.IntParameter(default=0)

    def output(self):
        return nbpipe.LocalTarget(f"out/part_{self.i}.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write(str(self.i * Settings().factor + self.offset))

class Total(nbpipe.Task):
    n = nbpipe.IntParameter(default=2)

    def requires(self):
        return [Part(i=i) for i in range(self.n)]  # built again on the worker

    def output(self):
        return nbpipe.LocalTarget("out/total.txt")

    def run(self):
        parts = [int(t.open().read()) for t in self.input()]
        with self.output().open("w") as f:
            f.write(f"{len(parts)} {sum(parts)}")

if __name__ == "__main__":
    from nbpipe import configuration
    configuration.set_option("Settings", "factor", "7")
    with configuration.command_line_values({"Part": {"offset": "100"}}):
        result = nbpipe.build([Total()], workers=2, executor="dask", detailed_summary=True)
    sys.exit(result.exit_code)
"""


def test_configuration_from_the_driver_reaches_dask_workers(driver, tmp_path):
    # The workers run elsewhere (another working directory): only shipping the configuration gets it there.
    (tmp_path / "nbpipe.toml").write_text("[Total]\nn = 5\n")
    proc = driver(CONFIGURED)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "out" / "total.txt").read_text() == f"5 {sum(i * 7 + 100 for i in range(5))}"


UNLOADABLE = """
import importlib.util
from nbpipe.executors import shipping

with open("only_in_driver_dir/mod.py", "w") as f:
    f.write("import nbpipe\\nclass OnlyInDriver(nbpipe.Task):\\n    def complete(self):\\n        return False\\n")
spec = importlib.util.spec_from_file_location("nbpipe_dask_only_in_driver", "only_in_driver_dir/mod.py")
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
shipping.importable_by_name = lambda module: True  # travels by reference: the worker cannot import it

class Fine(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("out/fine.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write("ok")

if __name__ == "__main__":
    result = nbpipe.build([module.OnlyInDriver(), Fine()], workers=2, executor="dask", detailed_summary=True)
    for event in result.events:
        if event.kind == "failed":
            print("REASON", event.reason)
"""


def test_a_task_a_dask_worker_cannot_load_fails_naming_the_module(driver, tmp_path):
    (tmp_path / "only_in_driver_dir").mkdir()
    proc = driver(UNLOADABLE)
    reasons = [line for line in proc.stdout.splitlines() if line.startswith("REASON")]
    assert len(reasons) == 1, proc.stdout + proc.stderr
    assert "nbpipe_dask_only_in_driver" in reasons[0] and "No module named" in reasons[0]
    assert (tmp_path / "out" / "fine.txt").read_text() == "ok"


LONE = """
from nbpipe.executors import dask_locks

calls = []
original = dask_locks.DaskTaskLocks.try_acquire

def counting(self, task_id):
    calls.append(task_id)
    return original(self, task_id)

dask_locks.DaskTaskLocks.try_acquire = counting

class Step(nbpipe.Task):
    n = nbpipe.IntParameter()

    def output(self):
        return nbpipe.LocalTarget(f"out/step_{self.n}.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write("ok")

if __name__ == "__main__":
    result = nbpipe.build([Step(n=n) for n in range(20)], workers=2, executor="dask", detailed_summary=True)
    print("LOCKS", len(calls), result.exit_code)
"""


def test_a_driver_alone_on_a_shared_cluster_takes_no_task_locks(driver, tmp_path):
    proc = driver(LONE)
    assert "LOCKS 0 0" in proc.stdout, proc.stdout + proc.stderr
    assert len(os.listdir(tmp_path / "out")) == 20


def test_two_drivers_that_see_each_other_at_start_acknowledge_each_other(cluster):
    # Both drivers publish themselves before either lists the others: each takes the
    # other for an older driver and waits for its acknowledgement, which must come.
    from nbpipe.executors.dask_locks import ACK_PREFIX, ClusterRunRegistry, DaskTaskLocks

    both_published = threading.Barrier(2, timeout=60)

    class HeldAtFirstLook(ClusterRunRegistry):
        def _live_others(self, names=None):
            if not getattr(self, "_looked", False):
                self._looked = True
                both_published.wait()
            return super()._live_others(names)

    made: dict = {}
    clients = {name: distributed.Client(cluster.scheduler_address) for name in ("a", "b")}

    def start(name):
        client = clients[name]
        made[name] = HeldAtFirstLook(client, name, DaskTaskLocks(client, name))

    threads = [threading.Thread(target=start, args=(name,)) for name in ("a", "b")]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert sorted(made) == ["a", "b"]
        assert made["a"].locking and made["b"].locking
        published = set(clients["a"].list_datasets())
        assert {ACK_PREFIX + "a-b", ACK_PREFIX + "b-a"} <= published
    finally:
        for registry in made.values():
            registry.close()
        for client in clients.values():
            client.close()


def test_a_worker_s_printed_lines_the_driver_s_stream_cannot_encode_are_shown_escaped(monkeypatch):
    """A chunk of a Dask worker's output the driver's stdout cannot encode (an ASCII terminal, a
    file name's stray bytes) is shown with those characters escaped, not dropped whole."""
    import io

    from nbpipe.executors.dask_executor import _write_tagged

    class Printer(nbpipe.Task):
        def run(self):
            pass

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stream)
    _write_tagged(Printer(), "caf\u00e9 ok\nstray \udcff byte\n")
    stream.flush()
    assert raw.getvalue().decode("ascii").splitlines() == ["[Printer()] caf\\xe9 ok", "[Printer()] stray \\udcff byte"]
