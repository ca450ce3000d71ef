"""Extras with Luigi's import paths (``nbpipe.contrib.simulate``)."""
