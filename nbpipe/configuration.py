"""Configuration: defaults for task parameters and engine settings.

Sources, later ones overriding earlier ones:

1. ``pyproject.toml`` in the working directory, table ``[tool.nbpipe]``;
2. ``luigi.cfg`` then ``luigi.toml``, then ``nbpipe.toml``, in the working directory;
3. files in ``LUIGI_CONFIG_PATH``, then ``NBPIPE_CONFIG_PATH`` (``os.pathsep``-separated;
   ``.toml`` read as TOML, anything else as Luigi's INI with ``${ENV}``
   interpolation), then those given to :func:`add_config_path`;
4. values set in code with :func:`set_option` (notebooks, tests);
5. the ``--Family-param`` values of a command line being run (:func:`command_line_values`).

A section is a task family (``[MyTask]``, ``[examples.Bar]``) or an engine
section (``[core]``, ``[scheduler]``, ``[worker]``, ``[resources]``,
``[retcode]``, ``[dask]``, ``[execution_summary]``).  Option names accept
``-`` and ``_`` interchangeably, as in Luigi.  TOML values keep their type
(``5``, ``true``, ``2024-01-01``); INI values are strings, parsed by the
parameter they feed or converted by the engine option's declared type.

Engine options are declared once, with type, default and meaning, in
:mod:`nbpipe.options`; read them with :func:`option_value` (or
:meth:`Config.value`), which converts by the declared type and falls back on
the declared default.  An ill-typed value raises one :class:`ConfigError`
naming the option, the value, the expected type and where it was set.
``[resources]`` capacities are read with :meth:`Config.resources`.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from nbpipe.exceptions import ConfigError, InterpolationMissingEnvvarError
from nbpipe.options import BOOL, FLOAT, INT, RESOURCES_SECTION, Option, OptionType, UndeclaredOptionError, declared

__all__ = [
    "Config",
    "LuigiConfigParser",
    "LuigiTomlParser",
    "get_config",
    "set_option",
    "add_config_path",
    "reload_config",
    "command_line_values",
    "ConfigError",
    "option_value",
]

ENV_CONFIG_PATH = "NBPIPE_CONFIG_PATH"
ENV_LUIGI_CONFIG_PATH = "LUIGI_CONFIG_PATH"


class _Source(NamedTuple):
    """Where a value was set, for messages: "[core] x = 'y' {where}: expected ...; {fix}, or {drop} ..."."""

    where: str
    fix: str
    drop: str
    # Values read from files were interpolated (INI) or are literal (TOML);
    # only values set in code get ``${ENV}`` / ``%(option)s`` resolved on read.
    from_file: bool = False


def _file_source(path: Path) -> _Source:
    return _Source(f"in {path}", f"fix it in {path}", "remove it", from_file=True)


_SET_OPTION = _Source("set in code with set_option", "pass set_option() a valid value", "do not set it")
_GIVEN_TO_CONFIG = _Source("given to Config()", "pass Config() a valid value", "leave it out")
_UNSET = _Source("", "", "remove it")


def _load_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or remove it") from None


class _EnvironmentInterpolation(configparser.BasicInterpolation):
    """Luigi's INI interpolation: ``${NAME}`` is the environment variable NAME, then ``%(option)s`` as usual."""

    def before_get(self, parser, section, option, value, defaults):
        value = re.sub(r"\$\{([^}]+)\}", lambda m: os.environ.get(m[1], m[0]), value)
        return super().before_get(parser, section, option, value, defaults)


def _load_ini(path: Path) -> dict:
    parser = configparser.ConfigParser(interpolation=_EnvironmentInterpolation())
    # Keep the case of task parameter names: configparser's documented way is
    # to replace optionxform on the instance, which typeshed types as a method.
    parser.optionxform = str  # type: ignore[method-assign,assignment]
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


# ``${NAME}`` (group 1) or ``%(option)s`` (group 2) in a value set in code.
_REFERENCE = re.compile(r"\$\{([^}]+)\}|%\(([^)]+)\)s")


