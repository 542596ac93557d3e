"""The nonces of signed requests: insert-or-refuse, shared by every process on the database.

:meth:`RequestNonces.remember_nonce` records a (keyid, nonce) pair with the time after which its
signature is too old to be accepted anyway (``expires_at``). It is one atomic statement: an
``INSERT ... ON CONFLICT (keyid, nonce) DO UPDATE ... WHERE expires_at <= now``, which writes
a new pair, takes over the row of an expired one, and leaves a live one alone (no row
returned: a replay). Two processes racing with the same pair cannot both win: PostgreSQL's ``ON
CONFLICT`` decides on the unique key, SQLite's writers are serialized. Expired rows are
deleted in the same transaction once every :data:`PRUNE_INTERVAL` per process.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ledger.db import schema
from ledger.db._checks import check_aware
from ledger.db._plumbing import Transactions

_rn = schema.request_nonces

#: How often (by the callers' clock) a process deletes expired nonces while recording one.
PRUNE_INTERVAL = timedelta(seconds=60)
MAX_KEYID = 256
MAX_NONCE = 128


class RequestNonces:
    """The ``request_nonces`` table; one transaction per method."""

    def __init__(self, transactions: Transactions) -> None:
        self._transaction = transactions.transaction
        self._dialect = transactions.engine.dialect.name
        self._next_prune: datetime | None = None

    def remember_nonce(
        self, keyid: str, nonce: str, *, created_at: datetime, expires_at: datetime, now: datetime
    ) -> bool:
        """Record (keyid, nonce) until ``expires_at`` unless a record of it that has not expired
        at ``now`` exists; True if it was recorded (the nonce's first use in its window)."""
        for name, value, limit in (("keyid", keyid, MAX_KEYID), ("nonce", nonce, MAX_NONCE)):
            if not isinstance(value, str) or not 1 <= len(value) <= limit:
                raise ValueError(f"a {name} is a string of 1-{limit} characters")
        for name, moment in (("created_at", created_at), ("expires_at", expires_at), ("now", now)):
            check_aware(name, moment)
        if not created_at < expires_at:
            raise ValueError("a nonce expires after the signature was created")
        insert = (postgresql if self._dialect == "postgresql" else sqlite).insert(_rn)
        row = {"keyid": keyid, "nonce": nonce, "created_at": created_at, "expires_at": expires_at}
        statement = (
            insert.values(row)
            .on_conflict_do_update(
                index_elements=[_rn.c.keyid, _rn.c.nonce],
                set_={"created_at": created_at, "expires_at": expires_at},
                where=_rn.c.expires_at <= now,
            )
            .returning(_rn.c.keyid)
        )  # a row back iff one was written (rowcount is not portable)
        with self._transaction(write=True) as conn:
            if self._next_prune is None or now >= self._next_prune:
                self._next_prune = now + PRUNE_INTERVAL
                conn.execute(sa.delete(_rn).where(_rn.c.expires_at <= now))
            return conn.execute(statement).first() is not None

    def prune_nonces(self, now: datetime) -> int:
        """Delete the nonces expired at ``now``; how many there were."""
        check_aware("now", now)
        with self._transaction(write=True) as conn:
            return conn.execute(sa.delete(_rn).where(_rn.c.expires_at <= now)).rowcount
