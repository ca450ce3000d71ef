"""Task classes reach worker processes once per definition; configuration and unimportable modules too.

The classes here live in synthetic modules (``types.ModuleType`` executed
from source, never in ``sys.modules``) or in modules loaded by file path
under a name no path finder maps to that file, as a notebook's, ``%run``'s
or a test harness's classes do: a fresh worker process cannot import them
by name, so they must travel by value.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap
import types
from pathlib import Path

import pytest

from nbpipe import configuration as config
from nbpipe.driver.run import execute
from nbpipe.executors import shipping
from nbpipe.executors.process import ProcessExecutor
from nbpipe.executors.shipping import DefinitionCache, DefinitionShipper, importable_by_name

COUNTED = """
import os
import nbpipe

def _loaded(path, data):
    # Runs each time the global is unpickled: one line per process that loads the class.
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\\n")
    return data

class Counted:
    def __init__(self, path, data):
        self.path, self.data = path, data

    def __reduce__(self):
        return (_loaded, (self.path, self.data))

BIG = Counted(LOG, b"x" * 1_000_000)

class FAMILY(nbpipe.Task):
    i = nbpipe.IntParameter()

    def output(self):
        return nbpipe.LocalTarget(os.path.join(OUT, f"FAMILY_{self.i}.txt"))

    def run(self):
        assert len(BIG) == 1_000_000  # the global arrived (as the bytes it reduces to)
        with self.output().open("w") as f:
            f.write(f"VERSION {os.getpid()}")
"""


def synthetic(name: str, source: str, **globals_) -> types.ModuleType:
    """A module executed from source and kept out of sys.modules, as a notebook's namespace."""
    module = types.ModuleType(name)
    module.__dict__.update(globals_)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def counted(tmp_path: Path, family: str, version: str, log: str = "loads.txt") -> type:
    source = COUNTED.replace("FAMILY", family).replace("VERSION", version)
    module = synthetic(f"nbpipe_test_{family.lower()}_{version}", source, LOG=str(tmp_path / log), OUT=str(tmp_path))
    return getattr(module, family)


def test_a_large_global_reaches_each_worker_once_and_tasks_carry_only_their_values(tmp_path):
    cls = counted(tmp_path, "UsesBig", "v1")
    executor = ProcessExecutor(2)
    result = execute([cls(i=i) for i in range(24)], workers=2, executor=executor)
    assert result.exit_code == 0, result.summary_text
    pids = {(tmp_path / f"UsesBig_{i}.txt").read_text().split()[1] for i in range(24)}
    loads = (tmp_path / "loads.txt").read_text().split()
    # Unpickled once in each worker that ran a task: never once per task.
    assert len(loads) == len(set(loads)) == len(pids) <= 2
    assert set(loads) == pids
    stats = executor.stats
    assert stats["tasks_sent"] == 24
    assert stats["definition_bytes"] < 2 * 1_100_000  # the 1 MB global: at most once per worker
    assert stats["task_bytes"] / stats["tasks_sent"] < 1_000  # a task: its family and values


def test_a_redefined_class_is_sent_once_and_old_and_new_tasks_each_run_their_own_code(tmp_path):
    old = counted(tmp_path, "Versioned", "v1", log="loads_v1.txt")
    new = counted(tmp_path, "Versioned", "v2", log="loads_v2.txt")  # the cell re-run: same family
    assert old.get_task_family() == new.get_task_family() and old is not new
    executor = ProcessExecutor(2)
    tasks = [old(i=i) for i in range(10)] + [new(i=i) for i in range(10, 20)]
    result = execute(tasks, workers=2, executor=executor)
    assert result.exit_code == 0, result.summary_text
    for i in range(20):
        assert (tmp_path / f"Versioned_{i}.txt").read_text().split()[0] == ("v1" if i < 10 else "v2")
    for log in ("loads_v1.txt", "loads_v2.txt"):
        loads = (tmp_path / log).read_text().split()
        assert len(loads) == len(set(loads)) <= 2  # each definition at most once per worker
    shipper = DefinitionShipper()
    assert shipper.key_of(old) != shipper.key_of(new)


def test_a_class_from_a_module_loaded_by_file_path_runs_in_worker_processes(tmp_path):
    path = tmp_path / "by_path_pipeline.py"
    path.write_text(
        textwrap.dedent(
            """
            import os
            import nbpipe

            def helper(i):
                return i * 3

            class ByPath(nbpipe.Task):
                i = nbpipe.IntParameter()

                def output(self):
                    return nbpipe.LocalTarget(f"bypath_{self.i}.txt")

                def run(self):
                    with self.output().open("w") as f:
                        f.write(str(helper(self.i)))
            """
        )
    )
    # Registered under a name that no path finder maps to the file, as test harnesses do.
    spec = importlib.util.spec_from_file_location("nbpipe_test_loaded_by_path", path)
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert not importable_by_name(module)
        result = execute([module.ByPath(i=i) for i in range(6)], workers=2, executor="process")
    finally:
        del sys.modules[spec.name]
    assert result.exit_code == 0, result.summary_text
    assert [(tmp_path / f"bypath_{i}.txt").read_text() for i in range(6)] == [str(i * 3) for i in range(6)]


