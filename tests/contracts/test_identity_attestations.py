"""IdentityAttestations on a real anvil node: attest, revoke and supersede with their exact events,
validity windows at their boundaries, every custom error with its arguments, and attestations
whose key fingerprint is not SM3 of the key refused by the binding."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from ledger.chain.attestations import (
    MAX_CONTENT_REF_LENGTH,
    MAX_FIELDS,
    AttestationInput,
    IdentityAttestationsContract,
    attestation_id_of,
    name_id,
)
from ledger.chain.consortium import role_id
from ledger.chain.errors import InvalidArgument, InvalidAttestation, NotPermitted, StateConflict
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consent import (
    FIELDS,
    ConsentWorld,
    attestation_input,
    deploy_consent,
    now_of,
    random32,
)
from tests._fixtures.consortium import (
    DeployConsortium,
    Party,
    mine_at,
    refused,
    set_next_timestamp,
)

BROKER = role_id("broker")
REASON = name_id("identity-document-reported-stolen")


@pytest.fixture
def world(deploy_consortium: DeployConsortium, tmp_path: Path) -> ConsentWorld:
    return deploy_consent(deploy_consortium(), tmp_path / "consent-deployments")


def _raw_attest(att: IdentityAttestationsContract, abi: tuple[Any, ...]) -> Any:
    return att._transact(att._contract.functions.attest(abi))


def _with(abi: tuple[Any, ...], **changes: Any) -> tuple[Any, ...]:
    """``abi`` (an AttestationInput's tuple) with parts replaced by index name."""
    names = [
        "subject",
        "key",
        "fingerprint",
        "level",
        "method",
        "verified",
        "expires",
        "names",
        "digests",
        "ref",
        "nonce",
    ]
    values = list(abi)
    for name, value in changes.items():
        values[names.index(name)] = value
    return tuple(values)


def test_attest_stores_everything_and_emits_it(world: ConsentWorld) -> None:
    a, b, _ = world.d.members
    customer = SM2PrivateKey.generate()
    now = now_of(a)
    set_next_timestamp(a.client, now + 5)
    given = attestation_input(customer, now=now)
    attested = world.att(a).attest(given)
    expected_id = attestation_id_of(
        chain_id=a.client.chain_id,
        contract=world.att(a).address,
        attester=a.address,
        subject=given.subject,
        nonce=given.nonce,
    )
    assert attested.attestation_id == expected_id
    assert world.att(b).attestation_id_of(a.address, given.subject, given.nonce) == expected_id
    assert world.att(a).events("Attested", attested.sent) == [
        {
            "attestationId": expected_id,
            "attester": a.address,
            "subject": given.subject,
            "customerKeyFingerprint": customer.public_key().fingerprint(),
            "verifiedAt": given.verified_at,
            "expiresAt": given.expires_at,
        }
    ]
    stored = world.att(b).attestation(expected_id)
    assert dataclasses.asdict(stored) | {"customer_key": None} == {
        "attestation_id": expected_id,
        "attester": a.address,
        "subject": given.subject,
        "customer_key": None,
        "level": given.level,
        "method": given.method,
        "verified_at": given.verified_at,
        "expires_at": given.expires_at,
        "field_names": FIELDS,
        "field_digests": given.field_digests,
        "content_ref": given.content_ref,
        "nonce": given.nonce,
        "attested_at": now + 5,
        "ended_at": None,
        "revocation_reason": None,
        "superseded_by": None,
        "supersedes": None,
    }
    assert stored.customer_key == customer.public_key()
    assert not stored.revoked and stored.ends_at == given.expires_at
    for name, digest in zip(FIELDS, given.field_digests, strict=True):
        assert world.att(b).field_digest(expected_id, name) == digest == stored.field_digest(name)
    assert world.att(b).field_digest(expected_id, name_id("mother_maiden_name")) is None
    assert world.att(b).field_digest(random32(), FIELDS[0]) is None
    assert world.att(b).customer_key_fingerprint_of(expected_id) == (
        customer.public_key().fingerprint()
    )
    assert world.att(b).customer_key_fingerprint_of(random32()) is None
    assert world.att(b).attestations_of(a.address) == [expected_id]
    assert world.att(b).attestations_of(b.address) == []
    assert world.att(b).consortium() == world.d.consortium_deployment.address


def test_validity_window_at_its_boundaries(world: ConsentWorld) -> None:
    a, b, _ = world.d.members
    given = attestation_input(SM2PrivateKey.generate(), now=now_of(a), lifetime=1000)
    attestation_id = world.att(a).attest(given).attestation_id
    stored = world.att(b).attestation(attestation_id)
    start, end = given.verified_at, given.expires_at
    for at, valid in [(start - 1, False), (start, True), (end - 1, True), (end, False)]:
        assert world.att(b).is_valid_at(attestation_id, at) is valid
        assert stored.valid_at(at) is valid
    assert not world.att(b).is_valid_at(random32(), start)


def test_revoke_ends_it_at_the_block_time(world: ConsentWorld) -> None:
    a, b, _ = world.d.members
    given = attestation_input(SM2PrivateKey.generate(), now=now_of(a))
    attestation_id = world.att(a).attest(given).attestation_id
    at = now_of(a) + 100
    set_next_timestamp(a.client, at)
    sent = world.att(a).revoke(attestation_id, REASON)
    assert world.att(a).events("AttestationRevoked", sent) == [
        {"attestationId": attestation_id, "attester": a.address, "reason": REASON, "at": at}
    ]
    stored = world.att(b).attestation(attestation_id)
    assert (stored.ended_at, stored.revocation_reason, stored.revoked) == (at, REASON, True)
    assert stored.ends_at == at
    assert world.att(b).is_valid_at(attestation_id, at - 1)
    assert not world.att(b).is_valid_at(attestation_id, at)
    # still readable: its fields can still be checked against what was attested
    assert world.att(b).field_digest(attestation_id, FIELDS[0]) == given.field_digests[0]
    ended = ("IdentityAttestations__AlreadyEnded", attestation_id, at, bytes(32))
    with refused(StateConflict, *ended):
        world.att(a).revoke(attestation_id, REASON)
    with refused(StateConflict, *ended):
        world.att(a).supersede(attestation_id, dataclasses.replace(given, nonce=random32()))


def test_supersede_links_both_and_ends_the_old_one(world: ConsentWorld) -> None:
    a, b, _ = world.d.members
    customer = SM2PrivateKey.generate()
    old = attestation_input(customer, now=now_of(a))
    old_id = world.att(a).attest(old).attestation_id
    at = now_of(a) + 50
    set_next_timestamp(a.client, at)
    new = attestation_input(customer, now=at, subject=old.subject, fields=4)
    superseded = world.att(a).supersede(old_id, new)
    new_id = superseded.attestation_id
    assert new_id != old_id
    assert world.att(a).events("AttestationSuperseded", superseded.sent) == [
        {"oldId": old_id, "newId": new_id, "at": at}
    ]
    assert [e["attestationId"] for e in world.att(a).events("Attested", superseded.sent)] == [
        new_id
    ]
    before, after = world.att(b).attestation(old_id), world.att(b).attestation(new_id)
    assert (before.ended_at, before.superseded_by, before.revoked) == (at, new_id, False)
    assert (after.supersedes, after.ended_at, after.field_names) == (old_id, None, FIELDS[:4])
    assert world.att(b).is_valid_at(old_id, at - 1) and not world.att(b).is_valid_at(old_id, at)
    assert world.att(b).is_valid_at(new_id, at)
    assert world.att(b).attestations_of(a.address) == [old_id, new_id]
    with refused(StateConflict, "IdentityAttestations__AlreadyEnded", old_id, at, new_id):
        world.att(a).revoke(old_id, REASON)


def test_supersede_must_keep_the_customer(world: ConsentWorld) -> None:
    a = world.d.members[0]
    customer = SM2PrivateKey.generate()
    old = attestation_input(customer, now=now_of(a))
    old_id = world.att(a).attest(old).attestation_id
    now = now_of(a)
    other_subject = attestation_input(customer, now=now)
    other_key = attestation_input(SM2PrivateKey.generate(), now=now, subject=old.subject)
    for given in (other_subject, other_key):
        with refused(StateConflict, "IdentityAttestations__DifferentCustomer", old_id):
            world.att(a).supersede(old_id, given)
    abi = attestation_input(customer, now=now, subject=old.subject).as_abi()
    forged = _with(abi, fingerprint=random32())
    att = world.att(a)
    with refused(StateConflict, "IdentityAttestations__DifferentCustomer", old_id):
        att._transact(att._contract.functions.supersede(old_id, forged))
    # an invalid input is refused as such, not as another customer
    with refused(InvalidArgument, "IdentityAttestations__InvalidPublicKey", 64):
        att._transact(att._contract.functions.supersede(old_id, _with(abi, key=abi[1][:64])))
    assert world.att(a).attestations_of(a.address) == [old_id]


def test_supersede_after_expiry_is_a_re_verification(world: ConsentWorld) -> None:
    a = world.d.members[0]
    customer = SM2PrivateKey.generate()
    old = attestation_input(customer, now=now_of(a), lifetime=100)
    old_id = world.att(a).attest(old).attestation_id
    later = old.expires_at + 1000
    mine_at(a.client, later)
    new_id = (
        world.att(a)
        .supersede(old_id, attestation_input(customer, now=later, subject=old.subject))
        .attestation_id
    )
    stored = world.att(a).attestation(old_id)
    assert stored.superseded_by == new_id and stored.ends_at == old.expires_at


def test_only_the_attester_ends_it(world: ConsentWorld) -> None:
    a, b, _ = world.d.members
    customer = SM2PrivateKey.generate()
    given = attestation_input(customer, now=now_of(a))
    attestation_id = world.att(a).attest(given).attestation_id
    again = dataclasses.replace(given, nonce=random32())
    with refused(
        NotPermitted, "IdentityAttestations__NotAttester", attestation_id, b.address, a.address
    ):
        world.att(b).revoke(attestation_id, REASON)
    with refused(
        NotPermitted, "IdentityAttestations__NotAttester", attestation_id, b.address, a.address
    ):
        world.att(b).supersede(attestation_id, again)
    unknown = random32()
    with refused(StateConflict, "IdentityAttestations__UnknownAttestation", unknown):
        world.att(a).revoke(unknown, REASON)
    with refused(StateConflict, "IdentityAttestations__UnknownAttestation", unknown):
        world.att(a).supersede(unknown, again)
    with refused(StateConflict, "IdentityAttestations__UnknownAttestation", unknown):
        world.att(a).attestation(unknown)
    with refused(InvalidArgument, "IdentityAttestations__MissingReason"):
        world.att(a).revoke(attestation_id, bytes(32))
    assert world.att(a).attestation(attestation_id).ended_at is None


def test_attest_errors(world: ConsentWorld) -> None:
    a, b, _ = world.d.members
    att = world.att(a)
    now = now_of(a) + 10
    mine_at(a.client, now)
    given = attestation_input(SM2PrivateKey.generate(), now=now)
    abi = given.as_abi()
    zero = bytes(32)
    level, method = given.level, given.method
    cases: list[tuple[type[Any], str, tuple[Any, ...], dict[str, Any]]] = [
        (InvalidArgument, "MissingValue", (zero, level, method), {"subject": zero}),
        (InvalidArgument, "MissingValue", (given.subject, zero, method), {"level": zero}),
        (InvalidArgument, "MissingValue", (given.subject, level, zero), {"method": zero}),
        (InvalidArgument, "InvalidPublicKey", (64,), {"key": abi[1][:64]}),
        (InvalidArgument, "InvalidPublicKey", (65,), {"key": b"\x03" + abi[1][1:]}),
        (InvalidArgument, "InvalidFingerprint", (), {"fingerprint": zero}),
        (InvalidArgument, "VerifiedInFuture", (now + 1, now), {"verified": now + 1}),
        (InvalidArgument, "InvalidExpiry", (now - 60, now - 60, now), {"expires": now - 60}),
        (InvalidArgument, "InvalidExpiry", (now - 60, now, now), {"expires": now}),
        (InvalidArgument, "InvalidFieldCount", (0, 0, MAX_FIELDS), {"names": [], "digests": []}),
        (InvalidArgument, "InvalidFieldCount", (8, 7, MAX_FIELDS), {"digests": abi[8][:7]}),
        (
            InvalidArgument,
            "InvalidFieldCount",
            (MAX_FIELDS + 1,) * 2 + (MAX_FIELDS,),
            {
                "names": [random32() for _ in range(MAX_FIELDS + 1)],
                "digests": [random32() for _ in range(MAX_FIELDS + 1)],
            },
        ),
        (InvalidArgument, "InvalidField", (1,), {"names": [abi[7][0], zero, *abi[7][2:]]}),
        (InvalidArgument, "InvalidField", (7,), {"digests": [*abi[8][:7], zero]}),
        (InvalidArgument, "DuplicateField", (FIELDS[0],), {"names": [*abi[7][:7], FIELDS[0]]}),
        (InvalidArgument, "InvalidContentRef", (0, MAX_CONTENT_REF_LENGTH), {"ref": b""}),
        (
            InvalidArgument,
            "InvalidContentRef",
            (MAX_CONTENT_REF_LENGTH + 1, MAX_CONTENT_REF_LENGTH),
            {"ref": b"x" * (MAX_CONTENT_REF_LENGTH + 1)},
        ),
    ]
    for kind, error, args, changes in cases:
        with refused(kind, f"IdentityAttestations__{error}", *args):
            _raw_attest(att, _with(abi, **changes))
    assert att.attestations_of(a.address) == []
    full = _with(
        abi,
        names=[random32() for _ in range(MAX_FIELDS)],
        digests=[random32() for _ in range(MAX_FIELDS)],
        ref=b"x" * MAX_CONTENT_REF_LENGTH,
        expires=now + 1000,
        verified=now,
        nonce=random32(),
    )
    _raw_attest(att, full)  # the limits themselves are accepted
    attested = att.attest(given)
    with refused(StateConflict, "IdentityAttestations__AlreadyAttested", attested.attestation_id):
        att.attest(given)
    # another attester may attest the same subject with the same nonce: another ID
    assert world.att(b).attest(given).attestation_id != attested.attestation_id


def test_limits_match_the_contract(world: ConsentWorld) -> None:
    att = world.att(world.d.members[0])
    assert att._call(att._contract.functions.MAX_FIELDS()) == MAX_FIELDS
    assert att._call(att._contract.functions.MAX_CONTENT_REF_LENGTH()) == MAX_CONTENT_REF_LENGTH


def test_an_attestation_whose_fingerprint_is_not_sm3_of_the_key_is_refused(
    world: ConsentWorld,
) -> None:
    a = world.d.members[0]
    given = attestation_input(SM2PrivateKey.generate(), now=now_of(a))
    _raw_attest(world.att(a), _with(given.as_abi(), fingerprint=b"\x11" * 32))
    forged_id = world.att(a).attestations_of(a.address)[0]
    with pytest.raises(InvalidAttestation, match=r"fingerprint 1111.* is not SM3 of the key"):
        world.att(a).attestation(forged_id)
    not_a_point = _with(given.as_abi(), key=b"\x04" + b"\x01" * 64, nonce=random32())
    _raw_attest(world.att(a), not_a_point)
    with pytest.raises(InvalidAttestation, match=r"no SM2 public key"):
        world.att(a).attestation(world.att(a).attestations_of(a.address)[1])


def test_attester_must_be_a_broker_now(world: ConsentWorld) -> None:
    """The role is asked at each write: an auditor member is refused with the role it lacks."""
    auditor: Party = world.d.members[2]
    given = attestation_input(SM2PrivateKey.generate(), now=now_of(auditor))
    with refused(NotPermitted, "IdentityAttestations__NotPermitted", auditor.address, BROKER):
        world.att(auditor).attest(given)


def test_input_as_abi_carries_the_fingerprint_of_the_key() -> None:
    customer = SM2PrivateKey.generate()
    given = attestation_input(customer, now=10_000)
    assert isinstance(given, AttestationInput)
    assert given.as_abi()[1:3] == (
        customer.public_key().to_raw(),
        customer.public_key().fingerprint(),
    )
