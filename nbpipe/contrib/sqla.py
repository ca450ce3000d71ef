"""Load rows into any database SQLAlchemy reaches: ``CopyToTable`` and ``SQLAlchemyTarget``.

Luigi's API (``luigi.contrib.sqla``), on SQLAlchemy 2::

    import sqlalchemy
    from nbpipe.contrib import sqla

    class LoadItems(sqla.CopyToTable):
        connection_string = "sqlite:///items.db"
        table = "item_property"
        columns = [(["item", sqlalchemy.String(64)], {"primary_key": True}),
                   (["property", sqlalchemy.String(64)], {})]

        def rows(self):                      # default: the input's lines, split on column_separator
            yield ("item1", "property1")

A task is complete when its *marker row* exists: one row per ``update_id()``
(the task id by default) and table in the marker table (``table_updates``,
or ``[sqlalchemy] marker-table`` in the configuration).  The rows of a run
and its marker row are written in **one transaction**: a run that fails
part-way leaves neither, so a rerun never inserts a row twice (Luigi
commits the marker separately, after the data).  ``reflect = True`` loads
into an existing table without declaring ``columns``; override
:meth:`CopyToTable.copy` to update instead of insert, and
:meth:`CopyToTable.create_table` to make the table another way.

Engines are cached per connection string and process (a worker process
makes its own).  ``sqlalchemy`` is imported on first use; without it, a
:class:`~nbpipe.contrib.MissingDependencyError` says ``pip install 'nbpipe[sqla]'``.
"""

from __future__ import annotations

import abc
import collections
import datetime
import itertools
import logging
import os
from typing import Any, ClassVar, Optional

from nbpipe import configuration
from nbpipe.contrib import require
from nbpipe.target import Target
from nbpipe.task import Task

__all__ = ["CopyToTable", "SQLAlchemyTarget"]

logger = logging.getLogger("nbpipe.contrib.sqla")


def _sa() -> Any:
    return require("sqlalchemy", "sqla", "nbpipe.contrib.sqla")


def _already_exists(err: Exception) -> bool:
    """A CREATE TABLE lost a race with another worker (the message differs per database)."""
    return "already exists" in str(err).lower()


