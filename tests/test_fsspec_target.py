"""FsspecTarget on real backends: the local file system (a path and a file:// URL),
fsspec's memory file system, and a real S3 API (moto's server on localhost)."""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
import pytest
from s3_server import s3_server

import nbpipe
from nbpipe import format as fmt
from nbpipe.engine.events import Kind
from nbpipe.state.fingerprints import target_fingerprint
from nbpipe.target import TEMP_MARK
from nbpipe.targets.fsspec_target import FsspecTarget, MissingBackendError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUCKET = "nbpipe-test"
MIB = 2**20


@pytest.fixture(scope="module")
def s3():
    with s3_server(BUCKET) as server:
        yield server


def _clear_memory_fs() -> None:
    from fsspec.implementations.memory import MemoryFileSystem

    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs[:] = [""]


@dataclass
class Backend:
    name: str
    root: str  # URL prefix, ending with "/"
    names: Callable[[], list[str]]  # every stored file or object under root, relative, sorted
    options: dict[str, Any] = field(default_factory=dict)
    pending: Callable[[], list[str]] = list  # started, unfinished multipart uploads
    stages_writes: bool = True  # a write in progress is a TEMP_MARK name under root

    def target(self, relative: str, **kwargs) -> FsspecTarget:
        return FsspecTarget(self.root + relative, **self.options, **kwargs)


def _local_names(root: str) -> list[str]:
    found = []
    for directory, _, files in os.walk(root):
        found += [os.path.relpath(os.path.join(directory, n), root).replace(os.sep, "/") for n in files]
    return sorted(found)


@pytest.fixture(params=["path", "file-url", "memory", "s3"])
def backend(request, tmp_path):
    if request.param in ("path", "file-url"):
        root = tmp_path / "data"
        root.mkdir()
        prefix = "file://" if request.param == "file-url" else ""
        yield Backend(request.param, f"{prefix}{root}/", names=lambda: _local_names(str(root)))
    elif request.param == "memory":
        import fsspec

        _clear_memory_fs()
        fs = fsspec.filesystem("memory")
        yield Backend("memory", "memory://t/", names=lambda: sorted(p[len("/t/") :] for p in fs.find("/t")))
        _clear_memory_fs()
    else:
        server = request.getfixturevalue("s3")
        prefix = f"{uuid.uuid4().hex}/"
        yield Backend(
            "s3",
            f"s3://{BUCKET}/{prefix}",
            options=server.options,
            stages_writes=False,
            names=lambda: [k[len(prefix) :] for k in server.keys(prefix)],
            pending=lambda: server.pending_uploads(prefix),
        )


# -- reading and writing --------------------------------------------------------


def test_text_and_bytes_round_trip(backend):
    notes = backend.target("dir/notes.txt")
    with notes.open("w") as f:
        f.write("héllo\nwörld\n")
    with notes.open("r") as f:
        assert f.read() == "héllo\nwörld\n"
    with notes.open("rb") as f:
        assert f.read() == "héllo\nwörld\n".encode()
    blob = backend.target("dir/blob.bin")
    with blob.open("wb") as f:
        f.write(b"\x00\xff\x10")
    with blob.open("rb") as f:
        assert f.read() == b"\x00\xff\x10"
    assert backend.names() == ["dir/blob.bin", "dir/notes.txt"]


def test_format_applies_on_write_and_read(backend):
    packed = backend.target("packed.txt.gz", format=fmt.Gzip >> fmt.UTF8)
    with packed.open("w") as f:
        f.write("compressed ✓")
    with packed.open("r") as f:
        assert f.read() == "compressed ✓"
    with backend.target("packed.txt.gz").open("rb") as f:
        assert gzip.decompress(f.read()) == "compressed ✓".encode()


def test_exists_and_remove(backend):
    target = backend.target("x.txt")
    assert not target.exists()
    with target.open("w") as f:
        f.write("x")
    assert target.exists()
    target.remove()
    assert not target.exists()
    assert backend.names() == []
    with pytest.raises(FileNotFoundError):
        target.open("r")


def test_unknown_mode_is_refused(backend):
    with pytest.raises(ValueError, match="mode must be 'r' or 'w'"):
        backend.target("x.txt").open("a")


# -- atomic publication -----------------------------------------------------------


def test_exception_in_with_block_publishes_nothing_and_leaves_no_temp(backend):
    target = backend.target("out/x.txt")
    with pytest.raises(RuntimeError, match="stop"), target.open("w") as f:
        f.write("half")
        raise RuntimeError("stop")
    assert not target.exists()
    assert backend.names() == []
    assert backend.pending() == []


def test_failed_rewrite_keeps_previous_content(backend):
    target = backend.target("x.bin")
    with target.open("wb") as f:
        f.write(b"\x00old\xff")
    with pytest.raises(ValueError), target.open("wb") as f:
        f.write(b"new")
        raise ValueError
    with target.open("rb") as f:
        assert f.read() == b"\x00old\xff"
    assert backend.names() == ["x.bin"]


