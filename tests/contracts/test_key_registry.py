"""KeyRegistry on a real anvil node: windows (before, within, after), rotation at its boundary,
revocation before and after a signing time, every custom error with its arguments, events, and
entries whose fingerprint is not SM3 of the key refused by the binding."""

from __future__ import annotations

import pytest

from ledger.chain._reverts import refusals
from ledger.chain.artifact import load_artifact
from ledger.chain.errors import InvalidArgument, InvalidKeyEntry, NotPermitted, StateConflict
from ledger.chain.keys import (
    OPEN_ENDED,
    PURPOSE_IDS,
    REFUSALS,
    InitialKey,
    KeyRegistryContract,
    key_id_of,
)
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.consortium import (
    DeployConsortium,
    Party,
    chain_time,
    mine_at,
    refused,
    set_next_timestamp,
)

SIGNING = "request-signing"
SEALING = "proof-sealing"


def _valid(party: Party, member: Party, purpose: str, at: int) -> list[bytes]:
    return [k.fingerprint for k in party.keys.valid_keys_at(member.address, purpose, at)]


def test_register_stores_the_entry_and_emits_it(deploy_consortium: DeployConsortium) -> None:
    a = deploy_consortium().members[0]
    public = a.sm2.public_key()
    now = chain_time(a.client)
    set_next_timestamp(a.client, now + 10)
    registered = a.keys.register(SIGNING, public, not_before=now + 100, not_after=now + 200)
    expected_id = key_id_of(
        chain_id=a.client.chain_id,
        contract=a.keys.address,
        member=a.address,
        purpose=SIGNING,
        fingerprint=public.fingerprint(),
    )
    assert registered.key_id == expected_id
    assert a.keys.events("KeyRegistered", registered.sent) == [
        {
            "keyId": expected_id,
            "member": a.address,
            "purpose": PURPOSE_IDS[SIGNING],
            "fingerprint": public.fingerprint(),
            "publicKey": public.to_raw(),
            "notBefore": now + 100,
            "notAfter": now + 200,
        }
    ]
    entry = a.keys.key(expected_id)
    assert (entry.member, entry.purpose, entry.public_key) == (a.address, SIGNING, public)
    assert (entry.not_before, entry.not_after, entry.revoked_at) == (now + 100, now + 200, None)
    assert entry.registered_at == now + 10
    assert a.keys.key_ids_of(a.address, SIGNING) == [expected_id]
    assert a.keys.key_ids_of(a.address, SEALING) == []
    assert a.keys.consortium() == a.consortium.address


def test_window_before_within_after(deploy_consortium: DeployConsortium) -> None:
    a, b, _ = deploy_consortium().members
    now = chain_time(a.client)
    start, end = now + 100, now + 200
    a.keys.register(SIGNING, a.sm2.public_key(), not_before=start, not_after=end)
    fingerprint = a.sm2.public_key().fingerprint()
    for at, valid in [(start - 1, False), (start, True), (end - 1, True), (end, False)]:
        assert _valid(b, a, SIGNING, at) == ([fingerprint] if valid else [])
        assert b.keys.is_valid_at(a.address, SIGNING, fingerprint, at) is valid
        assert b.keys.key(a.keys.key_ids_of(a.address, SIGNING)[0]).valid_at(at) is valid
    assert _valid(b, a, SEALING, start) == []  # another purpose
    assert not b.keys.is_valid_at(b.address, SIGNING, fingerprint, start)  # another member


def test_open_ended_key_from_now(deploy_consortium: DeployConsortium) -> None:
    a = deploy_consortium().members[0]
    registered = a.keys.register(SEALING, a.sm2.public_key())
    entry = a.keys.key(registered.key_id)
    assert entry.not_before == entry.registered_at == chain_time(a.client)
    assert entry.not_after is None
    raw = a.client.call(a.keys._contract.functions.getKey(registered.key_id), a.keys.artifact)
    assert raw[6] == OPEN_ENDED
    assert _valid(a, a, SEALING, 2**63) == [a.sm2.public_key().fingerprint()]


def test_rotation_ends_the_old_key_where_the_new_one_starts(
    deploy_consortium: DeployConsortium,
) -> None:
    a, b, _ = deploy_consortium().members
    old_key, new_key = a.sm2.public_key(), SM2PrivateKey.generate().public_key()
    old = a.keys.register(SIGNING, old_key)
    at = chain_time(a.client) + 50
    rotated = a.keys.rotate(old.key_id, new_key, not_before=at)
    assert a.keys.events("KeyRotated", rotated.sent) == [
        {"oldKeyId": old.key_id, "newKeyId": rotated.key_id, "at": at}
    ]
    assert a.keys.key(old.key_id).not_after == at
    assert a.keys.key(rotated.key_id).purpose == SIGNING
    assert _valid(b, a, SIGNING, at - 1) == [old_key.fingerprint()]
    assert _valid(b, a, SIGNING, at) == [new_key.fingerprint()]
    # a signature made with the old key before the rotation stays valid
    assert b.keys.is_valid_at(a.address, SIGNING, old_key.fingerprint(), at - 1)
    assert not b.keys.is_valid_at(a.address, SIGNING, old_key.fingerprint(), at)


