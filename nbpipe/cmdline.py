"""Luigi's ``luigi.cmdline``: ``luigi_run``, the ``luigi`` command, which exits with the run's code.

``luigi_run(argv)`` does what Luigi's command does: it parses ``argv`` as
:func:`nbpipe.interface.run` does, builds the task with Luigi's worker
protocol (:func:`nbpipe.interface._run`: a :class:`~nbpipe.worker.Worker`
and a :class:`~nbpipe.scheduler.Scheduler`), and exits with the code
Luigi's ``[retcode]`` rules give for what the worker did
(:class:`nbpipe.retcodes.retcode`: 0 by default, ``unhandled_exception``
4).  A command-line mistake exits with 2 after one line on stderr.
nbpipe's own command (``nbpipe run``) keeps nbpipe's distinct non-zero
codes (:class:`nbpipe.retcodes.RetCodes`).  ``luigid``, the central
scheduler daemon, has no nbpipe equivalent: it says so and exits.
"""

from __future__ import annotations

import logging
import sys

# Luigi's command line takes the options of [worker], [scheduler] and [execution_summary]:
# their classes are registered when this module is imported, as Luigi's are.
import nbpipe.execution_summary
import nbpipe.scheduler
import nbpipe.worker  # noqa: F401
from nbpipe.parameter import IntParameter
from nbpipe.task import Config

__all__ = ["luigi_run", "run_with_retcodes", "luigid", "retcode"]

logger = logging.getLogger("nbpipe")


class retcode(Config):
    """``[retcode]`` with Luigi's defaults: the exit codes of Luigi's command (:func:`luigi_run`).

    Also ``nbpipe.retcodes.retcode``.  nbpipe's own command reads the same
    section with its own defaults (:class:`nbpipe.retcodes.RetCodes`).
    """

    _visible_in_registry = False  # an engine section, not a task to run
    _options_on_command_line = True  # --retcode-task-failed 5, as Luigi's command line takes it
    unhandled_exception = IntParameter(default=4)
    missing_data = IntParameter(default=0)
    task_failed = IntParameter(default=0)
    already_running = IntParameter(default=0)
    scheduling_error = IntParameter(default=0)
    not_run = IntParameter(default=0)


def _codes(argv: list[str]):
    """Luigi's ``retcode`` values in force for ``argv`` (its ``--retcode-*`` options over the configuration)."""
    from nbpipe.cmdline_parser import CmdlineParser
    from nbpipe.exceptions import UsageError

    try:
        with CmdlineParser.global_instance(argv, allow_override=True):
            return retcode()
    except (SystemExit, KeyboardInterrupt, UsageError):
        raise
    except Exception:  # noqa: BLE001 - TASK cannot be made: the run reports it
        # TASK cannot be made (a missing parameter): the run will fail the same way and exit with
        # unhandled_exception, as configured (the command line's own values could not be read).
        return retcode()


def run_with_retcodes(argv: list[str]) -> None:
    """Run ``argv`` with Luigi's worker protocol and ``sys.exit`` with Luigi's exit code for what happened."""
    from nbpipe.exceptions import UsageError
    from nbpipe.execution_summary import _summary_dict
    from nbpipe.interface import _run

    argv = list(argv)
    codes = _codes(argv)
    try:
        worker = _run(argv).worker
    except (SystemExit, KeyboardInterrupt):
        raise
    except UsageError:
        raise
    except Exception:
        logger.exception("Uncaught exception in nbpipe")
        sys.exit(codes.unhandled_exception)
    sets = _summary_dict(worker)
    history = worker._add_task_history
    root = history[0][0] if history else None
    code = max(
        codes.missing_data if sets["still_pending_ext"] else 0,
        codes.task_failed if sets["failed"] else 0,
        codes.already_running if sets["run_by_other_worker"] else 0,
        codes.scheduling_error if sets["scheduling_error"] else 0,
        codes.not_run if sets["not_run"] else 0,
    )
    if code == 0 and root not in sets["completed"] and root not in sets["already_done"]:
        sys.exit(codes.not_run)
    sys.exit(code)


def luigi_run(argv: list[str] | None = None) -> None:
    """The ``luigi`` command: ``luigi [--module M] TASK [--param v ...]``; exits with the run's code."""
    run_with_retcodes(sys.argv[1:] if argv is None else argv)


def luigid(argv: list[str] | None = None) -> None:
    """Luigi's central scheduler daemon is not part of nbpipe; exits with a one-line explanation."""
    raise SystemExit("luigid: nbpipe has no central scheduler server; runs schedule themselves (see nbpipe run)")
