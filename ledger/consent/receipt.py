"""The access receipt: what a member service (the attester, member A) writes, durably and before
it releases anything, each time it releases a customer's attested fields to a grantee under a
consent grant. Receipts go into the anchoring outbox with the agreement versions, so each lands
on chain in the next Merkle batch, and an auditor or the customer can prove it was recorded.

The Merkle leaf is ``merkle.leaf_hash(receipt.to_bytes())``: RFC 8785 canonical JSON, type
``ledger/access-receipt`` version 1, domain-separated from the agreement leaves
(``ledger/agreement-leaf``) by that type. Its members:

* ``receipt_id`` — ``rcpt_`` and 128 random bits in lower-case hex;
* ``grant_id`` — the grant's ID in the ConsentRegistry (its 32-byte digest), ``0x`` hex;
* ``attestation_id`` — the identity attestation the grant covers, ``0x`` hex;
* ``attester`` — the member account of the service that released (checksummed address);
* ``caller`` — the member account that asked (the grantee), checksummed;
* ``fields`` — the names of the fields released (KYC field names), sorted, no repeats;
* ``purpose`` — the purpose named by the request (a name, as the grant's purposes are named);
* ``used_at`` — when the release was decided, RFC 3339 UTC, whole seconds;
* ``request_digest`` — ``sm3:`` of the request exactly as the caller sent it;
* ``mode`` — ``standing`` or ``per-use`` (the grant's mode);
* ``use_authorization`` — in ``per-use`` mode, ``keccak256:`` digest the customer signed for
  this use (:func:`ledger.chain.consent.use_digest`); ``null`` in ``standing`` mode;
* ``chain_id`` and ``consent_registry`` — the signing domain: the chain and the ConsentRegistry
  the grant ID belongs to. (The grant ID is already a digest under that domain; naming it lets
  a verifier look the grant up. The EvidenceLedger that anchors the receipt is named by the
  anchoring transaction of its inclusion proof, as for agreement leaves, and not repeated.)
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eth_utils.address import is_checksum_address

from ledger import canonical, merkle
from ledger.attestation.disclosure import FIELD_NAME
from ledger.canonical import EncodingError
from ledger.chain.consent import Mode
from ledger.errors import LedgerError

#: ``rcpt_`` and 128 random bits in lower-case hex.
RECEIPT_ID = re.compile(r"rcpt_[0-9a-f]{32}")
#: How a purpose is named: 1-64 of lower-case ASCII, digits and ``_ . : -``, from a letter.
PURPOSE = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
#: The most fields one receipt releases (the ConsentRegistry's MAX_FIELDS).
MAX_FIELDS = 32

_MODES = {mode.label: mode for mode in Mode}
#: Checksum validation hashes with keccak in Python (most of a receipt's parsing time); a
#: service sees few member accounts and registries.
_is_checksum_address = functools.lru_cache(maxsize=1024)(is_checksum_address)
_MEMBERS = (
    "type",
    "version",
    "receipt_id",
    "grant_id",
    "attestation_id",
    "attester",
    "caller",
    "fields",
    "purpose",
    "used_at",
    "request_digest",
    "mode",
    "use_authorization",
    "chain_id",
    "consent_registry",
)


class ReceiptError(LedgerError):
    """An access receipt, or one of its members, is malformed."""


def new_receipt_id() -> str:
    return "rcpt_" + secrets.token_hex(16)


@dataclass(frozen=True)
class AccessReceipt:
    """One release of attested fields under a consent grant (see the module's docstring).

    Checked when made: a malformed receipt is a :class:`ReceiptError`, never stored. ``fields``
    are kept sorted (the order fields were asked in does not matter to the receipt).
    """

    receipt_id: str
    grant_id: bytes
    attestation_id: bytes
    attester: str
    caller: str
    fields: tuple[str, ...]
    purpose: str
    used_at: datetime
    request_sm3: bytes
    mode: Mode
    use_authorization: bytes | None
    chain_id: int
    consent_registry: str

    TYPE = "ledger/access-receipt"
    VERSION = 1

    def __post_init__(self) -> None:
        if not isinstance(self.receipt_id, str) or not RECEIPT_ID.fullmatch(self.receipt_id):
            raise ReceiptError(f"receipt IDs look like rcpt_<32 hex>, got {self.receipt_id!r}")
        for name in ("grant_id", "attestation_id", "request_sm3"):
            _check_hash(name, getattr(self, name))
        for name in ("attester", "caller", "consent_registry"):
            _check_address(name, getattr(self, name))
        fields = tuple(self.fields)
        if not fields or len(fields) > MAX_FIELDS:
            raise ReceiptError(f"a receipt releases 1 to {MAX_FIELDS} fields, got {len(fields)}")
        for field in fields:
            if not isinstance(field, str) or not FIELD_NAME.fullmatch(field):
                raise ReceiptError(f"not a field name: {field!r}")
        if len(set(fields)) != len(fields):
            raise ReceiptError(f"fields released twice: {sorted(fields)}")
        object.__setattr__(self, "fields", tuple(sorted(fields)))
        if not isinstance(self.purpose, str) or not PURPOSE.fullmatch(self.purpose):
            raise ReceiptError(f"not a purpose name: {self.purpose!r}")
        if not isinstance(self.used_at, datetime) or self.used_at.utcoffset() is None:
            raise ReceiptError(f"used_at must be an aware datetime, got {self.used_at!r}")
        if self.used_at != canonical.whole_seconds(self.used_at):
            raise ReceiptError(f"used_at is in whole seconds, got {self.used_at.isoformat()}")
        if not isinstance(self.mode, Mode):
            raise ReceiptError(f"mode is a consent Mode, got {self.mode!r}")
        if self.mode is Mode.PER_USE:
            if self.use_authorization is None:
                raise ReceiptError("a per-use receipt names the customer's use authorization")
            _check_hash("use_authorization", self.use_authorization)
        elif self.use_authorization is not None:
            raise ReceiptError("a standing receipt has no use authorization")
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int):
            raise ReceiptError(f"chain ID must be an integer, got {self.chain_id!r}")
        if self.chain_id <= 0:
            raise ReceiptError(f"chain ID must be positive, got {self.chain_id}")

    def to_bytes(self) -> bytes:
        """The receipt as anchored: RFC 8785 canonical JSON."""
        return canonical.dumps(
            {
                "type": self.TYPE,
                "version": self.VERSION,
                "receipt_id": self.receipt_id,
                "grant_id": canonical.hex0x(self.grant_id),
                "attestation_id": canonical.hex0x(self.attestation_id),
                "attester": self.attester,
                "caller": self.caller,
                "fields": list(self.fields),
                "purpose": self.purpose,
                "used_at": canonical.timestamp(self.used_at),
                "request_digest": canonical.label("sm3", self.request_sm3),
                "mode": self.mode.label,
                "use_authorization": (
                    None
                    if self.use_authorization is None
                    else canonical.label("keccak256", self.use_authorization)
                ),
                "chain_id": self.chain_id,
                "consent_registry": self.consent_registry,
            }
        )

    @property
    def leaf_hash(self) -> bytes:
        """The Merkle leaf hash the batcher anchors (SM3 with the RFC 6962 0x00 prefix)."""
        return merkle.leaf_hash(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> AccessReceipt:
        """Parse a receipt's canonical bytes (as stored, or as a proof carries them);
        anything else, a byte changed, a member missing or added, is a :class:`ReceiptError`."""
        try:
            value = canonical.loads_canonical(data)
        except EncodingError as error:
            raise ReceiptError(f"not an access receipt: {error}") from error
        if not isinstance(value, Mapping) or set(value) != set(_MEMBERS):
            raise ReceiptError(f"an access receipt has exactly the members {sorted(_MEMBERS)}")
        if value["type"] != cls.TYPE or value["version"] != cls.VERSION:
            raise ReceiptError(
                f"not a {cls.TYPE} v{cls.VERSION}: {value['type']!r} v{value['version']!r}"
            )
        try:
            authorization = value["use_authorization"]
            receipt = cls(
                receipt_id=value["receipt_id"],
                grant_id=canonical.unhex0x(_text(value, "grant_id"), size=32),
                attestation_id=canonical.unhex0x(_text(value, "attestation_id"), size=32),
                attester=value["attester"],
                caller=value["caller"],
                fields=tuple(_list(value, "fields")),
                purpose=value["purpose"],
                used_at=canonical.parse_timestamp(_text(value, "used_at")),
                request_sm3=canonical.unlabel("sm3", _text(value, "request_digest")),
                mode=_mode(value["mode"]),
                use_authorization=(
                    None
                    if authorization is None
                    else canonical.unlabel("keccak256", _text(value, "use_authorization"))
                ),
                chain_id=value["chain_id"],
                consent_registry=value["consent_registry"],
            )
        except EncodingError as error:
            raise ReceiptError(f"not an access receipt: {error}") from error
        if receipt.to_bytes() != data:  # e.g. fields not in sorted order
            raise ReceiptError("not an access receipt: its members are not in canonical form")
        return receipt


def _check_hash(name: str, value: Any) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise ReceiptError(f"{name} must be 32 bytes, got {value!r}")


def _check_address(name: str, value: Any) -> None:
    if not isinstance(value, str) or not _is_checksum_address(value):
        raise ReceiptError(f"{name} must be a checksummed address, got {value!r}")


def _text(value: Mapping[str, Any], name: str) -> str:
    member = value[name]
    if not isinstance(member, str):
        raise ReceiptError(f"{name} must be a string, got {member!r}")
    return member


def _list(value: Mapping[str, Any], name: str) -> list[Any]:
    member = value[name]
    if not isinstance(member, list):
        raise ReceiptError(f"{name} must be a list, got {member!r}")
    return member


def _mode(label: Any) -> Mode:
    if not isinstance(label, str) or label not in _MODES:
        raise ReceiptError(f"mode is one of {sorted(_MODES)}, got {label!r}")
    return _MODES[label]
