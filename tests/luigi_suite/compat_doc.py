"""Writes ``docs/LUIGI_COMPAT.md`` from the harness's counts (see run_luigi_suite.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from known_failures import OUT_OF_SCOPE, reason_for

_HEAD = """# Luigi compatibility, measured by Luigi's own tests

nbpipe promises that code written for Luigi's core API runs with
`import nbpipe as luigi`.  The measure is Luigi {version}'s own test suite
(the `test/` folder of its source distribution), run with `luigi` aliased to
nbpipe: `sys.modules["luigi"]` is nbpipe and every `luigi.X` is `nbpipe.X`
(`ModuleNotFoundError` when nbpipe has no such module), in the pytest
process and in every process a test starts (nbpipe's worker processes,
`bin/luigi`, `python -m luigi`, Luigi's scripts), through a
`sitecustomize` the harness puts on `PYTHONPATH`.  Nothing else is
patched.  The same files run against Luigi itself give the baseline.

Regenerate this file (it takes a few minutes; PyPI must be reachable):

```
python tests/luigi_suite/run_luigi_suite.py
```

`tests/test_luigi_suite.py` (marked slow) runs the harness and checks the
tier-A floor.  The sdist is fetched with
`pip download --no-deps --no-binary :all: luigi=={version}`, its sha256 checked
against the value pinned in the script, and unpacked under
`~/.cache/nbpipe-tests/` (`$NBPIPE_TEST_CACHE` overrides).  Luigi's git tree
has `bin/luigi`, its sdist does not; the harness writes the same two-line
launcher (`luigi.cmdline.luigi_run()`) so that `cmdline_test` can run it.
Luigi's own test dependencies `mock` and `toml` must be installed (they are
in nbpipe's `test` extra).

"""


_GAPS = """## Before and after, and where the gap is

Before issue 15, with Luigi's test dependencies installed, every tier-A and
tier-B file failed at import under nbpipe (0/625 and 0/228): Luigi's
`test/helpers.py` imports `luigi.cmdline_parser.CmdlineParser`, which nbpipe
did not have (the issue's own measurement, counting a missing name against
only the tests that use it, was 218/625).  Where the differences are now:

- **Luigi's worker protocol, done**: `nbpipe.worker.Worker` registers
  tasks with `Scheduler.add_task` (walking the graph as Luigi's worker
  does) and asks `Scheduler.get_work` for work; each task it is given runs
  on an nbpipe executor (inline for one worker process, nbpipe's worker
  processes for more) and its end is reported with `add_task`.  The
  scheduler (`nbpipe.scheduler`) keeps Luigi's rules: priorities raised
  along dependencies, resources, retry after `retry_delay`, disabling after
  `retry_count` failures, batches of tasks with a `batch_method`, tasks
  other workers are running.  `execution_summary.summary(worker)` is built
  from the worker's own records, under Luigi's title; `luigi_run` exits
  with Luigi's `[retcode]` defaults (0, and 4 for an unhandled exception).
  nbpipe's own runs (`nbpipe.build`, `nbpipe run`) keep nbpipe's engine,
  its title (`===== nbpipe Execution Summary =====`) and its distinct
  non-zero exit codes: deliberate.
- **Luigi's worker internals** (`TaskProcess`, the forked per-task process,
  the keep-alive ping thread) and **e-mail**: not provided; the tests that
  drive them directly still fail.
- **`luigid` / `luigi.server` / `luigi.lock` / `RemoteScheduler`**: out of
  scope (the daemon, its lock, a central scheduler).

`luigi.tools.range` (`nbpipe.tools.range`: every `range_test` and
`most_common_test` test passes) and `luigi.configuration.cfg_parser`
(`${ENV}` and `%(option)s` interpolation of values set in code, underscore
spelling winning over dashes: every `config_env_test` test passes) were
built for issue 15 after the first measurement.
"""


def _table(result: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| test file | tests | Luigi passes | nbpipe passes |", "|---|---:|---:|---:|"]
    for name, luigi in result["luigi"].items():
        nb = result.get("nbpipe", {}).get(name)
        lines.append(f"| `{name}` | {luigi.total} | {luigi.passed} | {nb.passed if nb else '-'} |")
    tot = lambda e: (sum(c.passed for c in result[e].values()), sum(c.total for c in result[e].values()))  # noqa: E731
    lp, lt = tot("luigi")
    np_, _ = tot("nbpipe") if "nbpipe" in result else (0, 0)
    lines.append(
        f"| **total** | **{lt}** | **{lp} ({100 * lp / max(lt, 1):.0f}%)** | **{np_} ({100 * np_ / max(lt, 1):.0f}%)** |"
    )
    return lines


def write_doc(path: Path, results: dict[str, dict[str, dict[str, Any]]], version: str = "3.8.1") -> None:
    """Write the counts of every tier and every test that still fails under nbpipe, with why."""
    lines = [_HEAD.format(version=version).rstrip(), ""]
    titles = {
        "A": "Tier A: the public API (task model, parameters, targets, command line, summary)",
        "B": "Tier B: public behaviour through Luigi's worker and scheduler, range tools, configuration",
    }
    for tier, result in results.items():
        lines += [f"## {titles.get(tier, tier)}", "", *_table(result), ""]
    lines += [_GAPS, ""]
    lines += ["## Tests that still fail under nbpipe, and why", ""]
    lines += ["Each is a deliberate difference (the reason says so) or a real gap.", ""]
    for tier, result in results.items():
        for name, counts in result.get("nbpipe", {}).items():
            if not counts.failures:
                continue
            lines.append(f"### `{name}` (tier {tier}): {len(counts.failures)} not passing")
            lines.append("")
            for nodeid, message in sorted(counts.failures.items()):
                test = nodeid.split("::", 1)[1] if "::" in nodeid else nodeid
                lines.append(f"- `{test}` — {reason_for(nodeid, message)}")
            lines.append("")
    lines += ["## Out of scope", "", OUT_OF_SCOPE, ""]
    path.write_text("\n".join(lines))
