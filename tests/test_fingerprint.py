"""Code and target fingerprints (the nbpipe.state.fingerprints package).

Most tests write real modules into tmp_path (the working directory, hence a
project root), import them, fingerprint a task class, write an edited copy
into a second directory, import that under the same module names, and
compare the two fingerprints.
"""

import importlib
import inspect
import json
import linecache
import os
import re
import subprocess
import sys
import textwrap

import pytest

import nbpipe
import nbpipe.state.fingerprints as fp
from nbpipe import configuration as config
from nbpipe.state.fingerprints import (
    clear_cache,
    code_fingerprint,
    code_version,
    describe_code_change,
    output_fingerprints,
    project_roots,
    target_fingerprint,
)

MODULE_NAMES = ("fp_helpers", "fp_tasks", "fp_outside", "fp_det", "fp_lib")


@pytest.fixture(autouse=True)
def _fresh_modules(monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    clear_cache()
    yield
    for name in MODULE_NAMES:
        sys.modules.pop(name, None)
    clear_cache()


def load_version(directory, sources, order=("fp_helpers", "fp_tasks")):
    """Write ``sources`` ({module: text}) into ``directory`` and import them fresh."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in sources.items():
        (directory / f"{name}.py").write_text(text)
    for name in sources:
        sys.modules.pop(name, None)
    importlib.invalidate_caches()
    sys.path.insert(0, str(directory))
    try:
        return {name: importlib.import_module(name) for name in order if name in sources}
    finally:
        sys.path.remove(str(directory))


HELPERS = r'''
"""Helpers of the test pipeline."""
import functools
import json


def normalise(value):
    return value.strip().lower()


def parse_row(line):
    """Split a CSV line."""
    return [normalise(v) for v in line.split(",")]


def fmt(cells):
    return ";".join(cells)


def unused_helper():
    return 1


@functools.lru_cache(maxsize=None)
def cached_lookup(key):
    return key * 2


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


class Parser:
    sep = ","

    def parse(self, line):
        return line.split(self.sep)
'''

TASKS = r'''
import json

import nbpipe
import fp_helpers
from fp_helpers import Parser

LIMIT = 10
CALLS = 0


def count_call():
    global CALLS  # rebound at run time: a counter, not code
    CALLS += 1


def clean_value(value):
    # strip blanks
    return value.strip()


class Mixin:
    def describe(self):
        return "mixin"


class Download(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("raw.csv")

    def run(self):
        with self.output().open("w") as f:
            f.write("a,b\n")


class Clean(Mixin, nbpipe.Task):
    """Clean the rows."""

    day = nbpipe.Parameter(default="2024-01-01")
    retry_count = 2

    def requires(self):
        return Download()

    def output(self):
        return nbpipe.LocalTarget("clean.csv")

    @fp_helpers.logged
    def summary(self):
        return "clean"

    def run(self):
        """Read, clean, write."""
        from fp_helpers import fmt
        # read the rows
        rows = [fp_helpers.parse_row(line) for line in self.input().open()]
        cells = [clean_value(c) for row in rows for c in row]
        parser = Parser()
        count_call()
        with self.output().open("w") as f:
            f.write(fmt(cells[:LIMIT]) + str(parser.parse('x,y')) + fp_helpers.cached_lookup("k"))
'''

REFORMATTED_RUN = r'''
    def run(self):
        """Read, clean, write."""
        from fp_helpers import (
            fmt,
        )

        rows = [
            fp_helpers.parse_row(line)
            for line in self.input().open()
        ]

        cells = [clean_value(c)
                 for row in rows
                 for c in row]
        parser = Parser()
        count_call()

        with self.output().open("w") as f:
            f.write(
                fmt(cells[:LIMIT])
                + str(parser.parse("x,y"))
                + fp_helpers.cached_lookup("k")
            )
'''

# (id, [(module, old text, new text), ...], expected describe_code_change(old, new))
EDITS = [
    ("comment", [("fp_tasks", "# read the rows", "# read every row\n        # (there may be many)")], []),
    (
        "docstrings",
        [
            (
                "fp_tasks",
                '"""Read, clean, write."""',
                '"""Read the rows,\n        clean them, write them.\n        """',
            ),
            ("fp_tasks", '"""Clean the rows."""', "'''Clean rows.'''"),
            ("fp_helpers", '"""Split a CSV line."""', '"Split a line of CSV."'),
        ],
        [],
    ),
    (
        "reformat",
        [
            ("fp_tasks", TASKS[TASKS.index('    def run(self):\n        """Read') :], REFORMATTED_RUN),
            ("fp_tasks", "LIMIT = 10", "LIMIT = (\n    10\n)"),
            (
                "fp_helpers",
                'return [normalise(v) for v in line.split(",")]',
                "return [normalise(v)\n            for v in line.split(',')]",
            ),
        ],
        [],
    ),
    ("logic in run", [("fp_tasks", "cells[:LIMIT]", "cells[:LIMIT - 1]")], ["code of Clean.run changed"]),
    (
        "helper in same module",
        [("fp_tasks", "return value.strip()", 'return value.strip(" ")')],
        ["code of fp_tasks.clean_value changed"],
    ),
    (
        "helper in other module",
        [("fp_helpers", 'line.split(",")', 'line.split(";")')],
        ["code of fp_helpers.parse_row changed"],
    ),
    (
        "helper of a helper",
        [("fp_helpers", "value.strip().lower()", "value.strip().upper()")],
        ["code of fp_helpers.normalise changed"],
    ),
    (
        "helper imported inside run",
        [("fp_helpers", 'return ";".join(cells)', 'return "|".join(cells)')],
        ["code of fp_helpers.fmt changed"],
    ),
    (
        "method of a helper class",
        [("fp_helpers", "line.split(self.sep)", "line.split(self.sep, 1)")],
        ["code of fp_helpers.Parser changed"],
    ),
    ("attribute of a helper class", [("fp_helpers", 'sep = ","', 'sep = ";"')], ["code of fp_helpers.Parser changed"]),
    ("project base class", [("fp_tasks", 'return "mixin"', 'return "base"')], ["code of Mixin.describe changed"]),
    ("decorated method", [("fp_tasks", 'return "clean"', 'return "cleaned"')], ["code of Clean.summary changed"]),
    (
        "decorator",
        [("fp_helpers", "return fn(*args, **kwargs)", "return fn(*args)")],
        ["code of Clean.summary changed"],
    ),
    ("module constant", [("fp_tasks", "LIMIT = 10", "LIMIT = 20")], ["code of fp_tasks.LIMIT changed"]),
    ("module variable rebound at run time", [("fp_tasks", "CALLS = 0", "CALLS = 1")], []),
    (
        "function behind lru_cache",
        [("fp_helpers", "return key * 2", "return key * 3")],
        ["code of fp_helpers.cached_lookup changed"],
    ),
    ("class attribute", [("fp_tasks", "retry_count = 2", "retry_count = 5")], ["code of Clean.<attributes> changed"]),
    (
        "base classes",
        [("fp_tasks", "class Clean(Mixin, nbpipe.Task)", "class Clean(Mixin, nbpipe.WrapperTask)")],
        ["code of Clean.<attributes> changed"],
    ),
    ("parameter default", [("fp_tasks", 'default="2024-01-01"', 'default="2025-06-30"')], []),
    ("upstream task", [("fp_tasks", 'f.write("a,b\\n")', 'f.write("c,d\\n")')], []),
    ("unused helper", [("fp_helpers", "return 1", "return 2")], []),
    (
        "method added",
        [
            (
                "fp_tasks",
                "    def requires(self):",
                "    def validate(self):\n        return True\n\n    def requires(self):",
            )
        ],
        ["Clean.validate was added"],
    ),
    (
        "method removed",
        [("fp_tasks", "    def requires(self):\n        return Download()\n", "")],
        ["Clean.requires was removed"],
    ),
]


