"""The parameter kinds behind :mod:`nbpipe.parameter`: the base class and errors (``base``),
strings, numbers and choices (``basic``), time (``time``), containers and tasks (``structured``),
frozen values (``freezing``).

Users import them from :mod:`nbpipe.parameter` or the top-level package, as in Luigi.
"""
