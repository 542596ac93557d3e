"""Wrapped document keys per version and reader, and when an agreement's keys were erased.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

``document_keys`` holds each version's document key wrapped (SM2-encrypted) to each reader;
erasing them crypto-shreds the stored document. ``agreement_versions.keys_erased_at`` records
when that happened. Types are spelled out (not imported from ledger.db.schema), as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: a plain ALTER TABLE ... ADD COLUMN, also on SQLite.
    op.add_column(
        "agreement_versions",
        sa.Column("keys_erased_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "document_keys",
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reader_fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "length(reader_fingerprint) = 32",
            name=op.f("ck_document_keys_reader_fingerprint_length"),
        ),
        sa.CheckConstraint(
            "length(wrapped_key) >= 1", name=op.f("ck_document_keys_wrapped_key_not_empty")
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id", "version"],
            ["agreement_versions.agreement_id", "agreement_versions.version"],
            name=op.f("fk_document_keys_agreement_id_version_agreement_versions"),
        ),
        sa.PrimaryKeyConstraint(
            "agreement_id", "version", "reader_fingerprint", name=op.f("pk_document_keys")
        ),
    )


def downgrade() -> None:
    op.drop_table("document_keys")
    # SQLite (3.35+) drops a column no constraint or index mentions in place: no table copy,
    # which matters here since other tables' foreign keys refer to agreement_versions.
    op.drop_column("agreement_versions", "keys_erased_at")
