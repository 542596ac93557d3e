"""The batcher: accepted agreements in the outbox -> Merkle batch -> one anchoring transaction.

Every step is recorded before the next one starts, so a crash anywhere resumes without losing or
double-anchoring a batch:

1. claim up to ``max_size`` outbox rows into a batch (or resume the unfinished one),
2. compute the Merkle root of their leaves (checked against the stored one, if any),
3. sign ``anchorBatch(root, size)`` and store the root and the signed bytes BEFORE sending them
   (one transaction),
4. send those same bytes (re-sending is harmless: same hash) and wait for the receipt,
5. record the block and every leaf's inclusion proof in one transaction.

If the process dies before step 3 is stored, nothing was sent and the batch is signed again; if
it dies after, the next run re-sends the stored bytes; if the receipt was lost, waiting on the
stored hash finds it. The contract refuses the same batch twice anyway. The leaves are read once
per batch (step 1); the later steps write and return the batch row alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
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
        leaves = batch.leaves
        # 2. the root of exactly these leaves, in leaf-index order
        if any(leaf.leaf_index != i for i, leaf in enumerate(leaves)):
            leaves = tuple(sorted(leaves, key=lambda x: x.leaf_index))
        tree = MerkleTree([leaf.leaf for leaf in leaves])
        if batch.root is not None and batch.root != tree.root:
            raise BatchError(f"batch {batch.batch_id}: stored root differs from its leaves")
        # 3. the signed transaction is stored (with the root, if not stored yet) before it is
        # ever sent
        if batch.status is BatchStatus.OPEN:
            signed = self._ledger.sign_anchor_batch(root=tree.root, size=tree.size)
            batch = self._db.record_submission(
                batch.batch_id,
                raw_tx=signed.raw_transaction,
                tx_hash=signed.tx_hash,
                nonce=signed.nonce,
                root=tree.root,
                with_leaves=False,
            )
        assert batch.raw_tx is not None and batch.tx_hash is not None
        # 4. send the stored bytes (again, after a crash) and wait for them to be mined
        client = self._ledger.client
        client.send_raw(batch.raw_tx)
        mined = client.wait(batch.tx_hash, timeout_s=self._receipt_timeout_s)
        # 5. block and inclusion proofs, all at once
        anchored = self._db.record_anchored(
            batch.batch_id,
            block_number=mined.block_number,
            block_hash=mined.block_hash,
            anchored_at=self._now(),
            proofs={i: tree.inclusion_proof(i) for i in range(tree.size)},
            with_leaves=False,
        )
        return replace(anchored, leaves=leaves)

    def drain(self) -> list[Batch]:
        """Anchor batches until the outbox is empty."""
        anchored = []
        while (batch := self.run_once()) is not None:
            anchored.append(batch)
        return anchored
