"""The service database: agreement versions, signatures and the durable anchoring outbox.

* :func:`open_database` -> :class:`Database`, :func:`upgrade` (Alembic, to head; the service
  calls it at start), :func:`downgrade`, :func:`current_revision`, :func:`head_revision`;
* :class:`Database`: one transaction per method (see :mod:`ledger.db.database` for the anchoring
  life cycle and why it is idempotent across crashes, group commit with
  :meth:`Database.submit_many`, and crypto-shredding with
  :meth:`Database.erase_document_keys`);
* records (:mod:`ledger.db.records`; the agreement's own records, :class:`AgreementVersion` and
  the rest, come from the domain, :mod:`ledger.agreement`) and errors (:mod:`ledger.db.errors`).

SQLite (the default, ``<data_dir>/ledger.db``) and PostgreSQL (psycopg 3) behave the same.
"""

from ledger.agreement import AgreementVersion, SignatureRecord, VersionKind, VersionStatus
from ledger.db.database import Database
from ledger.db.engine import (
    current_revision,
    downgrade,
    head_revision,
    open_database,
    upgrade,
)
from ledger.db.errors import Conflict, DatabaseError, NotFound
from ledger.db.records import (
    Batch,
    BatchAttempt,
    BatchLeaf,
    BatchStatus,
    Counts,
    Inclusion,
    NewSignature,
    NewVersion,
)

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
    "NewSignature",
    "NewVersion",
    "NotFound",
    "SignatureRecord",
    "VersionKind",
    "VersionStatus",
    "current_revision",
    "downgrade",
    "head_revision",
    "open_database",
    "upgrade",
]
