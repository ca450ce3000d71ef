"""The state database's tables, as the migrations that make them.

Version N's entry upgrades a version N-1 database (``PRAGMA user_version``)
in one transaction; entries are never edited once released, only added.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

MIGRATIONS: list[str] = [
    # version 1
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, started REAL NOT NULL, ended REAL, roots TEXT NOT NULL,
        options TEXT NOT NULL, outcome TEXT, pid INTEGER, host TEXT
    );
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, task_id TEXT NOT NULL, family TEXT NOT NULL,
        params TEXT NOT NULL, status TEXT NOT NULL, started REAL, ended REAL NOT NULL, worker TEXT,
        error TEXT, traceback TEXT, attempt INTEGER NOT NULL DEFAULT 1,
        code TEXT, inputs TEXT, outputs TEXT
    );
    CREATE INDEX attempts_by_task ON attempts (task_id, ended);
    CREATE TABLE family_durations (family TEXT PRIMARY KEY, recent TEXT NOT NULL);
    CREATE TABLE code_versions (digest TEXT PRIMARY KEY, components TEXT NOT NULL);
    CREATE TABLE invalidations (task_id TEXT PRIMARY KEY, family TEXT NOT NULL, reason TEXT NOT NULL, marked REAL NOT NULL);
    CREATE TABLE enabled (task_id TEXT PRIMARY KEY, enabled_at REAL NOT NULL);
    CREATE TABLE run_anyway (run_id TEXT NOT NULL, task_id TEXT NOT NULL, done REAL NOT NULL,
                             PRIMARY KEY (run_id, task_id));
    """,
    # version 2: the log lines of each task's latest attempt that logged any (one row per task, so
    # the history does not grow with logs)
    """
    CREATE TABLE task_logs (task_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, ended REAL NOT NULL,
                            lines TEXT NOT NULL, dropped INTEGER NOT NULL);
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
