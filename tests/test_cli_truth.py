"""The `nbpipe` command tells the truth: one folder rule, big-graph status, quiet broken pipes, honest messages.

Real `python -m nbpipe` processes over real files and state directories.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent

PIPELINE = """%%pipeline
import nbpipe

class Make(nbpipe.Task):
    n = nbpipe.IntParameter(default=1)

    def output(self):
        return nbpipe.LocalTarget(f"made/{self.n}.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write(str(self.n))
"""

BIG = """
import nbpipe

N = 10_000


class Node(nbpipe.Task):
    idx = nbpipe.IntParameter()

    def requires(self):
        return [Node(idx=j) for j in (self.idx // 2, self.idx - 1, self.idx - 7) if 0 <= j < self.idx]

    def output(self):
        return nbpipe.LocalTarget(f"out/{self.idx}.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write(str(self.idx))


class All(nbpipe.WrapperTask):
    def requires(self):
        return [Node(idx=i) for i in range(N - 50, N)]
"""


def cli(*args, cwd, env=None, stdout=subprocess.PIPE):
    """``python -m nbpipe ARGS`` in ``cwd`` with this checkout first on the path and no state-dir override."""
    full = {k: v for k, v in os.environ.items() if k != "NBPIPE_STATE_DIR"}
    full["PYTHONPATH"] = os.pathsep.join([str(cwd), str(REPO), full.get("PYTHONPATH", "")])
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "nbpipe", *args],
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        env=full,
    )


def write_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext nbpipe"), nbformat.v4.new_code_cell(PIPELINE)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


# -- one folder rule ------------------------------------------------------------------------------


def test_run_status_and_history_of_a_notebook_work_in_its_folder(tmp_path):
    folder = tmp_path / "project" / "notebooks"
    folder.mkdir(parents=True)
    write_notebook(folder / "pipe.ipynb")
    elsewhere = tmp_path / "shell"
    elsewhere.mkdir()
    proc = cli("run", "../project/notebooks/pipe.ipynb", "Make", "--n", "4", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "made" / "4.txt").read_text() == "4"
    assert (folder / ".nbpipe").is_dir()
    assert list(elsewhere.iterdir()) == [], "run left files in the shell's folder"
    status = cli("status", "../project/notebooks/pipe.ipynb", "Make", "--n", "4", "--all", cwd=elsewhere)
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("complete  Make(n=4)"), status.stdout
    history = cli("history", "../project/notebooks/pipe.ipynb", "Make", cwd=elsewhere)
    assert history.returncode == 0, history.stderr
    assert "  done  " in history.stdout and "Make_4_" in history.stdout
    # From the shell's folder, without the notebook, nothing is recorded there: a usage error, said so.
    history = cli("history", "Make", cwd=elsewhere)
    assert history.returncode == 2
    assert "no attempts of a task id or family 'Make' are recorded in" in history.stderr


# -- status of a big graph ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_graph(tmp_path_factory):
    """A built 10 000-task graph whose Node code then changed, with one output removed."""
    folder = tmp_path_factory.mktemp("big")
    (folder / "biggraph.py").write_text(BIG)
    proc = cli("run", "--module", "biggraph", "All", "--log-level", "ERROR", cwd=folder)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (folder / "biggraph.py").write_text(BIG.replace("f.write(str(self.idx))", "f.write(str(self.idx) + '\\n')"))
    (folder / "out" / "5.txt").unlink()
    return folder


def test_status_of_10000_tasks_is_a_short_table_then_what_needs_attention(big_graph):
    proc = cli("status", "--module", "biggraph", "All", cwd=big_graph)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) < 40, proc.stdout
    assert max(len(line) for line in lines) < 400
    assert lines[0] == "10 001 task(s) in the graph"
    assert lines[1].split() == ["family", "not", "built", "stale"]
    assert lines[2].split() == ["Node", "1", "9", "999"]
    assert "stale      Node(idx=0)  (code of Node.run changed)" in lines  # the cause comes first
    assert "not_built  Node(idx=5)" in lines  # every state gets its share of lines
    assert any("3 upstream tasks are stale: Node(idx=" in line for line in lines)
    assert "more (9 986 stale); the same command with --all lists every task" in proc.stdout


def test_status_all_lists_every_task_with_short_reasons(big_graph):
    proc = cli("status", "--module", "biggraph", "All", "--all", cwd=big_graph)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 10_001 + 1  # every task, and the "would run" line
    assert lines[0] == (
        "stale      All()  (50 upstream tasks are stale: Node(idx=9950), Node(idx=9951), Node(idx=9952) and 47 more)"
    )
    assert max(len(line) for line in lines) < 400


def test_a_reader_that_goes_away_ends_the_command_quietly(big_graph):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte: every write fails, as after `| head -1`
    try:
        proc = cli("status", "--module", "biggraph", "All", "--all", cwd=big_graph, stdout=write)
    finally:
        os.close(write)
    assert proc.returncode == 141
    assert proc.stderr == ""


# -- honest messages ------------------------------------------------------------------------------

MODULE = """
import nbpipe


class Flaky(nbpipe.Task):
    n = nbpipe.IntParameter(default=1)
    retry_count = 2

    def output(self):
        return nbpipe.LocalTarget(f"flaky_{self.n}.txt")

    def run(self):
        raise RuntimeError("always fails")


class Pinned(nbpipe.Task):
    version = VERSION

    def output(self):
        return nbpipe.LocalTarget("pinned.txt")

    def run(self):
        with self.output().open("w") as f:
            f.write("x")


class Top(nbpipe.WrapperTask):
    def requires(self):
        return [Pinned()]
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "mod.py").write_text(MODULE.replace("VERSION", "1"))
    return tmp_path


def test_base_classes_are_not_runnable(project):
    for family in ("Task", "WrapperTask", "ExternalTask"):
        proc = cli("run", "--module", "mod", family, cwd=project)
        assert proc.returncode == 2, (family, proc.stdout)
        assert f"{family} is one of nbpipe's base classes, not a task to run" in proc.stderr


def test_disabled_task_has_its_own_summary_line_and_enable_says_the_truth(project):
    proc = cli("enable", "--module", "mod", "Flaky", cwd=project)
    assert proc.returncode == 0
    assert proc.stdout.strip() == "Flaky(n=1) is not disabled (it has no attempts recorded here); nothing to re-enable"
    first = cli("run", "--module", "mod", "Flaky", "--log-level", "ERROR", cwd=project)
    assert first.returncode == 30
    assert "* 1 were disabled after repeated failures:\n    - Flaky(n=1): failed 2 times" in first.stdout
    assert "re-enable with `nbpipe enable Flaky --n 1`" in first.stdout
    second = cli("run", "--module", "mod", "Flaky", "--log-level", "ERROR", cwd=project)
    assert second.returncode == 30
    assert "    - Flaky(n=1): was disabled at " in second.stdout
    enabled = cli("enable", "--module", "mod", "Flaky", "--n", "1", cwd=project)
    assert enabled.stdout.strip() == "re-enabled Flaky(n=1); its earlier failures no longer count"
    again = cli("enable", "--module", "mod", "Flaky", cwd=project)
    assert "is not disabled (it was re-enabled after it was last disabled)" in again.stdout


def test_a_run_without_disabled_tasks_has_no_disabled_line(project):
    proc = cli("run", "--module", "mod", "Top", cwd=project)
    assert proc.returncode == 0
    assert "disabled" not in proc.stdout


def test_history_of_an_unknown_name_is_a_usage_error(project):
    proc = cli("history", "Nope", cwd=project)
    assert proc.returncode == 2
    assert "no attempts of a task id or family 'Nope' are recorded in" in proc.stderr


def test_invalidate_downstream_without_within_says_why(project):
    proc = cli("invalidate", "--module", "mod", "Pinned", "--downstream", cwd=project)
    assert proc.returncode == 2
    assert "--downstream needs --within ROOT: Pinned()'s dependents are found in ROOT's graph" in proc.stderr


def test_a_version_pin_change_reads_version_changed_from_1_to_2(project):
    assert cli("run", "--module", "mod", "Top", cwd=project).returncode == 0
    (project / "mod.py").write_text(MODULE.replace("VERSION", "2"))
    proc = cli("status", "--module", "mod", "Top", "--all", cwd=project)
    assert "stale  Pinned()  (version changed from 1 to 2)" in proc.stdout, proc.stdout
    unpinned = textwrap.dedent(MODULE).replace("    version = VERSION\n", "")
    (project / "mod.py").write_text(unpinned)
    assert cli("run", "--module", "mod", "Top", "--rerun-stale", cwd=project).returncode == 0
    (project / "mod.py").write_text(MODULE.replace("VERSION", '"2"'))
    proc = cli("status", "--module", "mod", "Top", "--all", cwd=project)
    assert "Pinned()  (version changed to 2)" in proc.stdout, proc.stdout
