"""Luigi's own core examples, run side by side with Luigi and with nbpipe.

The requirement: the core examples of Luigi's source distribution
(``examples/hello_world.py``, ``foo.py``, ``dynamic_requirements.py``,
``execution_summary_example.py``, ``wordcount.py``) run unchanged with
``import nbpipe as luigi`` and give the same execution summary as Luigi.

How this test does it:

* The examples come from the sdist, fetched as a fresh machine would:
  ``pip download --no-deps --no-binary :all: luigi==3.8.1``.  The tarball is
  cached in ``~/.cache/nbpipe-tests/`` (``$NBPIPE_TEST_CACHE`` overrides) so
  repeated runs do not download it again; the five files are extracted from
  it once per session.
* "Unchanged": the Luigi side runs a byte-identical copy of the file.  The
  nbpipe side runs a copy in which the one line ``import luigi`` is replaced
  by ``import nbpipe as luigi`` (the literal wording of the requirement) and
  nothing else; the test checks that this is the only difference.
* Each engine runs in its own subprocess and its own empty working
  directory, one after the other.  The examples write to fixed paths
  (``/tmp/bar``, ``/tmp/Config_*.txt``, ``/tmp/Data_*.txt``,
  ``/tmp/Dynamic_*.txt``, ``/var/tmp/text``, ``/var/tmp/text-count``): these
  are removed and the case's starting state recreated before each run, and a
  file lock keeps two test processes from using them at the same time.
* Examples with a ``__main__`` block (hello_world, dynamic_requirements) are
  also run as scripts (``python example.py ARGS``), i.e. through their own
  ``luigi.run``; every example is run through
  ``build([root], local_scheduler=True, detailed_summary=True, workers=N)``
  by ``tests/luigi_examples/run_example.py``, with 1 and with 2 workers,
  imported by module name and loaded by file path
  (``importlib.util.spec_from_file_location`` under a name no worker process
  can import, as ``%run`` and test harnesses load files).  The cases are in
  ``tests/luigi_examples/cases.py``.
* Compared: the summary body (the text between the title lines, which say
  "Luigi" / "nbpipe") must be identical, and so must the categories and
  counts parsed from it, the status name (``LuigiStatusCode`` /
  ``StatusCode``), the one-line summary, the root task's id, the summary
  logged on stderr, the files each run left in the fixed paths and in its
  working directory (paths and contents), the exit code and the lines the
  tasks printed.  Each case also has expected counts written here, so the
  two engines cannot agree on doing nothing.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

with warnings.catch_warnings():  # luigi's import warns about range-task autoloading
    warnings.simplefilter("ignore", DeprecationWarning)
    import luigi.execution_summary as luigi_summary

from luigi_examples.cases import CASES, CASES_BY_ID, INTERVAL, Case

import nbpipe.engine.summary as nbpipe_summary

LUIGI_VERSION = "3.8.1"
EXAMPLES = ("hello_world.py", "foo.py", "dynamic_requirements.py", "execution_summary_example.py", "wordcount.py")
HARNESS = Path(__file__).parent / "luigi_examples" / "run_example.py"
CACHE_DIR = Path(os.environ.get("NBPIPE_TEST_CACHE") or Path.home() / ".cache" / "nbpipe-tests")
LOCK_FILE = Path(tempfile.gettempdir()) / "nbpipe-luigi-examples.lock"
RUN_TIMEOUT = 240

# Every fixed path the examples write to (globs).
FIXED_PATHS = (
    "/tmp/bar",
    "/tmp/Config_*.txt",
    "/tmp/Data_*.txt",
    "/tmp/Dynamic_*.txt",
    "/var/tmp/text",
    "/var/tmp/text-count",
)


# -- getting the examples -----------------------------------------------------


def _sdist() -> Path:
    """Luigi's sdist tarball, from the cache or downloaded with pip."""
    cached = CACHE_DIR / f"luigi-{LUIGI_VERSION}.tar.gz"
    if cached.is_file():
        try:
            with tarfile.open(cached) as tar:
                tar.getmember(f"luigi-{LUIGI_VERSION}/examples/hello_world.py")
            return cached
        except (tarfile.TarError, KeyError, OSError):
            cached.unlink()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as download_dir:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"luigi=={LUIGI_VERSION}",
                "-d",
                download_dir,
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        got = Path(download_dir) / f"luigi-{LUIGI_VERSION}.tar.gz"
        if proc.returncode != 0 or not got.is_file():
            pytest.fail(
                f"pip download of luigi=={LUIGI_VERSION} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        os.replace(got, cached)  # atomic: a cached file is always a whole one
    return cached


@pytest.fixture(scope="session")
def luigi_examples(tmp_path_factory) -> dict[str, str]:
    """The text of the five examples, from Luigi's sdist."""
    target = tmp_path_factory.mktemp("luigi-examples")
    texts = {}
    with tarfile.open(_sdist()) as tar:
        for name in EXAMPLES:
            member = tar.extractfile(f"luigi-{LUIGI_VERSION}/examples/{name}")
            assert member is not None, name
            data = member.read()
            (target / name).write_bytes(data)
            texts[name] = data.decode("utf-8")
    return texts


def nbpipe_version_of(source: str) -> str:
    """The example with ``import luigi`` replaced by ``import nbpipe as luigi``, and nothing else."""
    lines = source.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == "import luigi"]
    assert len(hits) == 1, "expected exactly one 'import luigi' line"
    other = [line for i, line in enumerate(lines) if i not in hits and re.search(r"\b(import|from)\s+luigi\b", line)]
    assert not other, f"other imports of luigi would escape the substitution: {other}"
    lines[hits[0]] = lines[hits[0]].replace("import luigi", "import nbpipe as luigi")
    return "".join(lines)


