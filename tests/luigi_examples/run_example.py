"""Run one of Luigi's example files with one engine and report the outcome as JSON.

Used by ``tests/test_luigi_examples.py``, one process per run::

    python run_example.py ENGINE EXAMPLE_FILE SPEC_JSON OUT_JSON

ENGINE is ``luigi`` or ``nbpipe``.  EXAMPLE_FILE is the example as the test
prepared it in the working directory (for nbpipe, the copy whose
``import luigi`` line reads ``import nbpipe as luigi``); it is imported as a
module by its file name, or with ``"load": "path"`` loaded from its path
(``importlib.util.spec_from_file_location``) under a name no other process
can import.  SPEC_JSON names the root task, its parameters (as
command-line strings, parsed by the task's own parameter objects), the
number of workers and how to load the example.  This script then calls the engine's
``build([root], local_scheduler=True, detailed_summary=True, workers=N)``
and writes what that returned to OUT_JSON.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys


def main() -> int:
    engine_name, example_file, spec_json, out_json = sys.argv[1:5]
    spec = json.loads(spec_json)
    if engine_name == "luigi":
        import luigi as engine
    elif engine_name == "nbpipe":
        import nbpipe as engine
    else:
        raise SystemExit(f"unknown engine {engine_name!r}")

    directory, filename = os.path.split(os.path.abspath(example_file))
    if spec.get("load", "import") == "path":
        # As %run and test harnesses load a file: by its path, under a name that no
        # other process can import (the folder is not on sys.path either).
        name = "loaded_by_path_" + os.path.splitext(filename)[0]
        file_spec = importlib.util.spec_from_file_location(name, example_file)
        module = importlib.util.module_from_spec(file_spec)
        sys.modules[name] = module
        file_spec.loader.exec_module(module)
    else:
        sys.path.insert(0, directory)
        module = importlib.import_module(os.path.splitext(filename)[0])

    root_cls = getattr(module, spec["root"])
    params = dict(root_cls.get_params())
    kwargs = {name: params[name].parse(text) for name, text in spec.get("params", {}).items()}
    root = root_cls(**kwargs)

    result = engine.build([root], local_scheduler=True, detailed_summary=True, workers=spec.get("workers", 1))

    report = {
        "engine": engine_name,
        "result_type": type(result).__name__,
        "status": result.status.name,
        "summary_text": result.summary_text,
        "one_line_summary": result.one_line_summary,
        "scheduling_succeeded": bool(result.scheduling_succeeded),
        "root_task_id": root.task_id,
        # The nbpipe side must never have touched the real Luigi.
        "luigi_imported": "luigi" in sys.modules,
        "example_uses": module.luigi.__name__,
    }
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
