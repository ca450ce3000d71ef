"""The resolver: iterative walk, dedupe, parallel checks, errors that name the task."""

import sys
import threading
import time

import pytest

import nbpipe
from nbpipe.engine.resolver import Resolver, find_cycle
from nbpipe.engine.scheduling import State


class Link(nbpipe.Task):
    n = nbpipe.IntParameter()

    def requires(self):
        return Link(self.n - 1) if self.n > 0 else []


@pytest.mark.slow
def test_hundred_thousand_chain_does_not_recurse():
    with Resolver() as resolver:
        found = resolver.resolve([Link(100_000)])
    assert len(found) == 100_001
    assert found[0].deps == (Link(99_999).task_id,)
    assert all(r.state == State.PENDING for r in found)
    assert sys.getrecursionlimit() < 100_000


class Diamond(nbpipe.Task):
    name = nbpipe.Parameter()

    def requires(self):
        return {"top": [Diamond("l"), Diamond("r")], "l": [Diamond("b")], "r": [Diamond("b")], "b": []}[self.name]


def test_shared_dependency_is_inspected_once():
    with Resolver() as resolver:
        found = resolver.resolve([Diamond("top"), Diamond("top")])
    assert [r.task.name for r in found] == ["top", "l", "r", "b"]


class Done(nbpipe.Task):
    def complete(self):
        return True

    def requires(self):
        raise AssertionError("requirements of a complete task are not walked")


class Ext(nbpipe.ExternalTask):
    def output(self):
        return nbpipe.LocalTarget("does/not/exist")


class BrokenRequires(nbpipe.Task):
    def requires(self):
        raise KeyError("config missing")


class BrokenComplete(nbpipe.Task):
    def complete(self):
        raise OSError("bucket unreachable")


class NonTask(nbpipe.Task):
    def requires(self):
        return [Done(), "data.csv"]


class TargetAsReq(nbpipe.Task):
    def requires(self):
        return nbpipe.LocalTarget("x")


class NotBool(nbpipe.Task):
    def complete(self):
        return "yes"


class Root(nbpipe.WrapperTask):
    def requires(self):
        return [Done(), Ext(), BrokenRequires(), BrokenComplete(), NonTask(), TargetAsReq(), NotBool()]


def test_each_problem_fails_only_its_task_with_a_reason_naming_it():
    with Resolver() as resolver:
        found = {type(r.task).__name__: r for r in resolver.resolve([Root()])}
    assert found["Root"].state == State.PENDING
    assert found["Done"].state == State.COMPLETE
    assert found["Ext"].state == State.MISSING
    assert found["BrokenRequires"].state == State.SCHEDULING_FAILED
    assert found["BrokenRequires"].reason == "BrokenRequires(): requires() raised KeyError: 'config missing'"
    assert "Traceback" in found["BrokenRequires"].traceback
    assert found["BrokenComplete"].reason == "BrokenComplete(): complete() raised OSError: bucket unreachable"
    assert found["NonTask"].reason == "NonTask(): requires() returned 'data.csv' (a str), not a task"
    assert found["TargetAsReq"].reason.startswith("TargetAsReq(): requires() returned LocalTarget('x')")
    assert "wrap the target in an ExternalTask" in found["TargetAsReq"].reason
    assert (
        found["NotBool"].reason
        == "NotBool(): complete() raised TypeError: complete() returned 'yes' (a str); it must return True or False"
    )


class Cyc(nbpipe.Task):
    name = nbpipe.Parameter()

    def requires(self):
        return {"a": [Cyc("b")], "b": [Cyc("c")], "c": [Cyc("a")], "top": [Cyc("a"), Cyc("ok")], "ok": []}[self.name]


