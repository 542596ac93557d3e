"""Alembic environment of the ledger's service database.

Run from code by :func:`ledger.db.upgrade` (which hands over an open connection inside a
transaction), or by the ``alembic`` command line through ``alembic.ini`` at the repository root:
the URL is then ``-x url=...``, or else the one the ledger's settings resolve
(``LEDGER_DATABASE_URL``; empty means SQLite at ``<LEDGER_DATA_DIR>/ledger.db``).
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import context

from ledger.db.engine import BEGIN_OPTION, make_engine
from ledger.db.schema import metadata

config = context.config

#: Expression indexes autogenerate can neither reflect nor compare: kept out of comparisons.
EXPRESSION_INDEXES = frozenset({"uq_batches_one_unfinished"})


warnings.filterwarnings(
    "ignore", "Skipped unsupported reflection of expression-based index", sa.exc.SAWarning
)


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: later revisions copy tables
        compare_type=True,
        include_object=include_object,
    )


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    from ledger.settings import Settings

    return Settings().resolved_database_url


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            connection.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a database")
run_migrations_online()
