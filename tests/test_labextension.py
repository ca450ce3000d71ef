"""The front end's own unit tests (layout, state colours, filters, the view on a DOM), run with npm, and its bundle."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here starts processes, kernels or a browser

LABEXTENSION = Path(__file__).resolve().parent.parent / "labextension"


def _npm() -> str:
    npm = shutil.which("npm")
    assert npm, "npm is needed to build and test the front end"
    if not (LABEXTENSION / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=LABEXTENSION, check=True, capture_output=True)
    return npm


def test_front_end_type_checks():
    """Every module of src/ (not only those the unit tests import) compiles without errors."""
    _npm()
    tsc = LABEXTENSION / "node_modules" / ".bin" / "tsc"
    proc = subprocess.run(
        [str(tsc), "-p", "tsconfig.json", "--noEmit"], cwd=LABEXTENSION, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


def test_front_end_unit_tests_pass():
    npm = _npm()
    proc = subprocess.run([npm, "test"], cwd=LABEXTENSION, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "# fail 0" in proc.stdout


def test_the_view_bundle_carries_the_worker_code_but_not_graphviz():
    """The view is one ES module (anywidget's `_esm`, sent with every widget), so it must stay small:
    it holds the code that wraps Graphviz for the worker's Blob (no worker file, so no server route in
    any front end) but not Graphviz, which graphviz.json carries, sent once per kernel by the shared
    layout engine."""
    static = LABEXTENSION.parent / "nbpipe" / "notebook" / "static"
    if not (static / "dag_view.js").exists():
        pytest.skip("the front end is not built (npm run build)")
    bundle = (static / "dag_view.js").read_text()
    assert "nbpipe-layout" in bundle and "(function(){" in bundle
    assert "export{" in bundle.replace(" ", "")  # an ES module with a default export, as anywidget loads it
    graphviz = json.loads((static / "graphviz.json").read_text())
    marker = 'createGraph(o="G"'
    assert marker in graphviz["source"] and marker not in bundle
    assert len(bundle) < 100_000 < 500_000 < len(graphviz["source"])
    assert not [p.name for p in static.iterdir() if "worker" in p.name.lower()]
