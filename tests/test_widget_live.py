"""The DAG widget's Python side: live updates that never stall, reasons for every state, strict actions,
one run at a time, one output per magic, and static forms that tell how the graph ended.

No browser here (tests/test_browser.py has those); the widget's comm is ipywidgets' dummy one.
"""

import threading

import pytest

import nbpipe
from nbpipe.engine.events import Kind, RunEvent
from nbpipe.notebook.widget import DagWidget


class Branch(nbpipe.Task):
    name = nbpipe.Parameter()

    def output(self):
        return nbpipe.LocalTarget(f"branch/{self.name}")

    def run(self):
        with self.output().open("w") as f:
            f.write(self.name)


class Leaf(nbpipe.Task):
    name = nbpipe.Parameter()

    def requires(self):
        return Branch(self.name)

    def output(self):
        return nbpipe.LocalTarget(f"leaf/{self.name}")

    def run(self):
        with self.output().open("w") as f:
            f.write(self.name)


class TwoBranches(nbpipe.WrapperTask):
    def requires(self):
        return [Leaf("north"), Leaf("south")]


class Fetch(nbpipe.Task):
    station = nbpipe.Parameter()

    def output(self):
        return nbpipe.LocalTarget(f"fetch/{self.station}")

    def run(self):
        raise ValueError(f"station {self.station} did not answer")


class Report(nbpipe.WrapperTask):
    def requires(self):
        return [Fetch("north")]


class RawData(nbpipe.ExternalTask):
    def output(self):
        return nbpipe.LocalTarget("data/raw.csv")


class Clean(nbpipe.Task):
    def requires(self):
        return RawData()

    def output(self):
        return nbpipe.LocalTarget("data/clean.csv")


GATE = threading.Event()
RUNS: list[str] = []


class Gated(nbpipe.Task):
    """Runs until the test opens GATE (so a run is certainly in flight)."""

    def output(self):
        return nbpipe.LocalTarget("gated")

    def run(self):
        RUNS.append(self.task_id)
        GATE.wait(60)
        with self.output().open("w") as f:
            f.write("x")


def _wait_for(widget: DagWidget, trait: str, predicate, timeout: float = 30.0) -> None:
    """Block until ``predicate(widget)`` holds, re-checked on every change of ``trait`` (no polling, no sleeps)."""
    changed = threading.Event()

    def observer(_change) -> None:
        if predicate(widget):
            changed.set()

    widget.observe(observer, names=[trait])
    try:
        if not predicate(widget):
            assert changed.wait(timeout), f"{trait} never reached the expected value: {getattr(widget, trait)!r}"
    finally:
        widget.unobserve(observer, names=[trait])


def _event(kind: str, task: nbpipe.Task, **kwargs) -> RunEvent:
    import time

    return RunEvent(kind, task.task_id, time.time(), task, **kwargs)


# -- 1. live means live --------------------------------------------------------------------


def test_a_change_held_back_by_the_rate_limit_is_sent_by_the_timer_without_a_further_event():
    widget = DagWidget(TwoBranches(), max_updates_per_second=0.5)  # a 2 s interval: the second change must wait
    north, south = Branch("north"), Branch("south")
    widget.on_run_event(_event(Kind.RUNNING, north))
    assert widget.states[north.task_id] == "running" and widget.pushes == 1  # the first change goes at once
    widget.on_run_event(_event(Kind.RUNNING, south))
    assert widget.states[south.task_id] == "not_built"  # held back: the interval is not over
    # No further event arrives (a quiet period: both tasks run for minutes); the timer sends it.
    _wait_for(widget, "states", lambda w: w.states[south.task_id] == "running")
    assert widget.pushes == 2
    assert widget.details[south.task_id]["reasons"][0].startswith("running since")


