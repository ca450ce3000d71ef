"""Where notebook users feel the engine's cost, against its floor, side by side in one run.

    python benchmarks/bench_hotpath.py [--other /tmp/before] [--repeat 3] [--out benchmarks/results_hotpath.md]
        [--cases marker,luigi,file,global,dask]

Each figure is one fresh child process timing one run; cases and checkouts
alternate, so the machine's noise falls on all alike; the report gives
medians.  Files live on /dev/shm.

* **marker** — the layered graph (``bench_tasks.edges``: N/100 layers of
  100, 3 requirements each); ``complete()`` stats a marker file, ``run()``
  creates it.  Driven by nbpipe (1 worker, inline, the state store on), by
  a plain ``graphlib.TopologicalSorter`` loop doing the same stat-and-create
  per node and Luigi's re-check of each requirement (the floor: no engine
  at all) and by ``dask.get`` (Dask's synchronous scheduler) over the same
  graph.  N = 3 000 and 10 000; with the **luigi** case also N = 1 000, where
  Luigi itself (local scheduler, 1 worker) runs the same graph.  Each child imports its engine (and, for
  the cases below, the executor's modules: Dask distributed takes about
  0.2 s) before the clock starts; nbpipe's child also builds one trivial task first (so the
  modules a build imports on first use are loaded and the state database
  exists, as from a notebook's second run on: the first build in a fresh
  process pays about 25 ms more, once).
* **file** — the same graph of ``LocalTarget`` small-file tasks (the
  engine's atomic ``open("w")``), nbpipe inline, N = 10 000.
* **global** — a task class defined in ``__main__`` whose ``run()`` reads a
  20 MB module global (a modest DataFrame's size), 1 000 independent tasks
  writing a small file each, with 2 worker processes and with Dask (a
  ``LocalCluster`` of 2 single-threaded workers started by this script, as
  a user keeps one; the driver connects to it by address, so it is a
  cluster other drivers could share).
* **dask** — ``bench_dask.py``'s per-task overhead pipeline (1 000
  small-file tasks in layers of 100), 2 workers, process and Dask, and
  Dask's own floor: the same file writes as plain futures, 8 in flight (a
  client connected, used and closed, as a run does).

``--other`` runs the same children against another checkout (its folder
holding ``nbpipe/``), e.g. ``git worktree add /tmp/before HEAD``.
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
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, os.environ["BENCH_HERE"])
mode, n = sys.argv[1], int(sys.argv[2])
out = os.environ["BENCH_OUT"]
from bench_tasks import WIDTH, edges

def key(layer, idx):
    return f"m-{layer}-{idx}"

def work(path):
    # what a marker task does: check, then create
    if not os.path.exists(path):
        open(path, "w").close()

layers = n // WIDTH


def marker_graph(lib):
    # The layered marker graph's task class, written once against Luigi's API: lib is nbpipe or luigi.

    class MarkerLayered(lib.Task):
        layer = lib.IntParameter()
        idx = lib.IntParameter()

        def requires(self):
            if self.layer == 0:
                return []
            cls = type(self)
            return [cls(layer=self.layer - 1, idx=j) for j in edges(self.layer)[self.idx]]

        def complete(self):
            return os.path.exists(os.path.join(out, self.task_id))

        def run(self):
            open(os.path.join(out, self.task_id), "w").close()

    return MarkerLayered


def top_of(lib, node):
    class Top(lib.WrapperTask):
        def requires(self):
            return [node(layer=layers - 1, idx=i) for i in range(WIDTH)]

    return Top


if mode == "floor":
    import graphlib
    start = time.perf_counter()
    graph = {}
    for layer in range(layers):
        for idx in range(WIDTH):
            graph[key(layer, idx)] = [key(layer - 1, j) for j in edges(layer)[idx]] if layer else []
    ts = graphlib.TopologicalSorter(graph)
    ts.prepare()
    while ts.is_active():
        for node in ts.get_ready():
            path = os.path.join(out, node)
            if not os.path.exists(path):
                for dep in graph[node]:  # Luigi's re-check of the requirements before running
                    if not os.path.exists(os.path.join(out, dep)):
                        raise RuntimeError(dep)
                open(path, "w").close()
            ts.done(node)
    seconds = time.perf_counter() - start
elif mode == "dask_get":
    import dask
    def run(path, *deps):
        work(path)
        return path
    start = time.perf_counter()
    dsk = {}
    for layer in range(layers):
        for idx in range(WIDTH):
            deps = [key(layer - 1, j) for j in edges(layer)[idx]] if layer else []
            dsk[key(layer, idx)] = (run, os.path.join(out, key(layer, idx)), *deps)
    dask.get(dsk, [key(layers - 1, i) for i in range(WIDTH)])
    seconds = time.perf_counter() - start
elif mode in ("nbpipe", "nbpipe_file"):
    import nbpipe

    MarkerLayered = marker_graph(nbpipe)

    class FileLayered(MarkerLayered):
        def complete(self):
            return nbpipe.Task.complete(self)

        def output(self):
            return nbpipe.LocalTarget(os.path.join(out, self.task_id))

        def run(self):
            with self.output().open("w") as f:
                f.write("ok\n")

    node = MarkerLayered if mode == "nbpipe" else FileLayered

    Top = top_of(nbpipe, node)

    class Warm(nbpipe.Task):  # the engine has run once in this process, as in a notebook's second cell
        def complete(self):
            return os.path.exists(os.path.join(out, "warm"))

        def run(self):
            open(os.path.join(out, "warm"), "w").close()

    nbpipe.build([Warm()], workers=1, executor="inline")
    start = time.perf_counter()
    result = nbpipe.build([Top()], workers=1, executor="inline")
    seconds = time.perf_counter() - start
elif mode == "luigi":
    # The same graph written for Luigi, run as its users run it (local scheduler, 1 worker).
    import logging
    import luigi

    Top = top_of(luigi, marker_graph(luigi))

    logging.getLogger("luigi-interface").setLevel(logging.WARNING)
    start = time.perf_counter()
    luigi.build([Top()], workers=1, local_scheduler=True, log_level="WARNING")
    seconds = time.perf_counter() - start
elif mode == "dask_floor":
    # Dask's own round trip: the same small-file writes as plain futures, 8 in flight
    # (what nbpipe keeps in flight on 2 single-threaded workers), no engine.
    import distributed

    def write(i):
        with open(os.path.join(out, f"small_{i}.txt"), "w") as f:
            f.write(str(i))

    start = time.perf_counter()  # connecting and closing are timed, as nbpipe's run does both
    client = distributed.Client(os.environ["NBPIPE_DASK_ADDRESS"])
    pending = distributed.as_completed()
    submitted = 0
    for _ in range(n):
        while submitted < n and pending.count() < 8:
            pending.add(client.submit(write, submitted, pure=False))
            submitted += 1
        next(pending).result()
    client.close()
    seconds = time.perf_counter() - start
elif mode.startswith("small_"):
    import nbpipe
    import nbpipe.executors.process  # the executor's modules, imported before the clock (see the docstring)
    if mode == "small_dask":
        import distributed
        import nbpipe.executors.dask_executor

    class Small(nbpipe.Task):  # bench_dask.py's overhead pipeline: layers of 100 small files
        i = nbpipe.IntParameter()

        def requires(self):
            return [Small(i=self.i - 100)] if self.i >= 100 else []

        def output(self):
            return nbpipe.LocalTarget(os.path.join(out, f"small_{self.i}.txt"))

        def run(self):
            with self.output().open("w") as f:
                f.write(str(self.i))

    executor = mode.split("_", 1)[1]
    start = time.perf_counter()
    nbpipe.build([Small(i=i) for i in range(n)], workers=2, executor=executor)
    seconds = time.perf_counter() - start
elif mode.startswith("global_"):
    import nbpipe
    import nbpipe.executors.process
    if mode == "global_dask":
        import distributed
        import nbpipe.executors.dask_executor
    BIG = os.urandom(int(float(os.environ.get("BENCH_BIG_MB", "20")) * 1024 * 1024))  # referenced by the class below: cloudpickle carries it by value

    class UsesBig(nbpipe.Task):
        i = nbpipe.IntParameter()

        def output(self):
            return nbpipe.LocalTarget(os.path.join(out, f"g{self.i}"))

        def run(self):
            with self.output().open("w") as f:
                f.write(str(len(BIG)))

    executor = mode.split("_", 1)[1]
    start = time.perf_counter()
    nbpipe.build([UsesBig(i=i) for i in range(n)], workers=2, executor=executor)
    seconds = time.perf_counter() - start
else:
    raise SystemExit(f"unknown mode {mode}")
done = len(os.listdir(out))
print(json.dumps({"seconds": seconds, "done": done}))
"""

