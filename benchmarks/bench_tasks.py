"""Task graphs shared by both engines.

``NBPIPE_BENCH_ENGINE=luigi`` makes this module ``import luigi``; anything
else ``import nbpipe as luigi``, so the very same task code runs on both.
``NBPIPE_BENCH_DIR`` is where small-file tasks write their outputs.

Graphs (``root(graph, kind, n)`` returns the task to build):

* ``chain``   -- N tasks, task i requires task i-1;
* ``fanin``   -- one root requiring N-1 leaves (N tasks);
* ``layered`` -- N/100 layers of 100 tasks; each task requires 3 random
  tasks of the layer below (deterministic from ``SEED``), the top layer is
  gathered by a WrapperTask (N tasks plus that wrapper).

Kinds: ``noop`` (complete() reads an in-memory set that run() fills) and
``file`` (a LocalTarget of a few bytes).
"""

from __future__ import annotations

import os
import random

if os.environ.get("NBPIPE_BENCH_ENGINE") == "luigi":
    import luigi
else:
    import nbpipe as luigi

DATA_DIR = os.environ.get("NBPIPE_BENCH_DIR", "/dev/shm/nbpipe-bench")
SEED = int(os.environ.get("NBPIPE_BENCH_SEED", "20240501"))
WIDTH = 100
FAN = 3

#: task ids of the no-op tasks that ran (or, for a warm run, ran before).
DONE: set[str] = set()


class Noop:
    def complete(self):
        return self.task_id in DONE

    def run(self):
        DONE.add(self.task_id)


class SmallFile:
    def output(self):
        return luigi.LocalTarget(os.path.join(DATA_DIR, self.task_id))

    def run(self):
        with self.output().open("w") as f:
            f.write("ok\n")


# -- chain -------------------------------------------------------------------


class Chain(luigi.Task):
    i = luigi.IntParameter()

    def requires(self):
        return [type(self)(i=self.i - 1)] if self.i > 0 else []


class NoopChain(Noop, Chain):
    pass


class FileChain(SmallFile, Chain):
    pass


# -- fan-in ------------------------------------------------------------------


class Leaf(luigi.Task):
    i = luigi.IntParameter()


class FanIn(luigi.Task):
    n = luigi.IntParameter()
    leaf: type = Leaf

    def requires(self):
        return [self.leaf(i=i) for i in range(self.n - 1)]


class NoopLeaf(Noop, Leaf):
    pass


class FileLeaf(SmallFile, Leaf):
    pass


class NoopFanIn(Noop, FanIn):
    leaf = NoopLeaf


class FileFanIn(SmallFile, FanIn):
    leaf = FileLeaf


# -- layered DAG -------------------------------------------------------------

_edges_cache: dict[int, list[list[int]]] = {}


def edges(layer: int) -> list[list[int]]:
    """For each task of ``layer``, the indexes it requires in ``layer - 1``.

    Each of the FAN picks is uniformly random; taking them from FAN random
    permutations makes every task of the lower layer required by someone,
    so all N tasks are part of the graph.  Depends only on SEED and layer.
    """
    row = _edges_cache.get(layer)
    if row is None:
        rng = random.Random(SEED * 1_000_003 + layer)
        perms = [rng.sample(range(WIDTH), WIDTH) for _ in range(FAN)]
        row = [sorted({p[i] for p in perms}) for i in range(WIDTH)]
        _edges_cache[layer] = row
    return row


class Layered(luigi.Task):
    layer = luigi.IntParameter()
    idx = luigi.IntParameter()

    def requires(self):
        if self.layer == 0:
            return []
        cls = type(self)
        below = self.layer - 1
        return [cls(layer=below, idx=j) for j in edges(self.layer)[self.idx]]


class NoopLayered(Noop, Layered):
    pass


class FileLayered(SmallFile, Layered):
    pass


class LayeredTop(luigi.WrapperTask):
    n = luigi.IntParameter()
    node: type = Layered

    def requires(self):
        top = self.n // WIDTH - 1
        return [self.node(layer=top, idx=i) for i in range(WIDTH)]


class NoopLayeredTop(LayeredTop):
    node = NoopLayered


class FileLayeredTop(LayeredTop):
    node = FileLayered


_ROOTS = {
    ("chain", "noop"): lambda n: NoopChain(i=n - 1),
    ("chain", "file"): lambda n: FileChain(i=n - 1),
    ("fanin", "noop"): lambda n: NoopFanIn(n=n),
    ("fanin", "file"): lambda n: FileFanIn(n=n),
    ("layered", "noop"): lambda n: NoopLayeredTop(n=n),
    ("layered", "file"): lambda n: FileLayeredTop(n=n),
}

GRAPHS = ("chain", "fanin", "layered")
KINDS = ("noop", "file")


def root(graph: str, kind: str, n: int):
    """The task to build for ``graph`` of ``kind`` with ``n`` tasks."""
    if graph == "layered" and n % WIDTH:
        raise ValueError(f"layered graphs need N a multiple of {WIDTH}, got {n}")
    return _ROOTS[graph, kind](n)


def count_done(kind: str) -> int:
    """How many tasks have run (in this process for noop; on disk for file)."""
    if kind == "noop":
        return len(DONE)
    return sum(1 for _ in os.scandir(DATA_DIR))
