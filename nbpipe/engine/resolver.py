"""The resolver: from root tasks to the graph the scheduler needs.

Walks ``requires()`` breadth first (iteratively: a 100 000-task chain is
fine), deduplicates by task id, and asks each task whether it is complete.
As in Luigi, the requirements of a complete task are not walked.

Completeness checks may be slow (remote storage).  Each level of the walk is
checked inline while checks are fast; as soon as they turn out slow, the
rest of the level goes to a thread pool, so slow targets are checked in
parallel without taxing fast, in-memory pipelines with thread hand-offs.

A graph that never ends (``requires()`` always returning a new task) cannot
run away silently: past :data:`MAX_DEPTH` levels the walk stops and the
tasks at the edge fail scheduling with the chain that led to them; a walk
that takes long logs its progress.

Errors never stop the walk: an exception in ``complete()`` or
``requires()``, or a requirement that is not a task, makes that one task
SCHEDULING_FAILED with a reason naming it; a dependency cycle makes every
task on it SCHEDULING_FAILED with the cycle spelled out.
"""

from __future__ import annotations

import logging
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from nbpipe.engine.scheduling import State
from nbpipe.task import Task, flatten, is_external
from nbpipe.task_register import Register

__all__ = ["Resolver", "Resolved", "find_cycle", "MAX_DEPTH"]

logger = logging.getLogger("nbpipe")

# Inline checking switches to the pool once a level has spent this long and
# the checks average more than SLOW_CHECK seconds each.
_INLINE_BUDGET = 0.005
_SLOW_CHECK = 0.0005

#: How deep a chain of requirements may go (a root's requirement is 1 deep).  A
#: daily chain over a century is 36 525 long; a requires() that always returns
#: a new task reaches it in seconds instead of filling memory.
MAX_DEPTH = 100_000
#: A walk taking longer than this logs how far it got, then again as often.
PROGRESS_EVERY = 10.0


@dataclass(slots=True, eq=False)
class Resolved:
    """What the resolver learned about one task."""

    task: Task
    state: str
    deps: tuple[str, ...] = ()  # task ids (a tuple: the DISCOVERED event carries this very object)
    reason: str = ""
    traceback: str = ""
    #: What requires() or complete() raised, for Event.BROKEN_TASK handlers (Luigi passes the exception).
    exception: BaseException | None = None

    @property
    def task_id(self) -> str:
        return self.task.task_id


def _describe(value) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} (a {type(value).__name__})"


def inspect_task(task: Task, force: dict | None = None, walk_complete: bool = False) -> tuple[Resolved, list[Task]]:
    """Check one task: its state, and the tasks it requires when it must run.

    ``force`` maps task ids that must run although complete (invalidated,
    stale) to the reason; with ``walk_complete`` the requirements of
    complete tasks are returned too (to find forced tasks below them).
    """
    try:
        complete = task.complete()
        if not isinstance(complete, bool):
            # numpy.bool_ and friends are fine; anything else is a bug worth naming.
            if type(complete).__name__ in ("bool_", "bool8"):
                complete = bool(complete)
            else:
                raise TypeError(f"complete() returned {_describe(complete)}; it must return True or False")
    except Exception as exc:  # noqa: BLE001 - reported as a scheduling failure
        return (
            Resolved(
                task,
                State.SCHEDULING_FAILED,
                reason=f"{task}: complete() raised {type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
                exception=exc,
            ),
            [],
        )
    forced_reason = ""
    if complete:
        forced_reason = force.get(task.task_id, "") if force else ""
        if not forced_reason:
            if not walk_complete:
                return Resolved(task, State.COMPLETE), []
            try:
                deps = [d for d in flatten(task.requires()) if isinstance(d, Task)]
            except Exception:  # noqa: BLE001 - complete anyway; nothing below is needed
                deps = []
            return Resolved(task, State.COMPLETE, tuple([d.task_id for d in deps])), deps
    if is_external(task):
        return Resolved(task, State.MISSING, reason=f"{task} is an external task and its output is missing"), []
    try:
        deps = flatten(task.requires())
    except Exception as exc:  # noqa: BLE001
        return (
            Resolved(
                task,
                State.SCHEDULING_FAILED,
                reason=f"{task}: requires() raised {type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
                exception=exc,
            ),
            [],
        )
    for dep in deps:
        if type(type(dep)) is not Register and not isinstance(dep, Task):  # the first test is the cheap one
            hint = ""
            if hasattr(dep, "exists"):
                hint = "; wrap the target in an ExternalTask whose output() returns it"
            return (
                Resolved(
                    task,
                    State.SCHEDULING_FAILED,
                    reason=f"{task}: requires() returned {_describe(dep)}, not a task{hint}",
                ),
                [],
            )
    state = State.DISABLED if getattr(task, "disabled", False) is True else State.PENDING
    reason = f"{task} is disabled (disabled = True)" if state == State.DISABLED else forced_reason
    return Resolved(task, state, tuple([d.task_id for d in deps]), reason), deps


