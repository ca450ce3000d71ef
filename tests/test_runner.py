"""Whole runs in-process: outcomes, dynamic dependencies, retries, events, return values."""

import os

import pytest

import nbpipe
from nbpipe import configuration as config
from nbpipe.driver.run import execute
from nbpipe.engine.events import Kind
from nbpipe.engine.summary import StatusCode


class Write(nbpipe.Task):
    name = nbpipe.Parameter()
    needs = nbpipe.ListParameter(default=[])

    def requires(self):
        return [Write(d) for d in self.needs]

    def output(self):
        return nbpipe.LocalTarget(f"out/{self.name}")

    def run(self):
        for inp in self.input():
            assert inp.exists()
        with self.output().open("w") as f:
            f.write(self.name)


@pytest.mark.parametrize("executor,workers", [("inline", 1), ("thread", 2), ("process", 2)])
def test_diamond_builds_with_every_executor(executor, workers):
    top = Write("top", needs=["l", "r"])
    result = execute([top], workers=workers, executor=executor)
    # Write("l") and Write("r") have no deps; only top depends on them.
    assert result.status == StatusCode.SUCCESS
    assert sorted(os.listdir("out")) == ["l", "r", "top"]
    assert result.exit_code == 0
    again = execute([top], workers=workers, executor=executor)
    assert again.summary.task_ids("already_done") == [top.task_id]
    assert again.summary.task_ids("completed") == []


@pytest.mark.parametrize("executor,workers", [("inline", 1), ("thread", 2), ("process", 2)])
def test_a_finished_run_s_graph_is_freed_when_build_returns_without_waiting_for_the_collector(executor, workers):
    """The run's scheduler, resolver and events go as soon as build() returns: no reference cycle
    keeps them until the cyclic collector comes by, which for a big graph is a full collection,
    long after the run."""
    import gc

    from nbpipe.engine.run_loop import RunLoop

    gc.collect()
    gc.disable()
    try:
        assert nbpipe.build([Write("top", needs=["l", "r"])], workers=workers, executor=executor) is True
        left = [o for o in gc.get_objects() if isinstance(o, RunLoop)]
    finally:
        gc.enable()
    assert left == []


class _SeesCollectorSetting(nbpipe.Task):
    seen: list = []
    fail = nbpipe.Parameter(default="")
    nested = nbpipe.BoolParameter(default=False)

    def complete(self):
        return False

    def run(self):
        import gc

        self.seen.append(gc.get_threshold())
        if self.nested:
            nbpipe.build([_SeesCollectorSetting(fail="", nested=False)], workers=1, executor="inline")
            self.seen.append(gc.get_threshold())
        if self.fail == "error":
            raise ValueError("boom")
        if self.fail == "interrupt":
            raise KeyboardInterrupt


@pytest.mark.parametrize("fail", ["", "error", "interrupt", "nested"])
def test_the_collector_collects_less_during_a_run_and_as_before_after_it(fail):
    """A run raises the young generation's threshold while it holds its graph (a nested run
    keeps it raised) and puts back the caller's setting however it ends."""
    import gc

    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    _SeesCollectorSetting.seen = []
    try:
        task = _SeesCollectorSetting(fail="" if fail == "nested" else fail, nested=fail == "nested")
        if fail == "interrupt":
            with pytest.raises(KeyboardInterrupt):
                nbpipe.build([task], workers=1, executor="inline")
        else:
            assert nbpipe.build([task], workers=1, executor="inline") is (fail != "error")
        after = gc.get_threshold()
    finally:
        gc.set_threshold(*before)
    assert after == (700, 10, 10)
    assert _SeesCollectorSetting.seen and all(seen[0] >= 50_000 for seen in _SeesCollectorSetting.seen)
    assert len(_SeesCollectorSetting.seen) == (3 if fail == "nested" else 1)


def test_runs_in_many_threads_leave_the_collector_as_they_found_it():
    """Runs in several threads (a notebook's background runs) raise and restore the collector's
    setting together: the last one out restores the caller's, whatever the interleaving."""
    import gc
    import sys
    import threading

    from nbpipe.engine.run_loop import FewerCollections

    before, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(700, 10, 10)
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, inside enter and exit too
    try:

        def enter_and_leave():
            for _ in range(10_000):
                with FewerCollections():
                    pass

        threads = [threading.Thread(target=enter_and_leave) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = gc.get_threshold()
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*before)
    assert after == (700, 10, 10)
    assert FewerCollections._depth == 0


def test_build_returns_luigi_bool_and_detailed_result():
    assert nbpipe.build([Write("a")]) is True
    result = nbpipe.build([Write("b")], detailed_summary=True)
    assert result.status == StatusCode.SUCCESS
    assert (
        result.one_line_summary == "This progress looks :) because there were no failed tasks or missing dependencies"
    )
    assert "Scheduled 1 tasks of which:" in result.summary_text


