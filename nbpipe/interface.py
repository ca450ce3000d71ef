"""Luigi's entry points: :func:`build` and :func:`run`."""

from __future__ import annotations

import logging
import sys
from typing import Any

from nbpipe.engine.summary import RunResult

__all__ = ["build", "run", "setup_logging", "core", "_WorkerSchedulerFactory", "_schedule_and_run", "_run"]

logger = logging.getLogger("nbpipe")

# Options Luigi's build() accepts that have no meaning here (a central
# scheduler, locks, its own logging set-up); accepted so Luigi code runs.
_LUIGI_ONLY_OPTIONS = {
    "local_scheduler",
    "scheduler_host",
    "scheduler_port",
    "scheduler_url",
    "no_lock",
    "lock_size",
    "lock_pid_dir",
    "take_lock",
    "logging_conf_file",
    "parallel_scheduling",
    "parallel_scheduling_processes",
    "assistant",
    "help",
    "help_all",
    "module",
    "worker_scheduler_factory",
    "log_level",
}
_RERUN_CHOICES = ("missing", "stale")


def _core_class() -> type:
    """Luigi's ``interface.core``: the ``[core]`` options of a command line, as a Config class."""
    import os
    import tempfile

    from nbpipe.parameter import BoolParameter, ChoiceParameter, IntParameter, Parameter
    from nbpipe.task import Config

    class core(Config):
        """``[core]``: options of ``luigi.run`` / ``build``, given without a section prefix on the command line."""

        use_cmdline_section = False
        _visible_in_registry = False  # an engine section, not a task to run
        local_scheduler = BoolParameter(default=False, always_in_help=True)
        scheduler_host = Parameter(default="localhost")
        scheduler_port = IntParameter(default=8082, config_path={"section": "core", "name": "default-scheduler-port"})
        scheduler_url = Parameter(default="")
        lock_size = IntParameter(default=1)
        no_lock = BoolParameter(default=False)
        lock_pid_dir = Parameter(default=os.path.join(tempfile.gettempdir(), "luigi"))
        take_lock = BoolParameter(default=False)
        workers = IntParameter(default=1)
        logging_conf_file = Parameter(default="")
        log_level = ChoiceParameter(
            default="DEBUG", choices=["NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
        )
        module = Parameter(default="", always_in_help=True)
        parallel_scheduling = BoolParameter(default=False)
        parallel_scheduling_processes = IntParameter(default=0)
        assistant = BoolParameter(default=False)
        help = BoolParameter(default=False, always_in_help=True)
        help_all = BoolParameter(default=False, always_in_help=True)

    core.__module__ = __name__
    return core


core = _core_class()


def setup_logging(level: int | str = logging.INFO) -> None:
    """Send nbpipe's log to stderr unless the application configured logging itself."""
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    nb = logging.getLogger("nbpipe")
    if logging.getLogger().handlers or nb.handlers:
        if not isinstance(level, int):
            return
        nb.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    nb.addHandler(handler)
    nb.setLevel(level)
    nb.propagate = False


def build(
    tasks,
    worker_scheduler_factory: Any = None,
    detailed_summary: bool = False,
    *,
    workers: int = 1,
    executor: str | None = None,
    rerun: str = "missing",
    dask_address: str | None = None,
    **options: Any,
):
    """Run ``tasks`` and their dependencies.

    Returns, as Luigi does, a bool — True when no task failed and none
    failed scheduling — or, with ``detailed_summary=True``, the
    :class:`~nbpipe.engine.summary.RunResult` (``status``, ``summary_text``,
    ``one_line_summary``, ``exit_code``, ``events``).

    ``executor``: ``"inline"`` (default for one worker), ``"thread"``,
    ``"process"`` (default for more) or ``"dask"`` (the Dask scheduler at
    ``dask_address``, ``[dask] address`` or ``$NBPIPE_DASK_ADDRESS``; with
    none, a local cluster of ``workers`` processes started for the run).  ``rerun="missing"`` runs what is not
    complete, as Luigi does; ``rerun="stale"`` also reruns complete tasks whose
    code or inputs changed since they ran, and everything downstream of them.
    """
    unknown = sorted(set(options) - _LUIGI_ONLY_OPTIONS)
    if unknown:
        raise TypeError(f"build() got unknown option(s): {', '.join(unknown)}")
    if rerun not in _RERUN_CHOICES:
        raise ValueError(f"build(rerun={rerun!r}): choose one of {', '.join(map(repr, _RERUN_CHOICES))}")
    try:
        workers = int(workers)
    except (TypeError, ValueError):
        raise ValueError(f"build(workers={workers!r}): workers must be a positive integer") from None
    if workers < 1:
        raise ValueError(f"build(workers={workers}): workers must be at least 1")
    setup_logging(options.get("log_level") or logging.INFO)
    if worker_scheduler_factory is not None:
        return _build_with_factory(tasks, worker_scheduler_factory, workers, detailed_summary, options)
    from nbpipe.driver.run import execute

    result: RunResult = execute(tasks, workers=workers, executor=executor, rerun=rerun, dask_address=dask_address)
    logger.info("%s", result.summary_text)
    return result if detailed_summary else result.scheduling_succeeded


class _WorkerSchedulerFactory:
    """Luigi's factory of the scheduler and worker a run uses; ``build(worker_scheduler_factory=...)`` calls it."""

    def create_local_scheduler(self) -> Any:
        from nbpipe.scheduler import Scheduler

        return Scheduler(prune_on_get_work=True, record_task_history=False)

    def create_remote_scheduler(self, url: str) -> Any:
        raise NotImplementedError(f"nbpipe has no central scheduler to reach at {url}; runs schedule themselves")

    def create_worker(self, scheduler: Any, worker_processes: int, assistant: bool = False) -> Any:
        from nbpipe.worker import Worker

        return Worker(scheduler=scheduler, worker_processes=worker_processes, assistant=assistant)


def _build_with_factory(tasks, factory: Any, workers: int, detailed_summary: bool, options: dict):
    """``build`` through a Luigi factory: its scheduler and worker, ``add`` each task, then ``run``."""
    result = _schedule_and_run(tasks, factory, {"workers": workers, "assistant": options.get("assistant", False)})
    logger.info("%s", result.summary_text)
    return result if detailed_summary else result.scheduling_succeeded


def _schedule_and_run(tasks, worker_scheduler_factory: Any = None, override_defaults: dict | None = None):
    """Luigi's protocol: a scheduler and a :class:`~nbpipe.worker.Worker` from the factory, ``add`` each
    task, ``run``; returns the :class:`~nbpipe.execution_summary.WorkerRunResult` (its ``worker`` too).

    ``override_defaults`` are ``[core]`` values (``workers``, ``assistant``)
    that win over the configured ones.
    """
    from nbpipe.execution_summary import WorkerRunResult
    from nbpipe.task import flatten

    env = core(**(override_defaults or {}))
    factory = worker_scheduler_factory or _WorkerSchedulerFactory()
    scheduler = factory.create_local_scheduler()
    worker = factory.create_worker(scheduler=scheduler, worker_processes=env.workers, assistant=env.assistant)
    with worker:
        success = all([worker.add(task) for task in flatten(tasks)])
        success = worker.run() and success
    return WorkerRunResult(worker, success)


def _run(argv: list[str], main_task_cls: type | None = None, worker_scheduler_factory: Any = None):
    """Luigi's ``interface._run``: parse ``argv`` and build its task with Luigi's worker protocol.

    Returns the :class:`~nbpipe.execution_summary.WorkerRunResult`.  A
    command-line mistake raises :class:`~nbpipe.exceptions.CommandLineUsageError`
    (``SystemExit(2)``); a task that cannot be made (a missing parameter)
    raises its exception, as Luigi's does.
    """
    from nbpipe.cmdline_parser import CmdlineParser, parse_run_arguments, usage_exit
    from nbpipe.configuration import command_line_values
    from nbpipe.exceptions import MissingParameterException, UsageError

    argv = list(argv)
    if main_task_cls is not None:
        argv = [main_task_cls.get_task_family()] + argv
    try:
        plan = parse_run_arguments(argv, prog=None, set_globals=False)
    except MissingParameterException:
        raise
    except UsageError as exc:
        if isinstance(exc.__cause__, MissingParameterException):
            raise exc.__cause__ from None
        raise usage_exit(exc) from None
    setup_logging(plan.log_level)
    original = CmdlineParser._instance
    with command_line_values(plan.global_values or {}):
        try:
            return _schedule_and_run([plan.task], worker_scheduler_factory, {"workers": plan.workers})
        finally:
            CmdlineParser._instance = original


def run(
    argv: list[str] | None = None,
    main_task_cls: type | None = None,
    worker_scheduler_factory: Any = None,
    use_dynamic_argparse: Any = None,
    local_scheduler: bool = False,
    detailed_summary: bool = False,
    **_: Any,
):
    """Luigi's ``luigi.run``: parse command-line style arguments and build.

    ``argv`` is like the command line after ``nbpipe run`` (``["Task",
    "--param", "v", "--workers", "2"]``, options before TASK too); defaults to
    ``sys.argv[1:]``.  It is parsed by the parser of ``nbpipe run``; its
    ``--Family-param`` values are in force for the run only.  A mistake
    prints one line and raises :class:`~nbpipe.exceptions.CommandLineUsageError`
    (a ``UsageError`` and ``SystemExit(2)``); ``--help`` prints and raises
    ``SystemExit(0)``.  Returns a bool as :func:`build` does (the result with
    ``detailed_summary``).
    """
    from nbpipe.cmdline_parser import CmdlineParser, parse_run_arguments, usage_exit
    from nbpipe.configuration import command_line_values
    from nbpipe.exceptions import UsageError

    if argv is not None and not isinstance(argv, (list, tuple)):
        raise TypeError(f"run(argv) takes a list or tuple of command-line arguments, got {type(argv).__name__!r}")
    argv = list(sys.argv[1:] if argv is None else argv)
    if main_task_cls is not None:
        argv = [main_task_cls.get_task_family()] + argv
    try:
        plan = parse_run_arguments(argv, prog=None, set_globals=False)  # help names the script, as argparse does
    except UsageError as exc:
        raise usage_exit(exc) from None
    setup_logging(plan.log_level)
    from nbpipe.driver.run import execute

    original = CmdlineParser._instance
    with command_line_values(plan.global_values or {}):
        try:
            result = execute([plan.task], **plan.how())
        finally:
            CmdlineParser._instance = original
    logger.info("%s", result.summary_text)
    return result if detailed_summary else result.scheduling_succeeded
