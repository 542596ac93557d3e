"""Agreements in the HTTP API: the input models of ``/v1/agreements`` (``...In``) and what the
service takes from them, the public models of its replies (``...Out``) built from the domain's
records."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.problems import problem_of
from ledger import canonical
from ledger._ids import (
    AGREEMENT_ID_PATTERN,
    DEFAULT_DISTID,
    DISTID_PATTERN,
    NONCE_PATTERN,
    ROLE_PATTERN,
)
from ledger.agreement import (
    DEFAULT_MEDIA_TYPE,
    MAX_DOCUMENT_BYTES,
    MAX_MEDIA_TYPE_CHARS,
    MAX_REASON_CHARS,
    MAX_SIGNERS,
    MAX_VERSION,
    REQUIRED_ROLES,
    Agreement,
    AgreementError,
    AgreementState,
    AgreementVersion,
    Document,
    ErasureRecord,
    ErasureRequest,
    SignedErasure,
    SigningDomain,
    SigningPayload,
    VersionKind,
)
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PublicKey
from ledger.errors import LedgerError
from ledger.service import Submission
from ledger.signature import Signature

_PublicKeyHex = Annotated[str, Field(pattern=r"^0x04[0-9a-fA-F]{128}$")]
_Role = Annotated[str, Field(pattern=ROLE_PATTERN)]
_Roles = Annotated[list[_Role], Field(min_length=1, max_length=MAX_SIGNERS)]
_Signatures = Annotated[list["SignatureIn"], Field(min_length=1, max_length=MAX_SIGNERS)]
_AgreementId = Annotated[str, Field(pattern=AGREEMENT_ID_PATTERN)]
#: Agreements per bulk submission (a request of at most ~16 MiB with 10 KiB documents).
MAX_BULK = 1000


# --- input models ------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentIn(_In):
    content: Annotated[
        str,
        Field(
            max_length=4 * ((MAX_DOCUMENT_BYTES + 2) // 3),
            description=f"The document, base64 (at most {MAX_DOCUMENT_BYTES} bytes decoded)",
        ),
    ]
    media_type: Annotated[str, Field(min_length=1, max_length=MAX_MEDIA_TYPE_CHARS)] = (
        DEFAULT_MEDIA_TYPE
    )

    def to_document(self) -> Document:
        return Document(_base64(self.content, "document.content"), media_type=self.media_type)


class SignatureIn(_In):
    role: _Role
    signed_at: Annotated[str, Field(description="RFC 3339 UTC, seconds: 2026-11-21T12:00:00Z")]
    public_key: _PublicKeyHex
    signature: Annotated[str, Field(description="DER SM2 signature, base64")]
    distid: Annotated[str, Field(pattern=DISTID_PATTERN)] = DEFAULT_DISTID.decode("ascii")

    def to_signature(self) -> Signature:
        value = _base64(self.signature, f"signature of {self.role!r}")
        return Signature(
            role=self.role,
            signed_at=canonical.parse_timestamp(self.signed_at),
            public_key=_key(self.public_key),
            value=value,
            distid=self.distid.encode("ascii", errors="strict"),
        )


class NewAgreementIn(_In):
    """Version 1 of a new agreement: a draft, or (with every signature) accepted at once."""

    agreement_id: _AgreementId | None = None
    document: DocumentIn
    required_roles: _Roles = Field(default_factory=lambda: list(REQUIRED_ROLES))
    readers: list[_PublicKeyHex] | None = Field(
        default=None, description="SM2 keys the document key is wrapped for (default: signers)"
    )
    signatures: _Signatures | None = None


class SignedAgreementIn(_In):
    """Version 1 of a new agreement with every signature (one item of a bulk submission)."""

    agreement_id: _AgreementId
    document: DocumentIn
    required_roles: _Roles = Field(default_factory=lambda: list(REQUIRED_ROLES))
    readers: list[_PublicKeyHex] | None = None
    signatures: _Signatures

    def to_submission(self) -> Submission:
        readers = readers_of(self.readers)
        return Submission(
            document=self.document.to_document(),
            signatures=tuple(s.to_signature() for s in self.signatures),
            agreement_id=self.agreement_id,
            readers=None if readers is None else tuple(readers),
            required_roles=tuple(self.required_roles),
        )


class BulkIn(_In):
    agreements: Annotated[list[SignedAgreementIn], Field(min_length=1, max_length=MAX_BULK)]


class NewVersionIn(_In):
    """A later version: a new document (supersede) or a void record."""

    version: int = Field(
        ge=2, le=MAX_VERSION, description="The version being created: the latest + 1"
    )
    kind: VersionKind = VersionKind.AGREEMENT
    document: DocumentIn | None = None
    reason: Annotated[str, Field(min_length=1, max_length=MAX_REASON_CHARS)] | None = None
    required_roles: _Roles | None = None
    readers: list[_PublicKeyHex] | None = None
    signatures: _Signatures | None = None


class ErasureRequestIn(_In):
    """What the customer signed (``ledger/erasure-request`` v1, with the path's agreement ID)."""

    nonce: Annotated[str, Field(pattern=NONCE_PATTERN, description="Fresh, 16-128 characters")]
    requested_at: Annotated[str, Field(description="RFC 3339 UTC, seconds")]
    chain_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    contract: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]


