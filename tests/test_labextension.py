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
