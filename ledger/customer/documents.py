"""The signed consent documents a customer hands to a member's service: the one home of their
JSON format.

A customer signs a :class:`~ledger.chain.consent.Grant`, a
:class:`~ledger.chain.consent.Revocation` or a :class:`~ledger.chain.consent.UseAuthorization`
(SM2 with the default distinguishing ID over the 32-byte digest the ConsentRegistry computes,
domain included). Each signed record travels as one JSON object (version 1)::

    {"type": "consent-grant",            # or consent-revocation, consent-use
     "version": 1,
     "domain": {"chain_id": 31337, "registry": "0x<ConsentRegistry, checksummed>"},
     "grant": {...},                     # or "revocation", "use": the record, below
     "signature": "<base64 DER SEQUENCE{r, s}>"}

Byte strings are ``0x``-prefixed lower-case hex (IDs, nonces: 32 bytes), the notice digest is
``sm3:<hex>``, times are RFC 3339 UTC to the second (``2026-01-31T12:00:00Z``), accounts are
checksummed, the mode is ``standing`` or ``per-use``. Parsing is strict: exactly these fields,
of exactly these types, else :class:`~ledger.customer.errors.DocumentError` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, TypeVar

from eth_utils.address import is_checksum_address

from ledger import canonical
from ledger.chain.consent import (
    Grant,
    Mode,
    Notice,
    Revocation,
    UseAuthorization,
    grant_digest,
    revocation_digest,
    use_digest,
)
from ledger.customer.errors import DocumentError
from ledger.errors import LedgerError

__all__ = [
    "FORMAT_VERSION",
    "MAX_DOCUMENT_BYTES",
    "ConsentDomain",
    "SignedGrant",
    "SignedRevocation",
    "SignedUse",
    "grant_to_json",
    "parse",
    "to_bytes",
]

FORMAT_VERSION: Final = 1
#: A document is a few kilobytes (32 fields, short texts); anything bigger is refused unread.
MAX_DOCUMENT_BYTES: Final = 64 * 1024
_MAX_UINT64 = 2**64 - 1
_MAX_UINT32 = 2**32 - 1
_MODES = {mode.label: mode for mode in Mode}


@dataclass(frozen=True)
class ConsentDomain:
    """Where a consent is valid: the chain and its ConsentRegistry (part of what is signed)."""

    chain_id: int
    registry: str

    def to_json(self) -> dict[str, Any]:
        return {"chain_id": self.chain_id, "registry": self.registry}

    @classmethod
    def from_json(cls, raw: Any, where: str = "domain") -> ConsentDomain:
        fields = _object(raw, where, {"chain_id", "registry"})
        return cls(
            chain_id=_int(fields["chain_id"], f"{where}.chain_id", minimum=1),
            registry=_account(fields["registry"], f"{where}.registry"),
        )


# -- the records -----------------------------------------------------------------------------


def _notice_json(notice: Notice) -> dict[str, Any]:
    return {
        "recipient_name": notice.recipient_name,
        "recipient_contact": notice.recipient_contact,
        "data_categories": [canonical.hex0x(c) for c in notice.data_categories],
        "sensitive": notice.sensitive,
        "notice_digest": canonical.label("sm3", notice.notice_digest),
        "language": notice.language,
        "separate_consent": notice.separate_consent,
    }


def _notice(raw: Any, where: str) -> Notice:
    f = _object(
        raw,
        where,
        {
            "recipient_name",
            "recipient_contact",
            "data_categories",
            "sensitive",
            "notice_digest",
            "language",
            "separate_consent",
        },
    )
    return Notice(
        recipient_name=_text(f["recipient_name"], f"{where}.recipient_name"),
        recipient_contact=_text(f["recipient_contact"], f"{where}.recipient_contact"),
        data_categories=_ids(f["data_categories"], f"{where}.data_categories"),
        sensitive=_bool(f["sensitive"], f"{where}.sensitive"),
        notice_digest=_decoded(
            lambda t: canonical.unlabel("sm3", t), f["notice_digest"], f"{where}.notice_digest"
        ),
        language=_text(f["language"], f"{where}.language"),
        separate_consent=_bool(f["separate_consent"], f"{where}.separate_consent"),
    )


def grant_to_json(grant: Grant) -> dict[str, Any]:
    """A grant as its document carries it (also how the API shows a recorded one)."""
    return {
        "grantee": grant.grantee,
        "attestation_id": canonical.hex0x(grant.attestation_id),
        "fields": [canonical.hex0x(f) for f in grant.fields],
        "purposes": [canonical.hex0x(p) for p in grant.purposes],
        "processing_method": canonical.hex0x(grant.processing_method),
        "not_before": _time_text(grant.not_before),
        "not_after": _time_text(grant.not_after),
        "max_uses": grant.max_uses,
        "mode": grant.mode.label,
        "nonce": canonical.hex0x(grant.nonce),
        "notice": _notice_json(grant.notice),
    }


def _grant(raw: Any, where: str = "grant") -> Grant:
    f = _object(
        raw,
        where,
        {
            "grantee",
            "attestation_id",
            "fields",
            "purposes",
            "processing_method",
            "not_before",
            "not_after",
            "max_uses",
            "mode",
            "nonce",
            "notice",
        },
    )
    mode = f["mode"]
    if not isinstance(mode, str) or mode not in _MODES:
        raise DocumentError(f"{where}.mode: one of {sorted(_MODES)}, not {mode!r}")
    return Grant(
        grantee=_account(f["grantee"], f"{where}.grantee"),
        attestation_id=_id(f["attestation_id"], f"{where}.attestation_id"),
        fields=_ids(f["fields"], f"{where}.fields"),
        purposes=_ids(f["purposes"], f"{where}.purposes"),
        processing_method=_id(f["processing_method"], f"{where}.processing_method"),
        not_before=_time(f["not_before"], f"{where}.not_before"),
        not_after=_time(f["not_after"], f"{where}.not_after"),
        max_uses=_int(f["max_uses"], f"{where}.max_uses", maximum=_MAX_UINT32),
        mode=_MODES[mode],
        nonce=_id(f["nonce"], f"{where}.nonce"),
        notice=_notice(f["notice"], f"{where}.notice"),
    )


def _revocation_json(revocation: Revocation) -> dict[str, Any]:
    return {
        "grant_id": canonical.hex0x(revocation.grant_id),
        "nonce": canonical.hex0x(revocation.nonce),
    }


def _revocation(raw: Any, where: str = "revocation") -> Revocation:
    f = _object(raw, where, {"grant_id", "nonce"})
    return Revocation(
        grant_id=_id(f["grant_id"], f"{where}.grant_id"), nonce=_id(f["nonce"], f"{where}.nonce")
    )


def _use_json(use: UseAuthorization) -> dict[str, Any]:
    return {
        "grant_id": canonical.hex0x(use.grant_id),
        "grantee": use.grantee,
        "fields": [canonical.hex0x(f) for f in use.fields],
        "purpose": canonical.hex0x(use.purpose),
        "nonce": canonical.hex0x(use.nonce),
        "requested_at": _time_text(use.requested_at),
    }


def _use(raw: Any, where: str = "use") -> UseAuthorization:
    f = _object(raw, where, {"grant_id", "grantee", "fields", "purpose", "nonce", "requested_at"})
    return UseAuthorization(
        grant_id=_id(f["grant_id"], f"{where}.grant_id"),
        grantee=_account(f["grantee"], f"{where}.grantee"),
        fields=_ids(f["fields"], f"{where}.fields"),
        purpose=_id(f["purpose"], f"{where}.purpose"),
        nonce=_id(f["nonce"], f"{where}.nonce"),
        requested_at=_time(f["requested_at"], f"{where}.requested_at"),
    )


# -- the signed documents --------------------------------------------------------------------

_Signed = TypeVar("_Signed", "SignedGrant", "SignedRevocation", "SignedUse")


@dataclass(frozen=True)
class SignedGrant:
    """A grant, its signing domain and the customer's SM2 signature of :attr:`digest`."""

    TYPE: ClassVar[str] = "consent-grant"
    domain: ConsentDomain
    grant: Grant
    signature: bytes

    @property
    def digest(self) -> bytes:
        """What the customer signed, and the grant's ID on chain."""
        domain = self.domain
        return grant_digest(self.grant, chain_id=domain.chain_id, contract=domain.registry)

    def to_json(self) -> dict[str, Any]:
        return _envelope(self, "grant", grant_to_json(self.grant))