def test_rotation_must_start_inside_the_old_window(deploy_consortium: DeployConsortium) -> None:
    a = deploy_consortium().members[0]
    now = chain_time(a.client)
    old = a.keys.register(SIGNING, a.sm2.public_key(), not_before=now + 100, not_after=now + 200)
    fresh = SM2PrivateKey.generate().public_key()
    for start in (now + 99, now + 200):
        with refused(StateConflict, "KeyRegistry__InvalidRotation", old.key_id, start):
            a.keys.rotate(old.key_id, fresh, not_before=start)
    assert a.keys.key_ids_of(a.address, SIGNING) == [old.key_id]


def test_revocation_keeps_earlier_signatures_valid(deploy_consortium: DeployConsortium) -> None:
    a, b, _ = deploy_consortium().members
    public = a.sm2.public_key()
    registered = a.keys.register(SIGNING, public)
    start = a.keys.key(registered.key_id).not_before
    set_next_timestamp(a.client, start + 100)
    revoked = a.keys.revoke(registered.key_id, effective_at=start + 60)  # found late
    assert a.keys.events("KeyRevoked", revoked) == [
        {"keyId": registered.key_id, "member": a.address, "effectiveAt": start + 60}
    ]
    assert a.keys.key(registered.key_id).revoked_at == start + 60
    assert a.keys.key(registered.key_id).ends_at == start + 60
    assert b.keys.is_valid_at(a.address, SIGNING, public.fingerprint(), start + 59)
    assert not b.keys.is_valid_at(a.address, SIGNING, public.fingerprint(), start + 60)
    assert _valid(b, a, SIGNING, start + 59) == [public.fingerprint()]
    assert _valid(b, a, SIGNING, start + 61) == []
    with refused(StateConflict, "KeyRegistry__AlreadyRevoked", registered.key_id, start + 60):
        a.keys.revoke(registered.key_id)
    with refused(StateConflict, "KeyRegistry__InvalidRotation", registered.key_id, start + 100):
        a.keys.rotate(registered.key_id, SM2PrivateKey.generate().public_key())


def test_revocation_now_and_not_before_the_start(deploy_consortium: DeployConsortium) -> None:
    a = deploy_consortium().members[0]
    now = chain_time(a.client)
    registered = a.keys.register(SEALING, a.sm2.public_key(), not_before=now + 100)
    with refused(
        InvalidArgument,
        "KeyRegistry__InvalidRevocationTime",
        registered.key_id,
        now + 99,
        now + 100,
    ):
        a.keys.revoke(registered.key_id, effective_at=now + 99)
    set_next_timestamp(a.client, now + 5)
    a.keys.revoke(registered.key_id, effective_at=now + 150)
    assert a.keys.key(registered.key_id).ends_at == now + 150


def test_several_valid_keys_at_once(deploy_consortium: DeployConsortium) -> None:
    a, b, _ = deploy_consortium().members
    first, second = a.sm2.public_key(), SM2PrivateKey.generate().public_key()
    a.keys.register(SIGNING, first)
    a.keys.register(SIGNING, second)
    assert _valid(b, a, SIGNING, chain_time(a.client)) == [
        first.fingerprint(),
        second.fingerprint(),
    ]


