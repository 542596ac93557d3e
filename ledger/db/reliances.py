"""Reliances: each account this member opened on another member's KYC (member B's record of what
it relied on), and the ends of attestations and grants the lifecycle feed reported.

A reliance names the agreement, the attestation, the grant and the access receipt of the
release, the attester, the member itself, the fields, when, and the attestation's expiry. It
is ``ok`` until something it relied on ends; then it ``needs-reverification``, with the reason
(:data:`~ledger.db.schema.RELIANCE_REASONS`) and the time the end took effect, and stays so (the
first end that applied is the one kept).

:meth:`Reliances.apply_lifecycle` takes what one poll of the feed found (the ends, the expiries
passed by then, the next block to read) in one transaction: a crash loses no event and marks
nothing twice. Ends are kept (``lifecycle_ends``), so a reliance recorded after its
attestation's or grant's end was read (its check and the end crossed) is marked as it is
inserted. On PostgreSQL both take one transaction-level advisory lock, so they cannot cross
each other's reads; SQLite's writers are serialized anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import sqlalchemy as sa

from ledger.db import schema
from ledger.db._checks import check_agreement_id, check_aware, check_bytes, check_int, check_text
from ledger.db._plumbing import Transactions
from ledger.db.errors import Conflict

__all__ = [
    "LifecycleEnd",
    "Reliance",
    "RelianceReason",
    "RelianceStatus",
    "Reliances",
]

_r = schema.reliances
_le = schema.lifecycle_ends
_fc = schema.feed_cursors
#: The advisory lock (PostgreSQL) that orders recording a reliance and applying the feed.
_LOCK_KEY = 0x6C65646765720008  # "ledger", migration 0008


class RelianceStatus(StrEnum):
    OK = "ok"
    NEEDS_REVERIFICATION = "needs-reverification"


class RelianceReason(StrEnum):
    """Why a reliance needs the customer verified again."""

    ATTESTATION_REVOKED = "attestation-revoked"
    ATTESTATION_SUPERSEDED = "attestation-superseded"
    ATTESTATION_EXPIRED = "attestation-expired"
    GRANT_REVOKED = "grant-revoked"


assert tuple(RelianceReason) == schema.RELIANCE_REASONS
assert tuple(RelianceStatus) == schema.RELIANCE_STATUSES


@dataclass(frozen=True)
class Reliance:
    """An account opened on a reused identity, and whether what it relied on still holds."""

    agreement_id: str
    attestation_id: bytes
    grant_id: bytes
    receipt_id: str
    attester: str
    member: str
    fields: tuple[str, ...]
    relied_at: datetime
    expires_at: datetime  # the attestation's expiry
    status: RelianceStatus = RelianceStatus.OK
    reason: RelianceReason | None = None
    affected_at: datetime | None = None


@dataclass(frozen=True)
class LifecycleEnd:
    """An attestation or grant that ended (revoked, superseded; a grant revoked by a revocation
    whose signature verifies), when, and the block that said so."""

    kind: Literal["attestation", "grant"]
    record_id: bytes
    reason: RelianceReason
    ended_at: datetime
    block: int


def _check_reliance(reliance: Reliance) -> None:
    if not isinstance(reliance, Reliance):
        raise ValueError(f"a Reliance is recorded, not {type(reliance).__name__}")
    check_agreement_id(reliance.agreement_id)
    check_bytes("attestation_id", reliance.attestation_id, 32)
    check_bytes("grant_id", reliance.grant_id, 32)
    check_text("receipt_id", reliance.receipt_id)
    check_text("attester", reliance.attester)
    check_text("member", reliance.member)
    if not reliance.fields or not all(isinstance(f, str) and f for f in reliance.fields):
        raise ValueError(f"a reliance names the fields relied on, got {reliance.fields!r}")
    check_aware("relied_at", reliance.relied_at)
    check_aware("expires_at", reliance.expires_at)
    if reliance.status is not RelianceStatus.OK:
        raise ValueError("a reliance is recorded ok; the lifecycle feed marks it")


def _check_end(end: LifecycleEnd) -> None:
    if end.kind not in ("attestation", "grant"):
        raise ValueError(f"an end is of an attestation or a grant, not {end.kind!r}")
    check_bytes("record_id", end.record_id, 32)
    RelianceReason(end.reason)
    check_aware("ended_at", end.ended_at)
    check_int("block", end.block, minimum=0)


class Reliances:
    """The ``reliances``, ``lifecycle_ends`` and ``feed_cursors`` tables; one transaction per
    method."""

    def __init__(self, transactions: Transactions) -> None:
        self._transaction = transactions.transaction

    def record_reliance(self, reliance: Reliance) -> Reliance:
        """Store ``reliance`` (``ok``), marked at once if the feed already reported an end of its
        attestation or grant; returned as stored. The same reliance again is a no-op; another
        one under a stored receipt or agreement is a :class:`Conflict`."""
        _check_reliance(reliance)
        row = {
            "receipt_id": reliance.receipt_id,
            "agreement_id": reliance.agreement_id,
            "attestation_id": reliance.attestation_id,
            "grant_id": reliance.grant_id,
            "attester": reliance.attester,
            "member": reliance.member,
            "fields": list(reliance.fields),
            "relied_at": reliance.relied_at,
            "expires_at": reliance.expires_at,
            "status": RelianceStatus.OK.value,
        }
        with self._transaction(write=True) as conn:
            _lock(conn)
            stored = conn.execute(sa.select(_r).where(_r.c.receipt_id == reliance.receipt_id))
            found = stored.first()
            if found is not None:
                same = _reliance(found)
                if (same.agreement_id, same.grant_id, same.fields) != (
                    reliance.agreement_id,
                    reliance.grant_id,
                    tuple(reliance.fields),
                ):
                    raise Conflict(f"another reliance is stored for {reliance.receipt_id}")
                return same
            conn.execute(sa.insert(_r), row)
            ends = conn.execute(
                sa.select(_le)
                .where(
                    sa.or_(
                        sa.and_(
                            _le.c.kind == "attestation", _le.c.record_id == reliance.attestation_id
                        ),
                        sa.and_(_le.c.kind == "grant", _le.c.record_id == reliance.grant_id),
                    )
                )
                .order_by(_le.c.ended_at)
            ).all()
            for end in ends:
                _mark(conn, _end(end))
            return _reliance(
                conn.execute(sa.select(_r).where(_r.c.receipt_id == reliance.receipt_id)).one()
            )

    def reliance(self, agreement_id: str) -> Reliance | None:
        """The reliance of the account agreement ``agreement_id``, if it was opened on one."""
        with self._transaction() as conn:
            row = conn.execute(sa.select(_r).where(_r.c.agreement_id == agreement_id)).first()
        return None if row is None else _reliance(row)

    def reliances_between(self, start: datetime, end: datetime) -> list[Reliance]:
        """Every reliance with ``start <= relied_at < end``, oldest first."""
        check_aware("start", start)
        check_aware("end", end)
        if end < start:
            raise ValueError(f"a period ends after it starts: {start} .. {end}")
        query = _ordered(sa.select(_r).where(_r.c.relied_at >= start, _r.c.relied_at < end))
        with self._transaction() as conn:
            return [_reliance(row) for row in conn.execute(query)]

    def affected_reliances(self) -> list[Reliance]:
        """Every reliance that needs the customer verified again, oldest first."""
        query = _ordered(
            sa.select(_r).where(_r.c.status == RelianceStatus.NEEDS_REVERIFICATION.value)
        )
        with self._transaction() as conn:
            return [_reliance(row) for row in conn.execute(query)]

    def relied_on(self, *, grant_ids: Iterable[bytes]) -> set[bytes]:
        """Which of ``grant_ids`` some reliance here relies on."""
        wanted = list(set(grant_ids))
        if not wanted:
            return set()
        query = sa.select(_r.c.grant_id).where(_r.c.grant_id.in_(wanted)).distinct()
        with self._transaction() as conn:
            return {bytes(g) for g in conn.execute(query).scalars()}

    def lifecycle_ends(self, *, attestation_id: bytes, grant_id: bytes) -> list[LifecycleEnd]:
        """What the feed reported ended of the attestation and the grant, earliest first."""
        check_bytes("attestation_id", attestation_id, 32)
        check_bytes("grant_id", grant_id, 32)
        query = (
            sa.select(_le)
            .where(
                sa.or_(
                    sa.and_(_le.c.kind == "attestation", _le.c.record_id == attestation_id),
                    sa.and_(_le.c.kind == "grant", _le.c.record_id == grant_id),
                )
            )
            .order_by(_le.c.ended_at)
        )
        with self._transaction() as conn:
            return [_end(row) for row in conn.execute(query)]

    def feed_cursor(self, feed: str) -> int | None:
        """The next block ``feed`` reads (None: it never ran)."""
        with self._transaction() as conn:
            found = conn.execute(sa.select(_fc.c.next_block).where(_fc.c.feed == feed)).scalar()
        return None if found is None else int(found)

    def apply_lifecycle(
        self,
        feed: str,
        *,
        ends: Sequence[LifecycleEnd],
        expired_by: datetime,
        next_block: int,
        now: datetime,
    ) -> int:
        """One poll of ``feed``, in one transaction: keep ``ends``, mark the ``ok`` reliances on
        each (earliest end first; an attestation that expired before the end is marked expired),
        mark those whose attestation expired by ``expired_by`` (the chain's time), and move the
        cursor to ``next_block``. How many reliances were marked."""
        check_text("feed", feed)
        for end in ends:
            _check_end(end)
        check_aware("expired_by", expired_by)
        check_int("next_block", next_block, minimum=0)
        check_aware("now", now)
        marked = 0
        with self._transaction(write=True) as conn:
            _lock(conn)
            for end in sorted(ends, key=lambda e: (e.ended_at, e.block)):
                marked += _mark_expired(conn, end.ended_at)
                exists = conn.execute(
                    sa.select(_le.c.kind).where(
                        _le.c.kind == end.kind, _le.c.record_id == end.record_id
                    )
                ).first()
                if exists is None:  # a re-read of the same blocks keeps the first
                    conn.execute(
                        sa.insert(_le),
                        {
                            "kind": end.kind,
                            "record_id": end.record_id,
                            "reason": end.reason.value,
                            "ended_at": end.ended_at,
                            "block": end.block,
                        },
                    )
                marked += _mark(conn, end)
            marked += _mark_expired(conn, expired_by)
            updated = conn.execute(
                sa.update(_fc)
                .where(_fc.c.feed == feed)
                .values(next_block=next_block, updated_at=now)
            ).rowcount
            if not updated:
                conn.execute(
                    sa.insert(_fc), {"feed": feed, "next_block": next_block, "updated_at": now}
                )
        return marked


def _lock(conn: sa.Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))


def _mark(conn: sa.Connection, end: LifecycleEnd) -> int:
    column = _r.c.attestation_id if end.kind == "attestation" else _r.c.grant_id
    return int(
        conn.execute(
            sa.update(_r)
            .where(column == end.record_id, _r.c.status == RelianceStatus.OK.value)
            .values(
                status=RelianceStatus.NEEDS_REVERIFICATION.value,
                reason=end.reason.value,
                affected_at=end.ended_at,
            )
        ).rowcount
    )


def _mark_expired(conn: sa.Connection, by: datetime) -> int:
    return int(
        conn.execute(
            sa.update(_r)
            .where(_r.c.expires_at <= by, _r.c.status == RelianceStatus.OK.value)
            .values(
                status=RelianceStatus.NEEDS_REVERIFICATION.value,
                reason=RelianceReason.ATTESTATION_EXPIRED.value,
                affected_at=_r.c.expires_at,
            )
        ).rowcount
    )


def _ordered(query: sa.Select[Any]) -> sa.Select[Any]:
    return query.order_by(_r.c.relied_at, _r.c.receipt_id)


def _reliance(row: Any) -> Reliance:
    return Reliance(
        agreement_id=row.agreement_id,
        attestation_id=bytes(row.attestation_id),
        grant_id=bytes(row.grant_id),
        receipt_id=row.receipt_id,
        attester=row.attester,
        member=row.member,
        fields=tuple(row.fields),
        relied_at=row.relied_at,
        expires_at=row.expires_at,
        status=RelianceStatus(row.status),
        reason=None if row.reason is None else RelianceReason(row.reason),
        affected_at=row.affected_at,
    )


def _end(row: Any) -> LifecycleEnd:
    return LifecycleEnd(
        kind=row.kind,
        record_id=bytes(row.record_id),
        reason=RelianceReason(row.reason),
        ended_at=row.ended_at,
        block=int(row.block),
    )
