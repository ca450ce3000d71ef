"""nbpipe.contrib.external_program with real subprocesses (the Python interpreter running this test)."""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import textwrap

import pytest

import nbpipe
from nbpipe.contrib.external_program import (
    ExternalProgramRunContext,
    ExternalProgramRunError,
    ExternalProgramTask,
    ExternalPythonProgramTask,
)

PY = sys.executable
LOGGER = "nbpipe.contrib.external_program"


class Script(ExternalProgramTask):
    """Runs ``python -c CODE``, writing to ``out`` (its output)."""

    code = nbpipe.Parameter()
    out = nbpipe.Parameter(default="")

    def program_args(self):
        return [PY, "-c", self.code, self.out]

    def output(self):
        return nbpipe.LocalTarget(self.out)


class QuietStderr(Script):
    always_log_stderr = False


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_program_runs_with_its_arguments_and_makes_its_output(tmp_path):
    out = tmp_path / "made.txt"
    code = "import sys; open(sys.argv[1], 'w').write('args=' + ','.join(sys.argv[1:]))"
    task = Script(code=code, out=str(out))
    assert nbpipe.build([task], local_scheduler=True)
    assert out.read_text() == f"args={out}"
    assert task.complete()


def test_captured_output_is_logged_after_the_run(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); open(sys.argv[1], 'w').close()"
    Script(code=code, out=str(tmp_path / "o")).run()
    messages = _messages(caplog)
    assert messages[0].startswith(f"Running command: {PY} -c ")
    assert "Program stdout:\nto stdout\n" in messages
    assert "Program stderr:\nto stderr\n" in messages


