"""``ledger bench evidence``: gas per agreement and proof size at several batch sizes, one
``anchorBatch`` each; leaf 0 a real signed, encrypted and stored agreement."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from ledger.agreement import Document, LeafEntry, VersionKind
from ledger.document import seal_and_store
from ledger.merkle import MerkleTree
from ledger.proof import BatchAnchor, BatchInclusion, build_batch_proof
from ledger.service import RunningService
from ledger.signature import Signature, in_role_order, signature_set_digest
from ledger.store.car import car_bytes

GAS_BATCH_SIZES = (1, 100, 1000, 10_000)


def gas_and_proof_sizes(
    service: RunningService, signed: tuple[str, Document, list[Signature]]
) -> tuple[dict[str, float], dict[str, dict[str, int]]]:
    """One anchorBatch per size; leaf 0 is a real signed, encrypted and stored agreement (kept
    out of the outbox, so the anchoring loop never anchors the same root), the rest random."""
    evidence = service.evidence
    agreement_id, document, signatures = signed
    sealed = seal_and_store(
        document,
        agreement_id=agreement_id,
        readers=[s.public_key for s in signatures],
        store=service.store,
    )
    ordered = in_role_order(signatures)
    entry = LeafEntry(
        agreement_id=agreement_id,
        agreement_version=1,
        kind=VersionKind.AGREEMENT.value,
        document_sm3=document.sm3,
        document_cid=sealed.cid,
        media_type=document.media_type,
        size=len(document.content),
        required_roles=tuple(sorted(s.role for s in signatures)),
        signature_set_digest=signature_set_digest(ordered),
        accepted_at=datetime.now(UTC).replace(microsecond=0),
        domain=evidence.domain,
    )
    car = car_bytes(service.store, sealed.cid)
    ledger_contract = service.ledger
    issuer = service.issuer
    gas: dict[str, float] = {}
    sizes: dict[str, dict[str, int]] = {}
    for size in GAS_BATCH_SIZES:
        tree = MerkleTree([entry.leaf_hash, *(os.urandom(32) for _ in range(size - 1))])
        sent = ledger_contract.anchor_batch(root=tree.root, size=size)
        gas[str(size)] = int(sent.receipt["gasUsed"]) / size
        common: dict[str, Any] = {
            "entry": entry,
            "signatures": ordered,
            "inclusion": BatchInclusion(
                leaf_index=0, tree_size=size, path=tree.inclusion_proof(0), root=tree.root
            ),
            "anchor": BatchAnchor(
                raw_transaction=sent.raw_transaction,
                tx_hash=sent.tx_hash,
                block_number=sent.block_number,
                block_hash=sent.block_hash,
            ),
            "issuer_key": issuer,
        }
        sizes[str(size)] = {
            "path_hashes": len(tree.inclusion_proof(0)),
            "bare": len(build_batch_proof(**common)),
            "with_car": len(build_batch_proof(**common, car=car)),
        }
    return gas, sizes
