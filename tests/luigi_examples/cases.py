"""The cases of ``tests/test_luigi_examples.py``: which example, how it is run, its starting
state, and what its summary must say independently of what Luigi says.

``load``: ``"import"`` imports the example by its module name (its folder on
``sys.path``); ``"path"`` loads it with ``importlib.util.spec_from_file_location``
under a name no process can import (as ``%run`` and test harnesses load files),
so worker processes cannot re-import its task classes by name.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

def _sample_size_and_data(seed: int) -> tuple[int, list[int]]:
    """What dynamic_requirements.Configuration(seed).run() computes (same calls, same order)."""
    rnd = random.Random(seed)
    data = rnd.sample(list(range(300)), rnd.randint(7, 25))
    return len(data), data


def _small_seeds(count: int) -> list[int]:
    """Seeds for which Dynamic needs the fewest Data tasks (7, each sleeping 1 s)."""
    return [s for s in range(1, 10_000) if _sample_size_and_data(s)[0] == 7][:count]


FRESH_SEED, PRECONFIGURED_SEED, DONE_SEED = _small_seeds(3)
DATES = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
INTERVAL = "2024-01-01-2024-01-06"  # Custom intervals exclude their end: the five DATES
TEXTS = {d: f"the quick brown fox {i}\njumps over the lazy dog\nthe end {d}\n" for i, d in enumerate(DATES)}


def _touch(path: str, text: str = "") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _inputs(*skip: str) -> Callable[[], None]:
    def setup() -> None:
        for date in DATES:
            if date not in skip:
                _touch(f"/var/tmp/text/{date}.txt", TEXTS[date])

    return setup


def _wordcount_output_exists() -> None:
    _inputs()()
    _touch(f"/var/tmp/text-count/{INTERVAL}", "made before the run\t1\n")


def _bars(numbers) -> Callable[[], None]:
    def setup() -> None:
        os.makedirs("/tmp/bar", exist_ok=True)
        for n in numbers:
            _touch(f"/tmp/bar/{n}")

    return setup


def _configuration(seed: int) -> Callable[[], None]:
    def setup() -> None:
        _touch(f"/tmp/Config_{seed}.txt", ",".join(map(str, _sample_size_and_data(seed)[1])))

    return setup


def _nothing() -> None:
    pass


@dataclass
class Case:
    id: str
    example: str
    #: build mode: the root task's class name in the example, its parameters as strings, workers
    root: str | None = None
    params: dict = field(default_factory=dict)
    workers: int = 1
    #: script mode instead: ``python example.py *argv`` (the example's own luigi.run)
    argv: list[str] | None = None
    #: build mode: "import" (by module name) or "path" (spec_from_file_location, an unimportable name)
    load: str = "import"
    setup: Callable[[], None] = _nothing
    #: what the summary must say, independently of what Luigi says
    status: str = "SUCCESS"
    counts: dict = field(default_factory=dict)  # heading -> count
    #: stdout lines (sorted) the tasks print
    prints: list[str] = field(default_factory=list)


CASES = [
    Case(
        "hello_world-script",
        "hello_world.py",
        argv=[],
        counts={"ran successfully": 1},
        prints=["HelloWorldTask says: Hello world!"],
    ),
    Case(
        "hello_world-build",
        "hello_world.py",
        root="HelloWorldTask",
        counts={"ran successfully": 1},
        prints=["HelloWorldTask says: Hello world!"],
    ),
    Case("foo-workers2", "foo.py", root="Foo", workers=2, counts={"ran successfully": 11}, prints=["Running Foo"]),
    Case(
        "dynamic_requirements-fresh-workers4",
        "dynamic_requirements.py",
        root="Dynamic",
        params={"seed": str(FRESH_SEED)},
        workers=4,
        counts={"ran successfully": 9},
    ),
    Case(
        "dynamic_requirements-script-configured",
        "dynamic_requirements.py",
        argv=["Dynamic", "--seed", str(PRECONFIGURED_SEED), "--workers", "1", "--local-scheduler"],
        setup=_configuration(PRECONFIGURED_SEED),
        counts={"ran successfully": 8},
    ),
    Case(
        "dynamic_requirements-already-done",
        "dynamic_requirements.py",
        root="Dynamic",
        params={"seed": str(DONE_SEED)},
        setup=lambda: _touch(f"/tmp/Dynamic_{DONE_SEED}.txt", "Tada!"),
        counts={"complete ones were encountered": 1},
    ),
    Case(
        "execution_summary_example-docstring-state",
        "execution_summary_example.py",
        root="EntryPoint",
        setup=_bars(range(5, 200)),
        status="MISSING_EXT",
        counts={
            "complete ones were encountered": 195,
            "ran successfully": 1,
            "were left pending, among these": 22,
            "were missing external dependencies": 1,
            "had missing dependencies": 21,
        },
        prints=["Running Boom"],
    ),
    Case(
        "execution_summary_example-fresh",
        "execution_summary_example.py",
        root="EntryPoint",
        status="MISSING_EXT",
        counts={
            "ran successfully": 196,
            "were left pending, among these": 22,
            "were missing external dependencies": 1,
            "had missing dependencies": 21,
        },
        prints=["Running Boom"],
    ),
    Case(
        "execution_summary_example-fresh-workers3",
        "execution_summary_example.py",
        root="EntryPoint",
        workers=3,
        status="MISSING_EXT",
        counts={
            "ran successfully": 196,
            "were left pending, among these": 22,
            "were missing external dependencies": 1,
            "had missing dependencies": 21,
        },
        prints=["Running Boom"],
    ),
    Case(
        "wordcount-all-inputs",
        "wordcount.py",
        root="WordCount",
        params={"date_interval": INTERVAL},
        setup=_inputs(),
        counts={"complete ones were encountered": 5, "ran successfully": 1},
    ),
    Case(
        "wordcount-missing-input",
        "wordcount.py",
        root="WordCount",
        params={"date_interval": INTERVAL},
        setup=_inputs("2024-01-03"),
        status="MISSING_EXT",
        counts={
            "complete ones were encountered": 4,
            "were left pending, among these": 2,
            "were missing external dependencies": 1,
            "had missing dependencies": 1,
        },
    ),
    Case(
        "wordcount-output-exists",
        "wordcount.py",
        root="WordCount",
        params={"date_interval": INTERVAL},
        setup=_wordcount_output_exists,
        counts={"complete ones were encountered": 1},
    ),
]


def _variant(base_id: str, new_id: str, **changes) -> Case:
    """A case like ``base_id`` (same setup and expectations) run another way."""
    base = next(case for case in CASES if case.id == base_id)
    return replace(base, id=new_id, **changes)


# Every example in build mode with 1 and with 2 workers, loaded by import and by file path
# (foo by path with 2 workers only: every call of Bar.output() sleeps 1 s, so each foo run
# takes tens of seconds, and with 1 worker a file-loaded module runs in the driver exactly
# as an imported one does).
CASES += [
    _variant("hello_world-build", "hello_world-build-workers2", workers=2),
    _variant("hello_world-build", "hello_world-build-path", load="path"),
    _variant("hello_world-build", "hello_world-build-path-workers2", load="path", workers=2),
    _variant("foo-workers2", "foo-workers1", workers=1),
    _variant("foo-workers2", "foo-path-workers2", load="path"),
    _variant("dynamic_requirements-fresh-workers4", "dynamic_requirements-fresh-workers2", workers=2),
    _variant("dynamic_requirements-fresh-workers4", "dynamic_requirements-fresh-path-workers1", load="path", workers=1),
    _variant("dynamic_requirements-fresh-workers4", "dynamic_requirements-fresh-path-workers2", load="path", workers=2),
    _variant("execution_summary_example-fresh", "execution_summary_example-fresh-workers2", workers=2),
    _variant("execution_summary_example-docstring-state", "execution_summary_example-docstring-state-path", load="path"),
    _variant("execution_summary_example-fresh", "execution_summary_example-fresh-path-workers2", load="path", workers=2),
    _variant("wordcount-all-inputs", "wordcount-all-inputs-workers2", workers=2),
    _variant("wordcount-all-inputs", "wordcount-all-inputs-path", load="path"),
    _variant("wordcount-all-inputs", "wordcount-all-inputs-path-workers2", load="path", workers=2),
    _variant("wordcount-missing-input", "wordcount-missing-input-workers2", workers=2),
    _variant("wordcount-missing-input", "wordcount-missing-input-path-workers2", load="path", workers=2),
]
CASES_BY_ID = {case.id: case for case in CASES}
assert len(CASES_BY_ID) == len(CASES), "case ids must be unique"
