"""`nbpipe execute` never says OK when a pipeline could not run, and says why on the console.

Real kernels (nbclient) in real `python -m nbpipe` processes.  Each notebook
that must be refused before any cell runs starts with a cell writing a
marker file, so "nothing ran" is measured, not assumed.
"""

import xml.etree.ElementTree as ET

import pytest
from test_headless import notebook  # the headless tests' one notebook writer

pytestmark = pytest.mark.slow

MARKER = "open('first-cell-ran', 'w').close()"

PIPELINE = """%%pipeline
import nbpipe

class Leaf(nbpipe.Task):
    size = nbpipe.IntParameter(default=1)

    def output(self):
        return nbpipe.LocalTarget(f"leaf_{self.size}.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write(str(self.size))

class Top(nbpipe.Task):
    n = nbpipe.IntParameter(default=1)
    fail = nbpipe.BoolParameter()

    def requires(self):
        return Leaf()

    def output(self):
        return nbpipe.LocalTarget(f"top_{self.n}.txt")

    def run(self):
        if self.fail:
            raise RuntimeError(f"Top {self.n} refuses to run")
        with self.output().open("w") as f:
            f.write(str(self.n))
"""


def junit(path):
    return ET.parse(path).getroot()


# -- a good notebook, and each way a pipeline cannot run --------------------------------------------


def test_a_good_notebook_exits_0(tmp_path, run_cli):
    nb = notebook(
        tmp_path / "good.ipynb", "%load_ext nbpipe", PIPELINE, "%pipeline run Top --n {n}", parameters="n = 1"
    )
    proc = run_cli("execute", str(nb), "-p", "n", "4", "--junit", str(tmp_path / "j.xml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "good.ipynb: OK — 1 pipeline run(s), 2 task(s) ran, 0 failed" in proc.stdout
    assert junit(tmp_path / "j.xml").get("tests") == "2"


@pytest.mark.parametrize(
    "body,ename,line",
    [
        ("import nbpipe\nx = undefined_name\n", "NameError: name 'undefined_name' is not defined", 3),
        ("import no_such_module\n", "ModuleNotFoundError: No module named 'no_such_module'", 2),
    ],
)
def test_an_error_in_a_pipeline_cell_is_a_cell_error_with_its_line(tmp_path, run_cli, body, ename, line):
    nb = notebook(tmp_path / "cell.ipynb", "%load_ext nbpipe", "%%pipeline\n" + body, "%pipeline run A")
    proc = run_cli("execute", str(nb), "--junit", str(tmp_path / "j.xml"))
    assert proc.returncode == 50, proc.stdout + proc.stderr
    assert f"nbpipe execute: cell 1, line {line} (" in proc.stdout
    assert f"raised {ename}" in proc.stdout
    assert "OK" not in proc.stdout.splitlines()[-1]
    suite = junit(tmp_path / "j.xml")
    assert (suite.get("tests"), suite.get("errors")) == ("1", "1")
    assert suite.find("testcase/error").get("type") == ename.split(":")[0]


@pytest.mark.parametrize(
    "line,message",
    [
        ("%pipeline run Tpo", "No task named 'Tpo' is defined; did you mean 'Top'?"),
        ("%pipeline run Top --n four", "Top --n: 'four' is not valid; expected an integer"),
        ("%pipeline run Top --Leaf-size four", "--Leaf-size: 'four' is not valid; expected an integer"),
        ("%pipeline run Top --nn 3", "unknown option --nn"),
        ("%pipeline run Task", "Task is one of nbpipe's base classes, not a task to run"),
        ("%pipeline status Tpo", "No task named 'Tpo' is defined"),
    ],
)
def test_a_magic_usage_mistake_exits_2_and_says_why_on_the_console(tmp_path, run_cli, line, message):
    nb = notebook(tmp_path / "typo.ipynb", "%load_ext nbpipe", PIPELINE, line, MARKER)
    proc = run_cli("execute", str(nb))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"nbpipe execute: cell 2, line 1 (`{line}`) raised PipelineUsageError: " in proc.stdout
    assert message in proc.stdout
    assert not (tmp_path / "first-cell-ran").exists(), "the notebook went on after the mistake"


def test_a_bad_family_value_is_refused_even_when_the_root_is_complete(tmp_path, run_cli):
    nb = notebook(
        tmp_path / "fam.ipynb",
        "%load_ext nbpipe",
        PIPELINE,
        "%pipeline run Top",
        "%pipeline run Top --Leaf-size four",
    )
    proc = run_cli("execute", str(nb))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cell 3, line 1 (`%pipeline run Top --Leaf-size four`) raised PipelineUsageError" in proc.stdout


def test_a_family_value_given_to_one_magic_applies_to_that_call_only(tmp_path, run_cli):
    nb = notebook(
        tmp_path / "scope.ipynb",
        "%load_ext nbpipe",
        PIPELINE,
        "%pipeline run Top --n 2 --Leaf-size 9",
        "assert Leaf().size == 1, Leaf()",
        "%pipeline run Top --n 3",
    )
    proc = run_cli("execute", str(nb))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "leaf_9.txt").read_text() == "9"  # the first call used it
    assert (tmp_path / "leaf_1.txt").read_text() == "1"  # the later one did not


def test_a_failed_task_shows_its_error_and_traceback_end_on_the_console(tmp_path, run_cli):
    nb = notebook(tmp_path / "fail.ipynb", "%load_ext nbpipe", PIPELINE, "%pipeline run Top --n 5 --fail")
    proc = run_cli("execute", str(nb), "--junit", str(tmp_path / "j.xml"))
    assert proc.returncode == 30, proc.stdout + proc.stderr
    assert "nbpipe execute: Top(n=5, fail=True) failed: RuntimeError: Top 5 refuses to run" in proc.stdout
    assert 'raise RuntimeError(f"Top {self.n} refuses to run")' in proc.stdout  # the traceback's end
    suite = junit(tmp_path / "j.xml")
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")  # Leaf ran, Top failed


# -- parameters and arguments: refused before the first cell runs ---------------------------------


def test_an_unknown_p_name_is_refused_listing_the_names_the_cell_assigns(tmp_path, run_cli):
    nb = notebook(tmp_path / "p.ipynb", MARKER, parameters="n = 1\nlabel: str = 'x'\na, b = 1, 2")
    proc = run_cli("execute", str(nb), "-p", "m", "5")
    assert proc.returncode == 2
    assert "-p m: the parameters cell (cell 0) of" in proc.stderr
    assert "does not assign 'm'; it assigns: n, label, a, b" in proc.stderr
    assert not (tmp_path / "first-cell-ran").exists()
    proc = run_cli("execute", str(nb), "-p", "b", "5")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_p_without_a_parameters_cell_is_refused(tmp_path, run_cli):
    nb = notebook(tmp_path / "nop.ipynb", MARKER, "n = 1")
    proc = run_cli("execute", str(nb), "-p", "n", "5")
    assert proc.returncode == 2
    assert "has no cell tagged 'parameters'" in proc.stderr
    assert not (tmp_path / "first-cell-ran").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--output", "no/such/folder/out.ipynb"], "folder no/such/folder does not exist"),
        (["--output", "args.ipynb"], "that is the input notebook"),
        (["--junit", "missing/j.xml"], "--junit missing/j.xml: folder missing does not exist"),
        (["--kernel", "no-such-kernel"], "--kernel no-such-kernel: no such kernel"),
        (["--cwd", "nowhere"], "--cwd nowhere: not a directory"),
    ],
)
def test_arguments_are_checked_before_the_first_cell_runs(tmp_path, run_cli, args, message):
    notebook(tmp_path / "args.ipynb", MARKER)
    proc = run_cli("execute", "args.ipynb", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "first-cell-ran").exists()