class SQLAlchemyTarget(Target):
    """Done when the marker table has a row for (``update_id``, ``target_table``).

    Usually made by :meth:`CopyToTable.output`.  ``connect_args`` go to the
    DBAPI's ``connect()``; ``echo`` turns on SQLAlchemy's SQL logging.
    """

    marker_table: Optional[str] = None
    _engine_dict: ClassVar[dict[str, Any]] = {}  # connection string -> Connection(engine, pid)
    Connection = collections.namedtuple("Connection", "engine pid")

    def __init__(
        self,
        connection_string: str,
        target_table: str,
        update_id: str,
        echo: bool = False,
        connect_args: Optional[dict[str, Any]] = None,
    ):
        self.connection_string = connection_string
        self.target_table = target_table
        self.update_id = update_id
        self.echo = echo
        self.connect_args = dict(connect_args or {})
        self.marker_table_bound: Any = None

    def __str__(self) -> str:
        return self.target_table

    def __repr__(self) -> str:
        return f"SQLAlchemyTarget({self.connection_string!r}, {self.target_table!r}, {self.update_id!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "marker_table_bound": None}  # rebuilt from the database where used

    @property
    def engine(self) -> Any:
        """The engine for the connection string, made once per process (not shared across a fork)."""
        pid = os.getpid()
        cached = SQLAlchemyTarget._engine_dict.get(self.connection_string)
        if cached is None or cached.pid != pid:
            engine = _sa().create_engine(self.connection_string, connect_args=self.connect_args, echo=self.echo)
            cached = SQLAlchemyTarget._engine_dict[self.connection_string] = self.Connection(engine, pid)
        return cached.engine

    def create_marker_table(self) -> None:
        """Create the marker table unless it exists, and bind to it."""
        sa = _sa()
        if self.marker_table is None:
            self.marker_table = configuration.get_config().get("sqlalchemy", "marker-table", "table_updates")
        engine = self.engine
        metadata = sa.MetaData()
        table = sa.Table(
            self.marker_table,
            metadata,
            sa.Column("update_id", sa.String(128), primary_key=True),
            sa.Column("target_table", sa.String(128)),
            sa.Column("inserted", sa.DateTime, default=datetime.datetime.now),
        )
        try:
            metadata.create_all(engine, checkfirst=True)
        except sa.exc.DatabaseError as err:
            if not _already_exists(err):
                raise
        self.marker_table_bound = table

    def _marker_row(self, conn: Any) -> Any:
        sa = _sa()
        table = self.marker_table_bound
        query = (
            sa.select(table.c.update_id)
            .where(table.c.update_id == self.update_id, table.c.target_table == self.target_table)
            .limit(1)
        )
        return conn.execute(query).first()

    def exists(self) -> bool:
        if self.marker_table_bound is None:
            self.create_marker_table()
        with self.engine.connect() as conn:
            return self._marker_row(conn) is not None

    def fingerprint(self) -> Optional[str]:
        """``"inserted=<time>"`` of the marker row (changes with each load), or None when absent."""
        sa = _sa()
        if self.marker_table_bound is None:
            self.create_marker_table()
        table = self.marker_table_bound
        query = sa.select(table.c.inserted).where(
            table.c.update_id == self.update_id, table.c.target_table == self.target_table
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else f"inserted={row[0].isoformat() if row[0] else ''}"

    def touch(self, connection: Any = None) -> None:
        """Record this update as done: in ``connection``'s transaction when given, else in its own."""
        if self.marker_table_bound is None:
            self.create_marker_table()
        if connection is None:
            with self.engine.begin() as conn:
                self._touch(conn)
        else:
            self._touch(connection)

    def _touch(self, conn: Any) -> None:
        table = self.marker_table_bound
        values = {"update_id": self.update_id, "target_table": self.target_table, "inserted": datetime.datetime.now()}
        if self._marker_row(conn) is None:
            conn.execute(table.insert().values(**values))
        else:
            match = (table.c.update_id == self.update_id) & (table.c.target_table == self.target_table)
            conn.execute(table.update().where(match).values(**values))

    def open(self, mode: str = "r"):
        raise NotImplementedError("Cannot open() SQLAlchemyTarget")


class CopyToTable(Task):
    """Inserts :meth:`rows` into ``table``; override ``connection_string``, ``table`` and ``columns``.

    ``columns``: a list of ``([name, type, *column_args], {column keyword arguments})``
    pairs, given to ``sqlalchemy.Column``.  ``schema``: the table's schema
    (empty: the default one).  ``chunk_size``: rows per ``executemany``.
    """

    echo = False
    connect_args: ClassVar[dict[str, Any]] = {}
    columns: ClassVar[list[Any]] = []
    schema = ""
    column_separator = "\t"
    chunk_size = 5000
    reflect = False  # True: bind to the existing table instead of creating it from ``columns``

    @property
    @abc.abstractmethod
    def connection_string(self) -> str:
        """The SQLAlchemy URL of the database."""

    @property
    @abc.abstractmethod
    def table(self) -> str:
        """The name of the table to load."""

    def create_table(self, engine: Any) -> None:
        """Create the table from ``columns`` unless it exists; bind ``self.table_bound`` to it.

        With ``reflect = True`` the table must exist and is only reflected.
        Raises NotImplementedError when ``columns`` is empty or malformed (and
        ``reflect`` is False).
        """
        sa = _sa()
        if not self.reflect and (not self.columns or any(len(c) != 2 for c in self.columns)):
            raise NotImplementedError(
                f"create_table() not implemented for {self.table!r} and columns types not specified"
            )
        metadata = sa.MetaData(schema=self.schema or None)
        if not self.reflect and not sa.inspect(engine).has_table(self.table, schema=self.schema or None):
            table = sa.Table(self.table, metadata, *(sa.Column(*args, **kwargs) for args, kwargs in self.columns))
            try:
                metadata.create_all(engine, checkfirst=True)
                self.table_bound = table
                return
            except sa.exc.DatabaseError as err:
                if not _already_exists(err):
                    raise
                metadata = sa.MetaData(schema=self.schema or None)  # another worker made it: reflect theirs
        self.table_bound = sa.Table(self.table, metadata, autoload_with=engine)

    def update_id(self) -> str:
        """What identifies this load in the marker table (the task id)."""
        return self.task_id

    def output(self) -> SQLAlchemyTarget:
        return SQLAlchemyTarget(
            connection_string=self.connection_string,
            target_table=self.table,
            update_id=self.update_id(),
            connect_args=self.connect_args,
            echo=self.echo,
        )

    def rows(self):
        """The rows to insert, each a sequence in column order: by default the input's lines,
        split on ``column_separator``."""
        with self.input().open("r") as f:
            for line in f:
                yield line.strip("\n").split(self.column_separator)

    def run(self) -> None:
        logger.info("Running task copy to table for update id %s for table %s", self.update_id(), self.table)
        output = self.output()
        engine = output.engine
        self.create_table(engine)
        output.create_marker_table()
        keys = ["_" + column.key for column in self.table_bound.columns]
        rows = iter(self.rows())
        inserted = 0
        with engine.begin() as conn:
            while chunk := [dict(zip(keys, row, strict=False)) for row in itertools.islice(rows, self.chunk_size)]:
                self.copy(conn, chunk, self.table_bound)
                inserted += len(chunk)
            output.touch(conn)
        logger.info("Finished inserting %d rows into SQLAlchemy target %s", inserted, self.table)

    def copy(self, conn: Any, ins_rows: list[dict[str, Any]], table_bound: Any) -> None:
        """Write one chunk.  ``ins_rows`` are dicts keyed ``_<column name>`` (bind parameter names),
        the first ``len(row)`` columns of the table; columns a row leaves out get their defaults.
        Override to update rather than insert."""
        sa = _sa()
        given = set(ins_rows[0]) if ins_rows else set()  # rows shorter than the table: the rest get defaults
        bound = {c: sa.bindparam("_" + c.key) for c in table_bound.columns if "_" + c.key in given}
        statement = table_bound.insert().values(bound)
        conn.execute(statement, ins_rows)
