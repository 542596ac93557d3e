"""ledger.agreement's checks at their exact bounds, and what each format refuses to write."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from eth_utils import to_checksum_address

from ledger.agreement import (
    REQUIRED_ROLES,
    VERSION_KINDS,
    AgreementError,
    Document,
    LeafEntry,
    SigningDomain,
    SigningPayload,
    SigningPayloadV0,
    check_agreement_id,
    check_role,
    check_version,
    new_agreement_id,
)
from ledger.crypto.sm3 import sm3

CONTRACT = to_checksum_address("0x" + "5e" * 20)
DOMAIN = SigningDomain(chain_id=31337, contract=CONTRACT)
AT = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
ID = "agr_" + "ab" * 16


@pytest.mark.parametrize("version", [1, 2, 2**31 - 1])
def test_versions_from_1_below_2_31(version: int) -> None:
    assert check_version(version) == version


@pytest.mark.parametrize("version", [0, -1, 2**31, 2**32, True, False, 1.0, "1", None])
def test_versions_outside_are_refused(version: object) -> None:
    with pytest.raises(
        AgreementError, match=rf"^agreement versions are integers from 1, got {version!r}$"
    ):
        check_version(version)  # type: ignore[arg-type]


def test_agreement_ids() -> None:
    assert check_agreement_id(ID) == ID
    new = new_agreement_id()
    assert check_agreement_id(new) == new and len(new) == 36 and new != new_agreement_id()
    for bad in ("agr_" + "AB" * 16, "agr_" + "ab" * 15, "agr_" + "ab" * 17, "AGR_" + "ab" * 16):
        with pytest.raises(AgreementError, match=r"^agreement IDs look like agr_<32 hex>, got "):
            check_agreement_id(bad)


@pytest.mark.parametrize("role", ["a", "customer", "broker", "b" + "x" * 31, "r2_d-2"])
def test_roles(role: str) -> None:
    assert check_role(role) == role


@pytest.mark.parametrize("role", ["", "1a", "Customer", "b" + "x" * 32, "a b", "_a"])
def test_bad_roles(role: str) -> None:
    with pytest.raises(AgreementError, match=r"^a role is 1-32 of \[a-z0-9_-\], starting with"):
        check_role(role)


def test_required_roles_and_kinds() -> None:
    assert REQUIRED_ROLES == ("customer", "broker")
    assert VERSION_KINDS == ("agreement", "void")


def test_signing_domain_bounds() -> None:
    assert SigningDomain(chain_id=1, contract=CONTRACT).chain_id == 1
    for chain_id in (0, -1):
        with pytest.raises(AgreementError, match=rf"^chain ID must be positive, got {chain_id}$"):
            SigningDomain(chain_id=chain_id, contract=CONTRACT)
    with pytest.raises(AgreementError, match=r"^contract must be a checksummed address, got '0x5e"):
        SigningDomain(chain_id=1, contract=CONTRACT.lower())


def test_document_digest_is_sm3_of_the_content() -> None:
    document = Document(b"terms")
    assert document.sm3 == sm3(b"terms")
    assert document.media_type == "text/plain; charset=utf-8"


PAYLOAD = SigningPayload(
    agreement_id=ID,
    agreement_version=1,
    document_sm3=bytes(32),
    role="customer",
    signed_at=AT,
    domain=DOMAIN,
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"agreement_id": "agr_x"}, r"^agreement IDs look like"),
        ({"agreement_version": 0}, r"^agreement versions are integers from 1, got 0$"),
        ({"role": "Customer"}, r"^a role is 1-32 of"),
    ],
)
def test_payload_v1_refuses_to_write_bad_fields(change: dict[str, object], message: str) -> None:
    with pytest.raises(AgreementError, match=message):
        replace(PAYLOAD, **change).to_bytes()  # type: ignore[arg-type]


PAYLOAD_V0 = SigningPayloadV0(
    agreement_id=ID,
    document_sm3=bytes(32),
    document_cid="bafkreib63favctifhzey6rxz4m5gzv74agllslii6sz5lqil3rmcpeu7bu",
    role="broker",
    signed_at=AT,
    domain=DOMAIN,
)


@pytest.mark.parametrize(
    ("change", "message"),
    [({"agreement_id": "agr_x"}, r"^agreement IDs look like"), ({"role": ""}, r"^a role is")],
)
def test_payload_v0_refuses_to_write_bad_fields(change: dict[str, object], message: str) -> None:
    with pytest.raises(AgreementError, match=message):
        replace(PAYLOAD_V0, **change).to_bytes()  # type: ignore[arg-type]


ENTRY = LeafEntry(
    agreement_id=ID,
    agreement_version=3,
    kind="void",
    document_sm3=bytes(32),
    document_cid="bafkreib63favctifhzey6rxz4m5gzv74agllslii6sz5lqil3rmcpeu7bu",
    media_type="application/pdf",
    size=7,
    required_roles=("customer", "broker"),
    signature_set_digest=bytes(32),
    accepted_at=AT,
    domain=DOMAIN,
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "draft"}, r"^version kind is one of \('agreement', 'void'\), got 'draft'$"),
        ({"agreement_id": "agr_x"}, r"^agreement IDs look like"),
        ({"agreement_version": 2**31}, r"^agreement versions are integers from 1, got 2147483648$"),
        ({"required_roles": ("customer", "Broker")}, r"^a role is 1-32 of"),
    ],
)
def test_leaf_entry_refuses_to_write_bad_fields(change: dict[str, object], message: str) -> None:
    with pytest.raises(AgreementError, match=message):
        replace(ENTRY, **change).to_bytes()  # type: ignore[arg-type]


def test_every_field_of_the_leaf_entry_changes_its_hash() -> None:
    """Each field is in the committed bytes (tests/unit/test_golden.py pins the exact form)."""
    changes = {
        "agreement_id": "agr_" + "cd" * 16,
        "agreement_version": 4,
        "kind": "agreement",
        "document_sm3": b"\x01" * 32,
        "document_cid": "bafkreibhtmdcxo7oa75ahym4d7t5bdro53n5k4vrz6ysseythiy4ze66eq",
        "media_type": "text/plain",
        "size": 8,
        "required_roles": ("broker", "customer"),
        "signature_set_digest": b"\x02" * 32,
        "accepted_at": datetime(2026, 11, 21, 9, 30, 1, tzinfo=UTC),
        "domain": SigningDomain(chain_id=1, contract=CONTRACT),
    }
    assert set(changes) == set(vars(ENTRY))
    hashes = {ENTRY.leaf_hash} | {replace(ENTRY, **{k: v}).leaf_hash for k, v in changes.items()}
    assert len(hashes) == len(changes) + 1
