"""The service database: agreement versions, signatures and the durable anchoring outbox.

* :func:`open_database` -> :class:`Database`, :func:`upgrade` (Alembic, to head; the service
  calls it at start), :func:`downgrade`, :func:`current_revision`, :func:`head_revision`;
* :class:`Database`: one transaction per method, the methods of one repository per concern
  (:mod:`ledger.db.database` lists them): agreement versions and signatures
  (:mod:`ledger.db.versions`, group commit in :mod:`ledger.db.group_commit`), document keys and
  crypto-shredding (:mod:`ledger.db.document_keys`), the anchoring outbox
  (:mod:`ledger.db.outbox`, with the anchoring life cycle and why it is idempotent across
  crashes; :mod:`ledger.db.inclusion`, :mod:`ledger.db.batches`, :mod:`ledger.db.lease`);
* access receipts, anchored through the same outbox, and the use counts of consent grants
  (:mod:`ledger.db.receipts`);
* reliances: accounts opened on another member's KYC, marked when what they relied on ends
  (:mod:`ledger.db.reliances`);
* records (:mod:`ledger.db.records`; the agreement's own records, :class:`AgreementVersion` and
  the rest, come from the domain, :mod:`ledger.agreement`) and errors (:mod:`ledger.db.errors`).

SQLite (the default, ``<data_dir>/ledger.db``) and PostgreSQL (psycopg 3) behave the same.
"""

from ledger.agreement import AgreementVersion, SignatureRecord, VersionKind, VersionStatus
from ledger.db.database import Database, open_database
from ledger.db.engine import current_revision, downgrade, head_revision, upgrade
from ledger.db.errors import Conflict, DatabaseError, NotFound, UsesExhausted
from ledger.db.records import (
    Batch,
    BatchAttempt,
    BatchLeaf,
    BatchStatus,
    Counts,
    Inclusion,
    NewSignature,
    NewVersion,
    ReceiptInclusion,
    ReceiptStatus,
    StoredReceipt,
)
from ledger.db.reliances import LifecycleEnd, Reliance, RelianceReason, RelianceStatus

__all__ = [
    "AgreementVersion",
    "Batch",
    "BatchAttempt",
    "BatchLeaf",
    "BatchStatus",
    "Conflict",
    "Counts",
    "Database",
    "DatabaseError",
    "Inclusion",
    "LifecycleEnd",
    "NewSignature",
    "NewVersion",
    "NotFound",
    "ReceiptInclusion",
    "ReceiptStatus",
    "Reliance",
    "RelianceReason",
    "RelianceStatus",
    "SignatureRecord",
    "StoredReceipt",
    "UsesExhausted",
    "VersionKind",
    "VersionStatus",
    "current_revision",
    "downgrade",
    "head_revision",
    "open_database",
    "upgrade",
]
