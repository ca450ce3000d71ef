"""``nbpipe execute`` against nbclient alone, on the same trivial notebook, in one run.

Each measurement is the wall time of a fresh process, from start to exit:

* **nbclient alone** — ``python -c`` reading the notebook with nbformat,
  running it with ``nbclient.NotebookClient(...).execute()`` and writing the
  executed notebook, which is what papermill-style runners do;
* **nbpipe execute** — ``python -m nbpipe execute NOTEBOOK`` (parameter
  injection, summaries streamed to stdout, the verdict, the executed
  notebook written), with ``--junit`` too.

The notebook is trivial on purpose (a parameters cell, ``%load_ext
nbpipe``, a one-task ``%%pipeline`` cell, ``%pipeline run``, a print), so the
kernel's own start and the cells cost as little as possible and the
difference is the runner's.  Both variants run the same cells in the same
kernel, interleaved, medians of ``--repeat``.  Goal: overhead <= 10%.
Writes ``results_execute.md`` beside this file.

    python benchmarks/bench_execute.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CELLS = [
    ("n = 3", ["parameters"]),
    ("%load_ext nbpipe", []),
    (
        "%%pipeline\nimport nbpipe\n\nclass Square(nbpipe.Task):\n    n = nbpipe.IntParameter()\n\n"
        '    def output(self):\n        return nbpipe.LocalTarget(f"square_{self.n}.txt")\n\n'
        '    def run(self):\n        with self.output().open("w") as f:\n            f.write(str(self.n ** 2))\n',
        [],
    ),
    ("%pipeline run Square --n {n}", []),
    ("print(open(f'square_{n}.txt').read())", []),
]

NBCLIENT_ONLY = r"""
import sys
import nbformat
from nbclient import NotebookClient
path, out = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, out)
"""


def write_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    for source, tags in CELLS:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


def timed(variant: str, scratch: Path) -> float:
    work = Path(tempfile.mkdtemp(dir=scratch))
    notebook = work / "trivial.ipynb"
    write_notebook(notebook)
    env = dict(
        os.environ,
        NBPIPE_STATE_DIR=str(work / ".nbpipe"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
    )
    if variant == "nbclient":
        # The kernel then renders text as under `nbpipe execute` (no widget is
        # built), so both variants run the same kernel-side work.
        env["NBPIPE_HEADLESS"] = "1"
        cmd = [sys.executable, "-c", NBCLIENT_ONLY, str(notebook), str(work / "out.ipynb"), str(work)]
    else:
        cmd = [
            sys.executable,
            "-m",
            "nbpipe",
            "execute",
            str(notebook),
            "--output",
            str(work / "out.ipynb"),
            "--junit",
            str(work / "junit.xml"),
        ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or not (work / "square_3.txt").exists():
        raise RuntimeError(f"{variant} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", default=str(HERE / "results_execute.md"))
    args = parser.parse_args(argv)
    scratch = Path(
        tempfile.mkdtemp(prefix="nbpipe-execute-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    )
    runs: dict[str, list[float]] = {"nbclient": [], "nbpipe": []}
    try:
        timed("nbclient", scratch)  # warm the OS caches; not recorded
        for i in range(args.repeat):
            # Alternate which goes first, so neither always gets the warmer machine.
            for variant in ("nbclient", "nbpipe") if i % 2 == 0 else ("nbpipe", "nbclient"):
                runs[variant].append(timed(variant, scratch))
                print(f"round {i + 1}: {variant:8} {runs[variant][-1]:.3f} s", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base, ours = statistics.median(runs["nbclient"]), statistics.median(runs["nbpipe"])
    overhead = (ours - base) / base * 100
    import nbclient

    text = "\n".join(
        [
            "# `nbpipe execute` vs nbclient alone",
            "",
            f"`python benchmarks/bench_execute.py --repeat {args.repeat}` — {time.strftime('%Y-%m-%d')}, "
            f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, nbclient {nbclient.__version__}.",
            "A trivial 5-cell notebook (parameters, `%load_ext nbpipe`, a one-task `%%pipeline` cell, "
            "`%pipeline run`, a print); each figure is the wall time of a fresh process, start to exit, "
            "interleaved, median of the runs. The nbclient-alone kernel gets `NBPIPE_HEADLESS=1`, so its magics "
            "render text as under `nbpipe execute` and both run the same kernel-side work.",
            "",
            "| runner | median (s) | runs (s) |",
            "|---|---:|---|",
            f"| nbclient alone (read, `NotebookClient.execute()`, write) | {base:.3f} | "
            f"{', '.join(f'{v:.2f}' for v in runs['nbclient'])} |",
            f"| `python -m nbpipe execute --junit` | {ours:.3f} | {', '.join(f'{v:.2f}' for v in runs['nbpipe'])} |",
            "",
            f"**Overhead: {overhead:+.1f}%** (goal <= 10%: {'MET' if overhead <= 10 else 'NOT MET'}).",
            "",
        ]
    )
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
