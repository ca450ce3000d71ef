"""Runs sharing a state directory find each other, whatever the order they start in.

A run alone takes no per-task locks; one that finds others waits until each
has acknowledged it (and so switched to locking).  These tests force the
interleavings of two runs starting at the same moment, with real files and
real flocks: each run is a :class:`RunRegistry` whose first look at the
other runs is held at a chosen point.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from nbpipe.state.live_runs import RunRegistry


class _NoLocks:
    def try_acquire(self, task_id):
        return None


class _HeldRegistry(RunRegistry):
    """A registry that calls ``before`` and ``after`` around its first listing of the other runs."""

    def __init__(self, *args, before=None, after=None, **kwargs):
        self._hooks = (before, after)
        super().__init__(*args, **kwargs)

    def _live_others(self):
        (before, after), self._hooks = self._hooks, (None, None)
        if before is not None:
            before()
        found = super()._live_others()
        if after is not None:
            after()
        return found


def _start(registries: dict, name: str, state: str, **hooks) -> threading.Thread:
    def make():
        registries[name] = _HeldRegistry(state, name, _NoLocks(), **hooks)

    thread = threading.Thread(target=make)
    thread.start()
    return thread


def _acknowledged(state: str, newcomer: str, by: str) -> bool:
    return os.path.exists(os.path.join(state, "acks", f"{newcomer}.{by}"))


@pytest.fixture
def registries():
    made: dict[str, RunRegistry] = {}
    yield made
    for registry in made.values():
        registry.close()


def test_two_runs_that_see_each_other_at_start_acknowledge_each_other(tmp_path, registries):
    # Both run files exist before either run lists the folder: each takes
    # the other for an older run and waits for its acknowledgement.
    state = str(tmp_path)
    both_registered = threading.Barrier(2, timeout=60)
    threads = [_start(registries, name, state, before=both_registered.wait) for name in ("a", "b")]
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert registries["a"].locking and registries["b"].locking
    assert _acknowledged(state, "a", by="b") and _acknowledged(state, "b", by="a")


def test_a_run_registered_just_after_another_listed_the_runs_is_acknowledged(tmp_path, registries):
    # b's file appears after a has listed the folder (so a saw no one) and
    # before a's watcher starts: a must still find b and switch to locking.
    state = str(tmp_path)
    b_registered = threading.Event()
    b_thread: list[threading.Thread] = []

    def let_b_register():
        b_thread.append(_start(registries, "b", state, before=b_registered.set))
        assert b_registered.wait(60)

    registries["a"] = _HeldRegistry(state, "a", _NoLocks(), after=let_b_register)
    b_thread[0].join(timeout=120)  # b waits for a's acknowledgement (30 s at most)
    assert _acknowledged(state, "b", by="a"), "the first run never acknowledged the second"
    assert registries["a"].locking and registries["b"].locking


def test_a_killed_run_s_file_and_acknowledgements_are_removed_by_the_next_run(tmp_path):
    # A run killed outright (kill -9) leaves its run file, unlocked now, and
    # the acknowledgements it gave and got; the next run to look removes them.
    state = tmp_path / "state"
    script = (
        "import os, signal, sys\n"
        "from nbpipe.state.live_runs import RunRegistry\n"
        "class NoLocks:\n"
        "    def try_acquire(self, task_id): return None\n"
        "RunRegistry(sys.argv[1], 'killed', NoLocks())\n"
        "open(os.path.join(sys.argv[1], 'acks', 'older.killed'), 'w').close()\n"
        "open(os.path.join(sys.argv[1], 'acks', 'killed.older'), 'w').close()\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(state)])
    assert killed.returncode == -9
    assert sorted(os.listdir(state / "runs")) == ["killed.run"]
    assert sorted(os.listdir(state / "acks")) == ["killed.older", "older.killed"]
    registry = RunRegistry(str(state), "next", _NoLocks())
    try:
        assert not registry.locking  # a dead run is no one to lock against
        assert os.listdir(state / "runs") == ["next.run"]
        assert os.listdir(state / "acks") == []
    finally:
        registry.close()


PROBE = """
import fcntl, os, sys

runs, stop_file = sys.argv[1], sys.argv[2]
unlocked = set()
print("probing", flush=True)
while not os.path.exists(stop_file):
    for name in os.listdir(runs):
        if not name.endswith(".run"):
            continue
        path = os.path.join(runs, name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # locked: a live run's
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    unlocked.add(name)  # unlocked under its name: it looks like a dead run's file
            except FileNotFoundError:
                pass  # a closing run removes its file, then unlocks it
        finally:
            os.close(fd)
print(" ".join(sorted(unlocked)))
"""


def test_a_run_file_is_locked_whenever_it_has_its_name(tmp_path):
    # An unlocked <run>.run file belongs to a dead run, and whoever sees one
    # removes it: a starting run must never look like that, even for an instant.
    # Another process lists and probes the folder while runs start and end here.
    state = tmp_path / "state"
    (state / "runs").mkdir(parents=True)
    prober = subprocess.Popen(
        [sys.executable, "-c", PROBE, str(state / "runs"), str(tmp_path / "stop")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert prober.stdout.readline() == "probing\n"
        for i in range(5000):
            RunRegistry(str(state), f"r{i}", _NoLocks()).close()
    finally:
        (tmp_path / "stop").touch()
        out, _ = prober.communicate(timeout=60)
    assert out.strip() == "", f"run files seen unlocked under their name: {out.strip()}"