def edited(sources, edits):
    out = dict(sources)
    for module, old, new in edits:
        assert old in out[module], f"the edit {old!r} does not apply"
        out[module] = out[module].replace(old, new)
        assert out[module] != sources[module]
    return out


def fingerprint_versions(tmp_path, v1, v2, cls="Clean"):
    first = code_fingerprint(getattr(load_version(tmp_path / "v1", v1)["fp_tasks"], cls))
    second = code_fingerprint(getattr(load_version(tmp_path / "v2", v2)["fp_tasks"], cls))
    return first, second


@pytest.mark.parametrize("edits, expected", [pytest.param(e, x, id=i) for i, e, x in EDITS])
def test_edit_table(tmp_path, edits, expected):
    base = {"fp_helpers": HELPERS, "fp_tasks": TASKS}
    old, new = fingerprint_versions(tmp_path, base, edited(base, edits))
    assert describe_code_change(old, new) == expected
    assert (old == new) == (not expected)
    assert (code_version_of(old) == code_version_of(new)) == (not expected)


def test_a_large_text_constant_is_fingerprinted_by_its_content(tmp_path):
    # A module-level data blob is hashed as it is (no repr copy); any change to it still shows.
    blob = "x" * 100_000
    base = {"fp_helpers": HELPERS, "fp_tasks": TASKS.replace("LIMIT = 10", f"LIMIT = 10\nBLOB = {blob!r}")}
    base["fp_tasks"] = base["fp_tasks"].replace("cells[:LIMIT]", "cells[:LIMIT + len(BLOB) * 0]", 1)
    same, again = fingerprint_versions(tmp_path, base, base)
    assert same == again
    changed = edited(base, [("fp_tasks", "x" * 100_000, "x" * 99_999 + "y")])
    old, new = fingerprint_versions(tmp_path, base, changed)
    assert describe_code_change(old, new) == ["code of fp_tasks.BLOB changed"]


