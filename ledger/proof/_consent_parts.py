"""The parts of a ``ledger-consent-proof/1`` file: its closed schema and how the issuer writes
each part (the checks are :mod:`ledger.proof.consent`'s). One text form per value, as in the
agreement proofs: lower-case ``0x`` hex, canonical base64, checksummed accounts, UNIX seconds
exactly as the contracts hold them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictStr

from ledger import canonical
from ledger.chain.attestations import Attestation
from ledger.chain.consent import GrantRecord, Revocation, RevocationRecord
from ledger.chain.evidence import batch_id_of
from ledger.chain.transaction import decode_signed_transaction
from ledger.consent import AccessReceipt
from ledger.customer.documents import ConsentDomain, SignedGrant, SignedRevocation
from ledger.proof import _common as c
from ledger.proof import _keys, _v1
from ledger.proof._keys import KeyClaims
from ledger.proof._v1 import BatchAnchor, BatchInclusion

FORMAT = "ledger-consent-proof/1"
SEAL_DOMAIN = b"ledger/consent-proof-seal/1\x00"
#: Bounds of this format (not of today's contracts or services): a file written once verifies
#: forever, so a change of them is a new format version.
MAX_REVOCATIONS = 64
MAX_RECEIPTS = 10_000

_Id = Annotated[StrictStr, Field(pattern=r"^0x[0-9a-f]{64}$")]
_ReceiptId = Annotated[StrictStr, Field(pattern=r"^rcpt_[0-9a-f]{32}$")]


# --- the schema


class _RecordedPart(c.Model):
    grant_id: _Id
    customer_key_fingerprint: c.Sm3
    relayer: c.Address
    recorded_at: c.Count


class _AttestationPart(c.Model):
    contract: c.Address
    attestation_id: _Id
    attester: c.Address
    customer_key: c.PublicKey
    verified_at: c.Count
    expires_at: c.Count
    attested_at: c.Count
    ended_at: c.Count | None = None
    revoked: StrictBool
    superseded_by: _Id | None = None


class _RevocationPart(c.Model):
    document: dict[str, Any]  # the customer's signed revocation document (parsed strictly)
    revocation_id: _Id
    relayer: c.Address
    at: c.Count


class _ReceiptPart(c.Model):
    receipt: dict[str, Any]  # the access receipt's JSON (AccessReceipt.from_bytes parses it)
    inclusion: _v1._InclusionPart
    anchor: _v1._AnchorPart


class _KeysPart(c.Model):
    registry: _keys._RegistryPart
    seal: _keys._EntryPart


class ProofFile(c.Model):
    format: Literal["ledger-consent-proof/1"]
    sealed_at: StrictStr
    chain_time: c.Count
    grant: dict[str, Any]  # the customer's signed grant document (parsed strictly)
    recorded: _RecordedPart
    attestation: _AttestationPart
    revocations: Annotated[list[_RevocationPart], Field(max_length=MAX_REVOCATIONS)]
    receipts: Annotated[list[_ReceiptPart], Field(max_length=MAX_RECEIPTS)]
    pending: Annotated[list[_ReceiptId], Field(max_length=MAX_RECEIPTS)]
    keys: _KeysPart | None = None
    seal: c.SealPart


# --- what the issuer knows when it writes one


@dataclass(frozen=True)
class AnchoredReceipt:
    """An access receipt anchored in a Merkle batch: its inclusion proof and the batch's
    ``anchorBatch`` transaction and block (as :func:`ledger.proof.build_batch_proof` takes
    them)."""

    receipt: AccessReceipt
    inclusion: BatchInclusion
    anchor: BatchAnchor


@dataclass(frozen=True)
class AttestationClaims:
    """The attestation as the file states it (times in UNIX seconds as the chain holds them)."""

    contract: str
    attestation_id: bytes
    attester: str
    customer_key: bytes  # the uncompressed SM2 point
    verified_at: int
    expires_at: int
    attested_at: int
    ended_at: int | None
    revoked: bool
    superseded_by: bytes | None


@dataclass(frozen=True)
class ProvenReceipt:
    """An access receipt proven anchored: where its leaf sits and the batch's anchor."""

    receipt: AccessReceipt
    leaf_index: int
    tree_size: int
    root: bytes
    chain_id: int
    contract: str  # the EvidenceLedger
    batch_id: bytes
    writer: str
    tx_hash: bytes
    block_number: int
    block_hash: bytes

    def anchor_claims(self) -> tuple[object, ...]:
        return (
            self.chain_id,
            self.contract,
            self.batch_id,
            self.root,
            self.tree_size,
            self.writer,
            self.tx_hash,
            self.block_number,
            self.block_hash,
        )


