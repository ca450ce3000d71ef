"""The declared engine options: defaults the engine gets, typed values from every source, one-line errors, docs."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nbpipe
from nbpipe import configuration as config
from nbpipe import options
from nbpipe.configuration import ConfigError, option_value

ROOT = Path(__file__).resolve().parent.parent

# The defaults the engine had before the table existed (then written at the read sites).  Changing one
# changes behaviour: update this list only on purpose.
PREVIOUS_DEFAULTS = {
    "core.state": True,
    "core.state_dir": ".nbpipe",
    "core.state_timeout": 30.0,
    "core.task_locks": True,
    "core.on_locked": "wait",
    "core.lock_poll_interval": 0.2,
    "core.content_hash": False,
    "core.completeness_check_threads": 16,
    "core.fsync_outputs": False,
    "core.workers": 1,
    "core.project_roots": (),
    "scheduler.retry_count": None,
    "scheduler.retry_delay": 0.0,
    "scheduler.disable_window": 3600.0,
    "scheduler.disable_persist": 86400.0,
    "worker.timeout": None,
    "worker.check_unfulfilled_deps": True,
    "dask.address": None,
    "dask.tasks_in_flight_per_worker": 8,
    "dask.connect_timeout": 10.0,
    "retcode.already_running": 10,
    "retcode.missing_data": 20,
    "retcode.not_run": 25,
    "retcode.task_failed": 30,
    "retcode.scheduling_error": 35,
    "retcode.unhandled_exception": 40,
    "execution_summary.summary_length": 5,
}


class Touch(nbpipe.Task):
    name = nbpipe.Parameter(default="a")

    def output(self):
        return nbpipe.LocalTarget(f"out/{self.name}")

    def run(self):
        with self.output().open("w") as f:
            f.write(self.name)


# -- the table ---------------------------------------------------------------------------------------------------


def test_the_table_declares_each_option_once_with_the_previous_defaults():
    declared = {f"{o.section}.{o.name}": o.default for o in options.OPTIONS}
    assert len(declared) == len(options.OPTIONS)
    assert declared == PREVIOUS_DEFAULTS
    for o in options.OPTIONS:
        assert o.description.endswith(".") and "\n" not in o.description, o
        assert o.name == o.name.replace("-", "_").lower(), o
        if o.default is not None:
            assert o.convert(o.default) == o.default, o  # the default is a value of the declared type


def test_retcode_defaults_equal_the_retcodes_class():
    from nbpipe.retcodes import SECTION, RetCodes

    assert {f.name: f.default for f in dataclasses.fields(RetCodes)} == {
        o.name: o.default for o in options.options_in(SECTION)
    }


# -- defaults when unset -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("option", options.OPTIONS, ids=str)
def test_an_unset_option_reads_as_its_declared_default(option):
    assert option_value(option) == option.default
    assert config.get_config().value(option.section, option.name) == option.default


def test_the_engine_gets_the_declared_defaults_when_nothing_is_configured(tmp_path, monkeypatch):
    from nbpipe.engine.events import EventBus
    from nbpipe.engine.run_context import state_dir
    from nbpipe.engine.run_loop import RunLoop
    from nbpipe.executors.dask_executor import _connect_timeout
    from nbpipe.retcodes import RetCodes
    from nbpipe.state.store import open_store

    loop = RunLoop([], None, EventBus(), 1)
    assert (loop.on_locked, loop.lock_poll, loop.disable_persist) == ("wait", 0.2, 86400.0)
    scheduler = loop.scheduler
    assert scheduler.default_retry_count is None
    assert (scheduler.default_retry_delay, scheduler.default_disable_window) == (0.0, 3600.0)
    monkeypatch.delenv("NBPIPE_STATE_DIR")
    assert state_dir() == str(tmp_path / ".nbpipe")
    assert open_store(tmp_path / "store").timeout == 30.0
    assert _connect_timeout() == 10.0
    assert RetCodes.from_config() == RetCodes()


def test_configured_values_reach_the_engine_converted_by_type(tmp_path, monkeypatch):
    from nbpipe.engine.events import EventBus
    from nbpipe.engine.run_loop import RunLoop

    ini = tmp_path / "luigi.cfg"
    ini.write_text(
        "[core]\non-locked = skip\nlock_poll_interval = 0.5\n"
        "[scheduler]\nretry-count = 3\nretry_delay = 1.5\ndisable_window = 60\n"
        "[resources]\ndb = 2\n"
    )
    monkeypatch.setenv("NBPIPE_CONFIG_PATH", str(ini))
    config.reload_config()
    loop = RunLoop([], None, EventBus(), 1)
    assert (loop.on_locked, loop.lock_poll) == ("skip", 0.5)
    assert loop.scheduler.default_retry_count == 3
    assert (loop.scheduler.default_retry_delay, loop.scheduler.default_disable_window) == (1.5, 60.0)
    assert config.get_config().resources() == {"db": 2}


# -- conversion --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("On", True),
        ("1", True),
        ("false", False),
        ("No", False),
        ("off", False),
        ("0", False),
        (" False ", False),
    ],
)
def test_ini_booleans_read_like_configparser(tmp_path, monkeypatch, text, expected):
    ini = tmp_path / "luigi.cfg"
    ini.write_text(f"[core]\ntask_locks = {text}\n")
    monkeypatch.setenv("NBPIPE_CONFIG_PATH", str(ini))
    config.reload_config()
    assert option_value(options.CORE_TASK_LOCKS) is expected


def test_ini_strings_become_the_declared_types(tmp_path, monkeypatch):
    ini = tmp_path / "luigi.cfg"
    ini.write_text(
        "[core]\nstate_timeout = 5\ncompleteness_check_threads = 4\nstate_dir = elsewhere\n"
        "project_roots = /a:/b\n[worker]\ntimeout = 2.5\n[retcode]\ntask_failed = 7\n"
    )
    monkeypatch.setenv("NBPIPE_CONFIG_PATH", str(ini))
    config.reload_config()
    assert option_value(options.CORE_STATE_TIMEOUT) == 5.0
    assert isinstance(option_value(options.CORE_STATE_TIMEOUT), float)
    assert option_value(options.CORE_COMPLETENESS_CHECK_THREADS) == 4
    assert option_value(options.CORE_STATE_DIR) == "elsewhere"
    assert option_value(options.CORE_PROJECT_ROOTS) == ("/a", "/b")
    assert option_value(options.WORKER_TIMEOUT) == 2.5
    assert option_value(options.RETCODE_TASK_FAILED) == 7


def test_an_empty_value_means_the_default(tmp_path, monkeypatch):
    ini = tmp_path / "luigi.cfg"
    ini.write_text("[core]\nstate_dir =\ntask_locks =\n[worker]\ntimeout =\n[resources]\ndb =\n")
    monkeypatch.setenv("NBPIPE_CONFIG_PATH", str(ini))
    config.reload_config()
    assert option_value(options.CORE_STATE_DIR) == ".nbpipe"
    assert option_value(options.CORE_TASK_LOCKS) is True
    assert option_value(options.WORKER_TIMEOUT) is None
    assert config.get_config().resources() == {}


def test_dashes_and_underscores_are_one_name(tmp_path):
    (tmp_path / "nbpipe.toml").write_text("[scheduler]\nretry-count = 2\ndisable_window = 10\n")
    cfg = config.reload_config()
    assert cfg.value("scheduler", "retry_count") == cfg.value("scheduler", "retry-count") == 2
    config.set_option("scheduler", "disable-window", 20)
    assert config.get_config().value("scheduler", "disable_window") == 20.0
    assert option_value(options.SCHEDULER_DISABLE_WINDOW) == 20.0


def test_set_option_overrides_files_and_survives_reload(tmp_path):
    (tmp_path / "nbpipe.toml").write_text("[core]\nstate_timeout = 5\n")
    config.reload_config()
    config.set_option("core", "state_timeout", "7")
    assert option_value(options.CORE_STATE_TIMEOUT) == 7.0
    config.reload_config()
    assert option_value(options.CORE_STATE_TIMEOUT) == 7.0
    config.reload_config(clear_overrides=True)
    assert option_value(options.CORE_STATE_TIMEOUT) == 5.0


# -- one-line errors naming option, value, type and source ------------------------------------------------------


def test_an_ill_typed_toml_value_names_option_value_type_and_file(tmp_path):
    toml = tmp_path / "nbpipe.toml"
    toml.write_text('[core]\ntask_locks = "maybe"\n')
    config.reload_config()
    with pytest.raises(ConfigError) as err:
        option_value(options.CORE_TASK_LOCKS)
    assert str(err.value) == (
        f"[core] task_locks = 'maybe' in {toml}: expected true or false (also yes/no, on/off, "
        f"1/0); fix it in {toml}, or remove it to use the default (true)"
    )


def test_an_ill_typed_toml_value_stops_a_build_before_any_task_runs(tmp_path):
    toml = tmp_path / "nbpipe.toml"
    toml.write_text("[scheduler]\nretry_count = true\n")  # a bool is not a count
    config.reload_config()
    with pytest.raises(ConfigError, match=r"^\[scheduler\] retry_count = True in .*nbpipe.toml: expected an integer;"):
        nbpipe.build([Touch()])
    assert not (tmp_path / "out").exists()


def test_an_ill_typed_ini_value_from_the_config_path_names_that_file(tmp_path, monkeypatch):
    ini = tmp_path / "conf" / "luigi.cfg"
    ini.parent.mkdir()
    ini.write_text("[core]\nlock-poll-interval = often\n")
    monkeypatch.setenv("NBPIPE_CONFIG_PATH", str(ini))
    config.reload_config()
    with pytest.raises(ConfigError) as err:
        nbpipe.build([Touch()])
    message = str(err.value)
    assert message == (
        f"[core] lock_poll_interval = 'often' in {ini}: expected a number; "
        f"fix it in {ini}, or remove it to use the default (0.2)"
    )
    assert "\n" not in message


def test_a_choice_names_its_values(tmp_path):
    (tmp_path / "nbpipe.toml").write_text('[core]\non_locked = "queue"\n')
    config.reload_config()
    with pytest.raises(ConfigError, match=r"\[core\] on_locked = 'queue' in .*: expected 'wait' or 'skip'; "):
        option_value(options.CORE_ON_LOCKED)


def test_set_option_rejects_an_ill_typed_value_at_once_and_keeps_none_of_it():
    with pytest.raises(ConfigError) as err:
        config.set_option("core", "completeness-check-threads", "lots")
    assert str(err.value) == (
        "[core] completeness_check_threads = 'lots' set in code with set_option: expected an "
        "integer; pass set_option() a valid value, or do not set it to use the default (16)"
    )
    assert option_value(options.CORE_COMPLETENESS_CHECK_THREADS) == 16
    assert config.reload_config().get("core", "completeness_check_threads") is None
    with pytest.raises(
        ConfigError,
        match=r"^\[resources\] gpu = 1.5 set in code with set_option: expected an "
        r"integer \(a resource capacity\); .* to give 'gpu' capacity 1$",
    ):
        config.set_option("resources", "gpu", 1.5)
    config.set_option("MyTask", "anything", object())  # task families are checked by their parameters


def test_a_resource_capacity_that_is_not_an_integer_names_resource_and_file(tmp_path):
    toml = tmp_path / "nbpipe.toml"
    toml.write_text('[resources]\ndb = 2\ngpu = "two"\n')
    config.reload_config()
    with pytest.raises(ConfigError) as err:
        config.get_config().resources()
    assert str(err.value) == (
        f"[resources] gpu = 'two' in {toml}: expected an integer (a resource capacity); "
        f"fix it in {toml}, or remove it to give 'gpu' capacity 1"
    )
    with pytest.raises(ConfigError, match="gpu = 'two'"):
        nbpipe.build([Touch()])


def test_a_value_given_to_config_is_named_as_such():
    from nbpipe.retcodes import RetCodes

    with pytest.raises(ConfigError, match=r"^\[retcode\] not_run = 'x' given to Config\(\): expected an integer"):
        RetCodes.from_config(config.Config({"retcode": {"not_run": "x"}}))


# -- undeclared options ------------------------------------------------------------------------------------------


def test_reading_an_undeclared_engine_option_is_a_programming_error():
    cfg = config.get_config()
    with pytest.raises(options.UndeclaredOptionError, match=r"\[core\] task_lock is not declared .*'task_locks'"):
        cfg.value("core", "task_lock")
    with pytest.raises(LookupError, match="not an engine section"):
        cfg.value("MyTask", "param")
    with pytest.raises(LookupError, match=r"Config.resources\(\)"):
        cfg.value("resources", "db")
    impostor = dataclasses.replace(options.CORE_STATE, default=False)
    with pytest.raises(ValueError, match="not the declaration"):
        option_value(impostor)


# -- the generated reference -------------------------------------------------------------------------------------


def test_docs_configuration_md_is_generated_from_the_table():
    from nbpipe.options_docs import REGENERATE, markdown

    committed = (ROOT / "docs" / "CONFIGURATION.md").read_text(encoding="utf-8")
    assert committed == markdown(), f"docs/CONFIGURATION.md is out of date; regenerate it with: {REGENERATE}"
    for o in options.OPTIONS:
        assert f"| `{o.name}` |" in committed


def test_the_generator_entry_point_prints_the_reference():
    from nbpipe.options_docs import markdown

    proc = subprocess.run(
        [sys.executable, "-m", "nbpipe.options_docs", "--markdown"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert (proc.stdout, proc.stderr) == (markdown(), "")