def code_version_of(fingerprint):
    return fp.short_digest("\n".join(f"{k}={v}" for k, v in sorted(fingerprint.items())))


def test_components_of_the_base_pipeline(tmp_path):
    mods = load_version(tmp_path / "v1", {"fp_helpers": HELPERS, "fp_tasks": TASKS})
    result = code_fingerprint(mods["fp_tasks"].Clean)
    assert sorted(result) == [
        "Clean.<attributes>",
        "Clean.output",
        "Clean.requires",
        "Clean.run",
        "Clean.summary",
        "Mixin.<attributes>",
        "Mixin.describe",
        "fp_helpers.Parser",
        "fp_helpers.cached_lookup",
        "fp_helpers.fmt",
        "fp_helpers.normalise",
        "fp_helpers.parse_row",
        "fp_tasks.LIMIT",
        "fp_tasks.clean_value",
        "fp_tasks.count_call",
    ]
    assert all(re.fullmatch(r"[0-9a-f]{16}", v) for v in result.values())
    # The upstream task is its own fingerprint, and a different one.
    download = code_fingerprint(mods["fp_tasks"].Download)
    assert sorted(download) == ["Download.<attributes>", "Download.output", "Download.run"]
    assert code_version(mods["fp_tasks"].Download) != code_version(mods["fp_tasks"].Clean)


def test_upstream_edit_changes_the_upstream_fingerprint(tmp_path):
    base = {"fp_helpers": HELPERS, "fp_tasks": TASKS}
    new = edited(base, [("fp_tasks", 'f.write("a,b\\n")', 'f.write("c,d\\n")')])
    old_fp, new_fp = fingerprint_versions(tmp_path, base, new, cls="Download")
    assert describe_code_change(old_fp, new_fp) == ["code of Download.run changed"]


PINNED = TASKS.replace('    """Clean the rows."""\n', '    """Clean the rows."""\n\n    version = "2"\n')


