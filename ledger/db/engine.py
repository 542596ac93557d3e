"""Opening the service database and migrating it (Alembic, run from code: no manual step).

URLs: ``sqlite:///path/to/ledger.db`` or ``postgresql://user@host:port/db`` (also spelled
``postgresql+psycopg://``; always psycopg 3). :func:`upgrade` is what the service calls at start;
it is safe to call from several processes at once (PostgreSQL: an advisory lock; SQLite: the
write lock of ``BEGIN IMMEDIATE``) and a no-op when the database is already at head.

The migrations live in ``migrations/`` at the repository root (``alembic.ini`` there points the
``alembic`` command line at them as well).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ledger.db._engine import BEGIN_OPTION, make_engine
from ledger.db.database import Database
from ledger.db.errors import DatabaseError
from ledger.errors import ConfigurationError

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

#: Key of the PostgreSQL advisory lock that serializes concurrent migrations ("ledgerdb").
_MIGRATION_LOCK = 0x6C6564676572_6462


def open_database(url: str) -> Database:
    """A :class:`Database` on ``url`` (not migrated: call :func:`upgrade` first, once)."""
    try:
        return Database(make_engine(url))
    except ValueError as error:
        raise ConfigurationError(f"database URL: {error}") from error
    except sa.exc.ArgumentError as error:
        raise ConfigurationError(f"database URL {url!r} is malformed: {error}") from error


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
