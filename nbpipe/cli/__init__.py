"""The ``nbpipe`` command: argparse subcommands (``commands``) and terminal progress (``progress``)."""