def test_pinned_version_ignores_code_edits(tmp_path):
    base = {"fp_helpers": HELPERS, "fp_tasks": PINNED}
    old, new = fingerprint_versions(
        tmp_path,
        base,
        edited(base, [("fp_tasks", "cells[:LIMIT]", "cells[:LIMIT - 1]"), ("fp_helpers", 'split(",")', 'split(";")')]),
    )
    assert old == new == {"Clean.version": "=2"}


def test_changing_the_pinned_version_is_a_change(tmp_path):
    base = {"fp_helpers": HELPERS, "fp_tasks": PINNED}
    old, new = fingerprint_versions(tmp_path, base, edited(base, [("fp_tasks", 'version = "2"', "version = 3")]))
    assert describe_code_change(old, new) == ["version changed from 2 to 3"]


def test_version_pinned_on_an_ancestor_and_unpinned_below():
    class Base(nbpipe.Task):
        version = 1

        def run(self):
            pass

    class Child(Base):
        def run(self):
            return 1

    class Unpinned(Base):
        version = None

        def run(self):
            return 2

    assert code_fingerprint(Child) == {"Child.version": "=1"}
    assert "Unpinned.run" in code_fingerprint(Unpinned)


def test_a_version_parameter_does_not_pin():
    class WithVersionParam(nbpipe.Task):
        version = nbpipe.IntParameter(default=1)

        def run(self):
            pass

    result = code_fingerprint(WithVersionParam)
    assert "WithVersionParam.run" in result
    assert "WithVersionParam.version" not in result


def test_project_task_base_classes_are_part_of_the_code(monkeypatch):
    source = """
    import nbpipe

    class BaseTask(nbpipe.Task):
        def load(self):
            return 1

    class Clean(BaseTask):
        def run(self):
            return self.load()
    """
    names = ["<ipython-input-7-aaa>", "<ipython-input-8-bbb>"]
    for name in names:
        monkeypatch.delitem(linecache.cache, name, raising=False)
    old = code_fingerprint(exec_cell(source, names[0], register=True)["Clean"])
    new = code_fingerprint(exec_cell(source.replace("return 1", "return 2"), names[1], register=True)["Clean"])
    assert sorted(old) == ["BaseTask.<attributes>", "BaseTask.load", "Clean.<attributes>", "Clean.run"]
    assert describe_code_change(old, new) == ["code of BaseTask.load changed"]
    for name in names:
        linecache.cache.pop(name, None)


LIBRARY_USER = r"""
import json
import math

import pytest

import nbpipe
from nbpipe.task import flatten
import fp_helpers


class Clean(nbpipe.Task):
    def run(self):
        flatten([1])
        pytest.approx(math.pi)
        return json.dumps(fp_helpers.parse_row("a,b"))
"""


def test_installed_standard_library_and_nbpipe_code_is_not_included(tmp_path):
    mods = load_version(tmp_path / "v1", {"fp_helpers": HELPERS, "fp_tasks": LIBRARY_USER})
    nbpipe_parent = os.path.dirname(os.path.dirname(nbpipe.__file__))
    # Even when nbpipe's own directory lies under a project root.
    result = code_fingerprint(mods["fp_tasks"].Clean, roots=[str(tmp_path), nbpipe_parent])
    assert sorted(result) == [
        "Clean.<attributes>",
        "Clean.run",
        "fp_helpers.normalise",
        "fp_helpers.parse_row",
    ]


OUTSIDE = r"""
def ext_helper(x):
    return x + 1
"""

OUTSIDE_USER = r"""
import nbpipe
import fp_outside


class Clean(nbpipe.Task):
    def run(self):
        return fp_outside.ext_helper(1)
"""


