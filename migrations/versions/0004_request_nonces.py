"""The nonces of signed requests (RFC 9421), remembered for their window.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

``request_nonces`` holds the (keyid, nonce) of every signed request a service accepted until its
signature could no longer pass the ``created`` window (``expires_at``), so that every process of
a member refuses a replay. Types are spelled out (not imported from ledger.db.schema), as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "request_nonces",
        sa.Column("keyid", sa.Text(), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "length(keyid) BETWEEN 1 AND 256", name=op.f("ck_request_nonces_keyid_length")
        ),
        sa.CheckConstraint(
            "length(nonce) BETWEEN 1 AND 128", name=op.f("ck_request_nonces_nonce_length")
        ),
        sa.CheckConstraint(
            "created_at < expires_at", name=op.f("ck_request_nonces_expires_after_created")
        ),
        sa.PrimaryKeyConstraint("keyid", "nonce", name=op.f("pk_request_nonces")),
    )
    op.create_index(
        op.f("ix_request_nonces_expires_at"), "request_nonces", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_request_nonces_expires_at"), table_name="request_nonces")
    op.drop_table("request_nonces")
