"""The service database: agreement versions, signatures, and the durable anchoring outbox.

Every public method of :class:`Database` is exactly one transaction: it either happens entirely
or not at all, and once it returns its effect is durable (committed; on SQLite with
``synchronous=FULL``). Arguments are bytes, ints, strings and aware datetimes; results are the
frozen dataclasses of :mod:`ledger.db.records`. Malformed arguments (a 31-byte hash, a naive
datetime) raise ``ValueError``; what contradicts the stored state raises :class:`Conflict`;
what is missing raises :class:`NotFound`; a failing database raises :class:`DatabaseError`.

The anchoring life cycle, and why it is idempotent across crashes:

1. :meth:`Database.accept` marks a version accepted *and* writes its outbox row in the same
   transaction: a version the service acknowledged is always waiting for an anchor.
2. :meth:`Database.open_batch` claims the oldest unclaimed outbox rows (in ``seq`` order) into one
   ``open`` batch, leaf indexes 0..n-1. While a batch is unfinished (``open`` or ``submitted``)
   it returns *that* batch instead of claiming more, so a batcher restarting after a crash picks
   up exactly where it stopped. Claims are serialized (PostgreSQL: an advisory lock, rows read
   ``FOR UPDATE SKIP LOCKED``; SQLite: ``BEGIN IMMEDIATE``) and the database holds at most one
   unfinished batch (a unique index), so two batchers racing share one batch, never a row.
3. :meth:`Database.set_batch_root` stores the Merkle root (the leaves are fixed, so a recomputed
   root must be equal; a different one is a :class:`Conflict`).
4. :meth:`Database.record_submission` stores the *signed* transaction (raw bytes, hash, nonce)
   **before** it is sent (and the root with it, if step 3 was left to it: one transaction
   fewer). After a crash or a lost receipt the batcher re-sends these same bytes or looks up
   this same hash; it never signs a second transaction for the batch, since a different
   ``raw_tx`` is refused. Re-recording the same bytes is a no-op.
5. :meth:`Database.record_anchored` stores the block, marks the batch and all its versions
   anchored and writes every inclusion proof, in one transaction. Repeating it with the same
   block and proofs is a no-op (the first ``anchored_at`` is kept); a different block or proof is
   a :class:`Conflict`.

Group commit: :meth:`Database.submit_many` writes many fully signed versions as accepted (with
their signatures, wrapped document keys and outbox rows) in one transaction; each item is
checked against the stored state and the items before it exactly as the step-by-step path
(:meth:`~Database.create_draft`, :meth:`~Database.add_signature`, :meth:`~Database.accept`)
would, and an item that fails gets a :class:`Conflict` in its result slot instead of failing the
others.

Crypto-shredding: each version's document key, wrapped to each reader, is stored in
``document_keys``; :meth:`Database.erase_document_keys` deletes them for every version of an
agreement (the versions, signatures and proofs stay). On SQLite ``secure_delete`` zeroes the
deleted bytes in the file; they leave the WAL file once it is checkpointed and truncated.
"""

from __future__ import annotations

import itertools
import json
import operator
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.compiler import SQLCompiler

from ledger._ids import AGREEMENT_ID, ROLE
from ledger.db import schema
from ledger.db._engine import BEGIN_OPTION, WriteLock
from ledger.db.errors import Conflict, DatabaseError, NotFound
from ledger.db.records import (
    AgreementVersion,
    AnchoringWindow,
    Batch,
    BatchLeaf,
    BatchStatus,
    Counts,
    Inclusion,
    NewSignature,
    NewVersion,
    SignatureRecord,
    VersionKind,
    VersionStatus,
)

#: How often open_batch retries after losing a race to create the one unfinished batch.
_CLAIM_ATTEMPTS = 3
#: Key of the PostgreSQL advisory lock serializing open_batch ("outbox").
_CLAIM_LOCK = 0x6F7574626F78
#: How often submit_many runs its transaction when a concurrent writer took a key it chose.
_SUBMIT_ATTEMPTS = 4
#: Agreement IDs per ``IN (...)`` list when submit_many reads the latest versions.
_IN_CHUNK = 500
_NO_KEYS: Mapping[bytes, bytes] = MappingProxyType({})
_BYTES_TYPE = frozenset({bytes})
_HASH_SIZE = frozenset({32})
#: The shortest DER SM2 signature the schema accepts (a CHECK constraint of ``signatures``).
_MIN_SIGNATURE_BYTES = 8

_av = schema.agreement_versions
_sig = schema.signatures
_ob = schema.outbox
_b = schema.batches
_ip = schema.inclusion_proofs
_dk = schema.document_keys


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


# submit_many's read of the latest versions (the IN list expands per execution).
_newer = _av.alias("newer")
_LATEST_VERSIONS = sa.select(_av.c.agreement_id, _av.c.version, _av.c.kind, _av.c.status).where(
    _av.c.agreement_id.in_(sa.bindparam("agreement_ids", expanding=True)),
    ~sa.select(sa.literal(1))
    .where(_newer.c.agreement_id == _av.c.agreement_id, _newer.c.version > _av.c.version)
    .exists(),
)


class _Latest(NamedTuple):
    """The latest stored (or, within submit_many, already written) version of an agreement."""

    version: int
    kind: str
    status: str