class Config:
    """An immutable-by-convention snapshot of the merged configuration.

    ``version`` changes whenever the content changes, so callers may cache
    values derived from it (task classes cache their parameter defaults).
    Each value remembers where it was set (a file, ``set_option``), so an
    error about it can say where to fix it.
    """

    def __init__(self, sections: dict[str, dict[str, Any]] | None = None, files: list[Path] | None = None):
        self._sections: dict[str, dict[str, Any]] = {}
        self._sources: dict[tuple[str, str], _Source] = {}
        # Options whose value was given spelled with a dash: an underscore spelling
        # of the same option from the same source wins, whatever the order (Luigi's rule).
        self._dashed: set[tuple[str, str]] = set()
        self.files: list[Path] = list(files or [])
        self.version = 0
        for section, options in (sections or {}).items():
            for option, value in options.items():
                self._set(section, option, value, _GIVEN_TO_CONFIG)

    def _set(self, section: str, option: str, value: Any, source: _Source = _SET_OPTION) -> None:
        name = _normalise_option(option)
        key = (section, name)
        if name != option:
            # Within one source an underscore spelling wins; a later source still overrides.
            if key not in self._dashed and self._sources.get(key) == source:
                return
            self._dashed.add(key)
        else:
            self._dashed.discard(key)
        self._sections.setdefault(section, {})[name] = value
        self._sources[(section, name)] = source
        self.version += 1
        _bump_generation()

    def get(self, section: str, option: str, default: Any = None) -> Any:
        """The raw value of ``option`` in ``section``, or ``default``.

        Values of the command line being parsed or run (:func:`command_line_values`)
        come first, whichever configuration object is current, as Luigi's
        command line overrides its configuration files.
        """
        if _command_line:
            for layer in reversed(_command_line):
                value = layer.get(section, {}).get(_normalise_option(option))
                if value is not None:
                    return value
        opts = self._sections.get(section)
        if opts is None:
            return default
        name = _normalise_option(option)
        value = opts.get(name, default)
        if isinstance(value, str) and ("%(" in value or "${" in value) and value is not default:
            if not self._sources.get((section, name), _UNSET).from_file:
                return self._interpolate(section, option, value, 1)
        return value

    def _interpolate(self, section: str, option: str, value: str, depth: int) -> str:
        """``value`` with ``${NAME}`` replaced by the environment variable and ``%(other)s`` by
        that option of ``section`` (itself interpolated), as Luigi's INI parser reads values."""
        if depth > configparser.MAX_INTERPOLATION_DEPTH:
            raise configparser.InterpolationDepthError(option, section, value)

        def resolve(match: re.Match) -> str:
            if match[1] is not None:
                env = os.environ.get(match[1])
                if env is None:
                    raise InterpolationMissingEnvvarError(option, section, value, match[1])
                return env
            ref = self._sections.get(section, {}).get(_normalise_option(match[2]))
            if ref is None:
                raise configparser.InterpolationMissingOptionError(option, section, value, match[2])
            return self._interpolate(section, match[2], str(ref), depth + 1)

        return _REFERENCE.sub(resolve, value)

    def write(self, fp: Any) -> None:
        """Write the merged configuration as INI text to the file object ``fp`` (Luigi's ``ConfigParser.write``)."""
        for section, options in self._sections.items():
            fp.write(f"[{section}]\n")
            for option, value in options.items():
                fp.write(f"{option} = {value}\n")
            fp.write("\n")

    def source_of(self, section: str, option: str) -> str:
        """Where ``[section] option`` was set, for messages: "in FILE", "set in code with set_option", or ""."""
        return self._sources.get((section, _normalise_option(option)), _UNSET).where

    # -- declared engine options ------------------------------------------------------------------------------

    def value(self, section: str, option: str) -> Any:
        """The typed value of the declared engine option ``[section] option``, or its declared default.

        Raises :class:`~nbpipe.options.UndeclaredOptionError` for an option
        :data:`nbpipe.options.OPTIONS` does not declare, and
        :class:`ConfigError` for an ill-typed value.
        """
        return self.option_value(declared(section, option))

    def option_value(self, option: Option) -> Any:
        """The typed value of ``option`` (a declaration from :mod:`nbpipe.options`), or its default."""
        if declared(option.section, option.name) is not option:
            raise ValueError(f"{option} is not the declaration in nbpipe.options.OPTIONS")
        return self._convert(option.section, option.name, option.type, option.default)

    def resources(self) -> dict[str, int]:
        """The ``[resources]`` capacities, each an integer; ConfigError names a capacity that is not."""
        out = {}
        for name in self._sections.get(RESOURCES_SECTION, {}):
            value = self._convert(RESOURCES_SECTION, name, INT, None, what="a resource capacity")
            if value is not None:  # an empty value: the resource keeps the default capacity, 1
                out[name] = value
        return out

    def _convert(self, section: str, option: str, kind: OptionType, default: Any, what: str = "") -> Any:
        # An empty value (`timeout =` in an INI file) means the default, as an unset one does.
        raw = self.get(section, option)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return default
        try:
            return kind.convert(raw)
        except (TypeError, ValueError):
            source = self._sources.get((section, _normalise_option(option)), _UNSET)
            raise _invalid(section, option, raw, kind, default, source, what) from None

    # Luigi's LuigiConfigParser names, for code that reads its own settings.
    def set(self, section: str, option: str, value: Any) -> None:
        """Set an option: in the process-wide configuration, as :func:`set_option` (kept across reloads);
        in another object (one made by ``LuigiConfigParser()``), in that object only."""
        if self is _current():
            set_option(section, option, value)
        else:
            _check_set_value(section, option, value)
            self._set(section, option, value)

    def add_section(self, section: str) -> None:
        self._sections.setdefault(section, {})

    def sections(self) -> list[str]:
        return list(self._sections)

    def items(self, section: str) -> list[tuple[str, Any]]:
        return list(self._sections.get(section, {}).items())

    def remove_section(self, section: str) -> bool:
        had = self._sections.pop(section, None) is not None
        self.version += 1
        _bump_generation()
        return had

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

    # Free-form typed reads (a task's own settings, Luigi code).  Engine code reads declared
    # options with value()/option_value() instead, so that no default is repeated at a call site.
    def get_float(self, section: str, option: str, default: float | None) -> float:
        return self._free_form(section, option, FLOAT, default)

    def get_int(self, section: str, option: str, default: int | None) -> int:
        return self._free_form(section, option, INT, default)

    def get_bool(self, section: str, option: str, default: bool | None) -> bool:
        return self._free_form(section, option, BOOL, default)

    def _free_form(self, section: str, option: str, kind: OptionType, default: Any) -> Any:
        raw = self.get(section, option)
        if isinstance(raw, str) and not raw.strip():
            raw = None  # empty means the default, as for declared options
        if raw is None and default is None:
            where = ", ".join(str(p) for p in self.files) or "no configuration file"
            raise ConfigError(
                f"[{section}] {option} is not set and has no default (read: {where}); set it to {kind.expected}"
            )
        if raw is None:
            return kind.convert(default)  # the caller's own default; a wrong one is a bug, not a config error
        try:
            return kind.convert(raw)
        except (TypeError, ValueError):
            source = self._sources.get((section, _normalise_option(option)), _UNSET)
            raise _invalid(section, option, raw, kind, default, source) from None


