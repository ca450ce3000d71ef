"""nbpipe.contrib.s3 against a real S3 API (moto's server on localhost, see tests/s3_server.py).

What is stored is checked with boto3 (``server.client``), independently of s3fs.
"""

from __future__ import annotations

import datetime
import gzip
import os
import pickle
import subprocess
import sys
import uuid

import pytest

pytest.importorskip("s3fs")
from s3_server import CREDENTIALS, REGION, s3_server

import nbpipe
from nbpipe import configuration
from nbpipe import format as fmt
from nbpipe.contrib.s3 import (
    DeprecatedBotoClientException,
    FileNotFoundException,
    InvalidDeleteException,
    S3Client,
    S3EmrTarget,
    S3FlagTarget,
    S3FlagTask,
    S3PathTask,
    S3Target,
)
from nbpipe.exceptions import FileAlreadyExists, MissingParentDirectory
from nbpipe.mock import MockTarget

BUCKET = "nbpipe-contrib-s3"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def server():
    with s3_server(BUCKET) as s:
        yield s


def _client_options(server) -> dict:
    return {
        "aws_access_key_id": CREDENTIALS["key"],
        "aws_secret_access_key": CREDENTIALS["secret"],
        "endpoint_url": server.endpoint,
        "region_name": REGION,
    }


@pytest.fixture
def client(server):
    return S3Client(**_client_options(server))


