"""Tests of the execution summary and exit codes, fed with hand-made run events.

Nothing here runs an nbpipe pipeline: every nbpipe summary is built from a
list of :class:`RunEvent` written by the test.  Where the same graph can be
run by real Luigi (installed as the reference implementation), the body of
Luigi's summary is compared with ours byte for byte.
"""

from __future__ import annotations

import datetime
import json
import random
from types import SimpleNamespace

import luigi as real_luigi
import luigi.configuration as luigi_configuration
import luigi.execution_summary as luigi_summary
import pytest

import nbpipe.configuration as nbconfig
from nbpipe.engine.events import Kind, RunEvent
from nbpipe.engine.summary import (
    CATEGORIES,
    LuigiStatusCode,
    RunResult,
    StatusCode,
    Summary,
    strip_summary_title,
    summarize,
)
from nbpipe.parameter import DateParameter, IntParameter, Parameter
from nbpipe.retcodes import INTERRUPTED, USAGE_ERROR, RetCodes
from nbpipe.task import ExternalTask, Task

# -- nbpipe task classes (never run; they give families, params and str) -----


class MyExternal(ExternalTask):
    task_namespace = ""


class Boom(Task):
    task_namespace = "examples"
    this_is_a_really_long_I_mean_way_too_long_and_annoying_parameter = IntParameter()

    def requires(self):
        return [Bar(i) for i in range(5, 200)]


class Foo(Task):
    task_namespace = "examples"
    num = IntParameter()
    num2 = IntParameter()

    def requires(self):
        return [MyExternal(), Boom(0)]


class Bar(Task):
    task_namespace = "examples"
    num = IntParameter()


class DateTask(Task):
    task_namespace = "examples"
    date = DateParameter()
    num = IntParameter()

    def requires(self):
        return [MyExternal(), Boom(0)]


class EntryPoint(Task):
    task_namespace = "examples"

    def requires(self):
        return [Foo(100, 2 * i) for i in range(10)] + [
            DateTask(datetime.date(1998, 3, 23) + datetime.timedelta(days=i), 5) for i in range(10)
        ]


class Leaf(Task):
    task_namespace = "chain"
    k = IntParameter()


class Mid(Task):
    task_namespace = "chain"
    k = IntParameter()

    def requires(self):
        return Leaf(self.k)


class Root(Task):
    task_namespace = "chain"

    def requires(self):
        return [Mid(k) for k in range(3)]


class Bad(Task):
    task_namespace = "sched"


class Fine(Task):
    task_namespace = "sched"


class Middle(Task):
    task_namespace = "sched"

    def requires(self):
        return [Bad(), Fine()]


class Top(Task):
    task_namespace = "sched"

    def requires(self):
        return Middle()


class Solo(Task):
    task_namespace = "fmt"


class Num(Task):
    task_namespace = "fmt"
    k = IntParameter()


class Word(Task):
    task_namespace = "fmt"
    w = Parameter()


class Day(Task):
    task_namespace = "fmt"
    day = DateParameter()
    city = Parameter(default="Oslo")


class Pair(Task):
    task_namespace = "fmt"
    a = IntParameter()
    b = IntParameter()


class Long(Task):
    task_namespace = "fmt"
    this_parameter_name_is_long = IntParameter()
    another_long_parameter_name = IntParameter()


class Two(Task):
    task_namespace = "fmt"
    x = IntParameter()
    y = IntParameter()


class Trio(Task):
    task_namespace = "fmt"
    k = IntParameter()


class Name(Task):
    task_namespace = "fmt"
    name = Parameter()


class Week(Task):
    task_namespace = "fmt"
    day = DateParameter()
    city = Parameter(default="Oslo")


class Blob(Task):
    task_namespace = "fmt"
    text = Parameter()


WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf")
BLOBS = ("x" * 90, "y" * 90)
NAMES = ("abcdefghijklmnopq", "bcdefghijklmnopqr", "cdefghijklmnopqrs", "defghijklmnopqrst", "efghijklmnopqrstu")


def fmt_children(ns):
    """The dependencies of the formatting root, for nbpipe or Luigi classes."""
    return (
        [ns.Solo()]
        + [ns.Num(k) for k in range(10)]
        + [ns.Word(w) for w in WORDS]
        + [ns.Day(datetime.date(2020, 1, 30) + datetime.timedelta(days=i)) for i in range(4)]
        + [ns.Pair(1, 2), ns.Pair(3, 4), ns.Pair(5, 6)]
        + [ns.Long(1, 2), ns.Long(3, 4)]
        + [ns.Two(0, 0), ns.Two(1, 1)]
        + [ns.Trio(k) for k in (7, 8, 9)]
        + [ns.Name(name) for name in NAMES]
        + [ns.Week(datetime.date(2020, 2, 28)), ns.Week(datetime.date(2020, 2, 29))]
        + [ns.Blob(text) for text in BLOBS]
    )


class All(Task):
    task_namespace = "fmt"

    def requires(self):
        return fmt_children(NB)


class Single(Task):
    task_namespace = "sumtest"


class Ext(ExternalTask):
    task_namespace = "sumtest"


class Node(Task):
    task_namespace = "sumtest"
    i = IntParameter()


class Chain(Task):
    task_namespace = "sumtest"
    n = IntParameter()


class NodeA(Task):
    task_namespace = "oracle"
    i = IntParameter()


class NodeB(Task):
    task_namespace = "oracle"
    i = IntParameter()
    tag = Parameter(default="t")


class NodeC(Task):
    task_namespace = "oracle"
    i = IntParameter()
    day = DateParameter()


