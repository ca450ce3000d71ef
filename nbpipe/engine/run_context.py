"""Per-run context visible to task code, in the driver and in every worker.

The executor sets it before a task runs; targets that depend on the run
(``RunAnywayTarget``) read it.  Kept tiny and dependency-free so worker
processes import it cheaply.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RunContext", "current", "set_current", "set_thread_current", "new_run_id", "state_dir"]

ENV_STATE_DIR = "NBPIPE_STATE_DIR"


@dataclass(frozen=True)
class RunContext:
    run_id: str
    state_dir: str


_current: RunContext | None = None
# A Dask worker runs tasks of several runs (several drivers) at once, one per
# thread: there the context is set per thread and wins over the process's.
_thread = threading.local()


def current() -> RunContext | None:
    """The context of the run executing here, or None outside runs."""
    return getattr(_thread, "context", None) or _current


def set_current(ctx: RunContext | None) -> None:
    global _current
    _current = ctx


def set_thread_current(ctx: RunContext | None) -> None:
    """Set the context for this thread only (a task running in a shared worker)."""
    _thread.context = ctx


def new_run_id() -> str:
    """A sortable, unique run id: UTC time, pid and a random suffix."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}-{random.randrange(16**6):06x}"


def state_dir() -> str:
    """The state directory: $NBPIPE_STATE_DIR, ``[core] state_dir``, or ./.nbpipe."""
    env = os.environ.get(ENV_STATE_DIR)
    if env:
        return str(Path(env).absolute())
    from nbpipe.configuration import option_value
    from nbpipe.options import CORE_STATE_DIR

    return str(Path(option_value(CORE_STATE_DIR)).absolute())
