"""Tasks that run one external program: ``ExternalProgramTask`` and ``ExternalPythonProgramTask``.

Luigi's API (``luigi.contrib.external_program``): override
:meth:`ExternalProgramTask.program_args` (the first element is the
executable) and, optionally, :meth:`ExternalProgramTask.program_environment`.
The program runs in a subprocess with ``subprocess.Popen``; ``run()`` waits
for it and raises :class:`ExternalProgramRunError` (its stdout, stderr and
command attached) when it exits non-zero.

Output: with ``capture_output`` (the default) the program's stdout and
stderr go to temporary files and are logged when it ends (stderr only on
failure when ``always_log_stderr`` is False); without it they pass through
to the worker's own streams.  Stopping: Ctrl-C, SIGTERM (when the task runs
in the main thread) or any error while waiting kills the program, so no
child outlives its task.  Tracking URLs: with ``tracking_url_pattern`` and
``stream_for_searching_tracking_url``, a thread reads that stream line by
line while the program runs and reports the first group of each match
through ``set_tracking_url``.

Differences from Luigi, on purpose: the error message lists only the
environment variables the task added or changed (the whole environment
would put every secret of the worker into the logs); ``PYTHONPATH`` never
gets an empty entry (which would mean "the current directory"); the
tracking-URL reader is a thread of the worker, not a separate process, so
``set_tracking_url`` reaches the run's progress events.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import IO, Any, Optional

from nbpipe.parameter import BoolParameter, ChoiceParameter, OptionalParameter, ParameterVisibility
from nbpipe.task import Task

__all__ = ["ExternalProgramRunContext", "ExternalProgramRunError", "ExternalProgramTask", "ExternalPythonProgramTask"]

logger = logging.getLogger("nbpipe.contrib.external_program")

#: How long a tracked stream is read after the program ended (a background child may hold it open).
_DRAIN_TIMEOUT_S = 10.0


class ExternalProgramRunError(RuntimeError):
    """An external program exited with a non-zero code.

    ``message``, ``args`` (the command, as run), ``env`` (the environment it
    had), ``out`` and ``err`` (its captured output, None when not captured).
    """

    def __init__(
        self,
        message: str,
        args: Any,
        env: Optional[dict[str, str]] = None,
        stdout: Optional[str] = None,
        stderr: Optional[str] = None,
    ):
        super().__init__(message, args, env, stdout, stderr)
        self.message = message
        self.args = args
        self.env = env
        self.out = stdout
        self.err = stderr

    def __reduce__(self):  # survives the trip back from a worker process
        return (type(self), (self.message, list(self.args), self.env, self.out, self.err))

    def __str__(self) -> str:
        lines = [
            self.message,
            f"COMMAND: {' '.join(map(str, self.args))}",
            f"STDOUT: {self.out or '[empty]'}",
            f"STDERR: {self.err or '[empty]'}",
        ]
        changed = _changed_environment(self.env)
        shown = " ".join(f"{k}={v!r}" for k, v in sorted(changed.items()))
        lines.append(f"ENVIRONMENT (set by the task): {shown or '[inherited unchanged]'}")
        return "\n".join(lines)


def _changed_environment(env: Optional[dict[str, str]]) -> dict[str, str]:
    if not env:
        return {}
    return {k: v for k, v in env.items() if os.environ.get(k) != v}


class ExternalProgramRunContext:
    """Kills ``proc`` when the block is left by Ctrl-C or an error, or when SIGTERM arrives.

    The SIGTERM handler is installed only in the main thread (Python allows
    signal handlers nowhere else); the previous handler is put back on exit.
    """

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> ExternalProgramRunContext:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, self.kill_job)
            self._installed = True
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None and self.proc.poll() is None:
                self.kill_job()
        finally:
            if self._installed:
                signal.signal(signal.SIGTERM, self._previous)
                self._installed = False

    def kill_job(self, captured_signal: Optional[int] = None, stack_frame: Any = None) -> None:
        self.proc.kill()
        if captured_signal is not None:
            sys.exit(128 + captured_signal)


class ExternalProgramTask(Task):
    """Runs the program :meth:`program_args` names; fails with :class:`ExternalProgramRunError`."""

    capture_output = BoolParameter(default=True, significant=False, positional=False)
    stream_for_searching_tracking_url = ChoiceParameter(
        var_type=str,
        choices=["none", "stdout", "stderr"],
        default="none",
        significant=False,
        positional=False,
        visibility=ParameterVisibility.HIDDEN,
        description="Stream to search for a tracking URL",
    )
    tracking_url_pattern = OptionalParameter(
        default=None,
        significant=False,
        positional=False,
        visibility=ParameterVisibility.HIDDEN,
        description="Regular expression whose first group, found in the program's output, is the tracking URL",
    )

    def program_args(self) -> list[Any]:
        """The command to run, executable first (each element is passed through ``str``)."""
        raise NotImplementedError(f"{type(self).__name__} must override program_args()")

    def program_environment(self) -> dict[str, str]:
        """The program's environment; by default a copy of the worker's."""
        return os.environ.copy()

    @property
    def always_log_stderr(self) -> bool:
        """False: log the program's stderr only when it fails."""
        return True

    def build_tracking_url(self, logs_output: str) -> str:
        """The tracking URL for the text the pattern's first group matched."""
        return logs_output

    def _clean_output_file(self, file_object: IO[bytes]) -> str:
        file_object.seek(0)
        return b"".join(file_object.readlines()).decode("utf-8", errors="replace")

    def run(self) -> None:
        args = [str(a) for a in self.program_args()]
        logger.info("Running command: %s", " ".join(args))
        env = self.program_environment()
        kwargs: dict[str, Any] = {"env": env}
        captured: list[IO[bytes]] = []
        if self.capture_output:
            captured = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
            kwargs.update(stdout=captured[0], stderr=captured[1])
        try:
            if self.stream_for_searching_tracking_url != "none" and self.tracking_url_pattern is not None:
                with self._proc_with_tracking_url_context(proc_args=args, proc_kwargs=kwargs) as proc:
                    proc.wait()
            else:
                proc = subprocess.Popen(args, **kwargs)
                with ExternalProgramRunContext(proc):
                    proc.wait()
            success = proc.returncode == 0
            stdout = stderr = None
            if captured:
                stdout, stderr = (self._clean_output_file(f) for f in captured)
                # One preformatted message each, as Luigi logs them (no %-args: the text is the program's).
                if stdout:
                    logger.info(f"Program stdout:\n{stdout}")
                if stderr and (self.always_log_stderr or not success):
                    logger.info(f"Program stderr:\n{stderr}")
            if not success:
                raise ExternalProgramRunError(
                    f"Program failed with return code={proc.returncode}:", args, env=env, stdout=stdout, stderr=stderr
                )
        finally:
            for f in captured:
                f.close()

    @contextlib.contextmanager
    def _proc_with_tracking_url_context(
        self, proc_args: list[str], proc_kwargs: dict[str, Any]
    ) -> Iterator[subprocess.Popen]:
        """Start the program with the searched stream on a pipe; a thread reads it, copies each
        line where it would have gone (the capture file, else this process's stream) and reports
        tracking URLs.  The pipe is drained before the block's caller sees the program end."""
        stream = str(self.stream_for_searching_tracking_url)
        destination = proc_kwargs.get(stream)
        kwargs = {**proc_kwargs, stream: subprocess.PIPE}
        proc = subprocess.Popen(proc_args, **kwargs)
        pipe = proc.stdout if stream == "stdout" else proc.stderr
        assert pipe is not None
        pattern = re.compile(str(self.tracking_url_pattern or ""))

        def follow() -> None:
            sink = getattr(destination, "write", None)
            if sink is None:
                own = sys.stdout if stream == "stdout" else sys.stderr
                sink = getattr(own, "buffer", own).write
            try:
                for line in iter(pipe.readline, b""):
                    try:
                        sink(line)
                    except (TypeError, ValueError):  # a text stream, or one already closed
                        pass
                    match = pattern.search(line.decode("utf-8", errors="replace"))
                    if match:
                        self.set_tracking_url(self.build_tracking_url(match.group(1)))
            except (ValueError, OSError):  # the pipe was closed under us (see below)
                pass

        reader = threading.Thread(target=follow, name=f"tracking-url {proc_args[0]}", daemon=True)
        reader.start()
        try:
            with ExternalProgramRunContext(proc):
                yield proc
        finally:
            # EOF comes when the program, and any child of it still holding the pipe, has exited;
            # a child left running in the background is not waited for long.
            reader.join(timeout=_DRAIN_TIMEOUT_S)
            pipe.close()


class ExternalPythonProgramTask(ExternalProgramTask):
    """An :class:`ExternalProgramTask` for Python programs: optional virtualenv and extra ``PYTHONPATH``."""

    virtualenv = OptionalParameter(
        default=None,
        positional=False,
        description="Directory of the virtualenv to run in (the one holding bin/activate)",
    )
    extra_pythonpath = OptionalParameter(
        default=None,
        positional=False,
        description="Prepended to the PYTHONPATH environment variable",
    )

    def program_environment(self) -> dict[str, str]:
        env = super().program_environment()
        if self.extra_pythonpath:
            env["PYTHONPATH"] = _prepend(str(self.extra_pythonpath), env.get("PYTHONPATH"))
        if self.virtualenv:
            venv = str(self.virtualenv)
            env["PATH"] = _prepend(os.path.join(venv, "bin"), env.get("PATH"))
            env["VIRTUAL_ENV"] = venv
            env.pop("PYTHONHOME", None)
        return env


def _prepend(entry: str, current: Optional[str]) -> str:
    return os.pathsep.join([entry, current]) if current else entry
