"""The front end's own unit tests (layout, state colours, filters, the view on a DOM), run with npm."""

import shutil
import subprocess
from pathlib import Path

LABEXTENSION = Path(__file__).resolve().parent.parent / "labextension"


def test_front_end_unit_tests_pass():
    npm = shutil.which("npm")
    assert npm, "npm is needed to build and test the front end"
    if not (LABEXTENSION / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=LABEXTENSION, check=True, capture_output=True)
    proc = subprocess.run([npm, "test"], cwd=LABEXTENSION, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "# fail 0" in proc.stdout