NB = SimpleNamespace(
    Solo=Solo, Num=Num, Word=Word, Day=Day, Pair=Pair, Long=Long, Two=Two, Trio=Trio, Name=Name, Week=Week, Blob=Blob
)


# -- the same graphs as real Luigi tasks ---------------------------------------


def _make_luigi_classes():
    """Luigi classes with the same families as the nbpipe ones above."""
    done: set = set()

    class Mem(real_luigi.Task):
        task_namespace = "zz_summary_test"

        def complete(self):
            return self.task_id in done

        def run(self):
            done.add(self.task_id)

    class MyExternal(real_luigi.ExternalTask):
        task_namespace = ""

        def complete(self):
            return False

    class Boom(Mem):
        task_namespace = "examples"
        this_is_a_really_long_I_mean_way_too_long_and_annoying_parameter = real_luigi.IntParameter()

        def requires(self):
            return [Bar(i) for i in range(5, 200)]

    class Foo(Mem):
        task_namespace = "examples"
        num = real_luigi.IntParameter()
        num2 = real_luigi.IntParameter()

        def requires(self):
            return [MyExternal(), Boom(0)]

    class Bar(Mem):
        task_namespace = "examples"
        num = real_luigi.IntParameter()

    class DateTask(Mem):
        task_namespace = "examples"
        date = real_luigi.DateParameter()
        num = real_luigi.IntParameter()

        def requires(self):
            return [MyExternal(), Boom(0)]

    class EntryPoint(Mem):
        task_namespace = "examples"

        def requires(self):
            return [Foo(100, 2 * i) for i in range(10)] + [
                DateTask(datetime.date(1998, 3, 23) + datetime.timedelta(days=i), 5) for i in range(10)
            ]

    class Leaf(Mem):
        task_namespace = "chain"
        k = real_luigi.IntParameter()

        def run(self):
            if self.k == 1:
                raise RuntimeError("leaf 1 breaks")
            super().run()

    class Mid(Mem):
        task_namespace = "chain"
        k = real_luigi.IntParameter()

        def requires(self):
            return Leaf(self.k)

    class Root(Mem):
        task_namespace = "chain"

        def requires(self):
            return [Mid(k) for k in range(3)]

    class Bad(Mem):
        task_namespace = "sched"

        def complete(self):
            raise RuntimeError("cannot tell")

    class Fine(Mem):
        task_namespace = "sched"

    class Middle(Mem):
        task_namespace = "sched"

        def requires(self):
            return [Bad(), Fine()]

    class Top(Mem):
        task_namespace = "sched"

        def requires(self):
            return Middle()

    class Single(Mem):
        task_namespace = "sumtest"

    ns = SimpleNamespace(**{k: v for k, v in locals().items() if isinstance(v, type)})
    ns.done = done

    class Solo(Mem):
        task_namespace = "fmt"

    class Num(Mem):
        task_namespace = "fmt"
        k = real_luigi.IntParameter()

    class Word(Mem):
        task_namespace = "fmt"
        w = real_luigi.Parameter()

    class Day(Mem):
        task_namespace = "fmt"
        day = real_luigi.DateParameter()
        city = real_luigi.Parameter(default="Oslo")

    class Pair(Mem):
        task_namespace = "fmt"
        a = real_luigi.IntParameter()
        b = real_luigi.IntParameter()

    class Long(Mem):
        task_namespace = "fmt"
        this_parameter_name_is_long = real_luigi.IntParameter()
        another_long_parameter_name = real_luigi.IntParameter()

    class Two(Mem):
        task_namespace = "fmt"
        x = real_luigi.IntParameter()
        y = real_luigi.IntParameter()

    class Trio(Mem):
        task_namespace = "fmt"
        k = real_luigi.IntParameter()

    class Name(Mem):
        task_namespace = "fmt"
        name = real_luigi.Parameter()

    class Week(Mem):
        task_namespace = "fmt"
        day = real_luigi.DateParameter()
        city = real_luigi.Parameter(default="Oslo")

    class Blob(Mem):
        task_namespace = "fmt"
        text = real_luigi.Parameter()

    class All(Mem):
        task_namespace = "fmt"

        def requires(self):
            return fmt_children(ns)

    for cls in (Solo, Num, Word, Day, Pair, Long, Two, Trio, Name, Week, Blob, All):
        setattr(ns, cls.__name__, cls)

    class NodeA(real_luigi.Task):
        task_namespace = "oracle"
        i = real_luigi.IntParameter()

        def requires(self):
            return [ns.nodes[j] for j in ns.graph[self.i]]

    class NodeB(NodeA):
        task_namespace = "oracle"
        tag = real_luigi.Parameter(default="t")

    class NodeC(NodeA):
        task_namespace = "oracle"
        day = real_luigi.DateParameter()

    ns.NodeA, ns.NodeB, ns.NodeC = NodeA, NodeB, NodeC
    ns.graph, ns.nodes = {}, {}
    return ns


L = _make_luigi_classes()


@pytest.fixture
def luigi_run():
    """Run real Luigi on some tasks; returns (body of its summary, result)."""

    def run(*tasks):
        L.done.clear()
        result = real_luigi.build(list(tasks), local_scheduler=True, detailed_summary=True, log_level="CRITICAL")
        return strip_summary_title(result.summary_text), result

    yield run
    L.done.clear()


@pytest.fixture
def isolated_config(monkeypatch):
    """A fresh nbpipe configuration for the test; set values with set_option."""
    # The process-wide configuration object lives on LuigiConfigParser (Luigi's name for it).
    monkeypatch.setattr(nbconfig.LuigiConfigParser, "_instance", nbconfig.Config())
    monkeypatch.setattr(nbconfig, "_overrides", [])
    return nbconfig


# -- building events by hand ------------------------------------------------------


