"""Member B reuses member A's KYC (real anvil; SQLite and PostgreSQL where B's database is the
point): A's release is built as A's service answers (receipt + ``ledger-release/1`` envelope to
B's disclosure-receiving key), B opens and checks it against the attestation on chain, and opens
the account: its agreement document records the attestation, grant and receipt relied on, and a
reliance row is written. Every refusal is its own error and opens nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledger import canonical
from ledger.agreement import VersionStatus, new_agreement_id
from ledger.attestation import Disclosure, DisclosureMismatch
from ledger.chain.consent import Mode
from ledger.consent.envelope import EnvelopeError, ReleasedFields, seal_release
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db import LifecycleEnd, RelianceReason, RelianceStatus
from ledger.httpsig import Caller
from ledger.member.access import Forbidden
from ledger.member.account_opening import (
    MEDIA_TYPE,
    ReliedOn,
    account_opening,
    read_account_opening,
)
from ledger.member.reuse import ReleaseMismatch, RelianceRefused, ReuseDesk
from tests._fixtures.consortium import DeployConsortium
from tests._fixtures.reuse import ASKED, KYC, TERMS, ReuseWorld, asked, reuse_world
from tests._fixtures.service import ServiceHarness, sign_all


@pytest.fixture
def world(deploy_consortium: DeployConsortium, tmp_path: Path) -> ReuseWorld:
    return reuse_world(deploy_consortium, tmp_path / "consent")


def broker_b(world: ReuseWorld, *, member: str | None = None, roles: str = "broker") -> Caller:
    return Caller(
        keyid="broker-b",
        member_id=member or world.b.address,
        roles=frozenset({roles}),
        public_key=world.b.sm2.public_key(),
        created=datetime.now(UTC),
    )


def _desk(world: ReuseWorld, harness: ServiceHarness) -> ReuseDesk:
    return world.desk(harness.database, harness.evidence.create_agreement)


def test_a_release_is_checked_and_the_account_opened_on_it(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    grant_id = world.grant().digest
    receipt = world.receipt(grant_id)
    desk = _desk(world, evidence_service)

    checked = desk.check(world.reply(receipt), asked(grant_id))
    assert checked.values == {name: KYC[name] for name in ASKED}
    assert checked.receipt == receipt
    assert checked.attestation == world.attestation()

    opened = desk.open_account(broker_b(world), checked, terms=TERMS)
    agreement = opened.agreement
    assert agreement.status is VersionStatus.DRAFT and agreement.owner == world.b.address
    expected = account_opening(
        TERMS, ReliedOn(receipt=receipt, attestations=world.consent.att(world.b).address)
    )
    assert (agreement.document_sm3, agreement.media_type) == (expected.sm3, MEDIA_TYPE)
    terms, relied_on = read_account_opening(expected)
    assert terms == TERMS
    assert relied_on == {
        "attestation_id": canonical.hex0x(world.attestation_id),
        "attester": world.a.address,
        "attestations": world.consent.att(world.b).address,
        "grant_id": canonical.hex0x(grant_id),
        "consent_registry": receipt.consent_registry,
        "chain_id": receipt.chain_id,
        "receipt_id": receipt.receipt_id,
        "receipt_leaf": canonical.label("sm3", receipt.leaf_hash),
        "fields": sorted(ASKED),
        "purpose": "account-opening",
    }
    reliance = opened.reliance
    assert (reliance.agreement_id, reliance.attestation_id, reliance.grant_id) == (
        agreement.agreement_id,
        world.attestation_id,
        grant_id,
    )
    assert (reliance.receipt_id, reliance.attester, reliance.member) == (
        receipt.receipt_id,
        world.a.address,
        world.b.address,
    )
    assert reliance.fields == tuple(sorted(ASKED)) and reliance.status is RelianceStatus.OK
    expires = datetime.fromtimestamp(world.attestation().expires_at, UTC)
    assert reliance.expires_at == expires
    assert evidence_service.database.reliance(agreement.agreement_id) == reliance


def test_the_account_is_signed_at_once_by_the_customers_attested_key(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    grant_id = world.grant().digest
    receipt = world.receipt(grant_id)
    desk = _desk(world, evidence_service)
    checked = desk.check(world.reply(receipt), asked(grant_id))
    document = account_opening(
        TERMS, ReliedOn(receipt=receipt, attestations=world.consent.att(world.b).address)
    )
    agreement_id = new_agreement_id()

    def signed(customer: SM2PrivateKey) -> list:  # type: ignore[type-arg]
        return sign_all(
            {"customer": customer, "broker": world.b.sm2},
            domain=evidence_service.domain,
            agreement_id=agreement_id,
            version=1,
            document=document,
        )

    with pytest.raises(ReleaseMismatch, match="with the key the attestation binds"):
        desk.open_account(
            broker_b(world),
            checked,
            terms=TERMS,
            agreement_id=agreement_id,
            signatures=signed(SM2PrivateKey.generate()),
        )
    assert evidence_service.database.reliance(agreement_id) is None
    opened = desk.open_account(
        broker_b(world),
        checked,
        terms=TERMS,
        agreement_id=agreement_id,
        signatures=signed(world.customer.key),
    )
    assert opened.agreement.status is VersionStatus.ACCEPTED
    (anchored,) = evidence_service.wait_anchored([(agreement_id, 1)])
    assert anchored.document_sm3 == document.sm3  # the anchored leaf binds the reliance


def _refused_and_nothing_opened(
    world: ReuseWorld,
    harness: ServiceHarness,
    reply: dict,
    error: type,
    match: str,  # type: ignore[type-arg]
) -> None:
    desk = _desk(world, harness)
    grant_id = canonical.unhex0x(reply["receipt"]["grant_id"], size=32)
    with pytest.raises(error, match=match):
        desk.check(reply, asked(grant_id))
    assert (
        harness.database.reliances_between(
            datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )
        == []
    )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"caller": "0x90F79bf6EB2c4f870365E785982E1f101E93b906"}, "its caller differs"),
        ({"fields": ("family_name", "given_name")}, "its fields differs"),
        ({"purpose": "marketing"}, "its purpose differs"),
        ({"chain_id": 1}, "its chain differs"),
        ({"attester": "0x90F79bf6EB2c4f870365E785982E1f101E93b906"}, "its attester differs"),
    ],
)
def test_a_receipt_that_does_not_name_this_request_is_refused(
    world: ReuseWorld,
    evidence_service: ServiceHarness,
    change: dict,
    match: str,  # type: ignore[type-arg]
) -> None:
    grant_id = world.grant().digest
    reply = world.reply(world.receipt(grant_id, **change))
    _refused_and_nothing_opened(world, evidence_service, reply, ReleaseMismatch, match)


def test_an_envelope_for_another_key_or_other_fields_is_refused(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    grant_id = world.grant().digest
    receipt = world.receipt(grant_id)
    other_key = world.reply(receipt, to=SM2PrivateKey.generate())
    _refused_and_nothing_opened(
        world, evidence_service, other_key, EnvelopeError, r"^the envelope is for key sm3:"
    )
    more = world.reply(receipt, disclosed=(*ASKED, "phone"))
    _refused_and_nothing_opened(
        world, evidence_service, more, ReleaseMismatch, "the envelope discloses"
    )
    moved = world.reply(receipt)
    moved["envelope"] = world.reply(world.receipt(grant_id))["envelope"]
    _refused_and_nothing_opened(
        world, evidence_service, moved, ReleaseMismatch, "another grant, attestation or receipt"
    )


def test_a_disclosure_the_attestation_does_not_commit_to_is_refused(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    grant_id = world.grant().digest
    receipt = world.receipt(grant_id)
    forged = (*world.prepared.select(ASKED[:2]), Disclosure.new("birth_date", "1980-01-01"))
    reply = world.reply(receipt)
    reply["envelope"] = seal_release(
        ReleasedFields(
            attestation_id=receipt.attestation_id,
            grant_id=grant_id,
            receipt_id=receipt.receipt_id,
            disclosures=forged,
        ),
        recipient=world.disclosure_key.public_key(),
    )
    _refused_and_nothing_opened(
        world, evidence_service, reply, DisclosureMismatch, "the disclosure of 'birth_date'"
    )


def test_an_attestation_revoked_on_chain_is_refused(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    grant_id = world.grant().digest
    reply = world.reply(world.receipt(grant_id))
    world.consent.att(world.a).revoke(world.attestation_id, b"\x01" * 32)
    _refused_and_nothing_opened(
        world, evidence_service, reply, RelianceRefused, r"^attestation-not-valid: attestation 0x"
    )


def test_a_grant_revoked_by_its_customer_is_refused(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    grant_id = world.grant().digest
    reply = world.reply(world.receipt(grant_id))
    revocation = world.customer.revoke(world.domain, grant_id)
    world.consent.reg(world.b).revoke(revocation.revocation, revocation.signature)
    _refused_and_nothing_opened(
        world, evidence_service, reply, RelianceRefused, r"^grant-revoked: grant 0x"
    )


def test_a_grant_to_another_member_is_refused(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    grant_id = world.grant(grantee=world.consent.d.members[2]).digest
    reply = world.reply(world.receipt(grant_id))
    _refused_and_nothing_opened(world, evidence_service, reply, RelianceRefused, r"^not-grantee: ")


def test_an_end_the_lifecycle_feed_saw_is_refused(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    grant_id = world.grant().digest
    reply = world.reply(world.receipt(grant_id))
    evidence_service.database.apply_lifecycle(
        "lifecycle",
        ends=[
            LifecycleEnd(
                kind="attestation",
                record_id=world.attestation_id,
                reason=RelianceReason.ATTESTATION_SUPERSEDED,
                ended_at=datetime(2026, 1, 1, tzinfo=UTC),
                block=7,
            )
        ],
        expired_by=datetime(2026, 1, 1, tzinfo=UTC),
        next_block=8,
        now=datetime.now(UTC),
    )
    _refused_and_nothing_opened(
        world,
        evidence_service,
        reply,
        RelianceRefused,
        "^attestation-superseded: this member's lifecycle feed saw the attestation end at"
        " 2026-01-01T00:00:00Z",
    )


def test_a_per_use_grant_is_checked_with_the_customers_use_authorization(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    grant_id = world.grant(mode=Mode.PER_USE).digest
    use = world.customer.authorize_use(
        world.domain,
        grant_id=grant_id,
        grantee=world.b.address,
        fields=ASKED,
        purpose="account-opening",
    )
    receipt = world.receipt(grant_id, mode=Mode.PER_USE, use_authorization=use.digest)
    desk = _desk(world, evidence_service)
    with pytest.raises(RelianceRefused, match=r"^per-use-authorization-missing: "):
        desk.check(world.reply(receipt), asked(grant_id))
    checked = desk.check(world.reply(receipt), dataclasses.replace(asked(grant_id), use=use))
    assert checked.values == {name: KYC[name] for name in ASKED}


def test_only_a_broker_of_this_member_opens_the_account(
    world: ReuseWorld, evidence_service: ServiceHarness
) -> None:
    grant_id = world.grant().digest
    desk = _desk(world, evidence_service)
    checked = desk.check(world.reply(world.receipt(grant_id)), asked(grant_id))
    for caller in (broker_b(world, member=world.a.address), broker_b(world, roles="auditor")):
        with pytest.raises(Forbidden, match="opened by brokers of member"):
            desk.open_account(caller, checked, terms=TERMS)
    assert (
        evidence_service.database.reliances_between(
            datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
        )
        == []
    )
