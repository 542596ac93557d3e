"""The access receipt leaf (``ledger/access-receipt`` v1): its bytes (golden), leaf hash, the
receipts refused when made, and the bytes refused when read back."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ledger import canonical, merkle
from ledger.agreement import LeafEntry
from ledger.chain.consent import Mode
from ledger.consent import AccessReceipt, ReceiptError, new_receipt_id
from ledger.crypto.sm3 import sm3

GOLDEN = Path(__file__).resolve().parents[2] / "assets" / "receipt-v1.json"
#: merkle.leaf_hash of the golden receipt's bytes, pinned.
GOLDEN_LEAF = "2c69af9c536820558aeb0a3b552c5040640cc8f3d3abbe6fdefbc2812708d6e6"

# the fixed inputs of the golden receipt (tests/assets/make_golden.py), stated independently
RECEIPT = AccessReceipt(
    receipt_id="rcpt_00112233445566778899aabbccddeeff",
    grant_id=b"\x6b" * 32,
    attestation_id=b"\xa7" * 32,
    attester="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    caller="0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    fields=("given_name", "date_of_birth"),
    purpose="account_opening",
    used_at=datetime(2026, 11, 29, 3, 0, 5, tzinfo=UTC),
    request_sm3=sm3(b"the request as sent"),
    mode=Mode.PER_USE,
    use_authorization=b"\x5e" * 32,
    chain_id=31337,
    consent_registry="0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
)
STANDING = dataclasses.replace(RECEIPT, mode=Mode.STANDING, use_authorization=None)


def test_the_golden_receipt_is_the_fixed_inputs_receipt() -> None:
    golden = GOLDEN.read_bytes()
    assert RECEIPT.to_bytes() == golden
    assert RECEIPT.leaf_hash == merkle.leaf_hash(golden) == bytes.fromhex(GOLDEN_LEAF)
    assert AccessReceipt.from_bytes(golden) == RECEIPT


def test_the_receipt_states_every_member() -> None:
    assert json.loads(RECEIPT.to_bytes()) == {
        "type": "ledger/access-receipt",
        "version": 1,
        "receipt_id": "rcpt_00112233445566778899aabbccddeeff",
        "grant_id": "0x" + "6b" * 32,
        "attestation_id": "0x" + "a7" * 32,
        "attester": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "caller": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "fields": ["date_of_birth", "given_name"],  # sorted
        "purpose": "account_opening",
        "used_at": "2026-11-29T03:00:05Z",
        "request_digest": canonical.label("sm3", sm3(b"the request as sent")),
        "mode": "per-use",
        "use_authorization": "keccak256:" + "5e" * 32,
        "chain_id": 31337,
        "consent_registry": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    }
    assert json.loads(STANDING.to_bytes())["use_authorization"] is None
    assert json.loads(STANDING.to_bytes())["mode"] == "standing"
    assert AccessReceipt.from_bytes(STANDING.to_bytes()) == STANDING


def test_receipt_leaves_are_separated_from_agreement_leaves_by_type() -> None:
    assert AccessReceipt.TYPE == "ledger/access-receipt" != LeafEntry.TYPE
    assert (
        json.loads(RECEIPT.to_bytes())["type"]
        != json.loads((GOLDEN.parent / "leaf-v1.json").read_bytes())["type"]
    )


def test_receipt_ids_are_128_random_bits() -> None:
    ids = {new_receipt_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"rcpt_[0-9a-f]{32}", receipt_id) for receipt_id in ids)


def test_the_fields_order_asked_in_does_not_matter() -> None:
    swapped = dataclasses.replace(RECEIPT, fields=("date_of_birth", "given_name"))
    assert swapped == RECEIPT and swapped.to_bytes() == RECEIPT.to_bytes()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"receipt_id": "rcpt_0011"}, r"^receipt IDs look like rcpt_<32 hex>, got 'rcpt_0011'$"),
        ({"receipt_id": "agr_" + "0" * 32}, r"^receipt IDs look like rcpt_<32 hex>"),
        ({"grant_id": b"\x01" * 31}, r"^grant_id must be 32 bytes, got "),
        ({"attestation_id": "ab" * 32}, r"^attestation_id must be 32 bytes, got 'abab"),
        ({"request_sm3": b""}, r"^request_sm3 must be 32 bytes, got b''$"),
        (
            {"caller": "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc"},
            r"^caller must be a checksummed address, got '0x3c44",
        ),
        ({"attester": "member-a"}, r"^attester must be a checksummed address, got 'member-a'$"),
        ({"consent_registry": ""}, r"^consent_registry must be a checksummed address, got ''$"),
        ({"fields": ()}, r"^a receipt releases 1 to 32 fields, got 0$"),
        (
            {"fields": tuple(f"f{i}" for i in range(33))},
            r"^a receipt releases 1 to 32 fields, got 33$",
        ),
        ({"fields": ("given_name", "Given")}, r"^not a field name: 'Given'$"),
        (
            {"fields": ("given_name", "given_name")},
            r"^fields released twice: \['given_name', 'given_name'\]$",
        ),
        ({"purpose": "Account opening"}, r"^not a purpose name: 'Account opening'$"),
        ({"purpose": ""}, r"^not a purpose name: ''$"),
        (
            {"used_at": datetime(2026, 11, 29, 3, 0, 5)},
            r"^used_at must be an aware datetime, got ",
        ),
        (
            {"used_at": datetime(2026, 11, 29, 3, 0, 5, 1, tzinfo=UTC)},
            r"^used_at is in whole seconds, got 2026-11-29T03:00:05.000001\+00:00$",
        ),
        ({"mode": 1}, r"^mode is a consent Mode, got 1$"),
        (
            {"use_authorization": None},
            r"^a per-use receipt names the customer's use authorization$",
        ),
        ({"use_authorization": b"\x01"}, r"^use_authorization must be 32 bytes, got b'\\x01'$"),
        (
            {"mode": Mode.STANDING},
            r"^a standing receipt has no use authorization$",
        ),
        ({"chain_id": 0}, r"^chain ID must be positive, got 0$"),
        ({"chain_id": True}, r"^chain ID must be an integer, got True$"),
    ],
)
def test_a_malformed_receipt_is_refused_when_made(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ReceiptError, match=message):
        dataclasses.replace(RECEIPT, **changes)


def _tampered(**members: Any) -> bytes:
    value = json.loads(RECEIPT.to_bytes())
    value.update(members)
    return canonical.dumps({k: v for k, v in value.items() if v is not ...})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"^not an access receipt: not JSON: "),
        (b'{"type": "ledger/access-receipt"}', r"^not an access receipt: not in canonical JSON"),
        (b"[]", r"^an access receipt has exactly the members \['attestation_id', "),
        (_tampered(extra=1), r"^an access receipt has exactly the members "),
        (_tampered(purpose=...), r"^an access receipt has exactly the members "),
        (
            _tampered(type="ledger/agreement-leaf"),
            r"^not a ledger/access-receipt v1: 'ledger/agreement-leaf' v1$",
        ),
        (_tampered(version=2), r"^not a ledger/access-receipt v1: 'ledger/access-receipt' v2$"),
        (_tampered(grant_id="0x" + "6B" * 32), r"^not an access receipt: expected 0x-prefixed"),
        (_tampered(grant_id=1), r"^grant_id must be a string, got 1$"),
        (_tampered(fields="given_name"), r"^fields must be a list, got 'given_name'$"),
        (
            _tampered(fields=["given_name", "date_of_birth"]),
            r"^not an access receipt: its members are not in canonical form$",
        ),
        (_tampered(mode="per_use"), r"^mode is one of \['per-use', 'standing'\], got 'per_use'$"),
        (_tampered(mode=["standing"]), r"^mode is one of \['per-use', 'standing'\], got \["),
        (
            _tampered(request_digest="keccak256:" + "00" * 32),
            r"^not an access receipt: expected an sm3 digest",
        ),
        (
            _tampered(use_authorization="sm3:" + "00" * 32),
            r"^not an access receipt: expected an keccak256 digest",
        ),
        (_tampered(used_at="2026-11-29 03:00:05"), r"^not an access receipt: expected a UTC time"),
        (_tampered(caller="nobody"), r"^caller must be a checksummed address, got 'nobody'$"),
    ],
)
def test_bytes_that_are_not_a_receipt_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ReceiptError, match=message):
        AccessReceipt.from_bytes(data)


def test_a_golden_receipt_with_any_byte_changed_is_refused_or_another_leaf() -> None:
    """No one-byte change of the golden bytes is the golden receipt: each is refused when read
    back (most), or is another receipt (a changed hex digit) with another leaf hash, which no
    inclusion proof of the golden one covers."""
    golden = GOLDEN.read_bytes()
    refused = 0
    for i in range(len(golden)):
        changed = golden[:i] + bytes([golden[i] ^ 0x01]) + golden[i + 1 :]
        assert merkle.leaf_hash(changed) != RECEIPT.leaf_hash
        try:
            other = AccessReceipt.from_bytes(changed)
        except ReceiptError:
            refused += 1
            continue
        assert other != RECEIPT and other.to_bytes() == changed
    assert refused > len(golden) // 2