class Events:
    """A hand-written run: call the methods in the order things happen."""

    def __init__(self, *roots):
        self.events: list[RunEvent] = []
        self.clock = 1000.0
        if roots:
            self.emit(Kind.RUN_STARTED, None, roots=[r.task_id for r in roots])

    def emit(self, kind, task, deps=(), reason="", advance=1.0, **data):
        self.clock += advance
        self.events.append(
            RunEvent(
                kind,
                task.task_id if task is not None else "",
                self.clock,
                task,
                tuple(d.task_id for d in deps),
                reason,
                data,
            )
        )
        return self

    def discover(self, task, deps=(), complete=False, external=False):
        self.emit(Kind.DISCOVERED, task, deps, complete=complete, external=external)
        if complete:
            self.emit(Kind.COMPLETE, task)
        elif external:
            self.emit(Kind.MISSING, task)
        else:
            self.emit(Kind.PENDING, task)
        return self

    def succeed(self, task, seconds=1.0):
        self.emit(Kind.RUNNING, task, worker="w0")
        self.emit(Kind.DONE, task, advance=seconds)
        return self

    def fail(self, task, reason="boom", seconds=1.0, **data):
        self.emit(Kind.RUNNING, task, worker="w0")
        self.emit(Kind.FAILED, task, reason=reason, advance=seconds, **data)
        return self

    def finish(self, interrupted=False):
        return self.emit(Kind.RUN_FINISHED, None, interrupted=interrupted)


def graph_events(root, outcome):
    """Events of a run of ``root``'s graph where each task ends as ``outcome(task)`` says.

    Outcomes: "complete", "missing", "sched", "done", "failed", "retried"
    (failed, then done), "pending" (never ran).  Complete, missing and
    unschedulable tasks are not expanded, as a scheduler does not look past them.
    """
    ev = Events(root)
    order, seen, queue = [], {root}, [root]
    while queue:
        task = queue.pop(0)
        order.append(task)
        how = outcome(task)
        if how == "sched":
            ev.emit(Kind.DISCOVERED, task)
            ev.emit(Kind.SCHEDULING_FAILED, task, reason="complete() raised RuntimeError: cannot tell")
            continue
        if how in ("complete", "missing"):
            ev.discover(task, complete=how == "complete", external=how == "missing")
            continue
        deps = task.deps()
        ev.discover(task, deps)
        for dep in deps:
            if dep not in seen:
                seen.add(dep)
                queue.append(dep)
    for task in reversed(order):
        how = outcome(task)
        if how == "done":
            ev.succeed(task)
        elif how == "failed":
            ev.fail(task, reason="it broke")
        elif how == "retried":
            ev.fail(task, reason="first try broke")
            ev.emit(Kind.RETRY_WAIT, task, retry_at=ev.clock + 5)
            ev.emit(Kind.PENDING, task)
            ev.succeed(task)
    return ev.finish().events


def body(summary: Summary) -> str:
    return strip_summary_title(summary.summary_text)


def ids(tasks):
    return [t.task_id for t in tasks]


# -- the Luigi example ------------------------------------------------------------


EXAMPLE_BODY = """\
Scheduled 218 tasks of which:
* 195 complete ones were encountered:
    - 195 examples.Bar(num=5...199)
* 1 ran successfully:
    - 1 examples.Boom(...)
* 22 were left pending, among these:
    * 1 were missing external dependencies:
        - 1 MyExternal()
    * 21 had missing dependencies:
        - 10 examples.DateTask(date=1998-03-23...1998-04-01, num=5)
        - 1 examples.EntryPoint()
        - 10 examples.Foo(num=100, num2=0) ...

This progress looks :| because there were missing external dependencies"""


def example_outcome(task):
    if isinstance(task, Bar):
        return "complete"
    if isinstance(task, MyExternal):
        return "missing"
    if isinstance(task, Boom):
        return "done"
    return "pending"


def test_luigi_example_from_events():
    summary = summarize(graph_events(EntryPoint(), example_outcome))
    assert body(summary) == EXAMPLE_BODY
    assert summary.status is StatusCode.MISSING_EXT
    cats = summary.categories
    assert len(cats["already_done"]) == 195
    assert ids(cats["completed"]) == [Boom(0).task_id]
    assert ids(cats["still_pending_ext"]) == [MyExternal().task_id]
    assert len(cats["still_pending_not_ext"]) == 21
    assert len(cats["upstream_missing_dependency"]) == 21
    assert cats["not_run"] == [] and cats["upstream_failure"] == []
    assert summary.root_task_id == EntryPoint().task_id
    assert summary.exit_code(RetCodes()) == 20


def test_luigi_example_matches_real_luigi(luigi_run):
    L.done.clear()

    def run_example():
        L.done.update(L.Bar(i).task_id for i in range(5, 200))
        result = real_luigi.build([L.EntryPoint()], local_scheduler=True, detailed_summary=True, log_level="CRITICAL")
        return strip_summary_title(result.summary_text), result

    luigi_body, result = run_example()
    L.done.clear()
    assert luigi_body == EXAMPLE_BODY
    assert body(summarize(graph_events(EntryPoint(), example_outcome))) == luigi_body
    assert result.status.name == "MISSING_EXT"


# -- comparisons with real Luigi on small graphs ---------------------------------------


