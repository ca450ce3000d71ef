"""Turn the runs collected by bench_engine.py into the Markdown report."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from importlib import metadata, util

KEY = ("engine", "graph", "kind", "phase", "workers", "n")
STARTUP_LABELS = {
    "python -c pass": "`python -c pass`",
    "import nbpipe": '`python -c "import nbpipe"`',
    "import luigi": '`python -c "import luigi"`',
    "import nbpipe, no bytecode cache": '`python -c "import nbpipe"` with PYTHONDONTWRITEBYTECODE=1 and no `__pycache__` '
    "(compiled from source each time)",
}


def machine_facts() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpu_count": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "luigi": version("luigi"),
        "nbpipe": version("nbpipe"),
        "nbpipe_path": os.path.dirname(util.find_spec("nbpipe").origin),
    }


def medians(runs: list[dict]) -> dict[tuple, dict]:
    """Per configuration and phase: median seconds over the repeats (or the error)."""
    groups: dict[tuple, list[dict]] = {}
    for row in runs:
        groups.setdefault(tuple(row[k] for k in KEY), []).append(row)
    out = {}
    for key, rows in groups.items():
        good = [r["seconds"] for r in rows if "error" not in r]
        errors = [r["error"] for r in rows if "error" in r]
        n = key[-1]
        entry = {"reps": len(good), "error": errors[0] if errors else None}
        if good:
            entry["seconds"] = statistics.median(good)
            entry["us_per_task"] = entry["seconds"] / n * 1e6
        out[key] = entry
    return out


def _order(key: tuple) -> tuple:
    engine, graph, kind, phase, workers, n = key
    return (engine != "nbpipe", graph, kind, phase, workers, n)


def _us(value: float) -> str:
    return f"{value:,.1f}" if value < 1000 else f"{value:,.0f}"


def _ratio(r: float) -> str:
    return f"{r:,.0f}×" if r >= 10 else f"{r:.2f}×"


def results_table(med: dict) -> list[str]:
    lines = [
        "| engine | graph | kind | cold/warm | workers | N | total s | µs per task |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    for key in sorted(med, key=_order):
        engine, graph, kind, phase, workers, n = key
        m = med[key]
        if "seconds" in m:
            total, per = f"{m['seconds']:.3f}", _us(m["us_per_task"])
        else:
            total, per = m["error"], "—"
        lines.append(f"| {engine} | {graph} | {kind} | {phase} | {workers} | {n:,} | {total} | {per} |")
    return lines


def comparison_table(med: dict) -> list[str]:
    lines = [
        "| graph | kind | cold/warm | workers | N | nbpipe µs/task | Luigi µs/task | Luigi / nbpipe |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for key in sorted(med, key=_order):
        if key[0] != "luigi":
            continue
        nb = med.get(("nbpipe",) + key[1:], {})
        lu = med[key]
        if "seconds" not in nb or "seconds" not in lu:
            continue
        _, graph, kind, phase, workers, n = key
        lines.append(
            f"| {graph} | {kind} | {phase} | {workers} | {n:,} | {_us(nb['us_per_task'])} | "
            f"{_us(lu['us_per_task'])} | {_ratio(lu['seconds'] / nb['seconds'])} |"
        )
    return lines


def _per_task(med, engine, graph, kind, workers, n, phase="cold"):
    return med.get((engine, graph, kind, phase, workers, n), {}).get("us_per_task")


def goals(med: dict, startup: dict) -> list[tuple[str, str, str]]:
    """(goal, MET / NOT MET / NOT MEASURED, the numbers)."""
    out = []

    def verdict(ok):
        return "NOT MEASURED" if ok is None else ("MET" if ok else "NOT MET")

    # 1. layered no-op, cold, inline: <= 100 us/task at 10 000, flat 1 000 -> 100 000
    at10k = _per_task(med, "nbpipe", "layered", "noop", 1, 10_000)
    sizes = sorted(k[-1] for k in med if k[:5] == ("nbpipe", "layered", "noop", "cold", 1) and "seconds" in med[k])
    small, big = (sizes[0], sizes[-1]) if sizes else (None, None)
    flat = None
    if small and big and big > small:
        flat = _per_task(med, "nbpipe", "layered", "noop", 1, big) / _per_task(
            med, "nbpipe", "layered", "noop", 1, small
        )
    ok = None if at10k is None or flat is None else (at10k <= 100 and flat <= 1.5)
    trend = ", ".join(f"{n:,}: {_us(_per_task(med, 'nbpipe', 'layered', 'noop', 1, n))}" for n in sizes)
    numbers = (
        f"{_us(at10k) if at10k else '—'} µs/task at N = 10,000 (goal ≤ 100); per-task({big:,}) / "
        f"per-task({small:,}) = {flat:.2f} (flat when ≤ 1.5); µs/task by N: {trend}"
        if flat
        else "not measured"
    )
    if big and big < 100_000:
        numbers += f" (only up to N = {big:,} in this run)"
    out.append(
        ("Layered no-op, cold, inline: ≤ 100 µs/task at 10,000 and flat from 1,000 to 100,000", verdict(ok), numbers)
    )

    # 2. N = 3 000: nbpipe >= 150x faster than Luigi (layered no-op, 1 worker)
    nb = _per_task(med, "nbpipe", "layered", "noop", 1, 3_000)
    lu = _per_task(med, "luigi", "layered", "noop", 1, 3_000)
    ratio = lu / nb if nb and lu else None
    out.append(
        (
            "N = 3,000 layered no-op, 1 worker: nbpipe ≥ 150× faster than Luigi",
            verdict(None if ratio is None else ratio >= 150),
            f"nbpipe {_us(nb)} µs/task, Luigi {_us(lu)} µs/task: {_ratio(ratio)}" if ratio else "not measured",
        )
    )

    # 3. layered small files, cold, inline, N = 10 000: <= 200 us/task
    f10k = _per_task(med, "nbpipe", "layered", "file", 1, 10_000)
    out.append(
        (
            "Layered small-file, cold, inline, N = 10,000: ≤ 200 µs/task",
            verdict(None if f10k is None else f10k <= 200),
            f"{_us(f10k)} µs/task" if f10k else "not measured",
        )
    )

    # 4. 2 worker processes, N = 3 000, layered small files, cold: <= 1 ms/task
    w2 = _per_task(med, "nbpipe", "layered", "file", 2, 3_000)
    lu_n = 3_000 if _per_task(med, "luigi", "layered", "file", 2, 3_000) else 1_000
    lu2 = _per_task(med, "luigi", "layered", "file", 2, lu_n)
    text = f"nbpipe {_us(w2) if w2 else '—'} µs/task end to end (goal ≤ 1,000)"
    text += f"; Luigi (workers=2) {_us(lu2)} µs/task at N = {lu_n:,}" if lu2 else "; Luigi not measured"
    if lu_n != 3_000:
        err = med.get(("luigi", "layered", "file", "cold", 2, 3_000), {}).get("error")
        text += f" (N = 3,000 {err})" if err else " (Luigi at N = 3,000 is not run: about 40 s a run; see README)"
    out.append(
        (
            "2 worker processes, layered small-file, cold, N = 3,000: ≤ 1 ms/task",
            verdict(None if w2 is None else w2 <= 1000),
            text,
        )
    )

    # 5. import time
    imp = statistics.median(startup["import nbpipe"]) * 1e3
    base = statistics.median(startup["python -c pass"]) * 1e3
    text = f"{imp:.0f} ms (median of {len(startup['import nbpipe'])}, bytecode cached; `python -c pass` {base:.0f} ms"
    raw = startup.get("import nbpipe, no bytecode cache")
    text += f"; {statistics.median(raw) * 1e3:.0f} ms when compiled from source)" if raw else ")"
    out.append(('`python -c "import nbpipe"` ≤ 150 ms', verdict(imp <= 150), text))
    return out


def render(data: dict) -> str:
    med = medians(data["runs"])
    m = data["machine"]
    when = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(data["started"]))
    mode = "--quick, 1 run each" if data["quick"] else f"full, median of {data['repeats']} runs each"
    lines = [
        "# nbpipe engine benchmark",
        "",
        f"Date: {when} · mode: {mode} · suite wall time: {data['suite_seconds']:.0f} s",
        "",
        (
            f"Machine: {m['cpu_count']} CPUs ({m['cpu']}), {m['platform']}; Python {m['python']}; "
            f"Luigi {m['luigi']}; nbpipe {m['nbpipe']} from `{m.get('nbpipe_path', '?')}`."
        ),
        "",
        (
            "Each figure is the wall time of one `build()` call in a fresh process (graph construction "
            "included); µs per task = total / N. See README.md for the graphs and settings."
        ),
        "",
        "## Goals",
        "",
    ]
    for goal, verdict, numbers in goals(med, data["startup"]):
        lines.append(f"- **{verdict}** — {goal}: {numbers}")
    lines += ["", "## Start-up (median of 10 fresh processes)", "", "| command | ms |", "|---|---:|"]
    for label, times in data["startup"].items():
        lines.append(f"| {STARTUP_LABELS.get(label, label)} | {statistics.median(times) * 1e3:.0f} |")
    lines += ["", "## Luigi / nbpipe (same configuration, same run)", ""] + comparison_table(med)
    lines += ["", "## All results", ""] + results_table(med)
    return "\n".join(lines) + "\n"
