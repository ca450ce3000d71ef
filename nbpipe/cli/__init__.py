"""The ``nbpipe`` command: ``main`` (entry point), ``subcommands`` (parsers), ``actions`` (command functions), ``progress``."""
