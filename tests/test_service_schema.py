"""The service's own tables: Alembic history matches the ORM, and it lives beside
the ledger's history in one database without either touching the other."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import guardrails.audit
import tools.payments.sandbox
from migrations import VERSION_TABLE
from tools.db import Base, create_engine


def _not_a_version_table(name: str | None, type_: str, _parents: object) -> bool:
    return not (type_ == "table" and name in {"alembic_version", VERSION_TABLE})


async def test_migrated_schema_matches_the_orm(migrated_database_url: str) -> None:
    assert guardrails.audit.AuditLogRow.__tablename__ == "audit_log"
    assert tools.payments.sandbox.PaymentLinkRow.__tablename__ == "payment_links"
    engine = create_engine(migrated_database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(
                        sync, opts={"compare_type": True, "include_name": _not_a_version_table}
                    ),
                    Base.metadata,
                )
            )
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
    assert diff == []
    assert {"audit_log", "payment_links", "patients", "alembic_version", VERSION_TABLE} <= tables
