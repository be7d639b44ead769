"""platform plans: payment plans for platforms without a plan object (DrChrono)

Revision ID: 0006_platform_plans
Revises: 0005_runtime
Create Date: 2026-12-06 15:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_platform_plans"
down_revision: str | None = "0005_runtime"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_payment_plans",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_payment_plans")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_platform_payment_plans_idempotency_key")),
    )
    op.create_index(
        op.f("ix_platform_payment_plans_patient_id"), "platform_payment_plans", ["patient_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_platform_payment_plans_patient_id"), table_name="platform_payment_plans")
    op.drop_table("platform_payment_plans")
