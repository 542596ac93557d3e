"""Customers' consents relayed to chain by this member's service, and read back.

``POST /v1/consents`` takes a customer's signed grant document, ``POST
/v1/consents/{grant_id}/revocations`` a signed revocation: the caller is the customer itself
(its key must be the one the attestation binds) or any member. The signature is checked against
the attestation's bound key before anything is sent (422 ``consent-signature-invalid``,
nothing sent); the contract's refusals are 403/404/409/422 with its custom error in the detail;
the reply comes once the transaction is mined. ``GET /v1/consents/{grant_id}``: the grant as
recorded and as judged now (``GET /v1/consents?attestation=ID``: every one under an attestation
the caller may read), for its customer, the grantee, the attester, auditors and the
regulator (anyone else: 404, as for a grant that does not exist). The domain logic is
:mod:`ledger.member.consents`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, status

from api._openapi import AUTH_PROBLEMS, BODY_PROBLEMS, problems
from api.auth import SignedCaller
from api.deps import Service, off_loop
from api.models.consents import (
    SIGNED_DOCUMENT,
    ConsentDomainOut,
    GrantOut,
    GrantsOut,
    ReceiptOut,
    ReceiptsOut,
    RelayedOut,
)
from api.models.consortium import ID_PATTERN
from ledger.customer.documents import SignedGrant, SignedRevocation, parse
from ledger.member.consents import ConsentRelay
from ledger.member.governance import parse_id

router = APIRouter(prefix="/v1", tags=["consents"])


async def get_relay(service: Service) -> ConsentRelay:
    return service.consents


Relay = Annotated[ConsentRelay, Depends(get_relay)]
GrantIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="The grant ID (0x, 64 hex)")]
Document = Annotated[dict[str, Any], Body(description=SIGNED_DOCUMENT.description)]

_CHAIN = "Chain node unreachable, the contracts not deployed, or not mined in time"
_WRITE_ERRORS = problems(
    {
        **BODY_PROBLEMS,
        **AUTH_PROBLEMS,
        404: "No such grant",
        409: "Refused by the contract in its state (a replay, an unknown or ended attestation)",
        422: "A malformed document, a signature that does not verify under the attestation's"
        " key, or an argument the contract refuses (a window already over ...)",
        503: _CHAIN,
    }
)


@router.get("/consent-domain", responses=problems({503: _CHAIN}))
async def consent_domain(relay: Relay) -> ConsentDomainOut:
    """The chain and ConsentRegistry customers sign their consents for."""
    return ConsentDomainOut.of(await off_loop(relay.domain))


@router.post("/consents", status_code=status.HTTP_201_CREATED, responses=_WRITE_ERRORS)
async def relay_grant(body: Document, relay: Relay, caller: SignedCaller) -> RelayedOut:
    """Relay a customer's signed grant to the chain (answered once mined)."""
    signed = parse(body, SignedGrant)
    return RelayedOut.of(await off_loop(relay.relay_grant, caller, signed))


@router.post(
    "/consents/{grant_id}/revocations",
    status_code=status.HTTP_201_CREATED,
    responses=_WRITE_ERRORS,
)
async def relay_revocation(
    grant_id: GrantIdPath, body: Document, relay: Relay, caller: SignedCaller
) -> RelayedOut:
    """Relay a customer's signed revocation of the grant (answered once mined)."""
    signed = parse(body, SignedRevocation)
    grant = parse_id(grant_id)
    relayed = await off_loop(relay.relay_revocation, caller, grant, signed)
    return RelayedOut.of(relayed, grant_id=grant)


@router.get(
    "/consents/{grant_id}",
    responses=problems({**AUTH_PROBLEMS, 404: "No such grant", 422: "Invalid path", 503: _CHAIN}),
)
async def read_grant(grant_id: GrantIdPath, relay: Relay, caller: SignedCaller) -> GrantOut:
    """The grant as recorded, whether its signature verifies (else it is inert), its effective
    revocation, and whether it is in force now."""
    return GrantOut.of(await off_loop(relay.view, caller, parse_id(grant_id)))


@router.get(
    "/consents/{grant_id}/receipts",
    responses=problems({**AUTH_PROBLEMS, 404: "No such grant", 422: "Invalid path", 503: _CHAIN}),
)
async def grant_receipts(grant_id: GrantIdPath, relay: Relay, caller: SignedCaller) -> ReceiptsOut:
    """Every use this service recorded under the grant, oldest first, each with its anchoring
    status and, once anchored, its inclusion proof: what the customer sees of each use."""
    stored = await off_loop(relay.receipts, caller, parse_id(grant_id))
    return ReceiptsOut(grant_id=grant_id.lower(), receipts=[ReceiptOut.of(r) for r in stored])


@router.get(
    "/consents",
    responses=problems({**AUTH_PROBLEMS, 422: "Invalid query", 503: _CHAIN}),
)
async def list_grants(
    attestation: Annotated[
        str, Query(pattern=ID_PATTERN, description="The attestation ID (0x, 64 hex)")
    ],
    relay: Relay,
    caller: SignedCaller,
) -> GrantsOut:
    """Every grant under the attestation that the caller may read (as ``GET
    /v1/consents/{grant_id}`` judges each), oldest first: what a customer's app lists."""
    views = await off_loop(relay.views_under, caller, parse_id(attestation))
    return GrantsOut(attestation_id=attestation.lower(), grants=[GrantOut.of(v) for v in views])
