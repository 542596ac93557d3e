"""``ledger-release/1``: released Disclosures sealed to the grantee's key. Round trip; every
header member, the key and the ciphertext bound (a change refuses the envelope); another key,
extra or missing members, malformed content refused with :class:`EnvelopeError`; and the
real ``openssl pkeyutl -decrypt`` opens the SM2-encrypted content key, with which the body
decrypts under SM4-GCM."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ledger import canonical
from ledger.attestation.disclosure import Disclosure
from ledger.consent.envelope import (
    FORMAT,
    EnvelopeError,
    ReleasedFields,
    open_release,
    seal_release,
)
from ledger.crypto import sm4
from ledger.crypto.sm2 import SM2PrivateKey
from tests._fixtures.openssl import openssl_binary

RECEIVER = SM2PrivateKey.generate()
RELEASED = ReleasedFields(
    attestation_id=b"\x01" * 32,
    grant_id=b"\x02" * 32,
    receipt_id="rcpt_" + "ab" * 16,
    disclosures=(Disclosure.new("full_name", "张三"), Disclosure.new("birth_date", "1990-01-01")),
)


def _sealed() -> dict[str, Any]:
    return seal_release(RELEASED, recipient=RECEIVER.public_key())


def test_round_trip_keeps_every_disclosure() -> None:
    envelope = _sealed()
    assert envelope["format"] == FORMAT
    assert envelope["recipient"] == canonical.label("sm3", RECEIVER.public_key().fingerprint())
    assert open_release(envelope, key=RECEIVER) == RELEASED


def test_another_key_opens_nothing() -> None:
    with pytest.raises(EnvelopeError, match="the envelope is for key sm3:"):
        open_release(_sealed(), key=SM2PrivateKey.generate())


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("attestation_id", "0x" + "03" * 32),
        ("grant_id", "0x" + "04" * 32),
        ("receipt_id", "rcpt_" + "cd" * 16),
    ],
)
def test_every_header_member_is_bound(member: str, value: str) -> None:
    envelope = {**_sealed(), member: value}
    with pytest.raises(EnvelopeError, match="does not open with this key"):
        open_release(envelope, key=RECEIVER)


@pytest.mark.parametrize("member", ["key", "ciphertext"])
def test_a_changed_byte_of_key_or_ciphertext_is_refused(member: str) -> None:
    envelope = _sealed()
    raw = bytearray(base64.b64decode(envelope[member]))
    for position in (0, len(raw) // 2, len(raw) - 1):
        changed = bytearray(raw)
        changed[position] ^= 0x01
        with pytest.raises(EnvelopeError, match="does not open with this key"):
            open_release({**envelope, member: canonical.b64(bytes(changed))}, key=RECEIVER)


def test_the_ciphertext_cannot_move_to_another_release() -> None:
    other = ReleasedFields(
        attestation_id=RELEASED.attestation_id,
        grant_id=RELEASED.grant_id,
        receipt_id="rcpt_" + "ef" * 16,
        disclosures=RELEASED.disclosures[:1],
    )
    moved = {
        **seal_release(other, recipient=RECEIVER.public_key()),
        "ciphertext": _sealed()["ciphertext"],
    }
    with pytest.raises(EnvelopeError, match="does not open with this key"):
        open_release(moved, key=RECEIVER)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: {**e, "extra": "x"}, "exactly the members"),
        (lambda e: {k: v for k, v in e.items() if k != "key"}, "exactly the members"),
        (lambda e: {**e, "format": "ledger-release/2"}, "not a ledger-release/1 envelope"),
        (lambda e: {**e, "grant_id": 7}, "every member of an envelope is a string"),
        (lambda e: {**e, "grant_id": "0x" + "AB" * 32}, "grant_id is 0x and 64 lower-case"),
        (lambda e: {**e, "ciphertext": "a" * (1 << 20 + 1)}, "ciphertext is at most"),
        (lambda e: {**e, "key": "not base64!"}, "does not open with this key"),
        (lambda e: [e], "exactly the members"),
    ],
)
def test_malformed_envelopes_are_refused(change: Any, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        open_release(change(_sealed()), key=RECEIVER)


def test_content_that_is_not_a_release_is_refused() -> None:
    """A body sealed correctly but not ``ledger/kyc-release`` v1 (forged by the key holder)."""
    envelope = _sealed()
    header = {k: envelope[k] for k in envelope if k not in ("key", "ciphertext")}
    content_key = sm4.generate_key()
    body = canonical.dumps({"type": "ledger/kyc-release", "version": 2, "disclosures": []})
    aad = b"ledger/release/1\x00" + canonical.dumps(header)
    forged = {
        **envelope,
        "key": canonical.b64(RECEIVER.public_key().encrypt(content_key)),
        "ciphertext": canonical.b64(sm4.encrypt(content_key, body, aad=aad)),
    }
    with pytest.raises(EnvelopeError, match="not a ledger/kyc-release v1 document"):
        open_release(forged, key=RECEIVER)


def test_releases_hold_one_to_32_distinct_fields() -> None:
    with pytest.raises(EnvelopeError, match="1 to 32 disclosures"):
        ReleasedFields(b"\1" * 32, b"\2" * 32, RELEASED.receipt_id, ())
    twice = (Disclosure.new("full_name", "a"), Disclosure.new("full_name", "b"))
    with pytest.raises(EnvelopeError, match="a field released twice"):
        ReleasedFields(b"\1" * 32, b"\2" * 32, RELEASED.receipt_id, twice)


def test_openssl_opens_the_content_key(tmp_path: Path) -> None:
    envelope = _sealed()
    key_file, encrypted = tmp_path / "receiver.pem", tmp_path / "key.bin"
    key_file.write_bytes(RECEIVER.to_pem())
    encrypted.write_bytes(base64.b64decode(envelope["key"]))
    content_key = subprocess.run(
        [openssl_binary(), "pkeyutl", "-decrypt", "-inkey", key_file, "-in", encrypted],
        check=True,
        capture_output=True,
    ).stdout
    header = {k: envelope[k] for k in envelope if k not in ("key", "ciphertext")}
    body = sm4.decrypt(
        content_key,
        base64.b64decode(envelope["ciphertext"]),
        aad=b"ledger/release/1\x00" + canonical.dumps(header),
    )
    assert canonical.loads_canonical(body) == {
        "type": "ledger/kyc-release",
        "version": 1,
        "disclosures": [d.encoded for d in RELEASED.disclosures],
    }
