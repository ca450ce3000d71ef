"""The scheduler as a pure state machine: one transition at a time, whole state asserted."""

import pytest

from nbpipe.engine.events import Kind
from nbpipe.engine.scheduling import Scheduler, SchedulerError, State


def make(**kw):
    return Scheduler(validate=True, **kw)


def test_chain_runs_in_dependency_order_and_reports_every_transition():
    s = make()
    s.add("c", ["b"])
    s.add("b", ["a"])
    s.add("a")
    s.commit(0)
    assert s.snapshot() == {
        "states": {"c": "pending", "b": "pending", "a": "pending"},
        "unmet": {"c": 1, "b": 1, "a": 0},
        "priorities": {"c": 0, "b": 0, "a": 0},
        "ready": ["a"],
        "running": [],
        "waiting": [],
        "used": {},
        "blocked": {},
    }
    assert s.next_ready(1) == "a"
    assert s.next_ready(1) is None
    assert s.snapshot()["running"] == ["a"]
    s.done("a", 2)
    snap = s.snapshot()
    assert snap["states"] == {"c": "pending", "b": "pending", "a": "done"}
    assert snap["ready"] == ["b"] and snap["unmet"] == {"c": 1, "b": 0}
    assert s.next_ready(3) == "b"
    s.done("b", 4)
    assert s.next_ready(5) == "c"
    s.done("c", 6)
    assert not s.is_active()
    kinds = [(e.kind, e.task_id, e.time) for e in s.drain_events()]
    assert kinds == [
        ("pending", "c", 0),
        ("pending", "b", 0),
        ("pending", "a", 0),
        ("running", "a", 1),
        ("done", "a", 2),
        ("running", "b", 3),
        ("done", "b", 4),
        ("running", "c", 5),
        ("done", "c", 6),
    ]
    assert list(s.drain_events()) == []


def test_priorities_are_inherited_by_dependencies_and_order_dispatch():
    s = make()
    s.add("low_root", ["shared"], priority=0)
    s.add("high_root", ["hdep"], priority=10)
    s.add("shared", priority=0)
    s.add("hdep", priority=0)
    s.add("other", priority=5)
    s.commit(0)
    assert s.snapshot()["priorities"] == {"low_root": 0, "high_root": 10, "shared": 0, "hdep": 10, "other": 5}
    assert [s.next_ready(0), s.next_ready(0), s.next_ready(0)] == ["hdep", "other", "shared"]


def test_priority_raised_later_reorders_ready_tasks_without_a_scan():
    s = make()
    s.add("a")
    s.add("b")
    s.commit(0)
    s.add("urgent", ["b"], priority=3)
    s.commit(0)
    assert s.snapshot()["priorities"]["b"] == 3
    assert s.next_ready(0) == "b"
    assert s.next_ready(0) == "a"


def test_ties_go_to_the_task_added_first():
    s = make()
    for name in ["t3", "t1", "t2"]:
        s.add(name)
    s.commit(0)
    assert [s.next_ready(0) for _ in range(3)] == ["t3", "t1", "t2"]


def test_resources_limit_concurrency_and_blocked_tasks_resume_on_release():
    s = make(resources={"db": 2})
    s.add("x", resources={"db": 2})
    s.add("y", resources={"db": 1})
    s.add("z")
    s.commit(0)
    assert s.next_ready(0) == "x"
    assert s.next_ready(0) == "z"  # y waits for db
    assert s.next_ready(0) is None
    snap = s.snapshot()
    assert snap["used"] == {"db": 2} and snap["blocked"] == {"db": ["y"]} and snap["running"] == ["x", "z"]
    s.done("x", 1)
    assert s.snapshot()["used"] == {} and s.snapshot()["ready"] == ["y"]
    assert s.next_ready(1) == "y"
    assert s.snapshot()["used"] == {"db": 1}


def test_unconfigured_resource_has_capacity_one_like_luigi():
    s = make()
    s.add("a", resources={"gpu": 1})
    s.add("b", resources={"gpu": 1})
    s.commit(0)
    assert s.next_ready(0) == "a"
    assert s.next_ready(0) is None


def test_task_needing_more_than_exists_never_runs_and_the_run_ends():
    s = make(resources={"db": 1})
    s.add("big", resources={"db": 5})
    s.commit(0)
    assert s.next_ready(0) is None
    assert not s.is_active()
    assert s.state("big") == State.PENDING


def test_failure_without_retry_policy_fails_and_propagates_upstream_failed():
    s = make()
    s.add("top", ["mid"])
    s.add("mid", ["leaf"])
    s.add("leaf")
    s.add("side")
    s.commit(0)
    s.next_ready(0)
    assert s.failed("leaf", 1, "boom") == State.FAILED
    snap = s.snapshot()
    assert snap["states"] == {"top": "upstream_failed", "mid": "upstream_failed", "leaf": "failed", "side": "pending"}
    assert snap["ready"] == ["side"]
    events = [(e.kind, e.task_id, e.reason) for e in s.drain_events() if e.time == 1]
    assert events == [
        ("failed", "leaf", "boom"),
        ("upstream_failed", "mid", "dependency leaf failed"),
        ("upstream_failed", "top", "dependency mid failed"),
    ]