MARKER_SIZES = (3_000, 10_000)
LUIGI_SIZE = 1_000  # Luigi takes about 7 ms a task here: 7 s a run
FILE_SIZE = 10_000
GLOBAL_TASKS = 1_000
SMALL_TASKS = 1_000


def cases(selected: set[str]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    if "marker" in selected:
        for n in MARKER_SIZES:
            out += [("floor", n), ("dask_get", n), ("nbpipe", n)]
    if "luigi" in selected:
        out += [("floor", LUIGI_SIZE), ("dask_get", LUIGI_SIZE), ("nbpipe", LUIGI_SIZE), ("luigi", LUIGI_SIZE)]
    if "file" in selected:
        out += [("floor", FILE_SIZE), ("nbpipe_file", FILE_SIZE)]
    if "global" in selected:
        out += [("global_process", GLOBAL_TASKS), ("global_dask", GLOBAL_TASKS)]
    if "dask" in selected:
        out += [("small_process", SMALL_TASKS), ("small_dask", SMALL_TASKS), ("dask_floor", SMALL_TASKS)]
    return list(dict.fromkeys(out))


def one(mode: str, n: int, checkout: Path, address: str | None) -> float | None:
    scratch = tempfile.mkdtemp(prefix="nbpipe-hot-", dir=SCRATCH)
    try:
        # (PYTHONDONTWRITEBYTECODE would leave the cache prefix below empty: every child would then
        # compile every module it imports, inside the timed run for modules imported on first use.)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("NBPIPE_", "LUIGI_")) and k != "PYTHONDONTWRITEBYTECODE"
        }
        env.update(
            BENCH_OUT=os.path.join(scratch, "out"),
            BENCH_HERE=str(HERE),
            NBPIPE_STATE_DIR=os.path.join(scratch, "state"),
            PYTHONPATH=os.pathsep.join([str(checkout), str(HERE)]),
            PYTHONPYCACHEPREFIX=os.path.join(SCRATCH or tempfile.gettempdir(), f"nbpipe-hot-pyc-{checkout.name}"),
        )
        if address:
            env["NBPIPE_DASK_ADDRESS"] = address
        os.makedirs(env["BENCH_OUT"])
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, mode, str(n)],
            env=env,
            cwd=scratch,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            print(f"  {mode}/{n} ({checkout}): exit {proc.returncode}: {proc.stderr.strip()[-500:]}", file=sys.stderr)
            return None
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        if data["done"] < n:
            print(f"  {mode}/{n} ({checkout}): only {data['done']} of {n} outputs", file=sys.stderr)
            return None
        return data["seconds"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--other", help="another checkout to measure beside this one (e.g. /tmp/before)")
    parser.add_argument("--label-other", default="before")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default="marker,luigi,file,global,dask")
    parser.add_argument("--out", default=str(HERE / "results_hotpath.md"))
    args = parser.parse_args(argv)
    sides = {"this": REPO}
    if args.other:
        sides[args.label_other] = Path(args.other).resolve()
    plan = cases(set(args.cases.split(",")))
    cluster = None
    address = None
    if any(mode.endswith("_dask") for mode, _ in plan):
        import distributed

        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
        address = cluster.scheduler_address
    times: dict[tuple[str, str, int], list[float]] = {}
    started = time.time()
    try:
        for mode, n in plan:  # warm the bytecode caches, untimed
            for checkout in set(sides.values()):
                one(mode, min(n, 300), checkout, address)
        for rep in range(args.repeat):
            for mode, n in plan:
                engine_sides = sides.items() if mode.startswith(("nbpipe", "global", "small")) else [("this", REPO)]
                for side, checkout in engine_sides:
                    seconds = one(mode, n, checkout, address)
                    if seconds is not None:
                        times.setdefault((side, mode, n), []).append(seconds)
                    print(f"rep {rep} {side:>6} {mode:>14} N={n}: {seconds}", file=sys.stderr, flush=True)
    finally:
        if cluster is not None:
            cluster.close()
    report = render(times, sides, args, time.time() - started)
    Path(args.out).write_text(report)
    Path(args.out).with_suffix(".json").write_text(
        json.dumps({f"{s}/{m}/{n}": v for (s, m, n), v in sorted(times.items())}, indent=1)
    )
    print(report)
    return 0


