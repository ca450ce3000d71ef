"""argparse for nbpipe's command lines: one-line mistakes (:class:`UsageError`) and the value checkers of ``run``.

:class:`ArgumentParser` raises instead of printing usage and exiting 2;
:mod:`nbpipe.cmdline_parser` builds the task commands on it.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

from nbpipe.exceptions import UsageError

__all__ = ["ArgumentParser"]


class _Ambiguous(UsageError):
    """An abbreviation matching several options (may be an exact option once TASK's are known)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose mistakes raise :class:`UsageError` (one line) instead of printing usage and exiting 2.

    Help goes to ``out`` (stdout by default).  :meth:`parse_args` also
    rejects leftovers, naming the closest known option.
    """

    def __init__(self, *args: Any, out: TextIO | None = None, **kwargs: Any):
        kwargs["exit_on_error"] = False  # ArgumentError reaches us with the option it is about
        super().__init__(*args, **kwargs)
        self.out = out

    def error(self, message: str):
        match = re.match(r"ambiguous option: (\S+?)(?:=\S*)? could match (.*)$", message)
        if match:
            *others, last = sorted(match[2].split(", "))
            raise _Ambiguous(f"ambiguous option {match[1]}: could be {', '.join(others)} or {last}; write more of it")
        match = re.match(r"the following arguments are required: (.*)$", message)
        if match:
            raise UsageError(f"missing {match[1]}; see {self.prog} --help")
        raise UsageError(message)

    def print_help(self, file: TextIO | None = None) -> None:
        super().print_help(file or self.out or sys.stdout)

    def parse_known_args(self, args: Any = None, namespace: Any = None):
        try:
            return super().parse_known_args(args, namespace)
        except argparse.ArgumentError as exc:
            raise UsageError(_argument_error(exc)) from None

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            raise UsageError(self.leftover_message(extras))
        return namespace

    def long_options(self) -> list[str]:
        # argparse has no public list of its option strings.
        return sorted(s for s in self._option_string_actions if s.startswith("--"))

    def leftover_message(self, extras: list[str], hint: str = "") -> str:
        """The one line for arguments nobody took: the first unknown option, with "did you mean"."""
        options = [e for e in extras if e.startswith("-")]
        if not options:
            return f"unexpected argument {extras[0]!r}" + (hint or f"; see {self.prog} --help")
        key = options[0].partition("=")[0]
        close = difflib.get_close_matches(key, self.long_options(), n=1)
        fix = f"; did you mean {close[0]}?" if close else hint or f"; see {self.prog} --help"
        return f"unknown option {key}{fix}"


def _argument_error(exc: argparse.ArgumentError) -> str:
    """argparse's own complaint about one option, as our one line."""
    name, message = exc.argument_name, exc.message
    if not name:
        return message
    name = name.split("/")[-1]
    if message.startswith("expected one argument"):
        return f"option {name} needs a value"
    match = re.match(r"ignored explicit argument (.*)$", message)
    if match:
        return f"option {name} takes no value (got {match[1]})"
    return f"{name}: {message}"


def _positive_int(option: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise UsageError(f"{option} {text}: expected a positive integer")
        return value

    return parse


def _executor_kind(text: str) -> str:
    from nbpipe.executors import EXECUTOR_KINDS

    if text not in EXECUTOR_KINDS:
        raise UsageError(f"--executor {text}: choose one of {', '.join(EXECUTOR_KINDS)}")
    return text


def _log_level(text: str) -> str:
    if not isinstance(logging.getLevelName(text.upper()), int):
        raise UsageError(f"--log-level {text}: choose DEBUG, INFO, WARNING or ERROR")
    return text.upper()
