"""Consents in the HTTP API: the replies of ``/v1/consents`` (``...Out``), built from
:mod:`ledger.member.consents`. What a customer signs comes in as its signed document, whose one
home is :mod:`ledger.customer.documents` (the route parses it, strictly).

IDs, nonces and hashes are ``0x`` hex; times RFC 3339 UTC; digests labelled (``sm3:...``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ledger import canonical
from ledger.chain.consent import RevocationRecord, signs
from ledger.customer.documents import ConsentDomain, grant_to_json
from ledger.db.records import StoredReceipt
from ledger.member.consents import GrantState, GrantView, Relayed

#: The body of ``POST /v1/consents`` and of a revocation: a signed document, an object.
SIGNED_DOCUMENT = Field(
    description="The customer's signed document (type consent-grant or consent-revocation,"
    " version 1): see ledger.customer.documents",
)


def _time(seconds: int) -> str:
    return canonical.timestamp(datetime.fromtimestamp(seconds, UTC))


class ConsentDomainOut(BaseModel):
    """What customers sign their consents for: this chain and its ConsentRegistry."""

    chain_id: int
    registry: str

    @classmethod
    def of(cls, domain: ConsentDomain) -> ConsentDomainOut:
        return cls(chain_id=domain.chain_id, registry=domain.registry)


class RelayedOut(BaseModel):
    """A consent record relayed and mined."""

    grant_id: str
    revocation_id: str | None = None
    tx_hash: str
    block_number: int

    @classmethod
    def of(cls, relayed: Relayed, *, grant_id: bytes | None = None) -> RelayedOut:
        mined = relayed.mined
        if grant_id is None:
            return cls(
                grant_id=canonical.hex0x(relayed.record_id),
                tx_hash=canonical.hex0x(mined.tx_hash),
                block_number=mined.block_number,
            )
        return cls(
            grant_id=canonical.hex0x(grant_id),
            revocation_id=canonical.hex0x(relayed.record_id),
            tx_hash=canonical.hex0x(mined.tx_hash),
            block_number=mined.block_number,
        )


class RevocationOut(BaseModel):
    revocation_id: str
    nonce: str
    relayer: str
    at: str
    signature_verifies: bool


class AttestationRefOut(BaseModel):
    attestation_id: str
    attester: str
    customer_key_fingerprint: str
    valid_at_read: bool


class GrantOut(BaseModel):
    """A recorded grant and how services judge it at ``at`` (the latest block's time)."""

    grant_id: str
    grant: dict[str, Any] = Field(description="As in the signed grant document")
    signature: str = Field(description="base64 DER, as relayed (unchecked on chain)")
    relayer: str
    recorded_at: str
    signature_verifies: bool
    inert: bool = Field(description="Its signature does not verify: never in force")
    revocations: list[RevocationOut]
    effective_revocation: RevocationOut | None = Field(
        description="The earliest revocation whose signature verifies"
    )
    at: str
    state: Literal["inert", "revoked", "expired", "pending", "attestation-not-valid", "in-force"]
    in_force: bool
    attestation: AttestationRefOut

    @classmethod
    def of(cls, view: GrantView) -> GrantOut:
        record, attestation = view.record, view.attestation

        def revocation(r: RevocationRecord) -> RevocationOut:
            return RevocationOut(
                revocation_id=canonical.hex0x(r.revocation_id),
                nonce=canonical.hex0x(r.nonce),
                relayer=r.relayer,
                at=_time(r.at),
                signature_verifies=signs(attestation.customer_key, r.digest, r.signature),
            )

        return cls(
            grant_id=canonical.hex0x(record.grant_id),
            grant=grant_to_json(record.grant),
            signature=canonical.b64(record.signature),
            relayer=record.relayer,
            recorded_at=_time(record.recorded_at),
            signature_verifies=view.signature_verifies,
            inert=not view.signature_verifies,
            revocations=[revocation(r) for r in view.revocations],
            effective_revocation=None if view.revoked_by is None else revocation(view.revoked_by),
            at=_time(view.at),
            state=view.state.value,
            in_force=view.state is GrantState.IN_FORCE,
            attestation=AttestationRefOut(
                attestation_id=canonical.hex0x(attestation.attestation_id),
                attester=attestation.attester,
                customer_key_fingerprint=canonical.label(
                    "sm3", attestation.customer_key.fingerprint()
                ),
                valid_at_read=attestation.valid_at(view.at),
            ),
        )


class GrantsOut(BaseModel):
    """The grants under an attestation that the caller may read, oldest first."""

    attestation_id: str
    grants: list[GrantOut]


class ReceiptOut(BaseModel):
    """One use recorded under a grant: the receipt as anchored (its canonical JSON, parsed),
    its leaf, and where it is on chain once anchored."""

    receipt_id: str
    receipt: dict[str, Any] = Field(description="The ledger/access-receipt v1 leaf entry")
    leaf: str = Field(description="sm3: leaf hash (RFC 6962 leaf prefix)")
    status: str = Field(description="queued, batched or anchored")
    inclusion: dict[str, Any] | None = Field(
        default=None,
        description="Once anchored: batch, leaf_index, tree_size, path, root, transaction, block",
    )

    @classmethod
    def of(cls, stored: StoredReceipt) -> ReceiptOut:
        inclusion = stored.inclusion
        return cls(
            receipt_id=stored.receipt.receipt_id,
            receipt=json.loads(stored.receipt.to_bytes()),
            leaf=canonical.label("sm3", stored.leaf),
            status=stored.status.value,
            inclusion=None
            if inclusion is None
            else {
                "batch_id": inclusion.batch_id,
                "leaf_index": inclusion.leaf_index,
                "tree_size": inclusion.tree_size,
                "path": [canonical.label("sm3", node) for node in inclusion.path],
                "root": canonical.label("sm3", inclusion.root),
                "transaction": canonical.label("keccak256", inclusion.tx_hash),
                "block": {
                    "number": inclusion.block_number,
                    "hash": canonical.label("keccak256", inclusion.block_hash),
                },
                "anchored_at": canonical.timestamp(inclusion.anchored_at),
            },
        )


class ReceiptsOut(BaseModel):
    """The uses a service recorded under a grant, oldest first."""

    grant_id: str
    receipts: list[ReceiptOut]