def test_failure_chain_matches_luigi(luigi_run):
    luigi_body, result = luigi_run(L.Root())

    def outcome(task):
        if isinstance(task, Leaf):
            return "failed" if task.k == 1 else "done"
        if isinstance(task, Mid) and task.k != 1:
            return "done"
        return "pending"

    summary = summarize(graph_events(Root(), outcome))
    assert body(summary) == luigi_body
    assert body(summary) == (
        "Scheduled 7 tasks of which:\n"
        "* 4 ran successfully:\n"
        "    - 2 chain.Leaf(k=0,2)\n"
        "    - 2 chain.Mid(k=0,2)\n"
        "* 1 failed:\n"
        "    - 1 chain.Leaf(k=1)\n"
        "* 2 were left pending, among these:\n"
        "    * 2 had failed dependencies:\n"
        "        - 1 chain.Mid(k=1)\n"
        "        - 1 chain.Root()\n"
        "\n"
        "This progress looks :( because there were failed tasks"
    )
    assert summary.status.name == result.status.name == "FAILED"
    assert ids(summary.categories["upstream_failure"]) == sorted([Mid(1).task_id, Root().task_id])
    assert summary.failures == {Leaf(1).task_id: "it broke"}
    assert summary.exit_code(RetCodes()) == 30


def test_scheduling_error_matches_luigi(luigi_run):
    luigi_body, result = luigi_run(L.Top())
    outcome = {Bad(): "sched", Fine(): "done"}
    summary = summarize(graph_events(Top(), lambda t: outcome.get(t, "pending")))
    assert body(summary) == luigi_body
    # Only direct dependents count as "dependencies whose scheduling failed";
    # Luigi reports the task above them as not granted run permission.
    assert body(summary) == (
        "Scheduled 4 tasks of which:\n"
        "* 1 ran successfully:\n"
        "    - 1 sched.Fine()\n"
        "* 1 failed scheduling:\n"
        "    - 1 sched.Bad()\n"
        "* 2 were left pending, among these:\n"
        "    * 1 had dependencies whose scheduling failed:\n"
        "        - 1 sched.Middle()\n"
        "    * 1 was not granted run permission by the scheduler:\n"
        "        - 1 sched.Top()\n"
        "\n"
        "This progress looks :( because there were tasks whose scheduling failed"
    )
    assert summary.status is StatusCode.SCHEDULING_FAILED
    assert result.status.name == "SCHEDULING_FAILED"
    assert summary.scheduling_errors == {Bad().task_id: "complete() raised RuntimeError: cannot tell"}
    assert RunResult(graph_events(Top(), lambda t: outcome.get(t, "pending"))).scheduling_succeeded is False
    assert result.scheduling_succeeded is False
    assert summary.exit_code(RetCodes()) == 35


def test_already_complete_matches_luigi(luigi_run):
    L.done.clear()
    L.done.add(L.Single().task_id)
    result = real_luigi.build([L.Single()], local_scheduler=True, detailed_summary=True, log_level="CRITICAL")
    L.done.clear()
    summary = summarize(graph_events(Single(), lambda t: "complete"))
    assert body(summary) == strip_summary_title(result.summary_text)
    assert body(summary) == (
        "Scheduled 1 tasks of which:\n"
        "* 1 complete ones were encountered:\n"
        "    - 1 sumtest.Single()\n"
        "\n"
        "Did not run any tasks\n"
        "This progress looks :) because there were no failed tasks or missing dependencies"
    )
    assert summary.status is StatusCode.SUCCESS
    assert summary.exit_code(RetCodes()) == 0


FMT_FULL = """\
Scheduled 42 tasks of which:
* 42 ran successfully:
    - 1 fmt.All()
    - 2 fmt.Blob(text=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy)
    - 4 fmt.Day(day=2020-01-30...2020-02-02, city=Oslo)
    - 2 fmt.Long(...)
    - 5 fmt.Name(name=abcdefghijklmnopq,bcdefghijklmnopqr,cdefghijklmnopqrs,...)
    - 10 fmt.Num(k=0...9)
    - 3 fmt.Pair(a=1, b=2) ...
    - 1 fmt.Solo()
    - 3 fmt.Trio(k=7,8,9)
    - 2 fmt.Two(x=0, y=0) and fmt.Two(x=1, y=1)
    - 2 fmt.Week(day=2020-02-28, city=Oslo) and fmt.Week(day=2020-02-29, city=Oslo)
    - 7 fmt.Word(w=alpha,bravo,charlie,delta,echo,...)

This progress looks :) because there were no failed tasks or missing dependencies"""


def test_family_lines_and_summary_length_match_luigi(luigi_run):
    luigi_body, result = luigi_run(L.All())
    events = graph_events(All(), lambda t: "done")
    cut = body(summarize(events, summary_length=5))
    assert cut == luigi_body
    assert cut == "\n".join(
        FMT_FULL.splitlines()[:7] + ["    ..."] + FMT_FULL.splitlines()[FMT_FULL.splitlines().index("") :]
    )
    # Luigi reads summary_length when it renders: render its run again uncut.
    config = luigi_configuration.get_config()
    config.set("execution_summary", "summary_length", "0")
    try:
        luigi_full = strip_summary_title(luigi_summary.summary(result.worker))
    finally:
        config.remove_option("execution_summary", "summary_length")
    assert body(summarize(events, summary_length=0)) == luigi_full == FMT_FULL


class Big(Task):
    task_namespace = "sumtest"
    v = Parameter()


def test_long_values_are_cut():
    huge = Big("h" * 250)
    longs = [Big(c * 110) for c in "abc"]
    ev = Events(huge).discover(huge, longs)
    for task in longs + [huge]:
        ev.succeed(task)
    lines = body(summarize(ev.events)).splitlines()
    assert lines[2] == "    - 4 sumtest.Big(v=" + "a" * 110 + "," + "b" * 110 + ",...)"
    ev = Events(huge).discover(huge).succeed(huge)
    assert body(summarize(ev.events)).splitlines()[2] == "    - 1 sumtest.Big(...)"


