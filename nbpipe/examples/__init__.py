"""Example pipelines that ship with nbpipe (run them with ``nbpipe run --module``)."""
