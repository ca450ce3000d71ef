"""nbpipe's version, the one place it is written (pyproject.toml reads it; a test checks the front end's package.json)."""

__version__ = "0.1.0"