class _Picky:
    """A parameter value whose == refuses other values (as some array-like values do)."""

    def __init__(self, n):
        self.n = n

    def __hash__(self):
        return self.n

    def __eq__(self, other):
        if other is not self:
            raise ValueError("the truth value of this comparison is ambiguous")
        return True

    def __str__(self):
        return f"picky{self.n}"


class Pair(Task):
    task_namespace = "sumtest"
    a = Parameter()
    b = Parameter()


def test_values_whose_comparison_raises_still_give_a_line():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (not strings: the parameter type warning)
        tasks = [Pair(a="x", b=_Picky(i)) for i in range(4)]
    ev = Events(tasks[0]).discover(tasks[0], tasks[1:])
    for task in tasks:
        ev.succeed(task)
    assert body(summarize(ev.events)).splitlines()[2] == "    - 4 sumtest.Pair(a=x, b=picky0) ..."


def test_summary_length_from_config(isolated_config):
    events = graph_events(All(), lambda t: "done")
    isolated_config.set_option("execution_summary", "summary_length", 2)
    lines = body(summarize(events)).splitlines()
    assert lines[2:5] == ["    - 1 fmt.All()", "    - 2 fmt.Blob(text=" + ",".join(BLOBS) + ")", "    ..."]
    isolated_config.set_option("execution_summary", "summary_length", 0)
    assert body(summarize(events)) == FMT_FULL
    # An explicit argument wins over the configuration.
    assert body(summarize(events, summary_length=1)).splitlines()[3] == "    ..."


# -- hand-made cases ------------------------------------------------------------------


def test_retry_that_succeeds_is_success_with_retry():
    flaky, root = Node(1), Node(2)
    ev = Events(root).discover(root, [flaky]).discover(flaky)
    ev.fail(flaky, reason="transient", seconds=3.0)
    ev.emit(Kind.RETRY_WAIT, flaky, retry_at=ev.clock + 1)
    ev.emit(Kind.PENDING, flaky)
    ev.succeed(flaky, seconds=2.5).succeed(root).finish()
    summary = summarize(ev.events)
    assert summary.status is StatusCode.SUCCESS_WITH_RETRY
    assert ids(summary.categories["ever_failed"]) == [flaky.task_id]
    assert summary.categories["failed"] == []
    assert ids(summary.categories["completed"]) == [flaky.task_id, root.task_id]
    assert summary.failures == {}
    assert summary.durations[flaky.task_id] == pytest.approx(2.5)  # the last attempt
    assert body(summary) == (
        "Scheduled 2 tasks of which:\n"
        "* 2 ran successfully:\n"
        "    - 2 sumtest.Node(i=1,2)\n"
        "\n"
        "This progress looks :) because there were failed tasks but they all succeeded in a retry"
    )
    assert summary.exit_code(RetCodes()) == 0


def test_disabled_task_counts_as_failed_and_keeps_last_reason():
    bad, root = Node(1), Node(2)
    ev = Events(root).discover(root, [bad]).discover(bad)
    ev.fail(bad, reason="first")
    ev.emit(Kind.RETRY_WAIT, bad).emit(Kind.PENDING, bad)
    ev.fail(bad, reason="second", traceback="Traceback (most recent call last):\nValueError: second")
    ev.emit(Kind.DISABLED, bad, reason="too many failures")
    ev.emit(Kind.UPSTREAM_FAILED, root).finish()
    summary = summarize(ev.events)
    assert ids(summary.categories["failed"]) == [bad.task_id]
    assert ids(summary.categories["disabled"]) == [bad.task_id]
    assert ids(summary.categories["upstream_failure"]) == [root.task_id]
    assert summary.failures == {bad.task_id: "second\nTraceback (most recent call last):\nValueError: second"}
    assert summary.status is StatusCode.FAILED
    assert "* 1 failed:\n    - 1 sumtest.Node(i=1)\n" in body(summary)


def test_disabled_without_failure_event_is_failed():
    task = Single()
    ev = Events(task).discover(task).emit(Kind.DISABLED, task, reason="disabled by the scheduler")
    summary = summarize(ev.events)
    assert ids(summary.categories["failed"]) == [task.task_id]
    assert summary.failures == {task.task_id: "disabled by the scheduler"}
    assert summary.status is StatusCode.FAILED


def test_upstream_failure_propagates_through_a_chain():
    tasks = [Node(i) for i in range(5)]
    ev = Events(tasks[-1])
    for i in reversed(range(5)):
        ev.discover(tasks[i], [tasks[i - 1]] if i else [])
    ev.fail(tasks[0], reason="nope")
    summary = summarize(ev.events)
    assert ids(summary.categories["upstream_failure"]) == ids(tasks[1:])
    assert summary.categories["not_run"] == []
    assert body(summary) == (
        "Scheduled 5 tasks of which:\n"
        "* 1 failed:\n"
        "    - 1 sumtest.Node(i=0)\n"
        "* 4 were left pending, among these:\n"
        "    * 4 had failed dependencies:\n"
        "        - 4 sumtest.Node(i=1...4)\n"
        "\n"
        "This progress looks :( because there were failed tasks"
    )


def test_failure_with_scheduling_error_status():
    a, b, root = Node(1), Node(2), Node(3)
    ev = Events(root).discover(root, [a, b]).discover(a)
    ev.emit(Kind.DISCOVERED, b).emit(Kind.SCHEDULING_FAILED, b, reason="requires() raised")
    ev.fail(a)
    summary = summarize(ev.events)
    assert summary.status is StatusCode.FAILED_AND_SCHEDULING_FAILED
    assert ids(summary.categories["upstream_failure"]) == [root.task_id]
    assert ids(summary.categories["upstream_scheduling_error"]) == [root.task_id]
    assert summary.exit_code(RetCodes()) == 35  # the larger of task_failed and scheduling_error
    assert "    * 1 had dependencies whose scheduling failed:\n        - 1 sumtest.Node(i=3)\n" in body(summary)


