"""The lifecycle feed reaches member B's reliances (real anvil; SQLite and PostgreSQL): an
attestation revoked, superseded or expired on chain, a grant revoked by its customer, each
marks the accounts opened on it ``needs-reverification`` with the reason and the time it took
effect; a revocation that does not verify and another member's grant mark nothing; the cursor
is kept in the database; reuse is refused from then on; the follower's thread does it alone."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger.crypto.sm2 import SM2PrivateKey
from ledger.customer import CustomerWallet
from ledger.db import Reliance, RelianceReason, RelianceStatus
from ledger.httpsig import Caller
from ledger.member.lifecycle import FEED, LifecycleFollower
from ledger.member.reuse import RelianceRefused, ReuseDesk
from tests._fixtures.consortium import DeployConsortium, advance, chain_time
from tests._fixtures.reuse import TERMS, ReuseWorld, asked, attest, reuse_world
from tests._fixtures.service import ServiceHarness

HOUR = 3600


@pytest.fixture
def world(deploy_consortium: DeployConsortium, tmp_path: Path) -> ReuseWorld:
    return reuse_world(deploy_consortium, tmp_path / "consent")


def _broker(world: ReuseWorld) -> Caller:
    return Caller(
        keyid="broker-b",
        member_id=world.b.address,
        roles=frozenset({"broker"}),
        public_key=world.b.sm2.public_key(),
        created=datetime.now(UTC),
    )


def _open(world: ReuseWorld, desk: ReuseDesk, grant_id: bytes) -> Reliance:
    """B reuses A's release under ``grant_id`` and opens the account."""
    checked = desk.check(world.reply(world.receipt(grant_id)), asked(grant_id))
    return desk.open_account(_broker(world), checked, terms=TERMS).reliance


def _follower(
    world: ReuseWorld, harness: ServiceHarness, poll_s: float = 60.0
) -> LifecycleFollower:
    return LifecycleFollower(
        database=harness.database,
        find_contracts=lambda: (world.consent.att(world.b), world.consent.reg(world.b)),
        member=world.b.address,
        poll_s=poll_s,
    )


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _status(harness: ServiceHarness, reliance: Reliance) -> tuple[object, ...]:
    stored = harness.database.reliance(reliance.agreement_id)
    assert stored is not None
    return stored.status, stored.reason, stored.affected_at


def test_revocations_reach_the_reliances_on_them(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    desk = world.desk(evidence_service.database, evidence_service.evidence.create_agreement)
    follower = _follower(world, evidence_service)
    assert follower.poll() == 0  # the deployment, the attestation: nothing ended
    grants = [world.grant().digest for _ in range(3)]
    revoked, bogus, lasting = (_open(world, desk, g) for g in grants)
    others = world.grant(grantee=world.consent.d.members[2]).digest
    registry = world.consent.reg(world.b)

    forged = CustomerWallet(key=SM2PrivateKey.generate()).revoke(world.domain, grants[1])
    registry.revoke(forged.revocation, forged.signature)
    for grant_id in (grants[0], others):
        real = world.customer.revoke(world.domain, grant_id)
        registry.revoke(real.revocation, real.signature)
    assert follower.poll() == 1
    (effective,) = registry.revocations_of(grants[0])
    ok = (RelianceStatus.OK, None, None)
    assert _status(evidence_service, revoked) == (
        RelianceStatus.NEEDS_REVERIFICATION,
        RelianceReason.GRANT_REVOKED,
        _at(effective.at),
    )
    assert _status(evidence_service, bogus) == _status(evidence_service, lasting) == ok
    assert (
        evidence_service.database.lifecycle_ends(
            attestation_id=world.attestation_id, grant_id=others
        )
        == []
    )  # another member's grant: not followed

    world.consent.att(world.a).revoke(world.attestation_id, b"\x02" * 32)
    ended = world.attestation().ended_at
    assert ended is not None
    assert follower.poll() == 2
    for reliance in (bogus, lasting):
        assert _status(evidence_service, reliance) == (
            RelianceStatus.NEEDS_REVERIFICATION,
            RelianceReason.ATTESTATION_REVOKED,
            _at(ended),
        )
    assert _status(evidence_service, revoked)[1] is RelianceReason.GRANT_REVOKED  # first end kept
    affected = evidence_service.database.affected_reliances()
    assert {r.agreement_id for r in affected} == {r.agreement_id for r in (revoked, bogus, lasting)}

    # the cursor is in the database: another follower resumes after what was read
    latest = int(world.b.client.json_rpc("eth_blockNumber"), 16)
    assert evidence_service.database.feed_cursor(FEED) == latest + 1
    assert _follower(world, evidence_service).poll() == 0
    # and reuse under the revoked attestation is refused from now on
    with pytest.raises(RelianceRefused, match=r"^attestation-revoked: this member's lifecycle"):
        desk.check(world.reply(world.receipt(grants[2])), asked(grants[2]))


def test_supersession_and_expiry_reach_the_reliances_on_them(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    desk = world.desk(evidence_service.database, evidence_service.evidence.create_agreement)
    follower = _follower(world, evidence_service)
    short = attest(world.consent, world.customer, world.prepared, lifetime=2 * HOUR)
    expiring = _open(world, desk, world.grant(attestation_id=short).digest)
    superseded = _open(world, desk, world.grant().digest)
    subject = world.attestation().subject
    successor = attest(
        world.consent,
        world.customer,
        world.prepared,
        lifetime=365 * 86400,
        subject=subject,
        supersedes=world.attestation_id,
    )
    assert follower.poll() == 1
    ended = world.attestation().ended_at
    assert world.attestation().superseded_by == successor and ended is not None
    assert _status(evidence_service, superseded) == (
        RelianceStatus.NEEDS_REVERIFICATION,
        RelianceReason.ATTESTATION_SUPERSEDED,
        _at(ended),
    )
    assert _status(evidence_service, expiring)[0] is RelianceStatus.OK
    expires_at = world.consent.att(world.a).attestation(short).expires_at
    advance(world.a.client, expires_at - chain_time(world.a.client) - 5)
    assert follower.poll() == 0  # five seconds to go
    advance(world.a.client, 10)
    assert follower.poll() == 1
    assert _status(evidence_service, expiring) == (
        RelianceStatus.NEEDS_REVERIFICATION,
        RelianceReason.ATTESTATION_EXPIRED,
        _at(expires_at),
    )


def test_the_followers_thread_marks_a_revocation_by_itself(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    desk = world.desk(evidence_service.database, evidence_service.evidence.create_agreement)
    reliance = _open(world, desk, world.grant().digest)
    follower = _follower(world, evidence_service, poll_s=0.05)
    follower.start()
    try:
        world.consent.att(world.a).revoke(world.attestation_id, b"\x03" * 32)
        deadline = time.monotonic() + 20
        while _status(evidence_service, reliance)[0] is RelianceStatus.OK:
            assert time.monotonic() < deadline, "not marked within 20 s"
            time.sleep(0.05)
        state = follower.state()
        assert state.running and state.last_error is None and state.marked == 1
    finally:
        follower.stop()
    assert not follower.state().running
    assert _status(evidence_service, reliance)[1] is RelianceReason.ATTESTATION_REVOKED
