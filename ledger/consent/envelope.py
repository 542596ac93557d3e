"""Released fields sealed to the receiving member: format ``ledger-release/1``.

The attester (member A) releases a customer's Disclosures to the grantee (member B) only inside
this envelope, encrypted to B's KeyRegistry key of purpose ``disclosure-receiving``. The
envelope is JSON::

    {"format": "ledger-release/1",
     "attestation_id": "0x<64 hex>", "grant_id": "0x<64 hex>", "receipt_id": "rcpt_<32 hex>",
     "recipient": "sm3:<fingerprint of B's key, 64 hex>",
     "key": "<base64: SM2 encryption of a fresh 16-byte SM4 key to B's key>",
     "ciphertext": "<base64: nonce (12) || SM4-GCM ciphertext || tag (16)>"}

* ``key`` is GB/T 32918.4 SM2 encryption with SM3, ASN.1 C1C3C2, what ``openssl pkeyutl
  -encrypt`` writes; a fresh SM4 key per release (a release is rare next to an agreement, so
  the per-reader epochs of :mod:`ledger._keywrap` would buy nothing and keep a key alive).
* The plaintext is RFC 8785 canonical JSON ``{"type": "ledger/kyc-release", "version": 1,
  "disclosures": ["<encoded Disclosure>", ...]}``.
* The additional authenticated data is ``b"ledger/release/1\\x00"`` followed by the canonical
  JSON of every other member of the envelope but ``key`` and ``ciphertext``: the attestation,
  grant, receipt and recipient cannot be changed, nor the ciphertext moved to another release.

Opening checks the format, decrypts with the recipient's private key and checks each
Disclosure parses; whether the Disclosures are the ones the attestation commits to is the
receiver's next check (:func:`ledger.attestation.kyc.check_disclosures`).

Hand-written: a few lines over SM2 (:mod:`ledger.crypto.sm2`) and SM4-GCM
(:mod:`ledger.crypto.sm4`); no kept library offers SM2 hybrid encryption.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger import canonical
from ledger.attestation.disclosure import Disclosure, DisclosureError
from ledger.canonical import EncodingError
from ledger.consent.receipt import RECEIPT_ID
from ledger.crypto import sm4
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PrivateKey, SM2PublicKey
from ledger.errors import LedgerError

__all__ = ["FORMAT", "EnvelopeError", "ReleasedFields", "open_release", "seal_release"]

FORMAT = "ledger-release/1"
PLAINTEXT_TYPE = "ledger/kyc-release"
_AAD_DOMAIN = b"ledger/release/1\x00"
_MEMBERS = frozenset(
    {"format", "attestation_id", "grant_id", "receipt_id", "recipient", "key", "ciphertext"}
)
#: The most Disclosures one release carries (the ConsentRegistry's MAX_FIELDS).
MAX_DISCLOSURES = 32
#: An envelope's ciphertext is at most this long (32 Disclosures of at most 16 KiB, base64).
MAX_CIPHERTEXT_CHARS = 1 << 20
_HASH = re.compile(r"0x[0-9a-f]{64}")


class EnvelopeError(LedgerError):
    """An envelope that is malformed, tampered with, or not for this key."""


@dataclass(frozen=True)
class ReleasedFields:
    """What one release gives the grantee: Disclosures of an attestation, under a grant, as
    recorded by an access receipt."""

    attestation_id: bytes
    grant_id: bytes
    receipt_id: str
    disclosures: tuple[Disclosure, ...]

    def __post_init__(self) -> None:
        for name in ("attestation_id", "grant_id"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != 32:
                raise EnvelopeError(f"{name} is 32 bytes")
        if not isinstance(self.receipt_id, str) or not RECEIPT_ID.fullmatch(self.receipt_id):
            raise EnvelopeError(f"receipt IDs look like rcpt_<32 hex>, got {self.receipt_id!r}")
        if not 0 < len(self.disclosures) <= MAX_DISCLOSURES:
            raise EnvelopeError(f"a release carries 1 to {MAX_DISCLOSURES} disclosures")
        names = [d.name for d in self.disclosures]
        if len(set(names)) != len(names):
            raise EnvelopeError(f"a field released twice: {sorted(names)}")


def _header(released: ReleasedFields, recipient: bytes) -> dict[str, str]:
    return {
        "format": FORMAT,
        "attestation_id": canonical.hex0x(released.attestation_id),
        "grant_id": canonical.hex0x(released.grant_id),
        "receipt_id": released.receipt_id,
        "recipient": canonical.label("sm3", recipient),
    }


def seal_release(released: ReleasedFields, *, recipient: SM2PublicKey) -> dict[str, Any]:
    """The envelope of ``released``, which only ``recipient``'s private key opens."""
    header = _header(released, recipient.fingerprint())
    plaintext = canonical.dumps(
        {
            "type": PLAINTEXT_TYPE,
            "version": 1,
            "disclosures": [d.encoded for d in released.disclosures],
        }
    )
    key = sm4.generate_key()
    ciphertext = sm4.encrypt(key, plaintext, aad=_AAD_DOMAIN + canonical.dumps(header))
    return {
        **header,
        "key": canonical.b64(recipient.encrypt(key)),
        "ciphertext": canonical.b64(ciphertext),
    }