# -- fixed paths --------------------------------------------------------------


def _matches() -> list[str]:
    return sorted(p for pattern in FIXED_PATHS for p in glob.glob(pattern))


def clean_fixed_paths() -> None:
    for path in _matches():
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def snapshot_fixed_paths() -> dict[str, bytes]:
    files = {}
    for path in _matches():
        if os.path.isdir(path):
            for dirpath, _dirs, names in os.walk(path):
                files[dirpath + "/"] = b"<dir>"
                for name in names:
                    full = os.path.join(dirpath, name)
                    files[full] = Path(full).read_bytes()
        else:
            files[path] = Path(path).read_bytes()
    return files


def snapshot_workdir(workdir: Path, ignore: set[str]) -> dict[str, bytes]:
    files = {}
    for path in sorted(workdir.rglob("*")):
        rel = path.relative_to(workdir)
        if rel.parts[0] in ignore or "__pycache__" in rel.parts:
            continue
        files[str(rel)] = path.read_bytes() if path.is_file() else b"<dir>"
    return files


@contextlib.contextmanager
def fixed_paths_lock():
    """Only one test process at a time may use the examples' fixed paths."""
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks until the other holder is done
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# -- reading summaries ------------------------------------------------------------

_LOGGED = re.compile(
    r"\n===== (Luigi|nbpipe) Execution Summary =====\n\n(.*?)\n\n===== \1 Execution Summary =====\n", re.DOTALL
)


def split_summary(text: str) -> tuple[str, str]:
    """(engine name in the title, body) of one wrapped summary."""
    match = _LOGGED.fullmatch(text)
    assert match, f"not a wrapped execution summary: {text!r}"
    return match.group(1), match.group(2)


def logged_summaries(stderr: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _LOGGED.finditer(stderr)]


