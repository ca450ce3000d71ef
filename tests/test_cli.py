"""The command line, end to end in subprocesses: outputs, help, and one-line errors."""

import textwrap

import pytest

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
    proc = subprocess.run([exe, "run", "--module", "pipe", "Greet", "--name", "bob"], cwd=project,
                          capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(project)})
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