@pytest.fixture
def root():
    """A fresh ``s3://bucket/prefix`` for one test."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"


def _key(url: str) -> str:
    return url.split("/", 3)[3]


def _body(server, url: str) -> bytes:
    return server.client.get_object(Bucket=BUCKET, Key=_key(url))["Body"].read()


def _put(server, url: str, data: bytes = b"x") -> None:
    server.client.put_object(Bucket=BUCKET, Key=_key(url), Body=data)


# -- S3Target ----------------------------------------------------------------------


def test_target_writes_reads_and_exists(server, client, root):
    target = S3Target(f"{root}/data.txt", client=client)
    assert not target.exists()
    with target.open("w") as f:
        f.write("line one\nline two\n")
    assert target.exists()
    assert _body(server, target.path) == b"line one\nline two\n"
    with target.open("r") as f:
        assert list(f) == ["line one\n", "line two\n"]
    assert target.fingerprint().startswith("etag=")
    assert target.fs is client


def test_a_failed_write_publishes_nothing(server, client, root):
    target = S3Target(f"{root}/half.txt", client=client)
    with pytest.raises(RuntimeError), target.open("w") as f:
        f.write("x" * 1000)
        raise RuntimeError("producer failed")
    assert not target.exists()
    assert server.keys(_key(root)) == []
    assert server.pending_uploads(_key(root)) == []


def test_reading_a_missing_object_raises_file_not_found(client, root):
    with pytest.raises(FileNotFoundException) as info:
        S3Target(f"{root}/missing", client=client).open("r")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(ValueError):
        S3Target(f"{root}/x", client=client).open("a")


def test_format_and_upload_options(server, client, root):
    target = S3Target(f"{root}/data.gz", format=fmt.Gzip, client=client, ContentType="application/gzip")
    with target.open("w") as f:
        f.write(b"compressed bytes")
    assert gzip.decompress(_body(server, target.path)) == b"compressed bytes"
    head = server.client.head_object(Bucket=BUCKET, Key=_key(target.path))
    assert head["ContentType"] == "application/gzip"
    with target.open("r") as f:
        assert f.read() == b"compressed bytes"


def test_temporary_path_uploads_on_success_only(server, client, root):
    target = S3Target(f"{root}/made-by-a-tool.bin", client=client)
    with pytest.raises(OSError), target.temporary_path() as local:
        with open(local, "wb") as f:
            f.write(b"partial")
        raise OSError("tool crashed")
    assert not target.exists()
    with target.temporary_path() as local:
        with open(local, "wb") as f:
            f.write(b"\x00\x01whole")
    assert _body(server, target.path) == b"\x00\x01whole"


def test_target_and_client_survive_pickling(client, root):
    target = S3Target(f"{root}/p.txt", client=client)
    with target.open("w") as f:
        f.write("pickled")
    again = pickle.loads(pickle.dumps(target))
    assert again == target and again.exists()
    with again.open("r") as f:
        assert f.read() == "pickled"


def test_client_options_come_from_the_s3_configuration_section(server, root):
    with configuration.scoped_overrides():
        for name, value in _client_options(server).items():
            configuration.set_option("s3", name, value)
        client = S3Client()
        assert client.storage_options["endpoint_url"] == server.endpoint
        target = S3Target(f"{root}/configured.txt")  # a client made from the configuration
        with target.open("w") as f:
            f.write("via [s3]")
    assert _body(server, target.path) == b"via [s3]"


class Produce(nbpipe.Task):
    """Module level, so worker processes can import it."""

    root = nbpipe.Parameter()
    endpoint = nbpipe.Parameter()
    n = nbpipe.IntParameter()

    def output(self):
        client = S3Client(**{**_client_options_for(self.endpoint)})
        return S3Target(f"{self.root}/part-{self.n}.txt", client=client)

    def run(self):
        with self.output().open("w") as f:
            f.write(f"{self.n * self.n}\n")


class Total(nbpipe.Task):
    root = nbpipe.Parameter()
    endpoint = nbpipe.Parameter()

    def requires(self):
        return [Produce(root=self.root, endpoint=self.endpoint, n=n) for n in range(4)]

    def output(self):
        return S3FlagTarget(f"{self.root}/total/", client=S3Client(**_client_options_for(self.endpoint)))

    def run(self):
        total = 0
        for target in self.input():
            with target.open("r") as f:
                total += int(f.read())
        out = self.output()
        out.fs.put_string(str(total), out.path + "total.txt")
        out.fs.put_string("", out.path + out.flag)


def _client_options_for(endpoint: str) -> dict:
    return {
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "endpoint_url": endpoint,
        "region_name": REGION,
    }


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_pipeline_on_s3_with_worker_processes(server, root, executor):
    workers = 1 if executor == "inline" else 2
    task = Total(root=root, endpoint=server.endpoint)
    result = nbpipe.build([task], local_scheduler=True, workers=workers, executor=executor, detailed_summary=True)
    assert result.status.name == "SUCCESS", result.summary_text
    assert _body(server, f"{root}/total/total.txt") == b"14"
    assert server.keys(_key(root)) == sorted(
        [f"{_key(root)}/part-{n}.txt" for n in range(4)]
        + [f"{_key(root)}/total/_SUCCESS", f"{_key(root)}/total/total.txt"]
    )
    assert task.complete()


# -- flag targets and external tasks --------------------------------------------------


def test_flag_target_needs_a_folder_and_its_flag(server, client, root):
    with pytest.raises(ValueError, match="slash"):
        S3FlagTarget(f"{root}/out", client=client)
    folder = S3FlagTarget(f"{root}/out/", client=client)
    _put(server, f"{root}/out/part-0")
    assert not folder.exists()
    _put(server, f"{root}/out/_SUCCESS", b"")
    assert folder.exists()
    custom = S3FlagTarget(f"{root}/out/", client=client, flag="_DONE")
    assert not custom.exists()
    with pytest.warns(DeprecationWarning):
        assert S3EmrTarget(f"{root}/out/", client=client).exists()


def test_external_s3_tasks_gate_downstream_work(server, root, monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": server.endpoint,
    }.items():
        monkeypatch.setenv(name, value)

    class Consume(nbpipe.Task):
        def requires(self):
            return [S3PathTask(path=f"{root}/input.csv"), S3FlagTask(path=f"{root}/batch/", flag="_READY")]

        def output(self):
            return MockTarget(f"consumed-{root}")

        def run(self):
            with self.output().open("w") as f:
                f.write("ok")

    first = nbpipe.build([Consume()], local_scheduler=True, detailed_summary=True)
    assert first.status.name == "MISSING_EXT"
    _put(server, f"{root}/input.csv")
    _put(server, f"{root}/batch/_READY", b"")
    second = nbpipe.build([Consume()], local_scheduler=True, detailed_summary=True)
    assert second.status.name == "SUCCESS", second.summary_text


# -- S3Client --------------------------------------------------------------------------


def test_exists_and_isdir(server, client, root):
    _put(server, f"{root}/dir/file.txt")
    _put(server, f"{root}/marked_$folder$", b"")
    assert client.exists(f"s3://{BUCKET}") and client.isdir(f"s3://{BUCKET}/")
    assert client.exists(f"{root}/dir/file.txt") and not client.isdir(f"{root}/dir/file.txt")
    assert client.exists(f"{root}/dir") and client.isdir(f"{root}/dir") and client.isdir(f"{root}/dir/")
    assert client.isdir(f"{root}/marked") and client.exists(f"{root}/marked")
    assert not client.exists(f"{root}/nothing") and not client.isdir(f"{root}/nothing")
    assert not client.exists(f"{root}/dir/fi")  # a key prefix is not a folder


def test_listdir_and_list(server, client, root):
    for name in ("a.txt", "sub/b.txt", "sub/deeper/c.txt"):
        _put(server, f"{root}/{name}")
    assert list(client.listdir(root)) == [f"{root}/a.txt", f"{root}/sub/b.txt", f"{root}/sub/deeper/c.txt"]
    assert list(client.list(f"{root}/sub/")) == ["b.txt", "deeper/c.txt"]
    keys = list(client.listdir(root, return_key=True))
    assert [k["size"] for k in keys] == [1, 1, 1]
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    assert list(client.listdir(root, start_time=later)) == []
    assert len(list(client.listdir(root, end_time=later))) == 3
    assert len(list(client.list(root, end_time=later.replace(tzinfo=None)))) == 3  # naive times are UTC


def test_mkdir(server, client, root):
    client.mkdir(f"{root}/made")
    assert server.keys(_key(root)) == [f"{_key(root)}/made/"]
    assert client.isdir(f"{root}/made")
    client.mkdir(f"{root}/made")  # exists: fine
    with pytest.raises(FileAlreadyExists):
        client.mkdir(f"{root}/made", raise_if_exists=True)
    with pytest.raises(MissingParentDirectory):
        client.mkdir(f"{root}/no/parent", parents=False)
    client.mkdir(f"{root}/made/child", parents=False)
    assert client.isdir(f"{root}/made/child")


def test_remove(server, client, root):
    for name in ("f.txt", "dir/a", "dir/b/c", "dir_$folder$"):
        _put(server, f"{root}/{name}")
    assert client.remove(f"{root}/missing") is False
    with pytest.raises(InvalidDeleteException):
        client.remove(f"s3://{BUCKET}/")
    with pytest.raises(InvalidDeleteException):
        client.remove(f"{root}/dir", recursive=False)
    assert client.remove(f"{root}/f.txt") is True
    assert server.keys(_key(root)) == [f"{_key(root)}/dir/a", f"{_key(root)}/dir/b/c", f"{_key(root)}/dir_$folder$"]
    assert client.remove(f"{root}/dir") is True
    assert server.keys(_key(root)) == []


def test_copy_move_and_rename_dont_move(server, client, root):
    _put(server, f"{root}/src/one", b"1")
    _put(server, f"{root}/src/two/deep", b"22")
    assert client.copy(f"{root}/src", f"{root}/dst") == (2, 3)
    assert _body(server, f"{root}/dst/two/deep") == b"22"
    assert client.copy(f"{root}/src/one", f"{root}/single") == (1, 1)
    with pytest.raises(FileNotFoundException):
        client.copy(f"{root}/absent", f"{root}/x")
    client.move(f"{root}/single", f"{root}/moved")
    assert not client.exists(f"{root}/single") and _body(server, f"{root}/moved") == b"1"
    with pytest.raises(FileAlreadyExists):
        client.rename_dont_move(f"{root}/moved", f"{root}/src/one")
    client.rename_dont_move(f"{root}/moved", f"{root}/renamed")
    assert _body(server, f"{root}/renamed") == b"1"


def test_put_and_get(server, client, root, tmp_path):
    local = tmp_path / "big.bin"
    data = os.urandom(6 * 2**20)
    local.write_bytes(data)
    client.put_multipart(str(local), f"{root}/big.bin", part_size=5 * 2**20)
    assert _body(server, f"{root}/big.bin") == data
    client.put(str(local), f"{root}/plain.bin", ContentType="application/octet-stream")
    client.put_string("héllo", f"{root}/s.txt")
    assert client.get_as_string(f"{root}/s.txt") == "héllo"
    assert client.get_as_bytes(f"{root}/plain.bin") == data
    client.get(f"{root}/s.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text(encoding="utf-8") == "héllo"
    info = client.get_key(f"{root}/s.txt")
    assert info["size"] == len("héllo".encode())
    assert client.get_key(f"{root}/nope") is None
    assert server.pending_uploads(_key(root)) == []


def test_boto2_options_are_refused(client, root):
    with pytest.raises(DeprecatedBotoClientException):
        client.put_string("x", f"{root}/x", encrypt_key=True)
    with pytest.raises(DeprecatedBotoClientException):
        client.put_string("x", f"{root}/x", host="s3.example")


def test_luigi_import_path_gives_this_module():
    code = (
        "import sys; sys.path.insert(0, 'tests/luigi_suite'); import luigi_alias; "
        "from luigi.contrib.s3 import S3Target, S3Client, S3FlagTarget; import nbpipe.contrib.s3 as m; "
        "assert (S3Target, S3Client, S3FlagTarget) == (m.S3Target, m.S3Client, m.S3FlagTarget); print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_without_s3fs_one_clear_error_names_the_extra():
    code = (
        "import sys; sys.modules['s3fs'] = None\n"
        "from nbpipe.contrib.s3 import S3Target\n"
        "from nbpipe.contrib import MissingDependencyError\n"
        "try:\n    S3Target('s3://b/k').exists()\nexcept MissingDependencyError as e:\n    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "pip install 'nbpipe[s3]'" in proc.stdout, proc.stderr
