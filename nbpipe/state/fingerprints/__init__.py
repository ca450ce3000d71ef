"""Fingerprints for staleness: a digest of a task's code, and of its outputs.

This package's names are its interface; the modules behind it are:

``code``
    :func:`code_fingerprint` / :func:`code_version` of a task class and
    :func:`describe_code_change` between two fingerprints, built by the
    ``walker`` from ``project`` (what counts as project code), ``members``
    (the functions behind class members), ``references`` (what a function
    uses) and ``ast_normalise`` (the text a function is hashed by);
``outputs``
    :func:`target_fingerprint` / :func:`output_fingerprints` of targets;
``digests``
    the short digest and address-free names both use.

The task and parameter modules are imported inside functions, on first use,
so importing this package never imports them.
"""

from __future__ import annotations

from nbpipe.state.fingerprints.code import clear_cache, code_fingerprint, code_version, describe_code_change
from nbpipe.state.fingerprints.digests import ADDRESS, DIGEST_LENGTH, qualified, short_digest
from nbpipe.state.fingerprints.members import IGNORED_CLASS_ATTRIBUTES
from nbpipe.state.fingerprints.outputs import READ_CHUNK, output_fingerprints, target_fingerprint, target_name
from nbpipe.state.fingerprints.project import project_roots

__all__ = [
    "code_fingerprint",
    "code_version",
    "describe_code_change",
    "clear_cache",
    "project_roots",
    "IGNORED_CLASS_ATTRIBUTES",
    "target_fingerprint",
    "output_fingerprints",
    "target_name",
    "READ_CHUNK",
    "DIGEST_LENGTH",
    "short_digest",
    "qualified",
    "ADDRESS",
]
