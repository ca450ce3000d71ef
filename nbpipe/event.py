"""Luigi's module path for :class:`Event` (``luigi.event.Event``)."""

from .events import Event

__all__ = ["Event"]
