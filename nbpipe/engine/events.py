"""Events: what happened during a run, as plain data.

:class:`RunEvent` is one record per scheduling transition, of a
:class:`Kind`.  Every consumer (the execution summary, progress display,
widget, run history) is built from a sequence of these and nothing else, so
each can be tested by feeding it a hand-made list.  Luigi's event names for
``@Task.event_handler(...)`` are :class:`nbpipe.event.Event`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

__all__ = ["RunEvent", "Kind", "KindName", "ALL_KINDS", "EventBus"]


#: Every kind of run event (a type checker sees the list; :data:`ALL_KINDS` is the set).
KindName = Literal[
    "run_started",
    "discovered",
    "complete",
    "missing",
    "scheduling_failed",
    "pending",
    "running",
    "done",
    "failed",
    "retry_wait",
    "disabled",
    "upstream_failed",
    "suspended",
    "run_by_other",
    "progress",
    "run_finished",
]


class Kind:
    """Kinds of :class:`RunEvent`.

    Per task, in the order they can occur::

        DISCOVERED -> (COMPLETE | MISSING | SCHEDULING_FAILED | PENDING)
        PENDING -> RUNNING -> (DONE | FAILED | SUSPENDED)
        FAILED -> RETRY_WAIT -> PENDING ...     (retries left)
        FAILED -> DISABLED                      (retry limit reached)
        PENDING -> UPSTREAM_FAILED              (a dependency failed for good)
        PENDING -> RUN_BY_OTHER                 (another run holds its lock)
        RUNNING -> SUSPENDED -> PENDING         (run() yielded new dependencies)

    ``RUN_STARTED`` and ``RUN_FINISHED`` frame a run (``task_id`` is empty).
    The values are plain strings (the :data:`KindName` literal type): a run
    reads them several times per task, and a plain class attribute reads
    four times faster than an Enum member on Python 3.11.
    """

    RUN_STARTED: Final = "run_started"
    DISCOVERED: Final = "discovered"  # data: complete, external, deps (task ids)
    COMPLETE: Final = "complete"  # already complete when discovered
    MISSING: Final = "missing"  # external task whose output is absent
    SCHEDULING_FAILED: Final = "scheduling_failed"  # requires()/complete() raised, or a cycle
    PENDING: Final = "pending"
    RUNNING: Final = "running"  # data: worker
    DONE: Final = "done"  # ran successfully in this run
    FAILED: Final = "failed"  # data: error, traceback; reason in `reason`
    RETRY_WAIT: Final = "retry_wait"  # data: retry_at
    DISABLED: Final = "disabled"  # too many failures
    UPSTREAM_FAILED: Final = "upstream_failed"
    SUSPENDED: Final = "suspended"  # run() yielded incomplete dynamic deps; data: deps
    RUN_BY_OTHER: Final = "run_by_other"
    PROGRESS: Final = "progress"  # data: message / percentage from the task
    RUN_FINISHED: Final = "run_finished"  # data: interrupted


ALL_KINDS: frozenset[str] = frozenset(get_args(KindName))


@dataclass(slots=True)
class RunEvent:
    """One transition of one task (or of the run, when ``task_id`` is '').

    ``task`` is the task object when the event was produced in the driver;
    ``deps`` lists the task ids a DISCOVERED or SUSPENDED task requires;
    ``reason`` is a human sentence ("worker died (exit code -9)") and
    ``data`` holds kind-specific extras (traceback, worker, attempt, ...).
    """

    kind: str
    task_id: str
    time: float
    task: Any = None
    deps: tuple = ()
    reason: str = ""
    data: dict = field(default_factory=dict)


class EventBus:
    """Fan-out of run events to subscribers, in subscription order.

    A subscriber that raises is reported once on the ``nbpipe`` logger and
    kept: a broken progress display must not stop a pipeline.
    """

    def __init__(self) -> None:
        self._subscribers: list[tuple[Callable[[RunEvent], None], frozenset[str] | None]] = []
        self._for_kind: dict[str, list[Callable[[RunEvent], None]]] = {}  # made on first use of each kind
        self.events: list[RunEvent] = []
        self._failed: set[int] = set()  # ids of the subscribers whose failure was reported

    def subscribe(self, fn: Callable[[RunEvent], None], kinds: Iterable[str] | None = None) -> None:
        """``fn`` receives every event, or only those of ``kinds`` (an event is several per task: it saves calls)."""
        self._subscribers.append((fn, None if kinds is None else frozenset(kinds)))
        self._for_kind = {}

    def emit(self, event: RunEvent) -> None:
        self.emit_all((event,))

    def emit_all(self, events: Iterable[RunEvent]) -> None:
        """:meth:`emit` each of ``events`` in turn, in one call (a run emits several per task)."""
        record = self.events.append
        for event in events:
            record(event)
            receivers = self._for_kind.get(event.kind)
            if receivers is None:
                receivers = self._receivers(event.kind)
            for fn in receivers:
                try:
                    fn(event)
                except Exception:  # noqa: BLE001 - reported once, and the run goes on
                    self._report(fn, event)

    def _receivers(self, kind: str) -> list[Callable[[RunEvent], None]]:
        receivers = self._for_kind[kind] = [fn for fn, kinds in self._subscribers if kinds is None or kind in kinds]
        return receivers

    def _report(self, fn: Callable[[RunEvent], None], event: RunEvent) -> None:
        if id(fn) not in self._failed:  # one report, not one per event (thousands in a big run)
            self._failed.add(id(fn))
            import logging

            logging.getLogger("nbpipe").exception(
                "event subscriber %r failed on %s (its later failures are not reported)", fn, event.kind
            )