def test_stderr_of_a_success_is_not_logged_when_always_log_stderr_is_false(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    QuietStderr(code="import sys; print('noise', file=sys.stderr)", out=str(tmp_path / "o")).run()
    assert not [m for m in _messages(caplog) if m.startswith("Program stderr")]


def test_failure_raises_with_the_program_output(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    code = "import sys; print('partial result'); print('it broke', file=sys.stderr); sys.exit(3)"
    task = QuietStderr(code=code, out=str(tmp_path / "o"))
    with pytest.raises(ExternalProgramRunError) as info:
        task.run()
    err = info.value
    assert err.message == "Program failed with return code=3:"
    assert err.out == "partial result\n" and err.err == "it broke\n"
    assert list(err.args)[:2] == [PY, "-c"]
    text = str(err)
    assert "COMMAND: " in text and "STDOUT: partial result" in text and "STDERR: it broke" in text
    # on failure stderr is logged even when always_log_stderr is False
    assert "Program stderr:\nit broke\n" in _messages(caplog)
    # it survives pickling (worker processes send it back to the driver)
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.out, again.err, str(again)) == (ExternalProgramRunError, err.out, err.err, text)


def test_error_message_shows_only_the_variables_the_task_set(monkeypatch):
    monkeypatch.setenv("NBPIPE_TEST_SECRET", "hunter2")
    env = {**os.environ, "MY_SETTING": "on"}
    text = str(ExternalProgramRunError("failed", ["prog"], env=env))
    assert "MY_SETTING='on'" in text
    assert "hunter2" not in text
    assert "inherited unchanged" in str(ExternalProgramRunError("failed", ["prog"], env=dict(os.environ)))


def test_without_capture_the_output_passes_through(tmp_path, capfd, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    code = "import sys; print('straight out'); print('straight err', file=sys.stderr)"
    Script(code=code, out=str(tmp_path / "o"), capture_output=False).run()
    seen = capfd.readouterr()
    assert "straight out" in seen.out and "straight err" in seen.err
    assert not [m for m in _messages(caplog) if m.startswith("Program std")]


def test_failure_without_capture_has_no_output_attached(tmp_path):
    with pytest.raises(ExternalProgramRunError) as info:
        Script(code="import sys; sys.exit(1)", out=str(tmp_path / "o"), capture_output=False).run()
    assert info.value.out is None and info.value.err is None
    assert "STDOUT: [empty]" in str(info.value)


def test_program_environment_reaches_the_program(tmp_path):
    class WithEnv(Script):
        def program_environment(self):
            return {**super().program_environment(), "NBPIPE_GREETING": "hello from the task"}

    out = tmp_path / "env.txt"
    code = "import os, sys; open(sys.argv[1], 'w').write(os.environ['NBPIPE_GREETING'])"
    assert nbpipe.build([WithEnv(code=code, out=str(out))], local_scheduler=True)
    assert out.read_text() == "hello from the task"


def test_program_args_must_be_overridden():
    with pytest.raises(NotImplementedError, match="program_args"):
        ExternalProgramTask().run()


def test_capture_output_is_an_insignificant_keyword_only_parameter():
    assert Script(code="x").task_id == Script(code="x", capture_output=False).task_id
    params = dict(ExternalProgramTask.get_params())
    assert params["capture_output"].positional is False


class PythonScript(ExternalPythonProgramTask):
    code = nbpipe.Parameter()
    out = nbpipe.Parameter()

    def program_args(self):
        return [PY, "-c", self.code, self.out]

    def output(self):
        return nbpipe.LocalTarget(self.out)


def test_extra_pythonpath_makes_a_module_importable(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "nbpipe_probe_mod.py").write_text("VALUE = 'imported from extra_pythonpath'\n")
    out = tmp_path / "probe.txt"
    code = "import sys, nbpipe_probe_mod as m; open(sys.argv[1], 'w').write(m.VALUE)"
    task = PythonScript(code=code, out=str(out), extra_pythonpath=str(lib))
    assert nbpipe.build([task], local_scheduler=True)
    assert out.read_text() == "imported from extra_pythonpath"
    assert task.program_environment()["PYTHONPATH"] == str(lib)  # no empty entry (= the current directory)


def test_extra_pythonpath_is_prepended(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/base/one")
    env = PythonScript(code="", out="x", extra_pythonpath="/extra").program_environment()
    assert env["PYTHONPATH"] == os.pathsep.join(["/extra", "/base/one"])


def test_virtualenv_sets_path_and_virtual_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONHOME", sys.prefix)
    venv = tmp_path / "venv"
    out = tmp_path / "seen.txt"
    code = textwrap.dedent("""\
        import os, sys
        open(sys.argv[1], 'w').write('\\n'.join([os.environ['VIRTUAL_ENV'], os.environ['PATH'],
                                                 str('PYTHONHOME' in os.environ)]))
    """)
    task = PythonScript(code=code, out=str(out), virtualenv=str(venv))
    task.run()
    virtual_env, path, has_home = out.read_text().split("\n")
    assert virtual_env == str(venv)
    assert path.split(os.pathsep)[0] == str(venv / "bin")
    assert path.endswith(os.environ["PATH"])
    assert has_home == "False"


class Tracked(Script):
    def set_tracking_url(self, url):
        self.__dict__.setdefault("urls", []).append(url)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
@pytest.mark.parametrize("capture", [True, False])
def test_tracking_url_found_in_the_chosen_stream(tmp_path, stream, capture, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    code = f"import sys; print('starting'); print('Job UI at http://ui/42', file=sys.{stream}); print('done')"
    task = Tracked(
        code=code,
        out=str(tmp_path / "o"),
        capture_output=capture,
        stream_for_searching_tracking_url=stream,
        tracking_url_pattern=r"Job UI at (\S+)",
    )
    task.run()
    assert task.urls == ["http://ui/42"]
    if capture:  # the searched stream is still captured and logged
        logged = "\n".join(_messages(caplog))
        assert "Job UI at http://ui/42" in logged


def test_no_tracking_without_a_pattern(tmp_path):
    task = Tracked(
        code="print('Job UI at http://ui/1')", out=str(tmp_path / "o"), stream_for_searching_tracking_url="stdout"
    )
    task.run()
    assert "urls" not in task.__dict__


def test_build_build_tracking_url_rewrites_the_match(tmp_path):
    class Rewritten(Tracked):
        def build_tracking_url(self, logs_output):
            return f"https://tracker/{logs_output}"

    task = Rewritten(
        code="print('id=abc')",
        out=str(tmp_path / "o"),
        stream_for_searching_tracking_url="stdout",
        tracking_url_pattern=r"id=(\w+)",
    )
    task.run()
    assert task.urls == ["https://tracker/abc"]


def test_the_program_is_killed_when_waiting_is_interrupted():
    proc = subprocess.Popen([PY, "-c", "import time; time.sleep(60)"])
    with pytest.raises(KeyboardInterrupt), ExternalProgramRunContext(proc):
        raise KeyboardInterrupt
    assert proc.wait(timeout=10) == -signal.SIGKILL


def test_sigterm_handler_is_restored():
    before = signal.getsignal(signal.SIGTERM)
    proc = subprocess.Popen([PY, "-c", "pass"])
    with ExternalProgramRunContext(proc) as ctx:
        assert signal.getsignal(signal.SIGTERM) == ctx.kill_job
        proc.wait()
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.slow
def test_failure_in_a_worker_process_reports_the_program_output(tmp_path):
    """With worker processes the failed task's error carries the program's stderr back to the driver."""
    good = Script(code="import sys; open(sys.argv[1], 'w').close()", out=str(tmp_path / "good"))
    bad = Script(code="import sys; sys.stderr.write('disk on fire'); sys.exit(2)", out=str(tmp_path / "bad"))
    result = nbpipe.build([good, bad], local_scheduler=True, workers=2, executor="process", detailed_summary=True)
    assert result.status.name == "FAILED" and not result.scheduling_succeeded
    assert (tmp_path / "good").exists() and not (tmp_path / "bad").exists()
    failed = [e for e in result.events if e.kind == "failed"]
    assert [e.task_id for e in failed] == [bad.task_id]
    said = failed[0].reason + str(failed[0].data.get("traceback", ""))
    assert "ExternalProgramRunError" in said and "disk on fire" in said, failed[0]


def test_import_nbpipe_stays_light():
    code = "import sys, nbpipe; print(sorted(m for m in ('sqlalchemy', 's3fs', 'fsspec', 'boto3') if m in sys.modules))"
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
