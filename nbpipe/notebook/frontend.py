"""The DAG widget's built front end, and the one model per kernel that carries Graphviz to the page.

``npm run build`` in ``labextension/`` writes ``static/`` (package data, so a
wheel needs no Node.js): ``dag_view.js``, the view as one ES module (the
widget's ``_esm``), ``dag_view.css`` (its ``_css``), and ``graphviz.json``,
the Graphviz bundle as code.  Graphviz (WASM inlined, ~0.8 MB) is not in the
view's module, which travels with every widget: one :class:`LayoutEngine` per
kernel carries it, and every DAG widget refers to that model, so it crosses
the comm once however many widgets a notebook shows.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import ipywidgets as widgets
from traitlets import Unicode

__all__ = ["NOT_BUILT_ESM", "STATIC", "LayoutEngine", "layout_engine", "built_file_text"]

#: The built front end (package data): the view's ES module and style, and the Graphviz bundle.
STATIC = Path(__file__).resolve().parent / "static"

#: What a page shows when the package was installed without its built front end (a source tree
#: where `npm run build` has not run): a message, not a broken widget.
NOT_BUILT_ESM = """export default { render({ el }) {
  el.textContent = "The nbpipe DAG view is not built: run `npm run build` in labextension/ "
    + "(or install nbpipe from a wheel). The text form of this output shows the graph.";
} };
"""


def built_file_text(name: str, missing: str = "") -> str:
    """The text of a built front-end file, or ``missing`` when it was not built."""
    try:
        return (STATIC / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return missing


class LayoutEngine(widgets.Widget):
    """The Graphviz bundle the DAG views lay out with: one model per kernel (see :func:`layout_engine`).

    A plain ``@jupyter-widgets/base`` ``WidgetModel`` (no view, no code of its
    own to load), which every widget manager can restore; the views read its
    traits and start their layout Web Worker from ``graphviz_source``.
    """

    graphviz_source = Unicode(
        "", help="the @hpcc-js/wasm-graphviz bundle (WASM inlined) without its final export statement"
    ).tag(sync=True)
    graphviz_class = Unicode("", help="the bundle's local name of its Graphviz class").tag(sync=True)
    graphviz_version = Unicode("", help="the @hpcc-js/wasm-graphviz version the bundle came from").tag(sync=True)


_engine: LayoutEngine | None = None
_engine_lock = threading.Lock()


def layout_engine() -> LayoutEngine:
    """The kernel's one :class:`LayoutEngine`, made (and its comm opened) on first use, again if it was closed.

    Raises ``FileNotFoundError`` naming the missing file when the package has no built front end.
    """
    global _engine
    with _engine_lock:
        if _engine is None or _engine.comm is None:
            path = STATIC / "graphviz.json"
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: run `npm run build` in labextension/")
            bundle = json.loads(path.read_text(encoding="utf-8"))
            _engine = LayoutEngine(
                graphviz_source=bundle["source"],
                graphviz_class=bundle["graphviz_class"],
                graphviz_version=bundle["version"],
            )
        return _engine