def test_missing_external_only():
    ext = Ext()
    summary = summarize(Events(ext).discover(ext, external=True).finish().events)
    assert body(summary) == (
        "Scheduled 1 tasks of which:\n"
        "* 1 were left pending, among these:\n"
        "    * 1 were missing external dependencies:\n"
        "        - 1 sumtest.Ext()\n"
        "\n"
        "Did not run any tasks\n"
        "This progress looks :| because there were missing external dependencies"
    )
    assert summary.status is StatusCode.MISSING_EXT
    assert summary.exit_code(RetCodes()) == 20


def test_external_discovered_incomplete_without_missing_event_is_missing():
    ext = Ext()
    ev = Events(ext).emit(Kind.DISCOVERED, ext, complete=False, external=True)
    assert ids(summarize(ev.events).categories["still_pending_ext"]) == [ext.task_id]


def test_never_started_is_not_run():
    root = Single()
    summary = summarize(Events(root).discover(root).finish(interrupted=True).events)
    assert ids(summary.categories["not_run"]) == [root.task_id]
    assert summary.status is StatusCode.NOT_RUN
    assert summary.interrupted is True
    assert body(summary) == (
        "Scheduled 1 tasks of which:\n"
        "* 1 were left pending, among these:\n"
        "    * 1 was not granted run permission by the scheduler:\n"
        "        - 1 sumtest.Single()\n"
        "\n"
        "Did not run any tasks\n"
        "This progress looks :| because there were tasks that were not granted run permission by the scheduler"
    )
    assert summary.exit_code(RetCodes()) == 25


def test_nothing_scheduled():
    summary = summarize([])
    assert body(summary) == "Did not schedule any tasks"
    assert summary.status is StatusCode.SUCCESS
    assert summary.root_task_id is None
    assert summary.exit_code(RetCodes()) == 0
    assert all(summary.categories[name] == [] for name in CATEGORIES)


def test_run_by_other_worker():
    a, b, root = Node(1), Node(2), Node(3)
    ev = Events(root).discover(root, [a, b]).discover(a).discover(b)
    ev.emit(Kind.RUN_BY_OTHER, a, worker="Worker(host=h2, pid=7)")
    ev.succeed(b).finish()
    summary = summarize(ev.events)
    assert ids(summary.categories["run_by_other_worker"]) == [a.task_id]
    assert ids(summary.categories["upstream_run_by_other_worker"]) == [root.task_id]
    assert summary.categories["not_run"] == []
    assert summary.other_workers == {"Worker(host=h2, pid=7)": [a.task_id]}
    assert body(summary) == (
        "Scheduled 3 tasks of which:\n"
        "* 1 ran successfully:\n"
        "    - 1 sumtest.Node(i=2)\n"
        "* 2 were left pending, among these:\n"
        "    * 1 were being run by another worker:\n"
        "        - 1 sumtest.Node(i=1)\n"
        "    * 1 had dependencies that were being run by other worker:\n"
        "        - 1 sumtest.Node(i=3)\n"
        "\n"
        "The other workers were:\n"
        "    - Worker(host=h2, pid=7) ran 1 tasks\n"
        "\n"
        "\n"
        "This progress looks :) because there were no failed tasks or missing dependencies"
    )
    assert summary.status is StatusCode.SUCCESS  # as in Luigi: not a failure
    assert summary.exit_code(RetCodes()) == 10


def test_many_other_workers_are_cut():
    root = Node(100)
    deps = [Node(i) for i in range(6)]
    ev = Events(root).discover(root, deps)
    for i, task in enumerate(deps):
        ev.discover(task).emit(Kind.RUN_BY_OTHER, task, worker=f"w{i}")
    text = body(summarize(ev.events))
    assert text.endswith(
        "The other workers were:\n"
        "    - w0 ran 1 tasks\n"
        "    - w1 ran 1 tasks\n"
        "    - w2 ran 1 tasks\n"
        "    - w3 ran 1 tasks\n"
        "    and 2 other workers\n"
        "Did not run any tasks\n"
        "This progress looks :) because there were no failed tasks or missing dependencies"
    )


def test_dynamic_dependencies_from_suspended_events():
    parent, dyn = Node(1), Node(2)
    ev = Events(parent).discover(parent)
    ev.emit(Kind.RUNNING, parent).emit(Kind.SUSPENDED, parent, deps=[dyn])
    ev.discover(dyn).fail(dyn).emit(Kind.PENDING, parent)
    summary = summarize(ev.events)
    assert ids(summary.categories["upstream_failure"]) == [parent.task_id]
    assert summary.categories["not_run"] == []


def test_task_without_object_gets_a_placeholder():
    ev = [
        RunEvent(Kind.RUN_STARTED, "", 0.0, data={"roots": ["Ghost_abc"]}),
        RunEvent(Kind.DISCOVERED, "Ghost_abc", 1.0),
        RunEvent(Kind.RUNNING, "Ghost_abc", 2.0),
        RunEvent(Kind.DONE, "Ghost_abc", 4.0),
    ]
    summary = summarize(ev)
    assert summary.task_ids("completed") == ["Ghost_abc"]
    assert "    - 1 Ghost_abc()\n" in body(summary)
    assert summary.durations == {"Ghost_abc": 2.0}
    assert summary.exit_code(RetCodes()) == 0


def test_root_defaults_to_first_discovered_task():
    a, b = Node(7), Node(8)
    ev = Events().discover(a, [b]).discover(b)
    assert summarize(ev.events).root_task_id == a.task_id


