"""The attack suite: every request of the outside attack (issue 20), replayed against the running app.

One table, one row per attack: an id (the finding it reproduces — M1, L1-L9, ``info-*`` — or ``held-*`` for
the checks that already held and must keep holding), the settings the target runs with, and the attack:
exactly the request(s) the attacker sent and what a user would notice (a clear 4xx, nothing written).
Each row starts a fresh app (its own rate-limit memory) on a copy of one seeded database.

Attacks that need processes (a real uvicorn behind ``--forwarded-allow-ips``, kill -9) live beside this
file: ``test_proxy_and_startup.py``, ``tests/agent/test_agent_restart.py``.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import jwt
import pytest
from limits import RateLimitItemPerSecond
from sqlalchemy import insert, select

from api.protection import RateLimiter
from api.staff import Role
from guardrails.audit import AuditLogRow
from tests.api.portal_support import parse_sse
from tests.security.support import (
    PORTAL_SECRET,
    STAFF_PASSWORD,
    Target,
    checkout_event,
    seed,
    sms_form,
)
from tools.payments.stripe import StripeCheckoutRow
from tools.platforms.models import Patient

Attack = Callable[[Target], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    id: str
    attack: Attack
    settings: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


async def audit_events(t: Target, event: str) -> list[dict[str, Any]]:
    async with t.services.engine.connect() as conn:
        rows = (await conn.execute(select(AuditLogRow.payload).where(AuditLogRow.event == event))).all()
    return [dict(r.payload) for r in rows]


async def balance(t: Target, patient: Patient) -> int:
    return (await t.services.platform.get_account_summary(patient.id)).balance_cents


async def payment_count(t: Target, patient: Patient) -> int:
    return len(await t.services.platform.list_payments(patient.id))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def _other_statement(t: Target, patient: Patient) -> tuple[Patient, str]:
    for other in t.patients:
        if other.id == patient.id:
            continue
        statements = await t.services.platform.list_statements(other.id)
        if statements:
            return other, statements[0].number
    raise AssertionError("no other patient with a statement")


# --------------------------------------------------------------------------- M1: sign-in throttling


async def m1_login_throttled(t: Target) -> None:
    email = await t.staff_account(Role.MANAGER)
    codes = [
        (await t.http.post("/v1/console/login", json={"email": email, "password": f"wrong-{i}"})).status_code
        for i in range(30)
    ]
    assert codes[:5] == [401] * 5
    assert set(codes[5:]) == {429}
    right = await t.http.post("/v1/console/login", json={"email": email, "password": STAFF_PASSWORD})
    assert right.status_code == 429, "the right password must not work while the account is throttled"
    assert 1 <= int(right.headers["Retry-After"]) <= 900
    assert right.json()["error"] == "rate_limited"
    throttled = await audit_events(t, "console.login.throttled")
    assert throttled
    assert throttled[-1]["scope"] == "account"
    assert email not in json.dumps(throttled), "the audit trail keeps a digest, never the address"


async def m1_tokens_throttled(t: Target) -> None:
    email = await t.staff_account(Role.AGENT)
    for i in range(5):
        wrong = await t.http.post("/v1/console/tokens", json={"email": email, "password": f"nope-{i}"})
        assert wrong.status_code == 401
    right = await t.http.post("/v1/console/tokens", json={"email": email, "password": STAFF_PASSWORD})
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) >= 1


async def m1_ip_throttled_across_accounts(t: Target) -> None:
    codes = [
        (
            await t.http.post(
                "/v1/console/login", json={"email": f"guess{i}@practice.test", "password": "password1234"}
            )
        ).status_code
        for i in range(25)
    ]
    assert codes[:20] == [401] * 20
    assert set(codes[20:]) == {429}
    assert (await audit_events(t, "console.login.throttled"))[-1]["scope"] == "address"


async def m1_success_clears_the_account(t: Target) -> None:
    email = await t.staff_account(Role.AGENT)
    for _ in range(4):
        await t.http.post("/v1/console/login", json={"email": email, "password": "wrong password here"})
    ok = await t.http.post("/v1/console/login", json={"email": email, "password": STAFF_PASSWORD})
    assert ok.status_code == 200
    for _ in range(4):
        again = await t.http.post(
            "/v1/console/login", json={"email": email, "password": "wrong password here"}
        )
        assert again.status_code == 401  # the earlier failures were forgiven by the success


# --------------------------------------------------------------------------- L3: analytics dates


async def l3_analytics_far_future(t: Target) -> None:
    headers = await t.bearer(Role.MANAGER)
    response = await t.http.get("/v1/console/analytics?until=9999-12-31&days=90", headers=headers)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


async def l3_analytics_year_one(t: Target) -> None:
    headers = await t.bearer(Role.MANAGER)
    response = await t.http.get("/v1/console/analytics?until=0001-01-01&days=90", headers=headers)
    assert response.status_code == 422


# --------------------------------------------------------------------------- L4: bounded webhook fields


def _phone(t: Target) -> str:
    return next(p.phone for p in t.patients if p.phone)


async def _l4(t: Target, num_media: str) -> None:
    started = time.perf_counter()
    response = await t.sms(sms_form(_phone(t), "", NumMedia=num_media))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_inbound_sms"
    assert time.perf_counter() - started < 2, "the event loop must not be busy counting media"
    assert await t.services.threads.find_by_phone(_phone(t)) is None


async def l4_num_media_twenty_million(t: Target) -> None:
    await _l4(t, "20000000")


async def l4_num_media_ten_to_the_eleventh(t: Target) -> None:
    await _l4(t, "100000000000")


async def l4_body_over_twilio_limit(t: Target) -> None:
    response = await t.sms(sms_form(_phone(t), "x" * 5000))
    assert response.status_code == 400


# --------------------------------------------------------------------------- L5: payments we never created


async def l5_unknown_session(t: Target) -> None:
    patient = t.portal_patient()
    statement = (await t.services.platform.list_statements(patient.id))[0]
    before, payments = await balance(t, patient), await payment_count(t, patient)
    event = checkout_event("cs_test_never_created_by_us", patient.id, statement.id, 1_000_000)
    response = await t.stripe(event)
    assert response.status_code == 200
    assert response.json()["outcome"] == "held"
    assert await balance(t, patient) == before
    assert await payment_count(t, patient) == payments
    held = await audit_events(t, "payments.stripe.event.held")
    assert held[-1]["reason"] == "unknown_session"
    tickets = await t.services.platform.list_tickets(patient.id)
    assert any("not posted" in ticket.summary for ticket in tickets), "staff are told"
    replay = await t.stripe(event)  # Stripe redelivers: still nothing posted, no second ticket
    assert replay.json()["outcome"] == "duplicate"
    assert len(await t.services.platform.list_tickets(patient.id)) == len(tickets)


async def l5_amount_differs_from_our_session(t: Target) -> None:
    patient = t.portal_patient()
    statement = (await t.services.platform.list_statements(patient.id))[0]
    async with t.services.engine.begin() as conn:
        await conn.execute(
            insert(StripeCheckoutRow).values(
                idempotency_key="attack:l5",
                attempt=1,
                session_id="cs_test_ours_for_1000",
                patient_id=patient.id,
                statement_id=statement.id,
                plan_id=None,
                amount_cents=1_000,
                purpose="partial",
                description="",
                url="https://checkout.stripe.test/cs_test_ours_for_1000",
                status="open",
                created_at=datetime.now(UTC),
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
    before = await balance(t, patient)
    response = await t.stripe(checkout_event("cs_test_ours_for_1000", patient.id, statement.id, 1_000_000))
    assert response.json()["outcome"] == "held"
    assert await balance(t, patient) == before
    right = await t.stripe(checkout_event("cs_test_ours_for_1000", patient.id, statement.id, 1_000))
    assert right.json()["outcome"] == "posted"
    assert await balance(t, patient) == before - 1_000


# --------------------------------------------------------------------------- L6: cursors


async def _events_status(t: Target, path: str, headers: Mapping[str, str | bytes]) -> int:
    async with asyncio.timeout(10):
        # httpx sends str and raw bytes header values alike; its annotation wants one kind per mapping.
        async with t.http.stream("GET", path, headers=cast(Any, headers)) as response:
            return response.status_code


async def _l6_portal(t: Target, cursor: str) -> None:
    patient = t.portal_patient()
    thread = await t.thread(patient)
    status = await _events_status(
        t,
        f"/v1/portal/threads/{thread}/events",
        {**t.auth(patient), "Last-Event-ID": cursor.encode()},  # the raw UTF-8 bytes an attacker sends
    )
    assert status == 400


async def l6_portal_two_to_the_63(t: Target) -> None:
    await _l6_portal(t, str(2**63))


async def l6_portal_five_thousand_digits(t: Target) -> None:
    await _l6_portal(t, "9" * 5000)


async def l6_portal_non_ascii_digit(t: Target) -> None:
    await _l6_portal(t, "١٢")


async def l6_portal_after_query(t: Target) -> None:
    patient = t.portal_patient()
    thread = await t.thread(patient)
    status = await _events_status(t, f"/v1/portal/threads/{thread}/events?after={2**63}", t.auth(patient))
    assert status == 422


async def l6_console_last_event_id(t: Target) -> None:
    headers = await t.bearer(Role.AGENT)
    for cursor in (str(2**63), "9" * 5000, "²"):
        status = await _events_status(
            t, "/v1/console/events?limit=1", {**headers, "Last-Event-ID": cursor.encode()}
        )
        assert status == 400, cursor


# --------------------------------------------------------------------------- L7: rate limits


async def l7_new_threads_do_not_reset_the_limit(t: Target) -> None:
    patient = t.portal_patient()
    codes = []
    for i in range(6):
        thread = await t.thread(patient)
        response = await t.http.post(
            f"/v1/portal/threads/{thread}/messages", headers=t.auth(patient), json={"text": f"hello {i}"}
        )
        codes.append(response.status_code)
    assert codes[:4] == [200] * 4
    assert codes[4:] == [429, 429]


async def l7_forwarded_for_is_ignored_by_default(t: Target) -> None:
    patient = t.portal_patient()
    codes = [
        (
            await t.http.post(
                "/v1/portal/threads",
                headers={**t.auth(patient), "X-Forwarded-For": f"198.51.100.{i}"},
                json={},
            )
        ).status_code
        for i in range(5)
    ]
    assert codes == [201, 201, 201, 429, 429]


async def l7_forwarded_for_from_a_trusted_proxy(t: Target) -> None:
    patient = t.portal_patient()
    codes = [
        (
            await t.http.post(
                "/v1/portal/threads",
                headers={**t.auth(patient), "X-Forwarded-For": f"198.51.100.{i}"},
                json={},
            )
        ).status_code
        for i in range(5)
    ]
    assert codes == [201] * 5  # each client behind the configured proxy has its own budget


# --------------------------------------------------------------------------- info items


async def info_ten_year_token(t: Target) -> None:
    patient = t.portal_patient()
    token = t.token(patient, ttl=timedelta(days=3650))
    response = await t.http.post("/v1/portal/threads", headers={"Authorization": f"Bearer {token}"}, json={})
    assert response.status_code == 401
    assert "longer" in response.json()["detail"]


async def info_other_patients_statement(t: Target) -> None:
    patient = t.portal_patient()
    _other, number = await _other_statement(t, patient)
    thread = await t.thread(patient)
    links_before = len(await t.services.gateway.list_links(patient.id))
    response = await t.http.post(
        f"/v1/portal/threads/{thread}/messages",
        headers=t.auth(patient),
        json={"text": f"I want to pay statement {number}"},
    )
    assert response.status_code == 200
    message = next(e for e in parse_sse(response.text) if e.event == "message")
    assert number in message.data["text"]
    assert "your own" in message.data["text"]
    assert len(await t.services.gateway.list_links(patient.id)) == links_before


async def info_docs_and_metrics_off_in_production(t: Target) -> None:
    for path in ("/docs", "/redoc", "/openapi.json", "/metrics"):
        assert (await t.http.get(path)).status_code == 404, path
    assert (await t.http.get("/health/live")).status_code == 200


async def info_metrics_behind_a_token(t: Target) -> None:
    assert (await t.http.get("/metrics")).status_code == 401
    wrong = await t.http.get("/metrics", headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401
    ok = await t.http.get("/metrics", headers={"Authorization": "Bearer scrape-token-for-the-suite"})
    assert ok.status_code == 200
    assert "billing_turns_total" in ok.text


async def info_hsts_on_https(t: Target) -> None:
    for path in ("/health/live", "/v1/console/me"):
        response = await t.http.get(path)
        assert response.headers["strict-transport-security"].startswith("max-age=31536000"), path


async def info_sms_from_non_phone(t: Target) -> None:
    response = await t.sms(sms_form("alice", "what is my balance?"))
    assert response.status_code == 200
    assert "<Response/>" in response.text
    assert await t.services.threads.find_by_phone("alice") is None
    assert t.services.runner.in_flight() == 0


# --------------------------------------------------------------------------- held: must keep holding


async def held_token_tampering(t: Target) -> None:
    patient, other = t.portal_patient(0), t.portal_patient(1)
    header, _payload, signature = t.token(patient).split(".")
    assert other.portal_user_id is not None
    swapped = _b64(
        {"sub": other.portal_user_id, "aud": "patient-billing-agent", "exp": int(time.time()) + 600}
    )
    none_alg = jwt.encode(
        {"sub": other.portal_user_id, "aud": "patient-billing-agent", "exp": int(time.time()) + 600},
        key="",  # the "none" algorithm signs with no key
        algorithm="none",
    )
    wrong_key = jwt.encode(
        {"sub": other.portal_user_id, "aud": "patient-billing-agent", "exp": int(time.time()) + 600},
        "x" * 40,
        algorithm="HS256",
    )
    wrong_aud = jwt.encode(
        {"sub": other.portal_user_id, "aud": "another-service", "exp": int(time.time()) + 600},
        PORTAL_SECRET,
        algorithm="HS256",
    )
    expired = t.token(patient, ttl=timedelta(seconds=-5))
    for token in (f"{header}.{swapped}.{signature}", none_alg, wrong_key, wrong_aud, expired, "garbage"):
        response = await t.http.post(
            "/v1/portal/threads", headers={"Authorization": f"Bearer {token}"}, json={}
        )
        assert response.status_code == 401, token


async def held_cross_patient_thread(t: Target) -> None:
    owner, intruder = t.portal_patient(0), t.portal_patient(1)
    thread = await t.thread(owner)
    read = await t.http.get(f"/v1/portal/threads/{thread}", headers=t.auth(intruder))
    assert read.status_code == 404
    post = await t.http.post(
        f"/v1/portal/threads/{thread}/messages", headers=t.auth(intruder), json={"text": "hi"}
    )
    assert post.status_code == 404
    assert await t.services.threads.inbound_of(thread) == []


async def held_csrf(t: Target) -> None:
    email = await t.staff_account(Role.MANAGER)
    login = await t.http.post("/v1/console/login", json={"email": email, "password": STAFF_PASSWORD})
    assert login.status_code == 200
    thread = await t.thread(t.portal_patient())
    no_header = await t.http.post(f"/v1/console/threads/{thread}/take-over")
    assert no_header.status_code == 403
    wrong = await t.http.post(f"/v1/console/threads/{thread}/take-over", headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403


async def held_roles(t: Target) -> None:
    thread = await t.thread(t.portal_patient())
    agent = await t.bearer(Role.AGENT)
    response = await t.http.post(
        f"/v1/console/threads/{thread}/plan-decision", headers=agent, json={"approved": True}
    )
    assert response.status_code == 403
    assert (await t.http.get("/v1/console/queue")).status_code == 401


async def held_webhook_forgery(t: Target) -> None:
    forged_sms = await t.sms(sms_form(_phone(t), "balance?"), token="not-the-token")
    assert forged_sms.status_code == 403
    patient = t.portal_patient()
    forged_payment = await t.stripe(checkout_event("cs_x", patient.id, None, 100), secret="whsec_not_ours")
    assert forged_payment.status_code == 400
    old = await t.stripe(checkout_event("cs_x", patient.id, None, 100), at=int(time.time()) - 3600)
    assert old.status_code == 400
    assert await t.services.threads.find_by_phone(_phone(t)) is None


async def held_sms_replay(t: Target) -> None:
    form = sms_form(_phone(t), "what do I owe?")
    for _ in range(3):
        assert (await t.sms(form)).status_code == 200
    thread = await t.services.threads.find_by_phone(_phone(t))
    assert thread is not None
    assert len(await t.services.threads.inbound_of(thread.id)) == 1


async def held_oversized_and_malformed(t: Target) -> None:
    patient = t.portal_patient()
    thread = await t.thread(patient)
    url = f"/v1/portal/threads/{thread}/messages"
    huge = await t.http.post(
        url, headers={**t.auth(patient), "Content-Type": "application/json"}, content=b"{" * 20_000
    )
    assert huge.status_code == 413
    broken = await t.http.post(
        url, headers={**t.auth(patient), "Content-Type": "application/json"}, content=b"{not json"
    )
    assert broken.status_code == 422
    text = await t.http.post(url, headers={**t.auth(patient), "Content-Type": "text/plain"}, content=b"hi")
    assert text.status_code == 415
    long = await t.http.post(url, headers=t.auth(patient), json={"text": "x" * 2001})
    assert long.status_code == 422
    extra = await t.http.post(url, headers=t.auth(patient), json={"text": "hi", "patient_id": "P-1"})
    assert extra.status_code == 422
    assert await t.services.threads.inbound_of(thread) == []


LOCKED_OUT = {"login_failures_per_account": 5, "login_failures_per_ip": 20}
PER_PATIENT = {
    "rate_limit_thread_per_minute": 1,
    "rate_limit_thread_burst": 2,
    "rate_limit_patient_per_minute": 1,
    "rate_limit_patient_burst": 4,
}
PER_IP = {"rate_limit_ip_per_minute": 1, "rate_limit_ip_burst": 3}
PRODUCTION = {"environment": "production", "portal_token_secret": PORTAL_SECRET}

CASES = [
    Case("M1-login-30-wrong-then-right", m1_login_throttled, LOCKED_OUT),
    Case("M1-tokens-throttled", m1_tokens_throttled, LOCKED_OUT),
    Case("M1-one-address-many-accounts", m1_ip_throttled_across_accounts, LOCKED_OUT),
    Case("M1-success-clears-the-account", m1_success_clears_the_account, LOCKED_OUT),
    Case("L3-analytics-9999-12-31", l3_analytics_far_future),
    Case("L3-analytics-0001-01-01", l3_analytics_year_one),
    Case("L4-num-media-2e7", l4_num_media_twenty_million),
    Case("L4-num-media-1e11", l4_num_media_ten_to_the_eleventh),
    Case("L4-body-over-1600", l4_body_over_twilio_limit),
    Case("L5-session-we-never-created", l5_unknown_session),
    Case("L5-amount-not-the-one-we-created", l5_amount_differs_from_our_session),
    Case("L6-portal-2^63", l6_portal_two_to_the_63),
    Case("L6-portal-5000-digits", l6_portal_five_thousand_digits),
    Case("L6-portal-non-ascii-digit", l6_portal_non_ascii_digit),
    Case("L6-portal-after-2^63", l6_portal_after_query),
    Case("L6-console-last-event-id", l6_console_last_event_id),
    Case("L7-new-threads-same-patient", l7_new_threads_do_not_reset_the_limit, PER_PATIENT),
    Case("L7-rotating-x-forwarded-for", l7_forwarded_for_is_ignored_by_default, PER_IP),
    Case(
        "L7-trusted-proxy-configured",
        l7_forwarded_for_from_a_trusted_proxy,
        {**PER_IP, "forwarded_allow_ips": ["203.0.113.7"]},
    ),
    Case("info-10-year-token", info_ten_year_token),
    Case("info-another-patients-statement", info_other_patients_statement),
    Case("info-docs-metrics-production", info_docs_and_metrics_off_in_production, PRODUCTION),
    Case(
        "info-metrics-token",
        info_metrics_behind_a_token,
        {**PRODUCTION, "metrics_token": "scrape-token-for-the-suite"},
    ),
    Case("info-hsts", info_hsts_on_https, {"public_base_url": "https://billing.example.org"}),
    Case("info-sms-from-not-a-phone", info_sms_from_non_phone),
    Case("held-token-tampering", held_token_tampering),
    Case("held-cross-patient", held_cross_patient_thread),
    Case("held-csrf", held_csrf),
    Case("held-roles", held_roles),
    Case("held-webhook-forgery", held_webhook_forgery),
    Case("held-sms-replay", held_sms_replay),
    Case("held-oversized-malformed", held_oversized_and_malformed),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> tuple[Path, list[Patient]]:
    path = tmp_path_factory.mktemp("attack") / "seeded.db"
    shutil.copyfile(_sqlite_template, path)
    with ThreadPoolExecutor(max_workers=1) as pool:  # its own loop: module fixtures run outside the tests'.
        patients = pool.submit(asyncio.run, seed(f"sqlite+aiosqlite:///{path}")).result()
    return path, patients


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_attack(case: Case, seeded: tuple[Path, list[Patient]], tmp_path: Path) -> None:
    template, patients = seeded
    db = tmp_path / "target.db"
    shutil.copyfile(template, db)
    async with Target.build(f"sqlite+aiosqlite:///{db}", patients, **case.settings) as target:
        await case.attack(target)


# --------------------------------------------------------------------------- L9: a locked database


@pytest.fixture
async def _orphaned_closes_ended() -> AsyncIterator[None]:
    """Ends the tasks aiosqlite 0.22.1 leaves waiting forever once the test is done. A request cancelled
    while its SQLite connection waits for the lock makes SQLAlchemy close the connection gracefully and, on
    the cancellation, force-stop its thread; aiosqlite's ``close`` then awaits a second stop the finished
    thread never answers (the connection is closed; only that task is left). pytest-asyncio cancels each
    leftover task once at teardown, which this one swallows, so the test's event loop never closed."""
    yield
    me = asyncio.current_task()
    for _ in range(5):
        left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
        if not left:
            return
        for task in left:
            task.cancel()
        await asyncio.wait(left, timeout=1)


