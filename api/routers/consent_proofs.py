"""The proof of consent: ``GET /v1/consents/{grant_id}/proof`` returns the grant's
``ledger-consent-proof/1`` file (the customer's signed grant as recorded, its attestation, its
revocations, and every access receipt this service wrote under it with its inclusion proof and
anchoring transaction; receipts not anchored yet listed by ID as ``pending``), sealed by this
service now. ``ledger verify FILE`` checks it offline (``--rpc`` against the chain). Read by the
grant's readers (its customer, the grantee, the attester, auditors, the regulator; anyone else:
404, as for no grant); an inert grant has no proof (409). The domain logic is
:mod:`ledger.member.consent_proofs`.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from api._openapi import AUTH_PROBLEMS, problems
from api.auth import SignedCaller
from api.deps import Service, off_loop
from api.routers.consents import GrantIdPath
from ledger.member.consent_proofs import ConsentProofs
from ledger.member.governance import parse_id

router = APIRouter(prefix="/v1", tags=["consents"])


@router.get(
    "/consents/{grant_id}/proof",
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {}},
            "description": "The ledger-consent-proof/1 file",
        },
        **problems(
            {
                **AUTH_PROBLEMS,
                404: "No such grant",
                409: "The grant is inert (its signature does not verify): no consent to prove",
                422: "Invalid path",
                503: "Chain node or database unavailable",
            }
        ),
    },
)
async def consent_proof(grant_id: GrantIdPath, service: Service, caller: SignedCaller) -> Response:
    """The proof of consent of the grant, sealed now by this service."""
    proofs = ConsentProofs(
        relay=service.consents, sealing=service.evidence.sealing, now=service.now
    )
    data = await off_loop(proofs.issue, caller, parse_id(grant_id))
    name = f"consent-{grant_id.lower()}.proof.json"
    return Response(
        content=data,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
