"""Running one task: the part every executor shares.

:func:`run_task` runs a task's ``run()`` where the executor placed it (the
driver, a thread, a worker process or a Dask worker) and reports an
:class:`Outcome`.  It never raises for task errors; KeyboardInterrupt and
SystemExit pass through so an interrupted run stops.
"""

from __future__ import annotations

import time
import traceback
import types

from nbpipe.engine import task_log
from nbpipe.engine.executor import DONE, FAILED, SUSPENDED, Outcome
from nbpipe.task import DynamicRequirements, Task

__all__ = ["run_task"]


def one_line_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def run_task(
    task: Task,
    check_unfulfilled_deps: bool = True,
    worker: str = "",
    deps: list | None = None,
    verified: set[str] | None = None,
) -> Outcome:
    """Run ``task`` here and now; report what happened.

    ``deps`` are the task's requirements when the caller already has them
    (the driver resolved them), so ``requires()`` is not called again.

    With ``check_unfulfilled_deps``, each requirement's ``complete()`` is
    checked before ``run()`` (Luigi's worker does the same): a requirement
    whose ``run()`` returned without making its outputs fails the task with
    that reason.  ``verified`` (one set per run and process) holds the ids
    of requirements already found complete by such a check in this run;
    they are not checked again for each further task that needs them (a
    task needed by 3 others is checked once, not 3 times: the check exists
    to catch a ``run()`` that wrote nothing, which the first check does).

    The lines the task logs or prints meanwhile come back in ``Outcome.log``.
    """
    outer = task_log.begin()
    try:
        outcome = _attempt(task, check_unfulfilled_deps, worker, deps, verified)
    finally:
        lines, dropped = task_log.end(outer)
    if lines:
        outcome.log, outcome.log_dropped = lines, dropped
    return outcome


def _attempt(
    task: Task,
    check_unfulfilled_deps: bool,
    worker: str,
    deps: list | None,
    verified: set[str] | None,
) -> Outcome:
    start = time.perf_counter()
    task_id = task.task_id
    try:
        if check_unfulfilled_deps:
            if verified is None:
                missing = [dep for dep in (task.deps() if deps is None else deps) if not dep.complete()]
            else:
                missing = []
                for dep in task.deps() if deps is None else deps:
                    dep_id = dep.task_id
                    if dep_id in verified:
                        continue
                    if dep.complete():
                        verified.add(dep_id)
                    else:
                        missing.append(dep)
            if missing:
                names = ", ".join(str(d) for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
                raise RuntimeError(
                    f"Unfulfilled dependencies at run time: {names} "
                    "(their complete() is False although they ran; check their output())"
                )
        new_deps = _run_until_new_deps(task)
        if new_deps:
            return Outcome(task_id, SUSPENDED, time.perf_counter() - start, new_deps=new_deps, worker=worker)
        message = task.on_success()
        return Outcome(task_id, DONE, time.perf_counter() - start, message=message or "", worker=worker)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a task failure, reported not raised
        elapsed = time.perf_counter() - start
        tb = traceback.format_exc()
        try:
            explanation = task.on_failure(exc) or ""
        except Exception as hook_exc:  # noqa: BLE001
            explanation = f"on_failure() itself raised {one_line_error(hook_exc)}"
        return Outcome(
            task_id,
            FAILED,
            elapsed,
            reason=one_line_error(exc),
            explanation=explanation,
            traceback=tb,
            exception=exc,
            worker=worker,
            kind="error",
        )


def _run_until_new_deps(task: Task) -> list[Task] | None:
    """Run ``task.run()``; for a generator, feed it until it yields incomplete requirements."""
    result = task.run()
    if not isinstance(result, types.GeneratorType):
        return None
    gen = result
    to_send = None
    while True:
        try:
            requires = gen.send(to_send)
        except StopIteration:
            return None
        if not isinstance(requires, DynamicRequirements):
            requires = DynamicRequirements(requires)
        for dep in requires.flat_requirements:
            if not isinstance(dep, Task):
                gen.close()
                raise TypeError(f"{task}: run() yielded {dep!r}, which is not a task")
        if not requires.complete():
            # Closing the generator raises GeneratorExit at its yield, so any
            # output it had open is discarded, not committed half-written.
            gen.close()
            return list(requires.flat_requirements)
        to_send = requires.paths