class Boom(nbpipe.Task):
    def complete(self):
        return False

    def run(self):
        raise ValueError("bad row 17")


class NeedsBoom(nbpipe.Task):
    def requires(self):
        return Boom()


def test_failure_is_reported_with_reason_and_exit_code():
    assert nbpipe.build([NeedsBoom()]) is False
    result = nbpipe.build([NeedsBoom()], detailed_summary=True)
    assert result.status == StatusCode.FAILED
    assert result.summary.task_ids("failed") == [Boom().task_id]
    assert result.summary.task_ids("upstream_failure") == [NeedsBoom().task_id]
    assert result.summary.failures[Boom().task_id].startswith("ValueError: bad row 17")
    assert result.exit_code == 30
    config.set_option("retcode", "task_failed", 0)
    assert result.exit_code == 25  # the root did not complete: not run


class Missing(nbpipe.ExternalTask):
    def output(self):
        return nbpipe.LocalTarget("no/such/file")


class NeedsMissing(nbpipe.Task):
    def requires(self):
        return Missing()


def test_missing_external_data():
    result = nbpipe.build([NeedsMissing()], detailed_summary=True)
    assert result.status == StatusCode.MISSING_EXT
    assert result.exit_code == 20
    assert result.summary.task_ids("still_pending_ext") == [Missing().task_id]


class Flaky(nbpipe.Task):
    retry_count = 3
    attempts_file = "attempts"

    def output(self):
        return nbpipe.LocalTarget("flaky.out")

    def run(self):
        with open(self.attempts_file, "a") as f:
            f.write("x")
        if len(open(self.attempts_file).read()) < 3:
            raise RuntimeError("transient")
        with self.output().open("w") as f:
            f.write("ok")


def test_retries_within_one_run_then_success():
    config.set_option("scheduler", "retry_delay", 0.01)
    result = nbpipe.build([Flaky()], detailed_summary=True)
    assert open("attempts").read() == "xxx"
    assert result.status == StatusCode.SUCCESS_WITH_RETRY
    kinds = [e.kind for e in result.events if e.task_id == Flaky().task_id]
    assert kinds.count(Kind.FAILED) == 2 and kinds.count(Kind.RETRY_WAIT) == 2 and kinds[-1] == Kind.DONE


@pytest.mark.parametrize("executor", ["inline", "thread", "process"])
def test_waiting_for_a_retry_sleeps_instead_of_spinning(executor):
    """A retry due in 1 s: the run loop waits for it in a few calls, not a busy loop of millions
    (Luigi's default retry_delay is 15 minutes: a spinning wait would hold a core all that time)."""
    from nbpipe.executors import make_executor

    config.set_option("scheduler", "retry_delay", 1)
    inner = make_executor(executor, 1)
    calls = []
    original_wait = inner.wait

    def counting_wait(timeout):
        calls.append(timeout)
        return original_wait(timeout)

    inner.wait = counting_wait
    result = execute([Flaky()], executor=inner)
    assert result.status == StatusCode.SUCCESS_WITH_RETRY and open("attempts").read() == "xxx"
    assert len(calls) < 50, f"{len(calls)} waits for two 1 s retry delays"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("executor", ["inline", "process"])
def test_a_stop_request_ends_a_wait_for_a_retry(executor):
    """Stop pressed while a task waits an hour to retry: the run ends, interrupted, instead of
    sleeping through the delay (a run that ignored the stop would hit the test's timeout)."""
    import threading

    config.set_option("scheduler", "retry_delay", 3600)
    stop = threading.Event()

    def stop_when_waiting(event):
        if event.kind == Kind.RETRY_WAIT:
            stop.set()

    result = execute([Flaky()], executor=executor, observers=[stop_when_waiting], stop=stop)
    assert result.interrupted and open("attempts").read() == "x"
    assert not os.path.exists("flaky.out")


class AlwaysFails(nbpipe.Task):
    retry_count = 2

    def complete(self):
        return False

    def run(self):
        raise RuntimeError("down")


def test_too_many_failures_disable_the_task():
    result = nbpipe.build([AlwaysFails()], detailed_summary=True)
    states = [e.kind for e in result.events if e.task_id == AlwaysFails().task_id]
    assert states.count(Kind.FAILED) == 2 and states[-1] == Kind.DISABLED
    assert result.summary.task_ids("failed") == [AlwaysFails().task_id]


class Config(nbpipe.Task):
    seed = nbpipe.IntParameter()

    def output(self):
        return nbpipe.LocalTarget(f"cfg_{self.seed}")

    def run(self):
        with self.output().open("w") as f:
            f.write("3")