class Database:
    """Repository over one engine (a connection pool); safe to share between threads.

    Get one from :func:`ledger.db.open_database`; :meth:`close` releases its connections.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._write_lock = WriteLock(engine)

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()
        self._write_lock.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- agreement versions and signatures ---------------------------------------------------

    def create_draft(
        self,
        agreement_id: str,
        version: int,
        *,
        kind: VersionKind | str = VersionKind.AGREEMENT,
        document_sm3: bytes,
        document_cid: str,
        media_type: str,
        size: int,
        required_roles: Sequence[str],
        chain_id: int,
        contract: str,
        created_at: datetime,
        wrapped_keys: Mapping[bytes, bytes] = _NO_KEYS,
    ) -> AgreementVersion:
        """Store a new draft version: ``version`` must be the next one (1 for a new agreement).

        A void is a new version of kind ``void`` (never the first); no version follows an
        accepted void. ``wrapped_keys`` (32-byte SM3 fingerprint of a reader's SM2 key -> the
        document key encrypted to that reader) are stored in the same transaction.
        """
        _check_agreement_id(agreement_id)
        _check_version(version)
        kind = VersionKind(kind)
        _check_bytes("document_sm3", document_sm3, 32)
        _check_text("document_cid", document_cid)
        _check_text("media_type", media_type)
        _check_int("size", size, minimum=0)
        roles = _check_roles(required_roles)
        _check_int("chain_id", chain_id, minimum=1)
        _check_text("contract", contract)
        _check_aware("created_at", created_at)
        keys = _check_wrapped_keys(wrapped_keys)
        with self._transaction(write=True) as conn:
            row = conn.execute(
                sa.select(_av.c.version, _av.c.kind, _av.c.status)
                .where(_av.c.agreement_id == agreement_id)
                .order_by(_av.c.version.desc())
                .limit(1)
            ).first()
            latest = None if row is None else _Latest(int(row.version), row.kind, row.status)
            refusal = _version_refusal(agreement_id, version, kind, latest)
            if refusal is not None:
                raise Conflict(refusal)
            conn.execute(
                sa.insert(_av).values(
                    agreement_id=agreement_id,
                    version=version,
                    kind=kind.value,
                    status=VersionStatus.DRAFT.value,
                    document_sm3=document_sm3,
                    document_cid=document_cid,
                    media_type=media_type,
                    size=size,
                    required_roles=list(roles),
                    chain_id=chain_id,
                    contract=contract,
                    created_at=created_at,
                    accepted_at=None,
                )
            )
            if keys:
                conn.execute(sa.insert(_dk), _key_rows(agreement_id, version, keys))
            return self._load_version(conn, agreement_id, version)

    def get_version(self, agreement_id: str, version: int) -> AgreementVersion:
        """One version with its signatures (ordered by role)."""
        with self._transaction() as conn:
            return self._load_version(conn, agreement_id, version)

    def latest_version(self, agreement_id: str) -> AgreementVersion:
        """The highest version of an agreement, whatever its kind and status."""
        with self._transaction() as conn:
            version = conn.execute(
                sa.select(sa.func.max(_av.c.version)).where(_av.c.agreement_id == agreement_id)
            ).scalar()
            if version is None:
                raise NotFound(f"no agreement {agreement_id}")
            return self._load_version(conn, agreement_id, int(version))

    def versions(self, agreement_id: str) -> list[AgreementVersion]:
        """Every version of an agreement, oldest first, each with its signatures (by role)."""
        with self._transaction() as conn:
            rows = conn.execute(
                sa.select(_av).where(_av.c.agreement_id == agreement_id).order_by(_av.c.version)
            ).all()
            if not rows:
                raise NotFound(f"no agreement {agreement_id}")
            signatures: dict[int, list[SignatureRecord]] = {}
            for sig in conn.execute(sa.select(_sig).where(_sig.c.agreement_id == agreement_id)):
                signatures.setdefault(int(sig.version), []).append(_signature_record(sig))
        return [_version_record(row, signatures.get(int(row.version), ())) for row in rows]

    # -- wrapped document keys (crypto-shredding) ------------------------------------------

    def document_keys(self, agreement_id: str, version: int) -> dict[bytes, bytes]:
        """A version's wrapped document keys: reader key fingerprint -> wrapped key.

        Empty once the agreement's keys are erased (or if it was stored without any).
        """
        with self._transaction() as conn:
            exists = conn.execute(
                sa.select(sa.literal(1)).where(
                    _av.c.agreement_id == agreement_id, _av.c.version == version
                )
            ).first()
            if exists is None:
                raise NotFound(f"no version {version} of {agreement_id}")
            rows = conn.execute(
                sa.select(_dk.c.reader_fingerprint, _dk.c.wrapped_key)
                .where(_dk.c.agreement_id == agreement_id, _dk.c.version == version)
                .order_by(_dk.c.reader_fingerprint)
            )
            return {bytes(row.reader_fingerprint): bytes(row.wrapped_key) for row in rows}

    def erase_document_keys(self, agreement_id: str, *, erased_at: datetime) -> int:
        """Crypto-shred an agreement: delete the wrapped document keys of every one of its
        versions and mark them all erased; return how many keys were deleted.

        Idempotent: a repeat deletes nothing (returns 0) and keeps each version's first
        ``keys_erased_at``. :class:`NotFound` if the agreement has no version.
        """
        _check_agreement_id(agreement_id)
        _check_aware("erased_at", erased_at)
        with self._transaction(write=True) as conn:
            # The versions first: on PostgreSQL their row locks order this after (or before)
            # a concurrent accept of one of them.
            marked = conn.execute(
                sa.update(_av)
                .where(_av.c.agreement_id == agreement_id, _av.c.keys_erased_at.is_(None))
                .values(keys_erased_at=erased_at)
            ).rowcount
            if not marked:
                exists = conn.execute(
                    sa.select(sa.literal(1)).where(_av.c.agreement_id == agreement_id).limit(1)
                ).first()
                if exists is None:
                    raise NotFound(f"no agreement {agreement_id}")
            deleted = conn.execute(sa.delete(_dk).where(_dk.c.agreement_id == agreement_id))
            return int(deleted.rowcount)

    def add_signature(
        self,
        agreement_id: str,
        version: int,
        *,
        role: str,
        signed_at: datetime,
        public_key: bytes,
        distid: bytes,
        signature: bytes,
        recorded_at: datetime,
    ) -> SignatureRecord:
        """Record one role's signature of a draft (the caller has verified it).

        :class:`Conflict` if the version is not a draft, the role is not one of its required
        roles, or that role has already signed it.
        """
        _check_role(role)
        _check_aware("signed_at", signed_at)
        _check_bytes("public_key", public_key, 65)
        _check_bytes("distid", distid)
        _check_signature_bytes(signature)
        _check_aware("recorded_at", recorded_at)
        with self._transaction(write=True) as conn:
            # FOR SHARE: signatures of different roles go in parallel, accept() waits for them.
            row = conn.execute(
                sa.select(_av.c.status, _av.c.required_roles)
                .where(_av.c.agreement_id == agreement_id, _av.c.version == version)
                .with_for_update(read=True)
            ).first()
            if row is None:
                raise NotFound(f"no version {version} of {agreement_id}")
            if row.status != VersionStatus.DRAFT:
                raise Conflict(f"{agreement_id} v{version} is {row.status}: only drafts are signed")
            if role not in row.required_roles:
                raise Conflict(
                    f"{agreement_id} v{version} is signed by {row.required_roles}, not {role!r}"
                )
            signed = conn.execute(
                sa.select(sa.literal(1)).where(
                    _sig.c.agreement_id == agreement_id,
                    _sig.c.version == version,
                    _sig.c.role == role,
                )
            ).first()
            if signed is not None:
                raise Conflict(f"{agreement_id} v{version} is already signed by {role!r}")
            record = SignatureRecord(
                agreement_id=agreement_id,
                version=version,
                role=role,
                signed_at=signed_at.astimezone(UTC),
                public_key=public_key,
                distid=distid,
                signature=signature,
                recorded_at=recorded_at.astimezone(UTC),
            )
            conn.execute(sa.insert(_sig).values(**asdict(record)))
            return record

    def accept(
        self, agreement_id: str, version: int, *, leaf: bytes, accepted_at: datetime
    ) -> AgreementVersion:
        """Mark a fully signed draft accepted and put it in the outbox, in one transaction.

        ``leaf`` is the 32-byte Merkle leaf hash the batcher will anchor (computed by the
        caller). :class:`Conflict` if the version is not a draft (accepting twice included) or a
        required role has not signed.
        """
        _check_bytes("leaf", leaf, 32)
        _check_aware("accepted_at", accepted_at)
        with self._transaction(write=True) as conn:
            row = conn.execute(
                sa.select(_av.c.status, _av.c.required_roles)
                .where(_av.c.agreement_id == agreement_id, _av.c.version == version)
                .with_for_update()
            ).first()
            if row is None:
                raise NotFound(f"no version {version} of {agreement_id}")
            if row.status != VersionStatus.DRAFT:
                raise Conflict(f"{agreement_id} v{version} is already {row.status}")
            signed = set(
                conn.execute(
                    sa.select(_sig.c.role).where(
                        _sig.c.agreement_id == agreement_id, _sig.c.version == version
                    )
                ).scalars()
            )
            missing = [role for role in row.required_roles if role not in signed]
            if missing:
                raise Conflict(f"{agreement_id} v{version} still needs signatures of {missing}")
            conn.execute(
                sa.update(_av)
                .where(_av.c.agreement_id == agreement_id, _av.c.version == version)
                .values(status=VersionStatus.ACCEPTED.value, accepted_at=accepted_at)
            )
            conn.execute(
                sa.insert(_ob).values(
                    agreement_id=agreement_id, version=version, leaf=leaf, accepted_at=accepted_at
                )
            )
            return self._load_version(conn, agreement_id, version)

    # -- group commit ------------------------------------------------------------------------

    def submit_many(self, items: Sequence[NewVersion]) -> list[AgreementVersion | Conflict]:
        """Store fully signed versions as accepted, each with its signatures, wrapped keys and
        outbox row, all in ONE transaction; one result per item, in input order.

        Each item is checked as the step-by-step path would check it, against the stored state
        and the items before it in this call: its version is the next one (1 for a new
        agreement), a void is never version 1, no version follows an accepted void, and its
        signatures are exactly one per required role. An item that fails gets a
        :class:`Conflict` in its slot and is not written (so it changes nothing for the items
        after it); the others are. Malformed items raise ``ValueError`` before anything is
        written. Outbox rows are written in input order, so batches take the items in that
        order. :class:`DatabaseError` if the transaction fails: then nothing is written.

        Concurrency: SQLite serializes writers (``BEGIN IMMEDIATE``). On PostgreSQL another
        writer may store one of these versions between the read of the latest versions and the
        insert; the unique key refuses the insert, and the whole call is run again (a few
        times at most), which then reports that item as a :class:`Conflict`.

        The results are built from the items (not read back): status ``accepted``,
        ``created_at`` = ``accepted_at`` = every signature's ``recorded_at``.
        """
        checked = list(map(_checked_new_version, itertools.count(), items))
        if not checked:
            return []
        for attempt in range(_SUBMIT_ATTEMPTS):
            try:
                return self._submit_many(checked)
            except Conflict as error:
                # A unique key refused: a concurrent writer stored one of these versions after
                # we read the latest ones (PostgreSQL; SQLite serializes writers). Nothing of
                # ours was written; reading again turns that item into a Conflict slot.
                if attempt == _SUBMIT_ATTEMPTS - 1:
                    raise DatabaseError(
                        f"submit_many: still refused after {_SUBMIT_ATTEMPTS} attempts: {error}"
                    ) from error
        raise AssertionError("unreachable")

    def _submit_many(self, items: Sequence[_Checked]) -> list[AgreementVersion | Conflict]:
        with self._transaction(write=True) as conn:
            latest = self._latest_versions(conn, {checked.item.agreement_id for checked in items})
            results: list[AgreementVersion | Conflict] = []
            written: list[_Checked] = []
            for checked in items:
                item = checked.item
                refusal = _version_refusal(
                    item.agreement_id, item.version, item.kind, latest.get(item.agreement_id)
                ) or _signature_refusal(item)
                if refusal is not None:
                    results.append(Conflict(refusal))
                    continue
                latest[item.agreement_id] = _Latest(
                    item.version, item.kind.value, VersionStatus.ACCEPTED.value
                )
                written.append(checked)
                results.append(_accepted_record(item))
            if written:
                _insert_accepted(conn, written)
            return results

    @staticmethod
    def _latest_versions(conn: sa.Connection, agreement_ids: set[str]) -> dict[str, _Latest]:
        """The latest stored version of each agreement that has one."""
        ordered = sorted(agreement_ids)
        latest: dict[str, _Latest] = {}
        for start in range(0, len(ordered), _IN_CHUNK):
            rows = conn.execute(
                _LATEST_VERSIONS, {"agreement_ids": ordered[start : start + _IN_CHUNK]}
            )
            for agreement_id, version, kind, status in rows:
                latest[agreement_id] = _Latest(int(version), kind, status)
        return latest

    # -- the outbox and its batches ----------------------------------------------------------

    def open_batch(self, *, max_size: int, now: datetime) -> Batch | None:
        """The batch to work on: the unfinished one if there is one (crash recovery), else a
        new ``open`` batch of up to ``max_size`` unclaimed outbox rows in ``seq`` order; None if
        there is nothing to anchor.

        Claims are serialized: on PostgreSQL by a transaction-scoped advisory lock (the rows are
        then read ``FOR UPDATE SKIP LOCKED``), on SQLite by a ``BEGIN IMMEDIATE`` transaction;
        a second batcher arriving at the same moment gets the first one's batch. (Should two
        transactions still race to create a batch, the unique index on unfinished batches
        refuses the second, which retries and returns the first one's batch.)
        """
        _check_int("max_size", max_size, minimum=1)
        _check_aware("now", now)
        for attempt in range(_CLAIM_ATTEMPTS):
            try:
                return self._open_batch(max_size=max_size, now=now)
            except Conflict:
                if attempt == _CLAIM_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _open_batch(self, *, max_size: int, now: datetime) -> Batch | None:
        with self._transaction(write=True) as conn:
            if conn.dialect.name == "postgresql":
                # Claims are serialized (as BEGIN IMMEDIATE does on SQLite): a second batcher
                # waits a few milliseconds and then finds the first one's batch, so batches
                # always take the oldest rows. SKIP LOCKED below still keeps a claim from
                # waiting on rows someone else has locked.
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_CLAIM_LOCK)))
            unfinished = conn.execute(_UNFINISHED_BATCH).scalar()
            if unfinished is not None:
                return self._load_batch(conn, int(unfinished))
            rows = conn.execute(_CLAIMABLE, {"max_size": max_size}).all()
            if not rows:
                return None
            seqs = [int(row[0]) for row in rows]
            header = conn.execute(
                _INSERT_BATCH,
                {
                    "status": BatchStatus.OPEN.value,
                    "size": len(seqs),
                    "first_seq": seqs[0],
                    "last_seq": seqs[-1],
                    "created_at": now,
                },
            ).one()
            batch_id = int(header.batch_id)
            if seqs[-1] - seqs[0] == len(seqs) - 1:
                # Consecutive seqs: the range holds exactly the unclaimed rows read, which
                # this transaction has locked (FOR UPDATE; on SQLite, the write lock).
                claimed = conn.execute(
                    _CLAIM_RANGE,
                    {"first_seq": seqs[0], "last_seq": seqs[-1], "claim_batch": batch_id},
                ).rowcount
                if claimed != len(seqs):
                    raise DatabaseError(f"claimed {claimed} outbox rows, not {len(seqs)}")
            else:
                conn.execute(
                    _CLAIM,
                    [
                        {"claim_seq": seq, "claim_batch": batch_id, "claim_index": index}
                        for index, seq in enumerate(seqs)
                    ],
                )
            # the leaves are the rows just claimed: the batch is not read back
            leaves = tuple(
                BatchLeaf(
                    leaf_index=index,
                    seq=seq,
                    agreement_id=agreement_id,
                    version=int(version),
                    leaf=bytes(leaf),
                )
                for index, (seq, (_, agreement_id, version, leaf)) in enumerate(
                    zip(seqs, rows, strict=True)
                )
            )
            return _batch_record(header, leaves)

    def get_batch(self, batch_id: int) -> Batch:
        with self._transaction() as conn:
            return self._load_batch(conn, batch_id)

    def unfinished_batches(self) -> list[Batch]:
        """Batches ``open`` or ``submitted`` (at most one), oldest first."""
        with self._transaction() as conn:
            ids = conn.execute(
                sa.select(_b.c.batch_id)
                .where(_b.c.status != BatchStatus.ANCHORED.value)
                .order_by(_b.c.batch_id)
            ).scalars()
            return [self._load_batch(conn, int(batch_id)) for batch_id in list(ids)]

    def set_batch_root(self, batch_id: int, root: bytes, *, with_leaves: bool = True) -> Batch:
        """Store an open batch's Merkle root; the same root again is a no-op.

        ``with_leaves=False`` returns the batch with empty ``leaves``, for a caller that holds
        them already (from :meth:`open_batch`): reading them again costs per leaf. The same goes
        for :meth:`record_submission` and :meth:`record_anchored`.
        """
        _check_bytes("root", root, 32)
        with self._transaction(write=True) as conn:
            row = self._lock_batch(conn, batch_id)
            leaves = None if with_leaves else ()
            if row.root is not None:
                if bytes(row.root) != root:
                    raise Conflict(f"batch {batch_id} already has root {bytes(row.root).hex()}")
                return self._load_batch(conn, batch_id, leaves=leaves)
            return self._update_batch(conn, batch_id, leaves, root=root)

    def record_submission(
        self,
        batch_id: int,
        *,
        raw_tx: bytes,
        tx_hash: bytes,
        nonce: int,
        root: bytes | None = None,
        with_leaves: bool = True,
    ) -> Batch:
        """Store the signed anchoring transaction BEFORE sending it (status ``submitted``).

        Idempotent for the same ``(raw_tx, tx_hash, nonce)``; any other transaction for a batch
        that has one is a :class:`Conflict` (re-send the stored bytes instead). The root must
        have been set, or be given as ``root``: then it is stored in the same transaction, as
        :meth:`set_batch_root` would (a different stored root is a :class:`Conflict`).
        """
        _check_bytes("raw_tx", raw_tx)
        _check_bytes("tx_hash", tx_hash, 32)
        _check_int("nonce", nonce, minimum=0)
        if root is not None:
            _check_bytes("root", root, 32)
        with self._transaction(write=True) as conn:
            row = self._lock_batch(conn, batch_id)
            leaves = None if with_leaves else ()
            if root is not None and row.root is not None and bytes(row.root) != root:
                raise Conflict(f"batch {batch_id} already has root {bytes(row.root).hex()}")
            if row.raw_tx is not None:
                stored = (bytes(row.raw_tx), bytes(row.tx_hash), int(row.nonce))
                if stored != (raw_tx, tx_hash, nonce):
                    raise Conflict(
                        f"batch {batch_id} already has transaction 0x{stored[1].hex()}"
                        f" (nonce {stored[2]}): re-send it, do not sign another"
                    )
                return self._load_batch(conn, batch_id, leaves=leaves)
            values: dict[str, Any] = {
                "status": BatchStatus.SUBMITTED.value,
                "raw_tx": raw_tx,
                "tx_hash": tx_hash,
                "nonce": nonce,
            }
            if row.root is None:
                if root is None:
                    raise Conflict(f"batch {batch_id} has no root yet")
                values["root"] = root
            return self._update_batch(conn, batch_id, leaves, **values)

    def record_anchored(
        self,
        batch_id: int,
        *,
        block_number: int,
        block_hash: bytes,
        anchored_at: datetime,
        proofs: Mapping[int, Sequence[bytes]],
        with_leaves: bool = True,
    ) -> Batch:
        """The batch's transaction is in ``block_number``: mark the batch and every version in it
        anchored and store each leaf's Merkle path (``proofs[leaf_index]``, sibling hashes from
        the leaf level up), in one transaction.

        ``proofs`` must cover exactly the leaf indexes 0..size-1. Repeating the call with the
        same block and proofs is a no-op (the first ``anchored_at`` is kept); different ones are a
        :class:`Conflict`, as is anchoring a batch that was never submitted.
        """
        _check_int("block_number", block_number, minimum=0)
        _check_bytes("block_hash", block_hash, 32)
        _check_aware("anchored_at", anchored_at)
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
                _check_int("leaf_index", leaf_index, minimum=0)
                if isinstance(path, bytes | str):
                    raise ValueError("a Merkle path is a sequence of 32-byte hashes")
                for node in path:
                    _check_bytes("Merkle path node", node, 32)
            paths[leaf_index] = list(map(bytes.hex, path))
        leaves = None if with_leaves else ()
        with self._transaction(write=True) as conn:
            row = self._lock_batch(conn, batch_id)
            if set(paths) != set(range(row.size)):
                raise ValueError(
                    f"batch {batch_id} has leaves 0..{row.size - 1}: one proof for each is needed"
                )
            if row.status == BatchStatus.ANCHORED:
                stored_paths = {
                    int(proof.leaf_index): list(proof.path)
                    for proof in conn.execute(
                        sa.select(_ip.c.leaf_index, _ip.c.path).where(_ip.c.batch_id == batch_id)
                    )
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
                return self._load_batch(conn, batch_id, leaves=leaves)
            if row.status != BatchStatus.SUBMITTED:
                raise Conflict(f"batch {batch_id} is {row.status}: record its submission first")
            root = bytes(row.root)
            updated = conn.execute(_ANCHOR_VERSIONS, {"batch_id": batch_id}).rowcount
            if updated != row.size:
                raise DatabaseError(
                    f"batch {batch_id} has {row.size} leaves but {updated} accepted versions"
                )
            _insert_proofs(
                conn,
                [
                    {
                        "agreement_id": agreement_id,
                        "version": int(version),
                        "batch_id": batch_id,
                        "leaf_index": int(leaf_index),
                        "path": _json_hex_list(paths[int(leaf_index)]),
                        "root": root,
                    }
                    for agreement_id, version, leaf_index in conn.execute(
                        _BATCH_PROOF_KEYS, {"batch_id": batch_id}
                    ).all()
                ],
            )
            return self._update_batch(
                conn,
                batch_id,
                leaves,
                status=BatchStatus.ANCHORED.value,
                block_number=block_number,
                block_hash=block_hash,
                anchored_at=anchored_at,
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
        return Inclusion(
            agreement_id=agreement_id,
            version=version,
            batch_id=int(row.batch_id),
            leaf_index=int(row.leaf_index),
            tree_size=int(row.size),
            leaf=bytes(row.leaf),
            path=tuple(bytes.fromhex(node) for node in row.path),
            root=bytes(row.root),
            tx_hash=bytes(row.tx_hash),
            raw_tx=bytes(row.raw_tx),
            block_number=int(row.block_number),
            block_hash=bytes(row.block_hash),
            anchored_at=row.anchored_at,
        )

    def counts(self) -> Counts:
        """Versions per status, outbox backlog and batches per status (one consistent read)."""

        def count(table: sa.Table, *where: sa.ColumnElement[bool]) -> Any:
            return sa.select(sa.func.count()).select_from(table).where(*where).scalar_subquery()

        with self._transaction() as conn:
            row = conn.execute(
                sa.select(
                    count(_av, _av.c.status == VersionStatus.DRAFT.value).label("drafts"),
                    count(_av, _av.c.status == VersionStatus.ACCEPTED.value).label("accepted"),
                    count(_av, _av.c.status == VersionStatus.ANCHORED.value).label("anchored"),
                    count(_ob, _ob.c.batch_id.is_(None)).label("unbatched"),
                    count(_b, _b.c.status == BatchStatus.OPEN.value).label("open"),
                    count(_b, _b.c.status == BatchStatus.SUBMITTED.value).label("submitted"),
                    count(_b, _b.c.status == BatchStatus.ANCHORED.value).label("anchored_b"),
                    sa.select(sa.func.min(_av.c.accepted_at))
                    .where(_av.c.status == VersionStatus.ACCEPTED.value)
                    .scalar_subquery()
                    .label("oldest"),
                )
            ).one()
        return Counts(
            drafts=int(row.drafts),
            accepted=int(row.accepted),
            anchored=int(row.anchored),
            unbatched=int(row.unbatched),
            open_batches=int(row.open),
            submitted_batches=int(row.submitted),
            anchored_batches=int(row.anchored_b),
            oldest_unanchored_at=row.oldest,
        )

    def anchoring_window(self) -> AnchoringWindow:
        """What the anchoring loop decides on (cheaper than :meth:`counts`, read every poll)."""
        with self._transaction() as conn:
            row = conn.execute(_ANCHORING_WINDOW).one()
        return AnchoringWindow(
            unfinished_batches=int(row[0]),
            unbatched=int(row[1]),
            oldest_unbatched_at=row[2],
        )

    # -- plumbing ----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[sa.Connection]:
        """One transaction; committed when the block ends, rolled back if it raises."""
        try:
            with (
                self._write_lock.held() if write else nullcontext(),
                self._engine.connect() as conn,
            ):
                if write:
                    conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
                with conn.begin():
                    yield conn
        except sa_exc.IntegrityError as error:
            raise Conflict(f"refused by the database: {error.orig}") from error
        except sa_exc.SQLAlchemyError as error:
            raise DatabaseError(f"database failure: {error}") from error

    def _load_version(
        self, conn: sa.Connection, agreement_id: str, version: int
    ) -> AgreementVersion:
        row = conn.execute(
            sa.select(_av).where(_av.c.agreement_id == agreement_id, _av.c.version == version)
        ).first()
        if row is None:
            raise NotFound(f"no version {version} of {agreement_id}")
        signatures = [
            _signature_record(sig)
            for sig in conn.execute(
                sa.select(_sig).where(
                    _sig.c.agreement_id == agreement_id, _sig.c.version == version
                )
            )
        ]
        return _version_record(row, signatures)

    def _lock_batch(self, conn: sa.Connection, batch_id: int) -> sa.Row[Any]:
        row = conn.execute(_LOCK_BATCH, {"batch_id": batch_id}).first()
        if row is None:
            raise NotFound(f"no batch {batch_id}")
        return row

    def _load_batch(
        self, conn: sa.Connection, batch_id: int, *, leaves: tuple[BatchLeaf, ...] | None = None
    ) -> Batch:
        """The batch row, with ``leaves`` if given (else read, in leaf-index order)."""
        row = conn.execute(_BATCH_ROW, {"batch_id": batch_id}).first()
        if row is None:
            raise NotFound(f"no batch {batch_id}")
        return _batch_record(row, self._read_leaves(conn, batch_id) if leaves is None else leaves)

    def _read_leaves(self, conn: sa.Connection, batch_id: int) -> tuple[BatchLeaf, ...]:
        return tuple(
            BatchLeaf(
                leaf_index=int(leaf_index),
                seq=int(seq),
                agreement_id=agreement_id,
                version=int(version),
                leaf=bytes(leaf),
            )
            for leaf_index, seq, agreement_id, version, leaf in conn.execute(
                _BATCH_LEAVES, {"batch_id": batch_id}
            ).all()
        )

    def _update_batch(
        self,
        conn: sa.Connection,
        batch_id: int,
        leaves: tuple[BatchLeaf, ...] | None,
        **values: Any,
    ) -> Batch:
        """Update the (locked) batch row and return it as stored (RETURNING: not read again)."""
        row = conn.execute(_UPDATE_BATCH, {"which_batch": batch_id, **values}).one()
        return _batch_record(row, self._read_leaves(conn, batch_id) if leaves is None else leaves)


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


def _signature_record(row: Any) -> SignatureRecord:
    return SignatureRecord(
        agreement_id=row.agreement_id,
        version=int(row.version),
        role=row.role,
        signed_at=row.signed_at,
        public_key=bytes(row.public_key),
        distid=bytes(row.distid),
        signature=bytes(row.signature),
        recorded_at=row.recorded_at,
    )


def _version_record(row: Any, signatures: Sequence[SignatureRecord]) -> AgreementVersion:
    """A version row and its signatures; signatures in role order (in Python, not by the
    database's collation, so both backends and submit_many's results agree)."""
    return AgreementVersion(
        agreement_id=row.agreement_id,
        version=int(row.version),
        kind=VersionKind(row.kind),
        status=VersionStatus(row.status),
        document_sm3=bytes(row.document_sm3),
        document_cid=row.document_cid,
        media_type=row.media_type,
        size=int(row.size),
        required_roles=tuple(row.required_roles),
        chain_id=int(row.chain_id),
        contract=row.contract,
        created_at=row.created_at,
        accepted_at=row.accepted_at,
        keys_erased_at=row.keys_erased_at,
        signatures=tuple(sorted(signatures, key=lambda sig: sig.role)),
    )


def _version_refusal(
    agreement_id: str, version: int, kind: VersionKind, latest: _Latest | None
) -> str | None:
    """Why ``version`` of ``kind`` cannot follow ``latest`` (None: it can)."""
    expected = 1 if latest is None else latest.version + 1
    if version != expected:
        return f"{agreement_id}: the next version is {expected}, not {version}"
    if kind is VersionKind.VOID and latest is None:
        return f"{agreement_id}: nothing to void, the agreement has no version"
    if (
        latest is not None
        and latest.kind == VersionKind.VOID
        and latest.status != VersionStatus.DRAFT
    ):
        return f"{agreement_id} is void: no version follows an accepted void"
    return None


def _signature_refusal(item: NewVersion) -> str | None:
    """Why the item's signatures do not accept it (None: one per required role, no other)."""
    signed = sorted(sig.role for sig in item.signatures)
    if signed != sorted(item.required_roles):
        return (
            f"{item.agreement_id} v{item.version} needs exactly one signature of each of"
            f" {sorted(item.required_roles)}, has {signed}"
        )
    return None


