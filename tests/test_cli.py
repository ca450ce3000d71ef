"""The command line: end to end in subprocesses (outputs, help, one-line errors), and its parsers in-process."""

import os
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PIPELINE = textwrap.dedent('''
    import nbpipe

    class Greet(nbpipe.Task):
        """Write a greeting."""
        name = nbpipe.Parameter(description="who to greet")
        times = nbpipe.IntParameter(default=1, description="how often")
        day = nbpipe.DateParameter(default=None) if False else nbpipe.OptionalParameter(default=None)
        loud = nbpipe.BoolParameter()

        def output(self):
            return nbpipe.LocalTarget(f"greet_{self.name}.txt")

        def run(self):
            text = ("HELLO" if self.loud else "hello") + f" {self.name}\\n"
            with self.output().open("w") as f:
                f.write(text * self.times)

    class Dated(nbpipe.Task):
        when = nbpipe.DateParameter()

        def complete(self):
            return False

        def run(self):
            print("ran for", self.when)

    class Cycle(nbpipe.Task):
        def complete(self):
            return False

        def requires(self):
            return Cycle()
''')


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pipe.py").write_text(PIPELINE)
    return tmp_path


def test_run_builds_the_task_and_prints_the_summary(project, run_cli):
    proc = run_cli("run", "--module", "pipe", "Greet", "--name", "ada", "--times", "2", "--loud")
    assert proc.returncode == 0, proc.stderr
    assert (project / "greet_ada.txt").read_text() == "HELLO ada\nHELLO ada\n"
    assert "===== nbpipe Execution Summary =====" in proc.stdout
    assert "- 1 Greet(name=ada, times=2, day=, loud=True)" in proc.stdout
    again = run_cli("run", "--module", "pipe", "Greet", "--name", "ada", "--times", "2", "--loud")
    assert again.returncode == 0
    assert "* 1 complete ones were encountered:" in again.stdout


def test_options_may_use_equals_and_come_before_the_task(project, run_cli):
    proc = run_cli("run", "--workers", "2", "--module", "pipe", "Dated", "--when=2024-02-29")
    assert proc.returncode == 0, proc.stderr
    assert "[Dated(when=2024-02-29)] ran for 2024-02-29" in proc.stdout


def test_python_dash_m_and_console_script_agree(project):
    import shutil
    import subprocess

    exe = shutil.which("nbpipe")
    assert exe, "the nbpipe console script is installed"
    proc = subprocess.run(
        [exe, "run", "--module", "pipe", "Greet", "--name", "bob"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": str(project)},
    )
    assert proc.returncode == 0, proc.stderr
    assert (project / "greet_bob.txt").exists()


def test_task_help_lists_parameters(project, run_cli):
    proc = run_cli("run", "--module", "pipe", "Greet", "--help")
    assert proc.returncode == 0
    assert "--name VALUE" in proc.stdout and "who to greet" in proc.stdout and "required" in proc.stdout
    assert "--times VALUE" in proc.stdout and "default: 1" in proc.stdout
    assert "--loud [true|false]" in proc.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["Gret", "--name", "x"], "No task named 'Gret' is defined; did you mean 'Greet'?"),
        (["Greet", "--name", "x", "--times", "many"], "Greet --times: 'many' is not valid; expected an integer"),
        (["Dated", "--when", "yesterday"], "Dated --when: 'yesterday' is not valid; expected a date"),
        (["Greet", "--nmae", "x"], "unknown option --nmae; did you mean --name?"),
        (["Greet"], "Greet needs --name"),
        (["Greet", "--name", "x", "--workers", "zero"], "--workers zero: expected a positive integer"),
        (["Greet", "--name", "x", "--executor", "gpu"], "--executor gpu: choose one of"),
        ([], "no task given"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(project, run_cli, args, message):
    proc = run_cli("run", "--module", "pipe", *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unknown_module_is_one_line(project, run_cli):
    proc = run_cli("run", "--module", "nope_mod", "Greet")
    assert proc.returncode == 2
    assert "--module nope_mod: no module named 'nope_mod'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cycle_is_a_scheduling_error_exit_code(project, run_cli):
    proc = run_cli("run", "--module", "pipe", "Cycle")
    assert proc.returncode == 35
    assert "dependency cycle: Cycle() -> Cycle()" in proc.stderr
    assert "* 1 failed scheduling:" in proc.stdout


def test_top_level_usage(run_cli):
    assert run_cli().returncode == 2
    proc = run_cli("frobnicate")
    assert proc.returncode == 2 and "unknown command 'frobnicate'" in proc.stderr
    assert run_cli("--help").returncode == 0


def test_unknown_options_and_values_are_one_line_in_every_task_command(project, run_cli):
    proc = run_cli("run", "--module", "pipe", "Greet", "--name", "x", "--l")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        "nbpipe run: error: ambiguous option --l: could be --local-scheduler, --log-level or --loud; write more of it"
    )
    proc = run_cli("status", "--module", "pipe", "Greet", "--nmae", "x")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "nbpipe status: error: unknown option --nmae; did you mean --name?"
    proc = run_cli("invalidate", "--module", "pipe", "Greet", "--name", "x", "--Greet-times", "many")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "nbpipe invalidate: error: Greet --Greet-times: 'many' is not valid; expected an integer"
    )
    proc = run_cli("stauts")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "nbpipe: error: unknown command 'stauts'; did you mean 'status'?"


