"""The dask executor against the process executor, on the same pipelines, in one run.

Two measurements, each a fresh child process timing one ``build()``:

* **per-task overhead** — N small-file tasks in layers of 100 (each writes
  a few bytes), 2 workers; µs per task = wall time / N.
* **CPU-bound speed-up** — 8 independent tasks each burning the same CPU
  time in pure Python; wall time with 1 worker and with 2, speed-up =
  t(1) / t(2).  On a 2-core machine the ceiling is 2x.

The dask runs use a ``LocalCluster`` started once by this script (as a user
keeps one running), single-threaded worker processes, one per worker slot;
starting a cluster on demand costs extra, measured separately.  Each child
imports the executor's modules (Dask distributed: about 0.2 s) before its
clock starts, as a kernel that has run on that executor before; connecting
to the cluster is part of every run and is timed.  Outputs live
on /dev/shm.  Configurations are interleaved, medians of ``--repeat``.
Writes ``results_dask.md`` beside this file.

    python benchmarks/bench_dask.py [--n 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
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

CHILD = r"""
import json, os, sys, time
import nbpipe

OUT = os.environ["BENCH_OUT"]


class Small(nbpipe.Task):
    i = nbpipe.IntParameter()

    def requires(self):
        return [Small(i=self.i - 100)] if self.i >= 100 else []

    def output(self):
        return nbpipe.LocalTarget(os.path.join(OUT, f"small_{self.i}.txt"))

    def run(self):
        with self.output().open("w") as f:
            f.write(str(self.i))


class Burn(nbpipe.Task):
    i = nbpipe.IntParameter()
    loops = nbpipe.IntParameter()

    def output(self):
        return nbpipe.LocalTarget(os.path.join(OUT, f"burn_{self.i}.txt"))

    def run(self):
        total = 0
        for k in range(self.loops):
            total += k * k % 7
        with self.output().open("w") as f:
            f.write(str(total))


kind, executor, workers, n, loops = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
# The executor's modules are imported before the clock starts, as in a kernel that has run on it
# before: importing Dask distributed takes about 0.2 s once per process, not per task.
import nbpipe.executors.process
if executor == "dask":
    import distributed
    import nbpipe.executors.dask_executor
roots = [Small(i=i) for i in range(n - 100, n)] if kind == "overhead" else [Burn(i=i, loops=loops) for i in range(n)]
start = time.perf_counter()
result = nbpipe.build(roots, workers=workers, executor=executor, detailed_summary=True, log_level="WARNING")
seconds = time.perf_counter() - start
done = len(result.summary.categories["completed"])
print(json.dumps({"seconds": seconds, "done": done, "exit": result.exit_code}))
"""


def one(kind: str, executor: str, workers: int, n: int, loops: int, address: str | None) -> float:
    scratch = tempfile.mkdtemp(prefix="nbpipe-dask-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NBPIPE_")}
        env.update(
            BENCH_OUT=os.path.join(scratch, "out"),
            NBPIPE_STATE_DIR=os.path.join(scratch, "state"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])),
        )
        if address:
            env["NBPIPE_DASK_ADDRESS"] = address
        os.makedirs(env["BENCH_OUT"])
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, kind, executor, str(workers), str(n), str(loops)],
            env=env,
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{kind}/{executor}/{workers} failed:\n{proc.stdout}\n{proc.stderr}")
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        if data["done"] != n or data["exit"] != 0:
            raise RuntimeError(f"{kind}/{executor}/{workers}: {data}")
        return data["seconds"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def calibrate_loops(seconds: float) -> int:
    """Loop count of Burn.run taking about ``seconds`` of CPU here."""
    probe = 2_000_000
    start = time.process_time()
    total = 0
    for k in range(probe):
        total += k * k % 7
    elapsed = time.process_time() - start
    return int(probe * seconds / elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="tasks in the overhead pipeline (multiple of 100)")
    parser.add_argument("--burn", type=float, default=1.0, help="CPU seconds per CPU-bound task")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results_dask.md"))
    args = parser.parse_args(argv)

    import distributed

    started = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    cluster_start = time.perf_counter() - started
    loops = calibrate_loops(args.burn)
    runs: dict[tuple, list[float]] = {}
    try:
        plan = [("overhead", ex, 2, args.n) for ex in ("process", "dask")]
        plan += [("cpu", ex, w, 8) for ex in ("process", "dask") for w in (1, 2)]
        for round_ in range(args.repeat):
            for kind, executor, workers, n in plan:
                seconds = one(kind, executor, workers, n, loops, cluster.scheduler_address)
                runs.setdefault((kind, executor, workers), []).append(seconds)
                print(f"round {round_ + 1}: {kind:8} {executor:7} workers={workers}: {seconds:.3f} s", flush=True)
        on_demand = [one("overhead", "dask", 2, 100, loops, None) for _ in range(args.repeat)]
    finally:
        cluster.close()

    med = {key: statistics.median(values) for key, values in runs.items()}
    lines = [
        "# Dask executor vs process executor",
        "",
        f"`python benchmarks/bench_dask.py --n {args.n} --repeat {args.repeat}` — {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, distributed {distributed.__version__}.",
        "Each figure: the median of fresh child processes each timing one `build()`; outputs on /dev/shm; "
        "the Dask runs use a `LocalCluster` of 2 single-threaded worker processes started beforehand; "
        "each child imports the executor's modules before its clock starts (Dask distributed: about 0.2 s, "
        "once per process), and connects to the cluster within it.",
        "",
        f"## Per-task overhead (N = {args.n} small-file tasks, 2 workers)",
        "",
        "| executor | total (s) | µs per task |",
        "|---|---:|---:|",
    ]
    for executor in ("process", "dask"):
        total = med[("overhead", executor, 2)]
        lines.append(f"| {executor} | {total:.2f} | {total / args.n * 1e6:,.0f} |")
    ratio = med[("overhead", "dask", 2)] / med[("overhead", "process", 2)]
    lines += [
        "",
        f"Dask costs {ratio:.1f}x the process executor per task: each task is a round trip through the Dask "
        "scheduler (tasks sent in batches, results pushed back with the scheduler's events, no lock when "
        "no other driver shares the cluster), against one pipe message each way for a local worker.",
        f"Starting a `LocalCluster` on demand adds {cluster_start:.1f} s (measured here, once); a 100-task run "
        f"with an on-demand cluster took {statistics.median(on_demand):.1f} s in total (median).",
        "",
        f"## CPU-bound speed-up (8 tasks x ~{args.burn:g} s of pure-Python CPU each)",
        "",
        "| executor | 1 worker (s) | 2 workers (s) | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for executor in ("process", "dask"):
        one_w, two_w = med[("cpu", executor, 1)], med[("cpu", executor, 2)]
        lines.append(f"| {executor} | {one_w:.2f} | {two_w:.2f} | {one_w / two_w:.2f}x |")
    lines += ["", "Raw runs (seconds):", ""]
    for key, values in sorted(runs.items()):
        lines.append(f"- {'/'.join(map(str, key))}: {', '.join(f'{v:.3f}' for v in values)}")
    lines.append(f"- overhead/dask on demand/2 (N=100): {', '.join(f'{v:.3f}' for v in on_demand)}")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
