"""An engine with the ``payment_links`` table, on every database of the shared ``database_url`` fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tools.db import Base, create_engine
from tools.payments.sandbox import PaymentLinkRow


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    table = Base.metadata.tables[PaymentLinkRow.__tablename__]
    async with eng.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync, tables=[table]))
    try:
        yield eng
    finally:
        await eng.dispose()
