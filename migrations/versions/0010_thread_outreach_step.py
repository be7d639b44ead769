"""threads.outreach_step_id: the outreach message whose link opened a portal chat (its offer in context)

Revision ID: 0010_thread_outreach_step
Revises: 0009_delivery_receipts
Create Date: 2026-12-06 19:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_thread_outreach_step"
down_revision: str | None = "0009_delivery_receipts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outreach_step_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_column("outreach_step_id")
