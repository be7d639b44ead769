"""The DrChrono adapter's requests against DrChrono's own OpenAPI description, served by Prism in
``--errors`` mode: a request of ours that breaks the spec (a wrong path, method, a non-integer patient
id, a missing parameter) is answered 4xx, which the adapter turns into ``PlatformUnavailable``, and
Prism logs the violation. Prism answers with the spec's examples, so what is checked here is the
request side and that the examples map onto our models; figures and write-then-read cases are in
``test_drchrono_mapping.py`` (recorded responses, validated against the same spec).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.prism import PrismServer, PrismUnavailable, run_prism
from tests.support.vendor import VendorFileMissing, vendor_file
from tools.db import create_engine
from tools.errors import PlatformUnavailable, TicketNotFound
from tools.platforms.base import BillingPlatform
from tools.platforms.drchrono import DrChronoPlatform
from tools.platforms.http import HttpPolicy, PlatformHttp
from tools.platforms.models import (
    Author,
    Channel,
    CommunicationIn,
    Direction,
    PaymentMethod,
    PaymentRequest,
    PaymentSource,
    TicketPriority,
    TicketReason,
    TicketRequest,
    TicketStatus,
    TranscriptLine,
)
from tools.platforms.plans import ServicePlans


class StaticToken:
    async def headers(self) -> dict[str, str]:
        return {"authorization": "Bearer prism-test"}

    async def refresh(self) -> None:
        return None


@pytest.fixture(scope="module")
def prism() -> Iterator[PrismServer]:
    try:
        spec = vendor_file("drchrono", "drchrono-rest-api-openapi.yml")
        with run_prism(spec, errors=True) as server:
            yield server
    except (PrismUnavailable, VendorFileMissing) as exc:
        pytest.skip(str(exc))


@pytest.fixture
async def platform(prism: PrismServer, migrated_database_url: str) -> AsyncIterator[DrChronoPlatform]:
    engine: AsyncEngine = create_engine(migrated_database_url)
    http = PlatformHttp(prism.url, credentials=StaticToken(), policy=HttpPolicy(timeout_s=20, attempts=1))
    adapter = DrChronoPlatform(http, plans=ServicePlans(engine, "drchrono"), doctor_id=1, cache_ttl_s=0)
    yield adapter
    await adapter.aclose()
    await engine.dispose()


def violations(prism: PrismServer, since: int, expect: int = 0) -> list[str]:
    """Prism's violation lines since ``since``; waits (up to 5 s) for its log to show ``expect`` of them,
    and for every request made so far to be logged, since Prism writes its log after answering."""
    deadline = time.monotonic() + 5
    while True:
        found = [line for line in prism.lines[since:] if "Violation:" in line]
        if len(found) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


async def test_every_read_is_valid_against_drchronos_spec(
    prism: PrismServer, platform: DrChronoPlatform
) -> None:
    start = len(prism.lines)
    assert isinstance(platform, BillingPlatform)
    practice = await platform.get_practice()
    assert practice.id
    patient = await platform.get_patient("1")
    assert patient.id.isdigit()
    summary = await platform.get_account_summary("1")
    statements = await platform.list_statements("1")
    assert summary.open_statement_count == sum(1 for s in statements if s.status.value == "open")
    for s in statements:
        full = await platform.get_statement("1", s.id)
        assert full.balance_cents == s.balance_cents
    await platform.list_claims("1")
    await platform.list_payments("1")
    await platform.list_coverages("1")
    await platform.list_communications("1", None, 10)
    await platform.list_tickets("1")
    await platform.find_patient_by_portal_identity("CHART-1")
    await platform.find_patients_by_phone("+1 555 555 0001")
    await platform.list_recent_changes(datetime(2025, 1, 1, tzinfo=UTC), 10)
    page = await platform.list_balance_changes(None, 10)  # the outreach feed: since-polling, tasks
    await platform.list_balance_changes(page.cursor, 10)
    await platform.get_account_activity(["1"])
    assert violations(prism, start) == []


# DrChrono's published description declares no request body on any write (POST /api/patient_payments,
# /api/tasks, /api/patient_messages, PATCH /api/tasks/{id} list only query parameters), while the live API
# takes the object as JSON. Prism therefore flags every body; that one violation is expected, and any
# other (path, method, a query parameter of the wrong type) fails the test. The bodies themselves are
# validated against the objects' schemas in test_drchrono_mapping.py.
SPEC_GAP = "request No supported content types, but request included a non-empty body"


async def test_writes_break_nothing_but_the_specs_missing_request_bodies(
    prism: PrismServer, platform: DrChronoPlatform
) -> None:
    start = len(prism.lines)
    with pytest.raises(PlatformUnavailable, match="refused POST /api/patient_payments"):
        await platform.record_payment(
            "1",
            PaymentRequest(
                statement_id=None,
                amount_cents=1500,
                method=PaymentMethod.CARD,
                source=PaymentSource.PAYMENT_LINK,
                idempotency_key="prism-pay-1",
            ),
        )
    with pytest.raises(PlatformUnavailable, match="refused POST /api/patient_messages"):
        await platform.log_communication(
            "1",
            CommunicationIn(
                thread_id="th-1",
                channel=Channel.SMS,
                direction=Direction.INBOUND,
                author=Author.PATIENT,
                text="hi",
            ),
        )
    with pytest.raises(PlatformUnavailable, match="refused POST /api/tasks"):
        await platform.create_ticket(
            "1",
            TicketRequest(
                thread_id="th-1",
                statement_id=None,
                reason=TicketReason.DISPUTE_CHARGE,
                priority=TicketPriority.HIGH,
                summary="Disputes the lab charge",
                transcript=(
                    TranscriptLine(author=Author.PATIENT, text="wrong", at=datetime(2025, 3, 1, tzinfo=UTC)),
                ),
                idempotency_key="prism-ticket-1",
            ),
        )
    found = violations(prism, start, expect=3)
    assert len(found) == 3
    assert all(SPEC_GAP in line for line in found), found
    with pytest.raises(TicketNotFound):  # Prism's example task carries no key of ours
        await platform.update_ticket("1", TicketStatus.RESOLVED, None)
