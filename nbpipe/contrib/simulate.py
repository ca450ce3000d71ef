"""``RunAnywayTarget``: a target that is complete once per run.

For tasks that must run on every pipeline execution (aggregates over "the
last hour"), yet run only once within it.  Unlike Luigi's version, whose
markers are keyed by a process-local counter (so a task that ran in another
worker process looks not done), markers here are keyed by the run id, which
every worker of the run shares.  Markers live in
``<state dir>/run-anyway/<run id>/`` and run folders older than
``temp_time`` seconds are removed when a new target is made.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time

from .. import runtime
from ..target import Target

__all__ = ["RunAnywayTarget"]


class RunAnywayTarget(Target):
    """Use as ``output()``; call ``self.output().done()`` at the end of ``run()``."""

    #: Age in seconds after which a run's markers are removed.
    temp_time = 24 * 3600
    _last_cleanup: dict[str, float] = {}

    def __init__(self, task_obj):
        self.task_id = task_obj.task_id
        self._cleanup_old_runs()

    @property
    def temp_dir(self) -> str:
        return os.path.join(runtime.state_dir(), "run-anyway")

    def get_path(self) -> str | None:
        """The marker path for this task in the current run (None outside a run)."""
        ctx = runtime.current()
        if ctx is None:
            return None
        digest = hashlib.md5(self.task_id.encode("utf-8"), usedforsecurity=False).hexdigest()
        return os.path.join(ctx.state_dir, "run-anyway", ctx.run_id, digest)

    def exists(self) -> bool:
        path = self.get_path()
        return path is not None and os.path.isfile(path)

    def done(self) -> None:
        """Mark the task done for this run."""
        path = self.get_path()
        if path is None:
            raise RuntimeError(
                f"RunAnywayTarget({self.task_id}).done() called outside a pipeline run; "
                "run the task with nbpipe.build() or `nbpipe run`"
            )
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(self.task_id)
        os.replace(tmp, path)

    def _cleanup_old_runs(self) -> None:
        base = self.temp_dir
        now = time.time()
        # Once a minute per directory is plenty; this runs for every target made.
        if now - self._last_cleanup.get(base, 0.0) < 60:
            return
        RunAnywayTarget._last_cleanup[base] = now
        try:
            entries = list(os.scandir(base))
        except OSError:
            return
        ctx = runtime.current()
        for entry in entries:
            if ctx is not None and entry.name == ctx.run_id:
                continue
            try:
                if now - entry.stat().st_mtime > self.temp_time:
                    shutil.rmtree(entry.path, ignore_errors=True)
            except OSError:
                pass
