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
from nbpipe import config
import bench_tasks as bt
config.set_option("core", "state", {state})
root = bt.root("layered", {kind!r}, {n})
start = time.perf_counter()
ok = nbpipe.build([root], workers=1, executor="inline", log_level="WARNING")
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "ok": bool(ok), "done": bt.count_done({kind!r})}}))
"""


def one(kind: str, n: int, state: bool) -> float:
    scratch = tempfile.mkdtemp(prefix="nbpipe-state-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NBPIPE_", "PYTHONDONTWRITEBYTECODE"))}
        env.update(NBPIPE_BENCH_DIR=os.path.join(scratch, "data"), NBPIPE_STATE_DIR=os.path.join(scratch, "state"),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])))
        os.makedirs(env["NBPIPE_BENCH_DIR"])
        code = CHILD.format(here=str(HERE), state=state, kind=kind, n=n)
        proc = subprocess.run([sys.executable, "-c", code], cwd=scratch, env=env, capture_output=True, text=True,
                              timeout=600)
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
    one("noop", 1000, True)  # warm the bytecode caches; not recorded
    rows = []
    for kind in ("noop", "file"):
        times = {False: [], True: []}
        for _ in range(args.repeat):
            for state in (False, True):  # interleaved, so machine noise hits both alike
                times[state].append(one(kind, args.n, state))
        off, on = statistics.median(times[False]), statistics.median(times[True])
        rows.append((kind, off / args.n * 1e6, on / args.n * 1e6, (on - off) / off * 100))
        print(f"{kind}: off {off:.3f} s, on {on:.3f} s", file=sys.stderr)
    lines = [
        "# State store overhead",
        "",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · layered graph, N = {args.n:,}, inline, "
        f"median of {args.repeat} fresh processes each, interleaved · outputs and state directory on /dev/shm",
        "",
        "| tasks | state off µs/task | state on µs/task | added |",
        "|---|---:|---:|---:|",
    ]
    for kind, off, on, added in rows:
        lines.append(f"| {kind} | {off:.1f} | {on:.1f} | {added:+.0f}% |")
    worst = max(r[3] for r in rows)
    lines += ["", f"Goal: the state store adds ≤ 30% per task — **{'MET' if worst <= 30 else 'NOT MET'}** "
                  f"(worst {worst:+.0f}%).", "",
              "\"State on\" records the run and every attempt, a fingerprint of every completed task (code digest "
              "per class, output stat, input digests), and takes one lock file per task.", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
