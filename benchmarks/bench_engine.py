"""Benchmark nbpipe against Luigi on the same task code.

    python benchmarks/bench_engine.py [--quick] [--out benchmarks/results.md]
    python benchmarks/bench_engine.py --profile layered:noop:100000

Every measurement runs in a fresh child process (``--child SPEC``) that
times one ``build()`` call and writes its figures as JSON; the parent plans
the runs, repeats each one and hands the medians to :mod:`bench_report`.
See README.md in this folder for what is measured.
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
# Measure the nbpipe of this checkout, whatever `pip install -e` points at
# (bench_versus.py points a child at another checkout with NBPIPE_BENCH_CHECKOUT).
REPO = Path(os.environ.get("NBPIPE_BENCH_CHECKOUT") or HERE.parent)
sys.path.insert(1, str(REPO))
SCRATCH_PARENT = "/dev/shm" if os.path.isdir("/dev/shm") else None
CHILD_TIMEOUT = {"nbpipe": 300.0, "luigi": 180.0}  # seconds; Luigi's 3 000 cases stop at 3 min


# -- the plan ------------------------------------------------------------------


def plan(quick: bool) -> list[dict]:
    """The configurations to measure: engine, graph, kind, workers, n."""
    graphs, kinds = ("chain", "fanin", "layered"), ("noop", "file")
    sizes = (1_000, 10_000) if quick else (1_000, 3_000, 10_000, 100_000)
    out = []

    def add(engine, graph, kind, workers, n):
        cfg = {"engine": engine, "graph": graph, "kind": kind, "workers": workers, "n": n}
        if cfg not in out:
            out.append(cfg)

    # nbpipe: every graph and kind inline; 2 worker processes with small files
    # (an in-memory no-op state does not cross processes), up to 10 000: at
    # 100 000 they take ~20 s a run, 3 minutes for 3 graphs x 3 runs.
    for graph in graphs:
        for kind in kinds:
            for n in sizes:
                add("nbpipe", graph, kind, 1, n)
        for n in sizes:
            if n <= 10_000:
                add("nbpipe", graph, "file", 2, n)
    # the goals' sizes, also in --quick
    add("nbpipe", "layered", "noop", 1, 3_000)
    add("nbpipe", "layered", "file", 2, 3_000)
    # Luigi: 1 000 everywhere (layered only in --quick), 3 000 where the goals compare.
    for graph in ("layered",) if quick else graphs:
        for kind in kinds:
            add("luigi", graph, kind, 1, 1_000)
        add("luigi", graph, "file", 2, 1_000)
    # Luigi with 2 workers at 3 000 takes ~40 s a run (3 runs would be a fifth of
    # the 10-minute budget), so the 2-worker goal compares with Luigi at 1 000.
    add("luigi", "layered", "noop", 1, 3_000)
    return out


# -- the child -------------------------------------------------------------------


def child(spec: dict) -> None:
    """Time one build() in this fresh process and write the figures to spec['result']."""
    import logging
    import resource

    os.environ["NBPIPE_BENCH_ENGINE"] = spec["engine"]
    os.environ["NBPIPE_BENCH_DIR"] = spec["data_dir"]
    import bench_tasks as bt

    engine = bt.luigi
    options = {"workers": spec["workers"], "local_scheduler": True, "log_level": "WARNING"}
    if spec["engine"] == "nbpipe":
        options["executor"] = "inline" if spec["workers"] == 1 else "process"
    logging.getLogger("luigi-interface").setLevel(logging.WARNING)
    kind, n = spec["kind"], spec["n"]
    done_file = Path(spec["data_dir"]).parent / "noop-done.json"
    if spec["phase"] == "warm" and kind == "noop":
        bt.DONE.update(json.loads(done_file.read_text()))

    start = time.perf_counter()
    ok = engine.build([bt.root(spec["graph"], kind, n)], **options)
    seconds = time.perf_counter() - start

    done = bt.count_done(kind)
    if spec["phase"] == "cold" and kind == "noop":
        done_file.write_text(json.dumps(sorted(bt.DONE)))
    result = {
        "seconds": seconds,
        "ok": bool(ok) and done == n,
        "done": done,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    Path(spec["result"]).write_text(json.dumps(result))


def child_env(root: str) -> dict:
    """The environment of every child: this checkout first, bytecode cached under ``root``.

    Python caches compiled modules in ``root/pycache`` (PYTHONPYCACHEPREFIX), so
    no child pays for compiling nbpipe or Luigi and nothing is written into
    the repository or site-packages.
    """
    drop = ("NBPIPE_", "LUIGI_", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["PYTHONPYCACHEPREFIX"] = os.path.join(root, "pycache")
    return env


def measure(cfg: dict, scratch: str, env: dict) -> list[dict]:
    """A cold build then a warm build of ``cfg`` over one fresh directory."""
    data_dir = os.path.join(scratch, "data")
    os.makedirs(data_dir)
    env = dict(env, NBPIPE_STATE_DIR=os.path.join(scratch, "state"))
    limit = CHILD_TIMEOUT[cfg["engine"]]
    rows = []
    for phase in ("cold", "warm"):
        result_path = os.path.join(scratch, f"{phase}.json")
        spec = dict(cfg, phase=phase, data_dir=data_dir, result=result_path)
        row = dict(cfg, phase=phase)
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                cwd=scratch,
                env=env,
                capture_output=True,
                text=True,
                timeout=limit,
                check=False,
            )
        except subprocess.TimeoutExpired:
            rows.append(dict(row, error=f"timed out after {limit:.0f} s"))
            break
        row["process_seconds"] = time.perf_counter() - started
        if proc.returncode != 0 or not os.path.exists(result_path):
            tail = (proc.stderr or "").strip().splitlines()[-3:]
            rows.append(dict(row, error=f"exit code {proc.returncode}: {' | '.join(tail)}"))
            break
        row.update(json.loads(Path(result_path).read_text()))
        if not row["ok"]:
            row["error"] = f"build failed or incomplete ({row['done']} of {cfg['n']} tasks done)"
        rows.append(row)
    return rows


STARTUP = {  # label: code
    "python -c pass": "pass",
    "import nbpipe": "import nbpipe",
    "import luigi": "import luigi",
}


def startup_times(root: str, env: dict, runs: int = 10) -> dict[str, list[float]]:
    """Wall times of fresh ``python -c CODE`` processes (after one untimed warm-up each)."""

    def timed(code, env):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True)
        return time.perf_counter() - start

    out = {}
    for label, code in STARTUP.items():
        timed(code, env)
        out[label] = [timed(code, env) for _ in range(runs)]
    # As this checkout is by default here: PYTHONDONTWRITEBYTECODE=1 and no
    # __pycache__, so nbpipe is compiled from source in every process.
    raw = dict(env, PYTHONDONTWRITEBYTECODE="1")
    del raw["PYTHONPYCACHEPREFIX"]
    out["import nbpipe, no bytecode cache"] = [timed("import nbpipe", raw) for _ in range(runs)]
    return out


def _label(cfg: dict) -> str:
    return f"{cfg['engine']:6} {cfg['graph']:7} {cfg['kind']:4} w={cfg['workers']} N={cfg['n']:>6}"


def run_suite(quick: bool, log=lambda s: print(s, file=sys.stderr, flush=True)) -> dict:
    reps = 1 if quick else 3
    configs = plan(quick)
    started = time.time()
    rows: list[dict] = []
    failed: set[int] = set()
    root = tempfile.mkdtemp(prefix="nbpipe-bench-", dir=SCRATCH_PARENT)
    env = child_env(root)
    try:
        startup = startup_times(root, env)
        for label, times in startup.items():
            log(f"{label:34} median {statistics.median(times) * 1e3:6.1f} ms")
        # Warm-up (not recorded): fill the bytecode cache with every module a run imports.
        for engine in ("nbpipe", "luigi"):
            for workers in (1, 2):
                scratch = os.path.join(root, f"warmup-{engine}-{workers}")
                os.makedirs(scratch)
                warmup = {"engine": engine, "graph": "layered", "kind": "file", "workers": workers, "n": 100}
                measure(warmup, scratch, env)
        for rep in range(reps):
            for i, cfg in enumerate(configs):
                if i in failed:
                    continue
                scratch = os.path.join(root, f"run-{rep}-{i}")
                os.makedirs(scratch)
                got = measure(cfg, scratch, env)
                shutil.rmtree(scratch, ignore_errors=True)
                for row in got:
                    row["rep"] = rep
                    if "error" in row:
                        failed.add(i)
                        log(f"[{rep + 1}/{reps}] {_label(cfg)} {row['phase']:4}  ERROR {row['error']}")
                    else:
                        log(
                            f"[{rep + 1}/{reps}] {_label(cfg)} {row['phase']:4} {row['seconds']:8.3f} s "
                            f"{row['seconds'] / cfg['n'] * 1e6:9.1f} us/task"
                        )
                rows.extend(got)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "quick": quick,
        "repeats": reps,
        "configs": configs,
        "runs": rows,
        "startup": startup,
        "started": started,
        "suite_seconds": time.time() - started,
    }


# -- profiling -----------------------------------------------------------------


def profile(target: str, top: int = 25) -> None:
    """cProfile one nbpipe inline build in this process (``graph:kind:n``)."""
    import cProfile
    import pstats

    graph, kind, n = target.split(":")
    scratch = tempfile.mkdtemp(prefix="nbpipe-prof-", dir=SCRATCH_PARENT)
    os.environ["NBPIPE_BENCH_ENGINE"] = "nbpipe"
    os.environ["NBPIPE_BENCH_DIR"] = scratch
    os.environ["NBPIPE_STATE_DIR"] = os.path.join(scratch, "state")
    import bench_tasks as bt

    try:
        prof = cProfile.Profile()
        prof.enable()
        bt.luigi.build([bt.root(graph, kind, int(n))], workers=1, executor="inline", log_level="WARNING")
        prof.disable()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    stats = pstats.Stats(prof)
    for key in ("cumulative", "tottime"):
        stats.sort_stats(key).print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer sizes, one repeat (about 1 minute)")
    parser.add_argument("--out", default=str(HERE / "results.md"), help="the Markdown report (JSON goes beside it)")
    parser.add_argument("--profile", metavar="GRAPH:KIND:N", help="cProfile one nbpipe inline build instead")
    parser.add_argument("--report", metavar="RESULTS.json", help="re-render the report from saved results")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    if args.profile:
        profile(args.profile)
        return 0
    import bench_report

    out = Path(args.out)
    if args.report:
        data = json.loads(Path(args.report).read_text())
    else:
        data = run_suite(args.quick)
        data["machine"] = bench_report.machine_facts()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    text = bench_report.render(data)
    out.write_text(text)
    print(text)
    print(f"wrote {out}" + ("" if args.report else f" and {out.with_suffix('.json')}"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