class ErasureIn(_In):
    """A customer-signed erasure request: the request and the customer's SM2 signature over its
    canonical JSON (the key that signed the agreement as ``customer``)."""

    request: ErasureRequestIn
    public_key: _PublicKeyHex
    signature: Annotated[str, Field(description="DER SM2 signature, base64")]
    distid: Annotated[str, Field(pattern=DISTID_PATTERN)] = DEFAULT_DISTID.decode("ascii")

    def to_request(self, agreement_id: str) -> SignedErasure:
        request = self.request
        return SignedErasure(
            request=ErasureRequest(
                agreement_id=agreement_id,
                nonce=request.nonce,
                requested_at=canonical.parse_timestamp(request.requested_at),
                domain=SigningDomain(chain_id=request.chain_id, contract=request.contract),
            ),
            public_key=_key(self.public_key),
            signature=_base64(self.signature, "the erasure request's signature"),
            distid=self.distid.encode("ascii"),
        )


# --- public models -----------------------------------------------------------------------


class SignatureOut(BaseModel):
    role: str
    signed_at: str
    public_key: str
    key_fingerprint: str


class SigningPayloadOut(BaseModel):
    """What each party signs (canonical JSON of these fields, RFC 8785) with SM2."""

    type: str
    version: int
    agreement_id: str
    agreement_version: int
    document_digest: str
    chain_id: int
    contract: str


class VersionOut(BaseModel):
    agreement_id: str
    version: int
    kind: str
    status: str
    document_digest: str
    document_cid: str
    media_type: str
    size: int
    required_roles: list[str]
    missing_roles: list[str]
    signatures: list[SignatureOut]
    created_at: str
    accepted_at: str | None
    keys_erased: bool
    signing: SigningPayloadOut

    @classmethod
    def of(cls, v: AgreementVersion) -> VersionOut:
        signed = {s.role for s in v.signatures}
        return cls(
            agreement_id=v.agreement_id,
            version=v.version,
            kind=v.kind.value,
            status=v.status.value,
            document_digest=canonical.label("sm3", v.document_sm3),
            document_cid=v.document_cid,
            media_type=v.media_type,
            size=v.size,
            required_roles=list(v.required_roles),
            missing_roles=[r for r in v.required_roles if r not in signed],
            signatures=[
                SignatureOut(
                    role=s.role,
                    signed_at=canonical.timestamp(s.signed_at),
                    public_key=canonical.hex0x(s.public_key),
                    key_fingerprint=canonical.label(
                        "sm3", SM2PublicKey.from_raw(s.public_key).fingerprint()
                    ),
                )
                for s in v.signatures
            ],
            created_at=canonical.timestamp(v.created_at),
            accepted_at=canonical.timestamp(v.accepted_at) if v.accepted_at else None,
            keys_erased=v.keys_erased_at is not None,
            signing=SigningPayloadOut(
                type=SigningPayload.TYPE,
                version=SigningPayload.VERSION,
                agreement_id=v.agreement_id,
                agreement_version=v.version,
                document_digest=canonical.label("sm3", v.document_sm3),
                chain_id=v.chain_id,
                contract=v.contract,
            ),
        )


