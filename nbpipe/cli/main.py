"""``nbpipe COMMAND ...``: the top-level parser and the process entry point :func:`main`.

The top-level parser has one argparse subcommand per entry of
:data:`~nbpipe.cli.subcommands.SUBCOMMANDS` (for ``nbpipe --help``); the
command's words go to that subcommand's own parser, whose ``--help`` names
it (``usage: nbpipe status ...``).  Every user mistake ends in one line on
stderr and exit code 2 (:data:`nbpipe.retcodes.USAGE_ERROR`), never a
traceback; an internal error keeps its traceback and exits with
``[retcode] unhandled_exception``.
"""

from __future__ import annotations

import argparse
import difflib
import sys

from nbpipe import retcodes
from nbpipe.cli.subcommands import SUBCOMMANDS, invoke
from nbpipe.cmdline_parser import ArgumentParser
from nbpipe.configuration import ConfigError
from nbpipe.driver.signals import sigterm_as_interrupt
from nbpipe.exceptions import StateStoreError, Terminated, UsageError

__all__ = ["main", "build_parser", "READER_GONE"]

#: Exit code when stdout's reader went away (128 + SIGPIPE, the shell's code for it).
READER_GONE = 141

EPILOG = """\
TASK's parameters follow it: nbpipe run --module MOD TASK --name value (TASK --help lists them).
Luigi's command line works too: nbpipe --module MOD TASK --local-scheduler (Luigi's exit codes).
nbpipe COMMAND --help shows a command's options.

exit codes: 0 success, 2 usage error, 10 run by another worker, 20 missing external data,
25 not run, 30 failed tasks, 35 scheduling errors, 40 internal error, 130 interrupted, 143 terminated,
141 output's reader went away (| head); execute also: 50 cell error, 60 cell timeout or dead kernel
"""


def build_parser() -> ArgumentParser:
    """``nbpipe [-h] COMMAND ...`` with a subparser per command (their options are the commands' own)."""
    parser = ArgumentParser(
        prog="nbpipe",
        description="Luigi's task model, for the command line and Jupyter.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, subcommand in SUBCOMMANDS.items():
        commands.add_parser(name, help=subcommand.summary, add_help=False)
    return parser


def _unknown_command(name: str) -> str:
    close = difflib.get_close_matches(name, list(SUBCOMMANDS), n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"choose one of {', '.join(SUBCOMMANDS)}"
    return f"unknown command {name!r}; {hint}"


def main(argv: list[str] | None = None) -> int:
    """Run ``nbpipe ARGV`` (default: ``sys.argv[1:]``) and return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return retcodes.USAGE_ERROR
    name = argv[0]
    if name.startswith("-") and name not in ("-h", "--help"):
        return _luigi_command(argv)
    try:
        if name not in SUBCOMMANDS and not name.startswith("-"):
            raise UsageError(_unknown_command(name))
        # Only the command word: what follows is the subcommand's, parsed by its own parser.
        parser.parse_args(argv[:1])
        with sigterm_as_interrupt():
            code = invoke(name, argv[1:], sys.stdout, sys.stderr, from_command_line=True).code
        sys.stdout.flush()  # here, so a reader gone away (`| head`) is caught below, not at exit
        return code
    except BrokenPipeError:
        return _reader_gone()
    except (UsageError, ConfigError, StateStoreError) as exc:
        prefix = f"nbpipe {name}" if name in SUBCOMMANDS else "nbpipe"
        print(f"{prefix}: error: {exc}", file=sys.stderr)
        return retcodes.USAGE_ERROR
    except KeyboardInterrupt as exc:  # outside a run (a run reports it itself)
        print(f"nbpipe {name}: {'terminated' if isinstance(exc, Terminated) else 'interrupted'}", file=sys.stderr)
        return retcodes.TERMINATED if isinstance(exc, Terminated) else retcodes.INTERRUPTED
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    except Exception:  # noqa: BLE001 - an internal error: keep the traceback, it is a bug
        import traceback

        traceback.print_exc()
        return retcodes.RetCodes.from_config().unhandled_exception


def _luigi_command(argv: list[str]) -> int:
    """``nbpipe --module M TASK --local-scheduler ...``: Luigi's command line, as ``luigi`` runs it."""
    from nbpipe.cmdline import luigi_run

    try:
        with sigterm_as_interrupt():
            luigi_run(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def _reader_gone() -> int:
    """The reader of stdout went away (``nbpipe status | head -1``): end quietly, as ``cat`` does.

    Python would print a BrokenPipeError traceback on its final flush;
    pointing stdout at /dev/null first makes that flush a no-op.  The code is
    the shell's for a process ended by SIGPIPE.
    """
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return READER_GONE


if __name__ == "__main__":
    sys.exit(main())
