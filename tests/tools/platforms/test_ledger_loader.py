from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.tools.platforms.ledger_builders import build_practice
from tools.db import create_engine
from tools.errors import InvariantViolation
from tools.platforms.ledger import LedgerPlatform, PracticeData, is_empty


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_database_url)
    yield engine
    await engine.dispose()


def _broken_statement(data: PracticeData) -> PracticeData:
    st = data.statements[-1]
    data.statements[-1] = st.model_copy(update={"balance_cents": st.balance_cents + 1})
    return data


def _foreign_claim(data: PracticeData) -> PracticeData:
    st = data.statements[0]
    li = st.line_items[0].model_copy(update={"claim_id": "cl-p1-0"})
    data.statements[0] = st.model_copy(update={"line_items": (li, *st.line_items[1:])})
    return data


def _duplicate_number(data: PracticeData) -> PracticeData:
    data.statements[1] = data.statements[1].model_copy(update={"number": data.statements[0].number})
    return data


def _orphan_coverage(data: PracticeData) -> PracticeData:
    data.coverages.append(data.coverages[0].model_copy(update={"id": "cov-x", "patient_id": "ghost"}))
    return data


def _bad_schedule(data: PracticeData) -> PracticeData:
    data.plans[0] = data.plans[0].model_copy(update={"total_cents": data.plans[0].total_cents + 1})
    return data


def _two_open_plans(data: PracticeData) -> PracticeData:
    data.plans.append(data.plans[0].model_copy(update={"id": "plan-2", "idempotency_key": "k2"}))
    return data


@pytest.mark.parametrize(
    "corrupt",
    [_broken_statement, _foreign_claim, _duplicate_number, _orphan_coverage, _bad_schedule, _two_open_plans],
)
async def test_bulk_load_validates_first_and_inserts_nothing(engine: AsyncEngine, corrupt: object) -> None:
    assert callable(corrupt)
    data = corrupt(build_practice(patients=3))
    with pytest.raises(InvariantViolation):
        await LedgerPlatform(engine).bulk_load(data)
    assert await is_empty(engine)


async def test_bulk_load_conflicting_with_existing_rows_rolls_back(engine: AsyncEngine) -> None:
    ledger = LedgerPlatform(engine)
    await ledger.bulk_load(build_practice(patients=2))
    again = build_practice(patients=2)
    again = dataclasses.replace(again, practice=again.practice.model_copy(update={"id": "prac-2"}))
    again = dataclasses.replace(
        again, patients=[p.model_copy(update={"practice_id": "prac-2"}) for p in again.patients]
    )
    with pytest.raises(InvariantViolation):
        await ledger.bulk_load(again)
    assert [p.id for p in await ledger.find_patients_by_phone("+15555550001")] == ["p0", "p1"]


@pytest.mark.slow
async def test_bulk_load_a_thousand_patients(engine: AsyncEngine) -> None:
    # Its speed is a figure, printed by `billing-agent seed --patients 1000`, not a timed test.
    data = build_practice(patients=1000, statements_per_patient=4, lines_per_statement=3)
    assert await is_empty(engine)
    await LedgerPlatform(engine).bulk_load(data)
    assert not await is_empty(engine)
    ledger = LedgerPlatform(engine)
    assert len(await ledger.list_statements("p999")) == 4
    assert await ledger.get_statement("p500", "st-p500-3") == data.statements[500 * 4 + 3]
