"""Agreements: create, sign, supersede, void, read, download proofs, erase documents."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api._openapi import BODY_PROBLEMS, AgreementIdPath, VersionPath, problems
from api.deps import Service
from api.problems import problem_of
from ledger import canonical
from ledger._ids import AGREEMENT_ID_PATTERN, ROLE_PATTERN
from ledger.agreement import (
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
    SigningPayload,
    VersionKind,
)
from ledger.crypto.errors import CryptoError
from ledger.crypto.sm2 import SM2PublicKey
from ledger.errors import LedgerError
from ledger.service import Submission
from ledger.signature import Signature

router = APIRouter(prefix="/v1/agreements", tags=["agreements"])

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
        "text/plain; charset=utf-8"
    )


class SignatureIn(_In):
    role: _Role
    signed_at: Annotated[str, Field(description="RFC 3339 UTC, seconds: 2026-11-21T12:00:00Z")]
    public_key: _PublicKeyHex
    signature: Annotated[str, Field(description="DER SM2 signature, base64")]
    distid: Annotated[str, Field(pattern=r"^[\x20-\x7e]{1,64}$")] = "1234567812345678"


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


class AgreementOut(BaseModel):
    agreement_id: str
    state: AgreementState
    current_version: int | None  # the latest accepted agreement version
    versions: list[VersionOut]


class BulkItemOut(BaseModel):
    """One submission's outcome: 201 with the accepted version, or a 4xx problem."""

    status: int
    version: VersionOut | None = None
    problem: dict[str, Any] | None = None


class BulkOut(BaseModel):
    accepted: int
    refused: int
    results: list[BulkItemOut]


class ErasureOut(BaseModel):
    agreement_id: str
    keys_erased: int


# --- conversion ----------------------------------------------------------------------------


