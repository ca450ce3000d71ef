"""Targets: atomic writes, formats, MockTarget, RunAnywayTarget."""

import gzip
import os

import pytest

import nbpipe
from nbpipe import format as fmt
from nbpipe.contrib.simulate import RunAnywayTarget
from nbpipe.engine import run_context as runtime
from nbpipe.mock import MockFileSystem, MockTarget
from nbpipe.target import LocalTarget, remove_temp_files


def siblings(path):
    return sorted(os.listdir(os.path.dirname(path)))


def test_write_is_invisible_until_close_then_atomic(tmp_path):
    path = str(tmp_path / "out" / "data.txt")
    target = LocalTarget(path)
    f = target.open("w")
    f.write("hello")
    assert not target.exists()  # nothing at the final path while writing
    assert any(".data.txt.nbpipe-tmp-" in n for n in siblings(path))
    f.close()
    assert target.exists()
    assert target.open("r").read() == "hello"
    assert siblings(path) == ["data.txt"]


def test_exception_in_with_block_commits_nothing_and_removes_temp(tmp_path):
    path = str(tmp_path / "data.txt")
    with pytest.raises(RuntimeError):
        with LocalTarget(path).open("w") as f:
            f.write("half")
            raise RuntimeError("stop")
    assert not os.path.exists(path)
    assert siblings(path) == []


def test_failed_rewrite_keeps_previous_content_byte_for_byte(tmp_path):
    path = str(tmp_path / "data.bin")
    with LocalTarget(path).open("wb") as f:
        f.write(b"\x00old\xff")
    with pytest.raises(ValueError):
        with LocalTarget(path).open("wb") as f:
            f.write(b"new")
            raise ValueError
    assert open(path, "rb").read() == b"\x00old\xff"
    assert siblings(path) == ["data.bin"]


def test_stream_dropped_without_close_is_discarded(tmp_path):
    path = str(tmp_path / "data.txt")
    f = LocalTarget(path).open("w")
    f.write("never closed")
    del f
    assert not os.path.exists(path)
    assert siblings(path) == []


def test_luigi_style_open_close_without_with_commits(tmp_path):
    path = str(tmp_path / "bar" / "1")
    LocalTarget(path).open("w").close()
    assert os.path.exists(path) and os.path.getsize(path) == 0


@pytest.mark.parametrize(
    "format_, data, reader",
    [
        (fmt.Gzip, b"zipped", lambda p: gzip.open(p).read()),
        (fmt.Nop, b"\x01\x02", lambda p: open(p, "rb").read()),
        (fmt.UTF8, "h\u00e9llo", lambda p: open(p, encoding="utf-8").read()),
        (fmt.Gzip >> fmt.UTF8, "t\u00e9xt", lambda p: gzip.open(p).read().decode("utf-8")),
        (fmt.Bzip2, b"bz", lambda p: __import__("bz2").open(p).read()),
    ],
)
def test_formats_round_trip_and_write_the_real_encoding(tmp_path, format_, data, reader):
    path = str(tmp_path / "f")
    target = LocalTarget(path, format=format_)
    with target.open("w") as f:
        f.write(data)
    assert reader(path) == data
    with target.open("r") as f:
        assert f.read() == data


def test_failed_gzip_write_leaves_nothing(tmp_path):
    path = str(tmp_path / "f.gz")
    with pytest.raises(KeyError):
        with LocalTarget(path, format=fmt.Gzip).open("w") as f:
            f.write(b"x" * 100000)
            raise KeyError
    assert siblings(path) == []


def test_temporary_path_moves_into_place_only_on_success(tmp_path):
    target = LocalTarget(str(tmp_path / "dir_out"))
    with target.temporary_path() as tmp:
        os.makedirs(tmp)
        open(os.path.join(tmp, "part"), "w").close()
        assert not target.exists()
    assert os.path.isfile(tmp_path / "dir_out" / "part")
    other = LocalTarget(str(tmp_path / "other"))
    with pytest.raises(OSError):
        with other.temporary_path() as tmp:
            open(tmp, "w").write("x")
            raise OSError("disk")
    assert sorted(os.listdir(tmp_path)) == ["dir_out"]


def test_remove_temp_files_only_touches_the_given_pid(tmp_path):
    path = str(tmp_path / "x")
    open(str(tmp_path / ".x.nbpipe-tmp-111-aaaa"), "w").close()
    open(str(tmp_path / ".x.nbpipe-tmp-222-bbbb"), "w").close()
    assert [os.path.basename(p) for p in remove_temp_files(path, 111)] == [".x.nbpipe-tmp-111-aaaa"]
    assert os.listdir(tmp_path) == [".x.nbpipe-tmp-222-bbbb"]