def test_categories_are_sorted_by_str_and_to_dict_is_json():
    tasks = [Node(i) for i in (10, 2, 1)]
    root = Single()
    ev = Events(root).discover(root, tasks)
    for t in tasks:
        ev.discover(t)
    for t in tasks:
        ev.succeed(t, seconds=0.5)
    ev.fail(root, reason="root broke", traceback="TB")
    summary = summarize(ev.events)
    assert [str(t) for t in summary.categories["completed"]] == sorted(str(t) for t in tasks)
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["status"] == "FAILED"
    assert data["counts"]["completed"] == 3 and data["counts"]["failed"] == 1
    assert set(data["counts"]) >= set(CATEGORIES)
    assert data["tasks"]["completed"] == [t.task_id for t in summary.categories["completed"]]
    assert data["failures"] == {root.task_id: "root broke\nTB"}
    assert data["one_line_summary"] == "This progress looks :( because there were failed tasks"
    assert summary.durations[tasks[0].task_id] == pytest.approx(0.5)


def test_summary_text_is_wrapped_with_nbpipe_title():
    summary = summarize(graph_events(Single(), lambda t: "done"))
    assert summary.summary_text.startswith("\n===== nbpipe Execution Summary =====\n\nScheduled 1 tasks")
    assert summary.summary_text.endswith("dependencies\n\n===== nbpipe Execution Summary =====\n")
    assert str(summary) == summary.summary_text
    with pytest.raises(ValueError):
        strip_summary_title("no title here")


# -- large graphs ---------------------------------------------------------------------------


def test_hundred_thousand_task_chain():
    n = 100_000
    tasks = [Chain(i) for i in range(n)]
    ev = Events(tasks[-1])
    for i in range(n - 1, -1, -1):
        ev.discover(tasks[i], [tasks[i - 1]] if i else [])
    ev.fail(tasks[0])
    summary = summarize(ev.events)
    assert len(summary.categories["upstream_failure"]) == n - 1
    assert summary.categories["not_run"] == []
    assert "        - 99999 sumtest.Chain(n=1...99999)\n" in body(summary)
    assert summary.status is StatusCode.FAILED

    # The same chain where nothing ran: all of it not run, starting anywhere.
    summary = summarize(e for e in ev.events if e.kind not in (Kind.RUNNING, Kind.FAILED))
    assert len(summary.categories["not_run"]) == n


def test_diamond_lattice_is_walked_once():
    # 2 tasks per layer, each needing both tasks of the layer below: 2**300
    # paths, so only a walk that visits each task once can finish.
    layers = [[Node(2 * k), Node(2 * k + 1)] for k in range(300)]
    ev = Events(layers[-1][0])
    for k in reversed(range(300)):
        for task in layers[k]:
            ev.discover(task, layers[k - 1] if k else [])
    ev.emit(Kind.DISCOVERED, Ext()).emit(Kind.MISSING, Ext())
    for task in layers[0]:
        ev.events.append(RunEvent(Kind.SUSPENDED, task.task_id, ev.clock, deps=(Ext().task_id,)))
    summary = summarize(ev.events)
    assert len(summary.categories["upstream_missing_dependency"]) == 600
    assert summary.status is StatusCode.MISSING_EXT


# -- the classification against Luigi's own functions ----------------------------


OUTCOMES = ("complete", "done", "failed", "retried", "missing", "sched", "pending", "pending", "other", "other")


@pytest.mark.parametrize("seed", range(25))
def test_random_graphs_match_luigis_classification_and_text(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 45)
    graph = {i: [j for j in range(i) if rng.random() < 0.12] for i in range(n)}
    outcome = {i: rng.choice(OUTCOMES) for i in range(n)}
    workers = {i: f"worker-{rng.randint(0, 6)}" for i in range(n)}
    base = datetime.date(2021, 12, 25)

    def make(ns, i):
        if i % 3 == 0:
            return ns.NodeA(i)
        if i % 3 == 1:
            return ns.NodeB(i)
        return ns.NodeC(i, base + datetime.timedelta(days=i))

    nb = {i: make(SimpleNamespace(NodeA=NodeA, NodeB=NodeB, NodeC=NodeC), i) for i in range(n)}
    lu = {i: make(L, i) for i in range(n)}
    L.graph.clear()
    L.graph.update(graph)
    L.nodes.clear()
    L.nodes.update(lu)

    # Our events and Luigi's worker history for the same story, root first.
    order = list(reversed(range(n)))
    ev = Events(nb[order[0]])
    history, running = [], []
    for i in order:
        task, ltask, how = nb[i], lu[i], outcome[i]
        deps = [nb[j] for j in graph[i]]
        if how == "sched":
            ev.emit(Kind.DISCOVERED, task).emit(Kind.SCHEDULING_FAILED, task)
            history.append((ltask, "UNKNOWN", True))
        elif how == "complete":
            ev.discover(task, complete=True)
            history.append((ltask, "DONE", True))
        elif how == "missing":
            ev.discover(task, external=True)
            history.append((ltask, "PENDING", False))
        else:
            ev.discover(task, deps)
            history.append((ltask, "PENDING", True))
    for i in order:
        task, ltask, how = nb[i], lu[i], outcome[i]
        if how == "done":
            ev.succeed(task)
            history.append((ltask, "DONE", True))
        elif how == "failed":
            ev.fail(task)
            history.append((ltask, "FAILED", True))
        elif how == "retried":
            ev.fail(task).emit(Kind.PENDING, task).succeed(task)
            history += [(ltask, "FAILED", True), (ltask, "DONE", True)]
        elif how == "other":
            ev.emit(Kind.RUN_BY_OTHER, task, worker=workers[i])
            running.append({"worker": workers[i], "task_id": ltask.task_id})
    worker = SimpleNamespace(
        _id="me",
        _add_task_history=history,
        _get_work_response_history=[{"task_id": None, "running_tasks": running}],
        _scheduled_tasks={t.task_id: t for t in lu.values()},
    )
    expected_sets = luigi_summary._summary_dict(worker)
    expected_text = luigi_summary._summary_format(expected_sets, worker)
    expected_status = luigi_summary._tasks_status(expected_sets)

    summary = summarize(ev.events, summary_length=5)
    for name, tasks in expected_sets.items():
        assert sorted(summary.task_ids(name)) == sorted(t.task_id for t in tasks), name
    assert body(summary) == expected_text
    assert summary.status.name == expected_status.name


