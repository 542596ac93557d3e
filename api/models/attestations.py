"""Identity attestations in the HTTP API: the bodies of ``/v1/attestations`` (``...In``) and
their replies (``...Out``), built from :mod:`ledger.member.attestations`.

IDs and hashes are ``0x`` hex; times RFC 3339 UTC; digests labelled (``sm3:...``). Field values
are what a Disclosure holds: a string, an integer, true, false or null."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from ledger import canonical
from ledger.attestation.disclosure import DisclosureError
from ledger.attestation.kyc import MAX_FIELDS
from ledger.chain.attestations import Attestation
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PublicKey
from ledger.member.attestations import (
    AttestationView,
    Made,
    NewAttestation,
    Reverification,
)
from ledger.member.governance import Mined

_Time = Annotated[
    str, Field(description="RFC 3339 UTC, whole seconds", examples=["2027-01-31T00:00:00Z"])
]
_Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_./:+-]*$")]
_Value = StrictStr | StrictInt | StrictBool | None
_Fields = Annotated[
    dict[Annotated[str, Field(max_length=31)], _Value],
    Field(min_length=1, max_length=MAX_FIELDS, description="KYC field name -> value"),
]


def _seconds(text: str, where: str) -> int:
    try:
        return int(canonical.parse_timestamp(text).timestamp())
    except canonical.EncodingError as exc:
        raise DisclosureError(f"{where}: {exc}") from None


def _time(seconds: int) -> str:
    return canonical.timestamp(datetime.fromtimestamp(seconds, UTC))


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VerificationIn(_In):
    """A (re-)verification: the fields, level, method, and when (default: now) until when."""

    fields: _Fields
    level: _Name = Field(examples=["cn-aml/standard"])
    method: _Name = Field(examples=["id-document+liveness"])
    expires_at: _Time
    verified_at: _Time | None = None

    def verification(self) -> Reverification:
        return Reverification(
            fields=dict(self.fields),
            level=self.level,
            method=self.method,
            expires_at=_seconds(self.expires_at, "expires_at"),
            verified_at=None
            if self.verified_at is None
            else _seconds(self.verified_at, "verified_at"),
        )


class SubjectIn(_In):
    """The identity document the subject commitment is made from (never stored)."""

    id_type: Annotated[str, Field(min_length=1, max_length=64)]
    id_number: Annotated[str, Field(min_length=1, max_length=128)]


class AttestationIn(VerificationIn):
    """``POST /v1/attestations``: a customer this member verified."""

    customer_key: Annotated[str, Field(pattern=r"^0x04[0-9a-fA-F]{128}$")] = Field(
        description="The customer's SM2 public key (uncompressed, 0x04...), made on its side"
    )
    subject: SubjectIn

    def new(self) -> NewAttestation:
        try:
            key = SM2PublicKey.from_raw(bytes.fromhex(self.customer_key[2:]))
        except (CryptoError, ValueError) as exc:
            raise DisclosureError(f"customer_key is not an SM2 public key: {exc}") from None
        return NewAttestation(
            customer_key=key,
            id_type=self.subject.id_type,
            id_number=self.subject.id_number,
            verification=self.verification(),
        )


class RevocationIn(_In):
    """``POST /v1/attestations/{id}/revocation``: why (a name, e.g. ``document-forged``)."""

    reason: _Name


class MadeOut(BaseModel):
    """An attestation mined, its fields stored encrypted."""

    attestation_id: str
    content_cid: str
    fields: list[str]
    tx_hash: str
    block_number: int
    supersedes: str | None = None

    @classmethod
    def of(cls, made: Made, *, supersedes: bytes | None = None) -> MadeOut:
        return cls(
            attestation_id=canonical.hex0x(made.attestation_id),
            content_cid=made.content_cid,
            fields=list(made.field_names),
            tx_hash=canonical.hex0x(made.mined.tx_hash),
            block_number=made.mined.block_number,
            supersedes=None if supersedes is None else canonical.hex0x(supersedes),
        )


class RevokedOut(BaseModel):
    attestation_id: str
    tx_hash: str
    block_number: int

    @classmethod
    def of(cls, attestation_id: bytes, mined: Mined) -> RevokedOut:
        return cls(
            attestation_id=canonical.hex0x(attestation_id),
            tx_hash=canonical.hex0x(mined.tx_hash),
            block_number=mined.block_number,
        )


class FieldOut(BaseModel):
    name_id: str = Field(description="keccak256 of the field's name, 0x hex")
    digest: str = Field(description="sm3: digest of the field's Disclosure")


class AttestationOut(BaseModel):
    """An attestation as the chain holds it, judged at ``at`` (the latest block's time)."""

    attestation_id: str
    attester: str
    subject: str
    customer_key: str
    customer_key_fingerprint: str
    level: str = Field(description="Name ID (keccak256 of the level's name)")
    method: str = Field(description="Name ID (keccak256 of the method's name)")
    verified_at: str
    expires_at: str
    attested_at: str
    ended_at: str | None
    revoked: bool
    revocation_reason: str | None
    supersedes: str | None
    superseded_by: str | None
    fields: list[FieldOut]
    content_ref: str
    at: str
    valid: bool
    stored: bool = Field(description="This service keeps the encrypted fields")

    @classmethod
    def of(cls, view: AttestationView) -> AttestationOut:
        a: Attestation = view.attestation

        def opt(value: bytes | None) -> str | None:
            return None if value is None else canonical.hex0x(value)

        return cls(
            attestation_id=canonical.hex0x(a.attestation_id),
            attester=a.attester,
            subject=canonical.hex0x(a.subject),
            customer_key=canonical.hex0x(a.customer_key.to_raw()),
            customer_key_fingerprint=canonical.label("sm3", a.customer_key.fingerprint()),
            level=canonical.hex0x(a.level),
            method=canonical.hex0x(a.method),
            verified_at=_time(a.verified_at),
            expires_at=_time(a.expires_at),
            attested_at=_time(a.attested_at),
            ended_at=None if a.ended_at is None else _time(a.ended_at),
            revoked=a.revoked,
            revocation_reason=opt(a.revocation_reason),
            supersedes=opt(a.supersedes),
            superseded_by=opt(a.superseded_by),
            fields=[
                FieldOut(name_id=canonical.hex0x(n), digest=canonical.label("sm3", d))
                for n, d in zip(a.field_names, a.field_digests, strict=True)
            ],
            content_ref=a.content_ref.decode("ascii", errors="replace"),
            at=_time(view.at),
            valid=a.valid_at(view.at),
            stored=view.stored,
        )