_R = TypeVar("_R")
_BY_ROLE = operator.attrgetter("role")


def _accepted_record(item: NewVersion) -> AgreementVersion:
    """What submit_many stored for ``item``, as get_version would read it back."""
    accepted_at = item.accepted_at.astimezone(UTC)
    agreement_id = item.agreement_id
    version = item.version
    return _record(
        AgreementVersion,
        {
            "agreement_id": agreement_id,
            "version": version,
            "kind": item.kind,
            "status": VersionStatus.ACCEPTED,
            "document_sm3": item.document_sm3,
            "document_cid": item.document_cid,
            "media_type": item.media_type,
            "size": item.size,
            "required_roles": item.required_roles,
            "chain_id": item.chain_id,
            "contract": item.contract,
            "created_at": accepted_at,
            "accepted_at": accepted_at,
            "keys_erased_at": None,
            "signatures": tuple(
                _record(
                    SignatureRecord,
                    {
                        "agreement_id": agreement_id,
                        "version": version,
                        "role": sig.role,
                        "signed_at": sig.signed_at.astimezone(UTC),
                        "public_key": sig.public_key,
                        "distid": sig.distid,
                        "signature": sig.signature,
                        "recorded_at": accepted_at,
                    },
                )
                for sig in sorted(item.signatures, key=_BY_ROLE)
            ),
        },
    )


