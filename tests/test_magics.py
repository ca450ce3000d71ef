"""The %%pipeline / %pipeline magics, through IPython's own shell, and the widget's Python side."""

import logging
import os

import pytest

import nbpipe

PIPELINE_CELL = """%%pipeline
import nbpipe

class Greet(nbpipe.Task):
    name = nbpipe.Parameter()

    def output(self):
        return nbpipe.LocalTarget(f"greet_{self.name}.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write(f"hello {self.name}")

class Both(nbpipe.WrapperTask):
    def requires(self):
        return [Greet("ada"), Greet("bob")]
"""


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nbpipe")
    yield ip
    ip.user_ns.pop("Greet", None)


def test_pipeline_cell_defines_tasks_and_rerunning_replaces_them(shell, capsys):
    shell.run_cell(PIPELINE_CELL)
    out = capsys.readouterr().out
    assert "pipeline: 2 task class(es) defined: Greet(name), Both()" in out
    first = shell.user_ns["Greet"]
    shell.run_cell(PIPELINE_CELL)  # as re-running the notebook cell
    assert "task class(es) defined" in capsys.readouterr().out
    assert shell.user_ns["Greet"] is not first
    assert nbpipe.task_register.get_task_cls("Greet") is shell.user_ns["Greet"]


def test_run_returns_the_result_and_shows_the_summary(shell, capsys):
    shell.run_cell(PIPELINE_CELL)
    shell.user_ns["who"] = "cy"
    shell.run_cell("result = %pipeline run Greet --name {who}")
    result = shell.user_ns["result"]
    assert result.status.name == "SUCCESS"
    assert open("greet_cy.txt").read() == "hello cy"
    assert "===== nbpipe Execution Summary =====" in capsys.readouterr().out
    shell.run_cell("again = %pipeline run Both --workers 2")
    assert shell.user_ns["again"].summary.to_dict()["counts"]["completed"] == 3


@pytest.mark.parametrize(
    "line,message",
    [
        (
            "%pipeline run Gret --name x",
            "No task named 'Gret' is defined; did you mean 'Greet'",
        ),  # other tests' classes may follow
        ("%pipeline run Greet", "Greet needs --name"),
        ("%pipeline run Greet --name x --workers none", "--workers none: expected a positive integer"),
        ("%pipeline frobnicate", "unknown command 'frobnicate'"),
        ("%pipeline", "%pipeline needs a command"),
    ],
)
def test_mistakes_fail_the_cell_with_one_line_without_traceback(shell, capsys, line, message):
    """A mistake makes the cell an error (Run All stops, nbpipe execute sees it), shown as one line."""
    from nbpipe.exceptions import PipelineUsageError

    shell.run_cell(PIPELINE_CELL)
    capsys.readouterr()
    result = shell.run_cell(line)
    captured = capsys.readouterr()
    shown = captured.out + captured.err
    assert not result.success and isinstance(result.error_in_exec, PipelineUsageError)
    assert message in shown and "Traceback" not in shown
    assert len(shown.strip().splitlines()) == 1
    assert shown.startswith("pipeline: error: ")


def test_a_failing_pipeline_cell_fails_the_cell_after_its_traceback(shell, capsys):
    from nbpipe.exceptions import PipelineMagicError

    result = shell.run_cell("%%pipeline\nimport nbpipe\nx = 1 / 0\n")
    shown = capsys.readouterr()
    assert isinstance(result.error_in_exec, PipelineMagicError)
    assert "ZeroDivisionError" in shown.out + shown.err
    assert "pipeline: error: this %%pipeline cell raised ZeroDivisionError at line 3" in shown.out + shown.err


