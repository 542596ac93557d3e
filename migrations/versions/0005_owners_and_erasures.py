"""Who owns each agreement, and every erasure of its documents.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

``agreement_versions.owner`` is the member whose broker created the version (all versions of an
agreement have its owner); versions stored before calls were attributed keep NULL. ``erasures``
records every crypto-shredding request that was carried out: when, how it was authorized
(``broker``: the owning broker; ``customer``: a request signed by the agreement's customer key,
whose key and nonce are kept), who sent it and how many keys went. Types are spelled out (not
imported from ledger.db.schema), as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: a plain ALTER TABLE ... ADD COLUMN, also on SQLite.
    op.add_column("agreement_versions", sa.Column("owner", sa.Text(), nullable=True))
    op.create_table(
        "erasures",
        sa.Column(
            "erasure_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("caller_member_id", sa.Text(), nullable=False),
        sa.Column("caller_keyid", sa.Text(), nullable=False),
        sa.Column("keys_erased", sa.Integer(), nullable=False),
        sa.Column("customer_key", sa.LargeBinary(), nullable=True),
        sa.Column("nonce", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "method IN ('broker', 'customer')", name=op.f("ck_erasures_method_valid")
        ),
        sa.CheckConstraint(
            "(method = 'customer' AND customer_key IS NOT NULL AND nonce IS NOT NULL)"
            " OR (method = 'broker' AND customer_key IS NULL AND nonce IS NULL)",
            name=op.f("ck_erasures_customer_request"),
        ),
        sa.CheckConstraint(
            "customer_key IS NULL OR length(customer_key) = 65",
            name=op.f("ck_erasures_customer_key_length"),
        ),
        sa.CheckConstraint("keys_erased >= 0", name=op.f("ck_erasures_keys_erased_not_negative")),
        sa.PrimaryKeyConstraint("erasure_id", name=op.f("pk_erasures")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_erasures_agreement_id"), "erasures", ["agreement_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_erasures_agreement_id"), table_name="erasures")
    op.drop_table("erasures")
    # SQLite (3.35+) drops a column no constraint or index mentions in place.
    op.drop_column("agreement_versions", "owner")
