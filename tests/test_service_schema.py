"""The service's own tables: Alembic history matches the ORM, and it lives beside
the ledger's history in one database without either touching the other."""

from __future__ import annotations

import os
import secrets

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import guardrails.audit
import tools.payments.sandbox
from migrations import VERSION_TABLE
from tests.conftest import Recorded, _pg_conninfo, _with_schema, migrate_all, replay_migration
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


CATALOG = [
    # columns, constraints, indexes and sequences: everything of a schema but its name
    """select table_name, column_name, data_type, is_nullable, column_default from information_schema.columns
       where table_schema = current_schema() order by 1, 2""",
    """select cl.relname, co.conname, pg_get_constraintdef(co.oid) from pg_constraint co
       join pg_class cl on cl.oid = co.conrelid where cl.relnamespace = current_schema()::regnamespace
       order by 1, 2""",
    """select tablename, indexname, replace(indexdef, current_schema() || '.', '') from pg_indexes
       where schemaname = current_schema() order by 1, 2""",
    """select sequence_name, start_value, increment from information_schema.sequences
       where sequence_schema = current_schema() order by 1""",
]


def _catalog(url: str) -> list[list[tuple[object, ...]]]:
    with psycopg.connect(_pg_conninfo(url)) as conn:
        tables = [r[0] for r in conn.execute(CATALOG[0].replace("column_name, data_type", "1, 1"))]
        out = [conn.execute(q).fetchall() for q in CATALOG]
        out.append(
            [(t, *conn.execute(f'select count(*) from "{t}"').fetchall()) for t in sorted(set(tables))]
        )
        out.append(conn.execute("select * from alembic_version").fetchall())
        out.append(conn.execute(f"select * from {VERSION_TABLE}").fetchall())
        return out


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_replayed_migration_is_the_migration(
    database_url: str, postgres_migration: Recorded | None
) -> None:
    """``migrated_database_url`` on PostgreSQL replays the statements a migration sent (conftest): the
    schema it gives is the one the migrations give, table by table, with the same rows."""
    assert postgres_migration is not None
    await migrate_all(database_url)
    other = f"t_{secrets.token_hex(8)}"
    base = os.environ["TEST_DATABASE_URL"]
    with psycopg.connect(_pg_conninfo(base), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{other}"')
    try:
        replay_migration(_with_schema(base, other), postgres_migration)
        assert _catalog(_with_schema(base, other)) == _catalog(database_url)
    finally:
        with psycopg.connect(_pg_conninfo(base), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{other}" CASCADE')
