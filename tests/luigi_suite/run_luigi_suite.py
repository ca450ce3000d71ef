"""Run Luigi 3.8.1's own test files with ``luigi`` aliased to nbpipe, and against Luigi itself.

Usage (from the repository root)::

    python tests/luigi_suite/run_luigi_suite.py            # tiers A and B, nbpipe and Luigi, writes docs/LUIGI_COMPAT.md
    python tests/luigi_suite/run_luigi_suite.py --tier A --against nbpipe --no-doc
    python tests/luigi_suite/run_luigi_suite.py --files task_test parameter_test --against nbpipe -v

What it does:

1. Fetches Luigi's source distribution the way a fresh machine would,
   ``pip download --no-deps --no-binary :all: luigi==3.8.1``, checks its
   sha256 against ``SDIST_SHA256`` and unpacks it once into a cache folder
   outside the repository (``$NBPIPE_TEST_CACHE``, else
   ``$XDG_CACHE_HOME/nbpipe-tests``, else ``~/.cache/nbpipe-tests``).
2. Runs the test files of each tier with pytest in a subprocess whose
   working directory is the unpacked sdist.  ``python -P`` keeps the sdist's
   own ``luigi/`` folder off ``sys.path``: the baseline is the installed
   Luigi, and the nbpipe run is nbpipe.  For nbpipe the plugin
   ``luigi_alias`` maps ``luigi`` and every ``luigi.X`` to ``nbpipe`` /
   ``nbpipe.X`` (``ModuleNotFoundError`` when nbpipe has no such module).
   Processes the tests start (nbpipe's worker processes, ``bin/luigi``) load
   the same alias at start-up (``sitecustomize.py`` in this folder, active
   only with ``NBPIPE_LUIGI_ALIAS=1``).
   Nothing else is patched: a test passes only if nbpipe does what it checks.
3. Counts, per file, the tests Luigi's run collected and how many of them
   passed under each engine (a file that fails to import under nbpipe
   counts all its tests as failed), prints the table and writes
   ``docs/LUIGI_COMPAT.md`` with every test that still fails and why
   (reasons are kept in ``known_failures.py``).

Exit status: 0 when the runs completed (whatever the counts), 2 when the
sdist cannot be fetched (e.g. PyPI unreachable).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
LUIGI_VERSION = "3.8.1"
SDIST_NAME = f"luigi-{LUIGI_VERSION}.tar.gz"
SDIST_SHA256 = "2fa5eb5d3474e495de09bd964f502936c08f8b1eb6e0f3ca3c8a69116c38d0c3"
PER_TEST_TIMEOUT_S = 20

TIER_A = (
    "task_test task_register_test task_serialize_test task_bulk_complete_test subtask_test set_task_name_test "
    "clone_test instance_test instance_wrap_test auto_namespace_test parameter_test date_parameter_test "
    "date_interval_test dict_parameter_test list_parameter_test optional_parameter_test numerical_parameter_test "
    "choice_parameter_test visible_parameters_test util_test decorator_test wrap_test util_previous_test "
    "target_test local_target_test mock_test simulate_test event_callbacks_test execution_summary_test "
    "retcodes_test cmdline_test interface_test dynamic_import_test recursion_test fib_test factorial_test "
    "priority_test"
).split()
TIER_B = (
    "worker_test worker_task_test worker_external_task_test worker_keep_alive_test "
    "worker_parallel_scheduling_test worker_multiprocess_test task_status_message_test "
    "task_progress_percentage_test task_forwarded_attributes_test scheduler_message_test range_test "
    "most_common_test config_env_test config_toml_test setup_logging_test"
).split()
TIERS = {"A": TIER_A, "B": TIER_B}


class FetchError(RuntimeError):
    """The sdist could not be downloaded or did not match the pinned hash."""


def cache_dir() -> Path:
    """The cache folder outside the repository (shared with tests/test_luigi_examples.py)."""
    if os.environ.get("NBPIPE_TEST_CACHE"):
        return Path(os.environ["NBPIPE_TEST_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nbpipe-tests"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_sdist() -> Path:
    """Return the unpacked sdist's root, downloading and checking it first when needed.

    Raises ``FetchError`` when pip cannot download it or the hash differs.
    """
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / SDIST_NAME
    if not tarball.exists() or _sha256(tarball) != SDIST_SHA256:
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
            cmd += ["--disable-pip-version-check", "-d", tmp, f"luigi=={LUIGI_VERSION}"]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            got = Path(tmp) / SDIST_NAME
            if proc.returncode != 0 or not got.exists():
                raise FetchError(f"pip download luigi=={LUIGI_VERSION} failed: {proc.stderr.strip()[-500:]}")
            if _sha256(got) != SDIST_SHA256:
                raise FetchError(f"{SDIST_NAME}: sha256 {_sha256(got)} differs from the pinned {SDIST_SHA256}")
            os.replace(got, tarball)
    root = cache / f"luigi-{LUIGI_VERSION}"
    marker = root / ".unpacked"
    if not marker.exists():
        with tarfile.open(tarball) as tar:
            tar.extractall(cache, filter="data")
        marker.write_text(SDIST_SHA256)
    _write_bin_luigi(root)
    return root


def _write_bin_luigi(root: Path) -> None:
    """Recreate ``bin/luigi``, which Luigi's git tree has and its sdist lacks (cmdline_test runs it).

    Like Luigi's, it only calls ``luigi.cmdline.luigi_run()``; when the harness
    runs against nbpipe (``NBPIPE_LUIGI_ALIAS=1``) it first loads the same
    alias as the pytest run, so ``luigi`` is nbpipe in the subprocess too.
    """
    script = root / "bin" / "luigi"
    script.parent.mkdir(exist_ok=True)
    script.write_text(
        f"#!{sys.executable}\n"
        "import os\n"
        "if os.environ.get('NBPIPE_LUIGI_ALIAS') == '1':\n"
        "    import luigi_alias  # noqa: F401\n"
        "from luigi.cmdline import luigi_run\n"
        "luigi_run()\n"
    )
    script.chmod(0o755)


@dataclass
class FileCount:
    """One test file's result under one engine."""

    total: int = 0
    passed: int = 0
    skipped: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # node id -> last line of the failure


