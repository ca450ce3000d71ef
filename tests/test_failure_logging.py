"""A failed task's traceback is logged as Luigi logs it; the execution summary stays short.

Luigi logs one ERROR record per failed task (``logger.exception`` in its
worker): a headline naming the task, then the whole traceback, down to the
user's frames and the exception line.  Its summary only names the task.

Each case runs a small pipeline file in a subprocess, with the engine's own
default logging (what a user sees on stderr), under nbpipe and under Luigi.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap

import pytest

import nbpipe

PIPELINE = textwrap.dedent("""\
    import sys
    import luigi

    class Boom(luigi.Task):
        def output(self):
            return luigi.LocalTarget("never-written")

        def helper(self):
            raise ValueError("the input was bad")

        def run(self):
            self.helper()

    if __name__ == "__main__":
        workers = int(sys.argv[1])
        extra = {"executor": sys.argv[2]} if len(sys.argv) > 2 else {}
        luigi.build([Boom()], local_scheduler=True, workers=workers, **extra)
""")

SUMMARY = re.compile(r"===== (?:Luigi|nbpipe) Execution Summary =====\n(.*?)\n===== ", re.DOTALL)


def _run(tmp_path, engine: str, *argv: str) -> str:
    source = PIPELINE if engine == "luigi" else PIPELINE.replace("import luigi\n", "import nbpipe as luigi\n")
    script = tmp_path / f"boom_{engine}.py"
    script.write_text(source)
    proc = subprocess.run(
        [sys.executable, str(script), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def _traceback_checks(stderr: str, script: str) -> None:
    assert stderr.count("Traceback (most recent call last):") == 1, stderr
    assert re.search(rf'File ".*{script}", line 12, in run\n', stderr), stderr
    assert re.search(rf'File ".*{script}", line 9, in helper\n', stderr), stderr
    assert "\nValueError: the input was bad\n" in stderr, stderr


def _summary(stderr: str) -> str:
    found = SUMMARY.findall(stderr)
    assert len(found) == 1, stderr
    return found[0]


def test_luigi_logs_the_traceback_and_a_short_summary(tmp_path):
    """The reference behaviour, checked so the comparison below means something."""
    stderr = _run(tmp_path, "luigi", "1")
    _traceback_checks(stderr, "boom_luigi.py")
    assert "Traceback" not in _summary(stderr) and "the input was bad" not in _summary(stderr)


@pytest.mark.parametrize("argv", [("1",), ("2", "process"), ("2", "thread")], ids=["inline", "process", "thread"])
def test_summary_stays_short(tmp_path, argv):
    stderr = _run(tmp_path, "nbpipe", *argv)
    summary = _summary(stderr)
    assert "* 1 failed:\n    - 1 Boom()" in summary
    assert "Traceback" not in summary and "the input was bad" not in summary
    assert "Boom() failed: ValueError: the input was bad" in stderr  # the headline names task and error


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("1",), id="inline"),
        pytest.param(("2", "process"), id="process"),
        pytest.param(("2", "thread"), id="thread"),
    ],
)
def test_traceback_is_logged_as_luigi_logs_it(tmp_path, argv):
    stderr = _run(tmp_path, "nbpipe", *argv)
    _traceback_checks(stderr, "boom_nbpipe.py")
    # before the summary, in the same ERROR record as the headline
    headline = stderr.index("Boom() failed: ValueError: the input was bad")
    assert headline < stderr.index("Traceback (most recent call last):") < stderr.index("Execution Summary")


class Fails(nbpipe.Task):
    def run(self):
        raise KeyError("missing column")

    def output(self):
        return nbpipe.mock.MockTarget("fails-never")


def test_one_error_record_carries_the_traceback(caplog):
    """In-process: one ERROR record on the ``nbpipe`` logger, whose text includes the traceback."""
    import nbpipe.mock

    caplog.set_level(logging.INFO, logger="nbpipe")
    assert not nbpipe.build([Fails()], local_scheduler=True)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "Fails()" in r.getMessage()]
    assert len(errors) == 1
    text = caplog.handler.format(errors[0])
    assert "Traceback (most recent call last):" in text
    assert "in run\n" in text and "KeyError: 'missing column'" in text
