"""``ledger-proof/2`` offline: the ``keys`` part (registry entries of the seal key and the
broker's key) and its checks 10 to 13. On-chain confirmation: tests/integration/proof/."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from ledger import canonical
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.proof import (
    FORMAT_V1,
    FORMAT_V2,
    ClaimedKey,
    KeyClaims,
    ProofInvalid,
    ProofKeys,
    verify_proof,
)
from ledger.proof import _common as proof_common
from ledger.proof import _v1 as proof_v1
from ledger.proof import _v2 as proof_v2
from tests._fixtures.proof_keys import (
    DEV_ACCOUNT,
    OFFLINE_REGISTRY,
    REGISTERED_AT,
    SEALED_AT,
    entry,
    offline_keys,
    with_seal,
)
from tests._fixtures.proofs import (
    OFFLINE_DOMAIN,
    SIGNED_AT,
    AnchoredBatch,
    Parties,
    anchor_offline,
    sign_version,
)

SEALED = int(SEALED_AT.timestamp())
BROKER_SIGNED = int(SIGNED_AT.timestamp()) + 1  # the broker signs a second after the customer


@pytest.fixture(scope="module")
def parties() -> Parties:
    return Parties.generate()


@pytest.fixture(scope="module")
def batch(parties: Parties) -> AnchoredBatch:
    return anchor_offline([sign_version(parties) for _ in range(2)], extra_leaves=3)


@pytest.fixture(scope="module")
def keys(parties: Parties) -> ProofKeys:
    return offline_keys(parties)


@pytest.fixture(scope="module")
def proof(batch: AnchoredBatch, parties: Parties, keys: ProofKeys) -> bytes:
    return batch.proof(1, parties.issuer, keys=keys)


def reseal(data: bytes, edit: Callable[[dict[str, Any]], object], issuer: SM2PrivateKey) -> bytes:
    """A v2 proof edited and sealed again, so that the check the edit targets is what fails."""
    body = canonical.loads_canonical(data)
    edit(body)
    body["seal"] = proof_common.seal(
        body,
        domain=proof_v2.SEAL_DOMAIN,
        issuer_key=issuer,
        distid=body["seal"]["distid"].encode(),
    )
    return canonical.dumps(body)


def test_a_v2_proof_states_its_keys(proof: bytes, parties: Parties, keys: ProofKeys) -> None:
    verified = verify_proof(proof)
    assert verified.format == FORMAT_V2 == canonical.loads_canonical(proof)["format"]
    broker = keys.broker
    assert broker is not None
    assert verified.keys == KeyClaims(
        chain_id=OFFLINE_DOMAIN.chain_id,
        registry=OFFLINE_REGISTRY,
        sealed_at=SEALED_AT,
        entries=(
            ClaimedKey(
                signer="seal",
                key_id=keys.seal.key_id,
                member=DEV_ACCOUNT,
                purpose="proof-sealing",
                fingerprint=parties.issuer.public_key().fingerprint(),
                not_before=REGISTERED_AT,
                not_after=None,
                revoked_at=None,
                registered_at=REGISTERED_AT,
                used_at=SEALED_AT,
            ),
            ClaimedKey(
                signer="broker",
                key_id=broker.key_id,
                member=broker.member,
                purpose="request-signing",
                fingerprint=parties.keys["broker"].public_key().fingerprint(),
                not_before=REGISTERED_AT,
                not_after=None,
                revoked_at=None,
                registered_at=REGISTERED_AT,
                used_at=SIGNED_AT + timedelta(seconds=1),
            ),
        ),
    )
    assert verified.issuer_fingerprint == parties.issuer.public_key().fingerprint()


def test_the_keys_part_as_written(proof: bytes, keys: ProofKeys) -> None:
    assert canonical.loads_canonical(proof)["keys"] == {
        "registry": {"chain_id": 31337, "contract": OFFLINE_REGISTRY},
        "sealed_at": "2026-11-21T10:30:00Z",
        "seal": {
            "key_id": canonical.label("keccak256", keys.seal.key_id),
            "member": DEV_ACCOUNT,
            "purpose": "proof-sealing",
            "fingerprint": canonical.label("sm3", keys.seal.fingerprint),
            "not_before": REGISTERED_AT,
            "registered_at": REGISTERED_AT,
        },
        "broker": {
            "key_id": canonical.label("keccak256", keys.broker.key_id),  # type: ignore[union-attr]
            "member": to_checksum_address("0x" + "b0" * 20),
            "purpose": "request-signing",
            "fingerprint": canonical.label("sm3", keys.broker.fingerprint),  # type: ignore[union-attr]
            "not_before": REGISTERED_AT,
            "registered_at": REGISTERED_AT,
        },
    }


def test_without_keys_the_builder_writes_v1_which_claims_none(
    batch: AnchoredBatch, parties: Parties
) -> None:
    verified = verify_proof(batch.proof(1, parties.issuer))
    assert (verified.format, verified.keys) == (FORMAT_V1, None)


def test_the_broker_entry_is_optional(batch: AnchoredBatch, parties: Parties) -> None:
    data = batch.proof(0, parties.issuer, keys=offline_keys(parties, broker=False))
    claims = verify_proof(data).keys
    assert claims is not None
    assert [k.signer for k in claims.entries] == ["seal"]
    assert "broker" not in canonical.loads_canonical(data)["keys"]


def test_windows_with_ends_and_revocations_after_the_signing(
    batch: AnchoredBatch, parties: Parties, keys: ProofKeys
) -> None:
    """A key revoked (or ending) after it signed: the signature stays valid."""
    later = with_seal(keys, not_after=SEALED + 1, revoked_at=SEALED + 1)
    claims = verify_proof(batch.proof(1, parties.issuer, keys=later)).keys
    assert claims is not None
    assert (claims.entries[0].not_after, claims.entries[0].revoked_at) == (SEALED + 1,) * 2
    # the window includes its start: a key registered from the very second it sealed
    starting = with_seal(keys, not_before=SEALED, registered_at=SEALED)
    claims = verify_proof(batch.proof(1, parties.issuer, keys=starting)).keys
    assert claims is not None and claims.entries[0].not_before == SEALED


def test_the_chain_claims_include_the_keys(
    proof: bytes, batch: AnchoredBatch, parties: Parties
) -> None:
    other = verify_proof(batch.proof(1, parties.issuer, keys=offline_keys(parties, broker=False)))
    assert verify_proof(proof).chain_claims() != other.chain_claims()


def test_the_seal_domain_is_v2s(proof: bytes, parties: Parties) -> None:
    body = canonical.loads_canonical(proof)
    body["seal"] = proof_common.seal(
        body, domain=proof_v1.SEAL_DOMAIN, issuer_key=parties.issuer, distid=b"1234567812345678"
    )
    with pytest.raises(ProofInvalid, match=r"^issuer seal does not verify"):
        verify_proof(canonical.dumps(body))


# --- each offline check, with its message (a proof the builder refuses, or an edited one)

T_SEALED = "2026-11-21T10:30:00Z"
T_BROKER = "2026-11-21T09:30:01Z"


def _builder_cases(parties: Parties, keys: ProofKeys) -> dict[str, tuple[ProofKeys, str]]:
    other = SM2PrivateKey.generate().public_key()
    broker = keys.broker
    assert broker is not None
    stranger = to_checksum_address("0x" + "77" * 20)
    return {
        "registry on another chain": (
            replace(keys, chain_id=1, seal=entry(keys.seal.public_key, chain_id=1)),
            "the key registry is on chain 1, the anchor on chain 31337",
        ),
        "sealed before acceptance": (
            replace(keys, sealed_at=SIGNED_AT),
            "sealed at 2026-11-21T09:30:00Z, before the version was accepted"
            " (2026-11-21T09:31:00Z)",
        ),
        "seal entry of another key": (
            replace(keys, seal=entry(other)),
            f"the seal key entry is for key sm3:{other.fingerprint().hex()}, the signature was"
            f" made with key sm3:{keys.seal.fingerprint.hex()}",
        ),
        "seal key for request signing": (
            with_seal(keys, purpose="request-signing"),
            "the seal key is registered for 'request-signing', not 'proof-sealing'",
        ),
        "seal key of another member": (
            with_seal(keys, member=stranger),
            f"the seal key is registered to {stranger}, the batch was anchored by {DEV_ACCOUNT}",
        ),
        "seal key not yet valid": (
            with_seal(keys, not_before=SEALED + 1),
            f"the seal key was not valid when it signed ({T_SEALED}): its window starts at"
            " 2026-11-21T10:30:01Z",
        ),
        "seal key window ended": (
            with_seal(keys, not_after=SEALED),
            f"the seal key was not valid when it signed ({T_SEALED}): its window ended at"
            f" {T_SEALED}",
        ),
        "seal key revoked at the sealing": (
            with_seal(keys, revoked_at=SEALED),
            f"the seal key was not valid when it signed ({T_SEALED}): it was revoked effective"
            f" {T_SEALED}",
        ),
        "seal key revoked before its window ended": (
            with_seal(keys, not_after=SEALED - 10, revoked_at=SEALED - 20),
            f"the seal key was not valid when it signed ({T_SEALED}): it was revoked effective"
            " 2026-11-21T10:29:40Z",
        ),
        "broker entry of another key": (
            replace(keys, broker=entry(other, member=broker.member, purpose="request-signing")),
            f"the broker's key entry is for key sm3:{other.fingerprint().hex()}, the signature"
            f" was made with key sm3:{broker.fingerprint.hex()}",
        ),
        "broker key for proof sealing": (
            replace(keys, broker=entry(broker.public_key, member=broker.member)),
            "the broker's key is registered for 'proof-sealing', not 'request-signing'",
        ),
        "broker key revoked before it signed": (
            replace(
                keys,
                broker=entry(
                    broker.public_key,
                    member=broker.member,
                    purpose="request-signing",
                    revoked_at=BROKER_SIGNED,
                ),
            ),
            f"the broker's key was not valid when it signed ({T_BROKER}): it was revoked"
            f" effective {T_BROKER}",
        ),
        "broker key registered after it signed": (
            replace(
                keys,
                broker=entry(
                    broker.public_key,
                    member=broker.member,
                    purpose="request-signing",
                    not_before=BROKER_SIGNED + 1,
                ),
            ),
            f"the broker's key was not valid when it signed ({T_BROKER}): its window starts at"
            " 2026-11-21T09:30:02Z",
        ),
    }


CASES = [
    "registry on another chain",
    "sealed before acceptance",
    "seal entry of another key",
    "seal key for request signing",
    "seal key of another member",
    "seal key not yet valid",
    "seal key window ended",
    "seal key revoked at the sealing",
    "seal key revoked before its window ended",
    "broker entry of another key",
    "broker key for proof sealing",
    "broker key revoked before it signed",
    "broker key registered after it signed",
]


@pytest.mark.parametrize("case", CASES)
def test_the_builder_refuses_keys_that_do_not_check(
    batch: AnchoredBatch, parties: Parties, keys: ProofKeys, case: str
) -> None:
    bad_keys, message = _builder_cases(parties, keys)[case]
    with pytest.raises(ProofInvalid, match=f"^{re.escape(message)}$"):
        batch.proof(1, parties.issuer, keys=bad_keys)


def _set(path: str, value: object) -> Callable[[dict[str, Any]], object]:
    def edit(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        part = body
        for name in parents:
            part = part[name]
        part[last] = value

    return edit


EDITS: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "key ID of another key": (
        _set("keys.seal.key_id", "keccak256:" + "ab" * 32),
        "the seal key entry's key ID is not the registry's ID of its member, purpose and key",
    ),
    "broker key ID of another member": (
        _set("keys.broker.member", to_checksum_address("0x" + "b1" * 20)),
        "the broker's key entry's key ID is not the registry's ID of its member, purpose and key",
    ),
    "registry not checksummed": (
        _set("keys.registry.contract", OFFLINE_REGISTRY.lower()),
        f"address {OFFLINE_REGISTRY.lower()} is not in checksummed form",
    ),
    "a null end": (
        _set("keys.seal.not_after", None),
        "malformed proof at keys.seal.not_after: null is not allowed",
    ),
    "an unknown purpose": (
        _set("keys.seal.purpose", "document-signing"),
        "malformed proof at keys.seal.purpose: Input should be 'request-signing' or"
        " 'proof-sealing'",
    ),
    "an unknown field": (
        _set("keys.seal.comment", "trust me"),
        "malformed proof at keys.seal.comment: Extra inputs are not permitted",
    ),
    "a negative time": (
        _set("keys.seal.not_before", -1),
        "malformed proof at keys.seal.not_before: Input should be greater than or equal to 0",
    ),
    "no keys": (
        lambda body: body.pop("keys"),
        "malformed proof at keys: Field required",
    ),
    "sealed_at not canonical": (
        _set("keys.sealed_at", "2026-11-21T10:30:00.000Z"),
        "expected a UTC time like 2026-01-31T12:00:00Z: '2026-11-21T10:30:00.000Z'",
    ),
}


def test_a_window_beyond_json_integers_cannot_be_written(
    batch: AnchoredBatch, parties: Parties, keys: ProofKeys
) -> None:
    """The registry takes any uint64 end; a proof file writes integers up to 2**53 - 1."""
    with pytest.raises(
        ProofInvalid, match=r"^the proof-sealing key's not_after \(9007199254740992\) is beyond"
    ):
        batch.proof(1, parties.issuer, keys=with_seal(keys, not_after=2**53))


@pytest.mark.parametrize("case", list(EDITS))
def test_edited_keys_are_refused(proof: bytes, parties: Parties, case: str) -> None:
    edit, message = EDITS[case]
    with pytest.raises(ProofInvalid, match=f"^{re.escape(message)}"):
        verify_proof(reseal(proof, edit, parties.issuer))


def test_every_byte_of_the_keys_part_counts(proof: bytes) -> None:
    """Each single-byte change inside ``keys`` is refused (the seal covers what no other check
    reads offline: ``registered_at``, the broker's member)."""
    start = proof.index(b'"keys":')
    end = proof.index(b'"seal":{"algorithm"')
    accepted = []
    for position in range(start, end):
        for flip in (0x01, 0x20):
            changed = bytearray(proof)
            changed[position] ^= flip
            try:
                verify_proof(bytes(changed))
            except ProofInvalid:
                continue
            accepted.append((position, flip))
    assert accepted == []
