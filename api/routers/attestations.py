"""This member's identity attestations (KYC): ``/v1/attestations``.

``POST /v1/attestations``: a broker of the member that runs the service attests a customer it
verified (fields, the customer's key, level, method, expiry, identity document); the fields are
stored encrypted and the attestation is mined before the reply (201). ``POST
/v1/attestations/{id}/supersede`` re-verifies (201, the new attestation), ``POST
/v1/attestations/{id}/revocation`` revokes (200). A caller without the broker role, or another
member's, gets 403. ``GET /v1/attestations/{id}``: the attestation as the chain holds it, for the
attester member, the customer whose key it binds, auditors and the regulator (anyone else: 404,
as for one that does not exist). The domain logic is :mod:`ledger.member.attestations`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from api._openapi import AUTH_PROBLEMS, BODY_PROBLEMS, problems
from api.auth import SignedCaller
from api.deps import Service, off_loop
from api.models.attestations import (
    AttestationIn,
    AttestationOut,
    MadeOut,
    RevocationIn,
    RevokedOut,
    VerificationIn,
)
from api.models.consortium import ID_PATTERN
from ledger.member.attestations import AttestationDesk
from ledger.member.governance import parse_id

router = APIRouter(prefix="/v1", tags=["attestations"])


async def get_desk(service: Service) -> AttestationDesk:
    return service.attestations


Desk = Annotated[AttestationDesk, Depends(get_desk)]
AttestationIdPath = Annotated[
    str, Path(pattern=ID_PATTERN, description="The attestation ID (0x, 64 hex)")
]

_CHAIN = "Chain node or content store unreachable, the contracts not deployed, or not mined in time"
_WRITE_ERRORS = problems(
    {
        **BODY_PROBLEMS,
        **AUTH_PROBLEMS,
        404: "No such attestation of this member",
        409: "Refused by the contract in its state (already ended ...)",
        422: "Malformed fields, key or times, or an argument the contract refuses",
        503: _CHAIN,
    }
)


@router.post("/attestations", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
async def attest(body: AttestationIn, desk: Desk, caller: SignedCaller) -> MadeOut:
    """Attest a customer this member verified (answered once mined)."""
    return MadeOut.of(await off_loop(desk.attest, caller, body.new()))


@router.post(
    "/attestations/{attestation_id}/supersede",
    status_code=status.HTTP_201_CREATED,
    responses=_WRITE_ERRORS,
)
async def supersede(
    attestation_id: AttestationIdPath, body: VerificationIn, desk: Desk, caller: SignedCaller
) -> MadeOut:
    """Re-verify the customer: a new attestation; the old one ends when it is mined."""
    old = parse_id(attestation_id)
    made = await off_loop(desk.supersede, caller, old, body.verification())
    return MadeOut.of(made, supersedes=old)


@router.post("/attestations/{attestation_id}/revocation", responses=_WRITE_ERRORS)
async def revoke(
    attestation_id: AttestationIdPath, body: RevocationIn, desk: Desk, caller: SignedCaller
) -> RevokedOut:
    """Revoke the attestation from the block the revocation lands in."""
    revoked = parse_id(attestation_id)
    return RevokedOut.of(revoked, await off_loop(desk.revoke, caller, revoked, body.reason))


@router.get(
    "/attestations/{attestation_id}",
    responses=problems(
        {**AUTH_PROBLEMS, 404: "No such attestation", 422: "Invalid path", 503: _CHAIN}
    ),
)
async def read_attestation(
    attestation_id: AttestationIdPath, desk: Desk, caller: SignedCaller
) -> AttestationOut:
    """The attestation as the chain holds it now (no field values: those are released only
    under a grant)."""
    return AttestationOut.of(await off_loop(desk.view, caller, parse_id(attestation_id)))
