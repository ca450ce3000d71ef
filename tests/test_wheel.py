"""A built wheel carries the DAG widget's front end and installs where there is no Node.js.

The view is an anywidget ES module built by npm into ``nbpipe/notebook/static/``
(package data); the wheel must hold it, and installing the wheel must need
nothing but Python. Building the wheel reuses that build when it is there
(``skip-if-exists`` of the build hook); a source tree without it is built with
npm first, as ``pip install .`` does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds a wheel and a virtual environment

REPO = Path(__file__).resolve().parent.parent
STATIC = REPO / "nbpipe" / "notebook" / "static"
BUILT = ("dag_view.js", "dag_view.css", "graphviz.json")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return _build_wheel(REPO, tmp_path_factory.mktemp("wheel"), timeout=900)


def test_the_wheel_holds_the_bundled_view_and_no_jupyterlab_extension(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for name in BUILT:
            assert f"nbpipe/notebook/static/{name}" in names, sorted(n for n in names if "static" in n)
            assert zf.read(f"nbpipe/notebook/static/{name}") == (STATIC / name).read_bytes()
        esm = zf.read("nbpipe/notebook/static/dag_view.js").decode()
        graphviz = json.loads(zf.read("nbpipe/notebook/static/graphviz.json"))
    assert "export{" in esm.replace(" ", "") and len(esm) < 100_000
    assert len(graphviz["source"]) > 500_000 and graphviz["graphviz_class"].isidentifier()
    # anywidget's own extension serves every front end: nbpipe ships none.
    assert not [n for n in names if "labextensions" in n]


def test_the_wheel_installs_and_shows_the_widget_without_node(wheel, tmp_path):
    venv = tmp_path / "venv"
    # The dependencies come from this environment (no network needed); nbpipe itself only from the wheel.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = str(venv / "bin")  # nothing else: no node, no npm
    assert shutil.which("node", path=env["PATH"]) is None and shutil.which("npm", path=env["PATH"]) is None
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    check = """
import json, sys
import nbpipe
from nbpipe.notebook.frontend import STATIC
from nbpipe.notebook.widget import DagWidget

class Only(nbpipe.Task):
    def complete(self):
        return False

w = DagWidget(Only())
state = w.get_state()
engine = w.layout_engine.get_state()
print(json.dumps({"file": nbpipe.__file__, "static": str(STATIC), "esm": len(state["_esm"]),
                  "module": state["_model_module"], "graphviz": len(engine["graphviz_source"])}))
"""
    proc = subprocess.run([python, "-c", check], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["file"].startswith(str(venv)), seen  # the wheel's nbpipe, not this source tree
    assert seen["static"].startswith(str(venv))
    assert seen["esm"] == len((STATIC / "dag_view.js").read_text()) and seen["module"] == "anywidget"
    assert seen["graphviz"] > 500_000


def test_a_source_tree_without_the_build_is_built_with_npm_into_the_wheel(tmp_path):
    """`pip wheel` / `pip install .` of a fresh checkout: the build hook runs npm (install, then the esbuild
    bundle) and the wheel gets its output."""
    if shutil.which("npm") is None:
        pytest.skip("npm is needed to build from source")
    src = tmp_path / "src"
    _fresh_checkout(src)
    built = _build_wheel(src, tmp_path / "wheel", timeout=1200)
    with zipfile.ZipFile(built) as zf:
        names = set(zf.namelist())
    assert {f"nbpipe/notebook/static/{name}" for name in BUILT} <= names


def _fresh_checkout(dest: Path) -> None:
    """The files git tracks, written anew in path order as a clone writes them (fresh modification times:
    the build hook decides from them whether the front end needs building)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("needs a git checkout of the project")
    for name in sorted(n for n in listed.stdout.decode().split("\0") if n):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / name, dest / name)


def _build_wheel(source: Path, out: Path, timeout: float) -> Path:
    """``pip wheel`` of the project at ``source`` into ``out``; the wheel's path."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", str(source), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (built,) = out.glob("nbpipe-*.whl")
    return built