# -- early exits, timeouts -------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["sys.exit(0)", "sys.exit()", "raise SystemExit(None)"])
def test_a_clean_sys_exit_ends_the_notebook_early_with_success(tmp_path, run_cli, call):
    nb = notebook(tmp_path / "early.ipynb", "import sys", call, MARKER)
    proc = run_cli("execute", str(nb))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cell 1 called sys.exit(0), so the later cells did not run" in proc.stdout
    assert not (tmp_path / "first-cell-ran").exists()


def test_another_exit_code_is_a_cell_error(tmp_path, run_cli):
    nb = notebook(tmp_path / "exit3.ipynb", "import sys\nsys.exit(3)")
    proc = run_cli("execute", str(nb))
    assert proc.returncode == 50
    assert "nbpipe execute: cell 0 raised SystemExit: 3" in proc.stdout


def test_a_timeout_shows_no_kernel_shutdown_noise(tmp_path, run_cli):
    nb = notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(60)")
    proc = run_cli("execute", str(nb), "--timeout", "1", "--junit", str(tmp_path / "j.xml"))
    assert proc.returncode == 60
    assert "cell 0 (`import time`) ran longer than --timeout 1 s" in proc.stdout
    assert junit(tmp_path / "j.xml").get("errors") == "1"
    assert "ZMQError" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


DIES = """%%pipeline
import os, signal
import nbpipe

class Dies(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("dies.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write("half")
            {how}
"""


@pytest.mark.parametrize(
    "how, said",
    [("os._exit(3)", "(exit code 3)"), ("os.kill(os.getpid(), signal.SIGKILL)", "(killed by SIGKILL: out of memory?)")],
)
def test_a_kernel_that_dies_mid_run_is_named_with_its_cell_and_how_it_ended(tmp_path, run_cli, how, said):
    nb = notebook(tmp_path / "dies.ipynb", "%load_ext nbpipe", DIES.format(how=how), "%pipeline run Dies", MARKER)
    proc = run_cli("execute", str(nb), "--junit", str(tmp_path / "j.xml"))
    assert proc.returncode == 60, proc.stdout + proc.stderr
    assert f"the kernel died {said} while running cell 2 (`%pipeline run Dies`)" in proc.stdout
    report = junit(tmp_path / "j.xml")
    assert report.get("errors") == "1"  # a CI reading only the report must not see a pass
    assert f"the kernel died {said}" in report.find("testcase/error").get("message")
    assert not (tmp_path / "dies.txt").exists()  # the half-written output was never committed
    assert not (tmp_path / "first-cell-ran").exists()  # and no later cell ran


def test_real_kernel_stderr_still_shows(tmp_path, run_cli):
    nb = notebook(tmp_path / "fd2.ipynb", "import os\nos.write(2, b'written to the kernel fd 2\\n')")
    proc = run_cli("execute", str(nb))
    assert proc.returncode == 0
    assert "written to the kernel fd 2" in proc.stderr