def test_write_is_invisible_until_close(backend):
    target = backend.target("x.txt")
    stream = target.open("w")
    stream.write("partial")
    stream.flush()
    assert not target.exists()
    in_progress = backend.names()
    assert len(in_progress) == (1 if backend.stages_writes else 0)
    assert all(TEMP_MARK in name for name in in_progress)
    stream.close()
    assert stream.closed
    assert target.exists()
    assert target.open("r").read() == "partial"
    assert backend.names() == ["x.txt"]


def test_stream_dropped_without_close_is_discarded(backend):
    target = backend.target("x.txt")
    stream = target.open("w")
    stream.write("never closed")
    del stream
    assert not target.exists()
    assert backend.names() == []


def test_temporary_path_publishes_on_success_only(backend):
    target = backend.target("tp/out.txt")
    with target.temporary_path() as local:
        with open(local, "w") as f:
            f.write("via a temporary path")
        assert not target.exists()
    assert target.open("r").read() == "via a temporary path"
    failed = backend.target("tp/failed.txt")
    with pytest.raises(RuntimeError), failed.temporary_path() as local:
        with open(local, "w") as f:
            f.write("half")
        raise RuntimeError
    assert not failed.exists()
    assert backend.names() == ["tp/out.txt"]


# -- fingerprints -------------------------------------------------------------------


def test_fingerprint_follows_the_content(backend):
    target = backend.target("f.txt")
    assert target.fingerprint() is None
    assert target_fingerprint(target) is None
    with target.open("w") as f:
        f.write("one")
    first = target.fingerprint()
    assert first.startswith("etag=" if backend.name == "s3" else "size=3;mtime=")
    assert target.fingerprint() == first
    assert target_fingerprint(target) == first  # nbpipe's history uses the target's own method
    with target.open("w") as f:
        f.write("three")
    assert target.fingerprint() not in (None, first)


def test_directory_fingerprint_covers_files_but_not_writes_in_progress(backend):
    tree = backend.target("tree")
    assert tree.fingerprint() is None
    with backend.target("tree/a.txt").open("w") as f:
        f.write("a")
    first = tree.fingerprint()
    assert first.startswith("tree=")
    pending = backend.target("tree/sub/b.txt").open("w")
    pending.write("in progress")
    assert tree.fingerprint() == first
    pending.close()
    assert tree.fingerprint() not in (None, first)


# -- identity and pickling -------------------------------------------------------------


@pytest.mark.parametrize(
    "dumps,loads", [(pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)], ids=["pickle", "cloudpickle"]
)
def test_pickled_target_works(backend, dumps, loads):
    target = backend.target("p.txt", format=fmt.UTF8)
    with target.open("w") as f:
        f.write("pickled ✓")
    copy = loads(dumps(target))
    assert copy == target and hash(copy) == hash(target) and repr(copy) == repr(target)
    assert copy.storage_options == target.storage_options
    assert copy.exists()
    assert copy.open("r").read() == "pickled ✓"


def test_plain_path_and_file_url_name_the_same_target(tmp_path):
    path = str(tmp_path / "a.txt")
    plain, url = FsspecTarget(path), FsspecTarget("file://" + path)
    assert plain == url and hash(plain) == hash(url)
    assert plain.path == url.path == path
    assert url.url == "file://" + path
    assert repr(plain) == f"FsspecTarget({path!r})"
    assert FsspecTarget("memory://a/b") != FsspecTarget("memory://a/c")


# -- backends that cannot be opened ------------------------------------------------------


def test_unknown_protocol_names_the_url():
    with pytest.raises(MissingBackendError, match=r"'nosuch://bucket/key'.*protocol 'nosuch'"):
        FsspecTarget("nosuch://bucket/key")


@pytest.mark.parametrize("url,package", [("gs://bucket/key", "gcsfs"), ("az://container/key", "adlfs")])
def test_missing_backend_package_names_the_url_and_the_install(url, package):
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed")
    with pytest.raises(MissingBackendError) as caught:
        FsspecTarget(url)
    assert repr(url) in str(caught.value)
    assert f"pip install {package}" in str(caught.value)


def test_importing_nbpipe_does_not_import_fsspec():
    code = "import sys, nbpipe, nbpipe.targets.fsspec_target; assert 'fsspec' not in sys.modules, 'fsspec imported'"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


# -- S3: multipart uploads and processes -----------------------------------------------------


def test_s3_failed_multipart_upload_is_aborted(s3):
    prefix = f"{uuid.uuid4().hex}/"
    # A small part size makes s3fs start a multipart upload while we write.
    target = FsspecTarget(f"s3://{BUCKET}/{prefix}big.bin", default_block_size=5 * MIB, **s3.options)
    with pytest.raises(RuntimeError), target.open("wb") as f:
        f.write(b"x" * (6 * MIB))
        assert s3.pending_uploads(prefix) == [f"{prefix}big.bin"]
        raise RuntimeError
    assert s3.pending_uploads(prefix) == []
    assert s3.keys(prefix) == []

    abandoned = target.open("wb")
    abandoned.write(b"y" * (6 * MIB))
    assert s3.pending_uploads(prefix) == [f"{prefix}big.bin"]
    del abandoned
    assert s3.pending_uploads(prefix) == []
    assert s3.keys(prefix) == []