def _invalid(
    section: str, option: str, raw: Any, kind: OptionType, default: Any, source: _Source, what: str = ""
) -> ConfigError:
    """The one-line error for an ill-typed value: option, value, expected type, where it was set, the fix."""
    where = f" {source.where}" if source.where else ""
    expected = f"{kind.expected} ({what})" if what else kind.expected
    if section == RESOURCES_SECTION:
        fallback = f"or {source.drop} to give {option!r} capacity 1"
    elif default is None:
        fallback = f"or {source.drop} to leave it unset"
    else:
        fallback = f"or {source.drop} to use the default ({_shown(default)})"
    fix = f"{source.fix}, {fallback}" if source.fix else fallback
    return ConfigError(f"[{section}] {option} = {raw!r}{where}: expected {expected}; {fix}")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def option_value(option: Option) -> Any:
    """The typed value of a declared engine option in the process-wide configuration.

    ``option`` is a declaration from :mod:`nbpipe.options` (``CORE_STATE``,
    ...); the value is converted by its type, and is its default when unset
    or empty.  Raises :class:`ConfigError` for an ill-typed value.
    """
    return get_config().option_value(option)


def _read_files(cwd: Path, cls: type[Config] | None = None) -> Config:
    cfg = (cls or LuigiConfigParser)()

    def merge(new: dict[str, dict[str, Any]], path: Path) -> None:
        source = _file_source(path)
        for sec, opts in new.items():
            for option, value in opts.items():
                cfg._set(sec, option, value, source)
        cfg.files.append(path)

    def read(path: Path) -> None:
        merge(_flatten_sections(_load_toml(path)) if path.suffix == ".toml" else _load_ini(path), path)

    pyproject = cwd / "pyproject.toml"
    if pyproject.is_file():
        tool = _load_toml(pyproject).get("tool", {}).get("nbpipe")
        if isinstance(tool, dict):
            merge(_flatten_sections(tool), pyproject)
    # Luigi's files where Luigi reads them, before nbpipe's own (which win).
    for name in ("luigi.cfg", "luigi.toml", "nbpipe.toml"):
        if (cwd / name).is_file():
            read(cwd / name)
    for variable in (ENV_LUIGI_CONFIG_PATH, ENV_CONFIG_PATH):
        for entry in filter(None, os.environ.get(variable, "").split(os.pathsep)):
            path = Path(entry)
            if not path.is_file():
                raise ConfigError(f"{variable} names {path}, which is not a file")
            read(path)
    for path in _added_paths:
        if path.is_file():  # Luigi skips an added path that does not exist
            read(path)
    return cfg


