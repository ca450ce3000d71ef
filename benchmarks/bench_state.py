"""What the state store costs: one build with and without it, side by side.

For each configuration, fresh child processes time one inline ``build()``
of the layered graph (no-op and small-file tasks, N = 10 000 by default),
once with ``[core] state = false`` (no history, no fingerprints, no locks)
and once with the state store on (history and fingerprints written in
batches, one lock per task), state directory and outputs on /dev/shm.
Writes ``results_state.md`` beside this file.

    python benchmarks/bench_state.py [--n 10000] [--repeat 3]
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
sys.path.insert(0, {here!r})
import nbpipe
from nbpipe import configuration as config
import bench_tasks as bt
config.set_option("core", "state", {state})
config.set_option("core", "task_locks", {locks})
root = bt.root("layered", {kind!r}, {n})
start = time.perf_counter()
ok = nbpipe.build([root], workers=1, executor="inline", log_level="WARNING")
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "ok": bool(ok), "done": bt.count_done({kind!r})}}))
"""


VARIANTS = {"off": (False, False), "history": (True, False), "history+locks": (True, True)}


def one(kind: str, n: int, variant: str) -> float:
    state, locks = VARIANTS[variant]
    scratch = tempfile.mkdtemp(prefix="nbpipe-state-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NBPIPE_", "PYTHONDONTWRITEBYTECODE"))}
        env.update(
            NBPIPE_BENCH_DIR=os.path.join(scratch, "data"),
            NBPIPE_STATE_DIR=os.path.join(scratch, "state"),
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])),
        )
        os.makedirs(env["NBPIPE_BENCH_DIR"])
        if state:
            # The state database exists already, as it does from a user's second run on.
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import nbpipe.state.store as s, os; s.StateStore(os.environ['NBPIPE_STATE_DIR']).close()",
                ],
                env=env,
                check=True,
            )
        code = CHILD.format(here=str(HERE), state=state, locks=locks, kind=kind, n=n)
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=scratch, env=env, capture_output=True, text=True, timeout=600
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if not result["ok"] or result["done"] != n:
            raise RuntimeError(f"build incomplete: {result}")
        return result["seconds"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(HERE / "results_state.md"))
    args = parser.parse_args(argv)
    one("noop", 1000, "history+locks")  # warm the bytecode caches; not recorded
    rows = []
    for kind in ("noop", "file"):
        times = {v: [] for v in VARIANTS}
        for _ in range(args.repeat):
            for variant in VARIANTS:  # interleaved, so machine noise hits all alike
                times[variant].append(one(kind, args.n, variant))
        med = {v: statistics.median(t) for v, t in times.items()}
        rows.append((kind, med))
        print(kind, {v: round(m, 3) for v, m in med.items()}, file=sys.stderr)

    def per_task(seconds):
        return seconds / args.n * 1e6

    lines = [
        "# State store overhead",
        "",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · layered graph, N = {args.n:,}, inline, "
        f"median of {args.repeat} fresh processes each, interleaved · outputs and state directory on /dev/shm; "
        "the state database exists before the timed run (as from a user's second run on)",
        "",
        "| tasks | state off µs/task | history µs/task | added by recording | history + locks µs/task | added in all |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    worst = 0.0
    for kind, med in rows:
        off, hist, full = med["off"], med["history"], med["history+locks"]
        recording = (hist - off) / off * 100
        worst = max(worst, recording)
        lines.append(
            f"| {kind} | {per_task(off):.1f} | {per_task(hist):.1f} | {recording:+.0f}% | "
            f"{per_task(full):.1f} | {(full - off) / off * 100:+.0f}% |"
        )
    lines += [
        "",
        f"Goal: recording a run adds ≤ 30% per task — **{'MET' if worst <= 30 else 'NOT MET'}** (worst {worst:+.0f}%).",
        "",
        "*history*: the run and every attempt are recorded, and a fingerprint of every completed task (code "
        "digest per class, output stat, input digests), written in batches. *locks*: one lock file per task "
        "(taken, checked again, released) so concurrent runs never run a task twice.",
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
