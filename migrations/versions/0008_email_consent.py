"""email consent: unsubscribes, bounces, complaints, opt-ins and channel preference per address key

Revision ID: 0008_email_consent
Revises: 0007_outreach
Create Date: 2026-12-06 15:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_email_consent"
down_revision: str | None = "0007_outreach"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_consent_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("address_key", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=64), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_consent_events")),
        sa.UniqueConstraint("external_id", name=op.f("uq_email_consent_events_external_id")),
    )
    with op.batch_alter_table("email_consent_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_email_consent_events_address_key"), ["address_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("email_consent_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_consent_events_address_key"))
    op.drop_table("email_consent_events")
