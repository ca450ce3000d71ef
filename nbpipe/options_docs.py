"""``docs/CONFIGURATION.md``, generated from the option table of :mod:`nbpipe.options`.

Regenerate it after changing the table (a test compares the committed file)::

    PYTHONPATH=. python -m nbpipe.options_docs --markdown > docs/CONFIGURATION.md

The entry point lives in its own module, one that ``import nbpipe`` does not
load, so ``python -m`` runs it without importing a second copy of it.
"""

from __future__ import annotations

import sys

from nbpipe.options import ENGINE_SECTIONS, RESOURCES_SECTION, Option, options_in

__all__ = ["markdown", "REGENERATE", "main"]

REGENERATE = "PYTHONPATH=. python -m nbpipe.options_docs --markdown > docs/CONFIGURATION.md"

# Written for any platform: the generated file must not depend on where it was generated.
_INTRO = f"""\
# Configuration

<!-- Generated from nbpipe/options.py by nbpipe/options_docs.py; do not edit. Regenerate with:
     {REGENERATE} -->

nbpipe reads its configuration from these sources; a later one overrides an
earlier one, option by option:

1. `pyproject.toml` in the working directory, table `[tool.nbpipe]`
   (`[tool.nbpipe.core]`, `[tool.nbpipe.MyTask]`, ...);
2. Luigi's files in the working directory, `luigi.cfg` (INI, with Luigi's
   `${{ENV_VAR}}` and `%(option)s` interpolation) then `luigi.toml`;
3. `nbpipe.toml` in the working directory (top-level tables);
4. every file named in `LUIGI_CONFIG_PATH`, then in `NBPIPE_CONFIG_PATH`
   (separated by `:`, `;` on Windows), in order: `.toml` files are read as
   TOML, anything else as a Luigi-style INI file, so an existing Luigi
   configuration is reused as is; then files added with
   `nbpipe.configuration.add_config_path(path)`;
5. values set in code with `nbpipe.configuration.set_option(section, option,
   value)` (notebooks, tests); they survive `reload_config()`;
6. while `nbpipe.run(argv)` (Luigi's `luigi.run`) runs, its `--Family-param`
   values, which override everything above for that run only.

Option names accept `-` and `_` interchangeably, as in Luigi (`retry-delay`
is `retry_delay`).  A TOML value must have the option's type (a number may
also be written as a string); an INI value is a string and is converted by
the type (a bool accepts true/false, yes/no, on/off and 1/0, in any case).
An empty value (`timeout =`) means the default.  An ill-typed value stops
the run with one error naming the option, the value, the expected type and
the file it came from (`set_option` rejects one at once).
"""

_RESOURCES = """
## [resources]

Free-form: each option is a resource name, its value an integer capacity:
the most units of that resource the tasks running at once may hold (a task
declares `resources = {"db": 1}`).  A resource not listed has capacity 1.
"""

_TASK_FAMILIES = """
## Task families

Every other section is a task family: `[MyTask] param = value` (or
`[examples.MyTask]`, the family with its namespace) sets the default of that
task's parameter, parsed by the parameter itself, as in Luigi.
"""


def _shown_default(option: Option) -> str:
    value = option.default
    if value is None or value == ():
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value!r}`"


def markdown() -> str:
    """The text of ``docs/CONFIGURATION.md``: the intro, a table per engine section, the free-form sections."""
    parts = [_INTRO]
    for section in ENGINE_SECTIONS:
        if section == RESOURCES_SECTION:
            parts.append(_RESOURCES)
            continue
        parts.append(f"\n## [{section}]\n\n| option | type | default | meaning |\n|---|---|---|---|\n")
        for o in options_in(section):
            meaning = o.description.replace("|", "\\|")
            parts.append(f"| `{o.name}` | {o.type.name} | {_shown_default(o)} | {meaning} |\n")
    parts.append(_TASK_FAMILIES)
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    """``python -m nbpipe.options_docs --markdown``: print docs/CONFIGURATION.md to stdout."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["--markdown"]:
        print(f"usage: python -m nbpipe.options_docs --markdown\n  regenerate the docs: {REGENERATE}", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
