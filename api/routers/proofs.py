"""Proofs: verify an uploaded proof file (offline checks, optionally confirmed on chain)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from api._openapi import BODY_PROBLEMS, problems
from api.deps import chain_reader, off_loop
from ledger import canonical
from ledger.chain.client import ChainClient
from ledger.proof import VerifiedProof, confirm_on_chain, verify_proof

router = APIRouter(prefix="/v1/proofs", tags=["proofs"])


class CheckedKey(BaseModel):
    """A registry entry of a ``ledger-proof/2`` file that was checked: its window held the
    signing time (offline; on chain too when ``confirmed_on_chain``)."""

    signer: str
    key_id: str
    member: str
    purpose: str
    fingerprint: str
    signed_at: str


class ProofVerdict(BaseModel):
    """Public model of a verified proof. ``checked_keys`` is empty for formats before
    ``ledger-proof/2``: they name no registry entries, and no key check ran."""

    valid: bool
    format: str
    confirmed_on_chain: bool
    agreement_id: str
    document_digest: str
    cid: str
    roles: list[str]
    chain_id: int
    contract: str
    anchor_id: str
    block_number: int
    issuer_key_fingerprint: str
    checked_keys: list[CheckedKey]


@router.post(
    "/verify",
    response_model=ProofVerdict,
    responses=problems(
        {
            **BODY_PROBLEMS,
            422: "Proof is invalid (problem+json with the failed check)",
            503: "Chain node unavailable for on-chain confirmation",
        }
    ),
    # The body is read as bytes (the proof's own canonical JSON is what is verified), so FastAPI
    # cannot see it: say what it is.
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A ledger-proof/0, ledger-proof/1 or ledger-proof/2 file",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def verify(
    request: Request, chain: Annotated[ChainClient | None, Depends(chain_reader)]
) -> ProofVerdict:
    """Verify the proof file sent as the request body (``application/json``)."""
    # The body is read here, as it streams (the edge's BodyLimit holds it to MAX_PROOF_BYTES),
    # and checked in a worker thread: SM2, SM3, CAR and Merkle work (a second or more for a
    # large proof) and the RPC calls of the confirmation stay off the event loop.
    body = await request.body()
    proof = await off_loop(_verify, body, chain)
    return ProofVerdict(
        valid=True,
        format=proof.format,
        confirmed_on_chain=chain is not None,
        agreement_id=proof.agreement_id,
        document_digest=canonical.label("sm3", proof.document_sm3),
        cid=proof.cid,
        roles=list(proof.roles),
        chain_id=proof.chain_id,
        contract=proof.contract,
        anchor_id=canonical.label("keccak256", proof.anchor_id),
        block_number=proof.block_number,
        issuer_key_fingerprint=canonical.label("sm3", proof.issuer_fingerprint),
        checked_keys=[
            CheckedKey(
                signer=key.signer,
                key_id=canonical.label("keccak256", key.key_id),
                member=key.member,
                purpose=key.purpose,
                fingerprint=canonical.label("sm3", key.fingerprint),
                signed_at=canonical.timestamp(key.used_at),
            )
            for key in (proof.keys.entries if proof.keys is not None else ())
        ],
    )


def _verify(body: bytes, chain: ChainClient | None) -> VerifiedProof:
    proof = verify_proof(body)
    if chain is not None:
        confirm_on_chain(proof, client=chain)
    return proof