def test_family_values_given_to_a_magic_apply_to_that_call_only(shell, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shell.run_cell(
        "%%pipeline\nimport nbpipe\n\nclass Sized(nbpipe.Task):\n    size = nbpipe.IntParameter(default=1)\n"
        "    def complete(self):\n        return True\n"
    )
    shell.run_cell("%pipeline status Greet --name ada --Sized-size 9")
    assert shell.user_ns["Sized"]().size == 1
    result = shell.run_cell("%pipeline status Greet --name ada --Sized-size nine")
    assert not result.success
    assert "--Sized-size: 'nine' is not valid; expected an integer" in "".join(capsys.readouterr())


def test_invalidate_status_and_history(shell, capsys):
    shell.run_cell(PIPELINE_CELL)
    shell.run_cell("%pipeline run Both")
    capsys.readouterr()
    shell.run_cell("%pipeline invalidate Greet --name ada --downstream --within Both")
    assert "marked 2 task(s) to be rerun: Greet(name=ada), Both()" in capsys.readouterr().out
    shell.run_cell("entries = %pipeline status Both")
    states = {str(e.task): e.state for e in shell.user_ns["entries"]}
    assert states == {"Both()": "invalidated", "Greet(name=ada)": "invalidated", "Greet(name=bob)": "complete"}
    shell.run_cell("rows = %pipeline history Greet")
    assert [r["status"] for r in shell.user_ns["rows"]] == ["done", "done"]


def test_invalidate_status_and_history_are_the_cli_commands(shell, capsys, monkeypatch):
    """The magics parse with the CLI's parsers and call the CLI's command functions: same data, same text."""
    from nbpipe.cli import actions
    from nbpipe.cli.main import main

    called = []
    for name in ("invalidate", "status", "history"):
        real = getattr(actions, name)
        monkeypatch.setattr(
            actions, name, lambda *a, _real=real, _name=name, **k: called.append(_name) or _real(*a, **k)
        )
    shell.run_cell(PIPELINE_CELL)
    shell.run_cell("%pipeline run Both")
    capsys.readouterr()
    shell.run_cell("marked = %pipeline invalidate Greet --name=ada --downstream --within Both")
    assert capsys.readouterr().out == "marked 2 task(s) to be rerun: Greet(name=ada), Both()\n"
    assert main(["invalidate", "Greet", "--name", "ada", "--downstream", "--within", "Both"]) == 0
    cli_out = capsys.readouterr().out
    assert cli_out.splitlines()[1:] == [f"  {t}" for t in shell.user_ns["marked"]]
    for magic_line, argv in [
        ("%pipeline status Both", ["status", "Both"]),
        ("%pipeline status Both --json", ["status", "Both", "--json"]),
        ("%pipeline history Greet --limit 5", ["history", "Greet", "--limit", "5"]),
    ]:
        shell.run_cell(f"data = {magic_line}")
        magic_out = capsys.readouterr().out
        assert main(argv) == 0
        assert capsys.readouterr().out == magic_out, magic_line
    assert [r["status"] for r in shell.user_ns["data"]] == ["done", "done"]
    assert called == ["invalidate", "invalidate", "status", "status", "status", "status", "history", "history"]


def test_magic_help_and_mistakes_come_from_the_cli_parsers(shell, capsys):
    shell.run_cell(PIPELINE_CELL)
    capsys.readouterr()
    shell.run_cell("%pipeline status --help")
    assert capsys.readouterr().out.startswith("usage: %pipeline status [--module MOD] [--json] [--all] TASK")
    shell.run_cell("%pipeline run Greet --help")
    out = capsys.readouterr().out
    assert out.startswith("usage: %pipeline run [options] Greet --name VALUE") and "Greet parameters:" in out
    for line, message in [
        ("%pipeline history --limit many", "pipeline: error: --limit many: expected an integer"),
        ("%pipeline status Greet --nmae x", "pipeline: error: unknown option --nmae; did you mean --name?"),
        ("%pipeline invalidate", "pipeline: error: no task given: %pipeline invalidate"),
    ]:
        result = shell.run_cell(line)
        captured = capsys.readouterr()
        shown = captured.out + captured.err
        assert not result.success
        assert shown.startswith(message) and len(shown.strip().splitlines()) == 1, (line, shown)


# -- the widget, without a browser -----------------------------------------------------------------


class Leaf(nbpipe.Task):
    i = nbpipe.IntParameter()

    def output(self):
        return nbpipe.LocalTarget(f"leaves/{self.i}")

    def run(self):
        with self.output().open("w") as f:
            f.write(str(self.i))


class Fan(nbpipe.WrapperTask):
    n = nbpipe.IntParameter(default=300)

    def requires(self):
        return [Leaf(i) for i in range(self.n)]


def test_widget_sends_the_graph_and_batches_live_updates():
    import time

    from nbpipe.notebook.widget import DagWidget

    widget = DagWidget(Fan(), max_updates_per_second=10)
    assert len(widget.nodes) == 301 and len(widget.edges) == 300
    assert f"id={Leaf(7).task_id}" in widget.dot and widget.states[Leaf(7).task_id] == "not_built"
    started = time.monotonic()
    result = widget.run(background=False)
    elapsed = time.monotonic() - started
    assert result.status.name == "SUCCESS"
    # ~1 200 state changes reach the browser in at most 10 batches a second (+ the final one).
    assert widget.pushes <= int(elapsed * 10) + 2
    assert widget.states[Leaf(7).task_id] == "ran"
    assert "ran successfully" in widget.summary_html


def test_widget_refuses_actions_for_tasks_outside_its_graph(caplog):
    from nbpipe.notebook.widget import DagWidget

    widget = DagWidget(Leaf(1))
    sent = []
    widget.send = sent.append
    with caplog.at_level(logging.WARNING, logger="nbpipe"):
        widget._on_front_end_message(widget, {"action": "run", "task_id": "Leaf_2_deadbeef00"}, [])
        widget._on_front_end_message(widget, {"action": "rm -rf", "task_id": Leaf(1).task_id}, [])
    assert sent == [
        {"event": "refused", "task_id": "Leaf_2_deadbeef00", "reason": "not a task of this graph"},
        {"event": "refused", "task_id": Leaf(1).task_id, "reason": "unknown action 'rm -rf'"},
    ]
    assert "refused" in caplog.text
    assert not os.path.exists("leaves/2")


def test_widget_without_front_end_shows_text_and_html():
    from nbpipe.notebook.widget import DagWidget

    bundle = DagWidget(Leaf(3))._repr_mimebundle_()
    assert "not_built  Leaf(i=3)" in bundle["text/plain"]
    assert "<table" in bundle["text/html"] and "Leaf(i=3)" in bundle["text/html"]


def test_core_import_pulls_in_nothing_from_jupyter():
    import subprocess
    import sys

    code = (
        "import sys, nbpipe, nbpipe.driver.run, nbpipe.state.staleness; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('IPython', 'ipywidgets', 'graphviz', 'nbclient', 'ipykernel', 'traitlets')]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_cycle_is_one_clear_line_and_show_works_without_a_front_end(shell, capfd):
    shell.run_cell("""%%pipeline
import nbpipe

class Ouro(nbpipe.Task):
    def complete(self):
        return False

    def requires(self):
        return Ouro()
""")
    capfd.readouterr()
    shell.run_cell("r = %pipeline run Ouro")
    out, err = capfd.readouterr()
    assert err.count("dependency cycle: Ouro() -> Ouro()") == 1 and "Traceback" not in err
    assert "* 1 failed scheduling:" in out
    assert shell.user_ns["r"].exit_code == 35
    shell.run_cell(PIPELINE_CELL)
    capfd.readouterr()
    shell.run_cell("%pipeline show Both")  # terminal IPython: the static text view, nothing raises
    out, err = capfd.readouterr()
    assert "not_built  Greet(name=ada)" in out and "Traceback" not in err


def test_show_keeps_every_run_option_for_the_view_s_run_buttons(shell):
    shell.run_cell(PIPELINE_CELL)
    shell.run_cell("w = %pipeline show Both --workers 3 --executor dask --dask-address tcp://127.0.0.1:9 --rerun-stale")
    widget = shell.user_ns["w"]
    assert (widget.workers, widget.executor, widget.dask_address, widget.rerun) == (
        3,
        "dask",
        "tcp://127.0.0.1:9",
        "stale",
    )


def test_widget_shows_run_anyway_tasks_as_done_after_they_ran(tmp_path):
    from nbpipe.contrib.simulate import RunAnywayTarget
    from nbpipe.notebook.widget import DagWidget

    class Every(nbpipe.Task):
        def output(self):
            return RunAnywayTarget(self)

        def run(self):
            self.output().done()

    widget = DagWidget(Every(), executor="inline")
    assert widget.states[Every().task_id] == "not_built"
    result = widget.run(background=False)
    assert result.exit_code == 0
    # Outside a run a RunAnywayTarget never exists; the task still ran.
    assert widget.states[Every().task_id] == "ran"
