"""Luigi's ``luigi.rpc``: the client of Luigi's central scheduler server, which nbpipe does not have.

``RemoteScheduler`` exists so that Luigi code importing it loads; making
one raises :class:`RPCError` saying that runs schedule themselves here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RPCError", "RemoteScheduler"]


class RPCError(Exception):
    """Luigi's error talking to its central scheduler (here: there is none to talk to)."""

    def __init__(self, message: str, sub_exception: BaseException | None = None) -> None:
        super().__init__(message)
        self.sub_exception = sub_exception


class RemoteScheduler:
    """Luigi's central-scheduler client; constructing it raises :class:`RPCError`."""

    def __init__(self, url: str = "http://localhost:8082/", connect_timeout: Any = None) -> None:
        raise RPCError(
            f"nbpipe has no central scheduler (asked for {url}); runs schedule themselves: "
            "use nbpipe.build / nbpipe.run with a local scheduler"
        )