def test_a_node_s_details_are_sent_when_its_task_ends_not_when_the_run_does():
    widget = DagWidget(Report())
    fetch = Fetch("north")
    widget.on_run_event(_event(Kind.RUNNING, fetch))
    widget.on_run_event(
        _event(Kind.FAILED, fetch, reason="ValueError: no answer", data={"traceback": "Traceback ...\nValueError"})
    )
    widget.on_run_event(_event(Kind.UPSTREAM_FAILED, Report(), reason=f"dependency {fetch.task_id} failed"))
    widget.flush()
    assert widget.states[fetch.task_id] == "failed"
    details = widget.details[fetch.task_id]
    assert details["error"] == "ValueError: no answer" and details["traceback"].startswith("Traceback")
    assert details["duration"] is not None and details["duration"] >= 0
    assert widget.details[Report().task_id]["reasons"] == ["upstream Fetch(station=north) failed"]


def test_batches_stay_within_the_rate_while_every_change_arrives():
    widget = DagWidget(TwoBranches(), max_updates_per_second=10)
    result = widget.run(background=False)
    assert result.exit_code == 0
    assert set(widget.states.values()) == {"ran"}
    assert widget.details == {}  # folded into `nodes` by the refresh at the end of the run
    assert all(node["duration"] is not None for tid, node in widget.nodes.items() if "TwoBranches" not in tid)


# -- 2. every node that is not done says why ------------------------------------------------


def test_every_node_that_is_not_done_says_why_before_and_after_a_run():
    widget = DagWidget(Clean())
    clean, raw = widget.nodes[Clean().task_id], widget.nodes[RawData().task_id]
    assert widget.states[RawData().task_id] == "external_missing"
    assert "data/raw.csv" in raw["reasons"][0] or "RawData" in raw["reasons"][0]
    assert clean["reasons"] == ["waits for external input RawData(), which is missing"]

    report = DagWidget(Report())
    assert report.nodes[Report().task_id]["reasons"] == ["waits for Fetch(station=north), not built yet"]
    assert report.nodes[Fetch("north").task_id]["reasons"] == ["output fetch/north is not there yet"]
    report.run(background=False)
    assert report.states[Fetch("north").task_id] == "failed"
    assert report.states[Report().task_id] == "upstream_failed"
    assert report.nodes[Report().task_id]["reasons"] == ["upstream Fetch(station=north) failed"]
    assert "did not answer" in report.nodes[Fetch("north").task_id]["error"]
    # A new view of the same graph (another cell, a restarted kernel) tells the same.
    again = DagWidget(Report())
    assert again.states[Report().task_id] == "upstream_failed"
    assert again.nodes[Report().task_id]["reasons"] == ["upstream Fetch(station=north) failed"]


# -- 3. an action recolours only the nodes it changed ----------------------------------------


def test_invalidating_one_branch_leaves_the_other_branch_as_it_was():
    widget = DagWidget(TwoBranches())
    widget.run(background=False)
    assert set(widget.states.values()) == {"ran"}
    widget._act("invalidate_downstream", Branch("north").task_id)
    assert widget.states[Branch("north").task_id] == "invalidated"
    assert widget.states[Leaf("north").task_id] == "invalidated"
    # Untouched: still "ran" (the last run's word for them), not recoloured to "complete".
    assert widget.states[Branch("south").task_id] == "ran"
    assert widget.states[Leaf("south").task_id] == "ran"


# -- 9. strict actions, one run at a time ----------------------------------------------------


@pytest.mark.parametrize(
    "message, reason",
    [
        ({"action": "run", "task_id": ["Branch_north"]}, "action 'run' needs a task id (a string), not list"),
        ({"action": "invalidate", "task_id": {"id": 1}}, "action 'invalidate' needs a task id (a string), not dict"),
        ({"action": "run"}, "action 'run' needs a task id (a string), not NoneType"),
        ({"action": "run_all", "task_id": "x", "force": True}, "unknown key(s) in the action message: force"),
        ({"action": ["run"]}, "unknown action ['run']"),
        ({"action": "stop", "task_id": 3}, "action 'stop' takes no task id"),
        (["run"], "an action message is a dict, not list"),
        ({"action": "run", "task_id": "Branch_nowhere_0000000000"}, "not a task of this graph"),
    ],
)
def test_a_malformed_action_message_is_refused(message, reason):
    widget = DagWidget(TwoBranches())
    sent = []
    widget.send = sent.append
    widget._on_front_end_message(widget, message, [])
    assert len(sent) == 1 and sent[0]["event"] == "refused" and sent[0]["reason"] == reason
    assert sent[0]["task_id"] is None or isinstance(sent[0]["task_id"], str)
    assert widget.states[Leaf("north").task_id] == "not_built"  # nothing ran


