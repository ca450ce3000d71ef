"""This checkout against another checkout of nbpipe, side by side in one run.

    python benchmarks/bench_versus.py OTHER_CHECKOUT [--label-other before] [--repeat 5]
        [--out benchmarks/results_versus.md]

Both engines run the same task code (``bench_tasks.py`` of this checkout) on
the same graphs, each build in a fresh child process, alternating between
the two checkouts so that the machine's noise falls on both alike.  Measured:
layered graphs of no-op and small-file tasks at N = 10 000, inline (1
worker) and with 2 worker processes; cold builds (nothing complete).  The
report gives the median seconds per task of each and the ratio.
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
sys.path.insert(0, str(HERE))

import bench_engine  # noqa: E402 - the child runner and its environment live there

CONFIGS = [
    {"engine": "nbpipe", "graph": "layered", "kind": "noop", "workers": 1, "n": 10_000},
    {"engine": "nbpipe", "graph": "layered", "kind": "file", "workers": 1, "n": 10_000},
    {"engine": "nbpipe", "graph": "layered", "kind": "file", "workers": 2, "n": 10_000},
]


def _cold_seconds(cfg: dict, env: dict, root: str, tag: str) -> float | None:
    scratch = tempfile.mkdtemp(prefix=f"{tag}-", dir=root)
    try:
        rows = bench_engine.measure(cfg, scratch, env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    cold = rows[0] if rows else {}
    if "error" in cold:
        print(f"  {tag}: {cold['error']}", file=sys.stderr)
        return None
    return cold["seconds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", help="path of the other nbpipe checkout (the folder holding its nbpipe/)")
    parser.add_argument("--label-other", default="other", help="its name in the report")
    parser.add_argument("--repeat", type=int, default=5, help="builds per configuration and checkout")
    parser.add_argument("--out", default=str(HERE / "results_versus.md"), help="the Markdown report")
    parser.add_argument("--n", type=int, default=10_000, help="tasks per graph")
    args = parser.parse_args(argv)
    other = Path(args.other).resolve()
    if not (other / "nbpipe" / "__init__.py").exists():
        parser.error(f"{other} is not an nbpipe checkout (no nbpipe/__init__.py there)")

    configs = [dict(cfg, n=args.n) for cfg in CONFIGS]
    root = tempfile.mkdtemp(prefix="nbpipe-versus-", dir=bench_engine.SCRATCH_PARENT)
    env_this = bench_engine.child_env(root)
    env_other = dict(
        env_this,
        PYTHONPATH=os.pathsep.join([str(other), str(HERE)]),
        PYTHONPYCACHEPREFIX=os.path.join(root, "pycache-other"),
        NBPIPE_BENCH_CHECKOUT=str(other),
    )
    env_this["PYTHONPATH"] = os.pathsep.join([str(bench_engine.REPO), str(HERE)])
    sides = {"this": env_this, args.label_other: env_other}
    seconds: dict[tuple[int, str], list[float]] = {}
    started = time.time()
    try:
        for i, cfg in enumerate(configs):
            for side, env in sides.items():  # warm the bytecode caches, untimed
                _cold_seconds(dict(cfg, n=100), env, root, f"warm-{side}")
            for rep in range(args.repeat):
                for side, env in sides.items() if rep % 2 == 0 else reversed(sides.items()):
                    got = _cold_seconds(cfg, env, root, f"{side}-{i}-{rep}")
                    if got is not None:
                        seconds.setdefault((i, side), []).append(got)
                        print(
                            f"{bench_engine._label(cfg)} {side:>8} {got / cfg['n'] * 1e6:8.1f} us/task",
                            file=sys.stderr,
                            flush=True,
                        )
    finally:
        shutil.rmtree(root, ignore_errors=True)

    commit = (
        subprocess.run(
            ["git", "-C", str(other), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        or "?"
    )
    lines = [
        f"# This checkout against {args.label_other} ({other.name}, commit {commit})",
        "",
        f"Cold builds, each in a fresh process, alternating checkouts; median of {args.repeat}; "
        f"files on {bench_engine.SCRATCH_PARENT or 'the default temporary folder'}; "
        f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}.",
        "",
        f"| graph | tasks | workers | N | {args.label_other} µs/task | this µs/task | this / {args.label_other} |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for i, cfg in enumerate(configs):
        a, b = seconds.get((i, args.label_other)), seconds.get((i, "this"))
        if not a or not b:
            lines.append(f"| {cfg['graph']} | {cfg['kind']} | {cfg['workers']} | {cfg['n']} | failed | failed | |")
            continue
        ma, mb = statistics.median(a), statistics.median(b)
        lines.append(
            f"| {cfg['graph']} | {cfg['kind']} | {cfg['workers']} | {cfg['n']} | "
            f"{ma / cfg['n'] * 1e6:.1f} | {mb / cfg['n'] * 1e6:.1f} | {mb / ma:.3f} |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
