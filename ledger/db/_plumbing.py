"""The plumbing every repository of :mod:`ledger.db` shares: :class:`Transactions` (one
transaction per call, SQLite writers queued behind a :class:`WriteLock`, errors translated once
into :mod:`ledger.db.errors`) and :class:`DriverInsert` (bulk inserts through the driver).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.compiler import SQLCompiler

from ledger.db.engine import BEGIN_OPTION
from ledger.db.errors import Conflict, DatabaseError


class Transactions:
    """Transactions on one engine (a connection pool); safe to share between threads."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._write_lock = WriteLock(engine)

    @contextlib.contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[sa.Connection]:
        """One transaction; committed when the block ends, rolled back if it raises.

        ``write``: a SQLite transaction that writes begins ``IMMEDIATE``, after taking the
        write lock. An integrity error (a unique key, a CHECK) is a :class:`Conflict`, any
        other database failure a :class:`DatabaseError`.
        """
        try:
            with (
                self._write_lock.held() if write else contextlib.nullcontext(),
                self.engine.connect() as conn,
            ):
                if write:
                    conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
                with conn.begin():
                    yield conn
        except sa_exc.IntegrityError as error:
            raise Conflict(f"refused by the database: {error.orig}") from error
        except sa_exc.SQLAlchemyError as error:
            raise DatabaseError(f"database failure: {error}") from error

    def close(self) -> None:
        self.engine.dispose()
        self._write_lock.close()


class WriteLock:
    """Serializes SQLite write transactions across threads and processes, before ``BEGIN``.

    SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps in
    growing steps (1, 2, 5, 10, ... ms) and so stalls a busy writer behind another for longer
    than the other's whole commit. Several service processes on one database file (``ledger
    serve --workers N``) write many times a second, so they queue here instead: a thread lock
    within the process, then ``flock`` on ``<database>-writelock`` between processes, both of
    which wake the next writer the moment the lock is free. Writers that do not take it (a
    migration, another tool) are still kept out by SQLite's own lock and busy timeout.
    PostgreSQL and in-memory SQLite need none of this (:meth:`held` is then a no-op).
    """

    def __init__(self, engine: sa.Engine) -> None:
        database = engine.url.database or ""
        on_file = database not in ("", ":memory:") and not database.startswith("file:")
        sqlite_file = engine.dialect.name == "sqlite" and on_file
        self._path = database + "-writelock" if sqlite_file else None
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._path is None:
            yield
            return
        with self._thread_lock:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class DriverInsert:
    """An INSERT of fixed columns run straight through the driver's executemany (submit_many's
    rows, a batch's inclusion proofs): SQLAlchemy's per-row parameter processing is most of the
    cost of writing them. The statement is compiled by SQLAlchemy once per dialect (paramstyle,
    PostgreSQL's casts); the caller passes rows (tuples, in ``columns`` order) of values already
    converted exactly as the columns' types would convert them (bytes, ints and strings as they
    are, JSON as text, times as :class:`~ledger.db.schema.UTCDateTime` would).
    ``exec_driver_sql`` keeps SQLAlchemy's error translation and cursor events."""

    def __init__(self, table: sa.Table, *columns: str) -> None:
        self._statement = sa.insert(table).values({name: sa.bindparam(name) for name in columns})
        self._columns = columns
        self._sql: dict[str, tuple[str, bool]] = {}  # per dialect: SQL, positional?

    def executemany(self, conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
        sql = self._sql.get(conn.dialect.name)
        if sql is None:
            # for_executemany: as SQLAlchemy compiles it for many rows (no RETURNING)
            compiled = self._statement.compile(dialect=conn.dialect, for_executemany=True)
            assert isinstance(compiled, SQLCompiler)
            positional = compiled.positiontup is not None
            if positional:  # SQLite: "?" placeholders, in the order of the columns
                assert tuple(compiled.positiontup or ()) == self._columns, compiled.string
            else:  # psycopg: "%(name)s" placeholders
                assert set(compiled.binds) == set(self._columns), compiled.string
            sql = self._sql[conn.dialect.name] = (compiled.string, positional)
        statement, positional = sql
        if positional:
            conn.exec_driver_sql(statement, rows)
        else:
            columns = self._columns
            conn.exec_driver_sql(statement, [dict(zip(columns, row, strict=True)) for row in rows])
