"""Reliances in the HTTP API: the accounts this member opened on another member's KYC
(``GET /v1/reliances``) and a reuse asked of this member's service (``POST /v1/reliances``),
built from :mod:`ledger.member.reuse`. IDs are ``0x`` hex, accounts checksummed, times RFC 3339
UTC."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.models.agreements import DocumentIn, VersionOut, _PublicKeyHex, readers_of
from api.models.consortium import ID_PATTERN
from ledger import canonical
from ledger.chain.consent import MAX_FIELDS
from ledger.consent.receipt import PURPOSE
from ledger.crypto.sm2 import SM2PublicKey
from ledger.customer.documents import SignedUse, parse
from ledger.db import Reliance
from ledger.member.governance import parse_id
from ledger.member.reuse import Opened, ReleaseAsked

_Field = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,30}$")]


class RelianceOut(BaseModel):
    """An account opened on a reused identity, and whether what it relied on still holds."""

    agreement_id: str
    attestation_id: str
    grant_id: str
    receipt_id: str
    attester: str
    member: str
    fields: list[str]
    relied_at: str
    status: Literal["ok", "needs-reverification"]
    reason: (
        Literal[
            "attestation-revoked", "attestation-superseded", "attestation-expired", "grant-revoked"
        ]
        | None
    ) = Field(description="Why the customer must be verified again (null while ok)")
    affected_at: str | None = Field(description="When what it relied on ended (null while ok)")

    @classmethod
    def of(cls, reliance: Reliance) -> RelianceOut:
        return cls(
            agreement_id=reliance.agreement_id,
            attestation_id=canonical.hex0x(reliance.attestation_id),
            grant_id=canonical.hex0x(reliance.grant_id),
            receipt_id=reliance.receipt_id,
            attester=reliance.attester,
            member=reliance.member,
            fields=list(reliance.fields),
            relied_at=canonical.timestamp(reliance.relied_at),
            status=reliance.status.value,
            reason=None if reliance.reason is None else reliance.reason.value,
            affected_at=(
                None if reliance.affected_at is None else canonical.timestamp(reliance.affected_at)
            ),
        )


class ReliancesOut(BaseModel):
    reliances: list[RelianceOut]


class ReuseIn(BaseModel):
    """Reuse another member's KYC: ask its service to release ``fields`` under the grant, check
    them, and open the account (a draft of ``terms`` for the parties to sign)."""

    grant_id: Annotated[str, Field(pattern=ID_PATTERN)]
    fields: Annotated[list[_Field], Field(min_length=1, max_length=MAX_FIELDS)]
    purpose: Annotated[str, Field(pattern=PURPOSE.pattern)]
    use: dict[str, Any] | None = Field(
        default=None, description="per-use mode: the customer's signed use document"
    )
    terms: DocumentIn
    readers: list[_PublicKeyHex] | None = Field(
        default=None, description="Who reads the agreement (default: the customer and the caller)"
    )
    attester_url: Annotated[str | None, Field(pattern=r"^https?://[^?#@\s]+$")] = Field(
        default=None, description="The attester's service (default: its consortium endpoint)"
    )

    def asked(self) -> ReleaseAsked:
        use = None if self.use is None else parse(self.use, SignedUse)
        return ReleaseAsked(
            grant_id=parse_id(self.grant_id),
            fields=tuple(self.fields),
            purpose=self.purpose,
            use=use,
        )

    def reader_keys(self) -> list[SM2PublicKey] | None:
        return readers_of(self.readers)


class OpenedOut(BaseModel):
    """The account opened (its agreement, a draft for the parties to sign) and its reliance."""

    agreement: VersionOut
    reliance: RelianceOut

    @classmethod
    def of(cls, opened: Opened) -> OpenedOut:
        return cls(
            agreement=VersionOut.of(opened.agreement), reliance=RelianceOut.of(opened.reliance)
        )
