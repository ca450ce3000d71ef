"""The README's code runs as written: every Python block and every shell command, taken from the README itself.

Each fenced block of README.md is either run here or listed in
:data:`NOT_RUN` with the reason; a new block that is neither fails the
first test, so the README cannot drift from the code.  The blocks run in a
temporary copy of ``example_notebooks/`` with the README's pipeline saved as
``my_pipeline.py``; notebook blocks run in a real kernel through
``nbpipe execute``.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)

#: (section, first line of the block) -> why the tests do not run it.
NOT_RUN = {
    ("Set-up: two commands", "bash .ci/run"): "it is the test command itself",
    ("Running on a cluster", "dask scheduler                                   # prints tcp://10.0.0.5:8786"): (
        "starts a Dask cluster (tests/test_dask.py covers the executor)"
    ),
    ("Running on a cluster", "def output(self):"): "a fragment of a task class (tests/test_dask.py runs one)",
}


def blocks() -> list[tuple[str, str, str]]:
    """(section, language, code) of every fenced block of the README, in order."""
    text = README.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        headings = re.findall(r"^## (.+)$", text[: match.start()], re.MULTILINE)
        found.append((headings[-1] if headings else "", match.group(1), match.group(2)))
    return found


def section(name: str, language: str) -> list[str]:
    return [code for sec, lang, code in blocks() if sec == name and lang == language]


def commands(code: str) -> list[str]:
    """The shell commands of a block, comments removed."""
    return [line.split("  #")[0].strip() for line in code.splitlines() if line.strip() and not line.startswith("#")]


def first_line(code: str) -> str:
    return code.strip().splitlines()[0].strip()


RUN_HERE = {
    # section -> languages whose blocks this file runs
    "Set-up: two commands": {"sh", "text"},
    "A pipeline": {"python"},
    "Command line": {"sh"},
    "In a notebook": {"python"},
    "Headless: the same notebook in CI": {"sh"},
    "State: history, staleness, invalidation": {"python", "sh"},
    "Configuration": {"toml"},
}


def test_every_block_is_run_or_says_why_not():
    for sec, lang, code in blocks():
        if lang in RUN_HERE.get(sec, ()):
            continue
        assert (sec, first_line(code)) in NOT_RUN, f"README block in {sec!r} ({lang}) is neither run nor listed"


def test_readme_names_the_node_version_labextension_requires():
    import json

    engines = json.loads((REPO / "labextension" / "package.json").read_text())["engines"]["node"]
    wanted = re.search(r"(\d+\.\d+)", engines).group(1)
    assert f"Node.js {wanted} or newer" in README.read_text()


@pytest.fixture
def workdir(tmp_path):
    shutil.copytree(REPO / "example_notebooks", tmp_path / "example_notebooks", ignore=_only_committed)
    [pipeline] = section("A pipeline", "python")
    (tmp_path / "my_pipeline.py").write_text(pipeline)
    return tmp_path


def _only_committed(folder, names):
    return [n for n in names if n.endswith(".executed.ipynb") or n in (".nbpipe", "__pycache__") or "." not in n]


def shell(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a README command: ``nbpipe`` and ``python3`` are this checkout's, as after the set-up's install."""
    env = {k: v for k, v in os.environ.items() if k != "NBPIPE_STATE_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), str(REPO), env.get("PYTHONPATH", "")])
    words = command.split()
    if words[0] == "nbpipe":
        command = f"{sys.executable} -m nbpipe " + command[len("nbpipe ") :]
    elif words[:2] in (["python", "-m"], ["python3", "-m"]):
        command = sys.executable + command[len(words[0]) :]
    return subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_set_up_runs_the_quickstart_and_prints_what_the_readme_shows(workdir):
    [setup] = [code for code in section("Set-up: two commands", "sh") if "pip install" in code]
    install, run = setup.strip().split(" && ")
    assert install == "python3 -m pip install ."  # not run here: the tests run on this checkout
    proc = shell(run, workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [shown] = section("Set-up: two commands", "text")
    *summaries, verdict = shown.strip().splitlines()
    assert "\n".join(summaries).strip() in proc.stdout  # the last two summaries, verbatim
    assert re.search(re.escape(verdict).replace(r"2\.3", r"[0-9.]+"), proc.stdout), proc.stdout[-500:]
    # Where the README says its outputs land.
    assert (workdir / "example_notebooks" / "quickstart" / "report_3.txt").exists()
    assert (workdir / "example_notebooks" / "quickstart.executed.ipynb").exists()
    assert (workdir / "example_notebooks" / ".nbpipe").is_dir()
    assert not (workdir / ".nbpipe").exists()
    # "Add -p strict True and the last run fails on purpose" — even after this default run.
    proc = shell(run + " -p strict True", workdir)
    assert proc.returncode == 30, proc.stdout
    assert "Validate(strict=True) failed: ValueError" in proc.stdout


@pytest.mark.slow
def test_the_pipeline_block_runs_as_a_script(workdir):
    proc = subprocess.run(
        [sys.executable, "my_pipeline.py"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert (workdir / "data" / "clean" / "2024-01-01.csv").read_text() == "X,Y\n1,2\n"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Command line", "Headless: the same notebook in CI"])
def test_shell_commands_exit_0(workdir, name):
    for block in section(name, "sh"):
        for command in commands(block):
            proc = shell(command, workdir)
            assert proc.returncode == 0, f"{command}\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"


@pytest.mark.slow
def test_state_section_python_and_shell_run_as_written(workdir):
    [python_block] = section("State: history, staleness, invalidation", "python")
    proc = subprocess.run(
        [sys.executable, "-c", python_block],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), str(REPO)])},
    )
    assert proc.returncode == 0, proc.stderr
    [shell_block] = section("State: history, staleness, invalidation", "sh")
    assert shell("nbpipe run example_notebooks/quickstart.ipynb Report", workdir).returncode == 0
    for command in commands(shell_block):
        proc = shell(command, workdir)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
    # The notebook commands worked in the notebook's folder, whatever the shell's.
    assert not (workdir / "quickstart").exists() and (workdir / "example_notebooks" / ".nbpipe").is_dir()


@pytest.mark.slow
def test_notebook_blocks_run_in_a_real_kernel(workdir):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in section("In a notebook", "python")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, workdir / "readme.ipynb")
    proc = shell("python -m nbpipe execute readme.ipynb", workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (workdir / "greet_ada.txt").read_text() == "hello ada"


def test_configuration_block_is_valid_toml_with_declared_options():
    from nbpipe.options import declared

    [block] = section("Configuration", "toml")
    table = tomllib.loads(block)
    for name in ("scheduler", "worker", "core"):
        for option in table[name]:
            declared(name, option)  # raises for an option nbpipe does not read