class ErasureOut(BaseModel):
    """One erasure of the agreement's document keys: when, how it was authorized (``broker``:
    the owning broker; ``customer``: a request signed by the customer key), who sent it."""

    agreement_id: str
    keys_erased: int
    erased_at: str
    method: str
    caller_member_id: str
    caller_keyid: str
    customer_key_fingerprint: str | None = None
    nonce: str | None = None

    @classmethod
    def of(cls, erasure: ErasureRecord) -> ErasureOut:
        key = erasure.customer_key
        return cls(
            agreement_id=erasure.agreement_id,
            keys_erased=erasure.keys_erased,
            erased_at=canonical.timestamp(erasure.erased_at),
            method=erasure.method.value,
            caller_member_id=erasure.caller_member_id,
            caller_keyid=erasure.caller_keyid,
            customer_key_fingerprint=None
            if key is None
            else canonical.label("sm3", SM2PublicKey.from_raw(key).fingerprint()),
            nonce=erasure.nonce,
        )


class AgreementOut(BaseModel):
    agreement_id: str
    state: AgreementState
    current_version: int | None  # the latest accepted agreement version
    owner: str | None  # the member whose broker created it (None: before attribution)
    versions: list[VersionOut]
    erasures: list[ErasureOut]

    @classmethod
    def of(cls, agreement: Agreement) -> AgreementOut:
        return cls(
            agreement_id=agreement.agreement_id,
            state=agreement.state,
            current_version=agreement.current_version,
            owner=agreement.owner,
            versions=[VersionOut.of(v) for v in agreement.versions],
            erasures=[ErasureOut.of(e) for e in agreement.erasures],
        )


class BulkItemOut(BaseModel):
    """One submission's outcome: 201 with the accepted version, or a 4xx problem."""

    status: int
    version: VersionOut | None = None
    problem: dict[str, Any] | None = None


class BulkOut(BaseModel):
    accepted: int
    refused: int
    results: list[BulkItemOut]

    @classmethod
    def of(cls, outcomes: list[AgreementVersion | LedgerError]) -> BulkOut:
        """The reply to a bulk submission: one outcome per agreement, in order."""
        results: list[BulkItemOut] = []
        for outcome in outcomes:
            if isinstance(outcome, AgreementVersion):
                results.append(BulkItemOut(status=201, version=VersionOut.of(outcome)))
            else:
                problem = problem_of(outcome)
                results.append(BulkItemOut(status=problem["status"], problem=problem))
        accepted = sum(1 for r in results if r.status == 201)
        return cls(accepted=accepted, refused=len(results) - accepted, results=results)


def _key(hex_key: str) -> SM2PublicKey:
    try:
        return SM2PublicKey.from_raw(bytes.fromhex(hex_key[2:]))
    except (CryptoError, ValueError) as exc:
        raise AgreementError(f"{hex_key[:12]}... is not an SM2 public key: {exc}") from exc


def readers_of(readers: list[str] | None) -> list[SM2PublicKey] | None:
    """The reader keys a request names, or None (the service's default)."""
    return None if readers is None else [_key(r) for r in readers]


def signatures_of(parts: list[SignatureIn] | None) -> list[Signature] | None:
    """The signatures a request carries, or None (a draft)."""
    return None if parts is None else [s.to_signature() for s in parts]


def _base64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AgreementError(f"{what} is not base64: {exc}") from exc