_lock = threading.RLock()
_overrides: list[tuple[str, str, Any]] = []
_added_paths: list[Path] = []
# Values of command lines being parsed or run (innermost last): see command_line_values().
_command_line: list[dict[str, dict[str, Any]]] = []


class LuigiConfigParser(Config):
    """Luigi's name for the configuration object; ``LuigiConfigParser.instance()`` is :func:`get_config`.

    ``LuigiConfigParser()`` makes an empty configuration; assigning it to
    ``LuigiConfigParser._instance`` makes it the process-wide one until it is
    assigned back (Luigi's test helper ``with_config`` does that).
    """

    _instance: Config | None = None
    enabled = True

    @classmethod
    def instance(cls) -> Config:
        return get_config()

    @classmethod
    def add_config_path(cls, path: str) -> None:
        add_config_path(path)

    @classmethod
    def reload(cls) -> Config:
        return reload_config()


class LuigiTomlParser(LuigiConfigParser):
    """Luigi's TOML configuration parser: here the same merged configuration (TOML values keep their type)."""

    _instance: Config | None = None

    @property
    def data(self) -> dict[str, dict[str, Any]]:
        """The sections and their options (Luigi's TOML parser keeps its file's table here)."""
        return self._sections

    @data.setter
    def data(self, sections: dict[str, dict[str, Any]]) -> None:
        """Replace every section (Luigi's tests and logging setup assign a TOML table here)."""
        self._sections, self._sources, self._dashed = {section: {} for section in sections}, {}, set()
        for section, options in sections.items():
            for option, value in options.items():
                self._set(section, option, value, _GIVEN_TO_CONFIG)
        self.version += 1  # also when the new table is empty
        _bump_generation()


def _current() -> Config | None:
    return LuigiConfigParser._instance


def add_config_path(path: str) -> None:
    """Read one more configuration file (INI, or TOML by its ``.toml`` suffix) after the others, as Luigi's does."""
    if str(path).endswith(".toml") and not LuigiTomlParser.enabled:
        raise ImportError("the TOML configuration parser is disabled (LuigiTomlParser.enabled is False)")
    with _lock:
        _added_paths.append(Path(path))
    reload_config()


def get_config(parser: str | None = None) -> Config:
    """The process-wide configuration, read from disk on first use.

    ``parser`` is Luigi's ("cfg" or "toml"): the same merged configuration ("toml": a :class:`LuigiTomlParser`).
    """
    if parser is None:
        # Luigi's switch: LUIGI_CONFIG_PARSER=toml makes the default object a LuigiTomlParser.
        parser = os.environ.get("LUIGI_CONFIG_PARSER")
    if parser == "toml" and not LuigiTomlParser.enabled:
        raise ImportError("the TOML configuration parser is disabled (LuigiTomlParser.enabled is False)")
    cfg = LuigiConfigParser._instance
    if cfg is None or (parser == "toml" and not isinstance(cfg, LuigiTomlParser)):
        with _lock:
            cfg = LuigiConfigParser._instance
            if cfg is None or (parser == "toml" and not isinstance(cfg, LuigiTomlParser)):
                cfg = _read_files(Path.cwd(), LuigiTomlParser if parser == "toml" else LuigiConfigParser)
                for section, option, value in _overrides:
                    cfg._set(section, option, value)
                LuigiConfigParser._instance = cfg
                if isinstance(cfg, LuigiTomlParser):
                    LuigiTomlParser._instance = cfg
                _bump_generation()
    return cfg


