"""Engines with the settings the ledger's guarantees rely on (plumbing of ``ledger.db``).

SQLite: WAL journal, ``synchronous=FULL`` (a commit is on disk when it returns), foreign keys
on, ``secure_delete`` (deleted content is overwritten with zeros), a busy timeout, and
transactions begun by us (the ``sqlite3`` module's legacy mode does not begin one before a
SELECT): ``BEGIN IMMEDIATE`` for writes, so a write transaction holds the
database's write lock from its first statement and never fails half-way on a lock upgrade.

PostgreSQL through psycopg 3 (``postgresql+psycopg://``), READ COMMITTED; writes take row locks
(``FOR UPDATE``, ``FOR UPDATE SKIP LOCKED`` for claiming outbox rows) where they read-then-write.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

#: Execution option naming how a SQLite transaction begins (``DEFERRED`` or ``IMMEDIATE``).
BEGIN_OPTION = "ledger_sqlite_begin"

#: Milliseconds a statement waits for a lock (SQLite's write lock, PostgreSQL's row locks).
LOCK_TIMEOUT_MS = 15_000


def normalize_url(url: str | URL) -> URL:
    """``postgres://`` and ``postgresql://`` mean psycopg 3; ``sqlite://`` the stdlib driver."""
    parsed = make_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        if parsed.drivername in ("postgres", "postgresql"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_driver_name() != "psycopg":
            raise ValueError(f"PostgreSQL is reached through psycopg 3, not {parsed.drivername}")
    elif backend == "sqlite":
        if parsed.drivername != "sqlite":
            raise ValueError(
                f"SQLite is reached through the standard library, not {parsed.drivername}"
            )
    else:
        raise ValueError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")
    return parsed


def make_engine(url: str | URL) -> sa.Engine:
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return sa.create_engine(
        parsed,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": 10,
            "options": f"-c lock_timeout={LOCK_TIMEOUT_MS} -c timezone=UTC",
        },
    )


def _sqlite_engine(url: URL) -> sa.Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": LOCK_TIMEOUT_MS / 1000},
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={LOCK_TIMEOUT_MS}")
            _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted content is zeroed on disk, so erased document keys (crypto-shredding)
            # do not linger in free space of the file once the WAL is checkpointed.
            cursor.execute("PRAGMA secure_delete=ON")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE"):
            raise ValueError(f"unknown SQLite transaction mode {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


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


def _enable_wal(cursor: Any) -> None:
    """Switch to WAL (persistent: once per database file). The switch needs the database to
    itself and SQLite does not wait for that (no busy handler), so retry while it is locked."""
    deadline = time.monotonic() + LOCK_TIMEOUT_MS / 1000
    while True:
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if mode != "wal":
                mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
            continue
        if mode not in ("wal", "memory"):
            raise sqlite3.OperationalError(f"SQLite refused WAL mode (journal_mode is {mode})")
        return