@dataclass(frozen=True)
class SignedRevocation:
    """A revocation of a grant, its signing domain and the customer's signature."""

    TYPE: ClassVar[str] = "consent-revocation"
    domain: ConsentDomain
    revocation: Revocation
    signature: bytes

    @property
    def digest(self) -> bytes:
        return revocation_digest(
            self.revocation, chain_id=self.domain.chain_id, contract=self.domain.registry
        )

    def to_json(self) -> dict[str, Any]:
        return _envelope(self, "revocation", _revocation_json(self.revocation))


@dataclass(frozen=True)
class SignedUse:
    """An authorization of one use of a per-use grant and the customer's signature."""

    TYPE: ClassVar[str] = "consent-use"
    domain: ConsentDomain
    use: UseAuthorization
    signature: bytes

    @property
    def digest(self) -> bytes:
        return use_digest(self.use, chain_id=self.domain.chain_id, contract=self.domain.registry)

    def to_json(self) -> dict[str, Any]:
        return _envelope(self, "use", _use_json(self.use))


_RECORDS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    SignedGrant.TYPE: ("grant", _grant),
    SignedRevocation.TYPE: ("revocation", _revocation),
    SignedUse.TYPE: ("use", _use),
}


def _envelope(signed: Any, name: str, record: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": signed.TYPE,
        "version": FORMAT_VERSION,
        "domain": signed.domain.to_json(),
        name: record,
        "signature": canonical.b64(signed.signature),
    }


