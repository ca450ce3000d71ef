"""Configuration is the same everywhere a task runs.

One pipeline reads a ``Config`` class (``GlobalParams``: how many books, a
greeting) in ``requires()`` and in ``run()``, and takes ``--Count-suffix``
as a ``--Family-param`` default.  Its values come from, in turn: the
command line (``python -m nbpipe run ...`` and ``nbpipe.run([...])``),
``luigi.cfg`` / ``luigi.toml`` / ``nbpipe.toml`` in the working directory,
a file named by ``LUIGI_CONFIG_PATH`` or ``NBPIPE_CONFIG_PATH``, and
``get_config().set()`` in the driver (as a notebook does).  Each is run
with 1 worker (inline), 2 worker processes and 2 Dask workers (a real
``LocalCluster``), always as a driver subprocess, and must write exactly
the expected outputs, from the processes the executor names.

The pipeline module lives in a folder on the driver's and on the Dask
workers' ``PYTHONPATH`` (as an installed project would), so what is tested
here is configuration, not shipping classes by value.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PIPELINE = textwrap.dedent("""\
    import os
    import nbpipe as luigi


    class GlobalParams(luigi.Config):
        n_books = luigi.IntParameter(default=2)
        greeting = luigi.Parameter(default="default-greeting")


    class Count(luigi.Task):
        root = luigi.Parameter()
        book = luigi.IntParameter()
        suffix = luigi.Parameter(default="default-suffix")

        def output(self):
            return luigi.LocalTarget(os.path.join(self.root, f"count-{self.book}.txt"))

        def run(self):
            with self.output().open("w") as f:
                f.write(f"book={self.book} suffix={self.suffix} greeting={GlobalParams().greeting}\\n")
            with open(os.path.join(self.root + "-pids", f"count-{self.book}"), "w") as f:
                f.write(str(os.getpid()))  # which process ran it


    class Report(luigi.Task):
        root = luigi.Parameter()

        def requires(self):
            return [Count(root=self.root, book=i) for i in range(GlobalParams().n_books)]

        def output(self):
            return luigi.LocalTarget(os.path.join(self.root, "report.txt"))

        def run(self):
            lines = []
            for target in self.input():
                with target.open("r") as f:
                    lines.append(f.read())
            with self.output().open("w") as f:
                f.write("".join(lines) + f"n_books={GlobalParams().n_books} greeting={GlobalParams().greeting}\\n")
""")

DRIVER = textwrap.dedent("""\
    import sys
    import nbpipe
    import cfgpipe

    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "run":  # Luigi's luigi.run(argv)
        ok = nbpipe.run(rest, local_scheduler=True)
    else:  # set in the driver, as a notebook cell would, then build()
        root, workers, executor = rest[:3]
        config = nbpipe.configuration.get_config()
        config.set("GlobalParams", "n_books", "3")
        config.set("GlobalParams", "greeting", "set-in-driver")
        config.set("Count", "suffix", "driver-suffix")
        ok = nbpipe.build([cfgpipe.Report(root=root)], local_scheduler=True, workers=int(workers), executor=executor)
    sys.exit(0 if ok else 1)
""")


@dataclass
class Source:
    id: str
    n_books: int
    greeting: str
    suffix: str
    files: dict[str, str] = field(default_factory=dict)  # written in the working directory
    cli: list[str] = field(default_factory=list)  # --Family-param values
    how: str = "cli"  # "cli" (python -m nbpipe run), "run" (nbpipe.run), "driver" (set in the driver)
    env_file: str | None = None  # written outside the working directory, named by env_var
    env_var: str = "LUIGI_CONFIG_PATH"
    env_name: str = "settings.cfg"


INI = "[GlobalParams]\nn_books = {n}\ngreeting = {g}\n\n[Count]\nsuffix = {s}\n"
TOML = '[GlobalParams]\nn_books = {n}\ngreeting = "{g}"\n\n[Count]\nsuffix = "{s}"\n'
CLI = ["--GlobalParams-n-books", "4", "--GlobalParams-greeting", "from-cli", "--Count-suffix", "cli-suffix"]

SOURCES = [
    Source("defaults", 2, "default-greeting", "default-suffix"),
    Source("command-line", 4, "from-cli", "cli-suffix", cli=CLI),
    Source("nbpipe.run", 4, "from-cli", "cli-suffix", cli=CLI, how="run"),
    Source(
        "luigi.cfg",
        3,
        "from-luigi-cfg",
        "cfg-suffix",
        files={"luigi.cfg": INI.format(n=3, g="from-luigi-cfg", s="cfg-suffix")},
    ),
    Source(
        "luigi.toml",
        3,
        "from-luigi-toml",
        "toml-suffix",
        files={"luigi.toml": TOML.format(n=3, g="from-luigi-toml", s="toml-suffix")},
    ),
    Source(
        "nbpipe.toml",
        1,
        "from-nbpipe-toml",
        "nb-suffix",
        files={"nbpipe.toml": TOML.format(n=1, g="from-nbpipe-toml", s="nb-suffix")},
    ),
    Source(
        "LUIGI_CONFIG_PATH",
        3,
        "from-env-path",
        "env-suffix",
        env_file=INI.format(n=3, g="from-env-path", s="env-suffix"),
    ),
    Source(
        "NBPIPE_CONFIG_PATH",
        2,
        "from-nbpipe-env-path",
        "nb-env-suffix",
        env_file=TOML.format(n=2, g="from-nbpipe-env-path", s="nb-env-suffix"),
        env_var="NBPIPE_CONFIG_PATH",
        env_name="settings.toml",
    ),
    Source(
        "command-line-over-luigi.cfg",
        4,
        "from-cli",
        "cli-suffix",
        files={"luigi.cfg": INI.format(n=1, g="from-luigi-cfg", s="cfg-suffix")},
        cli=CLI,
    ),
    Source("set-in-driver", 3, "set-in-driver", "driver-suffix", how="driver"),
]

EXECUTORS = {"inline": (1, "inline"), "process": (2, "process"), "dask": (2, "dask")}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The folder holding the pipeline module and the driver script."""
    folder = tmp_path_factory.mktemp("project")
    (folder / "cfgpipe.py").write_text(PIPELINE)
    (folder / "drive.py").write_text(DRIVER)
    return folder