def test_retries_wait_for_the_delay_then_disable_at_the_limit():
    s = make(retry_delay=10)
    s.add("flaky", retry_count=3)
    s.add("after", ["flaky"])
    s.commit(0)
    assert s.next_ready(0) == "flaky"
    assert s.failed("flaky", 1, "e1") == State.RETRY_WAIT
    assert s.snapshot()["waiting"] == [(11, "flaky")]
    assert s.is_active() and s.next_wakeup() == 11
    assert s.next_ready(10.9) is None
    assert s.next_ready(11) == "flaky"
    assert s.failed("flaky", 12, "e2") == State.RETRY_WAIT
    assert s.next_ready(22) == "flaky"
    assert s.failed("flaky", 23, "e3") == State.DISABLED
    snap = s.snapshot()
    assert snap["states"] == {"flaky": "disabled", "after": "upstream_failed"}
    assert snap["waiting"] == [] and not s.is_active()
    disabled = [e for e in s.drain_events() if e.kind == Kind.DISABLED]
    assert disabled[0].reason == "failed 3 times within 3600 s (retry_count=3)"


def test_retry_then_success_unblocks_dependents():
    s = make()
    s.add("flaky", retry_count=2, retry_delay=0)
    s.add("after", ["flaky"])
    s.commit(0)
    s.next_ready(0)
    s.failed("flaky", 1, "once")
    assert s.next_ready(1) == "flaky"
    s.done("flaky", 2)
    assert s.next_ready(2) == "after"


def test_failures_outside_the_disable_window_do_not_count():
    s = make(disable_window=100)
    s.add("t", retry_count=2, past_failures=[0.0])
    s.commit(500)
    s.next_ready(500)
    assert s.failed("t", 501, "x") == State.RETRY_WAIT  # the failure at t=0 is out of the window
    s.next_ready(501)
    assert s.failed("t", 502, "y") == State.DISABLED


def test_initial_states_from_the_resolver_block_dependents_but_do_not_fail_them():
    s = make()
    s.add("root", ["ext", "done_already", "broken"])
    s.add("ext", state=State.MISSING)
    s.add("done_already", state=State.COMPLETE)
    s.add("broken", state=State.SCHEDULING_FAILED, reason="requires() raised")
    s.commit(0)
    snap = s.snapshot()
    assert snap["states"]["root"] == "pending" and snap["unmet"]["root"] == 2
    assert snap["ready"] == [] and not s.is_active()


def test_disabled_task_fails_its_dependents():
    s = make()
    s.add("root", ["off"])
    s.add("off", state=State.DISABLED)
    s.commit(0)
    assert s.state("root") == State.UPSTREAM_FAILED


def test_suspend_adds_dynamic_dependencies_and_reruns_after_them():
    s = make()
    s.add("dyn")
    s.commit(0)
    assert s.next_ready(0) == "dyn"
    s.add("d1")
    s.add("d2", ["d1"])
    s.suspend("dyn", ["d2"], 1)
    snap = s.snapshot()
    assert snap["states"] == {"dyn": "pending", "d1": "pending", "d2": "pending"}
    assert snap["unmet"] == {"dyn": 1, "d1": 0, "d2": 1} and snap["ready"] == ["d1"]
    suspended = [e for e in s.drain_events() if e.kind == Kind.SUSPENDED]
    assert suspended[0].deps == ("d2",)
    s.next_ready(2)
    s.done("d1", 3)
    s.next_ready(3)
    s.done("d2", 4)
    assert s.next_ready(4) == "dyn"


def test_suspend_on_already_complete_dependency_is_ready_at_once():
    s = make()
    s.add("dyn")
    s.add("c", state=State.COMPLETE)
    s.commit(0)
    s.next_ready(0)
    s.suspend("dyn", ["c"], 1)
    assert s.next_ready(1) == "dyn"


def test_run_by_other_is_terminal_and_frees_resources():
    s = make(resources={"r": 1})
    s.add("t", resources={"r": 1})
    s.commit(0)
    s.next_ready(0)
    s.run_by_other("t", 1, worker="host:123")
    snap = s.snapshot()
    assert snap["states"] == {"t": "run_by_other"} and snap["used"] == {} and snap["running"] == []


def test_protocol_errors_name_the_task():
    s = make()
    s.add("a")
    with pytest.raises(SchedulerError, match="a: added twice"):
        s.add("a")
    s.add("b", ["nope"])
    with pytest.raises(SchedulerError, match="b requires nope"):
        s.commit(0)
    s2 = make()
    s2.add("x")
    s2.commit(0)
    with pytest.raises(SchedulerError, match="x: is pending, not running"):
        s2.done("x", 1)


def test_dispatch_cost_does_not_grow_with_pending_tasks():
    """Each next_ready() pops O(1) heap entries: count heap operations, not time."""
    import heapq

    s = make()
    s.validate = False
    n = 20_000
    s.add("root", [f"t{i}" for i in range(n)])
    for i in range(n):
        s.add(f"t{i}")
    s.commit(0)
    pops = 0
    real_pop = heapq.heappop

    def counting_pop(heap):
        nonlocal pops
        pops += 1
        return real_pop(heap)

    heapq.heappop = counting_pop
    try:
        for _ in range(n):
            s.done(s.next_ready(0), 0)
    finally:
        heapq.heappop = real_pop
    assert pops == n  # one pop per dispatch, no stale entries
    assert s.next_ready(0) == "root"


def test_every_scheduler_state_is_the_kind_of_the_event_that_enters_it():
    from nbpipe.engine.events import ALL_KINDS
    from nbpipe.engine.scheduling import ALL_STATES

    assert ALL_STATES <= ALL_KINDS
    constants = {value for name, value in vars(State).items() if name.isupper()}
    assert constants == ALL_STATES  # the constants and the Literal type list the same states


def test_every_event_kind_constant_is_in_the_literal_type():
    from nbpipe.engine.events import ALL_KINDS, Kind

    assert {value for name, value in vars(Kind).items() if name.isupper()} == ALL_KINDS
