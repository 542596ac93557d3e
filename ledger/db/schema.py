"""The service database's tables (SQLAlchemy Core), identical on SQLite and PostgreSQL.

Types are chosen to mean the same on both: ``LargeBinary`` (BLOB / BYTEA) for hashes, keys and
transactions, ``BigInteger`` for chain numbers, ``JSON`` for lists, and :class:`UTCDateTime` for
times (``timestamptz`` on PostgreSQL, an ISO string on SQLite; always aware, always UTC in
Python). Invariants that a row can check on its own are CHECK constraints, so a bug in a caller
cannot store a half-anchored batch or a 31-byte hash; the rest is enforced by
:class:`ledger.db.Database` inside one transaction per operation.

The tables:

* ``agreement_versions`` — every version of every agreement; a void is a new version of kind
  ``void``; rows are never deleted. Status: ``draft`` -> ``accepted`` -> ``anchored``.
  ``keys_erased_at`` is set (once) when the agreement's document keys are erased.
  ``owner`` is the member whose broker created the version (NULL: stored before calls were
  attributed).
* ``signatures`` — one per (version, role).
* ``document_keys`` — a version's document key wrapped (SM2-encrypted) to each reader, keyed by
  the SM3 fingerprint of the reader's key. Deleting them crypto-shreds the stored document; the
  version, its signatures and its proofs stay.
* ``outbox`` — one row per Merkle leaf to anchor: an accepted version (``agreement_id``,
  ``version``: written in the same transaction as the acceptance) or an access receipt
  (``receipt_id``: written with the receipt); exactly one of the two is set. ``seq`` orders
  them; ``batch_id``/``leaf_index`` are set when a batch claims the row.
* ``access_receipts`` — every release of attested fields under a consent grant
  (:class:`ledger.consent.AccessReceipt`): ``body`` is the receipt's canonical bytes, the leaf
  entry (the one home of its content); ``grant_id``, ``caller`` and ``used_at`` are copied out of
  it to be queried. Never deleted; anchored like a version (its outbox row's batch).
  ``use_authorization`` (per-use receipts: the digest the customer signed) is unique: a
  per-use authorization covers one release.
* ``attestations`` — this member's identity attestations: the content ID of the encrypted
  disclosures document and its SM4 key, wrapped to the service's key (deleting the row
  crypto-shreds the fields); ``pending`` from before the attestation is sent until it is mined
  (``attested``); a refused one is deleted.
* ``grant_uses`` — per grant, how many receipts were written under it: the row
  :meth:`ledger.db.Database.record_receipt` counts up (or refuses to) atomically.
* ``batches`` — one Merkle batch: its leaves (outbox rows), root, the signed anchoring
  transaction (stored before it is sent) and, finally, the block it landed in. At most one batch
  is unfinished (``open`` or ``submitted``) at a time.
* ``batch_attempts`` — every signed anchoring transaction of a batch, stored before it is sent:
  the first, then each replacement of one stuck in the pool (same nonce, higher fees). The
  batch's own ``tx_hash``/``raw_tx``/``nonce`` are its latest attempt until it is anchored, then
  the attempt that was mined (what its proofs carry).
* ``inclusion_proofs`` — each anchored version's Merkle path (JSON list of lowercase hex sibling
  hashes, leaf level first; ``leaf_index`` tells left from right) and the root it leads to.
* ``receipt_proofs`` — the same for each anchored access receipt.
* ``erasures`` — every erasure of an agreement's document keys that was carried out: when, how
  it was authorized (the owning ``broker``, or a ``customer``-signed request: its key and nonce),
  who sent it and how many keys went.
* ``request_nonces`` — the (keyid, nonce) of every signed request accepted (RFC 9421), kept
  until its signature would be too old anyway (``expires_at``), so a replay is refused by every
  process on the database; expired rows are pruned.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from ledger.agreement import VERSION_KINDS, VERSION_STATUSES, ErasureMethod

#: Constraint names are fixed by convention so later migrations can address them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored as UTC; naive datetimes are refused (ambiguous)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"datetimes stored in the database must be aware, got {value!r}")
        value = value.astimezone(UTC)
        # SQLite has no time zones: store the UTC wall time; it sorts as text.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


#: Auto-incrementing 64-bit keys (SQLite only auto-increments ``INTEGER PRIMARY KEY``).
_BigSerial = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _length(column: str, size: int, *, nullable: bool = False) -> sa.CheckConstraint:
    test = f"length({column}) = {size}"
    return sa.CheckConstraint(
        f"{column} IS NULL OR {test}" if nullable else test, name=f"{column}_length"
    )


def _one_of(column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_valid")


BATCH_STATUSES = ("open", "submitted", "anchored")

agreement_versions = sa.Table(
    "agreement_versions",
    metadata,
    sa.Column("agreement_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("document_sm3", sa.LargeBinary, nullable=False),
    sa.Column("document_cid", sa.Text, nullable=False),
    sa.Column("media_type", sa.Text, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("required_roles", sa.JSON, nullable=False),
    sa.Column("chain_id", sa.BigInteger, nullable=False),
    sa.Column("contract", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("accepted_at", UTCDateTime, nullable=True),
    sa.Column("keys_erased_at", UTCDateTime, nullable=True),
    sa.Column("owner", sa.Text, nullable=True),
    sa.CheckConstraint(
        "length(agreement_id) = 36 AND substr(agreement_id, 1, 4) = 'agr_'", name="agreement_id"
    ),
    sa.CheckConstraint("version >= 1", name="version_positive"),
    _one_of("kind", VERSION_KINDS),
    _one_of("status", VERSION_STATUSES),
    sa.CheckConstraint("kind = 'agreement' OR version > 1", name="void_follows_a_version"),
    _length("document_sm3", 32),
    sa.CheckConstraint("size >= 0", name="size_not_negative"),
    sa.CheckConstraint("chain_id > 0", name="chain_id_positive"),
    sa.CheckConstraint(
        "(status = 'draft' AND accepted_at IS NULL)"
        " OR (status <> 'draft' AND accepted_at IS NOT NULL)",
        name="accepted_at_iff_accepted",
    ),
)
# Health and metrics count versions per status.
sa.Index(None, agreement_versions.c.status)

signatures = sa.Table(
    "signatures",
    metadata,
    sa.Column("agreement_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("role", sa.Text, primary_key=True),
    sa.Column("signed_at", UTCDateTime, nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("distid", sa.LargeBinary, nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.ForeignKeyConstraint(
        ["agreement_id", "version"],
        [agreement_versions.c.agreement_id, agreement_versions.c.version],
    ),
    _length("public_key", 65),
    sa.CheckConstraint("length(role) BETWEEN 1 AND 32", name="role_length"),
    sa.CheckConstraint("length(distid) >= 1", name="distid_not_empty"),
    sa.CheckConstraint("length(signature) >= 8", name="signature_not_empty"),
)

document_keys = sa.Table(
    "document_keys",
    metadata,
    sa.Column("agreement_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("reader_fingerprint", sa.LargeBinary, primary_key=True),
    sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
    sa.ForeignKeyConstraint(
        ["agreement_id", "version"],
        [agreement_versions.c.agreement_id, agreement_versions.c.version],
    ),
    _length("reader_fingerprint", 32),
    sa.CheckConstraint("length(wrapped_key) >= 1", name="wrapped_key_not_empty"),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("batch_id", _BigSerial, primary_key=True, autoincrement=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("first_seq", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("tx_hash", sa.LargeBinary, nullable=True, unique=True),
    sa.Column("raw_tx", sa.LargeBinary, nullable=True),
    sa.Column("nonce", sa.BigInteger, nullable=True),
    sa.Column("block_number", sa.BigInteger, nullable=True),
    sa.Column("block_hash", sa.LargeBinary, nullable=True),
    sa.Column("anchored_at", UTCDateTime, nullable=True),
    _one_of("status", BATCH_STATUSES),
    sa.CheckConstraint("size >= 1", name="size_positive"),
    sa.CheckConstraint("first_seq <= last_seq", name="seq_range"),
    _length("root", 32, nullable=True),
    _length("tx_hash", 32, nullable=True),
    _length("block_hash", 32, nullable=True),
    sa.CheckConstraint("nonce IS NULL OR nonce >= 0", name="nonce_not_negative"),
    sa.CheckConstraint(
        "status = 'open' OR (root IS NOT NULL AND raw_tx IS NOT NULL"
        " AND tx_hash IS NOT NULL AND nonce IS NOT NULL)",
        name="submitted_has_transaction",
    ),
    sa.CheckConstraint(
        "(status = 'anchored' AND block_number IS NOT NULL AND block_hash IS NOT NULL"
        " AND anchored_at IS NOT NULL)"
        " OR (status <> 'anchored' AND block_number IS NULL AND block_hash IS NULL"
        " AND anchored_at IS NULL)",
        name="anchored_has_block",
    ),
    sqlite_autoincrement=True,
)
# At most one unfinished batch: two batchers racing to create one cannot both succeed.
sa.Index(
    "uq_batches_one_unfinished",
    sa.text("(status <> 'anchored')"),
    unique=True,
    sqlite_where=sa.text("status <> 'anchored'"),
    postgresql_where=sa.text("status <> 'anchored'"),
)

batch_attempts = sa.Table(
    "batch_attempts",
    metadata,
    sa.Column("batch_id", sa.BigInteger, sa.ForeignKey(batches.c.batch_id), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("tx_hash", sa.LargeBinary, nullable=False, unique=True),
    sa.Column("raw_tx", sa.LargeBinary, nullable=False),
    sa.Column("nonce", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("attempt >= 0", name="attempt_not_negative"),
    _length("tx_hash", 32),
    sa.CheckConstraint("nonce >= 0", name="nonce_not_negative"),
)

access_receipts = sa.Table(
    "access_receipts",
    metadata,
    sa.Column("receipt_id", sa.Text, primary_key=True),
    sa.Column("grant_id", sa.LargeBinary, nullable=False, index=True),
    sa.Column("caller", sa.Text, nullable=False),
    sa.Column("used_at", UTCDateTime, nullable=False, index=True),
    sa.Column("body", sa.LargeBinary, nullable=False),
    # Copied out of the body (per-use receipts only): a per-use authorization is used once.
    sa.Column("use_authorization", sa.LargeBinary, nullable=True),
    sa.CheckConstraint(
        "length(receipt_id) = 37 AND substr(receipt_id, 1, 5) = 'rcpt_'", name="receipt_id"
    ),
    _length("grant_id", 32),
    sa.CheckConstraint("length(body) >= 1", name="body_not_empty"),
    _length("use_authorization", 32, nullable=True),
)
# A customer's per-use authorization covers one release: a second receipt for it is refused.
sa.Index(
    "ix_access_receipts_use_authorization",
    access_receipts.c.use_authorization,
    unique=True,
    sqlite_where=access_receipts.c.use_authorization.isnot(None),
    postgresql_where=access_receipts.c.use_authorization.isnot(None),
)

#: ``attestations.state``: stored before the attestation is sent, ``attested`` once mined.
ATTESTATION_STATES = ("pending", "attested")

attestations = sa.Table(
    "attestations",
    metadata,
    sa.Column("attestation_id", sa.LargeBinary, primary_key=True),
    sa.Column("attester", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("content_cid", sa.Text, nullable=False),
    sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("supersedes", sa.LargeBinary, nullable=True),
    _length("attestation_id", 32),
    _one_of("state", ATTESTATION_STATES),
    sa.CheckConstraint("length(content_cid) BETWEEN 1 AND 128", name="content_cid_length"),
    sa.CheckConstraint("length(wrapped_key) >= 1", name="wrapped_key_not_empty"),
    _length("supersedes", 32, nullable=True),
)

grant_uses = sa.Table(
    "grant_uses",
    metadata,
    sa.Column("grant_id", sa.LargeBinary, primary_key=True),
    sa.Column("uses", sa.BigInteger, nullable=False),
    _length("grant_id", 32),
    sa.CheckConstraint("uses >= 1", name="uses_positive"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("seq", _BigSerial, primary_key=True, autoincrement=True),
    sa.Column("agreement_id", sa.Text, nullable=True),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("leaf", sa.LargeBinary, nullable=False),
    sa.Column("accepted_at", UTCDateTime, nullable=False),
    sa.Column("batch_id", sa.BigInteger, sa.ForeignKey(batches.c.batch_id), nullable=True),
    sa.Column("leaf_index", sa.Integer, nullable=True),
    sa.Column(
        "receipt_id",
        sa.Text,
        sa.ForeignKey(access_receipts.c.receipt_id),
        nullable=True,
        unique=True,
    ),
    sa.ForeignKeyConstraint(
        ["agreement_id", "version"],
        [agreement_versions.c.agreement_id, agreement_versions.c.version],
    ),
    sa.UniqueConstraint("agreement_id", "version"),
    # Also the index that reads a batch's leaves in order.
    sa.UniqueConstraint("batch_id", "leaf_index"),
    _length("leaf", 32),
    sa.CheckConstraint(
        "(batch_id IS NULL AND leaf_index IS NULL)"
        " OR (batch_id IS NOT NULL AND leaf_index IS NOT NULL AND leaf_index >= 0)",
        name="claimed_has_leaf_index",
    ),
    sa.CheckConstraint(
        "(agreement_id IS NOT NULL AND version IS NOT NULL AND receipt_id IS NULL)"
        " OR (agreement_id IS NULL AND version IS NULL AND receipt_id IS NOT NULL)",
        name="leaf_of_one",
    ),
    sqlite_autoincrement=True,
)
# The batcher's queue: unclaimed rows in seq order.
sa.Index(
    "ix_outbox_unbatched",
    outbox.c.seq,
    sqlite_where=outbox.c.batch_id.is_(None),
    postgresql_where=outbox.c.batch_id.is_(None),
)

inclusion_proofs = sa.Table(
    "inclusion_proofs",
    metadata,
    sa.Column("agreement_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("batch_id", sa.BigInteger, sa.ForeignKey(batches.c.batch_id), nullable=False),
    sa.Column("leaf_index", sa.Integer, nullable=False),
    sa.Column("path", sa.JSON, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.ForeignKeyConstraint(["agreement_id", "version"], [outbox.c.agreement_id, outbox.c.version]),
    sa.UniqueConstraint("batch_id", "leaf_index"),
    sa.CheckConstraint("leaf_index >= 0", name="leaf_index_not_negative"),
    _length("root", 32),
)

receipt_proofs = sa.Table(
    "receipt_proofs",
    metadata,
    sa.Column("receipt_id", sa.Text, sa.ForeignKey(outbox.c.receipt_id), primary_key=True),
    sa.Column("batch_id", sa.BigInteger, sa.ForeignKey(batches.c.batch_id), nullable=False),
    sa.Column("leaf_index", sa.Integer, nullable=False),
    sa.Column("path", sa.JSON, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("batch_id", "leaf_index"),
    sa.CheckConstraint("leaf_index >= 0", name="leaf_index_not_negative"),
    _length("root", 32),
)

request_nonces = sa.Table(
    "request_nonces",
    metadata,
    sa.Column("keyid", sa.Text, primary_key=True),
    sa.Column("nonce", sa.Text, primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("length(keyid) BETWEEN 1 AND 256", name="keyid_length"),
    sa.CheckConstraint("length(nonce) BETWEEN 1 AND 128", name="nonce_length"),
    sa.CheckConstraint("created_at < expires_at", name="expires_after_created"),
)
# Pruning deletes the expired rows.
sa.Index(None, request_nonces.c.expires_at)

ERASURE_METHODS = tuple(method.value for method in ErasureMethod)

erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("erasure_id", _BigSerial, primary_key=True, autoincrement=True),
    sa.Column("agreement_id", sa.Text, nullable=False, index=True),
    sa.Column("erased_at", UTCDateTime, nullable=False),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("caller_member_id", sa.Text, nullable=False),
    sa.Column("caller_keyid", sa.Text, nullable=False),
    sa.Column("keys_erased", sa.Integer, nullable=False),
    sa.Column("customer_key", sa.LargeBinary, nullable=True),
    sa.Column("nonce", sa.Text, nullable=True),
    _one_of("method", ERASURE_METHODS),
    sa.CheckConstraint(
        "(method = 'customer' AND customer_key IS NOT NULL AND nonce IS NOT NULL)"
        " OR (method = 'broker' AND customer_key IS NULL AND nonce IS NULL)",
        name="customer_request",
    ),
    _length("customer_key", 65, nullable=True),
    sa.CheckConstraint("keys_erased >= 0", name="keys_erased_not_negative"),
    sqlite_autoincrement=True,
)