# -- in-process: the parsers themselves ------------------------------------------------------------

import nbpipe  # noqa: E402
from nbpipe import retcodes  # noqa: E402
from nbpipe.cli.main import main  # noqa: E402
from nbpipe.cli.subcommands import SUBCOMMANDS  # noqa: E402
from nbpipe.cmdline_parser import parse_run_arguments  # noqa: E402
from nbpipe.exceptions import UsageError  # noqa: E402


class Brew(nbpipe.Task):
    """Brew some cups."""

    cups = nbpipe.IntParameter(description="how many")
    kind = nbpipe.Parameter(default="tea")
    strong = nbpipe.BoolParameter()
    steep_minutes = nbpipe.IntParameter(default=3)

    def output(self):
        return nbpipe.LocalTarget(f"brew_{self.cups}_{self.kind}.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write("brewed")


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_each_subcommand_has_its_own_help_naming_it(name, capsys):
    assert main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: nbpipe {name} ")
    assert "usage: nbpipe run" not in out or name == "run"


def test_status_help_names_status_and_task_help_lists_the_task_parameters(capsys):
    assert main(["status", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: nbpipe status [--module MOD] [--json] [--all] TASK")
    assert main(["status", "Brew", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: nbpipe status [options] Brew --cups VALUE [--kind VALUE]")
    assert "Brew parameters:" in out and "Brew some cups." in out
    assert "--cups VALUE" in out and "how many (an integer; required)" in out
    assert "--strong [true|false]" in out and "--steep-minutes VALUE" in out
    assert "--Brew-cups" not in out  # the global form of TASK's own parameters is not repeated


@pytest.mark.parametrize(
    "argv",
    [
        ["Brew", "--cups=2", "--kind=coffee", "--strong=true"],
        ["Brew", "--cups", "2", "--kind", "coffee", "--strong", "true"],
        ["Brew", "--cups", "2", "--kind", "coffee", "--strong"],
        ["--workers", "1", "Brew", "--strong", "--kind", "coffee", "--cups", "2"],
        ["Brew", "--cu", "2", "--ki", "coffee", "--str"],  # unambiguous abbreviations, as argparse allows
        ["Brew", "--cups", "2", "--Brew-kind", "coffee", "--strong"],  # Luigi's --Family-param form sets [Brew] kind
    ],
)
def test_equals_and_space_forms_and_abbreviations_give_the_same_task(argv):
    plan = parse_run_arguments(argv)
    assert plan.task is Brew(cups=2, kind="coffee", strong=True)


def test_bool_flags_take_an_optional_value():
    assert parse_run_arguments(["Brew", "--cups", "1", "--strong", "false"]).task.strong is False
    assert parse_run_arguments(["Brew", "--cups", "1", "--strong=FALSE"]).task.strong is False
    assert parse_run_arguments(["Brew", "--cups", "1"]).task.strong is False


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["Brew", "--cups", "2", "--st"],
            "ambiguous option --st: could be --steep-minutes or --strong; write more of it",
        ),
        (["Brew", "--cups", "2", "--kidn", "x"], "unknown option --kidn; did you mean --kind?"),
        (["Brwe", "--cups", "2"], "No task named 'Brwe' is defined; did you mean 'Brew'?"),
        (["Brew", "--cups", "two"], "Brew --cups: 'two' is not valid; expected an integer"),
        (["Brew", "--cups", "2", "--strong", "very"], "Brew --strong: 'very' is not valid; expected true or false"),
        (["Brew", "--cups"], "option --cups needs a value"),
        (
            ["Brew", "--cups", "2", "extra"],
            "unexpected argument 'extra'; Brew takes: --cups, --kind, --steep-minutes, --strong",
        ),
        (["--mod", "x", "Brew"], "--module must be written in full"),
        (["Brew", "--cups", "2", "--workers", "0"], "--workers 0: expected a positive integer"),
        (
            ["Brew", "--cups", "2", "--dask-address", "tcp://h:1", "--executor", "thread"],
            "--dask-address goes with --executor dask, not --executor thread",
        ),
    ],
)
def test_parse_mistakes_are_one_line_usage_errors(argv, message):
    with pytest.raises(UsageError) as caught:
        parse_run_arguments(argv)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_the_cli_prints_one_line_and_exits_with_the_usage_error_code(capsys):
    assert main(["run", "Brew", "--cups", "2", "--st"]) == retcodes.USAGE_ERROR
    err = capsys.readouterr().err
    assert err == "nbpipe run: error: ambiguous option --st: could be --steep-minutes or --strong; write more of it\n"


def test_interface_run_parses_with_the_same_parser(monkeypatch):
    import nbpipe.cmdline_parser as cmdline_parser
    from nbpipe.interface import run

    seen = []
    real = cmdline_parser.parse_run_arguments
    monkeypatch.setattr(cmdline_parser, "parse_run_arguments", lambda *a, **k: seen.append(a[0]) or real(*a, **k))
    assert run(["Brew", "--cups=4", "--local-scheduler"]) is True
    assert seen == [["Brew", "--cups=4", "--local-scheduler"]]
    assert open("brew_4_tea.txt").read() == "brewed"
    assert run(["--cups", "5", "--strong"], main_task_cls=Brew, detailed_summary=True).status.name == "SUCCESS"
    with pytest.raises(UsageError, match=r"^unknown option --cusp; did you mean --cups\?$"):
        run(["Brew", "--cusp", "4"])
    with pytest.raises(UsageError, match="notebooks are read by `nbpipe run NOTEBOOK.ipynb TASK`"):
        run(["some.ipynb", "Brew"])


def test_interface_does_not_import_the_cli(project):
    import subprocess
    import sys

    code = (
        "import sys, nbpipe.interface as i; i.run(['--module', 'pipe', 'Greet', '--name', 'zed']); "
        "print(sorted(m for m in sys.modules if m.startswith('nbpipe.cli') or m.startswith('nbpipe.headless')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "PYTHONPATH": os.pathsep.join([str(project), ROOT])},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert (project / "greet_zed.txt").exists()


def test_state_commands_and_invalidate_clear(capsys):
    assert main(["run", "Brew", "--cups", "6"]) == 0
    capsys.readouterr()
    assert main(["invalidate", "Brew", "--cups", "6"]) == 0
    assert capsys.readouterr().out == (
        "marked 1 task(s) to be rerun (outputs kept until they are replaced):\n"
        "  Brew(cups=6, kind=tea, strong=False, steep_minutes=3)\n"
    )
    assert main(["status", "Brew", "--cups=6"]) == 0
    assert capsys.readouterr().out.startswith("invalidated  Brew(cups=6, kind=tea, strong=False, steep_minutes=3)")
    assert main(["invalidate", "--clear"]) == 0
    assert capsys.readouterr().out == "cleared 1 invalidation mark(s)\n"
    assert main(["history", "Brew", "--limit", "1"]) == 0
    assert " done " in capsys.readouterr().out
    assert main(["history", "--limit", "x"]) == retcodes.USAGE_ERROR
    assert capsys.readouterr().err == "nbpipe history: error: --limit x: expected an integer\n"
    assert main(["invalidate"]) == retcodes.USAGE_ERROR
    assert "no task given: nbpipe invalidate" in capsys.readouterr().err
