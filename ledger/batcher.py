"""The batcher: accepted agreements in the outbox -> Merkle batch -> one anchoring transaction.

Every step is recorded before the next one starts, so a crash anywhere resumes without losing or
double-anchoring a batch:

1. claim up to ``max_size`` outbox rows into a batch (or resume the unfinished one),
2. record the Merkle root of their leaves,
3. sign ``anchorBatch(root, size)`` and store the signed bytes BEFORE sending them,
4. send those same bytes (re-sending is harmless: same hash) and wait for the receipt,
5. record the block and every leaf's inclusion proof in one transaction.

If the process dies after step 3, the next run re-sends the stored bytes; if the receipt was
lost, waiting on the stored hash finds it. The contract refuses the same batch twice anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ledger.chain.evidence import EvidenceLedgerContract
from ledger.db import Database
from ledger.db.records import Batch, BatchStatus
from ledger.errors import LedgerError
from ledger.merkle import MerkleTree


class BatchError(LedgerError):
    """A stored batch disagrees with what its leaves or the chain say."""


class Batcher:
    def __init__(
        self,
        *,
        database: Database,
        ledger: EvidenceLedgerContract,
        max_size: int = 10_000,
        receipt_timeout_s: float = 30.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._db = database
        self._ledger = ledger
        self._max_size = max_size
        self._receipt_timeout_s = receipt_timeout_s
        self._now = now

    def run_once(self) -> Batch | None:
        """Anchor one batch (the unfinished one first). Return it, or None if nothing waits."""
        batch = self._db.open_batch(max_size=self._max_size, now=self._now())
        if batch is None:
            return None
        # 2. the root of exactly these leaves, in leaf-index order
        tree = MerkleTree([leaf.leaf for leaf in sorted(batch.leaves, key=lambda x: x.leaf_index)])
        if batch.root is None:
            batch = self._db.set_batch_root(batch.batch_id, tree.root)
        elif batch.root != tree.root:
            raise BatchError(f"batch {batch.batch_id}: stored root differs from its leaves")
        # 3. the signed transaction is stored before it is ever sent
        if batch.status is BatchStatus.OPEN:
            signed = self._ledger.sign_anchor_batch(root=tree.root, size=tree.size)
            batch = self._db.record_submission(
                batch.batch_id,
                raw_tx=signed.raw_transaction,
                tx_hash=signed.tx_hash,
                nonce=signed.nonce,
            )
        assert batch.raw_tx is not None and batch.tx_hash is not None
        # 4. send the stored bytes (again, after a crash) and wait for them to be mined
        client = self._ledger.client
        client.send_raw(batch.raw_tx)
        mined = client.wait(batch.tx_hash, timeout_s=self._receipt_timeout_s)
        # 5. block and inclusion proofs, all at once
        return self._db.record_anchored(
            batch.batch_id,
            block_number=mined.block_number,
            block_hash=mined.block_hash,
            anchored_at=self._now(),
            proofs={i: tree.inclusion_proof(i) for i in range(tree.size)},
        )

    def drain(self) -> list[Batch]:
        """Anchor batches until the outbox is empty."""
        anchored = []
        while (batch := self.run_once()) is not None:
            anchored.append(batch)
        return anchored
