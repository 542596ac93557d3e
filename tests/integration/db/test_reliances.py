"""Reliances in the database (SQLite and PostgreSQL): recorded ok, read by period and by
agreement, marked by the lifecycle feed's ends and by expiry in one transaction with the
feed's cursor, the first end kept; an end read before its reliance was recorded marks it as it
is inserted."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from ledger.db import (
    Conflict,
    Database,
    LifecycleEnd,
    Reliance,
    RelianceReason,
    RelianceStatus,
)
from tests.integration.db._support import at, digest, new_agreement_id

T = at(0).replace(microsecond=0)
ATTESTATION = digest("attestation", 1)
GRANT = digest("grant", 1)
A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
B = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


def reliance(
    *,
    seconds: int = 0,
    attestation: bytes = ATTESTATION,
    grant: bytes = GRANT,
    expires_in: timedelta = timedelta(days=365),
) -> Reliance:
    return Reliance(
        agreement_id=new_agreement_id(),
        attestation_id=attestation,
        grant_id=grant,
        receipt_id="rcpt_" + digest("receipt", seconds, new_agreement_id()).hex()[:32],
        attester=A,
        member=B,
        fields=("family_name", "given_name"),
        relied_at=T + timedelta(seconds=seconds),
        expires_at=T + expires_in,
    )


def end(kind: str, record: bytes, reason: RelianceReason, seconds: int) -> LifecycleEnd:
    return LifecycleEnd(
        kind=kind,  # type: ignore[arg-type]
        record_id=record,
        reason=reason,
        ended_at=T + timedelta(seconds=seconds),
        block=seconds,
    )


def apply(db: Database, *ends: LifecycleEnd, by: int = 0, next_block: int = 10) -> int:
    return db.apply_lifecycle(
        "lifecycle",
        ends=list(ends),
        expired_by=T + timedelta(seconds=by),
        next_block=next_block,
        now=T,
    )


def test_a_reliance_is_recorded_ok_and_read_back(database: Database) -> None:
    made = reliance()
    assert database.record_reliance(made) == made
    assert database.record_reliance(made) == made  # a retry is a no-op
    assert database.reliance(made.agreement_id) == made
    assert database.reliance(new_agreement_id()) is None
    assert database.affected_reliances() == []
    assert database.relied_on(grant_ids=[GRANT, digest("grant", 9)]) == {GRANT}


def test_another_reliance_under_a_stored_receipt_or_agreement_is_a_conflict(
    database: Database,
) -> None:
    made = database.record_reliance(reliance())
    with pytest.raises(Conflict, match="another reliance is stored for rcpt_"):
        database.record_reliance(dataclasses.replace(made, agreement_id=new_agreement_id()))
    with pytest.raises(Conflict, match="refused by the database"):
        database.record_reliance(dataclasses.replace(reliance(), agreement_id=made.agreement_id))
    assert database.reliances_between(T, T + timedelta(days=1)) == [made]


def test_malformed_reliances_are_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="attestation_id must be 32 bytes"):
        database.record_reliance(dataclasses.replace(reliance(), attestation_id=b"\x01" * 31))
    with pytest.raises(ValueError, match="relied_at must be an aware datetime"):
        database.record_reliance(dataclasses.replace(reliance(), relied_at=T.replace(tzinfo=None)))
    with pytest.raises(ValueError, match="the lifecycle feed marks it"):
        database.record_reliance(
            dataclasses.replace(reliance(), status=RelianceStatus.NEEDS_REVERIFICATION)
        )
    assert database.reliances_between(T, T + timedelta(days=1)) == []


def test_reliances_are_read_by_period_oldest_first(database: Database) -> None:
    late, early = reliance(seconds=20), reliance(seconds=0)
    for made in (late, early):
        database.record_reliance(made)
    assert database.reliances_between(T, T + timedelta(seconds=21)) == [early, late]
    assert database.reliances_between(T, T + timedelta(seconds=20)) == [early]
    with pytest.raises(ValueError, match="a period ends after it starts"):
        database.reliances_between(T + timedelta(seconds=1), T)


def test_an_end_marks_the_reliances_on_it_with_its_reason_and_time(database: Database) -> None:
    on_it = database.record_reliance(reliance())
    on_grant = database.record_reliance(reliance(seconds=1, attestation=digest("attestation", 2)))
    other = database.record_reliance(
        reliance(attestation=digest("attestation", 3), grant=digest("grant", 3))
    )
    revoked = end("attestation", ATTESTATION, RelianceReason.ATTESTATION_REVOKED, 30)
    assert apply(database, revoked) == 1
    assert database.feed_cursor("lifecycle") == 10
    (marked,) = database.affected_reliances()
    assert marked == dataclasses.replace(
        on_it,
        status=RelianceStatus.NEEDS_REVERIFICATION,
        reason=RelianceReason.ATTESTATION_REVOKED,
        affected_at=T + timedelta(seconds=30),
    )
    # the grant's revocation marks the other reliance on the grant; the first end is kept
    grant_revoked = end("grant", GRANT, RelianceReason.GRANT_REVOKED, 40)
    assert apply(database, grant_revoked, revoked, next_block=20) == 1
    assert [(r.agreement_id, r.reason) for r in database.affected_reliances()] == [
        (on_it.agreement_id, RelianceReason.ATTESTATION_REVOKED),
        (on_grant.agreement_id, RelianceReason.GRANT_REVOKED),
    ]
    assert database.reliance(other.agreement_id) == other
    assert database.feed_cursor("lifecycle") == 20
    assert database.lifecycle_ends(attestation_id=ATTESTATION, grant_id=GRANT) == [
        revoked,
        grant_revoked,
    ]


def test_expiry_marks_by_time_and_before_a_later_end(database: Database) -> None:
    short = database.record_reliance(reliance(expires_in=timedelta(seconds=10)))
    lasting = database.record_reliance(reliance(attestation=digest("attestation", 2)))
    assert apply(database, by=9) == 0
    assert apply(database, by=10) == 1
    assert database.reliance(short.agreement_id) == dataclasses.replace(
        short,
        status=RelianceStatus.NEEDS_REVERIFICATION,
        reason=RelianceReason.ATTESTATION_EXPIRED,
        affected_at=short.expires_at,
    )
    assert database.reliance(lasting.agreement_id) == lasting
    # expired before it was revoked: expired is the reason
    first = database.record_reliance(
        reliance(attestation=digest("attestation", 4), expires_in=timedelta(seconds=50))
    )
    late_revocation = end(
        "attestation", digest("attestation", 4), RelianceReason.ATTESTATION_REVOKED, 60
    )
    assert apply(database, late_revocation, by=0) == 1
    stored = database.reliance(first.agreement_id)
    assert stored is not None and stored.reason is RelianceReason.ATTESTATION_EXPIRED


def test_a_reliance_recorded_after_its_end_was_read_is_marked_at_once(
    database: Database,
) -> None:
    superseded = end("attestation", ATTESTATION, RelianceReason.ATTESTATION_SUPERSEDED, 5)
    assert apply(database, superseded) == 0
    assert apply(database, superseded) == 0  # a re-read keeps the end once
    made = database.record_reliance(reliance(seconds=3))
    assert (made.status, made.reason, made.affected_at) == (
        RelianceStatus.NEEDS_REVERIFICATION,
        RelianceReason.ATTESTATION_SUPERSEDED,
        superseded.ended_at,
    )
    assert database.affected_reliances() == [made]


def test_a_malformed_end_changes_nothing(database: Database) -> None:
    made = database.record_reliance(reliance())
    bad = dataclasses.replace(
        end("attestation", ATTESTATION, RelianceReason.ATTESTATION_REVOKED, 1), block=-1
    )
    with pytest.raises(ValueError, match="block must be an int >= 0"):
        apply(database, bad)
    assert database.reliance(made.agreement_id) == made
    assert database.feed_cursor("lifecycle") is None
