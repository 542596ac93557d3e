"""Inclusion proofs: the last step of the anchoring life cycle (see :mod:`ledger.db.outbox`),
:meth:`InclusionProofs.record_anchored`, and the read of an anchored version's proof,
:meth:`InclusionProofs.inclusion`. A batch's access receipts get theirs in the same step
(``receipt_proofs``; read with the receipt, :mod:`ledger.db.receipts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ledger.agreement import VersionStatus
from ledger.db import schema
from ledger.db._checks import check_aware, check_bytes, check_int
from ledger.db._plumbing import DriverInsert, Transactions
from ledger.db.batches import load_batch, lock_batch, update_batch
from ledger.db.errors import Conflict, DatabaseError, NotFound
from ledger.db.records import Batch, BatchStatus, Inclusion

_BYTES_TYPE = frozenset({bytes})
_HASH_SIZE = frozenset({32})

_av = schema.agreement_versions
_ob = schema.outbox
_b = schema.batches
_ip = schema.inclusion_proofs
_rp = schema.receipt_proofs
_ba = schema.batch_attempts

# Statements of the anchored step, built once (see :mod:`ledger.db.batches`).
_BATCH_PROOF_KEYS = sa.select(
    _ob.c.agreement_id, _ob.c.version, _ob.c.receipt_id, _ob.c.leaf_index
).where(_ob.c.batch_id == sa.bindparam("batch_id"))
# UPDATE ... FROM: driven by the batch's outbox rows, each version found by its key (not by
# scanning every accepted version, of which a long chain outage leaves many).
_ANCHOR_VERSIONS = (
    sa.update(_av)
    .where(
        _ob.c.batch_id == sa.bindparam("batch_id"),
        _ob.c.agreement_id == _av.c.agreement_id,
        _ob.c.version == _av.c.version,
        _av.c.status == VersionStatus.ACCEPTED.value,
    )
    .values(status=VersionStatus.ANCHORED.value)
)
_ATTEMPT_BY_HASH = sa.select(_ba).where(
    _ba.c.batch_id == sa.bindparam("batch_id"), _ba.c.tx_hash == sa.bindparam("tx_hash")
)
_INSERT_PROOF = DriverInsert(
    _ip, "agreement_id", "version", "batch_id", "leaf_index", "path", "root"
)
_INSERT_RECEIPT_PROOF = DriverInsert(_rp, "receipt_id", "batch_id", "leaf_index", "path", "root")
# The paths a batch's leaves were anchored with, versions' and receipts' alike.
_STORED_PATHS = sa.union_all(
    sa.select(_ip.c.leaf_index, _ip.c.path).where(_ip.c.batch_id == sa.bindparam("batch_id")),
    sa.select(_rp.c.leaf_index, _rp.c.path).where(_rp.c.batch_id == sa.bindparam("batch_id")),
)


class InclusionProofs:
    """A batch anchored, and the inclusion proofs of its versions; one transaction per method."""

    def __init__(self, transactions: Transactions) -> None:
        self._transaction = transactions.transaction

    def record_anchored(
        self,
        batch_id: int,
        *,
        block_number: int,
        block_hash: bytes,
        anchored_at: datetime,
        proofs: Mapping[int, Sequence[bytes]],
        tx_hash: bytes | None = None,
        with_leaves: bool = True,
    ) -> Batch:
        """The batch's transaction is in ``block_number``: mark the batch and every version in it
        anchored and store each leaf's Merkle path (``proofs[leaf_index]``, sibling hashes from
        the leaf level up), a version's or an access receipt's, in one transaction.

        ``tx_hash`` names the attempt that was mined (default: the latest); it becomes the
        batch's transaction, the one its proofs carry. An attempt the batch never stored is a
        :class:`Conflict`.

        ``proofs`` must cover exactly the leaf indexes 0..size-1. Repeating the call with the
        same block and proofs is a no-op (the first ``anchored_at`` is kept); different ones are a
        :class:`Conflict`, as is anchoring a batch that was never submitted.
        """
        check_int("block_number", block_number, minimum=0)
        check_bytes("block_hash", block_hash, 32)
        check_aware("anchored_at", anchored_at)
        paths: dict[int, list[str]] = {}
        for leaf_index, path in proofs.items():
            # the common case checked at C speed; anything else gets the detailed checks
            if not (
                type(leaf_index) is int
                and leaf_index >= 0
                and isinstance(path, list | tuple)
                and set(map(type, path)) <= _BYTES_TYPE
                and set(map(len, path)) <= _HASH_SIZE
            ):
                check_int("leaf_index", leaf_index, minimum=0)
                if isinstance(path, bytes | str):
                    raise ValueError("a Merkle path is a sequence of 32-byte hashes")
                for node in path:
                    check_bytes("Merkle path node", node, 32)
            paths[leaf_index] = list(map(bytes.hex, path))
        leaves = None if with_leaves else ()
        with self._transaction(write=True) as conn:
            row = lock_batch(conn, batch_id)
            if set(paths) != set(range(row.size)):
                raise ValueError(
                    f"batch {batch_id} has leaves 0..{row.size - 1}: one proof for each is needed"
                )
            if row.status == BatchStatus.ANCHORED:
                stored_paths = {
                    int(leaf_index): list(path)
                    for leaf_index, path in conn.execute(_STORED_PATHS, {"batch_id": batch_id})
                }
                if (
                    int(row.block_number) != block_number
                    or bytes(row.block_hash) != block_hash
                    or stored_paths != paths
                ):
                    raise Conflict(
                        f"batch {batch_id} is already anchored in block {row.block_number}"
                        f" (0x{bytes(row.block_hash).hex()}) with other data"
                    )
                return load_batch(conn, batch_id, leaves=leaves)
            if row.status != BatchStatus.SUBMITTED:
                raise Conflict(f"batch {batch_id} is {row.status}: record its submission first")
            mined: dict[str, Any] = {}
            if tx_hash is not None and tx_hash != bytes(row.tx_hash):
                attempt = conn.execute(
                    _ATTEMPT_BY_HASH, {"batch_id": batch_id, "tx_hash": tx_hash}
                ).first()
                if attempt is None:
                    raise Conflict(f"batch {batch_id} has no transaction 0x{tx_hash.hex()}")
                mined = {"tx_hash": tx_hash, "raw_tx": attempt.raw_tx, "nonce": attempt.nonce}
            root = bytes(row.root)
            keys = conn.execute(_BATCH_PROOF_KEYS, {"batch_id": batch_id}).all()
            versions = [key for key in keys if key.receipt_id is None]
            receipts = [key for key in keys if key.receipt_id is not None]
            updated = conn.execute(_ANCHOR_VERSIONS, {"batch_id": batch_id}).rowcount
            if len(keys) != row.size or updated != len(versions):
                raise DatabaseError(
                    f"batch {batch_id} has {row.size} leaves but {len(keys)} outbox rows, of"
                    f" which {len(versions)} versions and {updated} of them accepted"
                )
            if versions:
                _INSERT_PROOF.executemany(
                    conn,
                    [
                        (
                            agreement_id,
                            int(version),
                            batch_id,
                            int(leaf_index),
                            _json_hex_list(paths[int(leaf_index)]),
                            root,
                        )
                        for agreement_id, version, _, leaf_index in versions
                    ],
                )
            if receipts:
                _INSERT_RECEIPT_PROOF.executemany(
                    conn,
                    [
                        (
                            receipt_id,
                            batch_id,
                            int(leaf_index),
                            _json_hex_list(paths[int(leaf_index)]),
                            root,
                        )
                        for _, _, receipt_id, leaf_index in receipts
                    ],
                )
            return update_batch(
                conn,
                batch_id,
                leaves,
                status=BatchStatus.ANCHORED.value,
                block_number=block_number,
                block_hash=block_hash,
                anchored_at=anchored_at,
                **mined,
            )

    def inclusion(self, agreement_id: str, version: int) -> Inclusion:
        """An anchored version's inclusion proof; :class:`NotFound` until it is anchored."""
        with self._transaction() as conn:
            row = conn.execute(
                sa.select(
                    _ip.c.batch_id,
                    _ip.c.leaf_index,
                    _ip.c.path,
                    _ip.c.root,
                    _ob.c.leaf,
                    _b.c.size,
                    _b.c.tx_hash,
                    _b.c.raw_tx,
                    _b.c.block_number,
                    _b.c.block_hash,
                    _b.c.anchored_at,
                )
                .join(
                    _ob,
                    sa.and_(
                        _ob.c.agreement_id == _ip.c.agreement_id, _ob.c.version == _ip.c.version
                    ),
                )
                .join(_b, _b.c.batch_id == _ip.c.batch_id)
                .where(_ip.c.agreement_id == agreement_id, _ip.c.version == version)
            ).first()
        if row is None:
            raise NotFound(f"{agreement_id} v{version} has no inclusion proof (not anchored)")
        return Inclusion(agreement_id=agreement_id, version=version, **proof_fields(row))


def proof_fields(row: Any) -> dict[str, Any]:
    """The fields of an anchored leaf's inclusion record (a version's or a receipt's) from a
    row of its proof joined with its batch."""
    return {
        "batch_id": int(row.batch_id),
        "leaf_index": int(row.leaf_index),
        "tree_size": int(row.size),
        "leaf": bytes(row.leaf),
        "path": tuple(bytes.fromhex(node) for node in row.path),
        "root": bytes(row.root),
        "tx_hash": bytes(row.tx_hash),
        "raw_tx": bytes(row.raw_tx),
        "block_number": int(row.block_number),
        "block_hash": bytes(row.block_hash),
        "anchored_at": row.anchored_at,
    }


def _json_hex_list(hexes: list[str]) -> str:
    # exactly json.dumps(hexes): lowercase hex strings need no escaping
    return '["' + '", "'.join(hexes) + '"]' if hexes else "[]"
