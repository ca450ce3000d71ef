"""Luigi's ``luigi.setup_logging``: how the command line and the daemon configure logging.

``InterfaceLogging.setup(opts)`` configures logging once per process, from
the first source that applies: ``opts.logging_conf_file`` (a
``logging.config.fileConfig`` file), the ``[logging]`` configuration section
(a ``dictConfig`` dictionary, TOML), or a stream handler at
``opts.log_level`` on the ``luigi-interface`` and ``nbpipe`` loggers.
``[core] no_configure_logging = true`` leaves logging alone.
``DaemonLogging`` is the same for Luigi's daemon (which nbpipe does not
have), with ``--background``/``--logdir`` writing to a file.
"""

from __future__ import annotations

import logging
import logging.config
import os
from typing import Any

from nbpipe.configuration import get_config

__all__ = ["BaseLogging", "DaemonLogging", "InterfaceLogging"]

_DEFAULT_OPTS = type("opts", (), {"background": None, "logdir": None, "logging_conf_file": None, "log_level": "DEBUG"})


def _unfrozen(value: Any) -> Any:
    # dictConfig needs plain dicts and lists (TOML tables may come frozen from parameters).
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: _unfrozen(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_unfrozen(v) for v in value]
    return value


class BaseLogging:
    """Configure logging once: ``_cli``, then ``_conf``, then ``_section``, then ``_default`` (first that applies)."""

    _configured = False
    config = None  # the configuration object to read; None means the current one

    @classmethod
    def _config(cls) -> Any:
        return cls.config if cls.config is not None else get_config()

    @classmethod
    def _section(cls, opts: Any) -> bool:
        """The ``[logging]`` section as a ``dictConfig`` dictionary (only a TOML file can hold one)."""
        config = cls._config()
        if isinstance(config, dict):  # Luigi code may set a plain dictionary as the configuration
            section = config.get("logging")
        elif config.has_section("logging"):
            section = config.section("logging")
        else:
            return False
        if not section or not all(isinstance(v, (dict, list, int)) or hasattr(v, "items") for v in section.values()):
            return False
        logging.config.dictConfig(_unfrozen(section))
        return True

    @classmethod
    def setup(cls, opts: Any = _DEFAULT_OPTS) -> bool:
        """Configure logging from the first source that applies; False when already done or switched off."""
        if cls._configured:
            return False
        cls._configured = True
        if cls._config().getboolean("core", "no_configure_logging", False):
            return False
        for step in (cls._cli, cls._conf, cls._section, cls._default):
            if step(opts):
                return True
        return False

    @classmethod
    def _cli(cls, opts: Any) -> bool:
        return False

    @classmethod
    def _conf(cls, opts: Any) -> bool:
        return False

    @classmethod
    def _default(cls, opts: Any) -> bool:
        return False


class DaemonLogging(BaseLogging):
    """Logging for Luigi's daemon: ``--background`` / ``--logdir`` first, then ``[core] logging_conf_file``."""

    _configured = False
    _log_format = "%(asctime)s %(name)s[%(process)s] %(levelname)s: %(message)s"

    @classmethod
    def _cli(cls, opts: Any) -> bool:
        if getattr(opts, "background", None):
            logging.getLogger().setLevel(logging.INFO)
            return True
        logdir = getattr(opts, "logdir", None)
        if logdir:
            logging.basicConfig(
                level=logging.INFO, format=cls._log_format, filename=os.path.join(logdir, "luigi-server.log")
            )
            return True
        return False

    @classmethod
    def _conf(cls, opts: Any) -> bool:
        return _file_config(cls._config().get("core", "logging_conf_file", None), "[core] logging_conf_file")

    @classmethod
    def _default(cls, opts: Any) -> bool:
        logging.basicConfig(level=logging.INFO, format=cls._log_format)
        return True


class InterfaceLogging(BaseLogging):
    """Logging for the command line and ``build``: ``opts.logging_conf_file``, ``[logging]``, or a stream handler."""

    _configured = False

    @classmethod
    def _conf(cls, opts: Any) -> bool:
        return _file_config(getattr(opts, "logging_conf_file", None), "--logging-conf-file")

    @classmethod
    def _default(cls, opts: Any) -> bool:
        level = getattr(opts, "log_level", None) or "DEBUG"
        handler = logging.StreamHandler()
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        for name in ("luigi-interface", "nbpipe"):
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.addHandler(handler)
        return True


def _file_config(path: str | None, given_by: str) -> bool:
    """Configure logging from the INI file ``path`` (named by ``given_by``); False when there is none."""
    if not path:
        return False
    if not os.path.exists(path):
        raise OSError(f"logging configuration file {path} ({given_by}) does not exist")
    logging.config.fileConfig(path, disable_existing_loggers=False)
    return True
