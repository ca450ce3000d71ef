"""Targets beyond :mod:`nbpipe.target`: ``fsspec_target`` for any fsspec URL."""