def test_two_quick_run_clicks_start_one_run():
    GATE.clear()
    RUNS.clear()
    widget = DagWidget(Gated())
    sent: list = []
    refused = threading.Event()

    def send(msg) -> None:
        sent.append(msg)
        if msg.get("event") == "refused":
            refused.set()

    widget.send = send
    widget._on_front_end_message(widget, {"action": "run_all"}, [])
    widget._on_front_end_message(widget, {"action": "run_all"}, [])
    assert refused.wait(30), sent
    GATE.set()
    _wait_for(widget, "running", lambda w: not w.running and w.states[Gated().task_id] == "ran")
    assert len(RUNS) == 1
    refusals = [m for m in sent if m["event"] != "states"]  # state deltas of the one run go out too
    assert [m["event"] for m in refusals] == ["refused"] and "still going" in refusals[0]["reason"]
    assert not widget._run_lock.locked()  # released when the run ended


# -- 3. one output per magic; 8. static forms tell the final truth -------------------------------


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nbpipe")
    published: list[dict] = []
    original = ip.display_pub.publish

    def publish(data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        published.append({"data": data, "transient": transient or {}, "update": update})

    ip.display_pub.publish = publish
    try:
        yield ip, published
    finally:
        ip.display_pub.publish = original


def test_show_displays_the_widget_once_and_a_later_cell_can_show_it_again(shell):
    ip, published = shell
    ip.user_ns["TwoBranches"] = TwoBranches
    ip.run_cell("%pipeline show TwoBranches", store_history=True)
    widget_outputs = [p for p in published if "application/vnd.jupyter.widget-view+json" in p["data"]]
    assert len(widget_outputs) == 1, published  # display_data only: the cell's value is not shown again
    ip.run_cell("w = %pipeline show TwoBranches", store_history=True)
    published.clear()
    ip.run_cell("w", store_history=True)  # a later cell shows it on purpose
    assert len([p for p in published if "application/vnd.jupyter.widget-view+json" in p["data"]]) == 1


def test_the_static_forms_are_updated_in_place_when_a_run_ends(shell):
    _, published = shell
    widget = DagWidget(Report())
    widget.show()
    first = published[-1]
    assert "not_built" in first["data"]["text/plain"]
    display_id = first["transient"]["display_id"]
    widget.run(background=False)
    update = published[-1]
    assert update["update"] is True and update["transient"]["display_id"] == display_id
    assert "failed" in update["data"]["text/plain"] and "upstream_failed" in update["data"]["text/plain"]
    html = update["data"]["text/html"]
    assert "<svg" in html and "upstream failed" in html and "upstream Fetch(station=north) failed" in html


BOOM_CELL = """%%pipeline
import nbpipe


class Boom(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("boom")

    def run(self):
        raise ValueError("the input drifted beyond the configured tolerance")
"""


def test_a_traceback_of_notebook_code_names_the_cell_and_its_line(shell):
    """A task shipped to a worker process comes back as `<dynamic-code>`; the widget says `Cell In[n], line m`,
    counting the %%pipeline line as the notebook shows it, and drops nbpipe's own frames."""
    ip, _ = shell
    ip.run_cell(BOOM_CELL, store_history=True)
    count = ip.execution_count - 1
    boom = ip.user_ns["Boom"]()
    widget = DagWidget(boom, workers=2, executor="process")
    widget.run(background=False)
    traceback = widget.nodes[boom.task_id]["traceback"]
    assert f"Cell In[{count}], line 10, in run" in traceback, traceback
    assert "<dynamic-code>" not in traceback and "run_one.py" not in traceback
    assert traceback.rstrip().endswith("ValueError: the input drifted beyond the configured tolerance")


def test_live_states_travel_as_deltas_and_the_traits_stay_current():
    """During a run only what changed goes to the page (a custom message); the traits are current in the
    kernel (a page loading the widget later gets them) but are not re-sent whole with each batch."""
    widget = DagWidget(TwoBranches())
    sent: list = []
    widget.send = sent.append
    synced: list = []
    widget.send_state = lambda key=None: synced.append(key)
    widget.run(background=False, show_summary=False)
    deltas = [m for m in sent if m.get("event") == "states"]
    assert deltas, sent
    shown: dict = {}
    for m in deltas:
        assert set(m) == {"event", "states", "details"}
        shown.update(m["states"])
    assert shown.items() <= widget.states.items()  # the page's copy, rebuilt from deltas, agrees
    assert all(key not in ("states", "details") for key in synced), synced


def test_the_synced_state_ends_as_the_run_did_not_as_it_began():
    """A widget state kept from the kernel's messages (nbclient's, stored in an executed notebook and
    rendered by html-manager pages) must end with the final states, although they travelled as deltas."""
    widget = DagWidget(TwoBranches())
    synced: dict = {}
    original = widget.send_state

    def send_state(key=None):
        keys = [key] if isinstance(key, str) else list(key or widget.keys)
        synced.update({k: v for k, v in widget.get_state(keys).items() if k in ("states", "details")})
        original(key)

    widget.send_state = send_state
    widget.run(background=False, show_summary=False)
    assert set(widget.states.values()) == {"ran"}
    assert synced["states"] == widget.states and synced["details"] == {}


def test_the_widget_is_an_anywidget_sharing_one_layout_engine_per_kernel():
    """The view's code travels as `_esm` (no Graphviz in it); Graphviz travels once, in the shared engine."""
    from nbpipe.notebook.frontend import LayoutEngine, layout_engine

    first, second = DagWidget(TwoBranches()), DagWidget(Report())
    state = first.get_state()
    assert state["_model_module"] == "anywidget" and state["_view_module"] == "anywidget"
    assert "export" in state["_esm"] and "createGraph" not in state["_esm"] and len(state["_esm"]) < 100_000
    assert ".nbpipe-dag" in state["_css"]
    assert first.layout_engine is second.layout_engine is layout_engine()
    assert isinstance(first.layout_engine, LayoutEngine)
    assert state["layout_engine"] == f"IPY_MODEL_{first.layout_engine.model_id}"
    engine = first.layout_engine.get_state()
    assert engine["_model_module"] == "@jupyter-widgets/base" and engine["_model_name"] == "WidgetModel"
    assert len(engine["graphviz_source"]) > 500_000 and engine["graphviz_class"].isidentifier()
    first.layout_engine.close()  # e.g. Widget.close_all(): the next widget gets a new engine
    assert DagWidget(TwoBranches()).layout_engine is not first.layout_engine


def test_without_a_built_front_end_the_widget_still_works_in_the_kernel(monkeypatch, tmp_path, caplog):
    """A source tree where `npm run build` has not run: no layout engine, a warning, nothing raises."""
    import nbpipe.notebook.frontend as frontend

    monkeypatch.setattr(frontend, "STATIC", tmp_path)
    monkeypatch.setattr(frontend, "_engine", None)
    with pytest.raises(FileNotFoundError, match="npm run build"):
        frontend.layout_engine()
    with caplog.at_level("WARNING", logger="nbpipe"):
        widget = DagWidget(TwoBranches())
    assert widget.layout_engine is None and "not built" in caplog.text
    assert widget.run(background=False, show_summary=False).exit_code == 0
