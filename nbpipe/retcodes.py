"""Process exit codes of an nbpipe run.

Unlike Luigi, whose ``[retcode]`` defaults are all 0, every outcome has its
own non-zero code by default, so a shell script or a CI job can tell them
apart.  Each code can be changed in the ``[retcode]`` configuration section,
with Luigi's option names (set them all to 0 to get Luigi's behaviour back).

======================  =======  ==============================================
option                  default  meaning
======================  =======  ==============================================
(success)               0        the root task is complete and nothing below
                                 applies
already_running         10       another worker (or another run holding the
                                 lock) was running tasks this run needed
missing_data            20       an external task's output is missing
not_run                 25       tasks were left pending without a reason
                                 above, or the root task did not complete
task_failed             30       a task's ``run()`` failed (for good, after
                                 its retries)
scheduling_error        35       a task's ``requires()`` / ``complete()``
                                 raised, or the graph has a cycle
unhandled_exception     40       an internal error stopped the run
======================  =======  ==============================================

Fixed codes, not configurable:

* :data:`USAGE_ERROR` (2) — bad command-line arguments, an unknown task, a
  parameter value that does not parse;
* :data:`INTERRUPTED` (130) — the run was stopped with SIGINT (Ctrl-C);
* :data:`TERMINATED` (143) — the run was stopped with SIGTERM, the same way.

:class:`nbpipe.cmdline.retcode` is Luigi's face of the same section, for Luigi's
command (:func:`nbpipe.cmdline.luigi_run`): its
defaults are Luigi's (0 for every outcome, 4 for an unhandled exception),
so a Luigi program's exit codes do not change under nbpipe; options set in
``[retcode]`` or on the command line (``--retcode-task-failed 5``) apply to
both.

When several outcomes apply, the code is the largest of theirs, as Luigi
does: the maximum over ``missing_data`` (missing external dependencies),
``task_failed`` (failed tasks), ``already_running`` (tasks run by another
worker), ``scheduling_error`` and ``not_run`` (tasks not granted run
permission).  When that maximum is 0 but the root task is neither completed
in this run nor was already complete, the code is ``not_run``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from nbpipe.engine.summary import Summary

__all__ = ["RetCodes", "USAGE_ERROR", "INTERRUPTED", "TERMINATED", "SECTION"]

#: Bad arguments, unknown task family, unparsable parameter value.
USAGE_ERROR = 2
#: The run was interrupted by SIGINT (128 + signal 2, the shell convention).
INTERRUPTED = 130
#: The run was stopped by SIGTERM (128 + signal 15), as Ctrl-C stops it: summary, clean-up.
TERMINATED = 143
#: The configuration section holding the configurable codes.
SECTION = "retcode"


@dataclass(frozen=True)
class RetCodes:
    """The configurable exit codes (see the module documentation)."""

    already_running: int = 10
    missing_data: int = 20
    not_run: int = 25
    task_failed: int = 30
    scheduling_error: int = 35
    unhandled_exception: int = 40

    @classmethod
    def from_config(cls, config: Any = None) -> RetCodes:
        """The codes of the ``[retcode]`` section of ``config`` (a :class:`~nbpipe.configuration.Config`).

        Absent options get their declared defaults (:mod:`nbpipe.options`), which equal this class's.
        """
        if config is None:
            from nbpipe.configuration import get_config

            config = get_config()
        return cls(**{f.name: config.value(SECTION, f.name) for f in fields(cls)})

    def for_categories(self, categories: Mapping[str, Any], root_task_id: str | None) -> int:
        """The exit code for a summary's categories (lists of tasks or task ids)."""

        def has(name: str) -> bool:
            return bool(categories.get(name))

        code = max(
            self.missing_data if has("still_pending_ext") else 0,
            self.task_failed if has("failed") else 0,
            self.already_running if has("run_by_other_worker") else 0,
            self.scheduling_error if has("scheduling_error") else 0,
            self.not_run if has("not_run") else 0,
        )
        if code == 0 and root_task_id is not None:
            finished = {_task_id(t) for name in ("completed", "already_done") for t in categories.get(name, ())}
            if root_task_id not in finished:
                return self.not_run
        return code

    def for_summary(self, summary: Summary) -> int:
        """The exit code for an execution :class:`~nbpipe.engine.summary.Summary`."""
        return self.for_categories(summary.categories, summary.root_task_id)


def _task_id(task: Any) -> str:
    return task if isinstance(task, str) else task.task_id
