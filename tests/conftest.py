import os
import sys

import pytest

from nbpipe import configuration as config
from nbpipe.task_register import Register


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Each test: its own working directory, state dir and configuration."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBPIPE_STATE_DIR", str(tmp_path / ".nbpipe"))
    monkeypatch.delenv("NBPIPE_CONFIG_PATH", raising=False)
    config.reload_config(clear_overrides=True)
    Register.clear_instance_cache()
    yield
    monkeypatch.delenv("NBPIPE_CONFIG_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    for name in ("nbpipe.toml", "pyproject.toml"):
        (tmp_path / name).unlink(missing_ok=True)
    config.reload_config(clear_overrides=True)
    Register.clear_instance_cache()


@pytest.fixture
def run_cli(tmp_path):
    """Run ``python -m nbpipe ARGS`` in a subprocess; returns CompletedProcess."""
    import subprocess

    def run(*args, cwd=None, timeout=120, env=None):
        full_env = dict(os.environ)
        full_env["NBPIPE_STATE_DIR"] = str(tmp_path / ".nbpipe")
        full_env["PYTHONPATH"] = os.pathsep.join([str(cwd or tmp_path), full_env.get("PYTHONPATH", "")])
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "nbpipe", *args],
            cwd=cwd or tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
        )

    return run
