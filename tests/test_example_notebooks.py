"""The example notebooks, executed headless as CI runs them: exit codes, the files they write, the summaries.

Each test copies a notebook from ``example_notebooks/`` into its own temporary
directory and runs ``python -m nbpipe execute NOTEBOOK --junit junit.xml``
there (a fresh kernel, the notebook's outputs under ``<tmp>/<notebook name>/``
and the state store in ``<tmp>/.nbpipe``).
"""

import csv
import datetime
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

import nbpipe

NOTEBOOKS = Path(__file__).resolve().parent.parent / "example_notebooks"
TESTED = {"quickstart", "etl_by_date", "hourly_aggregates", "data_science"}
WITH_PARAMETERS = {"quickstart", "etl_by_date", "hourly_aggregates"}
SUMMARY = re.compile(
    r"===== nbpipe Execution Summary =====\n\n(.*?)\n\n===== nbpipe Execution Summary =====", re.DOTALL
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- helpers --------------------------------------------------------------------------------------


def execute(tmp_path, run_cli, name, *args):
    """Copy NAME.ipynb into tmp_path and execute it there; returns the finished process."""
    if not (tmp_path / f"{name}.ipynb").exists():
        shutil.copy(NOTEBOOKS / f"{name}.ipynb", tmp_path)
    return run_cli("execute", f"{name}.ipynb", "--junit", "junit.xml", *args)


def summaries(stdout: str) -> list[str]:
    """The execution summaries printed by ``nbpipe execute``, one per ``%pipeline run``, in order."""
    return SUMMARY.findall(stdout)


def cell_output(tmp_path, name: str, marker: str) -> str:
    """The text (streams and plain-text results) of the executed code cell whose source contains ``marker``."""
    executed = nbformat.read(tmp_path / f"{name}.executed.ipynb", as_version=4)
    cells = [c for c in executed.cells if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1, f"{len(cells)} code cells of {name} contain {marker!r}"
    parts = []
    for output in cells[0].outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "\n".join(parts)


def junit_cases(tmp_path) -> tuple[ET.Element, list[ET.Element]]:
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    return suite, list(suite.iter("testcase"))


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# -- the committed files --------------------------------------------------------------------------


def test_committed_notebooks_are_clean_and_valid():
    # Executed copies (`nbpipe execute`'s default output, ignored by git) are not committed notebooks.
    found = {p.stem for p in NOTEBOOKS.glob("*.ipynb") if not p.name.endswith(".executed.ipynb")}
    assert found == TESTED, "every example notebook needs its test here (and every tested one must exist)"
    for name in sorted(found):
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "python3", name
        assert "widgets" not in nb.metadata, f"{name}: saved widget state"
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{name} cell {index} has stored outputs"
                assert cell.execution_count is None, f"{name} cell {index} has an execution count"
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), f"{name}: no title"
        prose = [c for c in nb.cells if c.cell_type == "markdown"]
        assert len(prose) >= 5, f"{name}: {len(prose)} markdown cells; explain each step"
        assert any(c.source.strip() == "%load_ext nbpipe" for c in nb.cells), name
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == (1 if name in WITH_PARAMETERS else 0), f"{name}: {len(tagged)} parameters cells"


# -- quickstart -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_quickstart_runs_reruns_nothing_and_reruns_only_the_invalidated_tasks(tmp_path, run_cli):
    proc = execute(tmp_path, run_cli, "quickstart")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, again, after_invalidate, validate = summaries(proc.stdout)
    assert "Scheduled 7 tasks of which:\n* 7 ran successfully:" in first
    assert "Did not run any tasks" in again
    assert (
        "* 4 complete ones were encountered:\n    - 2 Clean(station=1,2)\n    - 2 Download(station=1,2)\n"
        "* 3 ran successfully:\n    - 1 Clean(station=3)\n    - 1 Download(station=3)\n"
        "    - 1 Report(stations=3)\n"
    ) in after_invalidate
    assert "* 1 ran successfully:\n    - 1 Validate(strict=False)" in validate
    assert "quickstart.ipynb: OK — 4 pipeline run(s), 11 task(s) ran, 0 failed" in proc.stdout

    out = tmp_path / "quickstart"
    report = (out / "report_3.txt").read_text().splitlines()
    assert report == [
        "quickstart/clean_1.json: mean 12.38",
        "quickstart/clean_2.json: mean 13.38",
        "quickstart/clean_3.json: mean 14.38",
    ]
    assert (out / "validated.txt").read_text() == "ok\n"
    # Between the invalidation and the rerun, the marked tasks are listed as such and their files remain.
    status = cell_output(tmp_path, "quickstart", "%pipeline status Report")
    assert re.search(r"^invalidated +Download\(station=3\) +\(invalidated at ", status, re.MULTILINE)
    assert re.search(r"^complete +Download\(station=2\)$", status, re.MULTILINE)
    assert "raw_3.json still exists: True" in status
    suite, _ = junit_cases(tmp_path)
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("17", "0", "0")


@pytest.mark.slow
def test_quickstart_with_strict_exits_30_naming_the_failed_task(tmp_path, run_cli):
    proc = execute(tmp_path, run_cli, "quickstart", "-p", "strict", "True")
    assert proc.returncode == 30, proc.stdout + proc.stderr
    assert "* 1 failed:\n    - 1 Validate(strict=True)" in summaries(proc.stdout)[-1]
    suite, cases = junit_cases(tmp_path)
    assert suite.get("failures") == "1"
    [failed] = [c for c in cases if c.find("failure") is not None]
    assert failed.get("name") == "Validate(strict=True)"
    assert failed.find("failure").get("message") == "ValueError: station 2 has fewer than 25 readings"
    assert (tmp_path / "quickstart" / "report_3.txt").exists()
    assert not (tmp_path / "quickstart" / "validated.txt").exists()


@pytest.mark.slow
def test_quickstart_strict_fails_even_after_a_default_run(tmp_path, run_cli):
    """The failing variant writes its own output, so a passing run's files never make it complete."""
    assert execute(tmp_path, run_cli, "quickstart").returncode == 0
    proc = execute(tmp_path, run_cli, "quickstart", "-p", "strict", "True")
    assert proc.returncode == 30, proc.stdout + proc.stderr
    assert (
        "nbpipe execute: Validate(strict=True) failed: ValueError: station 2 has fewer than 25 readings" in proc.stdout
    )
    assert (tmp_path / "quickstart" / "validated.txt").exists()  # the default run's, untouched
    assert not (tmp_path / "quickstart" / "validated_strict.txt").exists()


# -- etl_by_date ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_etl_by_date_fans_out_over_31_days_on_process_workers_with_a_retry(tmp_path, run_cli):
    proc = execute(tmp_path, run_cli, "etl_by_date")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [summary] = summaries(proc.stdout)
    assert "Scheduled 63 tasks of which:\n* 63 ran successfully:" in summary
    assert "    - 31 DailyTotals(day=2026-01-01) ...\n    - 31 DownloadOrders(day=2026-01-01) ..." in summary
    assert summary.endswith("because there were failed tasks but they all succeeded in a retry")

    out = tmp_path / "etl_by_date"
    rows = read_csv(out / "sales_2026-01-01_2026-01-31.csv")
    days = [str(datetime.date(2026, 1, 1) + datetime.timedelta(days=n)) for n in range(31)]
    assert [r["day"] for r in rows] == days
    for row in rows:  # each row is its day's partition
        daily = json.loads((out / "daily" / f"{row['day']}.json").read_text())
        raw = read_csv(out / "raw" / f"{row['day']}.csv")
        assert int(row["orders"]) == daily["orders"] == len(raw) >= 40
        assert float(row["revenue"]) == pytest.approx(sum(float(o["amount"]) for o in raw), abs=0.01)
    # The flaky download failed once and succeeded on its retry; the history keeps both attempts.
    assert (out / "flaky" / "2026-01-10.tried").exists()
    assert cell_output(tmp_path, "etl_by_date", "nbpipe.history(").splitlines() == [
        "attempt 1: failed   ConnectionError: the shop API timed out for 2026-01-10 (simulated)",
        "attempt 2: done",
    ]
    workers = {a["worker"] for a in nbpipe.history("DownloadOrders", limit=100)}
    assert workers and all(w.startswith("process-") for w in workers), workers
    total = sum(float(r["revenue"]) for r in rows)
    assert f"31 days, {sum(int(r['orders']) for r in rows)} orders, revenue {total:.2f}" in cell_output(
        tmp_path, "etl_by_date", "best day"
    )
    suite, _ = junit_cases(tmp_path)
    assert (suite.get("tests"), suite.get("failures")) == ("63", "0")


@pytest.mark.slow
def test_etl_by_date_takes_its_dates_from_the_command_line(tmp_path, run_cli):
    proc = execute(
        tmp_path, run_cli, "etl_by_date", "-p", "start", "2026-02-01", "-p", "end", "2026-02-07", "-p", "flaky_day", ""
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [summary] = summaries(proc.stdout)
    assert "Scheduled 15 tasks of which:\n* 15 ran successfully:" in summary
    assert summary.endswith("because there were no failed tasks or missing dependencies")
    rows = read_csv(tmp_path / "etl_by_date" / "sales_2026-02-01_2026-02-07.csv")
    assert [r["day"] for r in rows] == [f"2026-02-0{d}" for d in range(1, 8)]
    assert not (tmp_path / "etl_by_date" / "flaky").exists()


@pytest.mark.slow
def test_etl_by_date_with_a_failing_partition_exits_30_and_keeps_the_other_days(tmp_path, run_cli):
    proc = execute(tmp_path, run_cli, "etl_by_date", "-p", "fail_day", "2026-01-15")
    assert proc.returncode == 30, proc.stdout + proc.stderr
    [summary] = summaries(proc.stdout)
    assert "* 1 failed:\n    - 1 DailyTotals(day=2026-01-15)\n" in summary
    assert "* 1 had failed dependencies:\n        - 1 SalesReport(start=2026-01-01, end=2026-01-31)" in summary
    assert "etl_by_date.ipynb: FAILED (exit code 30)" in proc.stdout

    suite, cases = junit_cases(tmp_path)
    assert (suite.get("tests"), suite.get("failures")) == ("63", "1")
    [failed] = [c for c in cases if c.find("failure") is not None]
    assert failed.get("name") == "DailyTotals(day=2026-01-15)"
    assert failed.find("failure").get("message") == (
        "ValueError: 2026-01-15: order 20260115-999 has a non-positive amount (-19.99)"
    )
    [report_case] = [c for c in cases if c.get("name").startswith("SalesReport(")]
    assert report_case.find("skipped").get("message") == "upstream failure"

    out = tmp_path / "etl_by_date"
    done = sorted(p.stem for p in (out / "daily").glob("*.json"))
    assert len(done) == 30 and "2026-01-15" not in done
    assert (out / "raw" / "2026-01-15.csv").exists()  # its download succeeded; only the validation failed
    assert not list(out.glob("sales_*.csv"))
    final = cell_output(tmp_path, "etl_by_date", "best day")
    assert "no report: DailyTotals(day=2026-01-15) failed" in final
    assert "30 of 31 days are done" in final


@pytest.mark.slow
def test_etl_by_date_failing_day_fails_even_after_a_default_run(tmp_path, run_cli):
    assert execute(tmp_path, run_cli, "etl_by_date", "-p", "end", "2026-01-20").returncode == 0
    proc = execute(tmp_path, run_cli, "etl_by_date", "-p", "end", "2026-01-20", "-p", "fail_day", "2026-01-15")
    assert proc.returncode == 30, proc.stdout + proc.stderr
    assert "nbpipe execute: DailyTotals(day=2026-01-15) failed: ValueError: 2026-01-15: order" in proc.stdout
    assert (tmp_path / "etl_by_date" / "sales_2026-01-01_2026-01-20.csv").exists()  # the good report stays
    assert not (tmp_path / "etl_by_date" / "sales_2026-01-01_2026-01-20_fail-2026-01-15.csv").exists()


# -- hourly_aggregates ----------------------------------------------------------------------------


def _expected_totals(events: list[dict], now: datetime.datetime) -> dict[str, int]:
    spans = {
        "hour": datetime.timedelta(hours=1),
        "day": datetime.timedelta(days=1),
        "week": datetime.timedelta(weeks=1),
    }
    return {
        window: sum(int(e["views"]) for e in events if now - span < datetime.datetime.fromisoformat(e["time"]) <= now)
        for window, span in spans.items()
    }


@pytest.mark.slow
def test_hourly_aggregates_recompute_on_every_execution_across_worker_processes(tmp_path, run_cli):
    out = tmp_path / "hourly_aggregates"
    ten, eleven = datetime.datetime(2026, 1, 15, 10), datetime.datetime(2026, 1, 15, 11)

    proc = execute(tmp_path, run_cli, "hourly_aggregates")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, later, naive_first, naive_later = summaries(proc.stdout)
    assert "* 5 ran successfully:\n    - 1 Dashboard(now=2026-01-15T1000)\n    - 1 EventLog()\n" in first
    # The next run: the LocalTarget task is complete and skipped; the RunAnywayTarget tasks run again.
    assert (
        "* 1 complete ones were encountered:\n    - 1 EventLog()\n* 4 ran successfully:\n"
        "    - 1 Dashboard(now=2026-01-15T1100)\n    - 3 WindowTotal(window=day) ..."
    ) in later
    assert "* 1 ran successfully:\n    - 1 NaiveLastHour(now=2026-01-15T1000)" in naive_first
    assert "Did not run any tasks" in naive_later

    events = read_csv(out / "events.csv")
    assert len(events) == 31 * 24 * 12
    expected = [
        {"now": t.isoformat(timespec="minutes"), **{k: str(v) for k, v in _expected_totals(events, t).items()}}
        for t in (ten, eleven)
    ]
    assert read_csv(out / "history.csv") == expected
    assert json.loads((out / "dashboard.json").read_text()) == {
        "now": "2026-01-15T11:00",
        **_expected_totals(events, eleven),
    }
    # The plain LocalTarget version still holds the first run's number.
    assert json.loads((out / "naive_last_hour.json").read_text()) == {
        "now": "2026-01-15T10:00",
        "views": _expected_totals(events, ten)["hour"],
    }
    # The aggregates ran in worker processes, and Dashboard (downstream) still ran in the same run.
    workers = {a["worker"] for a in nbpipe.history("WindowTotal")}
    assert workers and all(w.startswith("process-") for w in workers), workers

    # The cron's next execution of the notebook: everything recomputed again but the event log.
    events_written = (out / "events.csv").stat().st_mtime_ns
    proc = execute(tmp_path, run_cli, "hourly_aggregates")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, later, naive_first, naive_later = summaries(proc.stdout)
    for summary in (first, later):
        assert "* 1 complete ones were encountered:\n    - 1 EventLog()\n* 4 ran successfully:" in summary
    assert "Did not run any tasks" in naive_first and "Did not run any tasks" in naive_later
    assert (out / "events.csv").stat().st_mtime_ns == events_written
    assert read_csv(out / "history.csv") == expected * 2
    assert len(nbpipe.history("Dashboard")) == 4
    printed = cell_output(tmp_path, "hourly_aggregates", "moments = ").splitlines()
    assert [line[:16] for line in printed] == ["2026-01-15T10:00", "2026-01-15T11:00"] * 2


# -- data_science ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_data_science_reruns_exactly_the_stale_tasks_after_a_code_change(tmp_path, run_cli):
    proc = execute(tmp_path, run_cli, "data_science")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first, rerun = summaries(proc.stdout)
    assert "Scheduled 5 tasks of which:\n* 5 ran successfully:" in first
    assert (
        "* 1 complete ones were encountered:\n    - 1 LoadData()\n* 4 ran successfully:\n"
        "    - 1 Evaluate()\n    - 1 Features()\n    - 1 Report()\n    - 1 Train()\n"
    ) in rerun

    status = cell_output(tmp_path, "data_science", "%pipeline status Report")
    assert re.search(r"^stale +Features\(\) +\(code of Features\.run changed\)$", status, re.MULTILINE)
    assert re.search(r"^stale +Train\(\) +\(upstream Features\(\) is stale\)$", status, re.MULTILINE)
    assert re.search(r"^stale +Report\(\) +\(upstream Evaluate\(\) is stale\)$", status, re.MULTILINE)
    assert re.search(r"^complete +LoadData\(\)$", status, re.MULTILINE)

    out = tmp_path / "data_science"
    assert len(read_csv(out / "listings.csv")) == 400
    assert len(read_csv(out / "predictions.csv")) == 100
    assert read_csv(out / "features.csv")[0].keys() == {"area", "area²", "rooms", "age", "price"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["features"] == ["area", "area²", "rooms", "age"] and metrics["test_rows"] == 100
    assert json.loads((out / "model.json").read_text())["terms"] == ["intercept", "area", "area²", "rooms", "age"]
    assert (out / "report.png").read_bytes().startswith(PNG_MAGIC)
    assert "| 100 |" in (out / "report.md").read_text()
    # The edit improved the model: the final cell prints both fits.
    final = cell_output(tmp_path, "data_science", "display(Image(")
    before = re.search(r"before: area, rooms, age: RMSE (\d+), R² ([\d.]+)", final)
    after = re.search(r"after:  area, area², rooms, age: RMSE (\d+), R² ([\d.]+)", final)
    assert before and after, final
    assert int(after[1]) < int(before[1]) and float(after[2]) > float(before[2])
    assert int(after[1]) == round(metrics["rmse"])
    # The plot is shown inline twice: after the first fit, and at the end.
    executed = nbformat.read(tmp_path / "data_science.executed.ipynb", as_version=4)
    images = [
        i
        for i, c in enumerate(executed.cells)
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(images) == 2 and images[-1] == len(executed.cells) - 1, images
