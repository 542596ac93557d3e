"""Signatures are bound to agreement, document, role, time, chain and contract."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from ledger.agreement import AgreementError, SigningDomain, SigningPayloadV0
from ledger.crypto.errors import InvalidSignature
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.signature import sign, signature_set_digest

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
KEY = SM2PrivateKey.generate()
PAYLOAD = SigningPayloadV0(
    agreement_id="agr_" + "ab" * 16,
    document_sm3=b"\x11" * 32,
    document_cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    role="customer",
    signed_at=datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC),
    domain=SigningDomain(chain_id=31337, contract=CONTRACT),
)


def test_payload_is_domain_separated_canonical_json() -> None:
    assert PAYLOAD.to_bytes() == (
        b'{"agreement_id":"agr_abababababababababababababababab","chain_id":31337,'
        b'"contract":"0x5FbDB2315678afecb367f032d93F642f64180aa3",'
        b'"document_cid":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",'
        b'"document_digest":"sm3:1111111111111111111111111111111111111111111111111111111111111111",'
        b'"role":"customer","signed_at":"2026-11-21T12:00:00Z",'
        b'"type":"ledger/agreement-signature","version":0}'
    )


def test_signature_verifies_for_its_payload() -> None:
    sign(KEY, PAYLOAD).verify(PAYLOAD)


@pytest.mark.parametrize(
    "change",
    [
        {"agreement_id": "agr_" + "cd" * 16},
        {"document_sm3": b"\x12" * 32},
        {"document_cid": "bafkreia5ogmnar3nvoybucp4fjnlnzh5hgcmttttabswiufrvojiumimzy"},
        {"domain": SigningDomain(chain_id=1, contract=CONTRACT)},
        {
            "domain": SigningDomain(
                chain_id=31337, contract="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
            )
        },
    ],
)
def test_signature_cannot_be_replayed_elsewhere(change: dict[str, object]) -> None:
    signature = sign(KEY, PAYLOAD)
    with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
        signature.verify(dataclasses.replace(PAYLOAD, **change))  # type: ignore[arg-type]


def test_signature_is_for_one_role_and_time() -> None:
    signature = sign(KEY, PAYLOAD)
    with pytest.raises(
        InvalidSignature, match=r"^signature of 'customer' is for another role or time$"
    ):
        signature.verify(dataclasses.replace(PAYLOAD, role="broker"))
    with pytest.raises(
        InvalidSignature, match=r"^signature of 'customer' is for another role or time$"
    ):
        signature.verify(
            dataclasses.replace(PAYLOAD, signed_at=datetime(2026, 11, 21, 12, 0, 1, tzinfo=UTC))
        )


def test_set_digest_depends_on_every_signature_and_order() -> None:
    a = sign(KEY, PAYLOAD)
    b = sign(SM2PrivateKey.generate(), dataclasses.replace(PAYLOAD, role="broker"))
    assert signature_set_digest([a, b]) != signature_set_digest([b, a])
    assert signature_set_digest([a, b]) != signature_set_digest([a])


@pytest.mark.parametrize("role", ["", "Customer", "1st", "a" * 33, "cus tomer"])
def test_bad_roles_are_refused(role: str) -> None:
    with pytest.raises(
        AgreementError, match=r"^a role is 1-32 of \[a-z0-9_-\], starting with a letter: '"
    ):
        sign(KEY, dataclasses.replace(PAYLOAD, role=role))


def test_bad_domain_is_refused() -> None:
    with pytest.raises(AgreementError, match=r"^chain ID must be positive, got 0$"):
        SigningDomain(chain_id=0, contract=CONTRACT)
    with pytest.raises(
        AgreementError, match=r"^contract must be a checksummed address, got '0x[0-9a-fA-F]{40}'$"
    ):
        SigningDomain(chain_id=1, contract=CONTRACT.lower())
