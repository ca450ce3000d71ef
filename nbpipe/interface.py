"""Luigi's entry points: :func:`build` and :func:`run`."""

from __future__ import annotations

import logging
import sys
from typing import Any

from nbpipe.engine.summary import RunResult

__all__ = ["build", "run", "setup_logging"]

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
    from nbpipe.driver.run import execute

    result: RunResult = execute(tasks, workers=workers, executor=executor, rerun=rerun, dask_address=dask_address)
    logger.info("%s", result.summary_text)
    return result if detailed_summary else result.scheduling_succeeded


def run(argv: list[str] | None = None, main_task_cls: type | None = None, detailed_summary: bool = False, **_: Any):
    """Luigi's ``luigi.run``: parse command-line style arguments and build.

    ``argv`` is like the command line after ``nbpipe run`` (``["Task",
    "--param", "v", "--workers", "2"]``); defaults to ``sys.argv[1:]``.  It is
    parsed by :func:`nbpipe.cmdline_parser.parse_run_arguments`, the parser of
    ``nbpipe run``: a mistake raises :class:`~nbpipe.cmdline_parser.UsageError`
    (one line), ``--help`` prints and raises ``SystemExit(0)``.  Returns a
    bool as :func:`build` does (the result with ``detailed_summary``).
    """
    from nbpipe.cmdline_parser import parse_run_arguments

    if argv is None:
        argv = sys.argv[1:]
    argv = list(argv)
    if main_task_cls is not None:
        argv = [main_task_cls.get_task_family()] + argv
    plan = parse_run_arguments(argv, prog=None)  # help names the script, as argparse does
    setup_logging(plan.log_level)
    from nbpipe.driver.run import execute

    result = execute(
        [plan.task], workers=plan.workers, executor=plan.executor, rerun=plan.rerun, dask_address=plan.dask_address
    )
    logger.info("%s", result.summary_text)
    return result if detailed_summary else result.scheduling_succeeded