def open_release(envelope: Mapping[str, Any], *, key: SM2PrivateKey) -> ReleasedFields:
    """The fields ``envelope`` carries, opened with the recipient's ``key``; checks (numbered
    as below) raise :class:`EnvelopeError`."""
    # 1. the shape: exactly the members of the format, each well-formed
    if not isinstance(envelope, Mapping) or set(envelope) != _MEMBERS:
        raise EnvelopeError(f"a {FORMAT} envelope has exactly the members {sorted(_MEMBERS)}")
    if envelope["format"] != FORMAT:
        raise EnvelopeError(f"not a {FORMAT} envelope: format {envelope['format']!r}")
    texts = {name: envelope[name] for name in _MEMBERS}
    if not all(isinstance(value, str) for value in texts.values()):
        raise EnvelopeError("every member of an envelope is a string")
    if len(texts["ciphertext"]) > MAX_CIPHERTEXT_CHARS:
        raise EnvelopeError(f"an envelope's ciphertext is at most {MAX_CIPHERTEXT_CHARS} chars")
    for name in ("attestation_id", "grant_id"):
        if not _HASH.fullmatch(texts[name]):
            raise EnvelopeError(f"{name} is 0x and 64 lower-case hex digits")
    # 2. for this key
    fingerprint = key.public_key().fingerprint()
    if texts["recipient"] != canonical.label("sm3", fingerprint):
        raise EnvelopeError(
            f"the envelope is for key {texts['recipient']}, not this key"
            f" {canonical.label('sm3', fingerprint)}"
        )
    # 3. decrypt: the SM4 key with SM2, then the body, authenticating the header
    header = {name: texts[name] for name in _MEMBERS - {"key", "ciphertext"}}
    try:
        content_key = key.decrypt(canonical.unb64(texts["key"]))
        plaintext = sm4.decrypt(
            content_key,
            canonical.unb64(texts["ciphertext"]),
            aad=_AAD_DOMAIN + canonical.dumps(header),
        )
        body = canonical.loads_canonical(plaintext)
    except (CryptoError, EncodingError, ValueError) as exc:
        raise EnvelopeError(f"the envelope does not open with this key: {exc}") from None
    # 4. the plaintext: its type and the Disclosures
    if (
        not isinstance(body, dict)
        or set(body) != {"type", "version", "disclosures"}
        or (body["type"], body["version"]) != (PLAINTEXT_TYPE, 1)
        or not isinstance(body["disclosures"], list)
    ):
        raise EnvelopeError(f"the envelope's content is not a {PLAINTEXT_TYPE} v1 document")
    try:
        disclosures = tuple(Disclosure.parse(text) for text in body["disclosures"])
    except DisclosureError as exc:
        raise EnvelopeError(f"a released disclosure is malformed: {exc}") from None
    return ReleasedFields(
        attestation_id=canonical.unhex0x(texts["attestation_id"], size=32),
        grant_id=canonical.unhex0x(texts["grant_id"], size=32),
        receipt_id=texts["receipt_id"],
        disclosures=disclosures,
    )
