"""The notebook layer: ``%load_ext nbpipe``, the ``%%pipeline`` / ``%pipeline`` magics and the DAG widget.

Imported only from a notebook or IPython; the core engine never imports it.
"""

from __future__ import annotations

__all__ = ["load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython) -> None:
    from nbpipe.notebook.display import register_formatters
    from nbpipe.notebook.magics import PipelineMagics

    ipython.register_magics(PipelineMagics)
    register_formatters(ipython)


def unload_ipython_extension(ipython) -> None:
    """Nothing to undo: the magics stay until the kernel restarts (as IPython's own do)."""
