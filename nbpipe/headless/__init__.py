"""Running notebooks without a browser: ``nbpipe execute`` and ``nbpipe run NOTEBOOK.ipynb``."""
