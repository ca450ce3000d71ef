"""Keeps the harness's premise in every Python process of an nbpipe run: ``luigi`` is nbpipe.

The harness puts this folder on ``PYTHONPATH`` and, when it runs Luigi's
tests against nbpipe, sets ``NBPIPE_LUIGI_ALIAS=1``.  Python imports
``sitecustomize`` at start-up, so the processes a test starts (nbpipe's
worker processes, which import the test module by name, and ``bin/luigi``)
load the same alias as the pytest run (:mod:`luigi_alias`) before any
``import luigi``.  Against Luigi itself the variable is unset and nothing
happens.
"""

import os

if os.environ.get("NBPIPE_LUIGI_ALIAS") == "1":
    import luigi_alias  # noqa: F401