# -- status codes, exit codes, RunResult -----------------------------------------------


def test_status_codes_are_luigis():
    assert [(m.name, m.value) for m in StatusCode] == [(m.name, m.value) for m in real_luigi.LuigiStatusCode]
    assert LuigiStatusCode is StatusCode


def _summary_with(category_story):
    """A run of Single() where one dependency ends as the story says."""
    root, dep = Node(1), Node(2)
    ev = Events(root).discover(root, [dep])
    if category_story == "done":
        ev.discover(dep).succeed(dep).succeed(root)
    elif category_story == "failed":
        ev.discover(dep).fail(dep)
    elif category_story == "missing":
        ev.discover(dep, external=True)
    elif category_story == "other":
        ev.discover(dep).emit(Kind.RUN_BY_OTHER, dep, worker="w9")
    elif category_story == "sched":
        ev.emit(Kind.DISCOVERED, dep).emit(Kind.SCHEDULING_FAILED, dep)
    elif category_story == "not_run":
        ev.discover(dep)
    elif category_story == "root_failed_only":
        ev.discover(dep).succeed(dep).fail(root)
    return summarize(ev.events)


@pytest.mark.parametrize(
    "story, code",
    [
        ("done", 0),
        ("failed", 30),
        ("missing", 20),
        ("other", 10),
        ("sched", 35),
        ("not_run", 25),
        ("root_failed_only", 30),
    ],
)
def test_exit_code_per_category(story, code, isolated_config):
    summary = _summary_with(story)
    assert summary.exit_code() == code
    assert summary.exit_code(RetCodes()) == code
    assert RunResult([], summary).exit_code == code


def test_exit_code_when_root_did_not_finish():
    # Nothing above applies (task_failed is 0), but the root is not complete.
    codes = RetCodes(task_failed=0)
    assert _summary_with("root_failed_only").exit_code(codes) == codes.not_run == 25
    # Luigi's defaults (all 0) give 0 whatever happened.
    zeros = RetCodes(0, 0, 0, 0, 0, 0)
    assert all(_summary_with(s).exit_code(zeros) == 0 for s in ("failed", "missing", "other", "sched", "not_run"))


def test_exit_codes_from_config(isolated_config):
    isolated_config.set_option("retcode", "task_failed", 7)
    isolated_config.set_option("retcode", "missing-data", "3")
    codes = RetCodes.from_config()
    assert codes == RetCodes(task_failed=7, missing_data=3)
    assert _summary_with("failed").exit_code() == 7
    assert _summary_with("missing").exit_code() == 3
    assert RetCodes.from_config(nbconfig.Config({"retcode": {"not_run": 99}})).not_run == 99


def test_retcode_defaults_and_constants():
    codes = RetCodes()
    assert (
        codes.already_running,
        codes.missing_data,
        codes.not_run,
        codes.task_failed,
        codes.scheduling_error,
        codes.unhandled_exception,
    ) == (
        10,
        20,
        25,
        30,
        35,
        40,
    )
    assert (USAGE_ERROR, INTERRUPTED) == (2, 130)


def test_run_result():
    events = graph_events(Single(), lambda t: "done")
    result = RunResult(events)
    assert result.status is StatusCode.SUCCESS
    assert result.summary_text == result.summary.summary_text
    assert (
        result.one_line_summary == "This progress looks :) because there were no failed tasks or missing dependencies"
    )
    assert result.scheduling_succeeded is True
    assert result.events == events and result.events is not events
    assert str(result) == "RunResult with status StatusCode.SUCCESS"
    assert repr(result).startswith("RunResult(status=<StatusCode.SUCCESS:")
    assert "__bool__" not in vars(RunResult) and "__len__" not in vars(RunResult)
    assert "_repr_pretty_" not in vars(RunResult)
    given = summarize(events, summary_length=1)
    assert RunResult(events, given).summary is given


def test_events_without_their_task_are_summarised_by_task_id():
    """Events from elsewhere (a remote worker's report) may carry only the id: the task still appears."""
    known = Leaf(k=1)
    events = [
        RunEvent(Kind.DISCOVERED, known.task_id, 1.0, known, (), "", {}),
        RunEvent(Kind.DISCOVERED, "Remote_7_abc", 1.0, None, (), "", {}),
        RunEvent(Kind.RUNNING, known.task_id, 2.0, known),
        RunEvent(Kind.DONE, known.task_id, 3.0, known),
        RunEvent(Kind.RUNNING, "Remote_7_abc", 2.0, None),
        RunEvent(Kind.FAILED, "Remote_7_abc", 3.0, None, (), "worker died"),
    ]
    summary = summarize(events)
    assert summary.categories["completed"] == [known]
    assert [str(t) for t in summary.categories["failed"]] == ["Remote_7_abc"]
    assert "Remote_7_abc" in summary.summary_text and "worker died" in summary.failures["Remote_7_abc"]