def _record(cls: type[_R], fields: dict[str, Any]) -> _R:
    """``cls(**fields)`` for a frozen dataclass of :mod:`ledger.db.records` (no ``__post_init__``,
    no slots), given every field, without its ``__init__``: that sets each field through
    ``object.__setattr__``, which costs submit_many several microseconds per item. A test checks
    that the records equal the ones ``__init__`` builds."""
    record = object.__new__(cls)
    record.__dict__.update(fields)
    return record


class _DriverInsert:
    """An INSERT of fixed columns run straight through the driver's executemany, as
    :func:`_insert_proofs` does: SQLAlchemy's per-row parameter processing is most of the cost
    of submit_many. The statement is compiled by SQLAlchemy once per dialect (paramstyle,
    PostgreSQL's casts); the caller passes rows (tuples, in ``columns`` order) of values already
    converted exactly as the columns' types would convert them (see :func:`_insert_accepted`).
    ``exec_driver_sql`` keeps SQLAlchemy's error translation and cursor events."""

    def __init__(self, table: sa.Table, *columns: str) -> None:
        self._statement = sa.insert(table).values({name: sa.bindparam(name) for name in columns})
        self._columns = columns
        self._sql: dict[str, tuple[str, bool]] = {}  # per dialect: SQL, positional?

    def executemany(self, conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
        sql = self._sql.get(conn.dialect.name)
        if sql is None:
            # for_executemany: as SQLAlchemy compiles it for many rows (no RETURNING)
            compiled = self._statement.compile(dialect=conn.dialect, for_executemany=True)
            assert isinstance(compiled, SQLCompiler)
            positional = compiled.positiontup is not None
            if positional:  # SQLite: "?" placeholders, in the order of the columns
                assert tuple(compiled.positiontup or ()) == self._columns, compiled.string
            else:  # psycopg: "%(name)s" placeholders
                assert set(compiled.binds) == set(self._columns), compiled.string
            sql = self._sql[conn.dialect.name] = (compiled.string, positional)
        statement, positional = sql
        if positional:
            conn.exec_driver_sql(statement, rows)
        else:
            columns = self._columns
            conn.exec_driver_sql(statement, [dict(zip(columns, row, strict=True)) for row in rows])


_INSERT_VERSION = _DriverInsert(
    _av,
    "agreement_id",
    "version",
    "kind",
    "status",
    "document_sm3",
    "document_cid",
    "media_type",
    "size",
    "required_roles",
    "chain_id",
    "contract",
    "created_at",
    "accepted_at",
)
_INSERT_SIGNATURE = _DriverInsert(
    _sig,
    "agreement_id",
    "version",
    "role",
    "signed_at",
    "public_key",
    "distid",
    "signature",
    "recorded_at",
)
_INSERT_KEY = _DriverInsert(_dk, "agreement_id", "version", "reader_fingerprint", "wrapped_key")
_INSERT_OUTBOX = _DriverInsert(_ob, "agreement_id", "version", "leaf", "accepted_at")


def _sqlite_time(value: datetime) -> str:
    """What :class:`schema.UTCDateTime` and SQLite's DATETIME make of an aware datetime: the UTC
    wall time as ``YYYY-MM-DD HH:MM:SS.ffffff`` (the year always has 4 digits)."""
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _postgresql_time(value: datetime) -> datetime:
    """What :class:`schema.UTCDateTime` hands psycopg: the same instant, in UTC."""
    return value.astimezone(UTC)


def _insert_accepted(conn: sa.Connection, items: Sequence[_Checked]) -> None:
    """One executemany per table for the accepted items (outbox rows in their order).

    The values are converted here as the columns' types would: bytes, ints and strings as they
    are (SQLAlchemy wraps bytes in the driver's ``Binary``, which stores the same BLOB/BYTEA),
    JSON as ``json.dumps`` text (PostgreSQL's ``::JSON`` cast keeps the text as it is), aware
    times as :class:`schema.UTCDateTime` and the dialect's DATETIME would. A test compares the
    stored rows with SQLAlchemy's, on both backends."""
    stored_time = _sqlite_time if conn.dialect.name == "sqlite" else _postgresql_time
    times: dict[datetime, Any] = {}  # each instant converted once (items share accepted_at)
    accepted = VersionStatus.ACCEPTED.value
    roles_json: dict[tuple[str, ...], str] = {}  # usually one set of roles for all
    versions: list[tuple[Any, ...]] = []
    signatures: list[tuple[Any, ...]] = []
    keys: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    for item, wrapped_keys in items:
        agreement_id = item.agreement_id
        version = item.version
        at = times.get(item.accepted_at)
        if at is None:
            at = times[item.accepted_at] = stored_time(item.accepted_at)
        roles = item.required_roles
        required_roles = roles_json.get(roles)
        if required_roles is None:
            required_roles = roles_json[roles] = json.dumps(list(roles))
        versions.append(
            (
                agreement_id,
                version,
                item.kind.value,
                accepted,
                item.document_sm3,
                item.document_cid,
                item.media_type,
                item.size,
                required_roles,
                item.chain_id,
                item.contract,
                at,
                at,
            )
        )
        for sig in item.signatures:
            signed_at = times.get(sig.signed_at)
            if signed_at is None:
                signed_at = times[sig.signed_at] = stored_time(sig.signed_at)
            signatures.append(
                (
                    agreement_id,
                    version,
                    sig.role,
                    signed_at,
                    sig.public_key,
                    sig.distid,
                    sig.signature,
                    at,
                )
            )
        for fingerprint, wrapped in wrapped_keys:
            keys.append((agreement_id, version, fingerprint, wrapped))
        outbox.append((agreement_id, version, item.leaf, at))
    # Versions in key order: concurrent calls on PostgreSQL then wait for each other's
    # uncommitted keys in one global order, so they cannot deadlock.
    versions.sort(key=_VERSION_KEY)
    _INSERT_VERSION.executemany(conn, versions)
    _INSERT_SIGNATURE.executemany(conn, signatures)
    if keys:
        _INSERT_KEY.executemany(conn, keys)
    _INSERT_OUTBOX.executemany(conn, outbox)


_VERSION_KEY = operator.itemgetter(0, 1)


def _key_rows(
    agreement_id: str, version: int, wrapped_keys: Mapping[bytes, bytes]
) -> list[dict[str, Any]]:
    return [
        {
            "agreement_id": agreement_id,
            "version": version,
            "reader_fingerprint": fingerprint,
            "wrapped_key": wrapped,
        }
        for fingerprint, wrapped in wrapped_keys.items()
    ]


class _Checked(NamedTuple):
    """A submit_many item checked for form: the item (its kind a :class:`VersionKind`, its roles
    and signatures tuples) and its wrapped keys as they were checked (fingerprint, key)."""

    item: NewVersion
    wrapped_keys: tuple[tuple[bytes, bytes], ...]


def _checked_new_version(index: int, item: NewVersion) -> _Checked:
    """``item`` checked for form (not against the stored state), normalized; ValueError naming
    the item's index if it is malformed."""
    # The common case (exact types, as the service builds items) is checked by _well_formed;
    # anything else, valid or not, gets the detailed checks (and their error messages).
    if type(item) is NewVersion and _well_formed(item):
        keys = tuple(item.wrapped_keys.items())  # what is checked is what is written
        for fingerprint, wrapped in keys:
            if not (
                type(fingerprint) is bytes
                and len(fingerprint) == _HASH_BYTES
                and type(wrapped) is bytes
                and wrapped
            ):
                break
        else:
            return _Checked(item, keys)
    return _checked_in_detail(index, item)


_HASH_BYTES = 32
_PUBLIC_KEY_BYTES = 65


def _well_formed(item: NewVersion) -> bool:
    """Whether ``item`` passes every check of :func:`_checked_in_detail` (but its wrapped keys')
    and needs no normalizing; False may also mean: check it in detail."""
    agreement_id = item.agreement_id
    roles = item.required_roles
    accepted_at = item.accepted_at
    signatures = item.signatures
    if not (
        type(agreement_id) is str
        and AGREEMENT_ID.match(agreement_id)
        and type(item.version) is int
        and item.version >= 1
        and type(item.kind) is VersionKind
        and type(item.document_sm3) is bytes
        and len(item.document_sm3) == _HASH_BYTES
        and type(item.document_cid) is str
        and item.document_cid
        and type(item.media_type) is str
        and item.media_type
        and type(item.size) is int
        and item.size >= 0
        and type(roles) is tuple
        and roles
        and len(set(roles)) == len(roles)
        and type(item.chain_id) is int
        and item.chain_id >= 1
        and type(item.contract) is str
        and item.contract
        and type(accepted_at) is datetime
        and accepted_at.utcoffset() is not None
        and type(signatures) is tuple
        and (type(item.wrapped_keys) is dict or isinstance(item.wrapped_keys, Mapping))
        and type(item.leaf) is bytes
        and len(item.leaf) == _HASH_BYTES
    ):
        return False
    for role in roles:
        if type(role) is not str or not ROLE.match(role):
            return False
    for sig in signatures:
        if not (
            type(sig) is NewSignature
            and type(sig.role) is str
            and ROLE.match(sig.role)
            and type(sig.signed_at) is datetime
            and sig.signed_at.utcoffset() is not None
            and type(sig.public_key) is bytes
            and len(sig.public_key) == _PUBLIC_KEY_BYTES
            and type(sig.distid) is bytes
            and sig.distid
            and type(sig.signature) is bytes
            and len(sig.signature) >= _MIN_SIGNATURE_BYTES
        ):
            return False
    return True


def _checked_in_detail(index: int, item: NewVersion) -> _Checked:
    """:func:`_checked_new_version`, one check at a time: the precise ValueError."""
    try:
        if not isinstance(item, NewVersion):
            raise ValueError(f"expected a NewVersion, got {type(item).__name__}")
        _check_agreement_id(item.agreement_id)
        _check_version(item.version)
        kind = VersionKind(item.kind)
        _check_bytes("document_sm3", item.document_sm3, 32)
        _check_text("document_cid", item.document_cid)
        _check_text("media_type", item.media_type)
        _check_int("size", item.size, minimum=0)
        roles = _check_roles(item.required_roles)
        _check_int("chain_id", item.chain_id, minimum=1)
        _check_text("contract", item.contract)
        _check_aware("accepted_at", item.accepted_at)
        if isinstance(item.signatures, NewSignature) or not isinstance(item.signatures, Sequence):
            raise ValueError("signatures is a sequence of NewSignature")
        for sig in item.signatures:
            _check_new_signature(sig)
        keys = _check_wrapped_keys(item.wrapped_keys)
        _check_bytes("leaf", item.leaf, 32)
    except ValueError as error:
        raise ValueError(f"items[{index}]: {error}") from error
    normalized = replace(
        item,
        kind=kind,
        required_roles=roles,
        signatures=tuple(item.signatures),
        wrapped_keys=MappingProxyType(keys),
    )
    return _Checked(normalized, tuple(keys.items()))


def _check_new_signature(sig: NewSignature) -> None:
    if not isinstance(sig, NewSignature):
        raise ValueError(f"expected a NewSignature, got {type(sig).__name__}")
    _check_role(sig.role)
    _check_aware("signed_at", sig.signed_at)
    _check_bytes("public_key", sig.public_key, 65)
    _check_bytes("distid", sig.distid)
    _check_signature_bytes(sig.signature)


def _check_wrapped_keys(wrapped_keys: Mapping[bytes, bytes]) -> dict[bytes, bytes]:
    if not isinstance(wrapped_keys, Mapping):
        raise ValueError("wrapped_keys maps reader key fingerprints to wrapped keys")
    for fingerprint, wrapped in wrapped_keys.items():
        _check_bytes("reader key fingerprint", fingerprint, 32)
        _check_bytes("wrapped key", wrapped)
    return dict(wrapped_keys)


def _check_role(role: str) -> None:
    if not isinstance(role, str) or not ROLE.match(role):
        raise ValueError(f"a role is 1-32 of [a-z0-9_-], starting with a letter: {role!r}")


def _check_signature_bytes(signature: bytes) -> None:
    _check_bytes("signature", signature)
    if len(signature) < _MIN_SIGNATURE_BYTES:
        raise ValueError(f"a DER signature is at least {_MIN_SIGNATURE_BYTES} bytes")


def _opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _check_agreement_id(agreement_id: str) -> None:
    if not isinstance(agreement_id, str) or not AGREEMENT_ID.match(agreement_id):
        raise ValueError(f"agreement IDs look like agr_<32 hex>, got {agreement_id!r}")


def _check_version(version: int) -> None:
    _check_int("version", version, minimum=1)


def _check_int(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _check_bytes(name: str, value: bytes, size: int | None = None) -> None:
    if not isinstance(value, bytes):
        raise ValueError(f"{name} must be bytes, got {type(value).__name__}")
    if size is None and not value:
        raise ValueError(f"{name} must not be empty")
    if size is not None and len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def _check_text(name: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


def _check_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")


def _check_roles(roles: Sequence[str]) -> tuple[str, ...]:
    if isinstance(roles, str):
        raise ValueError("required_roles is a sequence of roles, not one string")
    checked = tuple(roles)
    if not checked or len(set(checked)) != len(checked):
        raise ValueError(f"required_roles must be distinct and not empty, got {checked!r}")
    for role in checked:
        _check_role(role)
    return checked
