"""One KYC field, disclosable on its own: an RFC 9901 (SD-JWT) Disclosure with an SM3 digest.

A member that verified a customer commits to each field separately. Per field it makes a
Disclosure, the base64url encoding (no padding) of the UTF-8 JSON array ``[salt, name, value]``
(RFC 9901 §4.2.1), and publishes only its digest, the hash of the ASCII bytes of that encoding
(§4.2.3). The attestation on chain holds the digests; a field released later is checked against
its digest, and a field never released reveals nothing (the 128-bit salt keeps a guess of the
value from being confirmed).

The digest algorithm is SM3 (``sm3:<hex>``), as every digest the ledger publishes; RFC 9901 lets
the issuer choose it (``_sd_alg``), and SHA-256, the RFC's default, is accepted where a digest is
checked against the RFC's own examples. A received Disclosure is kept exactly as it was encoded:
its digest is over the string as sent, never over a re-serialization.

(Hand-written: the kept SD-JWT libraries build whole JWTs around JOSE keys and SHA-2; what the
ledger needs is the Disclosure and its digest, a few lines over ``json`` and ``base64``.)
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import hashes

from ledger import canonical
from ledger.crypto.sm3 import sm3
from ledger.errors import LedgerError

__all__ = [
    "FIELD_NAME",
    "MAX_DISCLOSURE_LENGTH",
    "DigestAlgorithm",
    "Disclosure",
    "DisclosureError",
    "digest_of",
]

#: How a KYC field is named: lower-case ASCII, digits and ``_``, at most 31 characters (it fits
#: a ``bytes32`` on chain, left-aligned).
FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,30}")
#: The longest encoded Disclosure accepted (a scanned document goes to the content store, not
#: into a field).
MAX_DISCLOSURE_LENGTH = 16 * 1024
#: Salt length in bytes (RFC 9901 §9.3 recommends 128 bits).
SALT_BYTES = 16

DigestAlgorithm = Literal["sm3", "sha-256"]
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
#: JSON values a field may hold (no floats: an amount is a string of digits or an integer).
_SCALARS = (str, int, bool, type(None))


class DisclosureError(LedgerError):
    """A Disclosure that is not one: bad encoding, JSON, shape, name or value."""


def digest_of(encoded: str, algorithm: DigestAlgorithm = "sm3") -> bytes:
    """The digest of an encoded Disclosure: the hash of its ASCII bytes (RFC 9901 §4.2.3)."""
    data = encoded.encode("ascii")
    if algorithm == "sm3":
        return sm3(data)
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


@dataclass(frozen=True)
class Disclosure:
    """A field's Disclosure; ``encoded`` is what is sent and what the digest covers."""

    salt: str
    name: str
    value: object
    encoded: str

    @classmethod
    def new(cls, name: str, value: object, *, salt: str | None = None) -> Disclosure:
        """A fresh Disclosure of ``name`` = ``value`` with a random 128-bit salt (``salt``:
        this one instead, as text, for reproducing a known Disclosure)."""
        _check_name(name)
        _check_value(value)
        salt_text = salt if salt is not None else _b64url(os.urandom(SALT_BYTES))
        if not isinstance(salt_text, str) or not salt_text:
            raise DisclosureError("a disclosure's salt is a non-empty string")
        text = json.dumps([salt_text, name, value], ensure_ascii=False)
        return cls(salt=salt_text, name=name, value=value, encoded=_b64url(text.encode("utf-8")))

    @classmethod
    def parse(cls, encoded: str, *, strict_name: bool = True) -> Disclosure:
        """The Disclosure ``encoded`` carries; :class:`DisclosureError` saying why it is not
        one. ``strict_name`` False admits any claim name (the RFC's examples)."""
        if not isinstance(encoded, str) or not 0 < len(encoded) <= MAX_DISCLOSURE_LENGTH:
            raise DisclosureError(f"a disclosure is 1-{MAX_DISCLOSURE_LENGTH} characters")
        if not _B64URL.fullmatch(encoded) or len(encoded) % 4 == 1:
            raise DisclosureError("a disclosure is base64url without padding")
        try:
            text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
            array = json.loads(text, parse_float=_no_float, parse_constant=_no_float)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise DisclosureError(f"a disclosure is base64url of UTF-8 JSON: {exc}") from None
        if not isinstance(array, list) or len(array) != 3:
            raise DisclosureError("a field's disclosure is the JSON array [salt, name, value]")
        salt, name, value = array
        if not isinstance(salt, str) or not salt:
            raise DisclosureError("a disclosure's salt is a non-empty string")
        if not isinstance(name, str) or name in ("_sd", "..."):
            raise DisclosureError("a disclosure's name is a string other than _sd and ...")
        if strict_name:
            _check_name(name)
        _check_value(value)
        return cls(salt=salt, name=name, value=value, encoded=encoded)

    def digest(self, algorithm: DigestAlgorithm = "sm3") -> bytes:
        return digest_of(self.encoded, algorithm)

    @property
    def label(self) -> str:
        """``sm3:<hex>`` of the digest, as digests are written everywhere in the ledger."""
        return canonical.label("sm3", self.digest())

    def matches(self, digest: bytes, algorithm: DigestAlgorithm = "sm3") -> bool:
        """Whether this Disclosure is the one ``digest`` commits to."""
        return self.digest(algorithm) == digest


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _no_float(text: str) -> object:
    raise ValueError(f"{text} is not a field value (no floats, NaN or infinities)")


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
        raise DisclosureError(
            f"a field name is 1-31 characters of a-z, 0-9 and _, starting with a letter: {name!r}"
        )


def _check_value(value: object) -> None:
    if isinstance(value, float) or not isinstance(value, _SCALARS):
        raise DisclosureError(
            "a field's value is a string, an integer, true, false or null, not"
            f" {type(value).__name__}"
        )
