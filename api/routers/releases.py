"""Releasing a customer's attested fields to the grantee: ``POST
/v1/consents/{grant_id}/releases`` (the domain logic: :mod:`ledger.member.releases`).

The body is digested exactly as sent (the access receipt's ``request_digest``). 201: ``{"receipt":
<the ledger/access-receipt v1 written>, "envelope": <ledger-release/1>}``. Refusals are
problem+json whose type is the refusal's name: 403 ``not-grantee``; 409 for the grant's or the
attestation's state (``grant-revoked``, ``grant-expired``, ``grant-not-yet-valid``,
``grant-inert``, ``attestation-not-valid``, ``uses-exhausted``,
``per-use-authorization-missing``, ``per-use-authorization-replayed``, ``no-disclosure-key``);
422 for scope (``field-out-of-scope``, ``purpose-out-of-scope``), a use authorization that is
not the customer's for this request (``per-use-authorization-invalid``) and malformed bodies;
404 for a grant or attestation this service does not know; 503 chain down. A refusal writes no
receipt and releases nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from api._openapi import AUTH_PROBLEMS, BODY_PROBLEMS, problems
from api.auth import SignedCaller
from api.deps import Service, off_loop
from api.models.consortium import ID_PATTERN
from api.models.releases import ReleasedOut, ReleaseIn
from ledger.member.governance import parse_id
from ledger.member.releases import ReleaseDesk

router = APIRouter(prefix="/v1", tags=["consents"])


async def get_desk(service: Service) -> ReleaseDesk:
    return service.releases


Desk = Annotated[ReleaseDesk, Depends(get_desk)]
GrantIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="The grant ID (0x, 64 hex)")]


@router.post(
    "/consents/{grant_id}/releases",
    status_code=status.HTTP_201_CREATED,
    responses=problems(
        {
            **BODY_PROBLEMS,
            **AUTH_PROBLEMS,
            403: "The caller is not the grant's grantee (not-grantee), or a signature refusal",
            404: "No such grant, or an attestation this service keeps no fields of",
            409: "The grant or attestation does not allow a release now (its type says why)",
            422: "Fields or purpose out of the grant's scope, an invalid use authorization, or"
            " a malformed body",
            503: "Chain node or content store unreachable",
        }
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ReleaseIn.model_json_schema()}},
        }
    },
)
async def release(
    grant_id: GrantIdPath, request: Request, desk: Desk, caller: SignedCaller
) -> ReleasedOut:
    """Release fields under the grant to its grantee (the caller), sealed to its
    ``disclosure-receiving`` key, after writing the access receipt."""
    body = await request.body()
    return ReleasedOut.of(await off_loop(desk.release, caller, parse_id(grant_id), body))
