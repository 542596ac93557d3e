"""The service database: :class:`Database`, one object over the repositories of each concern.

Every public method of :class:`Database` is exactly one transaction: it either happens entirely
or not at all, and once it returns its effect is durable (committed; on SQLite with
``synchronous=FULL``). Arguments are bytes, ints, strings and aware datetimes; results are the
frozen dataclasses of :mod:`ledger.agreement` and :mod:`ledger.db.records`. Malformed arguments
(a 31-byte hash, a naive datetime) raise ``ValueError``; what contradicts the stored state
raises :class:`Conflict`; what is missing raises :class:`NotFound`; a failing database raises
:class:`DatabaseError`.

The methods are those of the repositories, one module per concern:

* agreement versions and signatures, step by step: :mod:`ledger.db.versions`; many fully signed
  versions in one transaction (group commit): :mod:`ledger.db.group_commit`;
* wrapped document keys, crypto-shredding and the record of erasures:
  :mod:`ledger.db.document_keys`;
* the anchoring outbox: claims, roots and signed transactions in :mod:`ledger.db.outbox` (with
  the anchoring life cycle and why it is idempotent across crashes), the anchored step and
  inclusion proofs in :mod:`ledger.db.inclusion`, batches as stored and the counts in
  :mod:`ledger.db.batches`; the anchoring lease in :mod:`ledger.db.lease`;
* access receipts, anchored through the same outbox, and the use counts of consent grants:
  :mod:`ledger.db.receipts`;
* the identity attestations this member made (their encrypted disclosures' key):
  :mod:`ledger.db.attestations`;
* the nonces of signed requests (replay protection, shared by every process):
  :mod:`ledger.db.nonces`.

They share one :class:`~ledger.db._plumbing.Transactions` (the engine, SQLite's write lock and
the translation of database errors).
"""

from __future__ import annotations

import sqlalchemy as sa

from ledger.db._plumbing import Transactions
from ledger.db.attestations import Attestations
from ledger.db.batches import Batches
from ledger.db.document_keys import DocumentKeys
from ledger.db.engine import make_engine
from ledger.db.group_commit import GroupCommit
from ledger.db.inclusion import InclusionProofs
from ledger.db.nonces import RequestNonces
from ledger.db.outbox import Outbox
from ledger.db.receipts import Receipts
from ledger.db.versions import Versions
from ledger.errors import ConfigurationError


class Database:
    """The repositories of one engine (a connection pool) as one object; safe to share between
    threads. Get one from :func:`open_database`; :meth:`close` releases its connections.

    A façade and nothing more: each method *is* a repository's bound method, so callers (the
    service, the batcher, tools and tests) hold one object and need not know which concern
    answers (see the module's docstring).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._transactions = Transactions(engine)
        versions = Versions(self._transactions)
        self.create_draft = versions.create_draft
        self.add_signature = versions.add_signature
        self.accept = versions.accept
        self.get_version = versions.get_version
        self.latest_version = versions.latest_version
        self.versions = versions.versions
        group_commit = GroupCommit(self._transactions)
        self.submit_many = group_commit.submit_many
        self.latest_versions = group_commit.latest_versions
        keys = DocumentKeys(self._transactions)
        self.document_keys = keys.document_keys
        self.erase_document_keys = keys.erase_document_keys
        self.erasures = keys.erasures
        outbox = Outbox(self._transactions)
        self.open_batch = outbox.open_batch
        self.set_batch_root = outbox.set_batch_root
        self.record_submission = outbox.record_submission
        self.record_replacement = outbox.record_replacement
        self.anchoring_lease = outbox.anchoring_lease
        proofs = InclusionProofs(self._transactions)
        self.record_anchored = proofs.record_anchored
        self.inclusion = proofs.inclusion
        batches = Batches(self._transactions)
        self.get_batch = batches.get_batch
        self.unfinished_batches = batches.unfinished_batches
        self.batch_attempts = batches.batch_attempts
        self.counts = batches.counts
        self.anchoring_window = batches.anchoring_window
        receipts = Receipts(self._transactions)
        self.record_receipt = receipts.record_receipt
        self.receipt = receipts.receipt
        self.receipts_of_grant = receipts.receipts_of_grant
        self.receipts_between = receipts.receipts_between
        self.uses_of = receipts.uses_of
        attestations = Attestations(self._transactions)
        self.add_attestation = attestations.add_attestation
        self.mark_attested = attestations.mark_attested
        self.delete_attestation = attestations.delete_attestation
        self.attestation_row = attestations.attestation_row
        nonces = RequestNonces(self._transactions)
        self.remember_nonce = nonces.remember_nonce
        self.remember_nonces = nonces.remember_nonces
        self.prune_nonces = nonces.prune_nonces

    @property
    def engine(self) -> sa.Engine:
        return self._transactions.engine

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def close(self) -> None:
        self._transactions.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_database(url: str) -> Database:
    """A :class:`Database` on ``url`` (not migrated: call :func:`ledger.db.upgrade` first, once)."""
    try:
        return Database(make_engine(url))
    except ValueError as error:
        raise ConfigurationError(f"database URL: {error}") from error
    except sa.exc.ArgumentError as error:
        raise ConfigurationError(f"database URL {url!r} is malformed: {error}") from error
