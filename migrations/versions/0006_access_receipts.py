"""Access receipts, anchored through the outbox with the agreement versions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

``access_receipts`` holds every release of attested fields under a consent grant (the receipt's
canonical bytes, with its grant, caller and time copied out to be queried); ``grant_uses`` the
per-grant count of receipts that :meth:`ledger.db.Database.record_receipt` raises atomically
against a grant's maximum; ``receipt_proofs`` each anchored receipt's Merkle path.

An outbox row becomes either an agreement version or a receipt: ``agreement_id`` and
``version`` turn nullable, ``receipt_id`` (unique, referencing the receipt) is added, and a CHECK
holds exactly one of the two set. The existing unique key and foreign key on (agreement_id,
version) keep their meaning (NULLs are neither compared nor followed), so every version's
row, and ``inclusion_proofs``' reference to it, stay as they are. On SQLite the outbox is
rebuilt (it cannot drop NOT NULL in place) by hand, foreign keys deferred: Alembic's batch mode
drops the old table while ``inclusion_proofs`` rows still point at it, which SQLite refuses.
Types are spelled out (not imported from ledger.db.schema), as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ONE_OF = (
    "(agreement_id IS NOT NULL AND version IS NOT NULL AND receipt_id IS NULL)"
    " OR (agreement_id IS NULL AND version IS NULL AND receipt_id IS NOT NULL)"
)
_CLAIMED = (
    "(batch_id IS NULL AND leaf_index IS NULL)"
    " OR (batch_id IS NOT NULL AND leaf_index IS NOT NULL AND leaf_index >= 0)"
)
_OUTBOX_COLUMNS = "seq, agreement_id, version, leaf, accepted_at, batch_id, leaf_index"


def _create_outbox(*, receipts: bool) -> None:
    """The outbox as 0001 made it (``receipts=False``), or as this revision makes it."""
    columns: list[sa.SchemaItem] = [
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agreement_id", sa.Text(), nullable=receipts),
        sa.Column("version", sa.Integer(), nullable=receipts),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
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
        sa.CheckConstraint("length(leaf) = 32", name=op.f("ck_outbox_leaf_length")),
        sa.CheckConstraint(_CLAIMED, name=op.f("ck_outbox_claimed_has_leaf_index")),
    ]
    if receipts:
        columns += [
            sa.Column("receipt_id", sa.Text(), nullable=True),
            sa.ForeignKeyConstraint(
                ["receipt_id"],
                ["access_receipts.receipt_id"],
                name=op.f("fk_outbox_receipt_id_access_receipts"),
            ),
            sa.UniqueConstraint("receipt_id", name=op.f("uq_outbox_receipt_id")),
            sa.CheckConstraint(_ONE_OF, name=op.f("ck_outbox_leaf_of_one")),
        ]
    op.create_table("outbox", *columns, sqlite_autoincrement=True)


def _rebuild_sqlite_outbox(*, receipts: bool) -> None:
    """Copy the outbox aside, drop it, create it in the new shape and copy the rows back, every
    row keeping its ``seq``. Foreign keys are deferred to the commit: dropping the outbox
    leaves ``inclusion_proofs`` rows without their parent rows until the copy brings them back
    (SQLite counts the violations and uncounts them as the parents return; a renamed table
    would take ``inclusion_proofs``' reference along with it)."""
    bind = op.get_bind()
    bind.exec_driver_sql("PRAGMA defer_foreign_keys = ON")  # until the transaction ends
    bind.exec_driver_sql("CREATE TEMP TABLE outbox_copy AS SELECT * FROM outbox")
    op.drop_index("ix_outbox_unbatched", table_name="outbox")
    bind.exec_driver_sql("DROP TABLE outbox")
    _create_outbox(receipts=receipts)
    where = "" if receipts else " WHERE receipt_id IS NULL"
    bind.exec_driver_sql(
        f"INSERT INTO outbox ({_OUTBOX_COLUMNS}) SELECT {_OUTBOX_COLUMNS} FROM outbox_copy" + where
    )
    bind.exec_driver_sql("DROP TABLE outbox_copy")
    _index_unbatched()


def _index_unbatched() -> None:
    op.create_index(
        "ix_outbox_unbatched",
        "outbox",
        ["seq"],
        unique=False,
        sqlite_where=sa.text("batch_id IS NULL"),
        postgresql_where=sa.text("batch_id IS NULL"),
    )


def upgrade() -> None:
    op.create_table(
        "access_receipts",
        sa.Column("receipt_id", sa.Text(), nullable=False),
        sa.Column("grant_id", sa.LargeBinary(), nullable=False),
        sa.Column("caller", sa.Text(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "length(receipt_id) = 37 AND substr(receipt_id, 1, 5) = 'rcpt_'",
            name=op.f("ck_access_receipts_receipt_id"),
        ),
        sa.CheckConstraint(
            "length(grant_id) = 32", name=op.f("ck_access_receipts_grant_id_length")
        ),
        sa.CheckConstraint("length(body) >= 1", name=op.f("ck_access_receipts_body_not_empty")),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_access_receipts")),
    )
    op.create_index(
        op.f("ix_access_receipts_grant_id"), "access_receipts", ["grant_id"], unique=False
    )
    op.create_index(
        op.f("ix_access_receipts_used_at"), "access_receipts", ["used_at"], unique=False
    )
    op.create_table(
        "grant_uses",
        sa.Column("grant_id", sa.LargeBinary(), nullable=False),
        sa.Column("uses", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("length(grant_id) = 32", name=op.f("ck_grant_uses_grant_id_length")),
        sa.CheckConstraint("uses >= 1", name=op.f("ck_grant_uses_uses_positive")),
        sa.PrimaryKeyConstraint("grant_id", name=op.f("pk_grant_uses")),
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_outbox(receipts=True)
    else:
        op.alter_column("outbox", "agreement_id", existing_type=sa.Text(), nullable=True)
        op.alter_column("outbox", "version", existing_type=sa.Integer(), nullable=True)
        op.add_column("outbox", sa.Column("receipt_id", sa.Text(), nullable=True))
        op.create_unique_constraint(op.f("uq_outbox_receipt_id"), "outbox", ["receipt_id"])
        op.create_foreign_key(
            op.f("fk_outbox_receipt_id_access_receipts"),
            "outbox",
            "access_receipts",
            ["receipt_id"],
            ["receipt_id"],
        )
        op.create_check_constraint(op.f("ck_outbox_leaf_of_one"), "outbox", _ONE_OF)
    op.create_table(
        "receipt_proofs",
        sa.Column("receipt_id", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "leaf_index >= 0", name=op.f("ck_receipt_proofs_leaf_index_not_negative")
        ),
        sa.CheckConstraint("length(root) = 32", name=op.f("ck_receipt_proofs_root_length")),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.batch_id"],
            name=op.f("fk_receipt_proofs_batch_id_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["outbox.receipt_id"],
            name=op.f("fk_receipt_proofs_receipt_id_outbox"),
        ),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_receipt_proofs")),
        sa.UniqueConstraint(
            "batch_id", "leaf_index", name=op.f("uq_receipt_proofs_batch_id_leaf_index")
        ),
    )


def downgrade() -> None:
    """Receipts go (their proofs, their outbox rows, their counts); versions stay. A batch that
    held receipts keeps its size and root, now over fewer outbox rows: going down is for
    development, not for a database whose receipts were anchored."""
    op.drop_table("receipt_proofs")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite_outbox(receipts=False)
    else:
        op.execute("DELETE FROM outbox WHERE receipt_id IS NOT NULL")
        op.drop_constraint(op.f("ck_outbox_leaf_of_one"), "outbox", type_="check")
        op.drop_constraint(
            op.f("fk_outbox_receipt_id_access_receipts"), "outbox", type_="foreignkey"
        )
        op.drop_constraint(op.f("uq_outbox_receipt_id"), "outbox", type_="unique")
        op.drop_column("outbox", "receipt_id")
        op.alter_column("outbox", "version", existing_type=sa.Integer(), nullable=False)
        op.alter_column("outbox", "agreement_id", existing_type=sa.Text(), nullable=False)
    op.drop_table("grant_uses")
    op.drop_index(op.f("ix_access_receipts_used_at"), table_name="access_receipts")
    op.drop_index(op.f("ix_access_receipts_grant_id"), table_name="access_receipts")
    op.drop_table("access_receipts")
