"""ConsentRegistry on a real anvil node, with customers' real SM2 signatures: grants and
revocations relayed by members with their exact events, every custom error with its arguments,
front-running (a grant recorded first with a garbage signature is inert; a bogus revocation does
not block the real one), and the signed digests equal between Python and Solidity."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.chain.consent import (
    GRANT_TYPE,
    MAX_FIELDS,
    MAX_LANGUAGE_LENGTH,
    MAX_LIST_LENGTH,
    MAX_SIGNATURE_LENGTH,
    MAX_TEXT_LENGTH,
    REVOCATION_TYPE,
    USE_TYPE,
    Grant,
    Mode,
    Notice,
    Revocation,
    UseAuthorization,
    effective_revocation,
    grant_digest,
    revocation_digest,
    revocation_id_of,
    use_digest,
)
from ledger.chain.errors import InvalidArgument, StateConflict
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consent import (
    FIELDS,
    ConsentWorld,
    attestation_input,
    deploy_consent,
    make_grant,
    now_of,
    random32,
)
from tests._fixtures.consortium import (
    DeployConsortium,
    make_consortium,
    mine_at,
    refused,
    set_next_timestamp,
)


@pytest.fixture
def world(deploy_consortium: DeployConsortium, tmp_path: Path) -> ConsentWorld:
    return deploy_consent(deploy_consortium(), tmp_path / "consent-deployments")


def _attested(world: ConsentWorld, customer: SM2PrivateKey, **options: Any) -> bytes:
    a = world.d.members[0]
    given = attestation_input(customer, now=now_of(a), **options)
    return world.att(a).attest(given).attestation_id


def _signed(world: ConsentWorld, customer: SM2PrivateKey, grant: Grant) -> bytes:
    registry = world.reg(world.d.members[0])
    digest = grant_digest(grant, chain_id=registry.client.chain_id, contract=registry.address)
    return customer.sign(digest)


def test_record_grant_stores_everything_and_emits_it(world: ConsentWorld) -> None:
    a, b, auditor = world.d.members
    customer = SM2PrivateKey.generate()
    attestation_id = _attested(world, customer)
    now = now_of(a)
    grant = make_grant(b, attestation_id, now=now, mode=Mode.PER_USE)
    signature = _signed(world, customer, grant)
    set_next_timestamp(a.client, now + 7)
    recorded = world.reg(auditor).record_grant(grant, signature)  # any member relays
    registry = world.reg(b)
    expected = grant_digest(grant, chain_id=a.client.chain_id, contract=registry.address)
    assert recorded.record_id == expected == registry.grant_digest(grant)
    fingerprint = customer.public_key().fingerprint()
    (event,) = registry.events("GrantRecorded", recorded.sent)
    assert Grant.from_abi(event.pop("grant")) == grant
    assert event == {
        "grantId": expected,
        "grantee": b.address,
        "attestationId": attestation_id,
        "relayer": auditor.address,
        "customerKeyFingerprint": fingerprint,
        "signature": signature,
    }
    record = registry.grant(expected)
    assert (record.grant_id, record.grant, record.signature) == (expected, grant, signature)
    assert (record.relayer, record.recorded_at) == (auditor.address, now + 7)
    assert record.customer_key_fingerprint == fingerprint
    assert record.signed_by(customer.public_key())
    assert not record.signed_by(SM2PrivateKey.generate().public_key())
    assert registry.grants_of(b.address) == [expected]
    assert registry.grants_of(a.address) == []
    assert registry.grants_of_attestation(attestation_id) == [expected]
    assert registry.revocations_of(expected) == []
    assert registry.consortium() == world.d.consortium_deployment.address
    assert registry.attestations() == world.att(a).address


def test_revocation_is_recorded_and_cannot_be_blocked(world: ConsentWorld) -> None:
    a, b, auditor = world.d.members
    customer = SM2PrivateKey.generate()
    grant = make_grant(b, _attested(world, customer), now=now_of(a))
    grant_id = world.reg(a).record_grant(grant, _signed(world, customer, grant)).record_id
    revocation = Revocation(grant_id=grant_id, nonce=random32())
    registry = world.reg(a)
    digest = revocation_digest(revocation, chain_id=a.client.chain_id, contract=registry.address)
    assert digest == registry.revocation_digest(revocation)
    # b, the grantee, front-runs the customer's revocation with a garbage signature
    bogus = world.reg(b).revoke(revocation, b"\x30" * 70)
    at = now_of(a) + 30
    set_next_timestamp(a.client, at)
    signature = customer.sign(digest)
    real = world.reg(auditor).revoke(revocation, signature)
    assert real.record_id == revocation_id_of(digest, signature) != bogus.record_id
    assert registry.events("RevocationRecorded", real.sent) == [
        {
            "grantId": grant_id,
            "revocationId": real.record_id,
            "relayer": auditor.address,
            "digest": digest,
            "nonce": revocation.nonce,
            "signature": signature,
            "at": at,
        }
    ]
    recorded = registry.revocations_of(grant_id)
    assert [(r.revocation_id, r.relayer) for r in recorded] == [
        (bogus.record_id, b.address),
        (real.record_id, auditor.address),
    ]
    assert recorded[1].at == at and recorded[1].digest == digest
    assert registry.revocation_count(grant_id) == 2
    assert [registry.revocation_at(grant_id, i) for i in (0, 1)] == recorded
    assert registry.revocation_count(random32()) == 0
    with refused(StateConflict, "ConsentRegistry__UnknownRevocation", grant_id, 2):
        registry.revocation_at(grant_id, 2)
    effective = effective_revocation(recorded, customer.public_key())
    assert effective == recorded[1]
    assert effective_revocation(recorded[:1], customer.public_key()) is None
    with refused(StateConflict, "ConsentRegistry__RevocationAlreadyRecorded", real.record_id):
        world.reg(b).revoke(revocation, signature)
    unknown = Revocation(grant_id=random32(), nonce=random32())
    with refused(StateConflict, "ConsentRegistry__UnknownGrant", unknown.grant_id):
        registry.revoke(unknown, signature)
    with refused(StateConflict, "ConsentRegistry__UnknownGrant", unknown.grant_id):
        registry.grant(unknown.grant_id)
    for bad in (b"", b"\x01" * (MAX_SIGNATURE_LENGTH + 1)):
        with refused(
            InvalidArgument, "ConsentRegistry__InvalidSignature", len(bad), MAX_SIGNATURE_LENGTH
        ):
            registry.revoke(revocation, bad)
    assert len(registry.revocations_of(grant_id)) == 2


def test_a_front_run_grant_is_inert_and_the_customer_signs_again(world: ConsentWorld) -> None:
    a, b, _ = world.d.members
    customer = SM2PrivateKey.generate()
    grant = make_grant(b, _attested(world, customer), now=now_of(a))
    signature = _signed(world, customer, grant)
    taken = world.reg(b).record_grant(grant, b"\x30" * 70)  # the garbage signature lands first
    with refused(StateConflict, "ConsentRegistry__GrantAlreadyRecorded", taken.record_id):
        world.reg(a).record_grant(grant, signature)
    record = world.reg(a).grant(taken.record_id)
    assert record.relayer == b.address  # accountable
    assert not record.signed_by(customer.public_key())  # inert
    again = dataclasses.replace(grant, nonce=random32())
    fresh = world.reg(a).record_grant(again, _signed(world, customer, again))
    assert world.reg(a).grant(fresh.record_id).signed_by(customer.public_key())


def test_record_grant_errors(world: ConsentWorld) -> None:
    a, b, _ = world.d.members
    customer = SM2PrivateKey.generate()
    attestation_id = _attested(world, customer)
    now = now_of(a) + 10
    mine_at(a.client, now)
    grant = make_grant(b, attestation_id, now=now)
    sig = b"\x30" * 70
    notice = grant.notice
    zero = bytes(32)
    stranger = world.d.outsiders[0]
    unknown = random32()
    many = tuple(random32() for _ in range(MAX_LIST_LENGTH + 1))
    cases: list[tuple[type[Any], str, tuple[Any, ...], dict[str, Any]]] = [
        (StateConflict, "GranteeNotMember", (stranger.address,), {"grantee": stranger.address}),
        (StateConflict, "UnknownAttestation", (unknown,), {"attestation_id": unknown}),
        (InvalidArgument, "InvalidWindow", (now, now), {"not_after": now}),
        (InvalidArgument, "WindowOver", (now, now), {"not_before": now - 9, "not_after": now}),
        (InvalidArgument, "InvalidFieldCount", (0, MAX_FIELDS), {"fields": ()}),
        (InvalidArgument, "DuplicateField", (FIELDS[1],), {"fields": (*FIELDS[:2], FIELDS[1])}),
        (
            StateConflict,
            "FieldNotAttested",
            (attestation_id, unknown),
            {"fields": (FIELDS[0], unknown)},
        ),
        (InvalidArgument, "InvalidList", (0, MAX_LIST_LENGTH), {"purposes": ()}),
        (
            InvalidArgument,
            "InvalidList",
            (MAX_LIST_LENGTH + 1, MAX_LIST_LENGTH),
            {"purposes": many},
        ),
        (InvalidArgument, "InvalidList", (2, MAX_LIST_LENGTH), {"purposes": (unknown, zero)}),
        (
            InvalidArgument,
            "InvalidList",
            (0, MAX_LIST_LENGTH),
            {"notice": dataclasses.replace(notice, data_categories=())},
        ),
        (
            InvalidArgument,
            "MissingValue",
            (zero, notice.notice_digest),
            {"processing_method": zero},
        ),
        (
            InvalidArgument,
            "MissingValue",
            (grant.processing_method, zero),
            {"notice": dataclasses.replace(notice, notice_digest=zero)},
        ),
    ]
    name, contact, language = (
        len(notice.recipient_name.encode()),
        len(notice.recipient_contact.encode()),
        len(notice.language),
    )
    for changed, lengths in [
        ({"recipient_name": ""}, (0, contact, language)),
        ({"recipient_name": "名" * 86}, (258, contact, language)),
        ({"recipient_contact": ""}, (name, 0, language)),
        ({"recipient_contact": "x" * (MAX_TEXT_LENGTH + 1)}, (name, 257, language)),
        ({"language": ""}, (name, contact, 0)),
        ({"language": "x" * (MAX_LANGUAGE_LENGTH + 1)}, (name, contact, 36)),
    ]:
        cases.append(
            (
                InvalidArgument,
                "InvalidNoticeText",
                lengths,
                {"notice": dataclasses.replace(notice, **changed)},
            )
        )
    for kind, error, args, changes in cases:
        with refused(kind, f"ConsentRegistry__{error}", *args):
            world.reg(a).record_grant(dataclasses.replace(grant, **changes), sig)
    for bad in (b"", b"\x01" * (MAX_SIGNATURE_LENGTH + 1)):
        with refused(
            InvalidArgument, "ConsentRegistry__InvalidSignature", len(bad), MAX_SIGNATURE_LENGTH
        ):
            world.reg(a).record_grant(grant, bad)
    assert world.reg(a).grants_of(b.address) == []
    # the limits themselves are accepted
    limits = dataclasses.replace(
        grant,
        purposes=many[:MAX_LIST_LENGTH],
        notice=dataclasses.replace(
            notice,
            recipient_contact="x" * MAX_TEXT_LENGTH,
            language="x" * MAX_LANGUAGE_LENGTH,
        ),
    )
    first = world.reg(a).record_grant(limits, b"\x01" * MAX_SIGNATURE_LENGTH).record_id
    # replays: the same grant, then another grant with the customer key's nonce
    with refused(StateConflict, "ConsentRegistry__GrantAlreadyRecorded", first):
        world.reg(b).record_grant(limits, sig)
    fingerprint = customer.public_key().fingerprint()
    with refused(StateConflict, "ConsentRegistry__NonceUsed", fingerprint, grant.nonce, first):
        world.reg(a).record_grant(grant, sig)


def test_only_a_valid_attestation_can_be_granted(world: ConsentWorld) -> None:
    a, b, _ = world.d.members
    customer = SM2PrivateKey.generate()
    revoked = _attested(world, customer)
    world.att(a).revoke(revoked, random32())
    short = _attested(world, customer, lifetime=120)
    superseded = _attested(world, customer)
    old = world.att(a).attestation(superseded)
    world.att(a).supersede(
        superseded, attestation_input(customer, now=now_of(a), subject=old.subject)
    )
    now = now_of(a) + 100  # the short one expired (verified 60 s before its attestation)
    mine_at(a.client, now)
    for attestation_id in (revoked, short, superseded):
        grant = make_grant(b, attestation_id, now=now)
        with refused(StateConflict, "ConsentRegistry__AttestationNotValid", attestation_id, now):
            world.reg(a).record_grant(grant, b"\x30" * 70)


def test_constants_match_the_contract(world: ConsentWorld) -> None:
    registry = world.reg(world.d.members[0])
    functions = registry._contract.functions
    for name, value in [
        ("GRANT_TYPE", GRANT_TYPE),
        ("REVOCATION_TYPE", REVOCATION_TYPE),
        ("USE_TYPE", USE_TYPE),
        ("MAX_FIELDS", MAX_FIELDS),
        ("MAX_LIST_LENGTH", MAX_LIST_LENGTH),
        ("MAX_TEXT_LENGTH", MAX_TEXT_LENGTH),
        ("MAX_LANGUAGE_LENGTH", MAX_LANGUAGE_LENGTH),
        ("MAX_SIGNATURE_LENGTH", MAX_SIGNATURE_LENGTH),
    ]:
        assert registry._call(getattr(functions, name)()) == value, name


# -- digests: Python computes the very bytes the contract does ------------------------------


@pytest.fixture(scope="module")
def digest_world(governance_url: str, tmp_path_factory: pytest.TempPathFactory) -> ConsentWorld:
    d = make_consortium(governance_url, tmp_path_factory.mktemp("deployments"))
    return deploy_consent(d, tmp_path_factory.mktemp("consent-deployments"))


ids = st.binary(min_size=32, max_size=32)
id_lists = st.lists(ids, max_size=5).map(tuple)
addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
times = st.integers(min_value=0, max_value=2**64 - 1)
texts = st.text(max_size=40)
notices = st.builds(
    Notice,
    recipient_name=texts,
    recipient_contact=texts,
    data_categories=id_lists,
    sensitive=st.booleans(),
    notice_digest=ids,
    language=texts,
    separate_consent=st.booleans(),
)
grants = st.builds(
    Grant,
    grantee=addresses,
    attestation_id=ids,
    fields=id_lists,
    purposes=id_lists,
    processing_method=ids,
    not_before=times,
    not_after=times,
    max_uses=st.integers(min_value=0, max_value=2**32 - 1),
    mode=st.sampled_from(Mode),
    nonce=ids,
    notice=notices,
)
uses = st.builds(
    UseAuthorization,
    grant_id=ids,
    grantee=addresses,
    fields=id_lists,
    purpose=ids,
    nonce=ids,
    requested_at=times,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(grant=grants, use=uses, revocation=st.builds(Revocation, grant_id=ids, nonce=ids))
def test_digests_equal_the_contracts(
    digest_world: ConsentWorld, grant: Grant, use: UseAuthorization, revocation: Revocation
) -> None:
    registry = digest_world.reg(digest_world.d.members[0])
    domain = {"chain_id": registry.client.chain_id, "contract": registry.address}
    assert grant_digest(grant, **domain) == registry.grant_digest(grant)
    assert use_digest(use, **domain) == registry.use_digest(use)
    assert revocation_digest(revocation, **domain) == registry.revocation_digest(revocation)


def test_digests_are_bound_to_their_domain_and_type(digest_world: ConsentWorld) -> None:
    registry = digest_world.reg(digest_world.d.members[0])
    revocation = Revocation(grant_id=random32(), nonce=random32())
    chain_id = registry.client.chain_id
    here = revocation_digest(revocation, chain_id=chain_id, contract=registry.address)
    assert here != revocation_digest(revocation, chain_id=chain_id + 1, contract=registry.address)
    elsewhere = digest_world.att(digest_world.d.members[0]).address
    assert here != revocation_digest(revocation, chain_id=chain_id, contract=elsewhere)
