"""Configuration: defaults for task parameters and engine settings.

Sources, later ones overriding earlier ones:

1. ``pyproject.toml`` in the working directory, table ``[tool.nbpipe]``;
2. ``nbpipe.toml`` in the working directory (top-level tables);
3. every file named in ``NBPIPE_CONFIG_PATH`` (``os.pathsep``-separated);
   ``.toml`` files are read as TOML, anything else as Luigi-style INI
   (``luigi.cfg``), so an existing Luigi configuration can be reused as is;
4. values set in code with :func:`set_option` (notebooks, tests).

A section is a task family (``[MyTask]``, ``[examples.Bar]``) or an engine
section (``[core]``, ``[scheduler]``, ``[resources]``, ``[retcode]``,
``[worker]``).  Option names accept ``-`` and ``_`` interchangeably, as in
Luigi.  TOML values keep their type (``5``, ``true``, ``2024-01-01``); INI
values are strings and are parsed by the parameter they feed.
"""

from __future__ import annotations

import configparser
import os
import threading
from pathlib import Path
from typing import Any

__all__ = ["Config", "get_config", "set_option", "reload_config", "ConfigError"]

ENV_CONFIG_PATH = "NBPIPE_CONFIG_PATH"


class ConfigError(ValueError):
    """A configuration file is unreadable or malformed."""


def _load_toml(path: Path) -> dict:
    try:
        import tomllib  # type: ignore[import-not-found]
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or remove it") from None


def _load_ini(path: Path) -> dict:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep the case of task parameter names
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a valid INI file ({exc})") from None
    return {section: dict(parser.items(section)) for section in parser.sections()}


def _flatten_sections(table: dict, prefix: str = "") -> dict[str, dict[str, Any]]:
    """Turn nested TOML tables into dotted section names.

    ``[examples.Bar]`` in TOML is the table ``examples`` holding ``Bar``; a
    Luigi user means the section ``examples.Bar``.  A table holding at least
    one non-table value is a section; its sub-tables are sections too.
    """
    sections: dict[str, dict[str, Any]] = {}
    options = {k: v for k, v in table.items() if not isinstance(v, dict)}
    if prefix and options:
        sections[prefix] = options
    for key, value in table.items():
        if isinstance(value, dict):
            name = f"{prefix}.{key}" if prefix else key
            for sec, opts in _flatten_sections(value, name).items():
                sections.setdefault(sec, {}).update(opts)
    return sections


def _normalise_option(name: str) -> str:
    return name.replace("-", "_")


class Config:
    """An immutable-by-convention snapshot of the merged configuration.

    ``version`` changes whenever the content changes, so callers may cache
    values derived from it (task classes cache their parameter defaults).
    """

    def __init__(self, sections: dict[str, dict[str, Any]] | None = None, files: list[Path] | None = None):
        self._sections: dict[str, dict[str, Any]] = {}
        self.files: list[Path] = list(files or [])
        self.version = 0
        for section, options in (sections or {}).items():
            for option, value in options.items():
                self._set(section, option, value)

    def _set(self, section: str, option: str, value: Any) -> None:
        self._sections.setdefault(section, {})[_normalise_option(option)] = value
        self.version += 1

    def get(self, section: str, option: str, default: Any = None) -> Any:
        """The raw value of ``option`` in ``section``, or ``default``."""
        opts = self._sections.get(section)
        if opts is None:
            return default
        return opts.get(_normalise_option(option), default)

    # Luigi's LuigiConfigParser names, for code that reads its own settings.
    def set(self, section: str, option: str, value: Any) -> None:
        """Set an option for this process (same as :func:`set_option`)."""
        set_option(section, option, value)

    def has_option(self, section: str, option: str) -> bool:
        return self.get(section, option) is not None

    def getint(self, section: str, option: str, default: int | None = None) -> int:
        return self.get_int(section, option, default)

    def getfloat(self, section: str, option: str, default: float | None = None) -> float:
        return self.get_float(section, option, default)

    def getboolean(self, section: str, option: str, default: bool | None = None) -> bool:
        return self.get_bool(section, option, default)

    def has_section(self, section: str) -> bool:
        return section in self._sections

    def section(self, section: str) -> dict[str, Any]:
        """A copy of the options of ``section`` (empty when absent)."""
        return dict(self._sections.get(section, {}))

    def get_float(self, section: str, option: str, default: float) -> float:
        value = self.get(section, option, default)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"[{section}] {option} = {value!r}: expected a number") from None

    def get_int(self, section: str, option: str, default: int) -> int:
        value = self.get(section, option, default)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"[{section}] {option} = {value!r}: expected an integer") from None

    def get_bool(self, section: str, option: str, default: bool) -> bool:
        value = self.get(section, option, default)
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"[{section}] {option} = {value!r}: expected true or false")


def _read_files(cwd: Path) -> Config:
    sections: dict[str, dict[str, Any]] = {}
    files: list[Path] = []

    def merge(new: dict[str, dict[str, Any]]) -> None:
        for sec, opts in new.items():
            sections.setdefault(sec, {}).update({_normalise_option(k): v for k, v in opts.items()})

    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        tool = _load_toml(pyproject).get("tool", {}).get("nbpipe")
        if isinstance(tool, dict):
            merge(_flatten_sections(tool))
            files.append(pyproject)
    own = cwd / "nbpipe.toml"
    if own.is_file():
        merge(_flatten_sections(_load_toml(own)))
        files.append(own)
    for entry in filter(None, os.environ.get(ENV_CONFIG_PATH, "").split(os.pathsep)):
        path = Path(entry)
        if not path.is_file():
            raise ConfigError(f"{ENV_CONFIG_PATH} names {path}, which is not a file")
        merge(_flatten_sections(_load_toml(path)) if path.suffix == ".toml" else _load_ini(path))
        files.append(path)
    return Config(sections, files)


_lock = threading.Lock()
_config: Config | None = None
_overrides: list[tuple[str, str, Any]] = []


def get_config() -> Config:
    """The process-wide configuration, read from disk on first use."""
    global _config
    cfg = _config
    if cfg is None:
        with _lock:
            if _config is None:
                cfg = _read_files(Path.cwd())
                for section, option, value in _overrides:
                    cfg._set(section, option, value)
                _config = cfg
            cfg = _config
    return cfg


def set_option(section: str, option: str, value: Any) -> None:
    """Set ``[section] option = value`` for this process (kept across reloads)."""
    with _lock:
        _overrides.append((section, option, value))
    get_config()._set(section, option, value)
    _bump_generation()


def reload_config(clear_overrides: bool = False) -> Config:
    """Forget the cached configuration; the next :func:`get_config` rereads the files."""
    global _config
    with _lock:
        if clear_overrides:
            _overrides.clear()
        _config = None
    _bump_generation()
    return get_config()


# A counter that changes whenever any configuration may have changed; cheap to
# compare on hot paths (task instantiation caches parameter defaults by it).
generation = 0


def _bump_generation() -> None:
    global generation
    generation += 1
