"""Agreement versions, signatures, the outbox, batches and inclusion proofs.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Types are spelled out here (not imported from ledger.db.schema) so this revision keeps meaning
what it meant when later revisions change the schema module.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "agreement_versions",
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("document_sm3", sa.LargeBinary(), nullable=False),
        sa.Column("document_cid", sa.Text(), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("required_roles", sa.JSON(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.Text(), nullable=False),
        _time("created_at"),
        _time("accepted_at", nullable=True),
        sa.CheckConstraint(
            "(status = 'draft' AND accepted_at IS NULL)"
            " OR (status <> 'draft' AND accepted_at IS NOT NULL)",
            name=op.f("ck_agreement_versions_accepted_at_iff_accepted"),
        ),
        sa.CheckConstraint(
            "kind = 'agreement' OR version > 1",
            name=op.f("ck_agreement_versions_void_follows_a_version"),
        ),
        sa.CheckConstraint(
            "kind IN ('agreement', 'void')", name=op.f("ck_agreement_versions_kind_valid")
        ),
        sa.CheckConstraint(
            "length(agreement_id) = 36 AND substr(agreement_id, 1, 4) = 'agr_'",
            name=op.f("ck_agreement_versions_agreement_id"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'accepted', 'anchored')",
            name=op.f("ck_agreement_versions_status_valid"),
        ),
        sa.CheckConstraint("chain_id > 0", name=op.f("ck_agreement_versions_chain_id_positive")),
        sa.CheckConstraint(
            "length(document_sm3) = 32", name=op.f("ck_agreement_versions_document_sm3_length")
        ),
        sa.CheckConstraint("size >= 0", name=op.f("ck_agreement_versions_size_not_negative")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_agreement_versions_version_positive")),
        sa.PrimaryKeyConstraint("agreement_id", "version", name=op.f("pk_agreement_versions")),
    )
    op.create_index(
        op.f("ix_agreement_versions_status"), "agreement_versions", ["status"], unique=False
    )

    op.create_table(
        "batches",
        sa.Column("batch_id", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=True),
        _time("created_at"),
        sa.Column("tx_hash", sa.LargeBinary(), nullable=True),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("block_hash", sa.LargeBinary(), nullable=True),
        _time("anchored_at", nullable=True),
        sa.CheckConstraint(
            "(status = 'anchored' AND block_number IS NOT NULL AND block_hash IS NOT NULL"
            " AND anchored_at IS NOT NULL)"
            " OR (status <> 'anchored' AND block_number IS NULL AND block_hash IS NULL"
            " AND anchored_at IS NULL)",
            name=op.f("ck_batches_anchored_has_block"),
        ),
        sa.CheckConstraint(
            "status = 'open' OR (root IS NOT NULL AND raw_tx IS NOT NULL"
            " AND tx_hash IS NOT NULL AND nonce IS NOT NULL)",
            name=op.f("ck_batches_submitted_has_transaction"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'submitted', 'anchored')", name=op.f("ck_batches_status_valid")
        ),
        sa.CheckConstraint(
            "block_hash IS NULL OR length(block_hash) = 32",
            name=op.f("ck_batches_block_hash_length"),
        ),
        sa.CheckConstraint("first_seq <= last_seq", name=op.f("ck_batches_seq_range")),
        sa.CheckConstraint(
            "nonce IS NULL OR nonce >= 0", name=op.f("ck_batches_nonce_not_negative")
        ),
        sa.CheckConstraint(
            "root IS NULL OR length(root) = 32", name=op.f("ck_batches_root_length")
        ),
        sa.CheckConstraint("size >= 1", name=op.f("ck_batches_size_positive")),
        sa.CheckConstraint(
            "tx_hash IS NULL OR length(tx_hash) = 32", name=op.f("ck_batches_tx_hash_length")
        ),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batches")),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_batches_tx_hash")),
        sqlite_autoincrement=True,
    )
    # At most one unfinished (open or submitted) batch.
    op.create_index(
        "uq_batches_one_unfinished",
        "batches",
        [sa.text("(status <> 'anchored')")],
        unique=True,
        sqlite_where=sa.text("status <> 'anchored'"),
        postgresql_where=sa.text("status <> 'anchored'"),
    )

    op.create_table(
        "outbox",
        sa.Column("seq", _BIG_SERIAL, autoincrement=True, nullable=False),
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        _time("accepted_at"),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(batch_id IS NULL AND leaf_index IS NULL)"
            " OR (batch_id IS NOT NULL AND leaf_index IS NOT NULL AND leaf_index >= 0)",
            name=op.f("ck_outbox_claimed_has_leaf_index"),
        ),
        sa.CheckConstraint("length(leaf) = 32", name=op.f("ck_outbox_leaf_length")),
        sa.ForeignKeyConstraint(
            ["agreement_id", "version"],
            ["agreement_versions.agreement_id", "agreement_versions.version"],
            name=op.f("fk_outbox_agreement_id_version_agreement_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name=op.f("fk_outbox_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
        sa.UniqueConstraint("agreement_id", "version", name=op.f("uq_outbox_agreement_id_version")),
        sa.UniqueConstraint("batch_id", "leaf_index", name=op.f("uq_outbox_batch_id_leaf_index")),
        sqlite_autoincrement=True,
    )
    # The batcher's queue: unclaimed rows in seq order.
    op.create_index(
        "ix_outbox_unbatched",
        "outbox",
        ["seq"],
        unique=False,
        sqlite_where=sa.text("batch_id IS NULL"),
        postgresql_where=sa.text("batch_id IS NULL"),
    )

    op.create_table(
        "signatures",
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        _time("signed_at"),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("distid", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        _time("recorded_at"),
        sa.CheckConstraint("length(distid) >= 1", name=op.f("ck_signatures_distid_not_empty")),
        sa.CheckConstraint("length(public_key) = 65", name=op.f("ck_signatures_public_key_length")),
        sa.CheckConstraint("length(role) BETWEEN 1 AND 32", name=op.f("ck_signatures_role_length")),
        sa.CheckConstraint(
            "length(signature) >= 8", name=op.f("ck_signatures_signature_not_empty")
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id", "version"],
            ["agreement_versions.agreement_id", "agreement_versions.version"],
            name=op.f("fk_signatures_agreement_id_version_agreement_versions"),
        ),
        sa.PrimaryKeyConstraint("agreement_id", "version", "role", name=op.f("pk_signatures")),
    )

    op.create_table(
        "inclusion_proofs",
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "leaf_index >= 0", name=op.f("ck_inclusion_proofs_leaf_index_not_negative")
        ),
        sa.CheckConstraint("length(root) = 32", name=op.f("ck_inclusion_proofs_root_length")),
        sa.ForeignKeyConstraint(
            ["agreement_id", "version"],
            ["outbox.agreement_id", "outbox.version"],
            name=op.f("fk_inclusion_proofs_agreement_id_version_outbox"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name=op.f("fk_inclusion_proofs_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("agreement_id", "version", name=op.f("pk_inclusion_proofs")),
        sa.UniqueConstraint(
            "batch_id", "leaf_index", name=op.f("uq_inclusion_proofs_batch_id_leaf_index")
        ),
    )


def downgrade() -> None:
    op.drop_table("inclusion_proofs")
    op.drop_table("signatures")
    op.drop_index("ix_outbox_unbatched", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("uq_batches_one_unfinished", table_name="batches")
    op.drop_table("batches")
    op.drop_index(op.f("ix_agreement_versions_status"), table_name="agreement_versions")
    op.drop_table("agreement_versions")
