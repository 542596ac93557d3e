"""Proofs: verify an uploaded proof file (offline checks, optionally confirmed on chain)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from api._openapi import BODY_PROBLEMS, problems
from api.deps import chain_reader, off_loop
from ledger import canonical
from ledger.chain.client import ChainClient
from ledger.proof import (
    KeyClaims,
    VerifiedConsentProof,
    VerifiedProof,
    confirm_on_chain,
    verify_file,
)

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


class ProvenUse(BaseModel):
    """A use of the grant (an access receipt) proven anchored."""

    receipt_id: str
    used_at: str
    caller: str
    fields: list[str]
    purpose: str
    block_number: int
    transaction: str


class ConsentProofVerdict(BaseModel):
    """Public model of a verified proof of consent (``ledger-consent-proof/1``): the grant,
    whether and when its customer revoked it, and every use proven anchored."""

    valid: bool
    format: str
    confirmed_on_chain: bool
    grant_id: str
    customer_key_fingerprint: str
    grantee: str
    mode: str
    attestation_id: str
    attester: str
    revoked_at: str | None
    uses: list[ProvenUse]
    pending: list[str]
    issuer_key_fingerprint: str
    checked_keys: list[CheckedKey]


@router.post(
    "/verify",
    response_model=ProofVerdict | ConsentProofVerdict,
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
            "description": "A ledger-proof/0, /1 or /2 file, or a ledger-consent-proof/1 file",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def verify(
    request: Request, chain: Annotated[ChainClient | None, Depends(chain_reader)]
) -> ProofVerdict | ConsentProofVerdict:
    """Verify the proof file sent as the request body (``application/json``): an agreement
    proof, or a customer's proof of consent."""
    # The body is read here, as it streams (the edge's BodyLimit holds it to MAX_PROOF_BYTES),
    # and checked in a worker thread: SM2, SM3, CAR and Merkle work (a second or more for a
    # large proof) and the RPC calls of the confirmation stay off the event loop.
    body = await request.body()
    proof = await off_loop(_verify, body, chain)
    if isinstance(proof, VerifiedConsentProof):
        return _consent_verdict(proof, confirmed=chain is not None)
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
        checked_keys=_checked_keys(proof.keys),
    )


def _checked_keys(keys: KeyClaims | None) -> list[CheckedKey]:
    return [
        CheckedKey(
            signer=key.signer,
            key_id=canonical.label("keccak256", key.key_id),
            member=key.member,
            purpose=key.purpose,
            fingerprint=canonical.label("sm3", key.fingerprint),
            signed_at=canonical.timestamp(key.used_at),
        )
        for key in (keys.entries if keys is not None else ())
    ]


def _consent_verdict(proof: VerifiedConsentProof, *, confirmed: bool) -> ConsentProofVerdict:
    record = proof.record
    return ConsentProofVerdict(
        valid=True,
        format=proof.format,
        confirmed_on_chain=confirmed,
        grant_id=canonical.hex0x(record.grant_id),
        customer_key_fingerprint=canonical.label("sm3", record.customer_key_fingerprint),
        grantee=record.grant.grantee,
        mode=record.grant.mode.label,
        attestation_id=canonical.hex0x(proof.attestation.attestation_id),
        attester=proof.attestation.attester,
        revoked_at=None
        if proof.revoked_at is None
        else canonical.timestamp(datetime.fromtimestamp(proof.revoked_at, UTC)),
        uses=[
            ProvenUse(
                receipt_id=proven.receipt.receipt_id,
                used_at=canonical.timestamp(proven.receipt.used_at),
                caller=proven.receipt.caller,
                fields=list(proven.receipt.fields),
                purpose=proven.receipt.purpose,
                block_number=proven.block_number,
                transaction=canonical.label("keccak256", proven.tx_hash),
            )
            for proven in proof.receipts
        ],
        pending=list(proof.pending),
        issuer_key_fingerprint=canonical.label("sm3", proof.issuer_fingerprint),
        checked_keys=_checked_keys(proof.keys),
    )


def _verify(body: bytes, chain: ChainClient | None) -> VerifiedProof | VerifiedConsentProof:
    proof = verify_file(body)
    if chain is not None:
        confirm_on_chain(proof, client=chain)
    return proof
