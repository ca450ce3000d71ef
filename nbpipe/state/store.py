"""The state store: an embedded SQLite database in the state directory.

It records every run and every task attempt — a successful attempt with the
fingerprints of the completed task (for staleness), invalidation marks, re-enable marks for disabled
tasks, and the per-run scratch of ``RunAnywayTarget``.

Several processes may use one store at once (WAL mode; each process has its
own connection; writers wait up to ``timeout`` seconds for each other).  A
store that is locked for longer, damaged, or written by a newer nbpipe
raises :class:`StateStoreError` with one message saying what to do; the
error is raised before any task runs, so outputs are never touched.

Schema changes go through :data:`nbpipe.state.schema.MIGRATIONS`: version
N's entry upgrades a version N-1 database, in one transaction.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from nbpipe.exceptions import StateStoreError
from nbpipe.state.rows import (
    DURATION_SAMPLE,
    INSERT_SUCCESSES,
    AttemptRow,
    FingerprintRow,
    attempt_tuple,
    recent_durations,
    storable,
)
from nbpipe.state.schema import MIGRATIONS, SCHEMA_VERSION
from nbpipe.state.store_errors import SQLITE_BUSY, explain

__all__ = ["StateStore", "StateStoreError", "AttemptRow", "FingerprintRow", "SCHEMA_VERSION", "open_store"]

DB_NAME = "state.db"


def _chunks(items: Sequence, size: int = 500):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _switch_to_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put the database in WAL mode, waiting up to ``timeout`` s for other processes doing the same.

    Two processes opening a new database at once both read it, then both ask
    to write its header: each holds the read lock the other's write needs, so
    SQLite answers SQLITE_BUSY at once instead of calling its busy handler (waiting
    would deadlock).  The loser gives its read lock back with the error, so
    trying again after a short pause succeeds once the winner has written.
    """
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF != SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


