"""Parameter types beyond the basic ones: time (``time``), containers and tasks (``structured``), frozen values (``freezing``).

Users import them from :mod:`nbpipe.parameter` or the top-level package, as in Luigi.
"""