def test_mock_target_commits_on_close_only():
    MockFileSystem().clear()
    target = MockTarget("/mock/a")
    with pytest.raises(ZeroDivisionError):
        with target.open("w") as f:
            f.write("x")
            raise ZeroDivisionError
    assert not target.exists()
    with target.open("w") as f:
        f.write("ok")
    assert target.open("r").read() == "ok"
    assert MockFileSystem().get_data("/mock/a") == b"ok"


class Hourly(nbpipe.Task):
    def output(self):
        return RunAnywayTarget(self)

    def run(self):
        self.output().done()


def test_run_anyway_target_is_done_once_per_run(tmp_path):
    first = nbpipe.build([Hourly()], detailed_summary=True)
    assert first.summary.task_ids("completed") == [Hourly().task_id]
    # Outside a run the task is not complete, and a new run runs it again.
    assert not Hourly().complete()
    second = nbpipe.build([Hourly()], detailed_summary=True)
    assert second.summary.task_ids("completed") == [Hourly().task_id]
    from nbpipe.state.store import open_store

    store = open_store(tmp_path / ".nbpipe")
    assert store.run_anyway_is_done(first.run_id, Hourly().task_id)
    assert store.run_anyway_is_done(second.run_id, Hourly().task_id)


class HourlyPart(nbpipe.Task):
    n = nbpipe.IntParameter()

    def output(self):
        return RunAnywayTarget(self)

    def run(self):
        self.output().done()


class HourlyAll(nbpipe.Task):
    def requires(self):
        return [HourlyPart(i) for i in range(6)]

    def output(self):
        return RunAnywayTarget(self)

    def run(self):
        # Parts ran in other worker processes; they must look done from here.
        assert all(p.exists() for p in self.input())
        self.output().done()


def test_run_anyway_markers_cross_worker_processes():
    result = nbpipe.build([HourlyAll()], workers=2, detailed_summary=True)
    assert result.status.name == "SUCCESS", result.summary.failures
    assert len(result.summary.categories["completed"]) == 7
    again = nbpipe.build([HourlyAll()], workers=2, detailed_summary=True)
    assert len(again.summary.categories["completed"]) == 7  # every run recomputes


def test_run_anyway_old_markers_are_pruned(tmp_path):
    from nbpipe.state.store import open_store

    store = open_store(tmp_path / ".nbpipe")
    store.run_anyway_done("old-run", "T_x", 1.0)
    RunAnywayTarget._last_prune.clear()
    runtime.set_current(runtime.RunContext("now-run", str(tmp_path / ".nbpipe")))
    try:
        RunAnywayTarget(Hourly()).exists()
    finally:
        runtime.set_current(None)
    assert not store.run_anyway_is_done("old-run", "T_x")


def test_done_outside_a_run_says_how_to_fix():
    with pytest.raises(RuntimeError, match="outside a pipeline run"):
        RunAnywayTarget(Hourly()).done()


def test_writing_creates_missing_parent_folders_even_after_they_were_removed(tmp_path):
    import shutil

    target = LocalTarget(str(tmp_path / "a" / "b" / ".." / "c" / "out.txt"))
    with target.open("w") as f:
        f.write("one")
    assert (tmp_path / "a" / "c" / "out.txt").read_text() == "one"
    shutil.rmtree(tmp_path / "a")  # a folder that existed at the last write is gone now
    with target.open("w") as f:
        f.write("two")
    assert (tmp_path / "a" / "c" / "out.txt").read_text() == "two"
    assert sorted(p.name for p in (tmp_path / "a" / "c").iterdir()) == ["out.txt"]  # no temporary left


def test_a_file_where_a_parent_folder_should_be_fails_with_the_path(tmp_path):
    (tmp_path / "blocker").write_text("a file, not a folder")
    target = LocalTarget(str(tmp_path / "blocker" / "out.txt"))
    with pytest.raises(OSError) as info:
        target.open("w")
    assert "blocker" in str(info.value)


def test_fsync_outputs_follows_the_configuration_between_writes(tmp_path, monkeypatch):
    # The setting is kept between writes (one lookup per configuration change): a change must still count.
    synced = []
    real_fsync = os.fsync

    def counting_fsync(fd):
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    config = nbpipe.configuration.get_config()
    for n, value in enumerate(["false", "true", "false"]):
        config.set("core", "fsync_outputs", value)
        before = len(synced)
        with LocalTarget(str(tmp_path / f"f{n}.txt")).open("w") as f:
            f.write("x")
        assert (len(synced) > before) == (value == "true"), f"fsync_outputs={value}"