def test_modules_a_fresh_process_imports_by_name_are_recognised():
    import nbpipe.task

    assert importable_by_name(nbpipe.task)
    assert importable_by_name(os)
    assert not importable_by_name(types.ModuleType("made_in_memory"))


def test_a_task_the_worker_cannot_load_fails_naming_the_module_and_the_worker_survives(tmp_path, monkeypatch):
    path = tmp_path / "only_here.py"
    path.write_text(
        textwrap.dedent(
            """
            import nbpipe

            class OnlyInDriver(nbpipe.Task):
                priority = 100  # dispatched first, so the worker meets it before the others

                def complete(self):
                    return False
            """
        )
    )
    spec = importlib.util.spec_from_file_location("nbpipe_test_only_in_driver", path)
    module = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    # Pretend the module is importable by name, so it travels by reference and the worker cannot import it.
    monkeypatch.setattr(shipping, "importable_by_name", lambda module: True)
    good = counted(tmp_path, "AfterBad", "ok")
    try:
        result = execute([module.OnlyInDriver()] + [good(i=i) for i in range(4)], workers=1, executor="process")
    finally:
        del sys.modules[spec.name]
    failures = [e for e in result.events if e.kind == "failed"]
    assert len(failures) == 1
    reason = failures[0].reason
    assert "nbpipe_test_only_in_driver" in reason and "No module named" in reason, reason
    assert "worker died" not in reason
    pids = {(tmp_path / f"AfterBad_{i}.txt").read_text().split()[1] for i in range(4)}
    assert len(pids) == 1  # one worker ran everything after the failure: it survived


def test_a_definition_that_fails_to_load_is_reported_for_every_task_that_needs_it():
    shipper = DefinitionShipper()
    module = synthetic("nbpipe_test_poisoned", "import nbpipe\nclass Poisoned(nbpipe.Task):\n    pass\n")
    payload, keys = shipper.dumps(module.Poisoned())
    cache = DefinitionCache()
    for d in shipper.closure(keys):
        blob = d.blob if d.qualname != "Poisoned" else b"not a pickle"
        cache.add(d.key, blob, d.module, d.qualname, d.origin)
    for _ in range(2):
        with pytest.raises(shipping.TaskLoadError, match="nbpipe_test_poisoned"):
            cache.loads_task(payload)


CONFIGURED = """
import os
import nbpipe

class Settings(nbpipe.Config):
    factor = nbpipe.IntParameter(default=1)

class Part(nbpipe.Task):
    i = nbpipe.IntParameter()
    offset = nbpipe.IntParameter(default=0)

    def output(self):
        return nbpipe.LocalTarget(os.path.join(OUT, f"part_{self.i}.txt"))

    def run(self):
        with self.output().open("w") as f:
            f.write(str(self.i * Settings().factor + self.offset))

class Total(nbpipe.Task):
    n = nbpipe.IntParameter(default=2)

    def requires(self):
        # Built again in the worker that runs Total: it must see the driver's n and offset.
        return [Part(i=i) for i in range(self.n)]

    def output(self):
        return nbpipe.LocalTarget(os.path.join(OUT, "total.txt"))

    def run(self):
        parts = [int(t.open().read()) for t in self.input()]
        with self.output().open("w") as f:
            f.write(f"{len(parts)} {sum(parts)}")
"""


@pytest.mark.parametrize("executor,workers", [("inline", 1), ("process", 1), ("process", 2)])
def test_configuration_from_set_option_files_and_the_command_line_reaches_workers(tmp_path, executor, workers):
    out = tmp_path / f"{executor}-{workers}"
    out.mkdir()
    module = synthetic(f"nbpipe_test_configured_{executor}_{workers}", CONFIGURED, OUT=str(out))
    (tmp_path / "nbpipe.toml").write_text("[Total]\nn = 5\n")  # a file in the working directory
    config.reload_config(clear_overrides=True)
    config.set_option("Settings", "factor", "7")  # set in a notebook
    with config.command_line_values({"Part": {"offset": "100"}}):  # --Part-offset 100
        result = execute([module.Total()], workers=workers, executor=executor)
    assert result.exit_code == 0, result.summary_text
    assert (out / "total.txt").read_text() == f"5 {sum(i * 7 + 100 for i in range(5))}"
