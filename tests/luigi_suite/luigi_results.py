"""Pytest plugin: writes every test's outcome, and every collection error, to a JSON file.

The file is named by ``$NBPIPE_LUIGI_SUITE_RESULTS``.  One record per test
node id: ``passed``, ``failed``, ``error`` (setup or teardown failed) or
``skipped``, with the last line of the failure.  A test file that cannot be
imported gives a collection error, recorded under the file's path, so that
its tests count as failed against the baseline's list of tests.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

_results: dict[str, dict[str, str]] = {}
_collection_errors: dict[str, str] = {}


def _last_line(report: Any) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).strip().splitlines()[-1][:300] if str(crash.message).strip() else ""
    text = str(report.longrepr or "").strip()
    return text.splitlines()[-1][:300] if text else ""


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _collection_errors[report.nodeid] = _last_line(report)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    record = _results.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
    if report.failed:
        # A failure in the call phase is a failure; in setup or teardown, an error.
        if record["outcome"] != "failed":
            record["outcome"] = "failed" if report.when == "call" else "error"
            record["message"] = _last_line(report)
    elif report.skipped and record["outcome"] == "passed":
        record["outcome"] = "skipped"
        record["message"] = _last_line(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("NBPIPE_LUIGI_SUITE_RESULTS")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump({"tests": _results, "collection_errors": _collection_errors}, out, indent=1, sort_keys=True)
