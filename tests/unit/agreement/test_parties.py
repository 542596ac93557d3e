"""Who signs and owns an agreement's versions: one key per role, the parties of the version in
force sign the next one, the owner's versions only; and the customer's erasure request."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import NamedTuple

import pytest

from ledger import canonical
from ledger.agreement import (
    AgreementError,
    AgreementVersion,
    ErasureRequest,
    SignatureRecord,
    SigningDomain,
    VersionKind,
    VersionStatus,
    owner_refusal,
    party_refusal,
    signer_keys_refusal,
)
from ledger.crypto.errors import InvalidSignature
from ledger.crypto.sm2 import SM2PrivateKey

AGR = "agr_" + "ab" * 16
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
CUSTOMER, BROKER, OTHER = (bytes([n]) * 65 for n in (1, 2, 3))
DOMAIN = SigningDomain(chain_id=31337, contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")


class Latest(NamedTuple):
    version: int
    kind: str
    status: str
    owner: str | None


def _in_force() -> AgreementVersion:
    return AgreementVersion(
        agreement_id=AGR,
        version=1,
        kind=VersionKind.AGREEMENT,
        status=VersionStatus.ANCHORED,
        document_sm3=bytes(32),
        document_cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        media_type="text/plain",
        size=0,
        required_roles=("broker", "customer"),
        chain_id=1,
        contract="0x" + "00" * 20,
        created_at=NOW,
        accepted_at=NOW,
        signatures=tuple(
            SignatureRecord(AGR, 1, role, NOW, key, b"1234567812345678", b"sig", NOW)
            for role, key in (("broker", BROKER), ("customer", CUSTOMER))
        ),
        owner="member-a",
    )


def test_one_key_signs_for_one_role() -> None:
    assert signer_keys_refusal(AGR, 1, [("customer", CUSTOMER), ("broker", BROKER)]) is None
    assert signer_keys_refusal(AGR, 1, [("customer", CUSTOMER), ("broker", CUSTOMER)]) == (
        f"{AGR} v1: one key signs as ['broker', 'customer']; each role signs with its own key"
        " (the customer's and the broker's differ)"
    )
    assert signer_keys_refusal(AGR, 2, [("witness", OTHER), ("broker", BROKER), ("x", OTHER)])


def test_only_the_owner_adds_versions_and_the_words_do_not_say_whose() -> None:
    assert owner_refusal(AGR, None, "member-b") is None
    assert owner_refusal(AGR, Latest(1, "agreement", "draft", "member-a"), "member-a") is None
    assert owner_refusal(AGR, Latest(1, "agreement", "draft", None), None) is None
    for owner in ("member-b", None):
        refusal = owner_refusal(AGR, Latest(1, "agreement", "draft", "member-a"), owner)
        assert refusal == f"{AGR}: this agreement ID is taken"
    assert owner_refusal(AGR, Latest(1, "agreement", "draft", None), "member-a")


def test_the_parties_of_the_version_in_force_sign_the_next() -> None:
    v1 = _in_force()
    ok = {"in_force": v1, "owner": "member-a", "key_member": None}
    assert party_refusal(AGR, 2, "customer", CUSTOMER, **ok) is None
    assert party_refusal(AGR, 2, "customer", OTHER, **ok) == (
        f"{AGR} v2 must be signed by the customer key that signed v1, not another key"
    )
    assert party_refusal(AGR, 2, "broker", OTHER, **{**ok, "key_member": "member-a"}) is None
    for member in (None, "member-b"):
        assert party_refusal(AGR, 2, "broker", BROKER, **{**ok, "key_member": member}) == (
            f"{AGR} v2 must be signed by a broker key of member 'member-a' that the key"
            " directory holds valid now"
        )
    # stored before attribution: the in-force broker key itself
    legacy = {"in_force": replace(v1, owner=None), "owner": None, "key_member": None}
    assert party_refusal(AGR, 2, "broker", BROKER, **legacy) is None
    assert party_refusal(AGR, 2, "broker", OTHER, **legacy) == (
        f"{AGR} v2 must be signed by the broker key that signed v1"
    )
    # nothing in force yet (drafts only): any parties; other roles are not constrained
    assert (
        party_refusal(AGR, 2, "customer", OTHER, in_force=None, owner="a", key_member=None) is None
    )
    assert party_refusal(AGR, 2, "witness", OTHER, **ok) is None


def test_the_erasure_request_payload_and_signature() -> None:
    key = SM2PrivateKey.generate()
    request = ErasureRequest(agreement_id=AGR, nonce="n" * 22, requested_at=NOW, domain=DOMAIN)
    assert request.to_bytes() == canonical.dumps(
        {
            "type": "ledger/erasure-request",
            "version": 1,
            "agreement_id": AGR,
            "chain_id": 31337,
            "contract": DOMAIN.contract,
            "nonce": "n" * 22,
            "requested_at": "2026-11-28T12:00:00Z",
        }
    )
    signed = request.sign(key)
    signed.verify()
    for changed in (
        replace(signed, request=replace(request, nonce="m" * 22)),
        replace(signed, request=replace(request, agreement_id="agr_" + "cd" * 16)),
        replace(signed, request=replace(request, domain=replace(DOMAIN, chain_id=1))),
        replace(signed, public_key=SM2PrivateKey.generate().public_key()),
    ):
        with pytest.raises(InvalidSignature, match=r"^SM2 signature does not verify$"):
            changed.verify()
    with pytest.raises(AgreementError, match=r"^a nonce is 16-128 characters"):
        replace(request, nonce="short").to_bytes()
