from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tools.errors import ConfigurationError, IdempotencyConflict, InvalidAmount, LinkNotFound
from tools.payments import LinkExpired, LinkRequest, PaymentGateway, SandboxGateway

START = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
BASE_URL = "https://billing.example.test"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def gateway(engine: AsyncEngine, clock: Clock) -> SandboxGateway:
    return SandboxGateway(engine, BASE_URL + "/", clock=clock)


def request(
    key: str = "link:stmt-1:turn-1",
    amount_cents: int = 12_345,
    patient_id: str = "pat-1",
    statement_id: str | None = "stmt-1",
) -> LinkRequest:
    return LinkRequest(
        patient_id=patient_id,
        statement_id=statement_id,
        plan_id=None,
        amount_cents=amount_cents,
        purpose="balance",
        description="Statement S-1001 balance",
        idempotency_key=key,
    )


def test_sandbox_gateway_satisfies_the_port(gateway: SandboxGateway) -> None:
    assert isinstance(gateway, PaymentGateway)


async def test_create_link_returns_an_open_link_with_an_unguessable_sandbox_url(
    gateway: SandboxGateway,
) -> None:
    link = await gateway.create_link(request())
    other = await gateway.create_link(request(key="another"))

    assert link.status == "open"
    assert link.amount_cents == 12_345
    assert link.patient_id == "pat-1"
    assert link.statement_id == "stmt-1"
    assert link.purpose == "balance"
    assert link.idempotency_key == "link:stmt-1:turn-1"
    assert link.created_at == START
    assert link.expires_at == START + timedelta(days=7)
    assert link.url == f"{BASE_URL}/v1/pay/sandbox/{link.id}"
    assert re.fullmatch(r"pl_[0-9a-f]{32}", link.id)
    assert link.id != other.id
    assert await gateway.get_link(link.id) == link


async def test_same_key_and_amount_returns_the_same_link(gateway: SandboxGateway) -> None:
    first = await gateway.create_link(request())
    again = await gateway.create_link(request())

    assert again == first
    assert [link.id for link in await gateway.list_links("pat-1")] == [first.id]


@pytest.mark.parametrize(
    "changed",
    [
        request(amount_cents=12_346),
        request(patient_id="pat-2"),
        request(statement_id="stmt-2"),
    ],
    ids=["amount", "patient", "statement"],
)
async def test_same_key_with_different_terms_conflicts(gateway: SandboxGateway, changed: LinkRequest) -> None:
    first = await gateway.create_link(request())

    with pytest.raises(IdempotencyConflict):
        await gateway.create_link(changed)
    assert [link.id for link in await gateway.list_links("pat-1")] == [first.id]
    assert await gateway.list_links("pat-2") == []


@pytest.mark.parametrize("amount", [0, -1, -12_345])
async def test_non_positive_amount_is_refused(gateway: SandboxGateway, amount: int) -> None:
    with pytest.raises(InvalidAmount):
        await gateway.create_link(request(amount_cents=amount))
    assert await gateway.list_links("pat-1") == []


async def test_concurrent_creates_with_one_key_make_one_link(gateway: SandboxGateway) -> None:
    links = await asyncio.gather(*(gateway.create_link(request()) for _ in range(8)))

    assert len({link.id for link in links}) == 1
    assert len(await gateway.list_links("pat-1")) == 1


async def test_unknown_link_is_not_found(gateway: SandboxGateway) -> None:
    with pytest.raises(LinkNotFound):
        await gateway.get_link("pl_does_not_exist")
    with pytest.raises(LinkNotFound):
        await gateway.mark_paid("pl_does_not_exist")


async def test_list_links_is_newest_first_and_per_patient(gateway: SandboxGateway, clock: Clock) -> None:
    older = await gateway.create_link(request(key="a"))
    clock.now += timedelta(minutes=5)
    newer = await gateway.create_link(request(key="b", amount_cents=500))
    theirs = await gateway.create_link(request(key="c", patient_id="pat-2", statement_id="stmt-9"))

    assert [link.id for link in await gateway.list_links("pat-1")] == [newer.id, older.id]
    assert [link.id for link in await gateway.list_links("pat-2")] == [theirs.id]
    assert await gateway.list_links("pat-3") == []


async def test_mark_paid_reports_one_event_however_often_it_is_called(
    gateway: SandboxGateway, clock: Clock
) -> None:
    link = await gateway.create_link(request())
    clock.now += timedelta(hours=1)
    event = await gateway.mark_paid(link.id)
    clock.now += timedelta(hours=1)
    again = await gateway.mark_paid(link.id)

    assert again == event
    assert event.link_id == link.id
    assert event.patient_id == "pat-1"
    assert event.statement_id == "stmt-1"
    assert event.amount_cents == 12_345
    assert event.occurred_at == START + timedelta(hours=1)
    assert event.external_id
    assert (await gateway.get_link(link.id)).status == "paid"


async def test_concurrent_mark_paid_agrees_on_one_event(gateway: SandboxGateway) -> None:
    link = await gateway.create_link(request())

    events = await asyncio.gather(*(gateway.mark_paid(link.id) for _ in range(6)))

    assert len(set(events)) == 1


async def test_links_of_different_payments_get_different_events(gateway: SandboxGateway) -> None:
    one = await gateway.create_link(request(key="one"))
    two = await gateway.create_link(request(key="two"))

    first, second = await gateway.mark_paid(one.id), await gateway.mark_paid(two.id)

    assert first.event_id != second.event_id
    assert first.external_id != second.external_id


async def test_expired_link_cannot_be_paid(gateway: SandboxGateway, clock: Clock) -> None:
    link = await gateway.create_link(request())
    clock.now = link.expires_at - timedelta(seconds=1)
    assert (await gateway.get_link(link.id)).status == "open"

    clock.now = link.expires_at
    assert (await gateway.get_link(link.id)).status == "expired"
    with pytest.raises(LinkExpired) as caught:
        await gateway.mark_paid(link.id)
    assert caught.value.status_code == 409
    assert caught.value.code == "link_expired"
    assert (await gateway.get_link(link.id)).status == "expired"


async def test_a_paid_link_stays_paid_after_its_expiry(gateway: SandboxGateway, clock: Clock) -> None:
    link = await gateway.create_link(request())
    event = await gateway.mark_paid(link.id)
    clock.now += timedelta(days=30)

    assert (await gateway.get_link(link.id)).status == "paid"
    assert await gateway.mark_paid(link.id) == event


async def test_link_lifetime_is_configurable(engine: AsyncEngine, clock: Clock) -> None:
    gateway = SandboxGateway(engine, BASE_URL, clock=clock, link_ttl=timedelta(hours=24))

    link = await gateway.create_link(request())

    assert link.expires_at == START + timedelta(hours=24)


async def test_a_naive_clock_is_a_configuration_error(engine: AsyncEngine) -> None:
    gateway = SandboxGateway(engine, BASE_URL, clock=lambda: datetime(2025, 3, 3, 15, 0))

    with pytest.raises(ConfigurationError):
        await gateway.create_link(request())


def test_base_url_must_be_http(engine: AsyncEngine) -> None:
    with pytest.raises(ConfigurationError):
        SandboxGateway(engine, "billing.example.test")


async def test_links_survive_a_new_gateway_on_the_same_database(
    gateway: SandboxGateway, engine: AsyncEngine, clock: Clock
) -> None:
    link = await gateway.create_link(request())

    fresh = SandboxGateway(engine, BASE_URL, clock=clock)

    assert await fresh.get_link(link.id) == link
    assert await fresh.create_link(request()) == link