def test_modules_outside_the_project_roots_are_not_included(tmp_path, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    load_version(elsewhere, {"fp_outside": OUTSIDE}, order=("fp_outside",))
    task = load_version(tmp_path / "v1", {"fp_tasks": OUTSIDE_USER}, order=("fp_tasks",))["fp_tasks"].Clean
    assert "fp_outside.ext_helper" not in code_fingerprint(task)
    assert "fp_outside.ext_helper" in code_fingerprint(task, roots=[str(tmp_path), str(elsewhere)])
    # ... or through the configuration.
    config.set_option("core", "project_roots", [str(elsewhere)])
    clear_cache()
    assert "fp_outside.ext_helper" in code_fingerprint(task)


def test_project_roots_from_configuration(tmp_path):
    assert project_roots() == [str(tmp_path)]
    config.set_option("core", "project_roots", os.pathsep.join(["/srv/a", "rel/b"]))
    assert project_roots() == [str(tmp_path), "/srv/a", str(tmp_path / "rel" / "b")]
    config.set_option("core", "project_roots", ["/srv/c"])
    assert project_roots() == [str(tmp_path), "/srv/c"]


def exec_cell(source, filename, register):
    source = textwrap.dedent(source)
    if register:  # what IPython does for each cell
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace


CELL = '''
import nbpipe

def helper(x):
    return x * 2

class NotebookTask(nbpipe.Task):
    def run(self):
        """Compute."""
        return helper(21)
'''

CELL_COSMETIC = '''
import nbpipe


def helper(x):
    # twice
    return x*2


class NotebookTask(nbpipe.Task):
    def run(self):
        """Compute the answer; a new docstring."""
        return helper(
            21
        )
'''


def test_notebook_cells_are_fingerprinted_from_their_source(monkeypatch):
    names = ["<ipython-input-1-abc>", "<ipython-input-2-def>", "<ipython-input-3-123>"]
    for name in names:
        monkeypatch.delitem(linecache.cache, name, raising=False)
    first = exec_cell(CELL, names[0], register=True)
    assert "return helper(21)" in inspect.getsource(first["NotebookTask"].run)
    old = code_fingerprint(first["NotebookTask"])
    assert sorted(old) == ["NotebookTask.<attributes>", "NotebookTask.run", "__main__.helper"]
    # A docstring change would change the bytecode: equality shows the AST path.
    cosmetic = code_fingerprint(exec_cell(CELL_COSMETIC, names[1], register=True)["NotebookTask"])
    assert cosmetic == old
    logic = code_fingerprint(exec_cell(CELL.replace("x * 2", "x * 3"), names[2], register=True)["NotebookTask"])
    assert describe_code_change(old, logic) == ["code of __main__.helper changed"]
    for name in names:
        linecache.cache.pop(name, None)


def test_code_without_source_falls_back_to_bytecode():
    first = exec_cell(CELL, "<fp-exec-a>", register=False)
    with pytest.raises(OSError):
        inspect.getsource(first["NotebookTask"].run)
    old = code_fingerprint(first["NotebookTask"])
    assert sorted(old) == ["NotebookTask.<attributes>", "NotebookTask.run", "__main__.helper"]
    same = code_fingerprint(exec_cell(CELL, "<fp-exec-b>", register=False)["NotebookTask"])
    assert same == old
    logic = code_fingerprint(
        exec_cell(CELL.replace("helper(21)", "helper(22)"), "<fp-exec-c>", register=False)["NotebookTask"]
    )
    assert describe_code_change(old, logic) == ["code of NotebookTask.run changed"]
    nested = code_fingerprint(
        exec_cell(CELL.replace("return x * 2", "return [y * 2 for y in [x]][0]"), "<fp-exec-d>", register=False)[
            "NotebookTask"
        ]
    )
    nested2 = code_fingerprint(
        exec_cell(CELL.replace("return x * 2", "return [y * 3 for y in [x]][0]"), "<fp-exec-e>", register=False)[
            "NotebookTask"
        ]
    )
    assert describe_code_change(nested, nested2) == ["code of __main__.helper changed"]


DETERMINISM = r"""
import nbpipe
from enum import Enum

NAMES = frozenset({"alpha", "beta", "gamma", "delta", "epsilon"})


class Mode(Enum):
    FAST = 1
    SLOW = 2


def pick(x):
    return x in {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}


class Clean(nbpipe.Task):
    tags = {"red", "green", "blue", "cyan", "magenta", "yellow"}
    table = {"b": 2, "a": 1}
    mode = Mode.FAST

    def run(self):
        return [pick(n) for n in NAMES]
"""

DETERMINISM_SCRIPT = r"""
import json, sys
sys.path.insert(0, ".")
import fp_det
from nbpipe.state.fingerprints import code_fingerprint
ns = {"__name__": "__main__"}
exec(compile(open("fp_det.py").read(), "<no-source>", "exec"), ns)
print(json.dumps({"file": code_fingerprint(fp_det.Clean), "exec": code_fingerprint(ns["Clean"])}, sort_keys=True))
"""


def test_fingerprints_are_the_same_in_other_processes(tmp_path):
    (tmp_path / "fp_det.py").write_text(DETERMINISM)
    outputs = []
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONDONTWRITEBYTECODE="1")
        nbpipe_parent = os.path.dirname(os.path.dirname(os.path.abspath(nbpipe.__file__)))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [nbpipe_parent, env.get("PYTHONPATH")]))
        proc = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1] == outputs[2]
    assert sorted(outputs[0]["file"]) == [
        "Clean.<attributes>",
        "Clean.run",
        "fp_det.Mode",
        "fp_det.NAMES",
        "fp_det.pick",
    ]
    assert sorted(outputs[0]["exec"]) == [
        "Clean.<attributes>",
        "Clean.run",
        "__main__.Mode",
        "__main__.NAMES",
        "__main__.pick",
    ]