class StateStore:
    """One process's handle on ``<state_dir>/state.db``."""

    def __init__(self, state_dir: str | os.PathLike, timeout: float = 30.0):
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / DB_NAME
        self.timeout = timeout
        self._lock = threading.RLock()
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateStoreError(
                f"cannot create the state directory {self.state_dir} ({exc.strerror}); "
                "set NBPIPE_STATE_DIR or [core] state_dir to a writable folder"
            ) from None
        with self._guard("open"):
            self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None, check_same_thread=False)
            _switch_to_wal(self._conn, timeout)
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=OFF")
            self._migrate()

    # -- errors -------------------------------------------------------------

    def _guard(self, doing: str):
        store = self

        class _Guard:
            def __enter__(self):
                store._lock.acquire()
                self.started = time.monotonic()

            def __exit__(self, exc_type, exc, tb):
                store._lock.release()
                if exc_type is None or not issubclass(exc_type, sqlite3.Error):
                    return False
                raise store._explain(exc, doing, time.monotonic() - self.started) from None

        return _Guard()

    def _explain(self, exc: sqlite3.Error, doing: str, waited: float | None = None) -> StateStoreError:
        return explain(exc, doing, self.path, self.state_dir, self.timeout, waited)

    # -- schema ---------------------------------------------------------------

    def _migrate(self) -> None:
        conn = self._conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StateStoreError(
                f"state database {self.path} has schema version {version}, newer than this nbpipe "
                f"understands ({SCHEMA_VERSION}); upgrade nbpipe, or point NBPIPE_STATE_DIR at another folder"
            )
        while version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while we waited for the lock.
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version < SCHEMA_VERSION:
                    for statement in filter(str.strip, MIGRATIONS[version].split(";")):
                        conn.execute(statement)
                    version += 1
                    conn.execute(f"PRAGMA user_version = {version}")
                conn.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some errors (SQLITE_FULL):
                # a second ROLLBACK would hide the real cause behind its own error.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _write(self, doing: str, statements: Iterable[tuple[str, Any]], then=None) -> None:
        """Run (sql, rows) pairs in one transaction; rows is a list for executemany.

        ``then(conn)``, if given, runs inside the same transaction afterwards.
        Text SQLite cannot hold is written escaped (:func:`storable`) rather
        than losing the batch.
        """
        statements = list(statements)
        try:
            self._write_once(doing, statements, then)
        except UnicodeEncodeError:  # rare: escaping every value of every batch would cost each row
            escaped = [
                (sql, [storable(r) for r in rows] if isinstance(rows, list) else storable(rows))
                for sql, rows in statements
            ]
            self._write_once(doing, escaped, then)

    def _write_once(self, doing: str, statements: list[tuple[str, Any]], then) -> None:
        with self._guard(doing):
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in statements:
                    if isinstance(rows, list):
                        conn.executemany(sql, rows)
                    else:
                        conn.execute(sql, rows)
                if then is not None:
                    then(conn)
                conn.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some errors (SQLITE_FULL):
                # a second ROLLBACK would hide the real cause behind its own error.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _read(self, doing: str, sql: str, args: Sequence = ()) -> list[tuple]:
        with self._guard(doing):
            return self._conn.execute(sql, args).fetchall()

    # -- runs -------------------------------------------------------------------

    def start_run(self, run_id: str, started: float, roots: list[str], options: dict) -> None:
        self._write(
            "recording the start of a run",
            [
                (
                    "INSERT INTO runs (run_id, started, roots, options, pid, host) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        started,
                        json.dumps(roots),
                        json.dumps(options, default=str),
                        os.getpid(),
                        socket.gethostname(),
                    ),
                )
            ],
        )

    def finish_run(self, run_id: str, ended: float, outcome: str) -> None:
        self._write(
            "recording the end of a run",
            [("UPDATE runs SET ended = ?, outcome = ? WHERE run_id = ?", (ended, outcome, run_id))],
        )

    def close_dead_runs(self, now: float) -> list[str]:
        """Mark runs of this host whose driver process is gone, yet never closed, as ``died``.

        A run killed outright (SIGKILL, a crash, a power cut), or one whose
        last history write met a full disk, stays open in history; the next
        run to open the store closes it.  Returns the run ids closed.
        """
        rows = self._read(
            "looking for runs that died",
            "SELECT run_id, pid FROM runs WHERE ended IS NULL AND host = ?",
            (socket.gethostname(),),
        )
        dead = [run_id for run_id, pid in rows if pid is not None and pid != os.getpid() and not _alive(pid)]
        if dead:
            self._write(
                "closing runs that died",
                [
                    (
                        "UPDATE runs SET ended = ?, outcome = 'died' WHERE run_id = ? AND ended IS NULL",
                        [(now, run_id) for run_id in dead],
                    )
                ],
            )
        return dead

    def open_runs(self) -> set[str]:
        """Ids of runs going on now: not closed in history, and (on this host) their driver is alive."""
        rows = self._read("reading runs", "SELECT run_id, pid, host FROM runs WHERE ended IS NULL")
        here = socket.gethostname()
        return {run_id for run_id, pid, host in rows if host != here or pid is None or _alive(pid)}

    def runs(self, limit: int = 20) -> list[dict]:
        rows = self._read(
            "reading runs",
            "SELECT run_id, started, ended, roots, options, outcome, pid, host FROM runs ORDER BY started DESC LIMIT ?",
            (limit,),
        )
        keys = ("run_id", "started", "ended", "roots", "options", "outcome", "pid", "host")
        out = []
        for row in rows:
            rec = dict(zip(keys, row, strict=True))
            rec["roots"] = json.loads(rec["roots"])
            rec["options"] = json.loads(rec["options"])
            out.append(rec)
        return out

    # -- attempts ---------------------------------------------------------------

    def record(
        self,
        attempts: Sequence[AttemptRow | tuple],
        cleared_marks: Sequence[str] = (),
        code_versions: dict[str, str] | None = None,
        superseded: Sequence[tuple[str, str]] = (),
        logs: Sequence[tuple[str, str, float, str, int]] = (),
        successes: Sequence[tuple] = (),
    ) -> None:
        """Write a batch of attempts and fingerprints in one transaction.

        ``superseded`` are ``(run_id, task_id)`` whose ``running`` rows this
        batch's final rows replace.  ``logs`` are ``(task_id, run_id, ended,
        JSON list of lines, lines dropped)`` of attempts that logged.

        ``successes`` are successful attempts as 11-tuples: the 14 columns
        without ``status``, ``error`` and ``traceback``, which are ``'done'``
        and NULL for every one.  A run records thousands of these, and each
        value bound costs (0.7 µs a row for these three): written into the
        statement instead, they cost nothing per row.

        A fingerprint's ``code`` is the digest of its class's code; the
        components behind each digest are stored once, in ``code_versions``
        (digest -> JSON of component digests).
        """
        statements: list[tuple[str, Any]] = []
        if superseded:
            statements.append(
                ("DELETE FROM attempts WHERE run_id = ? AND task_id = ? AND status = 'running'", list(superseded))
            )
        if code_versions:
            statements.append(
                ("INSERT OR IGNORE INTO code_versions (digest, components) VALUES (?, ?)", list(code_versions.items()))
            )
        rows: list[tuple] = (
            cast("list[tuple]", list(attempts))  # the condition below: every item is a 14-tuple
            if all(type(a) is tuple and len(a) == 14 for a in attempts)
            else [attempt_tuple(a) for a in attempts]
        )
        if rows:
            statements.append(
                (
                    "INSERT INTO attempts (run_id, task_id, family, params, status, started, ended, worker, error, "
                    "traceback, attempt, code, inputs, outputs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            )
        if successes:
            statements.append((INSERT_SUCCESSES, successes if isinstance(successes, list) else list(successes)))
        if cleared_marks:
            statements.append(("DELETE FROM invalidations WHERE task_id = ?", [(t,) for t in cleared_marks]))
        if logs:
            statements.append(
                (
                    "INSERT OR REPLACE INTO task_logs (task_id, run_id, ended, lines, dropped) VALUES (?, ?, ?, ?, ?)",
                    list(logs),
                )
            )
        if statements:
            durations = recent_durations(rows, successes)

            def update_durations(conn) -> None:
                # Typical durations per family (for ETAs) are kept small and
                # current here, so no index over all attempts is needed.
                for family, new in durations.items():
                    old = conn.execute("SELECT recent FROM family_durations WHERE family = ?", (family,)).fetchone()
                    recent = (json.loads(old[0]) if old else []) + new
                    conn.execute(
                        "INSERT OR REPLACE INTO family_durations (family, recent) VALUES (?, ?)",
                        (family, json.dumps(recent[-DURATION_SAMPLE:])),
                    )

            self._write("recording task results", statements, then=update_durations)

    def attempts(
        self, task_id: str | None = None, family: str | None = None, run_id: str | None = None, limit: int = 50
    ) -> list[dict]:
        where, args = [], []
        for column, value in (("task_id", task_id), ("family", family), ("run_id", run_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = (
            "SELECT run_id, task_id, family, params, status, started, ended, worker, error, traceback, attempt "
            "FROM attempts"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY ended DESC, id DESC LIMIT ?"
        )
        keys = (
            "run_id",
            "task_id",
            "family",
            "params",
            "status",
            "started",
            "ended",
            "worker",
            "error",
            "traceback",
            "attempt",
        )
        out = []
        for row in self._read("reading task history", sql, (*args, limit)):
            rec = dict(zip(keys, row, strict=True))
            rec["params"] = json.loads(rec["params"])
            rec["duration"] = (rec["ended"] - rec["started"]) if rec["started"] is not None else None
            out.append(rec)
        return out

    def last_attempts(self, task_ids: Sequence[str]) -> dict[str, dict]:
        """The latest attempt of each task id (those with any)."""
        out: dict[str, dict] = {}
        for chunk in _chunks(list(task_ids)):
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                "reading task history",
                f"SELECT task_id, status, ended, error, traceback, run_id, started FROM attempts "
                f"WHERE id IN (SELECT MAX(id) FROM attempts WHERE task_id IN ({marks}) GROUP BY task_id)",
                chunk,
            )
            for task_id, status, ended, error, tb, run_id, started in rows:
                out[task_id] = {
                    "status": status,
                    "ended": ended,
                    "error": error,
                    "traceback": tb,
                    "run_id": run_id,
                    "started": started,
                }
        return out

    def last_log(self, task_id: str) -> dict | None:
        """The log of the task's last attempt: ``{"lines", "dropped", "status", "run_id", "ended"}``.

        None when that attempt logged nothing (or the task never ran): an
        older attempt's lines are never shown as the last one's.
        """
        last = self.last_attempts([task_id]).get(task_id)
        if last is None:
            return None
        rows = self._read(
            "reading task logs", "SELECT run_id, ended, lines, dropped FROM task_logs WHERE task_id = ?", (task_id,)
        )
        if not rows or (rows[0][0], rows[0][1]) != (last["run_id"], last["ended"]):
            return None
        run_id, ended, lines, dropped = rows[0]
        return {
            "lines": json.loads(lines),
            "dropped": dropped,
            "status": last["status"],
            "run_id": run_id,
            "ended": ended,
        }

    def typical_durations(self, families: Iterable[str]) -> dict[str, float]:
        """Median duration of the last successful attempts per family (seconds)."""
        out = {}
        wanted = sorted(set(families))
        rows: list[tuple] = []
        for chunk in _chunks(wanted):
            rows += self._read(
                "reading durations",
                f"SELECT family, recent FROM family_durations WHERE family IN ({','.join('?' * len(chunk))})",
                chunk,
            )
        for family, recent in rows:
            values = sorted(json.loads(recent))
            if values:
                mid = len(values) // 2
                out[family] = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        return out

    # -- failures and disabling ------------------------------------------------------

    def failure_history(self, task_ids: Sequence[str], since: float) -> dict[str, list[tuple[float, str]]]:
        """(time, status) of failures and disables since ``since`` and after the task's last re-enable."""
        out: dict[str, list[tuple[float, str]]] = {}
        for chunk in _chunks(list(task_ids)):
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                "reading failures",
                f"SELECT a.task_id, a.ended, a.status FROM attempts a LEFT JOIN enabled e ON e.task_id = a.task_id "
                f"WHERE a.task_id IN ({marks}) AND a.status IN ('failed', 'disabled') AND a.ended >= ? "
                f"AND (e.enabled_at IS NULL OR a.ended > e.enabled_at) ORDER BY a.ended",
                (*chunk, since),
            )
            for task_id, ended, status in rows:
                out.setdefault(task_id, []).append((ended, status))
        return out

    def enable(self, task_ids: Iterable[str], now: float) -> None:
        self._write(
            "re-enabling tasks",
            [("INSERT OR REPLACE INTO enabled (task_id, enabled_at) VALUES (?, ?)", [(t, now) for t in task_ids])],
        )

    # -- fingerprints --------------------------------------------------------------

    def fingerprints(self, task_ids: Sequence[str]) -> dict[str, FingerprintRow]:
        out: dict[str, FingerprintRow] = {}
        for chunk in _chunks(list(task_ids)):
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                "reading fingerprints",
                "SELECT task_id, family, run_id, ended, code, inputs, outputs FROM attempts WHERE id IN "
                f"(SELECT MAX(id) FROM attempts WHERE task_id IN ({marks}) AND code IS NOT NULL "
                "GROUP BY task_id)",
                chunk,
            )
            for task_id, family, run_id, completed, code, inputs, outputs in rows:
                out[task_id] = FingerprintRow(
                    task_id, family, run_id, completed, code, json.loads(inputs), json.loads(outputs)
                )
        return out

    def code_components(self, digests: Iterable[str]) -> dict[str, dict]:
        """The component digests behind each code digest."""
        wanted = sorted(set(digests))
        out: dict[str, dict] = {}
        for chunk in _chunks(wanted):
            rows = self._read(
                "reading code versions",
                f"SELECT digest, components FROM code_versions WHERE digest IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            out.update({d: json.loads(c) for d, c in rows})
        return out

    # -- invalidation -----------------------------------------------------------------

    def mark_invalid(self, marks: list[tuple[str, str, str]], now: float) -> None:
        """Mark (task_id, family, reason) triples as needing a rerun."""
        self._write(
            "marking tasks invalid",
            [
                (
                    "INSERT OR REPLACE INTO invalidations (task_id, family, reason, marked) VALUES (?, ?, ?, ?)",
                    [(t, f, r, now) for t, f, r in marks],
                )
            ],
        )

    def invalidations(self, task_ids: Sequence[str] | None = None) -> dict[str, dict]:
        sql = "SELECT task_id, family, reason, marked FROM invalidations"
        rows: list[tuple] = []
        if task_ids is None:
            rows = self._read("reading invalidation marks", sql)
        else:
            for chunk in _chunks(list(task_ids)):
                rows += self._read(
                    "reading invalidation marks", sql + f" WHERE task_id IN ({','.join('?' * len(chunk))})", chunk
                )
        return {t: {"family": f, "reason": r, "marked": m} for t, f, r, m in rows}

    def clear_invalidations(self, task_ids: Sequence[str] | None = None) -> int:
        before = self._read("counting invalidation marks", "SELECT COUNT(*) FROM invalidations")[0][0]
        if task_ids is None:
            self._write("clearing invalidation marks", [("DELETE FROM invalidations", ())])
        else:
            self._write(
                "clearing invalidation marks",
                [("DELETE FROM invalidations WHERE task_id = ?", [(t,) for t in task_ids])],
            )
        after = self._read("counting invalidation marks", "SELECT COUNT(*) FROM invalidations")[0][0]
        return before - after

    # -- RunAnywayTarget scratch -----------------------------------------------------------

    def run_anyway_done(self, run_id: str, task_id: str, now: float) -> None:
        self._write(
            "marking a run-anyway task done",
            [("INSERT OR REPLACE INTO run_anyway (run_id, task_id, done) VALUES (?, ?, ?)", (run_id, task_id, now))],
        )

    def run_anyway_is_done(self, run_id: str, task_id: str) -> bool:
        return bool(
            self._read(
                "reading run-anyway marks",
                "SELECT 1 FROM run_anyway WHERE run_id = ? AND task_id = ?",
                (run_id, task_id),
            )
        )

    def prune_run_anyway(self, older_than: float) -> None:
        self._write("pruning run-anyway marks", [("DELETE FROM run_anyway WHERE done < ?", (older_than,))])


_stores: dict[tuple[str, int], StateStore] = {}
_stores_lock = threading.Lock()


def open_store(state_dir: str | os.PathLike, timeout: float | None = None) -> StateStore:
    """The store of ``state_dir`` for this process (one connection per process, reused)."""
    key = (str(Path(state_dir).absolute()), os.getpid())
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            if timeout is None:
                from nbpipe.configuration import option_value
                from nbpipe.options import CORE_STATE_TIMEOUT

                timeout = option_value(CORE_STATE_TIMEOUT)
            store = StateStore(state_dir, timeout=timeout)
            _stores[key] = store
        return store


def now() -> float:
    return time.time()
