"""Every signed anchoring transaction of a batch (replacements of stuck ones included).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

``batch_attempts`` holds each signed transaction of a batch, stored before it is sent: the
first, and each replacement (same nonce, higher fees) of one that stayed in the pool. A batch
submitted before this revision gets its one transaction as attempt 0. Types are spelled out (not
imported from ledger.db.schema), as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "batch_attempts",
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("tx_hash", sa.LargeBinary(), nullable=False),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("attempt >= 0", name=op.f("ck_batch_attempts_attempt_not_negative")),
        sa.CheckConstraint("length(tx_hash) = 32", name=op.f("ck_batch_attempts_tx_hash_length")),
        sa.CheckConstraint("nonce >= 0", name=op.f("ck_batch_attempts_nonce_not_negative")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name=op.f("fk_batch_attempts_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("batch_id", "attempt", name=op.f("pk_batch_attempts")),
        sa.UniqueConstraint("tx_hash", name=op.f("uq_batch_attempts_tx_hash")),
    )
    op.execute(
        "INSERT INTO batch_attempts (batch_id, attempt, tx_hash, raw_tx, nonce, created_at)"
        " SELECT batch_id, 0, tx_hash, raw_tx, nonce, created_at FROM batches"
        " WHERE raw_tx IS NOT NULL ORDER BY batch_id"
    )


def downgrade() -> None:
    # Back to one transaction per batch: each keeps its own (the latest, or the mined one).
    op.drop_table("batch_attempts")
