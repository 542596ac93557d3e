"""The proof package reads both formats: dispatch on ``format``, and ``ledger-proof/0`` files
(built offline here; on a real chain in tests/e2e) still verify and fill the shared result."""

from __future__ import annotations

import json

import pytest

from ledger import canonical
from ledger.agreement import Document, SigningPayloadV0, new_agreement_id
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.proof import (
    FORMAT_V0,
    FORMAT_V1,
    FORMATS,
    ProofInvalid,
    verify_proof,
)
from ledger.signature import sign
from ledger.store import cid_of
from tests._fixtures.proofs import (
    OFFLINE_DOMAIN,
    SIGNED_AT,
    Parties,
    anchor_offline,
    offline_v0_proof,
    sign_version,
)


@pytest.fixture(scope="module")
def parties() -> Parties:
    return Parties.generate()


@pytest.fixture(scope="module")
def v0_proof(parties: Parties) -> bytes:
    agreement_id = new_agreement_id()
    document = Document(b"SECURITIES ACCOUNT AGREEMENT (v0 sample)\n")
    ciphertext = b"\x01ciphertext stand-in\x02"
    cid = cid_of(ciphertext)
    signatures = [
        sign(
            parties.keys[role],
            SigningPayloadV0(
                agreement_id=agreement_id,
                document_sm3=document.sm3,
                document_cid=cid,
                role=role,
                signed_at=SIGNED_AT,
                domain=OFFLINE_DOMAIN,
            ),
        )
        for role in ("customer", "broker")
    ]
    return offline_v0_proof(
        parties,
        agreement_id=agreement_id,
        document=document,
        cid=cid,
        ciphertext=ciphertext,
        signatures=signatures,
        block_hash=b"\x33" * 32,
    )


def test_v0_proofs_still_verify(v0_proof: bytes) -> None:
    verified = verify_proof(v0_proof)
    assert verified.format == FORMAT_V0
    assert verified.roles == ("customer", "broker")  # v0 keeps the signing order
    assert (verified.agreement_version, verified.kind, verified.accepted_at) == (
        None,
        "agreement",
        None,
    )
    batch_fields = (verified.batch_id, verified.leaf_index, verified.tree_size, verified.root)
    assert batch_fields == (None, None, None, None) and verified.leaf_hash is None
    assert verified.anchor_id != b"" and verified.block_number == 3


def test_v0_and_v1_claims_differ(v0_proof: bytes, parties: Parties) -> None:
    v1 = verify_proof(anchor_offline([sign_version(parties)]).proof(0, parties.issuer))
    assert verify_proof(v0_proof).chain_claims() != v1.chain_claims()


def test_every_single_byte_change_of_a_v0_proof_still_fails(v0_proof: bytes) -> None:
    survivors = []
    for index in range(len(v0_proof)):
        mutated = bytearray(v0_proof)
        mutated[index] ^= 0x01
        try:
            verify_proof(bytes(mutated))
        except ProofInvalid:
            continue
        survivors.append(index)
    assert survivors == []


@pytest.mark.parametrize(
    "body",
    [b"[]", b"1", b"{}", b'{"format":"ledger-proof/9"}', b'{"format":1}', b'{"format":null}'],
)
def test_unsupported_formats_name_what_is_read(body: bytes) -> None:
    with pytest.raises(ProofInvalid, match=r"^unsupported proof format ") as failure:
        verify_proof(body)
    assert all(name in str(failure.value) for name in FORMATS)


def test_a_v1_body_labelled_v0_is_malformed(parties: Parties) -> None:
    data = anchor_offline([sign_version(parties)]).proof(0, parties.issuer)
    body = json.loads(data)
    body["format"] = FORMAT_V0
    with pytest.raises(ProofInvalid, match=r"^malformed proof at"):
        verify_proof(canonical.dumps(body))


def test_a_v0_body_labelled_v1_is_malformed(v0_proof: bytes) -> None:
    body = json.loads(v0_proof)
    body["format"] = FORMAT_V1
    with pytest.raises(ProofInvalid, match=r"^malformed proof at"):
        verify_proof(canonical.dumps(body))


def test_not_json_at_all() -> None:
    with pytest.raises(ProofInvalid, match=r"^not a proof file"):
        verify_proof(b"\xff\xfe")


def test_issuer_keys_are_not_interchangeable(v0_proof: bytes) -> None:
    stranger = SM2PrivateKey.generate().public_key().fingerprint()
    with pytest.raises(ProofInvalid, match=r"^issuer key sm3:[0-9a-f]{64} is not trusted$"):
        verify_proof(v0_proof, trusted_issuers={stranger})
