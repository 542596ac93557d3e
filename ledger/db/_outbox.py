"""The anchoring path's statements and helpers of :mod:`ledger.db.database`: the outbox and batch
statements (claiming unbatched outbox rows, creating, reading, locking and updating batches,
storing and reading a batch's signed transactions (attempts),
marking a batch's versions anchored), the driver-level insert of a batch's inclusion proofs, the
anchoring-window query, and the conversion of a batch row into a :class:`~ledger.db.records.Batch`.
They are built once at import: they run for every batch.
"""

from __future__ import annotations

import operator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

from ledger.agreement import VersionStatus
from ledger.db import schema
from ledger.db._checks import _opt_bytes
from ledger.db.records import Batch, BatchAttempt, BatchLeaf, BatchStatus

_av = schema.agreement_versions
_ob = schema.outbox
_b = schema.batches
_ip = schema.inclusion_proofs
_ba = schema.batch_attempts


# Statements of the anchoring path, built once: they run for every batch, and building one (and
# its cache key) costs SQLAlchemy more than executing it on a small table.
_UNFINISHED_BATCH = (
    sa.select(_b.c.batch_id)
    .where(_b.c.status != BatchStatus.ANCHORED.value)
    .order_by(_b.c.batch_id)
    .limit(1)
)
_CLAIMABLE = (
    sa.select(_ob.c.seq, _ob.c.agreement_id, _ob.c.version, _ob.c.leaf)
    .where(_ob.c.batch_id.is_(None))
    .order_by(_ob.c.seq)
    .limit(sa.bindparam("max_size"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    sa.update(_ob)
    .where(_ob.c.seq == sa.bindparam("claim_seq"), _ob.c.batch_id.is_(None))
    .values(batch_id=sa.bindparam("claim_batch"), leaf_index=sa.bindparam("claim_index"))
)
# The same for rows with consecutive seqs (the usual case), in one statement. Only for rows the
# transaction has read and locked: the seq range alone (a primary key range) selects them.
_CLAIM_RANGE = (
    sa.update(_ob)
    .where(_ob.c.seq.between(sa.bindparam("first_seq"), sa.bindparam("last_seq")))
    .values(batch_id=sa.bindparam("claim_batch"), leaf_index=_ob.c.seq - sa.bindparam("first_seq"))
)
_INSERT_BATCH = sa.insert(_b).returning(*_b.c)  # the columns: the parameters' keys
_BATCH_ROW = sa.select(_b).where(_b.c.batch_id == sa.bindparam("batch_id"))
# SET: the parameters' keys other than ``which_batch``; the row as stored comes back.
_UPDATE_BATCH = sa.update(_b).where(_b.c.batch_id == sa.bindparam("which_batch")).returning(*_b.c)
_LOCK_BATCH = _BATCH_ROW.with_for_update()
_BATCH_LEAVES = (
    sa.select(_ob.c.leaf_index, _ob.c.seq, _ob.c.agreement_id, _ob.c.version, _ob.c.leaf)
    .where(_ob.c.batch_id == sa.bindparam("batch_id"))
    .order_by(_ob.c.leaf_index)
)
_BATCH_PROOF_KEYS = sa.select(_ob.c.agreement_id, _ob.c.version, _ob.c.leaf_index).where(
    _ob.c.batch_id == sa.bindparam("batch_id")
)
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


# A batch's signed transactions (the first, and replacements of stuck ones).
_INSERT_ATTEMPT = sa.insert(_ba)
_COUNT_ATTEMPTS = (
    sa.select(sa.func.count()).select_from(_ba).where(_ba.c.batch_id == sa.bindparam("batch_id"))
)
_BATCH_ATTEMPTS = (
    sa.select(_ba).where(_ba.c.batch_id == sa.bindparam("batch_id")).order_by(_ba.c.attempt)
)
_ATTEMPT_BY_HASH = sa.select(_ba).where(
    _ba.c.batch_id == sa.bindparam("batch_id"), _ba.c.tx_hash == sa.bindparam("tx_hash")
)


def _attempt_record(row: Any) -> BatchAttempt:
    return BatchAttempt(
        batch_id=int(row.batch_id),
        attempt=int(row.attempt),
        tx_hash=bytes(row.tx_hash),
        raw_tx=bytes(row.raw_tx),
        nonce=int(row.nonce),
        created_at=row.created_at,
    )


_INSERT_PROOF = sa.insert(_ip).values(
    agreement_id=sa.bindparam("agreement_id"),
    version=sa.bindparam("version"),
    batch_id=sa.bindparam("batch_id"),
    leaf_index=sa.bindparam("leaf_index"),
    path=sa.bindparam("path"),
    root=sa.bindparam("root"),
)
_INSERT_PROOF_SQL: dict[str, SQLCompiler] = {}  # per dialect


def _insert_proofs(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert a batch's proof rows (str, int, bytes and the path as JSON text) straight through
    the driver's executemany: SQLAlchemy's per-row parameter processing (and ``json.dumps``) is
    most of the cost of writing a batch's proofs, and these values need none. The statement is
    compiled by SQLAlchemy once per dialect (paramstyle, PostgreSQL's ``::JSON`` casts)."""
    compiled = _INSERT_PROOF_SQL.get(conn.dialect.name)
    if compiled is None:
        compiled = _INSERT_PROOF.compile(dialect=conn.dialect)
        assert isinstance(compiled, SQLCompiler)
        _INSERT_PROOF_SQL[conn.dialect.name] = compiled
    if compiled.positiontup is not None:  # SQLite: "?" placeholders
        as_tuple = operator.itemgetter(*compiled.positiontup)
        conn.exec_driver_sql(compiled.string, list(map(as_tuple, rows)))
    else:  # psycopg: "%(name)s" placeholders
        conn.exec_driver_sql(compiled.string, rows)


def _json_hex_list(hexes: list[str]) -> str:
    # exactly json.dumps(hexes): lowercase hex strings need no escaping
    return '["' + '", "'.join(hexes) + '"]' if hexes else "[]"


_ANCHORING_WINDOW = (
    sa.select(
        sa.select(sa.func.count())
        .select_from(_b)
        .where(_b.c.status != BatchStatus.ANCHORED.value)
        .scalar_subquery(),
        sa.func.count(),
        sa.func.min(_ob.c.accepted_at),
    )
    .select_from(_ob)
    .where(_ob.c.batch_id.is_(None))
)


def _batch_record(row: Any, leaves: tuple[BatchLeaf, ...]) -> Batch:
    return Batch(
        batch_id=int(row.batch_id),
        status=BatchStatus(row.status),
        size=int(row.size),
        first_seq=int(row.first_seq),
        last_seq=int(row.last_seq),
        root=_opt_bytes(row.root),
        created_at=row.created_at,
        tx_hash=_opt_bytes(row.tx_hash),
        raw_tx=_opt_bytes(row.raw_tx),
        nonce=None if row.nonce is None else int(row.nonce),
        block_number=None if row.block_number is None else int(row.block_number),
        block_hash=_opt_bytes(row.block_hash),
        anchored_at=row.anchored_at,
        leaves=leaves,
    )
