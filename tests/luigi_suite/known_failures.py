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
BOOL_VALUE = (
    "deliberate: a BoolParameter flag also takes true/false (`--flag false`), where Luigi's argparse rejects it"
)
TASK_PROCESS = (
    "deliberate: the test drives Luigi's TaskProcess (its forked per-task process: result queue, psutil children, "
    "`_create_task_process`, the keep-alive ping thread); nbpipe's Worker speaks Luigi's scheduler protocol but "
    "runs each task on an nbpipe executor (inline, or nbpipe's worker processes)"
)
EMAIL = (
    "out of scope: sending e-mail (the test counts e-mails Luigi's worker sends on errors; nbpipe's worker logs "
    "the error and sends nothing)"
)
MOCK_FS_PROCESSES = (
    "gap: MockTarget data lives in the process that wrote it; with workers > 1 tasks run in worker processes, "
    "so the driver does not see it"
)
LUIGID = "out of scope: Luigi's central scheduler daemon (luigid, luigi.server) has no nbpipe equivalent"
REMOTE = "out of scope: the test talks to a central scheduler (RemoteScheduler); nbpipe has none"

REASONS: dict[str, str] = {
    "test/task_register_test.py": REDEFINITION,
    "test/task_test.py::ExternalizeTaskTest::test_externalize_doesnt_affect_the_registry": REDEFINITION,
    "test/parameter_test.py::ParameterTest::test_bool_parsing": BOOL_VALUE,
    "test/retcodes_test.py::RetcodesTest::test_when_locked": "out of scope: Luigi's process lock (luigi.lock)",
    "test/cmdline_test.py::CmdlineTest::test_luigid": LUIGID,
    "test/wrap_test.py::WrapperWithMultipleWorkersTest": MOCK_FS_PROCESSES,
    "test/simulate_test.py": (
        "deliberate: RunAnywayTarget's markers are scoped to the run in the state store (correct across worker "
        "processes), not a multiprocessing counter `unique` reset by hand"
    ),
    "test/event_callbacks_test.py::TestEventCallbacks::test_processing_time": (
        "gap, mock-bound: the test patches `luigi.worker.time` around `luigi.build`; nbpipe.build runs on nbpipe's "
        "engine, whose executors time each task (nbpipe.worker's Worker is not involved)"
    ),
    "test/parameter_test.py::TestParamWithDefaultFromConfig::testTimeDelta8601": (
        "gap, mock-bound: ISO 8601 durations with months are refused, as in Luigi, but the test patches the name "
        "`luigi.parameter.ParameterException` that Luigi's TimeDeltaParameter raises through; nbpipe raises from "
        "nbpipe.params.time, so the mock is never called"
    ),
    "test/cmdline_test.py::CmdlineTest::test_cmdline_ambiguous_class": REDEFINITION,
    "test/cmdline_test.py::InvokeOverCmdlineTest::test_bin_luigi_help_": (
        "deliberate: `TASK --help` lists TASK's parameters as --name only (not again as --TASK-name), and the "
        "command's --help lists nbpipe's run options (24 lines, Luigi's test allows 15)"
    ),
    "test/cmdline_test.py::InvokeOverCmdlineTest::test_direct_python_help_class": (
        "deliberate: `TASK --help` lists TASK's parameters as --name only (not again as --TASK-name)"
    ),
    "test/cmdline_test.py::InvokeOverCmdlineTest::test_python_module": (
        "gap in nbpipe/cli (owned elsewhere): `python -m luigi` runs nbpipe/__main__.py, whose command line refuses "
        'Luigi\'s form without a subcommand (`--module M TASK ...`: "unknown option --module"); it should hand '
        "such a command line to nbpipe.cmdline.luigi_run"
    ),
    "test/cmdline_test.py::InvokeOverCmdlineTest::test_deps": (
        "out of scope: the script `luigi/tools/deps.py` imports `luigi.contrib.postgres`, and the example "
        "`deps_tree.py` is run on (`examples/top_artists.py`) imports `luigi.contrib.hdfs`; nbpipe provides neither"
    ),
    "test/config_toml_test.py::TomlConfigParserTest::test_get": (
        "deliberate: get() of a missing option without a default returns None (nbpipe's configuration object is "
        "one for INI and TOML), where Luigi's TOML parser raises KeyError"
    ),
    # Tier B: Luigi's worker internals and services nbpipe does not have.
    "test/worker_test.py::WorkerEmailTest": EMAIL,
    "test/worker_test.py::WorkerEmailTest::test_connection_error": REMOTE,
    "test/worker_test.py::WorkerPingThreadTests": TASK_PROCESS,
    "test/worker_test.py::WorkerPurgeEventHandlerTest::test_process_killed_handler": TASK_PROCESS,
    "test/worker_test.py::MultipleWorkersTest::test_stop_worker_kills_subprocesses": TASK_PROCESS,
    "test/worker_task_test.py": TASK_PROCESS,
    "test/task_forwarded_attributes_test.py": TASK_PROCESS,
    "test/worker_multiprocess_test.py::SingleWorkerMultiprocessTest": TASK_PROCESS,
    "test/worker_multiprocess_test.py::MultiprocessWorkerTest": REMOTE,
    "test/worker_external_task_test.py": LUIGID,
    "test/worker_test.py::MultipleWorkersTest::test_zero_workers": (
        "deliberate: build(workers=0) raises ValueError (a run with no worker cannot run anything), where Luigi "
        "only counts pending tasks"
    ),
    "test/worker_test.py::WorkerTest::test_cache_task_completion_config": (
        "gap: [worker] cache_task_completion is accepted but completions are not cached across checks"
    ),
    "test/worker_test.py::WorkerPurgeEventHandlerTest": TASK_PROCESS
    + " (the test patches `luigi.worker.time` and `ContextManagedTaskProcess`; nbpipe's process executor times "
    "and kills hung tasks with its own clock)",
    "test/worker_test.py::MultipleWorkersTest::test_purge_hung_worker": TASK_PROCESS
    + " (the test patches `luigi.worker.time`; nbpipe's process executor times and kills hung tasks with its own "
    "clock)",
    "test/worker_test.py::MultipleWorkersTest::test_multiple_workers": "skipped by Luigi's own test file (always)",
    "test/parameter_test.py::ParameterTest::test_forgot_param_in_dep": EMAIL,
    "test/cmdline_test.py::CmdlineTest::test_setup_interface_logging": (
        "deliberate: InterfaceLogging's stream handler goes on the `nbpipe` logger (where nbpipe logs) as well as "
        "on `luigi-interface`; the test allows one addHandler call"
    ),
    "test/setup_logging_test.py::TestDaemonLogging::test_section": (
        "gap: `LuigiTomlParser().read([path])` (reading a TOML file into a fresh parser object) is not provided; "
        "nbpipe/configuration.py is at the module size limit and needs splitting first"
    ),
    "test/setup_logging_test.py::TestInterfaceLogging::test_section": (
        "gap: `LuigiTomlParser().read([path])` (reading a TOML file into a fresh parser object) is not provided; "
        "nbpipe/configuration.py is at the module size limit and needs splitting first"
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