def to_bytes(signed: SignedGrant | SignedRevocation | SignedUse) -> bytes:
    """The document as a file holds it (UTF-8 JSON, indented, one trailing newline)."""
    return (json.dumps(signed.to_json(), indent=2, ensure_ascii=False) + "\n").encode()


def parse(raw: Any, expected: type[_Signed]) -> _Signed:
    """A document of the ``expected`` kind, from its JSON (bytes or the decoded object);
    :class:`DocumentError` naming what is wrong."""
    if isinstance(raw, bytes | bytearray):
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise DocumentError(f"a consent document is at most {MAX_DOCUMENT_BYTES} bytes")
        try:
            raw = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DocumentError(f"not a JSON document: {exc}") from None
    if not isinstance(raw, Mapping):
        raise DocumentError("a consent document is a JSON object")
    kind = raw.get("type")
    if kind != expected.TYPE:
        raise DocumentError(f"type: expected {expected.TYPE!r}, got {kind!r}")
    name, record = _RECORDS[kind]
    fields = _object(raw, "document", {"type", "version", "domain", name, "signature"})
    version = fields["version"]
    if type(version) is not int or version != FORMAT_VERSION:
        raise DocumentError(f"version: expected {FORMAT_VERSION}, got {version!r}")
    signature = _decoded(canonical.unb64, fields["signature"], "signature")
    if not 0 < len(signature) <= 128:
        raise DocumentError("signature: 1 to 128 bytes of DER")
    domain = ConsentDomain.from_json(fields["domain"])
    return expected(domain, record(fields[name], name), signature)


# -- strict field readers --------------------------------------------------------------------


def _object(raw: Any, where: str, names: set[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise DocumentError(f"{where}: a JSON object")
    missing, extra = names - set(raw), set(raw) - names
    said = ([f"missing {sorted(missing)}"] if missing else []) + (
        [f"unexpected {sorted(extra)}"] if extra else []
    )
    if said:
        raise DocumentError(f"{where}: " + ", ".join(said))
    return raw


def _int(value: Any, where: str, *, minimum: int = 0, maximum: int = _MAX_UINT64) -> int:
    if type(value) is not int or not minimum <= value <= maximum:
        raise DocumentError(f"{where}: an integer from {minimum} to {maximum}")
    return value


def _bool(value: Any, where: str) -> bool:
    if type(value) is not bool:
        raise DocumentError(f"{where}: true or false")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DocumentError(f"{where}: a string")
    return value


_T = TypeVar("_T")


def _decoded(decode: Callable[[str], _T], value: Any, where: str) -> _T:
    if not isinstance(value, str):
        raise DocumentError(f"{where}: a string")
    try:
        return decode(value)
    except LedgerError as exc:
        raise DocumentError(f"{where}: {exc}") from None


def _id(value: Any, where: str) -> bytes:
    return _decoded(lambda t: canonical.unhex0x(t, size=32), value, where)


def _ids(value: Any, where: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise DocumentError(f"{where}: a list")
    return tuple(_id(item, f"{where}[{i}]") for i, item in enumerate(value))


def _account(value: Any, where: str) -> str:
    if not isinstance(value, str) or not is_checksum_address(value):
        raise DocumentError(f"{where}: a checksummed account (0x and 40 hex digits)")
    return value


def _time_text(seconds: int) -> str:
    return canonical.timestamp(datetime.fromtimestamp(seconds, UTC))


def _time(value: Any, where: str) -> int:
    moment = _decoded(canonical.parse_timestamp, value, where)
    return int(moment.timestamp())
