"""Luigi's module path for local targets (``luigi.local_target``)."""

from nbpipe.target import AtomicLocalFile, LocalFileSystem, LocalTarget

atomic_file = AtomicLocalFile

__all__ = ["LocalTarget", "LocalFileSystem", "AtomicLocalFile", "atomic_file"]
