"""Engines with the settings the ledger's guarantees rely on, and the migrations that shape them.

SQLite: WAL journal, ``synchronous=FULL`` (a commit is on disk when it returns), foreign keys
on, ``secure_delete`` (deleted content is overwritten with zeros), a busy timeout, and
transactions begun by us (the ``sqlite3`` module's legacy mode does not begin one before a
SELECT): ``BEGIN IMMEDIATE`` for writes, so a write transaction holds the
database's write lock from its first statement and never fails half-way on a lock upgrade.

PostgreSQL through psycopg 3 (``postgresql+psycopg://``), READ COMMITTED; writes take row locks
(``FOR UPDATE``, ``FOR UPDATE SKIP LOCKED`` for claiming outbox rows) where they read-then-write.

Migrations (Alembic, run from code: no manual step). URLs: ``sqlite:///path/to/ledger.db`` or
``postgresql://user@host:port/db`` (also spelled ``postgresql+psycopg://``; always psycopg 3).
:func:`upgrade` is what the service calls at start; it is safe to call from several processes at
once (PostgreSQL: an advisory lock; SQLite: the write lock of ``BEGIN IMMEDIATE``) and a no-op
when the database is already at head. The migrations live in ``migrations/`` at the repository
root (``alembic.ini`` there points the ``alembic`` command line at them as well).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url

from ledger.db.errors import DatabaseError
from ledger.errors import ConfigurationError

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


# -- migrations ------------------------------------------------------------------------------

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

#: Key of the PostgreSQL advisory lock that serializes concurrent migrations ("ledgerdb").
_MIGRATION_LOCK = 0x6C6564676572_6462


def alembic_config() -> Config:
    """Alembic's configuration for the ledger's migrations (the URL is passed per command)."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise ConfigurationError(f"the database migrations are missing from {MIGRATIONS_DIR}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    """The revision the database is at (None: not migrated at all)."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except sa.exc.SQLAlchemyError as error:
        raise DatabaseError(f"database failure: {error}") from error
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (default: the latest)."""
    _run(url, lambda config: command.upgrade(config, revision))


def downgrade(url: str, revision: str) -> None:
    """Migrate down to ``revision`` (``base``: drop everything). For development and tests."""
    _run(url, lambda config: command.downgrade(config, revision))


def _engine(url: str) -> sa.Engine:
    try:
        return make_engine(url)
    except ValueError as error:
        raise ConfigurationError(f"database URL: {error}") from error


def _run(url: str, migrate: Callable[[Config], None]) -> None:
    config = alembic_config()
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
                config.attributes["connection"] = conn
                migrate(config)
    except sa.exc.SQLAlchemyError as error:
        raise DatabaseError(f"migrating the database failed: {error}") from error
    finally:
        engine.dispose()