def run_pytest(root: Path, files: list[str], against: str, verbose: bool = False) -> dict:
    """Run ``files`` (names without ``.py``) under pytest against "nbpipe" or "luigi"; return the raw results."""
    env = dict(os.environ)
    paths = [str(HERE)]
    if against == "nbpipe":
        paths.append(str(REPO))
        env["NBPIPE_LUIGI_ALIAS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        env["NBPIPE_LUIGI_SUITE_RESULTS"] = str(out)
        # A state directory of this run's own: runs killed at the timeout must
        # not leave live-run records that a later run waits on.
        env["NBPIPE_STATE_DIR"] = str(Path(tmp) / "nbpipe-state")
        # Tests write luigi.cfg-less temporary files; HOME/tmp stay as they are.
        cmd = [sys.executable, "-P", "-m", "pytest", "-p", "luigi_results", "-p", "no:cacheprovider"]
        if against == "nbpipe":
            cmd += ["-p", "luigi_alias"]
        cmd += ["--continue-on-collection-errors", f"--timeout={PER_TEST_TIMEOUT_S}", "-q", "-rN"]
        cmd += ["-W", "ignore::pytest.PytestUnknownMarkWarning"]
        cmd += [f"test/{name}.py" if not (root / "test" / name).is_dir() else f"test/{name}" for name in files]
        log = Path(tmp) / "pytest.log"
        with open(log, "w") as sink:
            proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=None if verbose else sink, stderr=subprocess.STDOUT)
            _wait_for_session(proc, out)
        if not out.exists():
            tail = log.read_text()[-4000:] if log.exists() else ""
            raise RuntimeError(f"pytest against {against} wrote no results (exit {proc.returncode}):\n{tail}")
        return json.loads(out.read_text())


def _wait_for_session(proc: subprocess.Popen, results: Path, grace_s: float = 15.0) -> None:
    """Wait for pytest to finish; once it has written its results, give it ``grace_s`` to exit, then kill it.

    A Luigi test that times out can leave a non-daemon thread blocked on a
    lock (worker_test's and execution_summary_test's "other worker" tests do,
    under nbpipe); the interpreter would then wait for it forever at exit,
    after every result is already recorded.
    """
    written_at = None
    while proc.poll() is None:
        if written_at is None and results.exists():
            written_at = time.monotonic()
        if written_at is not None and time.monotonic() - written_at > grace_s:
            proc.kill()
            proc.wait()
            return
        time.sleep(0.5)


