"""The batcher anchors access receipts and agreement versions in the same batches, unchanged in
its logic (leaves are leaf hashes), on a real anvil node and a real database (SQLite and
PostgreSQL); every receipt's stored proof leads to the root the chain holds."""

from __future__ import annotations

from datetime import timedelta

from ledger.agreement import VersionStatus
from ledger.batcher import Batcher
from ledger.chain.evidence import EvidenceLedgerContract, batch_id_of
from ledger.db import Database
from ledger.db.records import BatchStatus, ReceiptStatus
from ledger.merkle import leaf_hash, verify_inclusion
from tests.integration.db._support import access_receipt, digest
from tests.integration.test_batcher import NOW, _accept


def test_a_mixed_batch_of_versions_and_receipts_is_anchored_with_every_proof(
    database: Database, evidence_ledger: EvidenceLedgerContract
) -> None:
    grants = [digest("grant", i) for i in range(2)]
    ids = _accept(database, evidence_ledger, 3)
    receipts = [
        access_receipt(grants[i % 2], NOW + timedelta(seconds=i), fields=("given_name", "id_no"))
        for i in range(5)
    ]
    for receipt in receipts:
        database.record_receipt(receipt, max_uses=3)

    batches = Batcher(database=database, ledger=evidence_ledger, max_size=6).drain()

    assert [b.size for b in batches] == [6, 2]
    assert all(b.status is BatchStatus.ANCHORED for b in batches)
    # seq order: the three versions, then the receipts
    assert [leaf.agreement_id for leaf in batches[0].leaves[:3]] == ids
    assert [leaf.receipt_id for leaf in batches[0].leaves[3:] + batches[1].leaves] == [
        r.receipt_id for r in receipts
    ]
    roots = {}
    for batch in batches:
        assert batch.root is not None
        on_chain = evidence_ledger.get_batch(
            batch_id_of(
                chain_id=31337, contract=evidence_ledger.address, root=batch.root, size=batch.size
            )
        )
        assert (on_chain.root, on_chain.size, on_chain.block_number) == (
            batch.root,
            batch.size,
            batch.block_number,
        )
        roots[batch.batch_id] = on_chain.root
    for receipt in receipts:
        stored = database.receipt(receipt.receipt_id)
        assert stored.status is ReceiptStatus.ANCHORED and stored.inclusion is not None
        inclusion = stored.inclusion
        assert inclusion.root == roots[inclusion.batch_id]
        assert inclusion.leaf == leaf_hash(receipt.to_bytes())
        verify_inclusion(
            leaf_hash_value=leaf_hash(receipt.to_bytes()),
            index=inclusion.leaf_index,
            tree_size=inclusion.tree_size,
            path=inclusion.path,
            root=roots[inclusion.batch_id],
        )
        mined = evidence_ledger.client.first_mined([inclusion.tx_hash])
        assert mined is not None
        assert (mined.block_number, mined.block_hash) == (
            inclusion.block_number,
            inclusion.block_hash,
        )
    for agreement_id in ids:
        assert database.get_version(agreement_id, 1).status is VersionStatus.ANCHORED
        inclusion = database.inclusion(agreement_id, 1)
        assert inclusion.root == roots[inclusion.batch_id]
    assert [database.uses_of(grant) for grant in grants] == [3, 2]
    assert Batcher(database=database, ledger=evidence_ledger).run_once() is None