def test_s3_multipart_upload_appears_whole_on_close(s3):
    prefix = f"{uuid.uuid4().hex}/"
    target = FsspecTarget(f"s3://{BUCKET}/{prefix}big.bin", default_block_size=5 * MIB, **s3.options)
    data = os.urandom(1024) * (6 * 1024 + 1)
    with target.open("wb") as f:
        f.write(data)
        assert not target.exists()
    body = s3.client.get_object(Bucket=BUCKET, Key=f"{prefix}big.bin")["Body"].read()
    assert body == data
    assert "-" in target.fingerprint()  # a multipart ETag: "<md5 of part md5s>-<parts>"


def test_s3_fingerprint_sees_same_size_changes(s3):
    target = FsspecTarget(f"s3://{BUCKET}/{uuid.uuid4().hex}/f.txt", **s3.options)
    with target.open("w") as f:
        f.write("aaaa")
    first = target.fingerprint()
    with target.open("w") as f:
        f.write("bbbb")
    assert target.fingerprint() != first


def test_s3_sees_objects_written_by_another_client_after_a_listing(s3):
    prefix = f"{uuid.uuid4().hex}/"
    target = FsspecTarget(f"s3://{BUCKET}/{prefix}late.txt", **s3.options)
    with FsspecTarget(f"s3://{BUCKET}/{prefix}early.txt", **s3.options).open("w") as f:
        f.write("early")
    assert target.fs.ls(f"{BUCKET}/{prefix}") == [f"{BUCKET}/{prefix}early.txt"]  # s3fs caches this listing
    s3.client.put_object(Bucket=BUCKET, Key=f"{prefix}late.txt", Body=b"late")  # as another process would
    assert target.exists()
    first = target.fingerprint()
    s3.client.put_object(Bucket=BUCKET, Key=f"{prefix}late.txt", Body=b"LATE")
    assert target.fingerprint() != first


def test_s3_target_unpickled_in_a_fresh_interpreter(s3):
    target = FsspecTarget(f"s3://{BUCKET}/{uuid.uuid4().hex}/p.txt", **s3.options)
    with target.open("w") as f:
        f.write("from the driver")
    code = "import pickle, sys; t = pickle.load(sys.stdin.buffer); print(t.exists(), t.open().read())"
    done = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(target), cwd=REPO, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "True from the driver"


class Words(nbpipe.Task):
    """Targets are parameters: made in the driver, they reach the worker processes
    inside the pickled tasks, storage options (the moto endpoint) included."""

    out = nbpipe.Parameter()

    def output(self):
        return self.out

    def run(self):
        with self.output().open("w") as f:
            f.write("apple\nbanana\ncherry\n")


class Shout(nbpipe.Task):
    words = nbpipe.Parameter()
    out = nbpipe.Parameter()

    def requires(self):
        return Words(out=self.words)

    def output(self):
        return self.out

    def run(self):
        with self.input().open("r") as source, self.output().open("w") as sink:
            sink.write(source.read().upper())


class Count(Shout):
    def run(self):
        with self.input().open("r") as source, self.output().open("wb") as sink:
            sink.write(str(len(source.read().splitlines())).encode())


@pytest.mark.slow
def test_pipeline_on_s3_with_process_workers(s3):
    prefix = f"{uuid.uuid4().hex}/"
    root = f"s3://{BUCKET}/{prefix}"
    words = FsspecTarget(root + "words.txt", **s3.options)
    shout = FsspecTarget(root + "shout.txt.gz", format=fmt.Gzip >> fmt.UTF8, **s3.options)
    count = FsspecTarget(root + "count", **s3.options)
    tasks = [Shout(words=words, out=shout), Count(words=words, out=count)]

    first = nbpipe.build(tasks, workers=2, executor="process", local_scheduler=True, detailed_summary=True)
    assert first.scheduling_succeeded, first.summary_text
    ran = {e.task_id: e.data.get("worker", "") for e in first.events if e.kind == Kind.DONE}
    assert len(ran) == 3
    assert all(worker.startswith("process-") for worker in ran.values()), ran
    assert s3.keys(prefix) == [f"{prefix}count", f"{prefix}shout.txt.gz", f"{prefix}words.txt"]
    stored = s3.client.get_object(Bucket=BUCKET, Key=f"{prefix}words.txt")["Body"].read()
    assert stored == b"apple\nbanana\ncherry\n"
    assert shout.open("r").read() == "APPLE\nBANANA\nCHERRY\n"
    assert count.open("rb").read() == b"3"

    second = nbpipe.build(tasks, workers=2, executor="process", local_scheduler=True, detailed_summary=True)
    assert second.scheduling_succeeded, second.summary_text
    assert [e.task_id for e in second.events if e.kind == Kind.RUNNING] == []
    # Complete tasks are not walked below (as in Luigi): only the two asked for are checked.
    assert {e.task_id for e in second.events if e.kind == Kind.COMPLETE} == {t.task_id for t in tasks}