def test_cycle_is_named_and_only_its_tasks_fail_scheduling():
    with Resolver() as resolver:
        found = {r.task.name: r for r in resolver.resolve([Cyc("top")])}
    for name in "abc":
        assert found[name].state == State.SCHEDULING_FAILED
        assert found[name].reason == "dependency cycle: Cyc(name=a) -> Cyc(name=b) -> Cyc(name=c) -> Cyc(name=a)"
    assert found["top"].state == State.PENDING and found["ok"].state == State.PENDING


GRAPH: dict[int, list[int]] = {}  # the requirements of each RandomNode, set by the test below


class RandomNode(nbpipe.Task):
    n = nbpipe.IntParameter()

    def requires(self):
        return [RandomNode(d) for d in GRAPH[self.n]]


def _on_a_cycle(graph: dict[int, list[int]]) -> set[int]:
    """Nodes that can reach themselves (the plain definition, by brute force)."""
    on = set()
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            node = todo.pop()
            if node == start:
                on.add(start)
                break
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
    return on


@pytest.mark.parametrize("seed", range(40))
def test_every_cycle_is_found_wherever_the_walk_meets_it(seed):
    # Random graphs with shared requirements (edges to tasks found at the same level or above, which is
    # where the search for cycles starts), half with planted cycles, some of them self-loops.
    import random

    rng = random.Random(seed)
    size = rng.randint(5, 60)
    GRAPH.clear()
    for n in range(size):
        GRAPH[n] = sorted({rng.randrange(n + 1, size) for _ in range(rng.randint(0, 3))} if n < size - 1 else set())
    if seed % 2:
        for _ in range(rng.randint(1, 3)):
            a, b = sorted(rng.sample(range(size), 2))
            GRAPH[b].append(a if rng.random() < 0.8 else b)  # an edge back up, or a self-loop
    with Resolver() as resolver:
        found = {r.task.n: r for r in resolver.resolve([RandomNode(0)])}
    reachable = set(found)
    cyclic = _on_a_cycle({n: GRAPH[n] for n in reachable})
    failed = {n for n, r in found.items() if r.state == State.SCHEDULING_FAILED}
    assert failed <= cyclic  # only tasks on a cycle fail
    # and no cycle is left among the tasks still pending
    pending = {
        n: [d for d in GRAPH[n] if found[d].state == State.PENDING]
        for n, r in found.items()
        if r.state == State.PENDING
    }
    assert not _on_a_cycle(pending)
    assert bool(failed) == bool(cyclic)


def test_find_cycle_returns_none_for_a_dag_and_the_loop_otherwise():
    graph = {1: [2, 3], 2: [3], 3: []}
    assert find_cycle(graph, graph.__getitem__) is None
    graph[3] = [1]
    assert find_cycle(graph, graph.__getitem__) == [1, 2, 3]


class Slow(nbpipe.Task):
    i = nbpipe.IntParameter()
    log: list = []
    lock = threading.Lock()

    def complete(self):
        start = time.monotonic()
        time.sleep(0.05)  # a slow remote check, not synchronisation
        with Slow.lock:
            Slow.log.append((start, time.monotonic(), threading.get_ident()))
        return True


class SlowRoot(nbpipe.Task):
    def complete(self):
        return False

    def requires(self):
        return [Slow(i) for i in range(24)]


def test_slow_completeness_checks_overlap_on_the_thread_pool():
    Slow.log = []
    with Resolver(check_threads=8) as resolver:
        resolver.resolve([SlowRoot()])
    assert len(Slow.log) == 24
    events = sorted([(s, 1) for s, _, _ in Slow.log] + [(e, -1) for _, e, _ in Slow.log])
    depth = best = 0
    for _, delta in events:
        depth += delta
        best = max(best, depth)
    assert best >= 4, f"checks never overlapped (max concurrency {best})"
    assert len({tid for _, _, tid in Slow.log}) >= 4


def test_one_check_thread_checks_sequentially():
    Slow.log = []
    with Resolver(check_threads=1) as resolver:
        resolver.resolve([SlowRoot()])
    assert len({tid for _, _, tid in Slow.log}) == 1
