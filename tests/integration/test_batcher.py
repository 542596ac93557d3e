"""The batcher on a real anvil node and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from ledger.agreement import VersionStatus
from ledger.batcher import Batcher
from ledger.chain.client import SignedCall
from ledger.chain.evidence import EvidenceLedgerContract, batch_id_of
from ledger.crypto.sm2 import SM2PrivateKey
from ledger.db import Database
from ledger.db.records import Batch, BatchStatus
from ledger.merkle import MerkleTree, leaf_hash, verify_inclusion

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
KEY = SM2PrivateKey.generate()


def _accept(db: Database, ledger: EvidenceLedgerContract, count: int) -> list[str]:
    ids = []
    for i in range(count):
        agreement_id = f"agr_{i:032x}"
        db.create_draft(
            agreement_id,
            1,
            document_sm3=bytes([i % 256]) * 32,
            document_cid="bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
            media_type="text/plain",
            size=1,
            required_roles=["customer"],
            chain_id=31337,
            contract=ledger.address,
            created_at=NOW,
        )
        db.add_signature(
            agreement_id,
            1,
            role="customer",
            signed_at=NOW,
            public_key=KEY.public_key().to_raw(),
            distid=b"1234567812345678",
            signature=KEY.sign(agreement_id.encode()),
            recorded_at=NOW,
        )
        db.accept(agreement_id, 1, leaf=leaf_hash(agreement_id.encode()), accepted_at=NOW)
        ids.append(agreement_id)
    return ids


def _stored_but_not_sent(
    database: Database, ledger: EvidenceLedgerContract
) -> tuple[Batch, SignedCall]:
    """Steps 1-3 of a batcher that then died: batch claimed, root and signed bytes stored."""
    batch = database.open_batch(max_size=100, now=NOW)
    assert batch is not None
    tree = MerkleTree([leaf.leaf for leaf in batch.leaves])
    database.set_batch_root(batch.batch_id, tree.root)
    signed = ledger.sign_anchor_batch(root=tree.root, size=tree.size)
    database.record_submission(
        batch.batch_id, raw_tx=signed.raw_transaction, tx_hash=signed.tx_hash, nonce=signed.nonce
    )
    return batch, signed


def test_drain_anchors_every_accepted_agreement_once(
    database: Database, evidence_ledger: EvidenceLedgerContract
) -> None:
    ids = _accept(database, evidence_ledger, 25)
    batches = Batcher(database=database, ledger=evidence_ledger, max_size=10).drain()

    assert [b.size for b in batches] == [10, 10, 5]
    assert all(b.status is BatchStatus.ANCHORED for b in batches)
    assert evidence_ledger.batch_count() == 3
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
    for agreement_id in ids:
        assert database.get_version(agreement_id, 1).status is VersionStatus.ANCHORED
        inclusion = database.inclusion(agreement_id, 1)
        size = next(b.size for b in batches if b.batch_id == inclusion.batch_id)
        verify_inclusion(
            leaf_hash_value=leaf_hash(agreement_id.encode()),
            index=inclusion.leaf_index,
            tree_size=size,
            path=inclusion.path,
            root=inclusion.root,
        )
    assert Batcher(database=database, ledger=evidence_ledger).run_once() is None


def test_crash_after_signing_resends_the_stored_transaction(
    database: Database, evidence_ledger: EvidenceLedgerContract
) -> None:
    _accept(database, evidence_ledger, 4)
    # a batcher that died right after storing its signed transaction, before sending it
    batch, signed = _stored_but_not_sent(database, evidence_ledger)

    resumed = Batcher(database=database, ledger=evidence_ledger).run_once()

    assert resumed is not None and resumed.batch_id == batch.batch_id
    assert resumed.status is BatchStatus.ANCHORED and resumed.tx_hash == signed.tx_hash
    assert evidence_ledger.batch_count() == 1


def test_lost_receipt_anchors_exactly_once(
    database: Database, evidence_ledger: EvidenceLedgerContract
) -> None:
    _accept(database, evidence_ledger, 3)
    # a batcher that sent its transaction and died before recording the receipt
    batch, signed = _stored_but_not_sent(database, evidence_ledger)
    evidence_ledger.client.send_raw(signed.raw_transaction)
    mined = evidence_ledger.client.wait(signed.tx_hash)

    resumed = Batcher(database=database, ledger=evidence_ledger).run_once()

    assert resumed is not None and resumed.status is BatchStatus.ANCHORED
    assert resumed.batch_id == batch.batch_id
    assert (resumed.block_number, resumed.block_hash) == (mined.block_number, mined.block_hash)
    assert evidence_ledger.batch_count() == 1
    assert Batcher(database=database, ledger=evidence_ledger).run_once() is None
