"""Which instances of a date-parameterised task are complete, learnt from file listings.

A recurring task usually writes to a path made with ``strftime``
(``data/%Y-%m-%d/part``).  Instead of asking every instance whether its
output exists (one file-system request each), the range tools find where
the date fields sit in the output paths, turn those positions into a glob
over the parent folders, list the few folders the glob names, and compare.
This is Luigi's ``infer_bulk_complete_from_fs`` contract:

- every instance has the same number of outputs, each a
  :class:`~nbpipe.target.FileSystemTarget` (or the task is a wrapper whose
  requirements' outputs are), otherwise :class:`NotImplementedError`;
- the glob is handed to the target's file system as is:
  ``fs.exists(glob)`` then ``fs.listdir(glob)``, so the file system must
  understand globs in those calls for the inference to find anything.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any

from nbpipe.target import FileSystemTarget
from nbpipe.task_structure import flatten_output

__all__ = ["infer_bulk_complete_from_fs", "most_common"]

logger = logging.getLogger("luigi-interface")

DIGIT = "[0-9]"

# Instants whose fields (2000..2040, months 1-3, days 5-7, hours 21-23) are
# unlikely to all appear in a path by accident, so the position where most
# samples match a field is where the task writes it.
_SAMPLES = [
    datetime(year, month, day, hour)
    for year in range(2000, 2050, 10)
    for month in (1, 2, 3)
    for day in (5, 6, 7)
    for hour in (21, 22, 23)
]


def most_common(items: Iterable[Hashable]) -> tuple[Any, int]:
    """The most frequent item and how many times it occurs (the first met wins a tie)."""
    ((item, count),) = Counter(items).most_common(1)
    return item, count


def _char_class(chars: Sequence[str]) -> str:
    """A glob character class for ``chars``: ``[3-7]`` for a run of consecutive digits, else ``[0259]``."""
    ordered = sorted(chars)
    if len(ordered) > 1 and ord(ordered[-1]) - ord(ordered[0]) == len(ordered) - 1:
        return f"[{ordered[0]}-{ordered[-1]}]"
    return "[" + "".join(ordered) + "]"


def _constrain_glob(glob: str, paths: Sequence[str], limit: int = 5) -> list[str]:
    """Narrow ``glob`` into several globs that still match every path in ``paths``.

    ``[0-9]`` wildcards are replaced from the left by the digits the paths
    actually have at that position, one glob per digit, while the globs
    stay few: once the next split would give more than ``limit`` globs, the
    leftmost remaining wildcard of each glob becomes a class of its digits
    and the rest stay wildcards.  A glob without wildcards comes back alone.
    """
    groups: dict[str, list[str]] = {glob: list(paths)}
    while groups:
        pos = next(iter(groups)).find(DIGIT)
        if pos < 0:
            return list(groups)
        # Every glob in ``groups`` had the same wildcards replaced by one
        # character each, so the first wildcard sits at the same index in all,
        # and that index is the path's character there.
        digits = {g: sorted({p[pos] for p in members}) for g, members in groups.items()}
        if sum(len(d) for d in digits.values()) > limit:
            return [g.replace(DIGIT, _char_class(digits[g]), 1) for g in groups]
        groups = {
            g.replace(DIGIT, digit, 1): [p for p in members if p[pos] == digit]
            for g, members in groups.items()
            for digit in digits[g]
        }
    return []


def _location_glob(tasks: Sequence[Any], targets: Sequence[Any], patterns: Sequence[re.Pattern]) -> str:
    """The glob of the folders holding one logical output of ``tasks`` (one target each)."""
    paths = [t.path for t in targets]
    matches = []
    for pattern, path, task in zip(patterns, paths, tasks, strict=True):
        match = pattern.search(path)
        if match is None:
            raise NotImplementedError(f"Couldn't deduce datehour representation in output path {path!r} of task {task}")
        matches.append(match)
    n_fields = len(matches[0].groups())
    # A field can match early by accident (a '2000' elsewhere in the path),
    # but the span most samples agree on is where the task writes it.
    spans = [most_common(m.span(i) for m in matches)[0] for i in range(1, n_fields + 1)]
    chars: list[str] = list(paths[0])
    for start, end in spans:
        chars[start:end] = [DIGIT] * (end - start)
    # The last path component is dropped: listings are of folders.
    return "".join(chars).rsplit("/", 1)[0]


def _get_filesystems_and_globs(
    datetime_to_task: Callable[[datetime], Any], datetime_to_re: Callable[[datetime], str]
) -> Iterable[tuple[Any, str]]:
    """Yield ``(file system, glob)`` for each logical output of the task ``datetime_to_task`` makes.

    Raises :class:`NotImplementedError` when the outputs are not the same in
    number for every instant, are not file-system targets, or a path does not
    show the instant as ``datetime_to_re`` writes it.
    """
    patterns = [re.compile(datetime_to_re(d)) for d in _SAMPLES]
    tasks = [datetime_to_task(d) for d in _SAMPLES]
    outputs = [flatten_output(t) for t in tasks]
    for task, targets in zip(tasks, outputs, strict=True):
        if len(targets) != len(outputs[0]):
            raise NotImplementedError(
                f"Outputs must be consistent over time; was {targets!r} for {task!r} and {outputs[0]!r} for {tasks[0]!r}"
            )
        for target in targets:
            if not isinstance(target, FileSystemTarget):
                raise NotImplementedError(
                    f"Output targets must be instances of FileSystemTarget; was {target!r} for {task!r}"
                )
    # zip(*outputs) walks the logical outputs, each across all the samples.
    for location in zip(*outputs, strict=True):
        yield location[0].fs, _location_glob(tasks, location, patterns)


def _list_existing(filesystem: Any, glob: str, paths: Sequence[str]) -> set[str]:
    """The paths that exist among those the narrowed forms of ``glob`` list on ``filesystem``."""
    globs = sorted(_constrain_glob(glob, paths))
    began = time.monotonic()
    listing: list[str] = []
    for g in globs:
        logger.debug("Listing %s", g)
        if filesystem.exists(g):
            listing.extend(filesystem.listdir(g))
    logger.debug(
        "%d %s listings took %.3f s to return %d items",
        len(globs),
        type(filesystem).__name__,
        time.monotonic() - began,
        len(listing),
    )
    return set(listing)


def infer_bulk_complete_from_fs(
    datetimes: Sequence[datetime],
    datetime_to_task: Callable[[datetime], Any],
    datetime_to_re: Callable[[datetime], str],
) -> list[datetime]:
    """The instants of ``datetimes`` whose task has some output missing, found by listing folders.

    ``datetime_to_task`` makes the task of an instant; ``datetime_to_re``
    a regular expression with one group per date field as the task writes
    it (``d.strftime("(%Y).*(%m).*(%d)")``).  The order of ``datetimes`` is
    kept.  See the module's docstring for what the task must look like.
    """
    locations = list(_get_filesystems_and_globs(datetime_to_task, datetime_to_re))
    paths_by_instant = [[t.path for t in flatten_output(datetime_to_task(d))] for d in datetimes]
    existing: set[str] = set()
    # Not strict: with no instants there is nothing to list, and an instant
    # with more outputs than the samples only has its extra paths unlisted (so missing).
    for (filesystem, glob), location_paths in zip(locations, zip(*paths_by_instant, strict=False), strict=False):
        existing |= _list_existing(filesystem, glob, location_paths)
    return [d for d, paths in zip(datetimes, paths_by_instant, strict=True) if not set(paths) <= existing]
