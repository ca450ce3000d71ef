"""Configuration files and the Luigi-style accessors."""

import pytest

from nbpipe import configuration as config


def test_later_sources_override_earlier_ones(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.nbpipe.scheduler]\nretry_count = 1\nretry_delay = 2\n")
    (tmp_path / "nbpipe.toml").write_text("[scheduler]\nretry_count = 5\n")
    extra = tmp_path / "extra.cfg"
    extra.write_text("[scheduler]\nretry-delay = 9\n")
    monkeypatch.setenv("NBPIPE_CONFIG_PATH", str(extra))
    cfg = config.reload_config()
    assert cfg.get_int("scheduler", "retry_count", 0) == 5
    assert cfg.get_float("scheduler", "retry_delay", 0) == 9.0  # dashes and underscores are one
    assert [p.name for p in cfg.files] == ["pyproject.toml", "nbpipe.toml", "extra.cfg"]


def test_set_option_survives_reload_until_cleared():
    config.set_option("core", "workers", 3)
    assert config.reload_config().get_int("core", "workers", 1) == 3
    assert config.reload_config(clear_overrides=True).get("core", "workers") is None


def test_luigi_style_accessors():
    cfg = config.get_config()
    cfg.set("mysection", "flag", "true")
    cfg.set("mysection", "n", "4")
    assert config.get_config().getboolean("mysection", "flag") is True
    assert config.get_config().getint("mysection", "n") == 4
    assert config.get_config().has_option("mysection", "n")
    assert not config.get_config().has_option("mysection", "m")


def test_bad_files_and_values_give_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "nbpipe.toml").write_text("[scheduler\nretry_count = ")
    with pytest.raises(config.ConfigError, match="nbpipe.toml: not valid TOML"):
        config.reload_config()
    (tmp_path / "nbpipe.toml").write_text("[scheduler]\nretry_count = 'many'\n")
    with pytest.raises(config.ConfigError) as err:
        config.reload_config().get_int("scheduler", "retry_count", 0)
    toml = tmp_path / "nbpipe.toml"
    assert str(err.value) == (
        f"[scheduler] retry_count = 'many' in {toml}: expected an integer; "
        f"fix it in {toml}, or remove it to use the default (0)"
    )
    (tmp_path / "nbpipe.toml").unlink()
    monkeypatch.setenv("NBPIPE_CONFIG_PATH", str(tmp_path / "nope.toml"))
    with pytest.raises(config.ConfigError, match="NBPIPE_CONFIG_PATH names .*nope.toml, which is not a file"):
        config.reload_config()


def test_free_form_reads_name_a_missing_option_instead_of_none():
    with pytest.raises(config.ConfigError) as err:
        config.get_config().getint("core", "missing")
    assert str(err.value) == (
        "[core] missing is not set and has no default (read: no configuration file); set it to an integer"
    )
    assert config.get_config().get_float("mysection", "x", 1) == 1.0


def test_every_value_remembers_where_it_was_set(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.nbpipe.scheduler]\nretry_count = 1\nretry_delay = 2\n")
    ini = tmp_path / "luigi.cfg"
    ini.write_text("[scheduler]\nretry-delay = 9\n")
    monkeypatch.setenv("NBPIPE_CONFIG_PATH", str(ini))
    cfg = config.reload_config()
    assert cfg.source_of("scheduler", "retry_count") == f"in {tmp_path / 'pyproject.toml'}"
    assert cfg.source_of("scheduler", "retry-delay") == f"in {ini}"  # the later file wins, and is named
    config.set_option("scheduler", "retry_delay", 1)
    assert config.get_config().source_of("scheduler", "retry_delay") == "set in code with set_option"
    assert config.reload_config().source_of("scheduler", "retry_delay") == "set in code with set_option"
    assert cfg.source_of("scheduler", "unset") == ""
    assert config.Config({"retcode": {"not_run": 1}}).source_of("retcode", "not_run") == "given to Config()"


# -- Luigi's INI behaviours for values set in code (luigi.configuration.cfg_parser) ------------------------------


def test_values_set_in_code_interpolate_environment_and_options(monkeypatch):
    monkeypatch.setenv("NBPIPE_TEST_VAR", "1")
    cfg = config.get_config()
    cfg.set("t", "a", "${NBPIPE_TEST_VAR}")
    cfg.set("t", "b", "%(a)s and ${NBPIPE_TEST_VAR}")
    cfg.set("t", "missing", "${NBPIPE_TEST_UNSET_VAR}")
    cfg.set("t", "plain", "%Y-%m")  # no reference: read as written
    assert cfg.get("t", "b") == "1 and 1"
    assert cfg.getint("t", "a") == 1
    assert cfg.get("t", "plain") == "%Y-%m"
    from nbpipe.configuration.cfg_parser import InterpolationMissingEnvvarError

    with pytest.raises(InterpolationMissingEnvvarError, match="NBPIPE_TEST_UNSET_VAR"):
        cfg.get("t", "missing")


def test_file_values_are_not_interpolated_twice(tmp_path, monkeypatch):
    (tmp_path / "luigi.cfg").write_text("[t]\nfmt = %%(name)s\n")
    assert config.reload_config().get("t", "fmt") == "%(name)s"


def test_underscore_spelling_wins_within_one_source_later_sources_still_override(tmp_path):
    cfg = config.get_config()
    cfg.set("t", "foo_bar", "underscore")
    cfg.set("t", "foo-bar", "dash")
    assert cfg.get("t", "foo-bar") == cfg.get("t", "foo_bar") == "underscore"
    (tmp_path / "luigi.cfg").write_text("[t]\nbaz_qux = file\n")
    config.reload_config(clear_overrides=True)
    config.set_option("t", "baz-qux", "code")
    assert config.get_config().get("t", "baz_qux") == "code"


def test_luigi_config_parser_switch_write_and_data(monkeypatch):
    import io

    monkeypatch.setenv("LUIGI_CONFIG_PARSER", "toml")
    cfg = config.get_config()
    assert isinstance(cfg, config.LuigiTomlParser)
    cfg.data = {"core": {"x": 1}}
    assert cfg.data == {"core": {"x": 1}} and cfg.get("core", "x") == 1
    out = io.StringIO()
    cfg.write(out)
    assert out.getvalue() == "[core]\nx = 1\n\n"
