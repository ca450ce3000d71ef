"""Task locks (nbpipe/locks.py): no task runs twice at the same time.

Real processes and real files throughout; processes synchronise through
pipes (a line on stdout, a byte on a shared pipe), never through sleeps.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from nbpipe.state.lock_files import parse_holder as _parse_holder
from nbpipe.state.task_locks import LockError, LockHolder, TaskLocks, lock_file_name, prune_lock_files

REPO = str(Path(__file__).resolve().parents[1])
HOST = socket.gethostname()


# -- helpers -------------------------------------------------------------------


@pytest.fixture
def spawn():
    """Start ``python -c SCRIPT ARGS``; every process is killed at teardown."""
    procs = []

    def start(script, *args, pass_fds=()):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([REPO, env.get("PYTHONPATH", "")])
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            pass_fds=pass_fds,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            try:
                stream.close()
            except (OSError, ValueError):  # a closed pipe whose reader died
                pass


def read_line(proc) -> str:
    """The child's next stdout line; fails with its stderr if it died instead."""
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        pytest.fail(f"child exited with {proc.returncode} before answering:\n{proc.stderr.read()}")
    return line.strip()


def wait_until(condition, timeout=10.0, what="condition"):
    """Poll ``condition`` until true or the deadline passes (polling, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def state(tmp_path):
    return str(tmp_path / "state")


# -- file names ----------------------------------------------------------------


def test_lock_file_names_are_safe_unique_and_short():
    assert lock_file_name("Family_param_0123456789") == "Family_param_0123456789.lock"
    assert lock_file_name("ns.sub.Family_x_0123456789") == "ns.sub.Family_x_0123456789.lock"
    ids = ["a/b", "a%2Fb", "a b", "a~b", "ü", "..", ".", "a\x00b", "x" * 500, "x" * 499 + "y", "é" * 300]
    names = [lock_file_name(task_id) for task_id in ids]
    assert len(set(names)) == len(ids)
    for name in names:
        assert len(name.encode()) <= 200
        assert "/" not in name and "\x00" not in name and name not in (".", "..")
        assert name.endswith(".lock")
    assert lock_file_name("a/b") == "a%2Fb.lock" and lock_file_name("a%2Fb") == "a%252Fb.lock"
    long_name = lock_file_name("Family_" + "p" * 300)
    assert long_name.startswith("Family_ppp") and "~" in long_name
    with pytest.raises(ValueError):
        lock_file_name("")


# -- one process ---------------------------------------------------------------


def test_acquire_release_holder_in_one_object(state):
    locks = TaskLocks(state, "run-1")
    task = "Family_param_0123456789"
    assert locks.holder(task) is None  # no file yet
    before = time.time()
    assert locks.try_acquire(task) is None
    assert locks.held() == [task]

    me = locks.holder(task)
    assert (me.pid, me.host, me.run_id, me.task_id) == (os.getpid(), HOST, "run-1", task)
    assert before <= me.acquired <= time.time() and me.heartbeat == me.acquired

    path = Path(state) / "locks" / "Family_param_0123456789.lock"
    assert locks.lock_path(task) == str(path)
    written = json.loads(path.read_text())
    assert written == {
        "pid": os.getpid(),
        "host": HOST,
        "run_id": "run-1",
        "task_id": task,
        "acquired": pytest.approx(me.acquired, abs=1e-6),
        "heartbeat": pytest.approx(me.acquired, abs=1e-6),
    }

    locks.release(task)
    assert locks.held() == []
    assert locks.holder(task) is None
    assert path.exists() and path.read_bytes() == b""  # kept (never unlinked), emptied
    locks.release(task)  # idempotent
    locks.release("never-taken")
    locks.close()


def test_reacquiring_a_held_task_is_a_no_op(state):
    with TaskLocks(state, "run-1") as locks:
        assert locks.try_acquire("T_1") is None
        fds = open_fds()
        assert locks.try_acquire("T_1") is None
        assert open_fds() == fds  # no second descriptor
        assert locks.held() == ["T_1"]
        locks.release("T_1")  # not counted: one release frees it
        with TaskLocks(state, "run-2") as other:
            assert other.try_acquire("T_1") is None


def test_two_objects_in_one_process_exclude_each_other(state):
    a = TaskLocks(state, "run-a")
    b = TaskLocks(state, "run-b")
    assert a.try_acquire("Shared_x_1") is None
    taken = b.try_acquire("Shared_x_1")
    assert isinstance(taken, LockHolder)
    assert (taken.pid, taken.host, taken.run_id, taken.task_id) == (os.getpid(), HOST, "run-a", "Shared_x_1")
    assert b.holder("Shared_x_1") == taken
    assert b.held() == []

    a.release("Shared_x_1")
    assert b.try_acquire("Shared_x_1") is None
    assert a.try_acquire("Shared_x_1").run_id == "run-b"
    a.close()
    b.close()


def test_threads_with_their_own_objects_take_each_task_once(state):
    tasks = [f"Thread_t_{i:03d}" for i in range(300)]
    objects = [TaskLocks(state, f"run-{i}") for i in range(4)]
    won = collections.Counter()
    guard = threading.Lock()
    barrier = threading.Barrier(len(objects))

    def work(index):
        order = tasks[:]
        random.Random(index).shuffle(order)
        barrier.wait()
        for task in order:
            if objects[index].try_acquire(task) is None:
                with guard:
                    won[task] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(objects))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert won == {task: 1 for task in tasks}
    assert sum(len(locks.held()) for locks in objects) == len(tasks)
    for locks in objects:
        locks.close()


def test_release_all_close_and_context_manager(state):
    locks = TaskLocks(state, "run-1", heartbeat_interval=0.05)
    for i in range(5):
        assert locks.try_acquire(f"T_{i}") is None
    locks.release_all()
    assert locks.held() == []
    other = TaskLocks(state, "run-2")
    assert all(other.try_acquire(f"T_{i}") is None for i in range(5))
    other.close()

    assert locks.try_acquire("T_x") is None
    threads = [t for t in threading.enumerate() if t.name.startswith("nbpipe-lock-heartbeat-run-1")]
    assert len(threads) == 1
    locks.close()
    assert not threads[0].is_alive()
    assert locks.closed and locks.held() == []
    locks.close()  # idempotent
    with pytest.raises(ValueError):
        locks.try_acquire("T_x")

    with TaskLocks(state, "run-3") as scoped:
        scoped.try_acquire("T_y")
    with TaskLocks(state, "run-4") as after:
        assert after.try_acquire("T_y") is None


def test_dropped_object_releases_its_locks(state):
    locks = TaskLocks(state, "run-1", heartbeat_interval=0.05)
    assert locks.try_acquire("T_1") is None
    del locks
    gc.collect()
    with TaskLocks(state, "run-2") as other:
        assert other.try_acquire("T_1") is None


def test_heartbeat_thread_starts_with_the_first_lock(state):
    locks = TaskLocks(state, "lazy-run", heartbeat_interval=0.05)
    assert not [t for t in threading.enumerate() if "lazy-run" in t.name]
    locks.try_acquire("T_1")
    assert [t for t in threading.enumerate() if "lazy-run" in t.name]
    locks.close()


def test_heartbeat_updates_the_file(state):
    locks = TaskLocks(state, "run-hb", heartbeat_interval=0.05)
    observer = TaskLocks(state, "observer")
    assert locks.try_acquire("T_1") is None
    path = Path(locks.lock_path("T_1"))
    size = path.stat().st_size
    first = observer.holder("T_1")
    assert first.pid == os.getpid() and first.heartbeat == first.acquired

    later = wait_until(
        lambda: (h := observer.holder("T_1")) and h.heartbeat > first.heartbeat and h,
        what="the heartbeat field to change",
    )
    assert later.acquired == first.acquired and later.run_id == "run-hb"
    assert path.stat().st_size == size  # the field is overwritten in place
    assert json.loads(path.read_text())["heartbeat"] >= later.heartbeat
    wait_until(lambda: locks.holder("T_1").heartbeat > first.heartbeat, what="the in-memory heartbeat")
    locks.close()
    observer.close()


def test_holder_does_not_take_the_lock(state):
    locks = TaskLocks(state, "run-1")
    assert locks.try_acquire("T_1") is None
    locks.release("T_1")
    # A file left non-empty by a holder that died (its process never released).
    path = Path(locks.lock_path("T_1"))
    path.write_text(json.dumps({"pid": 999999, "host": HOST, "run_id": "dead", "task_id": "T_1"}))
    other = TaskLocks(state, "run-2")
    assert other.holder("T_1") is None
    assert locks.try_acquire("T_1") is None  # not taken by holder()
    assert other.holder("T_1").run_id == "run-1"
    locks.close()
    other.close()


def test_holder_details_not_written_yet(state):
    a = TaskLocks(state, "run-a")
    b = TaskLocks(state, "run-b")
    assert a.try_acquire("T_1") is None
    path = Path(a.lock_path("T_1"))
    full = path.read_bytes()
    os.truncate(path, 0)  # as between the holder's flock and its write
    assert b.try_acquire("T_1") == LockHolder(0, "", "", "T_1", 0.0, 0.0)
    assert b.holder("T_1").pid == 0
    path.write_bytes(full[: full.index(b'"task_id"') + 5])  # half written
    half = b.try_acquire("T_1")
    assert (half.pid, half.host, half.run_id, half.task_id) == (os.getpid(), HOST, "run-a", "T_1")
    # Details naming a dead process of this host are not the holder's: never report them.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(json.dumps({"pid": dead.pid, "host": HOST, "run_id": "dead-run", "task_id": "T_1"}))
    assert b.try_acquire("T_1") == LockHolder(0, "", "", "T_1", 0.0, 0.0)
    a.close()
    assert b.try_acquire("T_1") is None
    b.close()


def test_parse_holder_tolerates_partial_content():
    assert _parse_holder(b"", "T") == LockHolder(0, "", "", "T", 0.0, 0.0)
    assert _parse_holder(b'{"pid": 12', "T").pid == 0  # the number may be cut short
    partial = _parse_holder(b'{"pid": 123, "host": "h\\"x", "run_id": "r1", "task_id": "T", "acq', "T")
    assert partial == LockHolder(123, 'h"x', "r1", "T", 0.0, 0.0)
    assert _parse_holder(b"\xff\xfe garbage", "T").pid == 0
    assert _parse_holder(b'{"pid": "1", "host": 5}', "T") == LockHolder(0, "", "", "T", 0.0, 0.0)


def test_describe():
    holder = LockHolder(123, "x", "r", "T", 1000.0, 1097.0)
    text = holder.describe(now=1100.0)
    assert text.startswith("held by pid 123 on host x (run r) since ") and text.endswith("alive 3 s ago")
    assert "not written" in LockHolder(0, "", "", "T", 0.0, 0.0).describe()


# -- errors --------------------------------------------------------------------


def test_unusable_state_dir_raises_lock_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(LockError) as info:
        TaskLocks(str(blocker / "state"), "run-1")
    message = str(info.value)
    assert str(blocker / "state" / "locks") in message and "NBPIPE_STATE_DIR" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_state_dir_raises_lock_error(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(LockError, match="writable"):
            TaskLocks(str(locked), "run-1")
    finally:
        locked.chmod(0o700)


def test_running_out_of_file_descriptors(spawn, tmp_path):
    script = """
        import resource, sys
        from nbpipe.state.task_locks import TaskLocks, LockError
        state, hard = sys.argv[1], int(sys.argv[2])
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        locks = TaskLocks(state, "fd-run")
        try:
            for i in range(200):
                assert locks.try_acquire(f"T_{i}") is None
            print("ok", len(locks.held()), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        except LockError as exc:
            print("error", len(locks.held()), exc)
    """
    raised = spawn(script, tmp_path / "s1", 4096)
    assert read_line(raised) == "ok 200 4096"  # soft limit raised to the hard limit
    capped = spawn(script, tmp_path / "s2", 64)
    answer = read_line(capped)
    assert answer.startswith("error ") and "too many open files" in answer and "ulimit -n" in answer


# -- several processes -----------------------------------------------------------

HOLDER_SCRIPT = """
    import os, sys
    from nbpipe.state.task_locks import TaskLocks
    locks = TaskLocks(sys.argv[1], "child-run", heartbeat_interval=float(sys.argv[3]))
    assert locks.try_acquire(sys.argv[2]) is None
    print("ready", os.getpid(), flush=True)
    sys.stdin.read()  # hold until killed (or stdin closes)
"""


def test_lock_held_by_another_process_then_taken_over_after_kill9(spawn, state):
    task = "ns.Family_param_0123456789"
    child = spawn(HOLDER_SCRIPT, state, task, 0.05)
    assert read_line(child) == f"ready {child.pid}"

    with TaskLocks(state, "parent-run") as locks:
        taken = locks.try_acquire(task)
        assert isinstance(taken, LockHolder)
        assert (taken.pid, taken.host, taken.run_id, taken.task_id) == (child.pid, HOST, "child-run", task)
        seen = locks.holder(task)
        assert (seen.pid, seen.run_id, seen.acquired) == (child.pid, "child-run", taken.acquired)
        assert locks.held() == []
        # The other process is alive: its heartbeat moves on.
        wait_until(lambda: locks.holder(task).heartbeat > taken.heartbeat, what="the child's heartbeat")

        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        assert locks.holder(task) is None  # details left behind, but nobody holds it
        assert locks.try_acquire(task) is None  # at once: no waiting, no retry loop
        assert locks.holder(task).pid == os.getpid()


def test_forked_child_does_not_keep_the_lock_of_a_killed_parent(spawn, state):
    # The forked process reports on a pipe of its own: two processes printing to one
    # stdout interleave (with PYTHONUNBUFFERED, print writes text and newline apart).
    script = """
        import os, sys
        from nbpipe.state.task_locks import TaskLocks
        report = int(sys.argv[2])
        locks = TaskLocks(sys.argv[1], "forking-run")
        assert locks.try_acquire("T_fork") is None
        pid = os.fork()
        if pid == 0:
            os.write(report, f"{os.getpid()} {locks.held()}\\n".encode())  # one write: one whole line
            os.close(report)
            sys.stdin.read()
            os._exit(0)
        os.close(report)  # the forked process holds the only writer: its death is EOF, not a hang
        print("ready", os.getpid(), flush=True)
        sys.stdin.read()
    """
    report_read, report_write = os.pipe()
    child = spawn(script, state, report_write, pass_fds=(report_write,))
    os.close(report_write)
    with os.fdopen(report_read) as report:
        try:
            assert read_line(child) == f"ready {child.pid}"
            line = report.readline()
            assert line, "the forked process exited before reporting"
            grandchild, held = line.split(maxsplit=1)
            grandchild = int(grandchild)
            assert held.strip() == "[]"  # the forked copy holds nothing
            with TaskLocks(state, "parent-run") as locks:
                assert locks.try_acquire("T_fork").pid == child.pid  # the fork did not release it
                child.send_signal(signal.SIGKILL)
                child.wait()
                os.kill(grandchild, 0)  # the forked process is still alive ...
                assert locks.try_acquire("T_fork") is None  # ... yet the lock went with its parent
        finally:
            child.stdin.close()  # lets the grandchild finish


RACE_WORKER = """
    import os, random, sys
    from nbpipe.state.task_locks import TaskLocks
    go, index, n_tasks = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    tasks = [f"Race_task_{i:04d}" for i in range(n_tasks)]
    locks = None
    for round_no, line in enumerate(sys.stdin):
        state_dir, log_path = line.rstrip("\\n").split("\\t")
        if locks is not None:
            locks.close()  # the previous round is checked: release its locks now
        locks = TaskLocks(state_dir, f"race-{index}-{round_no}")
        order = tasks[:]
        if index == 0:
            pass
        elif index == 1:
            order.reverse()
        else:
            random.Random(index * 1000 + round_no).shuffle(order)
        log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        print("ready", flush=True)
        assert os.read(go, 1) == b"g"  # every worker blocks here until the parent says go
        won = 0
        for task in order:
            if locks.try_acquire(task) is None:  # never released during the round
                os.write(log, f"{task} {os.getpid()}\\n".encode())
                won += 1
        os.close(log)
        print("done", won, flush=True)
"""


def test_race_between_processes_takes_each_task_exactly_once(spawn, tmp_path):
    n_workers, n_tasks, rounds = 8, 200, 20
    go_read, go_write = os.pipe()
    workers = [spawn(RACE_WORKER, go_read, i, n_tasks, pass_fds=(go_read,)) for i in range(n_workers)]
    os.close(go_read)
    tasks = {f"Race_task_{i:04d}" for i in range(n_tasks)}
    pids = {w.pid for w in workers}
    try:
        for round_no in range(rounds):
            state_dir = tmp_path / f"state-{round_no}"
            log_path = tmp_path / f"log-{round_no}"
            for worker in workers:
                worker.stdin.write(f"{state_dir}\t{log_path}\n")
                worker.stdin.flush()
            assert all(read_line(w) == "ready" for w in workers)
            os.write(go_write, b"g" * n_workers)  # all start at once
            won = [int(read_line(w).split()[1]) for w in workers]

            entries = [line.split() for line in log_path.read_text().splitlines()]
            counts = collections.Counter(task for task, _ in entries)
            duplicated = {task: n for task, n in counts.items() if n != 1}
            assert not duplicated, f"round {round_no}: tasks taken more than once: {duplicated}"
            assert set(counts) == tasks
            assert {int(pid) for _, pid in entries} <= pids
            assert sum(won) == n_tasks
    finally:
        os.close(go_write)
        for worker in workers:
            worker.stdin.close()
    for worker in workers:
        assert worker.wait() == 0, worker.stderr.read()


# -- pruning ---------------------------------------------------------------------


def test_prune_removes_old_unlocked_files_only(state):
    holder = TaskLocks(state, "run-1")
    for task in ("Old_free", "Fresh_free", "Old_held", "Old_crashed"):
        assert holder.try_acquire(task) is None
    holder.release("Old_free")
    holder.release("Fresh_free")
    holder.release("Old_crashed")
    paths = {task: Path(holder.lock_path(task)) for task in ("Old_free", "Fresh_free", "Old_held", "Old_crashed")}
    paths["Old_crashed"].write_text('{"pid": 999999}')  # left by a process that died
    other_file = Path(state) / "locks" / "notes.txt"
    other_file.write_text("not a lock")
    old = time.time() - 3600
    for task in ("Old_free", "Old_held", "Old_crashed"):
        os.utime(paths[task], (old, old))
    os.utime(other_file, (old, old))

    assert prune_lock_files(state, older_than=60) == 2
    assert not paths["Old_free"].exists() and not paths["Old_crashed"].exists()
    assert paths["Fresh_free"].exists() and paths["Old_held"].exists() and other_file.exists()
    with TaskLocks(state, "run-2") as other:
        assert other.try_acquire("Old_held").run_id == "run-1"  # still locked, still the same file
        assert other.try_acquire("Old_free") is None  # recreated on demand
    assert prune_lock_files(state, older_than=0) >= 1
    assert paths["Old_held"].exists()
    holder.close()
    assert prune_lock_files(str(Path(state) / "nowhere"), older_than=0) == 0


PRUNE_ACQUIRER = """
    import os, sys
    from nbpipe.state.task_locks import TaskLocks
    state, log_path, go, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    locks = TaskLocks(state, f"acq-{os.getpid()}")
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    pid = os.getpid()
    print("ready", flush=True)
    os.read(go, 1)
    won = 0
    for i in range(n):
        task = f"Pruned_{(i * 7 + pid) % 4}"
        if locks.try_acquire(task) is None:
            os.write(log, f"+ {task} {pid}\\n".encode())
            for _ in range(5):  # hold a little while, so that a second holder would show
                os.stat(log_path)
            os.write(log, f"- {task} {pid}\\n".encode())
            won += 1
            locks.release(task)
    print("done", won, flush=True)
"""

PRUNER = """
    import os, sys
    from nbpipe.state.task_locks import prune_lock_files
    state, go, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print("ready", flush=True)
    os.read(go, 1)
    removed = sum(prune_lock_files(state, older_than=0) for _ in range(n))
    print("done", removed, flush=True)
"""


def test_prune_does_not_break_concurrent_acquirers(spawn, state, tmp_path):
    """Four processes take and release four locks while another prunes the
    lock files continuously.  Every hold is logged ("+ task pid" on taking,
    "- task pid" before releasing, O_APPEND); the log must never show two
    holders of one task at once.  (Without the inode re-check after flock,
    this fails in most runs.)"""
    log_path = tmp_path / "holds.log"
    log_path.write_text("")
    TaskLocks(state, "setup").close()  # creates the locks directory
    go_read, go_write = os.pipe()
    acquirers = [spawn(PRUNE_ACQUIRER, state, log_path, go_read, 10000, pass_fds=(go_read,)) for _ in range(4)]
    pruners = [spawn(PRUNER, state, go_read, 8000, pass_fds=(go_read,))]
    os.close(go_read)
    procs = [*acquirers, *pruners]
    assert all(read_line(p) == "ready" for p in procs)
    os.write(go_write, b"g" * len(procs))
    os.close(go_write)
    results = [int(read_line(p).split()[1]) for p in procs]
    for proc in procs:
        assert proc.wait() == 0, proc.stderr.read()

    assert all(won > 0 for won in results[: len(acquirers)])
    assert sum(results[len(acquirers) :]) > 0, "nothing was pruned: the test did not exercise the race"
    holding: dict[str, str] = {}
    lines = log_path.read_text().splitlines()
    assert len(lines) == 2 * sum(results[: len(acquirers)])
    for number, line in enumerate(lines):
        sign, task, pid = line.split()
        if sign == "+":
            assert task not in holding, f"line {number}: {task} taken by {pid} while {holding[task]} holds it"
            holding[task] = pid
        else:
            assert holding.pop(task, None) == pid, f"line {number}: {line!r} without a matching hold"
    assert holding == {}
