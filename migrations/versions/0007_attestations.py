"""Identity attestations kept by their attester, and a per-use authorization used once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

``attestations`` holds, per identity attestation this member made, the content ID of its
encrypted disclosures document and that document's SM4 key wrapped to the service's key (the
one copy of the key: deleting the row crypto-shreds the fields). ``access_receipts`` gains
``use_authorization`` (the digest a customer signed for one use of a per-use grant), unique
where set: a second receipt for one authorization is refused by the database, whichever
service process writes it. Receipts written before have none (their bodies say it; standing
receipts never have one). Types are spelled out, as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEX = "ix_access_receipts_use_authorization"
_CHECK = "ck_access_receipts_use_authorization_length"
_LENGTH = "use_authorization IS NULL OR length(use_authorization) = 32"


def upgrade() -> None:
    op.create_table(
        "attestations",
        sa.Column("attestation_id", sa.LargeBinary(), nullable=False),
        sa.Column("attester", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("content_cid", sa.Text(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("supersedes", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint(
            "length(attestation_id) = 32", name=op.f("ck_attestations_attestation_id_length")
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'attested')", name=op.f("ck_attestations_state_valid")
        ),
        sa.CheckConstraint(
            "length(content_cid) BETWEEN 1 AND 128",
            name=op.f("ck_attestations_content_cid_length"),
        ),
        sa.CheckConstraint(
            "length(wrapped_key) >= 1", name=op.f("ck_attestations_wrapped_key_not_empty")
        ),
        sa.CheckConstraint(
            "supersedes IS NULL OR length(supersedes) = 32",
            name=op.f("ck_attestations_supersedes_length"),
        ),
        sa.PrimaryKeyConstraint("attestation_id", name=op.f("pk_attestations")),
    )
    if op.get_bind().dialect.name == "sqlite":
        # In place, with its CHECK: a batch rebuild would drop the table the outbox refers to.
        op.get_bind().exec_driver_sql(
            "ALTER TABLE access_receipts ADD COLUMN use_authorization BLOB"
            f" CONSTRAINT {_CHECK} CHECK ({_LENGTH})"
        )
    else:
        op.add_column(
            "access_receipts", sa.Column("use_authorization", sa.LargeBinary(), nullable=True)
        )
        op.create_check_constraint(_CHECK, "access_receipts", _LENGTH)
    op.create_index(
        _INDEX,
        "access_receipts",
        ["use_authorization"],
        unique=True,
        sqlite_where=sa.text("use_authorization IS NOT NULL"),
        postgresql_where=sa.text("use_authorization IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="access_receipts")
    if op.get_bind().dialect.name == "sqlite":  # in place (SQLite 3.35+), as it was added
        op.get_bind().exec_driver_sql("ALTER TABLE access_receipts DROP COLUMN use_authorization")
    else:
        op.drop_constraint(_CHECK, "access_receipts", type_="check")
        op.drop_column("access_receipts", "use_authorization")
    op.drop_table("attestations")
