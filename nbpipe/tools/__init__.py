"""Luigi's ``luigi.tools``: tools that work with tasks at the level of ranges and graphs.

Only :mod:`nbpipe.tools.range` exists so far.  It is a face of the task
model like ``interface``: it builds on ``Task`` and its parameters and never
reaches into the engine.
"""