@pytest.fixture(scope="module")
def dask_address(project):
    distributed = pytest.importorskip("distributed")
    env = {"PYTHONPATH": str(project)}
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40, env=env
    )
    with distributed.Client(cluster) as client:
        pids = set(client.run(os.getpid).values())
    yield cluster.scheduler_address, pids
    cluster.close()


def _env(project: Path, source: Source, elsewhere: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUIGI_", "NBPIPE_"))}
    env["PYTHONPATH"] = str(project)
    env["NBPIPE_STATE_DIR"] = str(elsewhere / "state")
    if source.env_file is not None:
        path = elsewhere / source.env_name
        path.write_text(source.env_file)
        env[source.env_var] = str(path)
    return env


def _command(project: Path, source: Source, root: Path, workers: int, executor: str, address: str | None) -> list[str]:
    options = ["--workers", str(workers), "--executor", executor]
    if address:
        options += ["--dask-address", address]
    task = ["Report", "--root", str(root)]
    if source.how == "driver":  # the Dask address comes from NBPIPE_DASK_ADDRESS
        return [sys.executable, str(project / "drive.py"), "driver", str(root), str(workers), executor]
    if source.how == "run":
        return [sys.executable, str(project / "drive.py"), "run", *options, "--local-scheduler", *task, *source.cli]
    return [sys.executable, "-m", "nbpipe", "run", "--module", "cfgpipe", *options, *task, *source.cli]


def _expected(source: Source) -> dict[str, str]:
    counts = {
        f"count-{i}.txt": f"book={i} suffix={source.suffix} greeting={source.greeting}\n" for i in range(source.n_books)
    }
    report = "".join(counts[f"count-{i}.txt"] for i in range(source.n_books))
    report += f"n_books={source.n_books} greeting={source.greeting}\n"
    return {**counts, "report.txt": report}


def _outputs(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(root.iterdir())} if root.is_dir() else {}


@pytest.mark.parametrize("executor", list(EXECUTORS))
@pytest.mark.parametrize("source", SOURCES, ids=[s.id for s in SOURCES])
def test_same_outputs_everywhere(project, tmp_path, request, source, executor):
    workers, kind = EXECUTORS[executor]
    address, dask_pids = request.getfixturevalue("dask_address") if executor == "dask" else (None, set())
    workdir, elsewhere, root = tmp_path / "work", tmp_path / "elsewhere", tmp_path / "out"
    workdir.mkdir()
    elsewhere.mkdir()
    (tmp_path / "out-pids").mkdir()
    for name, text in source.files.items():
        (workdir / name).write_text(text)
    env = _env(project, source, elsewhere)
    if address:
        env["NBPIPE_DASK_ADDRESS"] = address
    proc = subprocess.Popen(
        _command(project, source, root, workers, kind, address),
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _out, err = proc.communicate(timeout=240)
    where = f"[{source.id}, {executor}] exit {proc.returncode}\n{err[-3000:]}"
    assert _outputs(root) == _expected(source), where
    assert proc.returncode == 0, where
    # and the tasks really ran where the executor says
    ran_in = {int(p.read_text()) for p in (tmp_path / "out-pids").iterdir()}
    assert len(ran_in) >= 1
    if executor == "inline":
        assert ran_in == {proc.pid}, where
    elif executor == "process":
        assert proc.pid not in ran_in, where
    else:
        assert ran_in <= dask_pids, where
