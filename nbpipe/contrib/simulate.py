"""``RunAnywayTarget``: a target that is complete once per run.

For tasks that must run on every pipeline execution (aggregates over "the
last hour"), yet run only once within it.  Unlike Luigi's version, whose
markers are keyed by a process-local counter (so a task that ran in another
worker process looks not done), the markers here are rows of the state
store keyed by the run id, which every worker process of the run shares.
Markers older than ``temp_time`` seconds are pruned.
"""

from __future__ import annotations

import time

from nbpipe.engine import run_context as runtime
from nbpipe.target import Target

__all__ = ["RunAnywayTarget"]


class RunAnywayTarget(Target):
    """Use as ``output()``; call ``self.output().done()`` at the end of ``run()``."""

    #: Age in seconds after which markers are removed.
    temp_time = 24 * 3600
    _last_prune: dict[str, float] = {}

    def __init__(self, task_obj):
        self.task_id = task_obj.task_id

    def _store(self):
        ctx = runtime.current()
        if ctx is None:
            return None, None
        from nbpipe.state.store import open_store

        store = open_store(ctx.state_dir)
        now = time.time()
        # Pruning once a minute per process is plenty.
        if now - self._last_prune.get(ctx.state_dir, 0.0) > 60:
            RunAnywayTarget._last_prune[ctx.state_dir] = now
            store.prune_run_anyway(now - self.temp_time)
        return store, ctx

    def exists(self) -> bool:
        """Done in the current run (never outside a run)."""
        store, ctx = self._store()
        return store is not None and store.run_anyway_is_done(ctx.run_id, self.task_id)

    def done(self) -> None:
        """Mark the task done for this run."""
        store, ctx = self._store()
        if store is None:
            raise RuntimeError(
                f"RunAnywayTarget({self.task_id}).done() called outside a pipeline run; "
                "run the task with nbpipe.build() or `nbpipe run`"
            )
        store.run_anyway_done(ctx.run_id, self.task_id, time.time())

    def __repr__(self) -> str:
        return f"RunAnywayTarget({self.task_id})"
