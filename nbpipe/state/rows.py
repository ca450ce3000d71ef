"""The shapes of the ``attempts`` table's rows, as the store is given them.

A row is a plain tuple in the table's column order (the hot path: one per
task that ran); :class:`AttemptRow` is the readable form for other callers.
Successful attempts travel as shorter tuples (see :data:`INSERT_SUCCESSES`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AttemptRow",
    "FingerprintRow",
    "INSERT_SUCCESSES",
    "DURATION_SAMPLE",
    "attempt_tuple",
    "recent_durations",
    "storable",
]


@dataclass(slots=True)
class AttemptRow:
    run_id: str
    task_id: str
    family: str
    params: str  # JSON of the serialised significant parameters
    status: str  # done | failed | disabled | upstream_failed | run_by_other | interrupted
    started: float | None
    ended: float
    worker: str = ""
    error: str = ""
    traceback: str = ""
    attempt: int = 1


@dataclass(slots=True)
class FingerprintRow:
    task_id: str
    family: str
    run_id: str
    completed: float
    code: str  # digest of the class's code (components in code_versions)
    # upstream task id -> None when it ran in the same run (its own record
    # says when), else the digest of what it offered then
    inputs: dict
    outputs: dict  # target name -> fingerprint


def attempt_tuple(a) -> tuple:
    """14 column values: an attempt with (for a success) its fingerprint."""
    if isinstance(a, tuple):
        return a if len(a) == 14 else a + (None, None, None)
    return (
        a.run_id,
        a.task_id,
        a.family,
        a.params,
        a.status,
        a.started,
        a.ended,
        a.worker,
        a.error,
        a.traceback,
        a.attempt,
        None,
        None,
        None,
    )


DURATION_SAMPLE = 20

INSERT_SUCCESSES = (
    "INSERT INTO attempts (run_id, task_id, family, params, status, started, ended, worker, error, "
    "traceback, attempt, code, inputs, outputs) VALUES (?, ?, ?, ?, 'done', ?, ?, ?, NULL, NULL, ?, ?, ?, ?)"
)


def recent_durations(rows: list[tuple], successes: Sequence[tuple] = ()) -> dict[str, list[float]]:
    """family -> durations of the batch's latest successful attempts, oldest first (at most 20 each).

    The rows of a batch are in the order the run recorded them, so the latest
    are the last ones: a backward scan takes them, and a family whose sample
    is full costs one set lookup per further row (a batch holds thousands of
    rows, usually of a few families).
    """
    out: dict[str, list[tuple[float, float]]] = {}
    full: set[str] = set()
    for source, first in ((successes, 4), (rows, 5)):  # (where "started" is; "ended" follows it)
        for row in reversed(source):
            family = row[2]
            if family in full:
                continue
            if first == 5 and row[4] != "done":
                continue
            started = row[first]
            if started is None:
                continue
            ended = row[first + 1]
            sample = out.get(family)
            if sample is None:
                sample = out[family] = []
            sample.append((ended, ended - started))
            if len(sample) == DURATION_SAMPLE:
                full.add(family)
    return {family: [d for _, d in sorted(pairs)] for family, pairs in out.items()}


def storable(values: Sequence) -> tuple:
    """``values`` with each text's lone surrogates written as backslash escapes (``\\udcff``).

    Text decoded with ``surrogateescape`` — a file name with bytes that are
    not UTF-8, an error message quoting one — holds lone surrogates, which
    UTF-8, and so SQLite, cannot hold.  Task ids never hold one: their
    readable part keeps only word characters, as Luigi's do.
    """
    return tuple(v.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(v, str) else v for v in values)