def test_results_are_cached_per_class_until_clear_cache(tmp_path):
    mods = load_version(tmp_path / "v1", {"fp_helpers": HELPERS, "fp_tasks": TASKS})
    tasks = mods["fp_tasks"]
    first = code_fingerprint(tasks.Clean)
    first["junk"] = "x"  # callers get copies
    assert "junk" not in code_fingerprint(tasks.Clean)

    # Rebinding a global, as re-running a notebook cell does.
    exec("def clean_value(value):\n    return value\n", tasks.__dict__)
    assert code_fingerprint(tasks.Clean) == {k: v for k, v in first.items() if k != "junk"}
    clear_cache()
    after = code_fingerprint(tasks.Clean)
    assert after["fp_tasks.clean_value"] != first["fp_tasks.clean_value"]


def test_code_version_is_one_digest_over_the_components(tmp_path):
    mods = load_version(tmp_path / "v1", {"fp_helpers": HELPERS, "fp_tasks": TASKS})
    version = code_version(mods["fp_tasks"].Clean)
    assert re.fullmatch(r"[0-9a-f]{16}", version)
    assert version == code_version_of(code_fingerprint(mods["fp_tasks"].Clean))
    changed = load_version(tmp_path / "v2", edited({"fp_helpers": HELPERS, "fp_tasks": TASKS}, EDITS[3][1]))
    assert code_version(changed["fp_tasks"].Clean) != version


def test_describe_code_change_words_and_order():
    old = {"Clean.run": "1", "Clean.old": "2", "helpers.parse_row": "3", "Clean.output": "4"}
    new = {"Clean.run": "9", "Clean.validate": "5", "helpers.parse_row": "8", "Clean.output": "4"}
    assert describe_code_change(old, new) == [
        "Clean.old was removed",
        "Clean.validate was added",
        "code of Clean.run changed",
        "code of helpers.parse_row changed",
    ]
    assert describe_code_change(old, dict(old)) == []
    assert describe_code_change({}, {}) == []


# -- targets -------------------------------------------------------------------


def test_file_target_size_and_mtime(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("hello")
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    target = nbpipe.LocalTarget(str(path))
    assert target_fingerprint(target) == "size=5;mtime_ns=1000000000000000000"
    path.write_text("hello")  # rewritten, same size
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_001_000_000_000))
    assert target_fingerprint(target) == "size=5;mtime_ns=1000000001000000000"