def parse_summary(body: str) -> dict:
    """Categories and counts of a summary body (Luigi's wording, old or new).

    ``{"scheduled": N, "sections": {heading: {"count": N, "families": {family: N}}},
    "progress": "This progress looks ...", "other": [unparsed lines]}``
    """
    parsed: dict = {"scheduled": None, "sections": {}, "progress": None, "other": []}
    section = None
    for line in body.splitlines():
        if not line.strip():
            continue
        if m := re.fullmatch(r"Scheduled (\d+) tasks of which:", line):
            parsed["scheduled"] = int(m.group(1))
        elif m := re.fullmatch(r" *\* (\d+) (.+?):?", line):
            section = {"count": int(m.group(1)), "families": {}}
            parsed["sections"][m.group(2)] = section
        elif m := re.fullmatch(r" *- (\d+) ([\w.]+)\(.*", line):
            section["families"][m.group(2)] = int(m.group(1))
        elif m := re.fullmatch(r" *- ([\w.]+)\(.*\) and (\d+) other ([\w.]+)", line):  # Luigi < 2.x wording
            section["families"][m.group(3)] = int(m.group(2)) + 1
        elif line.startswith("This progress looks "):
            parsed["progress"] = line
        else:
            parsed["other"].append(line)
    return parsed


def status_from_sentence(sentence: str, enum) -> str:
    for member in enum:
        face, because = member.value
        if sentence == f"This progress looks {face} because {because}":
            return member.name
    raise AssertionError(f"no status of {enum.__name__} says {sentence!r}")


def docstring_summary(source: str) -> str:
    """The example summary shown in an example's module docstring."""
    doc = ast.get_docstring(ast.parse(source))
    match = re.search(
        r"===== Luigi Execution Summary =====\n(.*?)\n\s*===== Luigi Execution Summary =====", doc, re.DOTALL
    )
    assert match, "no summary in the docstring"
    return textwrap.dedent(match.group(1)).strip("\n")


# -- the cases: tests/luigi_examples/cases.py ----------------------------------


# -- running ----------------------------------------------------------------------


@dataclass
class EngineRun:
    engine: str
    returncode: int
    stdout: str
    stderr: str
    report: dict | None  # the harness's JSON (build mode)
    summary_engine: str  # "Luigi" / "nbpipe", from the title
    body: str
    status: str
    one_line_summary: str
    fixed_files: dict[str, bytes]
    workdir_files: dict[str, bytes]
    seconds: float

    def context(self) -> str:
        return f"--- {self.engine} exit {self.returncode} after {self.seconds:.1f} s\n--- stdout:\n{self.stdout}\n--- stderr (tail):\n{self.stderr[-4000:]}"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUIGI_", "NBPIPE_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONPATH", None)
    return env


