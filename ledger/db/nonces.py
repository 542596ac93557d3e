"""The nonces of signed requests: insert-or-refuse, shared by every process on the database.

:meth:`RequestNonces.remember_nonce` records a (keyid, nonce) pair with the time after which its
signature is too old to be accepted anyway (``expires_at``). It is one atomic statement: an
``INSERT ... ON CONFLICT (keyid, nonce) DO UPDATE ... WHERE expires_at <= now``, which writes
a new pair, takes over the row of an expired one, and leaves a live one alone (no row
returned: a replay). Two processes racing with the same pair cannot both win: PostgreSQL's ``ON
CONFLICT`` decides on the unique key, SQLite's writers are serialized. Expired rows are
deleted in the same transaction once every :data:`PRUNE_INTERVAL` per process.
:meth:`RequestNonces.remember_nonces` does the same for many claims in one transaction (one
commit: the service's :class:`~ledger.service._committer.NonceCommitter` groups concurrent
requests' nonces so).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

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


class NonceClaim(NamedTuple):
    """A signed request's (keyid, nonce) to remember until ``expires_at``, asked at ``now``."""

    keyid: str
    nonce: str
    created_at: datetime
    expires_at: datetime
    now: datetime


def _check(claim: NonceClaim) -> None:
    for name, value, limit in (
        ("keyid", claim.keyid, MAX_KEYID),
        ("nonce", claim.nonce, MAX_NONCE),
    ):
        if not isinstance(value, str) or not 1 <= len(value) <= limit:
            raise ValueError(f"a {name} is a string of 1-{limit} characters")
    for name, moment in (
        ("created_at", claim.created_at),
        ("expires_at", claim.expires_at),
        ("now", claim.now),
    ):
        check_aware(name, moment)
    if not claim.created_at < claim.expires_at:
        raise ValueError("a nonce expires after the signature was created")


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
        claim = NonceClaim(keyid, nonce, created_at=created_at, expires_at=expires_at, now=now)
        (recorded,) = self.remember_nonces([claim])
        return recorded

    def remember_nonces(self, claims: Sequence[NonceClaim]) -> list[bool]:
        """:meth:`remember_nonce` for each claim, in order, in one transaction (a pair claimed
        twice is recorded by the first claim only); every claim is checked before any is
        written."""
        for claim in claims:
            _check(claim)
        if not claims:
            return []
        with self._transaction(write=True) as conn:
            latest = max(claim.now for claim in claims)
            if self._next_prune is None or latest >= self._next_prune:
                self._next_prune = latest + PRUNE_INTERVAL
                conn.execute(sa.delete(_rn).where(_rn.c.expires_at <= min(c.now for c in claims)))
            return [conn.execute(self._statement(claim)).first() is not None for claim in claims]

    def _statement(self, claim: NonceClaim) -> sa.Executable:
        insert = (postgresql if self._dialect == "postgresql" else sqlite).insert(_rn)
        row = {
            "keyid": claim.keyid,
            "nonce": claim.nonce,
            "created_at": claim.created_at,
            "expires_at": claim.expires_at,
        }
        statement: sa.Executable = (
            insert.values(row)
            .on_conflict_do_update(
                index_elements=[_rn.c.keyid, _rn.c.nonce],
                set_={"created_at": claim.created_at, "expires_at": claim.expires_at},
                where=_rn.c.expires_at <= claim.now,
            )
            .returning(_rn.c.keyid)
        )  # a row back iff one was written (rowcount is not portable)
        return statement

    def prune_nonces(self, now: datetime) -> int:
        """Delete the nonces expired at ``now``; how many there were."""
        check_aware("now", now)
        with self._transaction(write=True) as conn:
            return conn.execute(sa.delete(_rn).where(_rn.c.expires_at <= now)).rowcount
