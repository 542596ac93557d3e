"""The signing domain: what clients need before their parties sign (chain, contract, payload)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import Service
from ledger import canonical
from ledger.agreement import REQUIRED_ROLES, SigningPayload
from ledger.crypto.sm2 import DEFAULT_DISTID

router = APIRouter(prefix="/v1", tags=["signing domain"])


class SigningDomainOut(BaseModel):
    chain_id: int
    contract: str
    payload_type: str
    payload_version: int
    default_distid: str
    required_roles: list[str]
    issuer_key_fingerprint: str


@router.get("/signing-domain")
async def signing_domain(service: Service) -> SigningDomainOut:
    """Signatures cover this chain ID and contract: they cannot be replayed elsewhere."""
    evidence = service.evidence
    return SigningDomainOut(
        chain_id=evidence.domain.chain_id,
        contract=evidence.domain.contract,
        payload_type=SigningPayload.TYPE,
        payload_version=SigningPayload.VERSION,
        default_distid=DEFAULT_DISTID.decode("ascii"),
        required_roles=list(REQUIRED_ROLES),
        issuer_key_fingerprint=canonical.label("sm3", evidence.issuer_fingerprint),
    )