def _version_out(v: AgreementVersion) -> VersionOut:
    signed = {s.role for s in v.signatures}
    return VersionOut(
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


def _agreement_out(agreement: Agreement) -> AgreementOut:
    return AgreementOut(
        agreement_id=agreement.agreement_id,
        state=agreement.state,
        current_version=agreement.current_version,
        versions=[_version_out(v) for v in agreement.versions],
    )


def _document(part: DocumentIn) -> Document:
    try:
        content = base64.b64decode(part.content, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AgreementError(f"document.content is not base64: {exc}") from exc
    return Document(content, media_type=part.media_type)


def _key(hex_key: str) -> SM2PublicKey:
    try:
        return SM2PublicKey.from_raw(bytes.fromhex(hex_key[2:]))
    except (CryptoError, ValueError) as exc:
        raise AgreementError(f"{hex_key[:12]}... is not an SM2 public key: {exc}") from exc


def _signature(part: SignatureIn) -> Signature:
    try:
        value = base64.b64decode(part.signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AgreementError(f"signature of {part.role!r} is not base64: {exc}") from exc
    return Signature(
        role=part.role,
        signed_at=canonical.parse_timestamp(part.signed_at),
        public_key=_key(part.public_key),
        value=value,
        distid=part.distid.encode("ascii", errors="strict"),
    )


def _readers(readers: list[str] | None) -> list[SM2PublicKey] | None:
    return None if readers is None else [_key(r) for r in readers]


def _signatures(parts: list[SignatureIn] | None) -> list[Signature] | None:
    return None if parts is None else [_signature(s) for s in parts]


_ERRORS = problems(
    {
        **BODY_PROBLEMS,
        400: "Malformed agreement, document, key or signature, or a body that is not JSON",
        404: "No such agreement or version",
        409: "Conflicts with the agreement's state",
        422: "A signature does not verify, or the request is invalid",
        503: "Content store or database unavailable: nothing was acknowledged",
    }
)


# --- routes --------------------------------------------------------------------------------


@router.post("", status_code=status.HTTP_201_CREATED, responses=_ERRORS)
def create_agreement(body: NewAgreementIn, service: Service) -> VersionOut:
    """Create version 1: a draft, or accepted at once when every signature is included.

    Accepted (status ``accepted``) means durably stored and queued for anchoring."""
    return _version_out(
        service.evidence.create_agreement(
            _document(body.document),
            readers=_readers(body.readers),
            required_roles=body.required_roles,
            agreement_id=body.agreement_id,
            signatures=_signatures(body.signatures),
        )
    )


@router.post(
    "/bulk",
    responses=problems(
        {
            **BODY_PROBLEMS,
            503: "Content store or database unavailable: nothing was acknowledged",
        }
    ),
)
def submit_bulk(body: BulkIn, service: Service) -> BulkOut:
    """Many fully signed agreements (version 1) at once: each is judged on its own and gets
    ``201`` with its accepted version, or its problem (400, 409, 422) having stored nothing.

    The response comes once every accepted one is durably stored and queued for anchoring, as
    for a single ``POST /v1/agreements``. ``503`` if the store or the database fails: then none
    of them is acknowledged, and a retry reports those stored after all as ``409``."""
    parsed: list[Submission | LedgerError] = []
    for item in body.agreements:
        try:
            readers = _readers(item.readers)
            parsed.append(
                Submission(
                    document=_document(item.document),
                    signatures=tuple(_signature(s) for s in item.signatures),
                    agreement_id=item.agreement_id,
                    readers=None if readers is None else tuple(readers),
                    required_roles=tuple(item.required_roles),
                )
            )
        except LedgerError as error:
            parsed.append(error)
    submitted = iter(service.evidence.submit_many([p for p in parsed if isinstance(p, Submission)]))
    results: list[BulkItemOut] = []
    for entry in parsed:
        outcome = next(submitted) if isinstance(entry, Submission) else entry
        if isinstance(outcome, AgreementVersion):
            results.append(BulkItemOut(status=201, version=_version_out(outcome)))
        else:
            body_ = problem_of(outcome)
            results.append(BulkItemOut(status=body_["status"], problem=body_))
    accepted = sum(1 for r in results if r.status == 201)
    return BulkOut(accepted=accepted, refused=len(results) - accepted, results=results)


@router.post("/{agreement_id}/versions", status_code=status.HTTP_201_CREATED, responses=_ERRORS)
def create_version(
    agreement_id: AgreementIdPath, body: NewVersionIn, service: Service
) -> VersionOut:
    """Supersede the agreement with a new document, or void it (a new version; nothing is
    deleted). Without signatures this is a draft; with every signature it is accepted."""
    return _version_out(
        service.evidence.create_version(
            agreement_id,
            version=body.version,
            kind=body.kind,
            document=None if body.document is None else _document(body.document),
            reason=body.reason,
            readers=_readers(body.readers),
            required_roles=body.required_roles,
            signatures=_signatures(body.signatures),
        )
    )


@router.post(
    "/{agreement_id}/versions/{version}/signatures",
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS,
)
def add_signature(
    agreement_id: AgreementIdPath, version: VersionPath, body: SignatureIn, service: Service
) -> VersionOut:
    """Add one party's signature to a draft; the last required one accepts the version."""
    return _version_out(service.evidence.add_signature(agreement_id, version, _signature(body)))


@router.get("/{agreement_id}", responses=_ERRORS)
def get_agreement(agreement_id: AgreementIdPath, service: Service) -> AgreementOut:
    """Every version of the agreement, its state (draft, in force, void) and current version."""
    return _agreement_out(service.evidence.agreement(agreement_id))


@router.get("/{agreement_id}/versions/{version}", responses=_ERRORS)
def get_version(
    agreement_id: AgreementIdPath, version: VersionPath, service: Service
) -> VersionOut:
    """One version: status, signatures, missing roles, and the payload the parties sign."""
    return _version_out(service.evidence.get_version(agreement_id, version))


@router.get(
    "/{agreement_id}/versions/{version}/proof",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {}}, "description": "The ledger-proof/1 file"},
        **_ERRORS,
    },
)
def download_proof(
    agreement_id: AgreementIdPath, version: VersionPath, service: Service, car: bool = True
) -> Response:
    """The proof file of an anchored version (409 while its batch is not anchored yet)."""
    data = service.evidence.proof(agreement_id, version, include_car=car)
    return Response(
        content=data,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{agreement_id}.v{version}.proof.json"'
        },
    )


@router.delete("/{agreement_id}/document-keys", responses=_ERRORS)
def erase_document(agreement_id: AgreementIdPath, service: Service) -> ErasureOut:
    """Crypto-shred the agreement's documents (every version): the wrapped keys are destroyed,
    the ciphertext becomes unreadable, and every proof still verifies."""
    return ErasureOut(
        agreement_id=agreement_id, keys_erased=service.evidence.erase_document(agreement_id)
    )
