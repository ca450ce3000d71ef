"""Executors: where tasks run.  All share the :class:`Executor` interface.

* ``inline``  — in the driver, one at a time (default for ``workers=1``);
* ``thread``  — a thread pool in the driver;
* ``process`` — long-lived worker processes (default for ``workers>1``);
* ``dask``    — a Dask distributed cluster (an address, or a local one).

The run loop hands a task to :meth:`Executor.submit` and collects
:class:`~nbpipe.executors.run_one.Outcome` objects from :meth:`Executor.wait`.
"""

from __future__ import annotations

from nbpipe.engine.executor import Executor, ExecutorUnavailable, ProgressCallback

__all__ = ["Executor", "ExecutorUnavailable", "ProgressCallback", "make_executor", "EXECUTOR_KINDS"]

EXECUTOR_KINDS = ("inline", "thread", "process", "dask")


def make_executor(kind: str | None, workers: int, **options) -> Executor:
    """An executor of ``kind`` with ``workers`` slots.

    ``kind`` None picks ``inline`` for one worker and ``process`` otherwise.
    Raises ValueError naming the valid kinds.  ``options`` only some kinds
    take (``address`` for dask) are dropped for the others.
    """
    if kind is None:
        kind = "inline" if workers <= 1 else "process"
    if kind != "dask":
        options.pop("address", None)
    if kind == "inline":
        from nbpipe.executors.inline import InlineExecutor

        return InlineExecutor(**options)
    if kind == "thread":
        from nbpipe.executors.thread import ThreadExecutor

        return ThreadExecutor(workers, **options)
    if kind == "process":
        from nbpipe.executors.process import ProcessExecutor

        return ProcessExecutor(workers, **options)
    if kind == "dask":
        from nbpipe.executors.dask_executor import DaskExecutor

        return DaskExecutor(workers, **options)
    raise ValueError(f"unknown executor {kind!r}; choose one of: {', '.join(EXECUTOR_KINDS)}")
