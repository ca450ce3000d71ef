"""The package's shape: layers (import-linter contracts), no import cycles, small modules, a cheap `import nbpipe`."""

from __future__ import annotations

import graphlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nbpipe"
MAX_LINES = 600


def _import_graph() -> dict[str, set[str]]:
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("nbpipe", exclude_type_checking_imports=True, cache_dir=None)
    return {
        module: graph.find_modules_directly_imported_by(module)
        for module in graph.modules
        if module.startswith("nbpipe")
    }


def test_no_import_cycles():
    # The root package re-exports the public API, so "module -> nbpipe" edges
    # are not layering: a module reaching for the root would be caught by the
    # layer contracts instead.
    imports = {module: {m for m in targets if m.startswith("nbpipe.")} for module, targets in _import_graph().items()}
    try:
        list(graphlib.TopologicalSorter(imports).static_order())
    except graphlib.CycleError as exc:
        pytest.fail("import cycle: " + " -> ".join(exc.args[1]))


def test_the_import_contracts_hold():
    lint_imports = shutil.which("lint-imports")
    if lint_imports is None:
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    proc = subprocess.run([lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_no_module_is_over_600_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if "labextension" not in p.parts and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these modules (limit {MAX_LINES} lines): {long}"


def test_import_nbpipe_loads_no_jupyter_package():
    code = (
        "import sys, nbpipe, nbpipe.driver.run, nbpipe.state.staleness, nbpipe.executors.process; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'IPython', 'ipywidgets', 'ipykernel', "
        "'nbclient', 'nbformat', 'traitlets', 'jupyter_client', 'graphviz'}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_the_version_is_written_once():
    import json

    import nbpipe

    package_json = json.loads((ROOT / "labextension" / "package.json").read_text(encoding="utf-8"))
    assert package_json["version"] == nbpipe.__version__, (
        "labextension/package.json's version must equal nbpipe/_version.py's __version__"
    )
    version_ts = (ROOT / "labextension" / "src" / "version.ts").read_text(encoding="utf-8")
    assert f"MODULE_VERSION = '{nbpipe.__version__}'" in version_ts
    assert f"MODULE_VERSION_RANGE = '^{nbpipe.__version__}'" in version_ts
    hits = [
        str(p.relative_to(ROOT))
        for p in PACKAGE.rglob("*.py")
        if "labextension" not in p.parts
        and p.name != "_version.py"
        and nbpipe.__version__ in p.read_text(encoding="utf-8")
    ]
    assert not hits, f"the version is written out in {hits}; import it from nbpipe._version"