@pytest.mark.usefixtures("_orphaned_closes_ended")
async def test_locked_database_gives_503_with_retry_after_promptly(
    seeded: tuple[Path, list[Patient]], tmp_path: Path
) -> None:
    template, patients = seeded
    db = tmp_path / "target.db"
    shutil.copyfile(template, db)
    async with Target.build(
        f"sqlite+aiosqlite:///{db}", patients, request_timeout_s=2, health_timeout_s=1
    ) as t:
        patient = t.portal_patient()
        thread = await t.thread(patient)
        assert (await t.http.get("/health/ready")).status_code == 200
        locker = sqlite3.connect(db, timeout=0, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            started = time.perf_counter()
            response = await t.http.post(
                f"/v1/portal/threads/{thread}/messages", headers=t.auth(patient), json={"text": "balance?"}
            )
            elapsed = time.perf_counter() - started
            assert response.status_code == 503, response.text
            assert int(response.headers["Retry-After"]) >= 1
            assert elapsed < 6
            ready = await t.http.get("/health/ready")
            assert ready.status_code == 503
            assert "Retry-After" in ready.headers
            assert (await t.http.get("/health")).status_code == 503
            assert (await t.http.get("/health/live")).status_code == 200
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        # Once the lock is gone the service is ready again and takes the message.
        for _ in range(100):
            if (await t.http.get("/health/ready")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        retried = await t.http.post(
            f"/v1/portal/threads/{thread}/messages", headers=t.auth(patient), json={"text": "balance?"}
        )
        assert retried.status_code == 200
        texts = [m.text for m in await t.services.threads.inbound_of(thread)]
        if texts != ["balance?"] and importlib.util.find_spec("tools.sqlite_lane") is not None:
            # The lane runs a unit of work on its own thread: cancelling the request does not stop it,
            # and it commits once the lock is free. Its replacement (issue 16, one async write path)
            # runs the transaction on the event loop, where the cancellation rolls it back.
            pytest.xfail("the SQLite lane commits a unit its request gave up on (issue 16 removes it)")
        assert texts == ["balance?"], "the refused message was not stored: only the retry is answered"


# --------------------------------------------------------------------------- M1 across workers (Redis)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/6")


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL} (set TEST_REDIS_URL) for the shared rate-limit tests")


async def test_two_workers_share_sign_in_and_address_limits_through_redis(
    seeded: tuple[Path, list[Patient]], tmp_path: Path
) -> None:
    """Two app instances (two workers) on one Redis: failures on one count on the other, so the limit
    is the setting, not N times it."""
    _redis_or_skip()
    template, patients = seeded
    db = tmp_path / "target.db"
    shutil.copyfile(template, db)
    shared: dict[str, Any] = {
        "redis_url": REDIS_URL,
        "redis_key_prefix": f"attack-{secrets.token_hex(4)}",
        **LOCKED_OUT,
        **PER_IP,
    }
    url = f"sqlite+aiosqlite:///{db}"
    async with Target.build(url, patients, **shared) as one, Target.build(url, patients, **shared) as two:
        email = await one.staff_account(Role.MANAGER)
        for i in range(3):
            assert (
                await one.http.post("/v1/console/login", json={"email": email, "password": f"x{i}"})
            ).status_code == 401
        for i in range(2):
            assert (
                await two.http.post("/v1/console/login", json={"email": email, "password": f"y{i}"})
            ).status_code == 401
        refused = await one.http.post("/v1/console/login", json={"email": email, "password": STAFF_PASSWORD})
        assert refused.status_code == 429
        assert (
            await two.http.post("/v1/console/login", json={"email": email, "password": STAFF_PASSWORD})
        ).status_code == 429
        patient = one.portal_patient()
        codes = [
            (await target.http.post("/v1/portal/threads", headers=target.auth(patient), json={})).status_code
            for target in (one, two, one, two)
        ]
        assert codes == [201, 201, 201, 429]


# --------------------------------------------------------------------------- M1 at a window's edge


@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_failed_sign_ins_stay_refused_across_a_window_boundary(storage: str) -> None:
    """The sign-in limit is exact: five failures just before a window boundary still refuse the sixth
    attempt just after it. (A sliding-window counter weighs the previous window's failures by how much
    of it is still covered, so right after the boundary it counted 4.75 of 5 and let a guess through:
    CI saw ``401`` among the ``429``s when a run of wrong passwords straddled a quarter hour.)"""
    if storage == "redis":
        _redis_or_skip()
    limiter = RateLimiter(REDIS_URL if storage == "redis" else None, namespace=f"edge-{secrets.token_hex(4)}")
    item = RateLimitItemPerSecond(5, 2)
    await asyncio.sleep(2 - time.time() % 2 - 0.3)  # 0.3 s before a 2-second window boundary
    for _ in range(5):
        await limiter.hit(item, "login", "account", "a", exact=True)
    await asyncio.sleep(2 - time.time() % 2 + 0.1)  # 0.1 s after it
    assert await limiter.test(item, "login", "account", "a", exact=True) > 0, "a sixth guess got through"
