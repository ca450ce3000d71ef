"""Luigi's ``luigi.cmdline``: ``luigi_run``, the ``luigi`` command, which exits with the run's code.

``luigi_run(argv)`` parses ``argv`` as :func:`nbpipe.interface.run` does,
builds, and exits with the exit code of the run (:mod:`nbpipe.retcodes`;
``[retcode]`` values as configured).  A command-line mistake exits with 2
after one line on stderr; an exception escaping the run exits with the
``unhandled_exception`` code after its traceback is logged.  ``luigid``, the
central scheduler daemon, has no nbpipe equivalent: it says so and exits.
"""

from __future__ import annotations

import logging
import sys

from nbpipe.exceptions import UsageError

__all__ = ["luigi_run", "run_with_retcodes", "luigid"]

logger = logging.getLogger("nbpipe")


def run_with_retcodes(argv: list[str]) -> None:
    """Run ``argv`` and ``sys.exit`` with the run's exit code (Luigi's ``retcodes.run_with_retcodes``)."""
    from nbpipe.interface import run
    from nbpipe.retcodes import RetCodes

    codes = RetCodes.from_config()
    try:
        result = run(list(argv), detailed_summary=True)
    except (UsageError, SystemExit):
        raise
    except Exception:
        logger.exception("Uncaught exception in nbpipe")
        sys.exit(codes.unhandled_exception)
    sys.exit(codes.for_summary(result.summary))


def luigi_run(argv: list[str] | None = None) -> None:
    """The ``luigi`` command: ``luigi [--module M] TASK [--param v ...]``; exits with the run's code."""
    run_with_retcodes(sys.argv[1:] if argv is None else argv)


def luigid(argv: list[str] | None = None) -> None:
    """Luigi's central scheduler daemon is not part of nbpipe; exits with a one-line explanation."""
    raise SystemExit("luigid: nbpipe has no central scheduler server; runs schedule themselves (see nbpipe run)")
