"""outreach delivery receipts: the provider's delivery status, error code and time per sent step

Revision ID: 0009_delivery_receipts
Revises: 0008_email_consent
Create Date: 2026-12-06 19:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_delivery_receipts"
down_revision: str | None = "0008_email_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outreach_steps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("delivery_error", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        # A status callback finds its step by the provider's message id.
        batch_op.create_index(batch_op.f("ix_outreach_steps_external_id"), ["external_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outreach_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outreach_steps_external_id"))
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("delivery_error")
        batch_op.drop_column("delivery_status")
