"""Portal chat through real HTTP: the real agent on the seeded demo practice, real SQLite/PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from api.main import create_app
from api.routes.portal import IdentityCache
from api.security import issue_portal_token
from api.settings import Settings
from tests.api.portal_support import Sse, live_server, parse_sse, read_sse, seed, services_of
from tests.support.lifespan import STARTUP_S
from tests.support.outbox import outbox_drained
from tools.demo import generate_practice
from tools.platforms.ledger import PracticeData
from tools.platforms.models import Patient

SECRET = SecretStr("portal-test-secret-0123456789abcdef0123")


@dataclass
class Portal:
    http: httpx.AsyncClient
    settings: Settings
    data: PracticeData
    app: object

    def auth(self, patient: Patient, **kw: object) -> dict[str, str]:
        assert patient.portal_user_id is not None
        return {"Authorization": f"Bearer {issue_portal_token(self.settings, patient.portal_user_id, **kw)}"}  # type: ignore[arg-type]

    async def thread(self, patient: Patient) -> str:
        response = await self.http.post("/v1/portal/threads", headers=self.auth(patient), json={})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def make_settings(url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "environment": "test",
        "checkpoint_url": f"sqlite:///{tmp_path / 'checkpoints.db'}",
        "portal_token_secret": SECRET,
        "rate_limit_ip_per_minute": 10_000,
        "rate_limit_ip_burst": 1_000,
        "rate_limit_thread_per_minute": 10_000,
        "rate_limit_thread_burst": 1_000,
        "rate_limit_patient_per_minute": 10_000,
        "rate_limit_patient_burst": 1_000,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def portal(migrated_database_url: str, tmp_path: Path) -> AsyncIterator[Portal]:
    data = await seed(migrated_database_url)
    settings = make_settings(migrated_database_url, tmp_path)
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield Portal(http, settings, data, app)


def with_statement(data: PracticeData) -> Patient:
    ids = {s.patient_id for s in data.statements}
    return next(p for p in data.patients if p.id in ids and p.portal_user_id)


async def test_balance_question_streams_typed_events_with_increasing_ids(portal: Portal) -> None:
    patient = with_statement(portal.data)
    thread = await portal.thread(patient)
    response = await portal.http.post(
        f"/v1/portal/threads/{thread}/messages",
        headers=portal.auth(patient),
        json={"text": "what is my balance?"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    kinds = [e.event for e in events]
    assert kinds[0] == "typing"
    assert kinds[-1] == "done"
    assert "token" in kinds
    assert kinds.count("message") == 1
    ids = [e.id for e in events]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    message = next(e for e in events if e.event == "message")
    assert message.data["intent"] == "balance"
    assert "".join(e.data["text"] for e in events if e.event == "token") == message.data["text"]

    history = (await portal.http.get(f"/v1/portal/threads/{thread}", headers=portal.auth(patient))).json()
    assert [m["role"] for m in history["messages"]] == ["patient", "bot"]
    assert history["messages"][0]["text"] == "what is my balance?"
    assert history["messages"][1]["event_id"] == message.id
    assert history["last_event_id"] == ids[-1]
    assert history["pending"] == 0


async def test_thread_for_a_statement_must_be_the_patients_own(portal: Portal) -> None:
    patient = with_statement(portal.data)
    own = next(s for s in portal.data.statements if s.patient_id == patient.id)
    other = next(s for s in portal.data.statements if s.patient_id != patient.id)
    ok = await portal.http.post(
        "/v1/portal/threads", headers=portal.auth(patient), json={"statement_id": own.id}
    )
    assert ok.status_code == 201
    assert ok.json()["statement_id"] == own.id
    refused = await portal.http.post(
        "/v1/portal/threads", headers=portal.auth(patient), json={"statement_id": other.id}
    )
    assert refused.status_code == 404
    assert refused.json()["error"] == "statement_not_found"


async def test_a_patient_cannot_touch_another_patients_thread(portal: Portal) -> None:
    owner, intruder = [p for p in portal.data.patients if p.portal_user_id][:2]
    thread = await portal.thread(owner)
    as_intruder = portal.auth(intruder)
    history = await portal.http.get(f"/v1/portal/threads/{thread}", headers=as_intruder)
    post = await portal.http.post(
        f"/v1/portal/threads/{thread}/messages", headers=as_intruder, json={"text": "hi"}
    )
    events = await portal.http.get(
        f"/v1/portal/threads/{thread}/events", headers=as_intruder, params={"after": 0}
    )
    for response in (history, post, events):
        assert response.status_code == 404
        assert response.json()["error"] == "thread_not_found"
    # Same answer as a thread that does not exist, and nothing was stored for the intruder's post.
    missing = await portal.http.get("/v1/portal/threads/th_nope", headers=as_intruder)
    assert missing.json()["error"] == "thread_not_found"
    assert await services_of(portal.app).threads.inbound_of(thread) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer not-a-jwt", "Basic abc", "forged", "expired"],
)
async def test_missing_forged_or_expired_tokens_are_401(portal: Portal, header: str | None) -> None:
    patient = portal.data.patients[0]
    assert patient.portal_user_id is not None
    if header == "forged":
        forger = Settings(portal_token_secret=SecretStr("another-secret-entirely-0123456789abcdef"))
        header = f"Bearer {issue_portal_token(forger, patient.portal_user_id)}"
    elif header == "expired":
        header = portal.auth(patient, ttl=timedelta(seconds=-5))["Authorization"]
    headers = {"Authorization": header} if header else {}
    response = await portal.http.post("/v1/portal/threads", headers=headers, json={})
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


async def test_bad_bodies_get_our_error_shape(portal: Portal) -> None:
    patient = portal.data.patients[0]
    thread = await portal.thread(patient)
    url = f"/v1/portal/threads/{thread}/messages"
    headers = portal.auth(patient)
    malformed = await portal.http.post(
        url, headers={**headers, "Content-Type": "application/json"}, content=b'{"text": "hi"'
    )
    assert malformed.status_code == 422
    assert malformed.json()["error"] == "invalid_request"
    form = await portal.http.post(url, headers=headers, data={"text": "hi"})
    assert form.status_code == 415
    assert form.json()["error"] == "unsupported_media_type"
    empty = await portal.http.post(url, headers=headers, json={"text": ""})
    assert empty.status_code == 422
    huge = await portal.http.post(url, headers=headers, json={"text": "x" * 20_000})
    assert huge.status_code == 413
    assert huge.json()["error"] == "request_too_large"
    # None of these ran a turn or stored a message.
    assert await services_of(portal.app).threads.inbound_of(thread) == []  # type: ignore[arg-type]


async def test_two_messages_at_once_are_answered_in_order_never_interleaved(portal: Portal) -> None:
    patient = with_statement(portal.data)
    thread = await portal.thread(patient)
    url = f"/v1/portal/threads/{thread}/messages"
    first, second = await asyncio.gather(
        portal.http.post(url, headers=portal.auth(patient), json={"text": "what is my balance?"}),
        portal.http.post(url, headers=portal.auth(patient), json={"text": "when is it due?"}),
    )
    a, b = parse_sse(first.text), parse_sse(second.text)
    assert a[-1].event == "done"
    assert b[-1].event == "done"
    assert len({e.data["turn_id"] for e in a}) == 1
    assert len({e.data["turn_id"] for e in b}) == 1
    # One turn entirely before the other in the global event order.
    earlier, later = sorted((a, b), key=lambda evs: evs[0].id)
    assert earlier[-1].id < later[0].id
    stored = await services_of(portal.app).events.after(thread, 0)  # type: ignore[arg-type]
    turns = [e.turn_id for e in stored]
    assert turns == sorted(turns, key=lambda t: turns.index(t))
    assert len(stored) == len(a) + len(b)
    inbound = await services_of(portal.app).threads.inbound_of(thread)  # type: ignore[arg-type]
    assert [m.status for m in inbound] == ["done", "done"]
    # The answered order is the arrival (storage) order.
    assert [int(earlier[0].data["turn_id"]), int(later[0].data["turn_id"])] == [m.id for m in inbound]


async def test_per_thread_rate_limit_answers_429_with_retry_after(
    migrated_database_url: str, tmp_path: Path
) -> None:
    data = await seed(migrated_database_url)
    settings = make_settings(
        migrated_database_url, tmp_path, rate_limit_thread_per_minute=1, rate_limit_thread_burst=1
    )
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        portal = Portal(http, settings, data, app)
        patient = with_statement(data)
        thread = await portal.thread(patient)
        url = f"/v1/portal/threads/{thread}/messages"
        # The limiter's sliding-window counter weighs the minute before by how much of it is still covered:
        # two posts straddling a minute boundary would count the first as 0.99 (a test artefact, once in a
        # few hundred runs), so both go inside one minute.
        into_minute = time.time() % 60
        if into_minute > 55:
            await asyncio.sleep(60.2 - into_minute)
        ok = await http.post(url, headers=portal.auth(patient), json={"text": "hello"})
        assert ok.status_code == 200
        limited = await http.post(url, headers=portal.auth(patient), json={"text": "hello again"})
        assert limited.status_code == 429
        assert limited.json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        # The refused message was not stored: it will never be answered later.
        assert [m.text for m in await services_of(app).threads.inbound_of(thread)] == ["hello"]
        # Another thread of the same patient is not limited by this one.
        other = await portal.thread(patient)
        assert (
            await http.post(
                f"/v1/portal/threads/{other}/messages", headers=portal.auth(patient), json={"text": "hi"}
            )
        ).status_code == 200


async def test_per_ip_rate_limit(migrated_database_url: str, tmp_path: Path) -> None:
    data = await seed(migrated_database_url)
    settings = make_settings(
        migrated_database_url, tmp_path, rate_limit_ip_per_minute=1, rate_limit_ip_burst=2
    )
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        portal = Portal(http, settings, data, app)
        patient = data.patients[0]
        codes = [
            (await http.post("/v1/portal/threads", headers=portal.auth(patient), json={})).status_code
            for _ in range(3)
        ]
        assert codes == [201, 201, 429]


async def test_metrics_count_turns_and_latency(portal: Portal) -> None:
    patient = with_statement(portal.data)
    thread = await portal.thread(patient)
    await portal.http.post(
        f"/v1/portal/threads/{thread}/messages",
        headers=portal.auth(patient),
        json={"text": "what is my balance?"},
    )
    text = (await portal.http.get("/metrics")).text
    assert 'billing_turns_total{channel="portal",outcome="ok"} 1.0' in text
    assert 'billing_turn_seconds_count{channel="portal"} 1.0' in text
    assert "billing_sse_clients 0.0" in text


async def test_pages_get_security_headers_and_cors_only_for_allowed_origins(portal: Portal) -> None:
    page = await portal.http.get("/")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    allowed = portal.settings.allowed_origins[0]
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    ok = await portal.http.options("/v1/portal/threads", headers={"Origin": allowed, **preflight})
    assert ok.headers.get("access-control-allow-origin") == allowed
    bad = await portal.http.options(
        "/v1/portal/threads", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in bad.headers


async def test_client_that_disconnects_mid_answer_still_gets_the_turn_recorded(
    migrated_database_url: str, tmp_path: Path
) -> None:
    data = await seed(migrated_database_url)
    settings = make_settings(migrated_database_url, tmp_path)
    app = create_app(settings)
    async with live_server(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        portal = Portal(http, settings, data, app)
        patient = with_statement(data)
        thread = await portal.thread(patient)
        async with http.stream(
            "POST",
            f"/v1/portal/threads/{thread}/messages",
            headers=portal.auth(patient),
            json={"text": "what is my balance?"},
        ) as response:
            first = await anext(read_sse(response))
            assert first.event == "typing"
        # The client is gone; the answer is still written and recorded.
        services = services_of(app)
        for _ in range(200):
            inbound = await services.threads.inbound_of(thread)
            if inbound[0].status == "done":
                break
            await asyncio.sleep(0.05)
        assert inbound[0].status == "done"
        history = (await http.get(f"/v1/portal/threads/{thread}", headers=portal.auth(patient))).json()
        assert [m["role"] for m in history["messages"]] == ["patient", "bot"]
        assert "balance" in history["messages"][1]["text"].lower()
        await outbox_drained(services.agent.ports.outbox)
        communications = await services.platform.list_communications(patient.id, thread, 10)
        assert [c.author.value for c in communications].count("patient") == 1


async def test_reconnect_with_last_event_id_resumes_without_loss_or_duplication(
    migrated_database_url: str, tmp_path: Path
) -> None:
    data = await seed(migrated_database_url)
    settings = make_settings(migrated_database_url, tmp_path)
    app = create_app(settings)
    async with live_server(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        portal = Portal(http, settings, data, app)
        patient = with_statement(data)
        thread = await portal.thread(patient)
        answer = await http.post(
            f"/v1/portal/threads/{thread}/messages",
            headers=portal.auth(patient),
            json={"text": "what is my balance?"},
        )
        ids = [e.id for e in parse_sse(answer.text)]
        seen = ids[:3]
        for header in ({"Last-Event-ID": str(seen[-1])}, {}):
            params = {} if header else {"after": seen[-1]}
            async with http.stream(
                "GET",
                f"/v1/portal/threads/{thread}/events",
                headers={**portal.auth(patient), **header},
                params=params,
            ) as response:
                assert response.status_code == 200
                rest = [e.id async for e in read_sse(response)]
            assert seen + rest == ids


async def test_live_stream_delivers_a_staff_message_as_it_is_posted(
    migrated_database_url: str, tmp_path: Path
) -> None:
    data = await seed(migrated_database_url)
    settings = make_settings(migrated_database_url, tmp_path)
    app = create_app(settings)
    async with live_server(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        portal = Portal(http, settings, data, app)
        patient = with_statement(data)
        thread = await portal.thread(patient)
        await http.post(
            f"/v1/portal/threads/{thread}/messages", headers=portal.auth(patient), json={"text": "hi"}
        )
        async with http.stream(
            "GET", f"/v1/portal/threads/{thread}/events", headers=portal.auth(patient)
        ) as response:
            stream = read_sse(response, until="staff_message")

            async def next_event() -> Sse:
                return await anext(stream)

            waiter = asyncio.create_task(next_event())
            await asyncio.sleep(0.2)
            assert not waiter.done()  # nothing new yet: the stream starts from now
            await services_of(app).delivery.post_staff_message(
                thread, "staff-1", "Hi, this is Dana from billing."
            )
            event = await asyncio.wait_for(waiter, 5)
        assert event.event == "staff_message"
        assert event.data["text"] == "Hi, this is Dana from billing."
        history = (await http.get(f"/v1/portal/threads/{thread}", headers=portal.auth(patient))).json()
        assert history["messages"][-1]["role"] == "staff"


def test_identity_cache_forgets_after_its_ttl_and_stays_bounded() -> None:
    patient = generate_practice(patients=1, seed=1).patients[0]
    expired = IdentityCache(ttl_s=-1.0)
    expired.put("pu_1", patient)
    assert expired.get("pu_1") is None  # past its TTL: looked up again
    cache = IdentityCache(ttl_s=60.0, max_entries=4)
    for n in range(6):
        cache.put(f"pu_{n}", patient)
    assert cache.get("pu_5") == patient
    assert cache.get("pu_0") is None  # the oldest were dropped to stay within max_entries
