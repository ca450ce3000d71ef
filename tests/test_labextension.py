"""The front end's own unit tests (layout, state colours, filters, the view on a DOM), run with npm."""

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


def test_the_layout_worker_travels_inside_the_bundle():
    """The worker is started from a Blob URL of code inlined in the extension (no worker file, so no
    server route in JupyterLab, Notebook 7 or Voila): the built static files hold no separate worker
    script; a chunk carries the code that wraps Graphviz for the Blob, and one the Graphviz bundle as a
    string (loaded only when a DAG widget lays out)."""
    static = LABEXTENSION.parent / "nbpipe" / "labextension" / "static"
    if not static.exists():
        pytest.skip("the extension is not built (npm run build)")
    assert not [p.name for p in static.iterdir() if "worker" in p.name.lower()]
    chunks = [p.read_text(errors="replace") for p in static.glob("*.js")]
    assert any("nbpipe-layout" in c and "(function(){" in c for c in chunks)
    assert any("GRAPHVIZ_SOURCE:" in c and 'createGraph(o="G"' in c for c in chunks)
