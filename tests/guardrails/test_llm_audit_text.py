"""The one kind of text the audit trail keeps: a model's replaced reply, tokenized, bounded and screened by
the PHI vault. Anything with an identifier in it, too long, or under another key is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from guardrails.audit import (
    MAX_SCREENED_TEXT,
    SCREENED_TEXT_KEY,
    AuditLogRow,
    AuditTrail,
    InvalidAuditPayload,
    screened_text,
)
from tools.db import Base, create_engine

RAW = "Your statement [STATEMENT_1] from [DATE_1] has a balance of $40.01 (CPT 99213, CO-45)."


@pytest.fixture
async def trail(database_url: str) -> AsyncIterator[AuditTrail]:
    eng: AsyncEngine = create_engine(database_url)
    async with eng.begin() as conn:
        await conn.run_sync(lambda sync: Base.metadata.create_all(sync, tables=[AuditLogRow.__table__]))  # type: ignore[list-item]  # a mapped Table
    try:
        yield AuditTrail(eng)
    finally:
        await eng.dispose()


async def test_tokenized_model_text_is_kept_and_the_chain_verifies(trail: AuditTrail) -> None:
    record = await trail.append("llm.phrasing.replaced", {"ungrounded": 1, SCREENED_TEXT_KEY: RAW})
    assert record.payload[SCREENED_TEXT_KEY] == RAW
    assert (await trail.verify()).ok


@pytest.mark.parametrize(
    "payload",
    [
        {SCREENED_TEXT_KEY: "Call me at 617-555-0199 please"},  # an identifier the vault finds
        {SCREENED_TEXT_KEY: "born 03/14/1985"},
        {SCREENED_TEXT_KEY: "x" * (MAX_SCREENED_TEXT + 1)},
        {"note": RAW},  # free text under any other key
        {"nested": {SCREENED_TEXT_KEY: RAW}},  # only at the top of the payload
    ],
)
async def test_text_with_an_identifier_or_elsewhere_is_refused(
    trail: AuditTrail, payload: dict[str, object]
) -> None:
    with pytest.raises(InvalidAuditPayload):
        await trail.append("llm.phrasing.replaced", payload)  # type: ignore[arg-type]  # JSON by construction
    assert (await trail.verify()).count == 0


def test_screened_text_bounds_and_tokenizes() -> None:
    out = screened_text("Call 617-555-0199. " + RAW * 100)
    assert len(out) <= MAX_SCREENED_TEXT
    assert "617-555-0199" not in out
    assert out.startswith("Call [PHONE_1].")
    assert screened_text(RAW) == RAW  # amounts, codes and placeholders pass through
