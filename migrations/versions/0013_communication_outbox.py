"""communication outbox: transcript lines waiting to be logged on the practice system

Revision ID: 0013_communication_outbox
Revises: 0012_platform_payment_keys
Create Date: 2026-12-06 22:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_communication_outbox"
down_revision: str | None = "0012_platform_payment_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "communication_outbox",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_communication_outbox")),
        sa.UniqueConstraint("patient_id", "key", name=op.f("uq_communication_outbox_patient_id_key")),
    )
    with op.batch_alter_table("communication_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_communication_outbox_dead_seq", ["dead", "seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_communication_outbox_thread_id"), ["thread_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("communication_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_communication_outbox_thread_id"))
        batch_op.drop_index("ix_communication_outbox_dead_seq")
    op.drop_table("communication_outbox")
