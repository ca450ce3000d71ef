"""Luigi's own test suite, run with ``luigi`` aliased to nbpipe: the tier-A floor holds.

Runs ``tests/luigi_suite/run_luigi_suite.py`` (which fetches Luigi 3.8.1's
sdist from PyPI, hash-checked, and runs tier A against Luigi and nbpipe) and
asserts nbpipe passes at least ``TIER_A_FLOOR`` of the 625 tier-A tests.  The
floor is the count reached so far (above the target, 594 = 95%); see
``docs/LUIGI_COMPAT.md`` for every test still failing and why.  Skips when PyPI cannot be reached.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HARNESS = Path(__file__).parent / "luigi_suite" / "run_luigi_suite.py"
TIER_A_TOTAL = 625
TIER_A_TARGET = 594  # 95%
TIER_A_FLOOR = 600  # reached so far (96.0%); raise it as the gap closes


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


def test_tier_a_floor(tmp_path):
    cache = Path(os.environ.get("NBPIPE_TEST_CACHE", Path.home() / ".cache" / "nbpipe-tests"))
    if not (cache / "luigi-3.8.1.tar.gz").exists() and not _pypi_reachable():
        pytest.skip("PyPI is unreachable and Luigi's sdist is not cached: cannot fetch Luigi's test suite")
    out = tmp_path / "counts.json"
    proc = subprocess.run(
        [sys.executable, str(HARNESS), "--tier", "A", "--no-doc", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode == 2:
        pytest.skip(f"cannot fetch Luigi's sdist: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    counts = json.loads(out.read_text())["A"]
    total = sum(c["total"] for c in counts["luigi"].values())
    assert total == TIER_A_TOTAL, f"tier A collected {total} tests under Luigi, expected {TIER_A_TOTAL}"
    passed = sum(c["passed"] for c in counts["nbpipe"].values())
    assert passed >= TIER_A_FLOOR, f"nbpipe passes {passed}/{total} of tier A, below the floor {TIER_A_FLOOR}"
