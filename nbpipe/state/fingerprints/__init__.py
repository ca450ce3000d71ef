"""Fingerprints: a digest of a task's code (``code``) and of its outputs (``outputs``)."""