def test_registration_errors(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a, b, _ = d.members
    public = a.sm2.public_key()
    raw, fingerprint = public.to_raw(), public.fingerprint()
    now = chain_time(a.client)
    fn = a.keys._contract.functions.registerKey

    def send(*args: object) -> object:
        return a.keys._transact(fn(*args))

    signing = PURPOSE_IDS[SIGNING]
    other = b"\x07" * 32
    with refused(InvalidArgument, "KeyRegistry__UnknownPurpose", other):
        send(other, raw, fingerprint, 0, 0)
    with refused(InvalidArgument, "KeyRegistry__InvalidPublicKey", 64):
        send(signing, raw[:64], fingerprint, 0, 0)
    with refused(InvalidArgument, "KeyRegistry__InvalidPublicKey", 65):
        send(signing, b"\x03" + raw[1:], fingerprint, 0, 0)
    with refused(InvalidArgument, "KeyRegistry__InvalidFingerprint"):
        send(signing, raw, b"\0" * 32, 0, 0)
    with refused(InvalidArgument, "KeyRegistry__InvalidWindow", now + 10, now + 10):
        send(signing, raw, fingerprint, now + 10, now + 10)
    mine_at(a.client, now + 3)
    with refused(InvalidArgument, "KeyRegistry__StartsInPast", now + 2, now + 3):
        a.keys.register(SIGNING, public, not_before=now + 2)
    registered = a.keys.register(SIGNING, public)
    with refused(StateConflict, "KeyRegistry__KeyAlreadyRegistered", registered.key_id):
        a.keys.register(SIGNING, public)
    a.keys.register(SEALING, public)  # the same key for its other purpose
    with refused(StateConflict, "KeyRegistry__KeyOfAnotherMember", fingerprint, a.address):
        b.keys.register(SIGNING, public)
    with refused(NotPermitted, "KeyRegistry__NotKeyOwner", registered.key_id, b.address, a.address):
        b.keys.revoke(registered.key_id)
    with refused(NotPermitted, "KeyRegistry__NotKeyOwner", registered.key_id, b.address, a.address):
        b.keys.rotate(registered.key_id, b.sm2.public_key())
    unknown = b"\x42" * 32
    for action in (a.keys.key, a.keys.revoke):
        with refused(StateConflict, "KeyRegistry__UnknownKey", unknown):
            action(unknown)
    with refused(StateConflict, "KeyRegistry__UnknownKey", unknown):
        a.keys.rotate(unknown, b.sm2.public_key())
    assert a.keys.key_ids_of(a.address, SIGNING) == [registered.key_id]


def test_non_members_register_nothing(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    outsider = d.outsiders[0]
    mine = d.members[0].keys.register(SIGNING, d.members[0].sm2.public_key())
    for action in (
        lambda: outsider.keys.register(SIGNING, outsider.sm2.public_key()),
        lambda: outsider.keys.rotate(mine.key_id, outsider.sm2.public_key()),
        lambda: outsider.keys.revoke(mine.key_id),
    ):
        with refused(NotPermitted, "KeyRegistry__NotMember", outsider.address):
            action()
    assert outsider.keys.key_ids_of(outsider.address, SIGNING) == []


def test_an_entry_whose_fingerprint_is_not_sm3_of_the_key_is_refused(
    deploy_consortium: DeployConsortium,
) -> None:
    a, b, _ = deploy_consortium().members
    raw = a.sm2.public_key().to_raw()
    forged = b"\x11" * 32
    a.keys._transact(
        a.keys._contract.functions.registerKey(PURPOSE_IDS[SIGNING], raw, forged, 0, 0)
    )
    key_id = a.keys.key_ids_of(a.address, SIGNING)[0]
    with pytest.raises(InvalidKeyEntry, match=r"registered fingerprint 1111.* is not SM3 of"):
        b.keys.key(key_id)
    with pytest.raises(InvalidKeyEntry, match=r"is not SM3 of the key"):
        b.keys.valid_keys_at(a.address, SIGNING, chain_time(a.client))


def test_an_entry_that_is_not_an_sm2_point_is_refused(deploy_consortium: DeployConsortium) -> None:
    a = deploy_consortium().members[0]
    not_a_point = b"\x04" + b"\x01" * 64
    a.keys._transact(
        a.keys._contract.functions.registerKey(
            PURPOSE_IDS[SEALING], not_a_point, b"\x22" * 32, 0, 0
        )
    )
    with pytest.raises(InvalidKeyEntry, match=r"is not an SM2 public key"):
        a.keys.keys_of(a.address, SEALING)


def test_founding_keys_at_deployment(deploy_consortium: DeployConsortium) -> None:
    d = deploy_consortium()
    a, b, _ = d.members
    initial = [
        InitialKey(member=a.address, purpose=SIGNING, public_key=a.sm2.public_key()),
        InitialKey(member=b.address, purpose=SEALING, public_key=b.sm2.public_key()),
    ]
    sent = a.client.deploy(
        load_artifact("KeyRegistry"),
        *KeyRegistryContract.constructor_args(a.consortium.address, initial),
    )
    registry = KeyRegistryContract(client=a.client, address=sent.receipt["contractAddress"])
    assert [e["member"] for e in registry.events("KeyRegistered", sent)] == [a.address, b.address]
    at = chain_time(a.client)
    assert [k.public_key for k in registry.valid_keys_at(b.address, SEALING, at)] == [
        b.sm2.public_key()
    ]
    outsider = d.outsiders[0]
    stray = [InitialKey(member=outsider.address, purpose=SIGNING, public_key=a.sm2.public_key())]
    with refused(NotPermitted, "KeyRegistry__NotMember", outsider.address), refusals(REFUSALS):
        a.client.deploy(
            load_artifact("KeyRegistry"),
            *KeyRegistryContract.constructor_args(a.consortium.address, stray),
        )


@pytest.mark.parametrize("purpose", ["request-signing", "proof-sealing", "disclosure-receiving"])
def test_each_purpose_keeps_its_own_keys(
    deploy_consortium: DeployConsortium, purpose: str
) -> None:
    a, b, _ = deploy_consortium().members
    public = SM2PrivateKey.generate().public_key()
    registered = a.keys.register(purpose, public)
    entry = b.keys.key(registered.key_id)
    assert (entry.purpose, entry.public_key) == (purpose, public)
    assert a.keys.events("KeyRegistered", registered.sent)[0]["purpose"] == PURPOSE_IDS[purpose]
    now = chain_time(a.client)
    for other in {"request-signing", "proof-sealing", "disclosure-receiving"} - {purpose}:
        assert _valid(b, a, other, now) == []
    assert _valid(b, a, purpose, now) == [public.fingerprint()]
