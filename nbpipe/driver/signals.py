"""SIGTERM stops a run as Ctrl-C does.

Without a handler, SIGTERM ends Python at once: no summary, temporary files
left beside outputs, the run open in history.  With :func:`sigterm_as_interrupt`
it raises :class:`~nbpipe.exceptions.Terminated` (a ``KeyboardInterrupt``) in
the main thread, so every layer that cleans up after Ctrl-C cleans up after
SIGTERM too; the caller then exits with :data:`nbpipe.retcodes.TERMINATED`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from nbpipe.exceptions import Terminated

__all__ = ["sigterm_as_interrupt"]


def _raise_terminated(signum, frame) -> None:
    raise Terminated("SIGTERM")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
