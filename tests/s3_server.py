"""A real S3 API on localhost for tests: moto's server, in a thread of the test process.

A thread rather than ``python -m moto.server`` in a subprocess: port 0 gives
a free port with no race, the server is ready when ``start()`` returns, and
nothing can outlive the test run.  Worker processes reach it over HTTP like
any S3 endpoint.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

CREDENTIALS = {"key": "testing", "secret": "testing"}
REGION = "us-east-1"


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    client: Any  # a boto3 S3 client, independent of s3fs, to check what is really stored
    options: dict[str, Any] = field(default_factory=dict)  # storage options for FsspecTarget / s3fs

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def pending_uploads(self, prefix: str = "") -> list[str]:
        """Keys of multipart uploads started and neither completed nor aborted."""
        reply = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        return sorted(upload["Key"] for upload in reply.get("Uploads", []))


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[S3Server]:
    """Start moto on 127.0.0.1 (a free port), create ``bucket``, stop the server on exit."""
    import boto3
    from moto.server import ThreadedMotoServer

    requests_log = logging.getLogger("werkzeug")  # one line per request otherwise
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["key"],
            aws_secret_access_key=CREDENTIALS["secret"],
        )
        client.create_bucket(Bucket=bucket)
        options = {"endpoint_url": endpoint, **CREDENTIALS, "client_kwargs": {"region_name": REGION}}
        yield S3Server(endpoint=endpoint, bucket=bucket, client=client, options=options)
    finally:
        server.stop()
        requests_log.setLevel(level)