class Resolver:
    """Walks a graph of tasks; reusable across walks of the same run.

    ``known`` holds every task id seen so far in the run, so dynamic
    dependencies discovered later are deduplicated against the first walk.
    """

    def __init__(
        self,
        check_threads: int = 16,
        force: dict | None = None,
        walk_complete: bool = False,
        max_depth: int = MAX_DEPTH,
    ):
        self.check_threads = max(1, int(check_threads))
        self.max_depth = max_depth
        self.force = force or {}
        self.walk_complete = walk_complete
        self.known: dict[str, Resolved] = {}
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def resolve(self, roots) -> list[Resolved]:
        """Walk from ``roots``; returns the newly seen tasks in discovery order."""
        found: list[Resolved] = []
        known = self.known
        frontier: list[Task] = []
        seen_roots: set[str] = set()
        for task in flatten(roots):
            if not isinstance(task, Task):
                raise TypeError(f"build() needs tasks; got {_describe(task)}")
            if task.task_id not in known and task.task_id not in seen_roots:
                seen_roots.add(task.task_id)
                frontier.append(task)
        parent: dict[str, Task] = {}  # the task through which each one was first reached
        # Tasks with a requirement that is not one level deeper than themselves (known already: found at
        # their level or above, or in an earlier walk).  Along any other edge the level grows, so every
        # cycle has an edge from one of these: the search for cycles starts from them alone.
        back_edge_sources: list[str] = []
        depth = -1  # the roots are at depth 0: a chain A -> B -> C is 2 deep
        started = next_report = time.monotonic()
        next_report += PROGRESS_EVERY
        while frontier:
            depth += 1
            if depth > self.max_depth:
                self._too_deep(frontier, parent, found)
                break
            results = self._inspect_level(frontier)
            next_frontier: list[Task] = []
            seen_next: set[str] = set()
            for resolved, _deps in results:
                known[resolved.task.task_id] = resolved
                found.append(resolved)
            for resolved, deps in results:
                back_edge = False
                for dep in deps:
                    tid = dep.task_id
                    if tid in known:
                        back_edge = True
                    elif tid not in seen_next:
                        seen_next.add(tid)
                        next_frontier.append(dep)
                        parent[tid] = resolved.task
                if back_edge:
                    back_edge_sources.append(resolved.task.task_id)
            frontier = next_frontier
            if time.monotonic() > next_report:
                next_report = time.monotonic() + PROGRESS_EVERY
                logger.warning(
                    "still walking the graph after %.0f s: %d tasks found, %d levels deep, %d to check next",
                    next_report - PROGRESS_EVERY - started,
                    len(found),
                    depth,
                    len(frontier),
                )
        self._break_cycles(back_edge_sources)
        return found

    def _too_deep(self, frontier: list[Task], parent: dict[str, Task], found: list[Resolved]) -> None:
        """Fail the tasks past the depth bound, naming the chain that reached them."""
        chain = [frontier[0]]
        while chain[-1].task_id in parent and len(chain) <= self.max_depth + 1:
            chain.append(parent[chain[-1].task_id])
        chain.reverse()
        shown = (
            [str(t) for t in chain[:3]] + ["..."] + [str(t) for t in chain[-3:]] if len(chain) > 6 else map(str, chain)
        )
        reason = (
            f"the chain of requirements goes deeper than {self.max_depth} levels, which looks like a requires() "
            f"that never ends: {' -> '.join(shown)}; make requires() stop (check its parameters); "
            "for a graph truly this deep, raise nbpipe.engine.resolver.MAX_DEPTH"
        )
        # The tasks at the edge fail; those above them then have failed dependencies.
        for task in frontier:
            resolved = Resolved(task, State.SCHEDULING_FAILED, reason=reason)
            self.known[task.task_id] = resolved
            found.append(resolved)

    def _inspect_level(self, level: list[Task]):
        results = []
        start = time.perf_counter()
        n = len(level)
        i = 0
        force, walk = self.force, self.walk_complete
        while i < n:
            results.append(inspect_task(level[i], force, walk))
            i += 1
            if self.check_threads > 1 and i < n - 1:
                elapsed = time.perf_counter() - start
                if elapsed > _INLINE_BUDGET and elapsed / i > _SLOW_CHECK:
                    results.extend(self._inspect_in_pool(level[i:]))
                    break
        return results

    def _inspect_in_pool(self, tasks: list[Task]):
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.check_threads, thread_name_prefix="nbpipe-check")
        force, walk = self.force, self.walk_complete
        return list(self._pool.map(lambda t: inspect_task(t, force, walk), tasks))

    def _break_cycles(self, starts: list[str]) -> None:
        """Mark the tasks of every dependency cycle through ``starts`` as failed scheduling."""
        known = self.known
        pending = State.PENDING
        while True:
            cycle = find_cycle(
                [tid for tid in starts if known[tid].state == pending],
                lambda tid: [d for d in known[tid].deps if known[d].state == pending],
            )
            if cycle is None:
                return
            # Named from its task found first (nearest the roots), wherever the search entered it.
            order = {tid: i for i, tid in enumerate(known)}
            first = min(range(len(cycle)), key=[order[tid] for tid in cycle].__getitem__)
            cycle = cycle[first:] + cycle[:first]
            text = " -> ".join(str(known[tid].task) for tid in cycle + [cycle[0]])
            for tid in cycle:
                resolved = known[tid]
                resolved.state = State.SCHEDULING_FAILED
                resolved.reason = f"dependency cycle: {text}"


def find_cycle(nodes, deps_of) -> list | None:
    """A cycle among ``nodes`` following ``deps_of`` (as a list), or None.

    Iterative depth-first search with colours; O(nodes + edges).
    """
    WHITE, GREY, BLACK = 0, 1, 2
    colour: dict = {}
    for start in nodes:
        if colour.get(start, WHITE) != WHITE:
            continue
        path = [start]
        colour[start] = GREY
        iters = [iter(deps_of(start))]
        while iters:
            advanced = False
            for dep in iters[-1]:
                c = colour.get(dep, WHITE)
                if c == GREY:
                    return path[path.index(dep) :]
                if c == WHITE:
                    colour[dep] = GREY
                    path.append(dep)
                    iters.append(iter(deps_of(dep)))
                    advanced = True
                    break
            if not advanced:
                colour[path.pop()] = BLACK
                iters.pop()
    return None