def _file_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    # test/auto_namespace_test/my_namespace_test.py belongs to the folder's entry.
    return parts[1] if len(parts) > 2 else parts[1].removesuffix(".py")


def count(raw: dict, baseline: dict, files: list[str]) -> dict[str, FileCount]:
    """Per-file counts of ``raw`` over the tests that ``baseline`` (Luigi's run) collected."""
    counts = {name: FileCount() for name in files}
    tests = raw["tests"]
    for nodeid in baseline["tests"]:
        name = _file_of(nodeid)
        if name not in counts:
            continue
        entry = counts[name]
        entry.total += 1
        record = tests.get(nodeid)
        if record is None:
            error = next((m for f, m in raw["collection_errors"].items() if nodeid.startswith(f)), "not collected")
            entry.failures[nodeid] = f"collection error: {error}"
        elif record["outcome"] == "passed":
            entry.passed += 1
        elif record["outcome"] == "skipped":
            entry.skipped += 1
            entry.failures[nodeid] = f"skipped: {record['message']}"
        else:
            entry.failures[nodeid] = record["message"]
    return counts


def totals(counts: dict[str, FileCount]) -> tuple[int, int]:
    """(passed, total) over all files."""
    return sum(c.passed for c in counts.values()), sum(c.total for c in counts.values())


def run_tier(root: Path, tier: str, against: list[str], verbose: bool = False) -> dict[str, dict[str, FileCount]]:
    """Counts for one tier: {"luigi": {...}, "nbpipe": {...}} (Luigi's run always happens: it lists the tests)."""
    files = TIERS[tier]
    baseline = run_pytest(root, files, "luigi", verbose)
    result = {"luigi": count(baseline, baseline, files)}
    if "nbpipe" in against:
        result["nbpipe"] = count(run_pytest(root, files, "nbpipe", verbose), baseline, files)
    return result


def print_table(tier: str, result: dict[str, dict[str, FileCount]]) -> None:
    """The per-file table on stdout."""
    engines = list(result)
    print(f"\nTier {tier}: " + "  ".join(f"{e} {totals(result[e])[0]}/{totals(result[e])[1]}" for e in engines))
    for name in result["luigi"]:
        cells = "  ".join(f"{e} {result[e][name].passed:>3}/{result[e][name].total:<3}" for e in engines)
        print(f"  {name:<34} {cells}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", choices=["A", "B", "all"], default="all")
    parser.add_argument("--against", choices=["nbpipe", "luigi", "both"], default="both")
    parser.add_argument("--files", nargs="*", help="run only these test files (names without .py); no doc written")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/LUIGI_COMPAT.md")
    parser.add_argument("--json", help="also write the counts to this JSON file")
    parser.add_argument("-v", "--verbose", action="store_true", help="show pytest's output")
    parser.add_argument(
        "--doc-from", metavar="JSON", help="write docs/LUIGI_COMPAT.md from a --json file of a full run"
    )
    args = parser.parse_args(argv)
    if args.doc_from:
        from compat_doc import write_doc

        saved = json.loads(Path(args.doc_from).read_text())
        results = {
            t: {e: {f: FileCount(**c) for f, c in r.items()} for e, r in res.items()} for t, res in saved.items()
        }
        write_doc(REPO / "docs" / "LUIGI_COMPAT.md", results)
        return 0
    try:
        root = fetch_sdist()
    except (FetchError, OSError, subprocess.SubprocessError) as exc:
        print(f"cannot fetch Luigi's sdist: {exc}", file=sys.stderr)
        return 2
    against = ["nbpipe", "luigi"] if args.against == "both" else [args.against]
    if args.files:
        TIERS["custom"] = args.files
        tiers = ["custom"]
    else:
        tiers = ["A", "B"] if args.tier == "all" else [args.tier]
    results = {tier: run_tier(root, tier, against, args.verbose) for tier in tiers}
    for tier, result in results.items():
        print_table(tier, result)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {t: {e: {f: vars(c) for f, c in r.items()} for e, r in res.items()} for t, res in results.items()},
                indent=1,
            )
        )
    if not args.files and not args.no_doc and args.tier == "all" and args.against == "both":
        from compat_doc import write_doc

        write_doc(REPO / "docs" / "LUIGI_COMPAT.md", results)
        print(f"\nwrote {REPO / 'docs' / 'LUIGI_COMPAT.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