def test_content_hash_ignores_touches_and_sees_content(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"x" * (3 * fp.READ_CHUNK + 7))
    target = nbpipe.LocalTarget(str(path))
    first = target_fingerprint(target, content_hash=True)
    import hashlib

    assert first == "sha256=" + hashlib.sha256(b"x" * (3 * fp.READ_CHUNK + 7)).hexdigest()
    os.utime(path, ns=(5, 5))
    assert target_fingerprint(target, content_hash=True) == first
    assert target_fingerprint(target) != target_fingerprint(target, content_hash=True)
    path.write_bytes(b"x" * (3 * fp.READ_CHUNK + 6) + b"y")
    assert target_fingerprint(target, content_hash=True) != first


def test_missing_and_non_local_targets(tmp_path):
    from nbpipe.mock import MockTarget

    assert target_fingerprint(nbpipe.LocalTarget(str(tmp_path / "missing.txt"))) is None
    assert target_fingerprint(nbpipe.LocalTarget(str(tmp_path / "missing.txt")), content_hash=True) is None
    assert target_fingerprint(MockTarget("mock/path")) is None

    class Plain(nbpipe.Target):
        def exists(self):
            return True

    assert target_fingerprint(Plain()) is None


def test_custom_target_fingerprint(tmp_path):
    class Remote(nbpipe.Target):
        def __init__(self, etag):
            self.etag = etag

        def exists(self):
            return True

        def fingerprint(self):
            return f"etag={self.etag}"

    class NoAnswer(nbpipe.LocalTarget):
        def fingerprint(self):
            return None

    assert target_fingerprint(Remote("abc")) == "etag=abc"
    assert target_fingerprint(Remote("abc"), content_hash=True) == "etag=abc"
    path = tmp_path / "f.txt"
    path.write_text("12")
    assert target_fingerprint(NoAnswer(str(path))).startswith("size=2;")


def test_directory_targets(tmp_path):
    root = tmp_path / "outdir"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("b")
    for p in (root / "a.txt", root / "sub" / "b.txt"):
        os.utime(p, ns=(10**18, 10**18))
    target = nbpipe.LocalTarget(str(root))
    stat_fp = target_fingerprint(target)
    content_fp = target_fingerprint(target, content_hash=True)
    assert stat_fp.startswith("tree=") and content_fp.startswith("sha256=")
    os.utime(root / "a.txt", ns=(2 * 10**18, 2 * 10**18))
    assert target_fingerprint(target) != stat_fp
    assert target_fingerprint(target, content_hash=True) == content_fp
    (root / "sub" / "b.txt").write_text("B")
    assert target_fingerprint(target, content_hash=True) != content_fp
    content_fp = target_fingerprint(target, content_hash=True)
    (root / "sub" / ".b.txt.nbpipe-tmp-1-deadbeef").write_text("partial")  # a write in progress
    assert target_fingerprint(target, content_hash=True) == content_fp
    (root / "c.txt").write_text("")
    assert target_fingerprint(target, content_hash=True) != content_fp


def test_output_fingerprints(tmp_path):
    (tmp_path / "a.txt").write_text("aaa")
    os.utime(tmp_path / "a.txt", ns=(10**18, 10**18))

    class Custom(nbpipe.Target):
        def exists(self):
            return True

        def fingerprint(self):
            return "v1"

        def __repr__(self):
            return "Custom()"

    class Anonymous(nbpipe.Target):
        def exists(self):
            return False

    class Many(nbpipe.Task):
        def output(self):
            return {"a": nbpipe.LocalTarget("a.txt"), "rest": [nbpipe.LocalTarget("b.txt"), Custom(), Anonymous()]}

    result = output_fingerprints(Many())
    assert result == {
        "a.txt": "size=3;mtime_ns=1000000000000000000",
        "b.txt": None,
        "Custom()": "v1",
        f"{Anonymous.__module__}.{Anonymous.__qualname__}[3]": None,
    }
    hashed = output_fingerprints(Many(), content_hash=True)
    assert hashed["a.txt"].startswith("sha256=")