def run_engine(engine: str, case: Case, source: str, workdir: Path) -> EngineRun:
    workdir.mkdir()
    example = workdir / case.example
    example.write_text(source if engine == "luigi" else nbpipe_version_of(source), encoding="utf-8")
    out_json = workdir / "report.json"

    clean_fixed_paths()
    case.setup()
    if case.argv is not None:
        cmd = [sys.executable, str(example), *case.argv]
    else:
        spec = {"root": case.root, "params": case.params, "workers": case.workers, "load": case.load}
        cmd = [sys.executable, str(HARNESS), engine, str(example), json.dumps(spec), str(out_json)]
    started = time.monotonic()
    proc = subprocess.run(
        cmd, check=False, cwd=workdir, env=_env(), capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    seconds = time.monotonic() - started
    fixed_files = snapshot_fixed_paths()
    # nbpipe keeps its run history in .nbpipe/ (its state directory, by design).
    workdir_files = snapshot_workdir(workdir, {case.example, out_json.name, ".nbpipe"})
    clean_fixed_paths()

    where = f"[{case.id}, {engine}]"
    assert proc.returncode == 0, f"{where} exited {proc.returncode}\n{proc.stderr[-4000:]}"
    logged = logged_summaries(proc.stderr)
    assert len(logged) == 1, (
        f"{where} expected one execution summary on stderr, got {len(logged)}\n{proc.stderr[-4000:]}"
    )
    summary_engine, body = logged[0]
    report = None
    if case.argv is None:
        report = json.loads(out_json.read_text())
        # What build() returned is what it logged.
        assert split_summary(report["summary_text"]) == (summary_engine, body), where
    progress = parse_summary(body)["progress"]
    assert progress, f"{where} summary has no 'This progress looks' line:\n{body}"
    enum = luigi_summary.LuigiStatusCode if engine == "luigi" else nbpipe_summary.StatusCode
    status = status_from_sentence(progress, enum)
    return EngineRun(
        engine,
        proc.returncode,
        proc.stdout,
        proc.stderr,
        report,
        summary_engine,
        body,
        status,
        progress,
        fixed_files,
        workdir_files,
        seconds,
    )


@pytest.fixture(scope="module")
def run_case(luigi_examples, tmp_path_factory):
    """Run a case with Luigi, then with nbpipe (memoised per module): (luigi_run, nbpipe_run)."""
    done: dict[str, tuple[EngineRun, EngineRun]] = {}

    def run(case_id: str) -> tuple[EngineRun, EngineRun]:
        if case_id not in done:
            case = CASES_BY_ID[case_id]
            base = tmp_path_factory.mktemp(case_id)
            with fixed_paths_lock():
                try:
                    runs = tuple(
                        run_engine(e, case, luigi_examples[case.example], base / e) for e in ("luigi", "nbpipe")
                    )
                finally:
                    clean_fixed_paths()
            done[case_id] = runs
        return done[case_id]

    return run


def _task_prints(run: EngineRun) -> list[str]:
    """The lines tasks printed, without nbpipe's worker prefix ``[Task(...)] ``."""
    lines = run.stdout.splitlines()
    if run.engine == "nbpipe":
        lines = [re.sub(r"^\[[^\]]*\] ", "", line) for line in lines]
    return sorted(line for line in lines if line.strip())


def assert_same_run(case: Case, luigi_run: EngineRun, nbpipe_run: EngineRun) -> None:
    assert luigi_run.summary_engine == "Luigi"
    assert nbpipe_run.summary_engine == "nbpipe"

    lp, np_ = parse_summary(luigi_run.body), parse_summary(nbpipe_run.body)
    assert np_ == lp, f"categories/counts differ\n--- Luigi:\n{luigi_run.body}\n--- nbpipe:\n{nbpipe_run.body}"
    assert nbpipe_run.body == luigi_run.body
    assert nbpipe_run.status == luigi_run.status
    assert nbpipe_run.one_line_summary == luigi_run.one_line_summary
    assert nbpipe_run.returncode == luigi_run.returncode

    if case.argv is None:
        lr, nr = luigi_run.report, nbpipe_run.report
        assert (lr["engine"], lr["result_type"]) == ("luigi", "LuigiRunResult")
        assert (nr["engine"], nr["result_type"], nr["example_uses"]) == ("nbpipe", "RunResult", "nbpipe")
        assert nr["luigi_imported"] is False, "the nbpipe run imported the real luigi"
        assert nr["status"] == lr["status"] == luigi_run.status
        assert nr["one_line_summary"] == lr["one_line_summary"]
        assert nr["scheduling_succeeded"] == lr["scheduling_succeeded"]
        assert nr["root_task_id"] == lr["root_task_id"]

    assert sorted(nbpipe_run.fixed_files) == sorted(luigi_run.fixed_files), "different output files"
    assert nbpipe_run.fixed_files == luigi_run.fixed_files, "same output files, different contents"
    assert nbpipe_run.workdir_files == luigi_run.workdir_files, "different files in the working directory"
    assert _task_prints(nbpipe_run) == _task_prints(luigi_run)

    # Independently of Luigi: the case did what it is meant to do.
    assert luigi_run.status == case.status
    got = {heading: section["count"] for heading, section in lp["sections"].items()}
    assert got == case.counts, luigi_run.body
    assert _task_prints(luigi_run) == sorted(case.prints)


@pytest.mark.slow
@pytest.mark.parametrize("case_id", [case.id for case in CASES])
def test_example_same_as_luigi(case_id, run_case):
    luigi_run, nbpipe_run = run_case(case_id)
    try:
        assert_same_run(CASES_BY_ID[case_id], luigi_run, nbpipe_run)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{luigi_run.context()}\n{nbpipe_run.context()}") from None


@pytest.mark.slow
def test_execution_summary_example_matches_its_docstring(luigi_examples, run_case):
    """195 complete Bar, 1 Boom ran, 22 pending: 1 missing external, 21 with missing dependencies."""
    expected = parse_summary(docstring_summary(luigi_examples["execution_summary_example.py"]))
    assert expected["scheduled"] == 218
    assert expected["sections"]["complete ones were encountered"] == {"count": 195, "families": {"examples.Bar": 195}}
    assert expected["sections"]["ran successfully"] == {"count": 1, "families": {"examples.Boom": 1}}
    assert expected["sections"]["were left pending, among these"]["count"] == 22
    assert expected["sections"]["were missing external dependencies"] == {"count": 1, "families": {"MyExternal": 1}}
    assert expected["sections"]["had missing dependencies"] == {
        "count": 21,
        "families": {"examples.EntryPoint": 1, "examples.Foo": 10, "examples.DateTask": 10},
    }
    for run in run_case("execution_summary_example-docstring-state"):
        assert parse_summary(run.body) == expected, f"{run.engine}:\n{run.body}"
        assert run.status == "MISSING_EXT"


def test_extracted_examples_are_luigis(luigi_examples):
    """The sdist gave the five examples, each importing luigi once, so the substitution covers it."""
    assert sorted(luigi_examples) == sorted(EXAMPLES)
    for name, source in luigi_examples.items():
        changed = nbpipe_version_of(source)
        diff = [(a, b) for a, b in zip(source.splitlines(), changed.splitlines(), strict=True) if a != b]
        assert diff == [("import luigi", "import nbpipe as luigi")], name


def test_comparison_catches_a_different_count():
    """The comparison used above fails when one count, one family or the status differs."""
    body = textwrap.dedent("""\
        Scheduled 3 tasks of which:
        * 2 complete ones were encountered:
            - 2 InputText(date=2024-01-01,2024-01-02)
        * 1 ran successfully:
            - 1 WordCount(date_interval=2024-01-01-2024-01-03)

        This progress looks :) because there were no failed tasks or missing dependencies""")
    base = parse_summary(body)
    assert base["scheduled"] == 3 and not base["other"]
    assert base["sections"]["complete ones were encountered"] == {"count": 2, "families": {"InputText": 2}}
    for before, after in [
        ("* 2 complete", "* 3 complete"),
        ("- 1 WordCount", "- 2 WordCount"),
        ("- 2 InputText", "- 2 OutputText"),
        (":) because", ":| because"),
    ]:
        assert parse_summary(body.replace(before, after)) != base, before


@pytest.mark.slow
def test_comparison_catches_engine_differences(run_case):
    """assert_same_run fails when nbpipe's run differs from Luigi's in any compared respect."""
    case = CASES_BY_ID["wordcount-all-inputs"]
    luigi_run, nbpipe_run = run_case(case.id)
    assert_same_run(case, luigi_run, nbpipe_run)
    output = f"/var/tmp/text-count/{INTERVAL}"
    assert output in nbpipe_run.fixed_files
    changes = {
        "a count": {"body": nbpipe_run.body.replace("* 5 complete", "* 4 complete")},
        "a family": {"body": nbpipe_run.body.replace("- 1 WordCount(", "- 1 WordCounter(")},
        "the listing only": {"body": nbpipe_run.body.replace("2024-01-01...2024-01-05", "2024-01-01,...")},
        "the status": {"status": "MISSING_EXT"},
        "the exit code": {"returncode": 1},
        "an output's content": {"fixed_files": {**nbpipe_run.fixed_files, output: b"the\t1\n"}},
        "an extra output": {"fixed_files": {**nbpipe_run.fixed_files, "/tmp/bar/0": b""}},
        "a file in the working directory": {"workdir_files": {**nbpipe_run.workdir_files, "stray.txt": b""}},
        "what the tasks printed": {"stdout": nbpipe_run.stdout + "hello\n"},
        "the root task id": {"report": {**nbpipe_run.report, "root_task_id": "WordCount__0000000000"}},
    }
    for what, change in changes.items():
        changed = replace(nbpipe_run, **change)
        assert changed != nbpipe_run, what
        with pytest.raises(AssertionError):
            assert_same_run(case, luigi_run, changed)
