"""Reliances: the accounts this member opened on another member's KYC, and what ended them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

``reliances`` holds, per account opened on a reused identity, what member B relied on: the
agreement, the attestation and the grant, the access receipt of the release, the attester and
B's own account, the fields, when, the attestation's expiry (so expiry, which no event
announces, is found by time), and whether the reliance still holds (``ok``) or the customer
must be verified again (``needs-reverification``, with the reason and when it took effect).
``lifecycle_ends`` keeps each end of an attestation or grant the lifecycle feed reported
(revoked, superseded, grant revoked): a reliance recorded after its end was read is marked on
insert. ``feed_cursors`` is where the feed resumes (the next block to read). Types are spelled
out (not imported from ledger.db.schema), as in 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUS = "status IN ('ok', 'needs-reverification')"
_AFFECTED = (
    "(status = 'ok' AND reason IS NULL AND affected_at IS NULL)"
    " OR (status = 'needs-reverification' AND reason IS NOT NULL AND affected_at IS NOT NULL)"
)
_REASONS = (
    "reason IN ('attestation-revoked', 'attestation-superseded', 'attestation-expired',"
    " 'grant-revoked')"
)


def upgrade() -> None:
    op.create_table(
        "reliances",
        sa.Column("receipt_id", sa.Text(), nullable=False),
        sa.Column("agreement_id", sa.Text(), nullable=False),
        sa.Column("attestation_id", sa.LargeBinary(), nullable=False),
        sa.Column("grant_id", sa.LargeBinary(), nullable=False),
        sa.Column("attester", sa.Text(), nullable=False),
        sa.Column("member", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("relied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("affected_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "length(receipt_id) = 37 AND substr(receipt_id, 1, 5) = 'rcpt_'",
            name=op.f("ck_reliances_receipt_id"),
        ),
        sa.CheckConstraint(
            "length(attestation_id) = 32", name=op.f("ck_reliances_attestation_id_length")
        ),
        sa.CheckConstraint("length(grant_id) = 32", name=op.f("ck_reliances_grant_id_length")),
        sa.CheckConstraint(_STATUS, name=op.f("ck_reliances_status_valid")),
        sa.CheckConstraint(_AFFECTED, name=op.f("ck_reliances_affected_has_reason")),
        sa.CheckConstraint(f"reason IS NULL OR {_REASONS}", name=op.f("ck_reliances_reason_valid")),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_reliances")),
        sa.UniqueConstraint("agreement_id", name=op.f("uq_reliances_agreement_id")),
    )
    for column in ("attestation_id", "grant_id", "relied_at"):
        op.create_index(op.f(f"ix_reliances_{column}"), "reliances", [column], unique=False)
    op.create_table(
        "lifecycle_ends",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("record_id", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('attestation', 'grant')", name=op.f("ck_lifecycle_ends_kind_valid")
        ),
        sa.CheckConstraint(
            "length(record_id) = 32", name=op.f("ck_lifecycle_ends_record_id_length")
        ),
        sa.CheckConstraint(_REASONS, name=op.f("ck_lifecycle_ends_reason_valid")),
        sa.CheckConstraint("block >= 0", name=op.f("ck_lifecycle_ends_block_not_negative")),
        sa.PrimaryKeyConstraint("kind", "record_id", name=op.f("pk_lifecycle_ends")),
    )
    op.create_table(
        "feed_cursors",
        sa.Column("feed", sa.Text(), nullable=False),
        sa.Column("next_block", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("next_block >= 0", name=op.f("ck_feed_cursors_next_block_not_negative")),
        sa.PrimaryKeyConstraint("feed", name=op.f("pk_feed_cursors")),
    )


def downgrade() -> None:
    op.drop_table("feed_cursors")
    op.drop_table("lifecycle_ends")
    for column in ("relied_at", "grant_id", "attestation_id"):
        op.drop_index(op.f(f"ix_reliances_{column}"), table_name="reliances")
    op.drop_table("reliances")