class Data(nbpipe.Task):
    n = nbpipe.IntParameter()

    def output(self):
        return nbpipe.LocalTarget(f"data_{self.n}")

    def run(self):
        with self.output().open("w") as f:
            f.write(str(self.n))


class Dynamic(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("dynamic")

    def run(self):
        cfg = yield Config(1)
        count = int(cfg.open().read())
        data = yield [Data(i) for i in range(count)]
        total = sum(int(d.open().read()) for d in data)
        with self.output().open("w") as f:
            f.write(str(total))


@pytest.mark.parametrize("executor,workers", [("inline", 1), ("process", 2)])
def test_dynamic_dependencies(executor, workers):
    result = execute([Dynamic()], workers=workers, executor=executor)
    assert result.status == StatusCode.SUCCESS
    assert open("dynamic").read() == "3"
    assert sorted(t.task_id for t in result.summary.categories["completed"]) == sorted(
        t.task_id for t in [Dynamic(), Config(1), Data(0), Data(1), Data(2)]
    )
    suspended = [e for e in result.events if e.kind == Kind.SUSPENDED]
    assert [e.deps for e in suspended] == [(Config(1).task_id,), tuple(Data(i).task_id for i in range(3))]


class YieldsNoOutputDep(nbpipe.Task):
    def complete(self):
        return False

    def run(self):
        yield Boom.__base__  # not a task instance


class NoOutput(nbpipe.Task):
    def run(self):
        pass


class YieldsNeverComplete(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("never")

    def run(self):
        yield NoOutput()


def test_yielding_a_task_that_never_completes_fails_with_a_reason():
    result = nbpipe.build([YieldsNeverComplete()], detailed_summary=True)
    assert result.summary.task_ids("failed") == [YieldsNeverComplete().task_id]
    assert "ran in this run but is still not complete" in result.summary.failures[YieldsNeverComplete().task_id]


class Ordered(nbpipe.Task):
    name = nbpipe.Parameter()
    log: list = []

    def complete(self):
        return self.name in Ordered.log

    def run(self):
        Ordered.log.append(self.name)


class OrderedRoot(nbpipe.WrapperTask):
    def requires(self):
        low = Ordered("low")
        high = Ordered("high")
        high.priority = 100
        return [low, Ordered("mid"), high]


def test_priority_decides_order():
    Ordered.log = []
    nbpipe.build([OrderedRoot()])
    assert Ordered.log == ["high", "low", "mid"]


class UsesDb(nbpipe.Task):
    i = nbpipe.IntParameter()
    resources = {"db": 1}
    active = 0
    peak = 0

    def complete(self):
        return False

    def run(self):
        import threading
        import time

        with threading.Lock():
            UsesDb.active += 1
            UsesDb.peak = max(UsesDb.peak, UsesDb.active)
        time.sleep(0.02)  # hold the resource while other threads try to start
        UsesDb.active -= 1


class DbRoot(nbpipe.WrapperTask):
    def requires(self):
        return [UsesDb(i) for i in range(6)]


def test_resources_cap_concurrency_across_thread_workers():
    config.set_option("resources", "db", 1)
    config.set_option("worker", "check_unfulfilled_deps", False)
    UsesDb.peak = 0
    execute([DbRoot()], workers=3, executor="thread")
    assert UsesDb.peak == 1


def test_every_transition_reaches_observers_in_order():
    seen = []
    execute([Write("solo")], observers=[lambda e: seen.append((e.kind, e.task_id))])
    tid = Write("solo").task_id
    assert seen == [
        (Kind.RUN_STARTED, ""),
        (Kind.DISCOVERED, tid),
        (Kind.PENDING, tid),
        (Kind.RUNNING, tid),
        (Kind.DONE, tid),
        (Kind.RUN_FINISHED, ""),
    ]


def test_a_subscriber_of_some_kinds_gets_only_those_in_order_with_the_others():
    from nbpipe.engine.events import EventBus, RunEvent

    bus = EventBus()
    seen = []
    bus.subscribe(lambda e: seen.append(("all", e.kind)))
    bus.subscribe(lambda e: seen.append(("done", e.kind)), kinds=[Kind.DONE])
    bus.subscribe(lambda e: seen.append(("all again", e.kind)))
    for kind in (Kind.PENDING, Kind.DONE, Kind.PENDING):
        bus.emit(RunEvent(kind, "t", 0.0))
    late = []
    bus.subscribe(lambda e: late.append(e.kind), kinds=[Kind.PENDING])  # after events of that kind were sent
    bus.emit(RunEvent(Kind.PENDING, "t", 0.0))
    assert seen == [
        ("all", Kind.PENDING),
        ("all again", Kind.PENDING),
        ("all", Kind.DONE),
        ("done", Kind.DONE),
        ("all again", Kind.DONE),
        ("all", Kind.PENDING),
        ("all again", Kind.PENDING),
        ("all", Kind.PENDING),
        ("all again", Kind.PENDING),
    ]
    assert late == [Kind.PENDING]
    assert [e.kind for e in bus.events] == [Kind.PENDING, Kind.DONE, Kind.PENDING, Kind.PENDING]


def test_a_failing_subscriber_is_reported_once_and_the_others_still_get_every_event(caplog):
    from nbpipe.engine.events import EventBus, RunEvent

    bus = EventBus()
    seen = []

    def broken(event):
        raise ValueError("display gone")

    bus.subscribe(broken)
    bus.subscribe(lambda e: seen.append(e.kind))
    with caplog.at_level("ERROR", logger="nbpipe"):
        for _ in range(3):
            bus.emit(RunEvent(Kind.PENDING, "t", 0.0))
    reports = [r for r in caplog.records if "event subscriber" in r.getMessage()]
    assert len(reports) == 1 and "display gone" in reports[0].exc_text
    assert seen == [Kind.PENDING] * 3


def test_bad_build_arguments_are_clear():
    with pytest.raises(TypeError, match="unknown option"):
        nbpipe.build([Write("x")], wokers=2)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        nbpipe.build([Write("x")], workers=0)
    with pytest.raises(ValueError, match="unknown executor 'gpu'"):
        nbpipe.build([Write("x")], executor="gpu")
    with pytest.raises(TypeError, match=r"build\(\) needs tasks; got 'x' \(a str\)"):
        nbpipe.build(["x"])


class Reports(nbpipe.Task):
    def complete(self):
        return False

    def run(self):
        import logging

        self.set_status_message("halfway")
        self.set_progress_percentage(50)
        logging.getLogger("my.pipeline").warning("careful: %s", "low disk")


@pytest.mark.parametrize("executor,workers", [("inline", 1), ("thread", 2), ("process", 2)])
def test_progress_reports_become_events(executor, workers):
    result = execute([Reports()], workers=workers, executor=executor)
    progress = [e for e in result.events if e.kind == Kind.PROGRESS]
    assert [e.data for e in progress] == [{"status_message": "halfway"}, {"progress_percentage": 50}]
    assert [e.task for e in progress] == [Reports(), Reports()]  # (the widget finds the node by it)


def test_worker_logging_reaches_the_driver_tagged_with_the_task(capfd):
    execute([Reports()], workers=2, executor="process")
    err = capfd.readouterr().err
    assert "[Reports()] WARNING: careful: low disk" in err


def test_luigi_run_with_argv():
    assert nbpipe.run(["Write", "--name", "from_argv", "--local-scheduler"]) is True
    assert open("out/from_argv").read() == "from_argv"
    result = nbpipe.run(["Write", "--name", "again", "--workers", "2"], detailed_summary=True)
    assert result.status == StatusCode.SUCCESS


class LoopsBack(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("loops_back")

    def run(self):
        yield NeedsLoop()


class NeedsLoop(nbpipe.Task):
    def requires(self):
        return LoopsBack()

    def output(self):
        return nbpipe.LocalTarget("needs_loop")


def test_a_dynamic_dependency_cycle_fails_the_task_naming_the_cycle():
    result = nbpipe.build([LoopsBack()], detailed_summary=True)
    assert result.summary.task_ids("failed") == [LoopsBack().task_id]
    assert result.summary.failures[LoopsBack().task_id].startswith(
        "dependency cycle: LoopsBack() -> NeedsLoop() -> LoopsBack()"
    )
    assert result.exit_code == 30


def test_broken_task_handlers_receive_the_exception_requires_raised():
    class RequiresBoom(nbpipe.Task):
        def requires(self):
            raise KeyError("no such upstream")

    seen = []

    @RequiresBoom.event_handler(nbpipe.Event.BROKEN_TASK)
    def on_broken(task, exc):
        seen.append(exc)

    nbpipe.build([RequiresBoom()], local_scheduler=True)
    assert len(seen) == 1 and isinstance(seen[0], KeyError) and seen[0].args == ("no such upstream",)


def test_an_inline_task_is_seen_running_before_it_ends():
    # Observers (the widget, progress) must see RUNNING while the task runs, also with the inline executor.
    seen_while_running = []
    kinds_so_far = []

    class Watched(nbpipe.Task):
        def complete(self):
            return False

        def run(self):
            seen_while_running.extend(k for k, tid in kinds_so_far if tid == self.task_id)

    from nbpipe.driver.run import execute

    execute([Watched()], executor="inline", observers=[lambda e: kinds_so_far.append((e.kind, e.task_id))])
    assert "running" in seen_while_running
    assert "done" not in seen_while_running
