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

This module holds :class:`Database`; its helpers live in private modules: the argument
validators in :mod:`ledger.db._checks`, the anchoring path's statements in
:mod:`ledger.db._outbox`, and submit_many's checks and bulk inserts in :mod:`ledger.db._submit`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from ledger.agreement import (
    AgreementVersion,
    LatestVersion,
    SignatureRecord,
    VersionKind,
    VersionStatus,
    signature_set_refusal,
    signer_refusal,
    version_refusal,
)
from ledger.db import schema
from ledger.db._checks import (
    _check_agreement_id,
    _check_aware,
    _check_bytes,
    _check_int,
    _check_role,
    _check_roles,
    _check_signature_bytes,
    _check_text,
    _check_version,
    _check_wrapped_keys,
)
from ledger.db._engine import BEGIN_OPTION, WriteLock
from ledger.db._outbox import (
    _ANCHOR_VERSIONS,
    _ANCHORING_WINDOW,
    _ATTEMPT_BY_HASH,
    _BATCH_ATTEMPTS,
    _BATCH_LEAVES,
    _BATCH_PROOF_KEYS,
    _BATCH_ROW,
    _CLAIM,
    _CLAIM_RANGE,
    _CLAIMABLE,
    _COUNT_ATTEMPTS,
    _INSERT_ATTEMPT,
    _INSERT_BATCH,
    _LOCK_BATCH,
    _UNFINISHED_BATCH,
    _UPDATE_BATCH,
    _attempt_record,
    _batch_record,
    _insert_proofs,
    _json_hex_list,
)
from ledger.db._submit import (
    _accepted_record,
    _Checked,
    _checked_new_version,
    _insert_accepted,
    _key_rows,
)
from ledger.db.errors import Conflict, DatabaseError, NotFound
from ledger.db.lease import AnchoringLease
from ledger.db.records import (
    AnchoringWindow,
    Batch,
    BatchAttempt,
    BatchLeaf,
    BatchStatus,
    Counts,
    Inclusion,
    NewVersion,
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

_av = schema.agreement_versions
_sig = schema.signatures
_ob = schema.outbox
_b = schema.batches
_ip = schema.inclusion_proofs
_dk = schema.document_keys


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
            refusal = version_refusal(agreement_id, version, kind, latest)
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
            signed = conn.execute(
                sa.select(sa.literal(1)).where(
                    _sig.c.agreement_id == agreement_id,
                    _sig.c.version == version,
                    _sig.c.role == role,
                )
            ).first()
            refusal = signer_refusal(
                agreement_id, version, row.required_roles, role, () if signed is None else [role]
            )
            if refusal is not None:
                raise Conflict(refusal)
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
                refusal = version_refusal(
                    item.agreement_id, item.version, item.kind, latest.get(item.agreement_id)
                ) or signature_set_refusal(
                    item.agreement_id,
                    item.version,
                    item.required_roles,
                    [sig.role for sig in item.signatures],
                )
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

    def latest_versions(self, agreement_ids: Iterable[str]) -> Mapping[str, LatestVersion]:
        """The latest stored version (number, kind, status) of each of these agreements that
        has one: what the next-version rule needs, read in one query per 500 IDs."""
        with self._transaction() as conn:
            return self._latest_versions(conn, set(agreement_ids))

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

    def anchoring_lease(self) -> AnchoringLease:
        """A new handle on this database's anchoring lease (see :mod:`ledger.db.lease`)."""
        return AnchoringLease(self._engine)

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
        at: datetime | None = None,
        with_leaves: bool = True,
    ) -> Batch:
        """Store the signed anchoring transaction BEFORE sending it (status ``submitted``; it is
        the batch's attempt 0, signed ``at``).

        Idempotent for the same ``(raw_tx, tx_hash, nonce)``; any other transaction for a batch
        that has one is a :class:`Conflict` (re-send the stored bytes, or
        :meth:`record_replacement`). The root must have been set, or be given as ``root``: then
        it is stored in the same transaction, as :meth:`set_batch_root` would (a different
        stored root is a :class:`Conflict`).
        """
        _check_bytes("raw_tx", raw_tx)
        _check_bytes("tx_hash", tx_hash, 32)
        _check_int("nonce", nonce, minimum=0)
        if root is not None:
            _check_bytes("root", root, 32)
        if at is not None:
            _check_aware("at", at)
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
            conn.execute(
                _INSERT_ATTEMPT,
                {
                    "batch_id": batch_id,
                    "attempt": 0,
                    "tx_hash": tx_hash,
                    "raw_tx": raw_tx,
                    "nonce": nonce,
                    "created_at": at or datetime.now(UTC),
                },
            )
            return self._update_batch(conn, batch_id, leaves, **values)

    def record_replacement(
        self,
        batch_id: int,
        *,
        replaces: bytes,
        raw_tx: bytes,
        tx_hash: bytes,
        nonce: int,
        at: datetime,
    ) -> Batch:
        """Store another signed transaction for a submitted batch BEFORE sending it: a
        replacement of its latest one (``replaces``, the hash) that stayed in the pool, or one
        with a new nonce when the old nonce went to another transaction. It becomes the batch's
        latest attempt; the earlier ones are kept (any of them may still be mined).

        A compare-and-set: if the latest attempt is no longer ``replaces`` (another process
        replaced it), :class:`Conflict`; the same replacement again is a no-op. Returned without
        leaves.
        """
        _check_bytes("replaces", replaces, 32)
        _check_bytes("raw_tx", raw_tx)
        _check_bytes("tx_hash", tx_hash, 32)
        _check_int("nonce", nonce, minimum=0)
        _check_aware("at", at)
        with self._transaction(write=True) as conn:
            row = self._lock_batch(conn, batch_id)
            if row.status != BatchStatus.SUBMITTED:
                raise Conflict(f"batch {batch_id} is {row.status}: nothing to replace")
            latest = bytes(row.tx_hash)
            if latest == tx_hash and bytes(row.raw_tx) == raw_tx:
                return self._load_batch(conn, batch_id, leaves=())
            if latest != replaces:
                raise Conflict(
                    f"batch {batch_id}'s latest transaction is 0x{latest.hex()},"
                    f" not 0x{replaces.hex()}"
                )
            attempts = conn.execute(_COUNT_ATTEMPTS, {"batch_id": batch_id}).scalar_one()
            conn.execute(
                _INSERT_ATTEMPT,
                {
                    "batch_id": batch_id,
                    "attempt": int(attempts),
                    "tx_hash": tx_hash,
                    "raw_tx": raw_tx,
                    "nonce": nonce,
                    "created_at": at,
                },
            )
            return self._update_batch(
                conn, batch_id, (), raw_tx=raw_tx, tx_hash=tx_hash, nonce=nonce
            )

    def batch_attempts(self, batch_id: int) -> tuple[BatchAttempt, ...]:
        """Every signed transaction of a batch, in the order they were signed."""
        with self._transaction() as conn:
            return tuple(
                _attempt_record(row)
                for row in conn.execute(_BATCH_ATTEMPTS, {"batch_id": batch_id}).all()
            )

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
        the leaf level up), in one transaction.

        ``tx_hash`` names the attempt that was mined (default: the latest); it becomes the
        batch's transaction, the one its proofs carry. An attempt the batch never stored is a
        :class:`Conflict`.

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
            mined: dict[str, Any] = {}
            if tx_hash is not None and tx_hash != bytes(row.tx_hash):
                attempt = conn.execute(
                    _ATTEMPT_BY_HASH, {"batch_id": batch_id, "tx_hash": tx_hash}
                ).first()
                if attempt is None:
                    raise Conflict(f"batch {batch_id} has no transaction 0x{tx_hash.hex()}")
                mined = {"tx_hash": tx_hash, "raw_tx": attempt.raw_tx, "nonce": attempt.nonce}
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
