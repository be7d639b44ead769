"""platform payment keys: idempotency keys of payments posted to a platform that cannot search them

Revision ID: 0012_platform_payment_keys
Revises: 0011_outage_handoffs
Create Date: 2026-12-06 19:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_platform_payment_keys"
down_revision: str | None = "0011_outage_handoffs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_payment_keys",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_platform_payment_keys")),
    )


def downgrade() -> None:
    op.drop_table("platform_payment_keys")
