"""outage handoffs: requests for a person queued while the practice system is down

Revision ID: 0011_outage_handoffs
Revises: 0010_thread_outreach_step
Create Date: 2026-12-06 19:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_outage_handoffs"
down_revision: str | None = "0010_thread_outreach_step"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outage_handoffs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("thread_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ticket_id", sa.String(length=64), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outage_handoffs")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outage_handoffs_idempotency_key")),
    )
    op.create_index(op.f("ix_outage_handoffs_thread_id"), "outage_handoffs", ["thread_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_outage_handoffs_thread_id"), table_name="outage_handoffs")
    op.drop_table("outage_handoffs")
