"""Why a Luigi test still fails under nbpipe: deliberate differences and known gaps, by test id or prefix.

``reason_for`` looks for the longest key that prefixes the test's node id;
a failure with no entry is reported as a gap with its last line.
"""

from __future__ import annotations

OUT_OF_SCOPE = (
    "Hadoop, Hive, Pig, Spark, BigQuery, GCS, Redshift, ECS, Batch, Kubernetes and the other cloud-service "
    "`luigi.contrib` modules; Luigi's central scheduler server (`luigid`, `luigi.server`, `luigi.rpc` talks "
    "to nobody: `RemoteScheduler()` raises `RPCError`); sending e-mail (`luigi.notifications` reads the "
    "`[email]` settings and logs that nothing was sent); Luigi's process lock (`--no-lock`, `lock_*`)."
)

REDEFINITION = (
    "deliberate: redefining a task family replaces the registered class (re-running a notebook cell), "
    "where Luigi makes the name ambiguous"
)
RETCODES = "deliberate: nbpipe's default exit codes are non-zero for failed/missing/not run (Luigi's are 0)"
BOOL_VALUE = (
    "deliberate: a BoolParameter flag also takes true/false (`--flag false`), where Luigi's argparse rejects it"
)
NO_CENTRAL_SCHEDULER = (
    "gap, likely: the test drives Luigi's scheduler protocol (mocks `Scheduler.add_task`/`get_work`, or reads the "
    "scheduler's per-worker state); nbpipe's Worker runs its tasks through nbpipe's own engine, which never calls "
    "those methods"
)

TITLE = "deliberate: the summary's title line says \"nbpipe Execution Summary\" (the body is Luigi's, word for word)"
MOCK_FS_PROCESSES = (
    "gap: MockTarget data lives in the process that wrote it; with workers > 1 tasks run in worker processes, "
    "so the driver does not see it"
)
LUIGID = "out of scope: Luigi's central scheduler daemon (luigid, luigi.server) has no nbpipe equivalent"
ENGINE_ONLY = "gap: needs a change in nbpipe/engine (owned elsewhere); see the closing note of issue 15"

REASONS: dict[str, str] = {
    "test/task_register_test.py": REDEFINITION,
    "test/task_test.py::ExternalizeTaskTest::test_externalize_doesnt_affect_the_registry": REDEFINITION,
    "test/parameter_test.py::ParameterTest::test_bool_parsing": BOOL_VALUE,
    "test/execution_summary_test.py": NO_CENTRAL_SCHEDULER,
    "test/execution_summary_test.py::ExecutionSummaryTest::test_with_dates": TITLE,
    "test/execution_summary_test.py::ExecutionSummaryTest::test_with_datehours": TITLE,
    "test/execution_summary_test.py::ExecutionSummaryTest::test_with_months": TITLE,
    "test/execution_summary_test.py::ExecutionSummaryTest::test_with_two_tasks": TITLE,
    "test/execution_summary_test.py::ExecutionSummaryTest::test_with_dict_argument": TITLE,
    "test/execution_summary_test.py::ExecutionSummaryTest::test_with_dict_dependency": TITLE,
    "test/retcodes_test.py": NO_CENTRAL_SCHEDULER,
    "test/retcodes_test.py::RetcodesTest::test_missing_data": RETCODES,
    "test/retcodes_test.py::RetcodesTest::test_task_failed": RETCODES,
    "test/retcodes_test.py::RetcodesTest::test_failure_in_complete": RETCODES,
    "test/retcodes_test.py::RetcodesTest::test_failure_in_requires": RETCODES,
    "test/retcodes_test.py::RetcodesTest::test_validate_dependency_error": RETCODES,
    "test/retcodes_test.py::RetcodesTest::test_when_locked": "out of scope: Luigi's process lock (luigi.lock)",
    "test/cmdline_test.py::CmdlineTest::test_luigid": LUIGID,
    "test/wrap_test.py::WrapperWithMultipleWorkersTest": MOCK_FS_PROCESSES,
    "test/simulate_test.py": (
        "deliberate: RunAnywayTarget's markers are scoped to the run in the state store (correct across worker "
        "processes), not a multiprocessing counter `unique` reset by hand"
    ),
    "test/event_callbacks_test.py::TestEventCallbacks::test_broken_dependency": ENGINE_ONLY
    + " (BROKEN_TASK handlers get RuntimeError(reason), not the exception raised)",
    "test/event_callbacks_test.py::TestEventCallbacks::test_processing_time": (
        "gap: the test patches luigi.worker.time; nbpipe times tasks in its executors"
    ),
    "test/parameter_test.py::TestParamWithDefaultFromConfig::testTimeDelta8601": (
        "gap, mock-bound: ISO 8601 durations with months are refused, as in Luigi, but the test patches the name "
        "`luigi.parameter.ParameterException` that Luigi's TimeDeltaParameter raises through; nbpipe raises from "
        "nbpipe.params.time, so the mock is never called"
    ),
    "test/parameter_test.py::ParameterTest::test_duplicated_param": (
        "gap: needs nbpipe/task.py (owned elsewhere) to raise DuplicateParameterException for a value given "
        "positionally and by name (it raises UnknownParameterException)"
    ),
    "test/task_test.py::TaskTest::test_unconsumed_params": (
        "gap: needs nbpipe/task.py (owned elsewhere): instantiating a task does not warn about options of its "
        "configuration section that no parameter consumes (UnconsumedParameterWarning)"
    ),
    "test/cmdline_test.py::CmdlineTest::test_cmdline_ambiguous_class": REDEFINITION,
    "test/cmdline_test.py::InvokeOverCmdlineTest::test_bin_luigi_help_": (
        "deliberate: `TASK --help` lists TASK's parameters as --name only (not again as --TASK-name), and the "
        "command's --help lists nbpipe's run options (24 lines, Luigi's test allows 15)"
    ),
    "test/config_toml_test.py::TomlConfigParserTest::test_get": (
        "deliberate: get() of a missing option without a default returns None (nbpipe's configuration object is "
        "one for INI and TOML), where Luigi's TOML parser raises KeyError"
    ),
}


def reason_for(nodeid: str, message: str) -> str:
    """The documented reason for ``nodeid``'s failure, or "gap: <last line>"."""
    best = max((k for k in REASONS if nodeid.startswith(k)), key=len, default=None)
    short = message.replace("|", "\\|").replace("\n", " ")[:200]
    if best is not None and "::" not in best:
        # A reason for a whole file is the likely cause, not checked test by test: show the failure too.
        return f"{REASONS[best]} (the failure: {short})" if short else REASONS[best]
    if best is not None:
        return REASONS[best]
    return f"gap: {short}" if short else "gap"
