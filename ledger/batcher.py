"""The batcher: accepted agreements in the outbox -> Merkle batch -> one anchoring transaction.

Every step is recorded before the next one starts, so a crash anywhere resumes without losing or
double-anchoring a batch:

1. claim up to ``max_size`` outbox rows into a batch (or resume the unfinished one),
2. compute the Merkle root of their leaves (checked against the stored one, if any),
3. sign ``anchorBatch(root, size)`` and store the root and the signed bytes BEFORE sending them
   (one transaction),
4. send those same bytes (re-sending is harmless: same hash) and wait for the receipt,
5. record the block, the transaction that was mined and every leaf's inclusion proof in one
   transaction.

If the process dies before step 3 is stored, nothing was sent and the batch is signed again; if
it dies after, the next run re-sends the stored bytes; if the receipt was lost, waiting on the
stored hashes finds it. The contract refuses the same batch twice anyway. The leaves are read
once per batch (step 1); the later steps write and return the batch row alone.

A transaction not mined within ``receipt_timeout_s`` is replaced (step 4 again): signed with the
same nonce and fees raised by at least 12.5% (what nodes ask of a replacement), stored as the
batch's next attempt BEFORE it is sent, then sent; from then on the batcher waits for any of the
attempts, and records whichever is mined (one nonce: at most one can be). If the nonce went to
another transaction of the account meanwhile (none of the attempts mined, the account's mined
count past it), the next attempt takes a fresh nonce.

Only the holder of the anchoring lease may act (one process per database; see
:mod:`ledger.db.lease`): ``is_leader`` is asked before each signing, storing and sending step, and
a lost lease stops the batch at once (:class:`NotLeader`); the next leader resumes it from the
database. The leader owns the anchoring account, so nonces come from the node's pending count and
the stored attempts alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from ledger.chain.client import SentTransaction
from ledger.chain.errors import NodeError, NotMined, TransactionFailed
from ledger.chain.evidence import EvidenceLedgerContract
from ledger.chain.transaction import fees_of
from ledger.db import Database
from ledger.db.records import Batch, BatchStatus
from ledger.errors import LedgerError
from ledger.merkle import MerkleTree

_log = logging.getLogger(__name__)

_ALREADY_ANCHORED = "EvidenceLedger__BatchAlreadyAnchored"


class BatchError(LedgerError):
    """A stored batch disagrees with what its leaves or the chain say."""


class NotLeader(LedgerError):
    """This process does not hold the anchoring lease (any more): it must not act."""


class Batcher:
    def __init__(
        self,
        *,
        database: Database,
        ledger: EvidenceLedgerContract,
        max_size: int = 10_000,
        receipt_timeout_s: float = 30.0,
        is_leader: Callable[[], bool] = lambda: True,
        check_chain: Callable[[], None] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``is_leader``: whether this process (still) holds the anchoring lease;
        ``check_chain``: run before the batcher first talks to the chain (a signing domain
        taken from a record rather than from the node: is it the node's?), until it passes."""
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._db = database
        self._ledger = ledger
        self._max_size = max_size
        self._receipt_timeout_s = receipt_timeout_s
        self._is_leader = is_leader
        self._check_chain = check_chain
        self._now = now

    def run_once(self) -> Batch | None:
        """Anchor one batch (the unfinished one first). Return it, or None if nothing waits."""
        self._act()
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
        if self._check_chain is not None:
            self._check_chain()
            self._check_chain = None
        # 3. the signed transaction is stored (with the root, if not stored yet) before it is
        # ever sent
        if batch.status is BatchStatus.OPEN:
            client = self._ledger.client
            with client.sending:  # no other sender of this process takes the nonce meanwhile
                self._act()
                signed = self._ledger.sign_anchor_batch(root=tree.root, size=tree.size)
                self._act()
                batch = self._db.record_submission(
                    batch.batch_id,
                    raw_tx=signed.raw_transaction,
                    tx_hash=signed.tx_hash,
                    nonce=signed.nonce,
                    root=tree.root,
                    at=self._now(),
                    with_leaves=False,
                )
                self._send_first(signed.raw_transaction)
            attempts = [(signed.tx_hash, signed.raw_transaction)]
        else:
            attempts = [(a.tx_hash, a.raw_tx) for a in self._db.batch_attempts(batch.batch_id)]
        # 4. send the latest stored bytes (again, after a crash) until one attempt is mined
        mined = self._until_mined(batch, tree, attempts)
        # 5. block, the mined transaction and inclusion proofs, all at once
        anchored = self._db.record_anchored(
            batch.batch_id,
            block_number=mined.block_number,
            block_hash=mined.block_hash,
            anchored_at=self._now(),
            proofs={i: tree.inclusion_proof(i) for i in range(tree.size)},
            tx_hash=mined.tx_hash,
            with_leaves=False,
        )
        return replace(anchored, leaves=leaves)

    def drain(self) -> list[Batch]:
        """Anchor batches until the outbox is empty."""
        anchored = []
        while (batch := self.run_once()) is not None:
            anchored.append(batch)
        return anchored

    def _send_first(self, raw: bytes) -> None:
        """Send freshly stored bytes while the nonce is ours; a failure here is left to the
        sending loop, which sends the same bytes again and decides what the node's answer means."""
        try:
            self._ledger.client.send_raw(raw)
        except NodeError as exc:
            _log.info("first send failed (%s); the sending loop retries", exc)

    def _act(self) -> None:
        if not self._is_leader():
            raise NotLeader("this process does not hold the anchoring lease")

    def _until_mined(
        self, batch: Batch, tree: MerkleTree, attempts: list[tuple[bytes, bytes]]
    ) -> SentTransaction:
        client = self._ledger.client
        while True:
            hashes = [tx_hash for tx_hash, _ in attempts]
            latest_hash, latest_raw = attempts[-1]
            self._act()
            try:
                client.send_raw(latest_raw)
            except NodeError as exc:
                # an earlier attempt is in the pool at a fee the node will not see replaced:
                # wait, and replace it with higher fees if it stays
                if "underpriced" not in str(exc).lower():
                    raise
            try:
                return client.wait_any(hashes, timeout_s=self._receipt_timeout_s)
            except NotMined:
                pass
            # Stuck: none of the attempts is mined. Replace the latest (same nonce, higher fees),
            # or sign with a fresh nonce if another transaction of the account took that nonce.
            self._act()
            nonce = fees_of(latest_raw).nonce
            nonce_taken = client.mined_nonce() > nonce
            if (mined := client.first_mined(hashes)) is not None:
                return mined  # mined just now
            try:
                with client.sending:  # signed, stored and sent before another sender picks
                    signed = self._ledger.sign_anchor_batch(
                        root=tree.root,
                        size=tree.size,
                        replaces=None if nonce_taken else latest_raw,
                    )
                    _log.warning(
                        "batch %d: transaction 0x%s not mined in %g s; %s it with 0x%s (nonce %d)",
                        batch.batch_id,
                        latest_hash.hex(),
                        self._receipt_timeout_s,
                        "re-signing" if nonce_taken else "replacing",
                        signed.tx_hash.hex(),
                        signed.nonce,
                    )
                    self._act()
                    self._db.record_replacement(
                        batch.batch_id,
                        replaces=latest_hash,
                        raw_tx=signed.raw_transaction,
                        tx_hash=signed.tx_hash,
                        nonce=signed.nonce,
                        at=self._now(),
                    )
                    self._send_first(signed.raw_transaction)
            except TransactionFailed as exc:
                if exc.error != _ALREADY_ANCHORED:
                    raise
                if (mined := client.first_mined(hashes)) is not None:
                    return mined  # mined between the two looks
                raise BatchError(
                    f"batch {batch.batch_id} is anchored on chain by a transaction it never stored"
                ) from exc
            attempts.append((signed.tx_hash, signed.raw_transaction))
