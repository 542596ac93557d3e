"""The lifecycle feed on a real consortium (anvil): every attestation and consent change once,
in chain order, with its time; the cursor resumes where it stopped."""

from __future__ import annotations

from pathlib import Path

from ledger.attestation.feed import LifecycleFeed, expired_between
from ledger.chain.consent import Revocation, grant_digest, revocation_digest
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consent import (
    attestation_input,
    deploy_consent,
    make_grant,
    now_of,
    random32,
)
from tests._fixtures.consortium import DeployConsortium


def test_the_feed_reports_each_change_once_in_chain_order(
    deploy_consortium: DeployConsortium, tmp_path: Path
) -> None:
    world = deploy_consent(deploy_consortium(), tmp_path / "consent")
    a, b, _ = world.d.members
    attestations, registry = world.att(a), world.reg(a)
    feed = LifecycleFeed(attestations=attestations, consent=registry)
    feed.poll()  # whatever the deployment did: start from here
    customer = SM2PrivateKey.generate()

    given = attestation_input(customer, now=now_of(a))
    first = attestations.attest(given).attestation_id
    grant = make_grant(b, first, now=now_of(a))
    digest = grant_digest(grant, chain_id=a.client.chain_id, contract=registry.address)
    grant_id = registry.record_grant(grant, customer.sign(digest)).record_id
    revocation = Revocation(grant_id=grant_id, nonce=random32())
    world.reg(b).revoke(
        revocation,
        customer.sign(
            revocation_digest(revocation, chain_id=a.client.chain_id, contract=registry.address)
        ),
    )
    reverified = attestation_input(customer, now=now_of(a), subject=given.subject)
    second = attestations.supersede(first, reverified).attestation_id
    attestations.revoke(second, b"\x01" * 32)

    events = feed.poll()
    assert [(e.kind, e.attestation_id, e.grant_id) for e in events] == [
        ("attested", first, None),
        ("grant-recorded", first, grant_id),
        ("grant-revoked", None, grant_id),
        ("attested", second, None),
        ("attestation-superseded", first, None),
        ("attestation-revoked", second, None),
    ]
    assert events[4].successor == second
    assert [e.account for e in events] == [
        a.address,
        b.address,
        b.address,
        a.address,
        None,
        a.address,
    ]
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert attestations.attestation(first).ended_at == events[4].at
    assert attestations.attestation(second).ended_at == events[5].at
    assert feed.poll() == []  # the cursor moved past them

    again = LifecycleFeed(attestations=attestations, consent=registry, from_block=events[0].block)
    assert again.poll() == events  # a re-read of the same blocks yields the same events


def test_expiry_is_listed_by_time_not_by_event(
    deploy_consortium: DeployConsortium, tmp_path: Path
) -> None:
    world = deploy_consent(deploy_consortium(), tmp_path / "consent")
    a = world.d.members[0]
    customer = SM2PrivateKey.generate()
    now = now_of(a)
    short = world.att(a).attest(attestation_input(customer, now=now, lifetime=3600))
    long = world.att(a).attest(attestation_input(customer, now=now))
    records = [world.att(a).attestation(x.attestation_id) for x in (short, long)]
    assert expired_between(records, now, now + 7200) == [short.attestation_id]
    assert expired_between(records, now + 7200, now + 7300) == []
