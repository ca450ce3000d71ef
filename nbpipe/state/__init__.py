"""What nbpipe remembers between runs: the SQLite store, fingerprints, staleness, locks.

Imports the task model and the engine's vocabularies (events, run context);
never an executor, never Jupyter.
"""
