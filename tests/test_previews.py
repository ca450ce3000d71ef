"""Output previews (nbpipe/notebook/previews.py) on real files, and the widget's preview messages."""

from __future__ import annotations

import base64
import json
import logging
import struct
import threading
import zlib

import pytest

import nbpipe
from nbpipe.notebook import previews
from nbpipe.notebook.previews import describe_output, preview_file, preview_output
from nbpipe.notebook.widget import DagWidget


def tiny_png() -> bytes:
    """A valid 1x1 PNG, written by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def test_csv_first_rows_become_a_table(tmp_path):
    path = tmp_path / "cities.csv"
    path.write_text('city,population\nOslo,700000\n"Bergen, NO",290000\n')
    p = preview_output(nbpipe.LocalTarget(str(path)))
    assert p["kind"] == "table"
    assert p["columns"] == ["city", "population"]
    assert p["rows"] == [["Oslo", "700000"], ["Bergen, NO", "290000"]]
    assert p["truncated"] is False
    assert p["path"] == str(path) and p["size"] == path.stat().st_size and p["exists"] is True
    assert p["mtime"] == pytest.approx(path.stat().st_mtime)


def test_tsv_uses_tabs(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\n1\t2\n")
    assert preview_file(str(path))["rows"] == [["1", "2"]]


def test_a_long_csv_shows_its_first_rows_only(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("n\n" + "".join(f"{i}\n" for i in range(1000)))
    p = preview_file(str(path))
    assert len(p["rows"]) == previews.MAX_ROWS and p["rows"][0] == ["0"] and p["truncated"] is True


def test_json_is_shown_indented(tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps({"b": [1, 2], "a": "x"}))
    p = preview_file(str(path))
    assert p["kind"] == "text"
    assert p["text"].splitlines()[:2] == ["{", '  "b": [']


def test_text_shows_its_first_lines(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("".join(f"line {i}\n" for i in range(100)))
    p = preview_file(str(path))
    assert p["kind"] == "text" and p["truncated"] is True
    assert p["text"].splitlines() == [f"line {i}" for i in range(previews.MAX_LINES)]


def test_png_is_sent_as_base64(tmp_path):
    path = tmp_path / "plot.png"
    path.write_bytes(tiny_png())
    p = preview_file(str(path))
    assert p["kind"] == "image" and p["mime"] == "image/png"
    assert base64.b64decode(p["data"]) == tiny_png()


def test_svg_and_jpeg_are_images(tmp_path):
    (tmp_path / "a.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 20)
    assert preview_file(str(tmp_path / "a.svg"))["mime"] == "image/svg+xml"
    assert preview_file(str(tmp_path / "b.jpg"))["mime"] == "image/jpeg"


def test_a_missing_file_says_so(tmp_path):
    target = nbpipe.LocalTarget(str(tmp_path / "nowhere.csv"))
    p = preview_output(target)
    assert p["kind"] == "message" and "does not exist" in p["text"]
    assert describe_output(target) == {
        "path": str(tmp_path / "nowhere.csv"),
        "size": None,
        "mtime": None,
        "exists": False,
    }


def test_a_huge_file_is_capped(tmp_path):
    text_path = tmp_path / "huge.txt"
    with open(text_path, "w") as f:
        f.write(("x" * 2000 + "\n") * 5000)  # 10 MB
    p = preview_file(str(text_path))
    assert p["truncated"] is True
    assert len(p["text"]) <= previews.MAX_LINES * (previews.MAX_LINE_CHARS + 1)
    assert len(json.dumps(p)) < previews.MAX_READ_BYTES

    csv_path = tmp_path / "huge.csv"
    with open(csv_path, "w") as f:
        f.write(",".join(f"c{i}" for i in range(500)) + "\n")
        f.write(("y" * 5000 + ",") * 2000 + "\n")
    t = preview_file(str(csv_path))
    assert t["kind"] == "table" and t["truncated"] is True
    assert len(t["columns"]) == previews.MAX_COLUMNS
    assert len(json.dumps(t)) < previews.MAX_READ_BYTES

    image = tmp_path / "huge.png"
    image.write_bytes(tiny_png() + b"\x00" * (previews.MAX_IMAGE_BYTES + 1))
    i = preview_file(str(image))
    assert i["kind"] == "message" and "preview limit" in i["text"] and "data" not in i


def test_binary_files_get_a_message(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 10)
    p = preview_file(str(path))
    assert p["kind"] == "message" and "No preview for this type" in p["text"]


def test_parquet_is_a_table_when_pandas_and_pyarrow_are_installed(tmp_path):
    pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), str(path))
    p = preview_file(str(path))
    assert p["kind"] == "table" and p["columns"] == ["a", "b"] and p["rows"] == [["1", "x"], ["2", "y"]]


def test_a_target_that_is_not_a_local_file_gets_a_message():
    class Elsewhere(nbpipe.Target):
        def exists(self):
            return True

    p = preview_output(Elsewhere())
    assert p["kind"] == "message" and "Elsewhere is not a file on this machine" in p["text"]


# -- the widget's messages ------------------------------------------------------------------


class Table(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("table.csv")

    def run(self):
        with self.output().open("w") as f:
            f.write("k,v\nfirst,1\n")


class Noisy(nbpipe.Task):
    def output(self):
        return nbpipe.LocalTarget("noisy.txt")

    def run(self):
        logging.getLogger("noisy").warning("fetched %d rows", 3)
        with self.output().open("w") as f:
            f.write("3")


class Pair(nbpipe.Task):
    def requires(self):
        return Table()

    def output(self):
        return [nbpipe.LocalTarget("pair/a.txt"), nbpipe.LocalTarget("pair/b.txt")]


def ask(widget: DagWidget, message) -> dict:
    """Send ``message`` as the front end would and return the first reply."""
    replies: list[dict] = []
    got = threading.Event()

    def send(msg) -> None:
        replies.append(msg)
        got.set()

    widget.send = send
    widget._on_front_end_message(widget, message, [])
    assert got.wait(30), message
    return replies[0]


def test_the_widget_previews_an_output_of_a_task_of_its_graph():
    nbpipe.build([Table()], local_scheduler=True)
    widget = DagWidget(Pair())
    tid = Table().task_id
    reply = ask(widget, {"action": "preview", "task_id": tid, "index": 0})
    assert reply["event"] == "preview" and reply["task_id"] == tid and reply["index"] == 0
    assert reply["preview"]["rows"] == [["first", "1"]]
    listing = ask(widget, {"action": "outputs", "task_id": Pair().task_id})
    assert listing["event"] == "outputs"
    assert [o["path"] for o in listing["outputs"]] == ["pair/a.txt", "pair/b.txt"]
    assert [o["exists"] for o in listing["outputs"]] == [False, False]


def test_the_outputs_reply_carries_the_log_of_the_last_attempt():
    nbpipe.build([Noisy()], local_scheduler=True)
    widget = DagWidget([Noisy(), Pair()])
    reply = ask(widget, {"action": "outputs", "task_id": Noisy().task_id})
    assert reply["log"] == {"lines": ["WARNING noisy: fetched 3 rows"], "truncated": False, "status": "done"}
    assert ask(widget, {"action": "outputs", "task_id": Pair().task_id})["log"] is None  # never ran


@pytest.mark.parametrize(
    "message, reason",
    [
        ({"action": "preview", "task_id": 7, "index": 0}, "action 'preview' needs a task id (a string), not int"),
        (
            {"action": "preview", "task_id": "Table__99914b932b"},
            "action 'preview' needs the index of an output (an integer), not NoneType",
        ),
        (
            {"action": "preview", "task_id": "Table__99914b932b", "index": "0"},
            "action 'preview' needs the index of an output (an integer), not str",
        ),
        (
            {"action": "preview", "task_id": "Table__99914b932b", "index": True},
            "action 'preview' needs the index of an output (an integer), not bool",
        ),
        (
            {"action": "preview", "task_id": "Table__99914b932b", "index": 1},
            "the task has 1 output(s): there is no output number 1",
        ),
        (
            {"action": "preview", "task_id": "Table__99914b932b", "index": -1},
            "the task has 1 output(s): there is no output number -1",
        ),
        ({"action": "preview", "task_id": "Elsewhere_0000000000", "index": 0}, "not a task of this graph"),
        (
            {"action": "preview", "task_id": "Table__99914b932b", "index": 0, "path": "/etc/passwd"},
            "unknown key(s) in the action message: path",
        ),
        ({"action": "run", "task_id": "Table__99914b932b", "index": 0}, "action 'run' takes no index"),
        ({"action": "outputs", "task_id": None}, "action 'outputs' needs a task id (a string), not NoneType"),
    ],
)
def test_a_malformed_preview_message_is_refused(message, reason):
    widget = DagWidget(Pair())
    assert Table().task_id == "Table__99914b932b"
    reply = ask(widget, message)
    assert reply == {"event": "refused", "task_id": reply["task_id"], "reason": reason}