@dataclass(frozen=True)
class VerifiedConsentProof:
    """What a verified consent proof states. ``revocations`` in chain order, each with whether
    its signature verifies under the customer's key; ``revoked_at`` the effective one's time."""

    format: str
    domain: ConsentDomain
    record: GrantRecord
    attestation: AttestationClaims
    revocations: tuple[tuple[RevocationRecord, bool], ...]
    revoked_at: int | None
    receipts: tuple[ProvenReceipt, ...]
    pending: tuple[str, ...]
    chain_time: int
    sealed_at: datetime
    issuer_fingerprint: bytes
    keys: KeyClaims | None = None


def body_json(
    *,
    domain: ConsentDomain,
    record: GrantRecord,
    attestation: Attestation,
    attestation_contract: str,
    revocations: Sequence[RevocationRecord],
    receipts: Sequence[AnchoredReceipt],
    pending: Sequence[str],
    chain_time: int,
    sealed_at: str,
) -> dict[str, Any]:
    """The unsealed body (``keys`` and ``seal`` are added by the caller)."""
    return {
        "format": FORMAT,
        "sealed_at": sealed_at,
        "chain_time": chain_time,
        "grant": SignedGrant(domain, record.grant, record.signature).to_json(),
        "recorded": {
            "grant_id": canonical.hex0x(record.grant_id),
            "customer_key_fingerprint": canonical.label("sm3", record.customer_key_fingerprint),
            "relayer": record.relayer,
            "recorded_at": record.recorded_at,
        },
        "attestation": _attestation_json(attestation, attestation_contract),
        "revocations": [_revocation_json(domain, record.grant_id, r) for r in revocations],
        "receipts": [
            _receipt_json(r)
            for r in sorted(receipts, key=lambda r: (r.receipt.used_at, r.receipt.receipt_id))
        ],
        "pending": sorted(pending),
    }


def _attestation_json(attestation: Attestation, contract: str) -> dict[str, Any]:
    part: dict[str, Any] = {
        "contract": contract,
        "attestation_id": canonical.hex0x(attestation.attestation_id),
        "attester": attestation.attester,
        "customer_key": canonical.hex0x(attestation.customer_key.to_raw()),
        "verified_at": attestation.verified_at,
        "expires_at": attestation.expires_at,
        "attested_at": attestation.attested_at,
        "revoked": attestation.revoked,
    }
    if attestation.ended_at is not None:
        part["ended_at"] = attestation.ended_at
    if attestation.superseded_by is not None:
        part["superseded_by"] = canonical.hex0x(attestation.superseded_by)
    return part


def _revocation_json(
    domain: ConsentDomain, grant_id: bytes, record: RevocationRecord
) -> dict[str, Any]:
    signed = SignedRevocation(domain, Revocation(grant_id, record.nonce), record.signature)
    return {
        "document": signed.to_json(),
        "revocation_id": canonical.hex0x(record.revocation_id),
        "relayer": record.relayer,
        "at": record.at,
    }


def _receipt_json(anchored: AnchoredReceipt) -> dict[str, Any]:
    receipt, inclusion, anchor = anchored.receipt, anchored.inclusion, anchored.anchor
    with c.reasons():
        tx = decode_signed_transaction(anchor.raw_transaction)
    if tx.to is None or tx.chain_id is None:
        raise c.ProofInvalid(f"the batch of {receipt.receipt_id} names no contract or chain")
    return {
        "receipt": canonical.loads_canonical(receipt.to_bytes()),
        "inclusion": {
            "leaf": canonical.label("sm3", receipt.leaf_hash),
            "leaf_index": inclusion.leaf_index,
            "tree_size": inclusion.tree_size,
            "path": [canonical.label("sm3", node) for node in inclusion.path],
            "root": canonical.label("sm3", inclusion.root),
        },
        "anchor": {
            "chain_id": tx.chain_id,
            "contract": tx.to,
            "batch_id": canonical.label(
                "keccak256",
                batch_id_of(
                    chain_id=tx.chain_id,
                    contract=tx.to,
                    root=inclusion.root,
                    size=inclusion.tree_size,
                ),
            ),
            "writer": tx.sender,
            **c.chain_evidence_json(
                tx_hash=anchor.tx_hash,
                raw_transaction=anchor.raw_transaction,
                block_number=anchor.block_number,
                block_hash=anchor.block_hash,
            ),
        },
    }


def keys_json(keys: _keys.ProofKeys) -> dict[str, Any]:
    """The ``keys`` part: the registry and the sealing key's entry (no broker: nobody but the
    customer signs in a consent proof, and the customer's key is the attestation's)."""
    part = _keys.keys_json(keys)
    return {"registry": part["registry"], "seal": part["seal"]}
