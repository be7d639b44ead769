from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from tests.tools.platforms.ledger_builders import build_practice
from tools.db import Base, create_engine
from tools.platforms.ledger import LedgerPlatform, is_empty, migrate, reset
from tools.platforms.ledger.schema import current_revision
from tools.platforms.ledger.tables import LEDGER_TABLES
from tools.platforms.models import PaymentMethod, PaymentRequest, PaymentSource


def _ledger_metadata() -> MetaData:
    ledger = MetaData(naming_convention=Base.metadata.naming_convention)
    for name in LEDGER_TABLES:
        Base.metadata.tables[name].to_metadata(ledger)
    return ledger


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    ledger = _ledger_metadata()

    def only_ledger(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        return not (type_ == "table" and name not in LEDGER_TABLES)

    context.opts["include_object"] = only_ledger
    return list(compare_metadata(context, ledger))


async def test_migrated_schema_matches_the_orm(database_url: str) -> None:
    await migrate(database_url)
    await migrate(database_url)  # a second run is a no-op
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine) == "0001_ledger"
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_is_empty_and_reset(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await is_empty(engine)  # no tables at all yet
        await migrate(database_url)
        assert await is_empty(engine)
        await LedgerPlatform(engine).bulk_load(build_practice(patients=2))
        assert not await is_empty(engine)
        await engine.dispose()
        await reset(database_url)
        assert await is_empty(engine)
        assert await current_revision(engine) == "0001_ledger"
    finally:
        await engine.dispose()


async def test_instants_are_stored_utc_and_read_back_aware(migrated_database_url: str) -> None:
    engine = create_engine(migrated_database_url)
    local = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    try:
        ledger = LedgerPlatform(engine, clock=lambda: local)
        await ledger.bulk_load(build_practice(patients=1))
        request = PaymentRequest(
            statement_id=None,
            amount_cents=100,
            method=PaymentMethod.CASH,
            source=PaymentSource.FRONT_DESK,
            idempotency_key="tz",
        )
        await ledger.record_payment("p0", request)
        posted = next(p for p in await ledger.list_payments("p0") if p.idempotency_key == "tz").posted_at
        assert posted == local
        assert posted.utcoffset() == timedelta(0)
    finally:
        await engine.dispose()
