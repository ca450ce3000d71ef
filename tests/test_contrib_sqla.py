"""nbpipe.contrib.sqla on real SQLite database files with SQLAlchemy 2.

What is stored is read back with the standard library's ``sqlite3``, not
with the module under test.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import sys

import pytest

sqlalchemy = pytest.importorskip("sqlalchemy", minversion="2.0")

import nbpipe  # noqa: E402
from nbpipe import configuration  # noqa: E402
from nbpipe.contrib import MissingDependencyError, sqla  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ITEMS = [(f"item{i}", f"property{i}") for i in range(10)]
COLUMNS = [(["item", sqlalchemy.String(64)], {}), (["property", sqlalchemy.String(64)], {})]


def _rows(db, table="item_property") -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall())


def _markers(db, table="table_updates") -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute(f"SELECT update_id, target_table FROM {table}").fetchall())


def _tables(db) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.fixture
def db(tmp_path):
    return tmp_path / "items.db"


def _loader(db, **attrs):
    """A CopyToTable subclass loading ITEMS into ``db`` (attributes override)."""
    body = {
        "connection_string": f"sqlite:///{db}",
        "table": "item_property",
        "columns": COLUMNS,
        "rows": lambda self: iter(ITEMS),
        **attrs,
    }
    return type("LoadItems", (sqla.CopyToTable,), body)


def test_rows_are_loaded_and_the_marker_written(db):
    Load = _loader(db)
    task = Load()
    assert not task.complete()
    assert nbpipe.build([task], local_scheduler=True)
    assert _rows(db) == ITEMS
    assert _markers(db) == [(task.task_id, "item_property")]
    assert task.complete()
    assert Load().output().exists()  # a fresh target (fresh binding) sees it too


def test_a_second_run_inserts_nothing(db):
    Load = _loader(db)
    assert nbpipe.build([Load()], local_scheduler=True)
    result = nbpipe.build([Load()], local_scheduler=True, detailed_summary=True)
    assert "1 complete ones were encountered" in result.summary_text
    assert "ran successfully" not in result.summary_text
    assert _rows(db) == ITEMS


def test_default_rows_read_the_input_split_on_column_separator(db, tmp_path):
    class Items(nbpipe.Task):
        def output(self):
            return nbpipe.LocalTarget(tmp_path / "items.csv")

        def run(self):
            with self.output().open("w") as f:
                f.writelines(f"{a},{b}\n" for a, b in ITEMS)

    class LoadCsv(sqla.CopyToTable):
        connection_string = f"sqlite:///{db}"
        table = "item_property"
        columns = COLUMNS
        column_separator = ","
        chunk_size = 3  # several executemany chunks, one transaction

        def requires(self):
            return Items()

    task = LoadCsv()
    assert nbpipe.build([task], local_scheduler=True)
    assert _rows(db) == ITEMS
    assert list(task.rows()) == [list(r) for r in ITEMS]


def test_reflect_loads_into_an_existing_table(db):
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE item_property (item TEXT, property TEXT, note TEXT DEFAULT 'made outside')")
    Load = _loader(db, reflect=True, columns=[])
    assert nbpipe.build([Load()], local_scheduler=True)
    assert _rows(db) == [(a, b, "made outside") for a, b in ITEMS]


def test_reflect_without_the_table_fails_the_task(db):
    Load = _loader(db, reflect=True, columns=[])
    result = nbpipe.build([Load()], local_scheduler=True, detailed_summary=True)
    assert result.status.name == "FAILED"
    assert "item_property" not in _tables(db)


def test_copy_can_be_overridden_to_update(db):
    Load = _loader(db)
    assert nbpipe.build([Load()], local_scheduler=True)

    class Rename(sqla.CopyToTable):
        connection_string = f"sqlite:///{db}"
        table = "item_property"
        reflect = True

        def rows(self):
            return iter([("renamed3", "property3"), ("renamed7", "property7")])

        def copy(self, conn, ins_rows, table_bound):
            update = (
                table_bound.update()
                .where(table_bound.c.property == sqlalchemy.bindparam("_property"))
                .values({table_bound.c.item: sqlalchemy.bindparam("_item")})
            )
            conn.execute(update, ins_rows)

    assert nbpipe.build([Rename()], local_scheduler=True)
    expected = sorted(
        [("renamed3" if b == "property3" else "renamed7" if b == "property7" else a, b) for a, b in ITEMS]
    )
    assert _rows(db) == expected


def test_a_failure_part_way_leaves_neither_rows_nor_marker(db):
    def rows(self):
        yield from ITEMS[:5]
        raise RuntimeError("source went away")

    Load = _loader(db, rows=rows, chunk_size=2)
    task = Load()
    assert not nbpipe.build([task], local_scheduler=True)
    assert _rows(db) == []
    assert _markers(db) == []
    assert not task.complete()
    # the rerun, once the source is back, loads everything exactly once
    assert nbpipe.build([_loader(db)()], local_scheduler=True)
    assert _rows(db) == ITEMS


def test_marker_table_name_comes_from_the_configuration(db):
    with configuration.scoped_overrides():
        configuration.set_option("sqlalchemy", "marker-table", "loads_done")
        task = _loader(db)()
        assert nbpipe.build([task], local_scheduler=True)
    assert "loads_done" in _tables(db) and "table_updates" not in _tables(db)
    assert _markers(db, "loads_done") == [(task.task_id, "item_property")]


def test_create_table_needs_columns(db):
    task = _loader(db, columns=[])()
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    with pytest.raises(NotImplementedError, match="item_property"):
        task.create_table(engine)
    with pytest.raises(NotImplementedError):
        _loader(db, columns=[(["item", sqlalchemy.String(8)],)])().create_table(engine)


def test_create_table_twice_binds_to_the_existing_table(db):
    task = _loader(db)()
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    task.create_table(engine)
    task.create_table(engine)
    assert [c.name for c in task.table_bound.columns] == ["item", "property"]
    assert "item_property" in _tables(db)


def test_connection_string_and_table_are_required():
    class Incomplete(sqla.CopyToTable):
        columns = COLUMNS

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


def test_target_touch_exists_and_pickling(db):
    target = sqla.SQLAlchemyTarget(f"sqlite:///{db}", "some_table", "update-1")
    assert not target.exists()
    assert target.fingerprint() is None
    target.touch()
    assert target.exists()
    assert target.fingerprint().startswith("inserted=20")  # what staleness checks compare
    target.touch()  # touching again updates the same row
    assert _markers(db) == [("update-1", "some_table")]
    again = pickle.loads(pickle.dumps(target))
    assert again.exists()
    assert not sqla.SQLAlchemyTarget(f"sqlite:///{db}", "other_table", "update-1").exists()
    with pytest.raises(NotImplementedError):
        target.open("r")


def test_each_database_has_its_own_engine(tmp_path):
    one = sqla.SQLAlchemyTarget(f"sqlite:///{tmp_path / 'one.db'}", "t", "u")
    two = sqla.SQLAlchemyTarget(f"sqlite:///{tmp_path / 'two.db'}", "t", "u")
    assert one.engine is not two.engine
    assert one.engine is sqla.SQLAlchemyTarget(one.connection_string, "x", "y").engine


class OneItem(sqla.CopyToTable):
    """One row per task, all into one SQLite file (module level: worker processes import it)."""

    path = nbpipe.Parameter()
    item = nbpipe.Parameter()
    table = "item_property"
    columns = COLUMNS
    connect_args = {"timeout": 30.0}  # SQLite serialises writers; wait for the lock

    @property
    def connection_string(self):
        return f"sqlite:///{self.path}"

    def rows(self):
        yield (self.item, self.item.replace("item", "property"))


class AllItems(nbpipe.WrapperTask):
    path = nbpipe.Parameter()

    def requires(self):
        return [OneItem(path=self.path, item=item) for item, _ in ITEMS]


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_many_loaders_into_one_database_with_two_workers(db, executor):
    root = AllItems(path=str(db))
    result = nbpipe.build([root], local_scheduler=True, workers=2, executor=executor, detailed_summary=True)
    assert result.status.name == "SUCCESS", result.summary_text
    assert _rows(db) == ITEMS
    assert len(_markers(db)) == len(ITEMS)
    assert root.complete()


def test_luigi_import_path_gives_this_module():
    code = (
        "import sys; sys.path.insert(0, 'tests/luigi_suite'); import luigi_alias; "
        "from luigi.contrib.sqla import CopyToTable, SQLAlchemyTarget; "
        "import nbpipe.contrib.sqla as m; assert CopyToTable is m.CopyToTable and SQLAlchemyTarget is m.SQLAlchemyTarget; "
        "print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_without_sqlalchemy_one_clear_error_names_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['sqlalchemy'] = None\n"
        "from nbpipe.contrib.sqla import SQLAlchemyTarget\n"  # importing the module works
        "from nbpipe.contrib import MissingDependencyError\n"
        f"t = SQLAlchemyTarget('sqlite:///{tmp_path}/x.db', 't', 'u')\n"
        "try:\n    t.exists()\nexcept MissingDependencyError as e:\n    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "pip install 'nbpipe[sqla]'" in proc.stdout, proc.stderr
    assert issubclass(MissingDependencyError, ImportError)
