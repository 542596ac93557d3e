"""Agreements: create, sign, supersede, void, read, download proofs, erase documents.

Every route admits signed requests only (``caller: SignedCaller``, 401 otherwise) and hands the
caller to the service, whose access policy decides (403, or 404 for what the caller may not
see: :mod:`ledger.member.access`)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api._openapi import AUTH_PROBLEMS, BODY_PROBLEMS, AgreementIdPath, VersionPath, problems
from api.auth import SignedCaller
from api.deps import Service, off_loop
from api.models.agreements import (
    AgreementOut,
    BulkIn,
    BulkOut,
    ErasureIn,
    ErasureOut,
    NewAgreementIn,
    NewVersionIn,
    SignatureIn,
    VersionOut,
    readers_of,
    signatures_of,
)
from ledger.errors import LedgerError
from ledger.service import Submission

router = APIRouter(prefix="/v1/agreements", tags=["agreements"])

_UNAVAILABLE = "Content store or database unavailable: nothing was acknowledged"
_ERRORS = problems(
    {
        **BODY_PROBLEMS,
        **AUTH_PROBLEMS,
        400: "Malformed agreement, document, key or signature, or a body that is not JSON",
        404: "No such agreement or version",
        409: "Conflicts with the agreement's state",
        422: "A signature does not verify, or the request is invalid",
        503: _UNAVAILABLE,
    }
)


# --- routes --------------------------------------------------------------------------------
# Each route is ``async`` and hands its blocking part (the service, and the conversions that
# decode keys) to the worker threads once, through off_loop: see api.deps.


@router.post("", status_code=status.HTTP_201_CREATED, responses=_ERRORS)
async def create_agreement(
    body: NewAgreementIn, service: Service, caller: SignedCaller
) -> VersionOut:
    """Create version 1: a draft, or accepted at once when every signature is included. It
    belongs to the calling broker's member.

    Accepted (status ``accepted``) means durably stored and queued for anchoring."""

    def create() -> VersionOut:
        return VersionOut.of(
            service.evidence.create_agreement(
                body.document.to_document(),
                readers=readers_of(body.readers),
                required_roles=body.required_roles,
                agreement_id=body.agreement_id,
                signatures=signatures_of(body.signatures),
                caller=caller,
            )
        )

    return await off_loop(create)


@router.post(
    "/bulk",
    responses=problems(
        {
            **BODY_PROBLEMS,
            **AUTH_PROBLEMS,
            503: _UNAVAILABLE,
        }
    ),
)
async def submit_bulk(body: BulkIn, service: Service, caller: SignedCaller) -> BulkOut:
    """Many fully signed agreements (version 1) at once: each is judged on its own and gets
    ``201`` with its accepted version, or its problem (400, 409, 422) having stored nothing.

    The response comes once every accepted one is durably stored and queued for anchoring, as
    for a single ``POST /v1/agreements``. ``503`` if the store or the database fails: then none
    of them is acknowledged, and a retry reports those stored after all as ``409``."""

    def submit() -> BulkOut:
        parsed: list[Submission | LedgerError] = []
        for item in body.agreements:
            try:
                parsed.append(item.to_submission())
            except LedgerError as error:
                parsed.append(error)
        accepted = [p for p in parsed if isinstance(p, Submission)]
        submitted = iter(service.evidence.submit_many(accepted, caller=caller))
        return BulkOut.of([next(submitted) if isinstance(p, Submission) else p for p in parsed])

    return await off_loop(submit)


@router.post("/{agreement_id}/versions", status_code=status.HTTP_201_CREATED, responses=_ERRORS)
async def create_version(
    agreement_id: AgreementIdPath, body: NewVersionIn, service: Service, caller: SignedCaller
) -> VersionOut:
    """Supersede the agreement with a new document, or void it (a new version; nothing is
    deleted). Without signatures this is a draft; with every signature it is accepted."""

    def create() -> VersionOut:
        return VersionOut.of(
            service.evidence.create_version(
                agreement_id,
                version=body.version,
                kind=body.kind,
                document=None if body.document is None else body.document.to_document(),
                reason=body.reason,
                readers=readers_of(body.readers),
                required_roles=body.required_roles,
                signatures=signatures_of(body.signatures),
                caller=caller,
            )
        )

    return await off_loop(create)


@router.post(
    "/{agreement_id}/versions/{version}/signatures",
    status_code=status.HTTP_201_CREATED,
    responses=_ERRORS,
)
async def add_signature(
    agreement_id: AgreementIdPath,
    version: VersionPath,
    body: SignatureIn,
    service: Service,
    caller: SignedCaller,
) -> VersionOut:
    """Add one party's signature to a draft; the last required one accepts the version."""
    return await off_loop(
        lambda: VersionOut.of(
            service.evidence.add_signature(
                agreement_id, version, body.to_signature(), caller=caller
            )
        )
    )


@router.get("/{agreement_id}", responses=_ERRORS)
async def get_agreement(
    agreement_id: AgreementIdPath, service: Service, caller: SignedCaller
) -> AgreementOut:
    """Every version of the agreement, its state (draft, in force, void), current version,
    owner and erasures."""
    return await off_loop(
        lambda: AgreementOut.of(service.evidence.agreement(agreement_id, caller=caller))
    )


@router.get("/{agreement_id}/versions/{version}", responses=_ERRORS)
async def get_version(
    agreement_id: AgreementIdPath, version: VersionPath, service: Service, caller: SignedCaller
) -> VersionOut:
    """One version: status, signatures, missing roles, and the payload the parties sign."""
    return await off_loop(
        lambda: VersionOut.of(service.evidence.get_version(agreement_id, version, caller=caller))
    )


@router.get(
    "/{agreement_id}/versions/{version}/proof",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {}}, "description": "The ledger-proof/1 file"},
        **_ERRORS,
    },
)
async def download_proof(
    agreement_id: AgreementIdPath,
    version: VersionPath,
    service: Service,
    caller: SignedCaller,
    car: bool = True,
) -> Response:
    """The proof file of an anchored version (409 while its batch is not anchored yet)."""
    data = await off_loop(
        service.evidence.proof, agreement_id, version, include_car=car, caller=caller
    )
    return Response(
        content=data,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{agreement_id}.v{version}.proof.json"'
        },
    )


@router.delete("/{agreement_id}/document-keys", responses=_ERRORS)
async def erase_document(
    agreement_id: AgreementIdPath,
    service: Service,
    caller: SignedCaller,
    body: ErasureIn | None = None,
) -> ErasureOut:
    """Crypto-shred the agreement's documents (every version): the wrapped keys are destroyed,
    the ciphertext becomes unreadable, and every proof still verifies. Asked by the owning
    broker (no body), or with the customer's signed erasure request (the body; any caller may
    relay it). Every erasure is recorded and listed in the agreement."""

    def erase() -> ErasureOut:
        request = None if body is None else body.to_request(agreement_id)
        return ErasureOut.of(
            service.evidence.erase_document(agreement_id, caller=caller, request=request)
        )

    return await off_loop(erase)