@contextlib.contextmanager
def command_line_values(values: dict[str, dict[str, Any]]) -> Iterator[None]:
    """Make ``{section: {option: text}}`` (``--Family-param`` values) the first source while the block runs.

    They override every file and :func:`set_option`, whichever configuration
    object is current, and are gone after the block, so one command line's
    values never leak into the next.  :func:`command_line_layers` lists them
    (for shipping to worker processes).
    """
    layer = {sec: {_normalise_option(k): v for k, v in opts.items()} for sec, opts in values.items()}
    _command_line.append(layer)
    _bump_generation()
    try:
        yield
    finally:
        _command_line.remove(layer)
        _bump_generation()


def command_line_layers() -> list[dict[str, dict[str, Any]]]:
    """The command-line values in force (outermost first); see :func:`command_line_values`."""
    return [dict(layer) for layer in _command_line]


def set_option(section: str, option: str, value: Any) -> None:
    """Set ``[section] option = value`` for this process (kept across reloads).

    A value for a declared engine option or a ``[resources]`` capacity is
    checked here, so an ill-typed one raises :class:`ConfigError` at the
    call that set it (and is not kept); task-family values are checked by
    the parameter that reads them.
    """
    _check_set_value(section, option, value)
    with _lock:
        _overrides.append((section, option, value))
    get_config()._set(section, option, value)


def _check_set_value(section: str, option: str, value: Any) -> None:
    """Raise ConfigError if ``value`` cannot be a declared engine option's or a resource capacity's value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return
    if section == RESOURCES_SECTION:
        kind, default, what = INT, None, "a resource capacity"
    else:
        try:
            declaration = declared(section, option)
        except UndeclaredOptionError:
            return  # a task family's section, or an engine option nbpipe does not read (Luigi's)
        kind, default, what = declaration.type, declaration.default, ""
        option = declaration.name  # the spelling the documentation uses
    try:
        kind.convert(value)
    except (TypeError, ValueError):
        raise _invalid(section, option, value, kind, default, _SET_OPTION, what) from None


@contextlib.contextmanager
def scoped_overrides() -> Iterator[None]:
    """Undo on exit every :func:`set_option` made inside the block (values given to one command are for it only)."""
    with _lock:
        before = list(_overrides)
    try:
        yield
    finally:
        with _lock:
            changed = _overrides != before
            _overrides[:] = before
        if changed:
            reload_config()


def reload_config(clear_overrides: bool = False) -> Config:
    """Forget the cached configuration; the next :func:`get_config` rereads the files."""
    with _lock:
        if clear_overrides:
            _overrides.clear()
        LuigiConfigParser._instance = None
        LuigiTomlParser._instance = None
    _bump_generation()
    return get_config()


# A counter that changes whenever any configuration may have changed; cheap to
# compare on hot paths (task instantiation caches parameter defaults by it).
generation = 0


def _bump_generation() -> None:
    global generation
    generation += 1


# Luigi's ``luigi.configuration`` is a package; code imports its error from
# ``luigi.configuration.cfg_parser``.  As ``os.path`` is, that submodule is a
# module object registered under its dotted name, holding Luigi's names.
cfg_parser = types.ModuleType(f"{__name__}.cfg_parser", "Luigi's luigi.configuration.cfg_parser names.")
cfg_parser.LuigiConfigParser = LuigiConfigParser  # type: ignore[attr-defined]
cfg_parser.InterpolationMissingEnvvarError = InterpolationMissingEnvvarError  # type: ignore[attr-defined]
cfg_parser.get_config = get_config  # type: ignore[attr-defined]
sys.modules[cfg_parser.__name__] = cfg_parser