def render(times: dict, sides: dict, args, elapsed: float) -> str:
    def us(side: str, mode: str, n: int) -> float | None:
        runs = times.get((side, mode, n))
        return statistics.median(runs) / n * 1e6 if runs else None

    def cell(value: float | None) -> str:
        return "—" if value is None else f"{value:,.1f}"

    lines = [
        "# The hot path against its floor",
        "",
        f"`python benchmarks/bench_hotpath.py {' '.join(sys.argv[1:])}` — {time.strftime('%Y-%m-%d')}, "
        f"{os.cpu_count()} cores (shared), Python {sys.version.split()[0]}; medians of {args.repeat} fresh "
        f"processes per figure, alternating; files on /dev/shm; {elapsed / 60:.1f} min.",
        "",
        "## Layered marker-file graph, 1 worker (µs per task)",
        "",
        "| N | graphlib floor | dask.get | Luigi | "
        + " | ".join(f"nbpipe ({s})" for s in sides)
        + " | ratio to floor |",
        "|---:|---:|---:|---:|" + "---:|" * len(sides) + "---|",
    ]
    for n in sorted({n for (_, mode, n) in times if mode == "floor" and n != FILE_SIZE} | set(MARKER_SIZES)):
        floor = us("this", "floor", n)
        values = [us(s, "nbpipe", n) for s in sides]
        ratios = ", ".join(f"{s} {v / floor:.2f}×" for s, v in zip(sides, values, strict=True) if v and floor)
        lines.append(
            f"| {n:,} | {cell(floor)} | {cell(us('this', 'dask_get', n))} | {cell(us('this', 'luigi', n))} | "
            f"{' | '.join(map(cell, values))} | {ratios} |"
        )
    lines += [
        "",
        f"## Layered small-file tasks (`LocalTarget`), 1 worker, N = {FILE_SIZE:,} (µs per task)",
        "",
        "| graphlib floor (marker work) | " + " | ".join(f"nbpipe ({s})" for s in sides) + " |",
        "|---:|" + "---:|" * len(sides),
        f"| {cell(us('this', 'floor', FILE_SIZE))} | "
        + " | ".join(cell(us(s, "nbpipe_file", FILE_SIZE)) for s in sides)
        + " |",
        "",
        f"## A `__main__` class holding a 20 MB global, {GLOBAL_TASKS} tasks, 2 workers (ms per task)",
        "",
        "| executor | " + " | ".join(sides) + " |",
        "|---|" + "---:|" * len(sides),
    ]
    for mode, label in (("global_process", "process"), ("global_dask", "dask (LocalCluster, 2 workers)")):
        vals = [us(s, mode, GLOBAL_TASKS) for s in sides]
        lines.append(f"| {label} | " + " | ".join("—" if v is None else f"{v / 1000:,.2f}" for v in vals) + " |")
    lines += [
        "",
        f"## Dask round trip: {SMALL_TASKS:,} small-file tasks in layers of 100, 2 workers (µs per task)",
        "",
        "| executor | " + " | ".join(sides) + " |",
        "|---|" + "---:|" * len(sides),
    ]
    for mode, label in (("small_process", "process"), ("small_dask", "dask (LocalCluster, 2 workers)")):
        lines.append(f"| {label} | " + " | ".join(cell(us(s, mode, SMALL_TASKS)) for s in sides) + " |")
    floor = us("this", "dask_floor", SMALL_TASKS)
    lines.append(f"| Dask alone (plain futures, 8 in flight; same run) | {cell(floor)} |" + " |" * (len(sides) - 1))
    lines += ["", "Raw runs (seconds):", ""]
    for (side, mode, n), runs in sorted(times.items()):
        lines.append(f"- {side}/{mode}/{n}: " + ", ".join(f"{r:.3f}" for r in runs))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
