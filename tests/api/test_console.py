"""The staff console through HTTP: the real app, the real agent on the seeded demo practice, real
SQLite/PostgreSQL; the patient talks through the portal API, staff through the console API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from agent import templates as T
from api.staff import Role, SessionKind, StaffDirectory
from tests.api.console_support import PASSWORD, ConsoleEnv, StaffClient, console_env
from tests.api.portal_support import Sse, live_server, read_sse
from tests.support.outbox import outbox_drained
from tools.platforms.models import Author, Channel, Patient, PlanStatus, TicketStatus, TranscriptLine


@pytest.fixture
async def env(migrated_database_url: str, tmp_path: Path) -> AsyncIterator[ConsoleEnv]:
    async with console_env(migrated_database_url, tmp_path) as console:
        yield console


def portal_patients(env: ConsoleEnv) -> list[Patient]:
    with_statements = {s.patient_id for s in env.data.statements}
    return [p for p in env.data.patients if p.portal_user_id and p.id in with_statements]


async def escalate(env: ConsoleEnv, patient: Patient, text: str = "I want to talk to a real person") -> str:
    thread = await env.open_thread(patient)
    turn = await env.say(patient, thread, text)
    assert "handoff" in turn, turn
    return thread


async def plan_patient(env: ConsoleEnv) -> Patient:
    """A portal patient whose balance needs staff approval for a plan."""
    policy = env.services.agent.ports.policy
    for p in portal_patients(env):
        summary = await env.services.platform.get_account_summary(p.id)
        if summary.has_active_plan or summary.has_defaulted_plan:
            continue
        if summary.balance_cents > policy.auto_approve_ceiling_cents:
            return p
    raise LookupError("no patient above the approval ceiling")


async def request_plan_approval(env: ConsoleEnv) -> tuple[Patient, str, str]:
    patient = await plan_patient(env)
    thread = await env.open_thread(patient)
    await env.say(patient, thread, "I'd like a payment plan")
    await env.say(patient, thread, "option 1")
    turn = await env.say(patient, thread, "yes")
    assert "requested_approval" in turn["message"][0]["actions"]
    plans = await env.services.platform.list_payment_plans(patient.id)
    pending = [pl for pl in plans if pl.status is PlanStatus.PENDING_APPROVAL]
    assert len(pending) == 1
    return patient, thread, pending[0].id


# --------------------------------------------------------------------------- signing in


async def test_login_sets_httponly_lax_cookies_and_a_bound_csrf_token(env: ConsoleEnv) -> None:
    alex = StaffClient(env.client(), env.staff["alex"])
    response = await alex.login()
    assert response.status_code == 200
    body = response.json()
    assert body["staff"] == {"id": env.staff["alex"].id, "email": "alex@practice.test", "role": "agent"}
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("pba_console_session="))
    csrf = next(c for c in cookies if c.startswith("pba_console_csrf="))
    assert "HttpOnly" in session
    assert "samesite=lax" in session.lower()
    assert "HttpOnly" not in csrf  # the page reads it to echo it in X-CSRF-Token
    assert f"pba_console_csrf={body['csrf_token']}" in csrf
    assert "Secure" not in session  # plain http here; see the https case below
    me = await alex.get("/v1/console/me")
    assert me.status_code == 200
    assert me.json()["role"] == "agent"

    secure = StaffClient(env.client(base_url="https://testserver"), env.staff["alex"])
    over_https = await secure.login()
    assert over_https.status_code == 200
    assert all("Secure" in c for c in over_https.headers.get_list("set-cookie"))


async def test_wrong_password_and_unknown_email_are_the_same_401(env: ConsoleEnv) -> None:
    http = env.client()
    wrong = await http.post(
        "/v1/console/login", json={"email": "alex@practice.test", "password": "nope-nope-nope"}
    )
    unknown = await http.post("/v1/console/login", json={"email": "who@practice.test", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json() == unknown.json() == {"error": "not_authenticated", "detail": "wrong e-mail or password"}
    )
    assert "set-cookie" not in wrong.headers
    assert (await http.get("/v1/console/queue")).status_code == 401
    token = await http.post(
        "/v1/console/tokens", json={"email": "alex@practice.test", "password": "bad-bad-bad"}
    )
    assert token.status_code == 401


async def test_expired_session_and_expired_bearer_token_are_401(env: ConsoleEnv) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    directory = StaffDirectory(env.services.engine, clock=lambda: past)
    cookie = await directory.open_session(env.staff["alex"], SessionKind.COOKIE)
    bearer = await directory.open_session(env.staff["alex"], SessionKind.BEARER)
    http = env.client()
    http.cookies.set("pba_console_session", cookie.token)
    expired = await http.get("/v1/console/queue")
    assert expired.status_code == 401
    assert expired.json() == {"error": "not_authenticated", "detail": "session expired: sign in again"}
    plain = env.client()
    as_bearer = await plain.get("/v1/console/queue", headers={"Authorization": f"Bearer {bearer.token}"})
    assert as_bearer.status_code == 401
    # A cookie token is not a bearer token, and the other way round.
    live = await StaffDirectory(env.services.engine).open_session(env.staff["alex"], SessionKind.COOKIE)
    crossed = await plain.get("/v1/console/queue", headers={"Authorization": f"Bearer {live.token}"})
    assert crossed.status_code == 401


async def test_bearer_token_works_without_csrf_and_logout_revokes_it(env: ConsoleEnv) -> None:
    http = env.client()
    issued = await http.post("/v1/console/tokens", json={"email": "alex@practice.test", "password": PASSWORD})
    assert issued.status_code == 200
    auth = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    assert (await http.get("/v1/console/me", headers=auth)).json()["email"] == "alex@practice.test"
    assert (await http.post("/v1/console/logout", headers=auth)).status_code == 204
    assert (await http.get("/v1/console/me", headers=auth)).status_code == 401


async def test_unsafe_request_without_the_csrf_token_is_403_and_changes_nothing(env: ConsoleEnv) -> None:
    patient = portal_patients(env)[0]
    thread = await escalate(env, patient)
    alex = await env.signed_in("alex")
    missing = await alex.http.post(f"/v1/console/threads/{thread}/take-over")
    assert missing.status_code == 403
    assert missing.json()["error"] == "forbidden"
    wrong = await alex.http.post(
        f"/v1/console/threads/{thread}/take-over", headers={"X-CSRF-Token": "forged"}
    )
    assert wrong.status_code == 403
    # A cookie and header that match each other but not the session (a planted cookie) are refused too.
    alex.http.cookies.set("pba_console_csrf", "planted")
    planted = await alex.http.post(
        f"/v1/console/threads/{thread}/take-over", headers={"X-CSRF-Token": "planted"}
    )
    assert planted.status_code == 403
    assert (await env.services.threads.get(thread)).holder is None
    alex.http.cookies.set("pba_console_csrf", alex.csrf)
    assert (await alex.post(f"/v1/console/threads/{thread}/take-over")).status_code == 200


# --------------------------------------------------------------------------- the queue and a thread


async def test_queue_is_ordered_by_priority_then_waiting_time(env: ConsoleEnv) -> None:
    first, second, third = portal_patients(env)[:3]
    early = await escalate(env, first)
    urgent = await escalate(env, second, "my attorney says I should not pay this, I'll file a lawsuit")
    late = await escalate(env, third)
    alex = await env.signed_in("alex")
    queue = (await alex.get("/v1/console/queue")).json()
    assert [item["thread"]["id"] for item in queue] == [urgent, early, late]
    assert queue[0]["thread"]["escalation_priority"] == "urgent"
    assert queue[0]["thread"]["escalation_reason"] == "legal"
    assert queue[1]["thread"]["escalation_reason"] == "requested_human"
    assert all(item["state"] == "waiting" for item in queue)


async def test_thread_view_has_the_transcript_and_the_patients_context(env: ConsoleEnv) -> None:
    patient = portal_patients(env)[0]
    thread = await env.open_thread(patient)
    await env.say(patient, thread, "what is my balance?")
    await env.say(patient, thread, "I want to talk to a real person")
    alex = await env.signed_in("alex")
    detail = (await alex.get(f"/v1/console/threads/{thread}")).json()
    texts = [line["text"] for line in detail["transcript"]]
    assert "what is my balance?" in texts
    assert "I want to talk to a real person" in texts
    assert {line["author"] for line in detail["transcript"]} >= {"patient", "bot"}
    summary = await env.services.platform.get_account_summary(patient.id)
    context = detail["patient"]
    assert context["summary"]["balance_cents"] == summary.balance_cents
    assert context["statements"]
    assert context["statements"][0]["line_items"]
    assert context["claims"] == [
        c.model_dump(mode="json") for c in await env.services.platform.list_claims(patient.id)
    ]
    assert detail["escalation_reason"] == "requested_human"
    assert detail["ticket"]["reason"] == "requested_human"
    assert detail["ticket"]["thread_id"] == thread
    assert any(t["id"] == detail["ticket"]["id"] for t in context["tickets"])
    assert (await alex.get("/v1/console/threads/th_nope")).status_code == 404


async def test_take_over_is_exclusive_and_the_second_agent_sees_who_holds_it(env: ConsoleEnv) -> None:
    patient = portal_patients(env)[0]
    thread = await escalate(env, patient)
    alex, blake = await env.signed_in("alex"), await env.signed_in("blake")
    taken = await alex.post(f"/v1/console/threads/{thread}/take-over")
    assert taken.status_code == 200
    assert taken.json()["holder"] == env.staff["alex"].actor
    second = await blake.post(f"/v1/console/threads/{thread}/take-over")
    assert second.status_code == 409
    assert second.json()["error"] == "thread_locked"
    assert "alex@practice.test" in second.json()["detail"]
    assert (await blake.post(f"/v1/console/threads/{thread}/reply", {"text": "hi"})).status_code == 409
    assert (await blake.post(f"/v1/console/threads/{thread}/hand-back", {})).status_code == 409
    detail = (await blake.get(f"/v1/console/threads/{thread}")).json()
    assert detail["thread"]["holder_email"] == "alex@practice.test"
    assert detail["thread"]["mode"] == "human"
    queue = (await blake.get("/v1/console/queue")).json()
    assert queue[0]["state"] == "held"
    ticket = next(
        t
        for t in await env.services.platform.list_tickets(patient.id)
        if t.id == detail["thread"]["ticket_id"]
    )
    assert ticket.status is TicketStatus.ASSIGNED
    assert ticket.assignee == env.staff["alex"].actor
    # While a person holds the thread the bot stays silent.
    silent = await env.say(patient, thread, "hello? anyone there?")
    assert "message" not in silent


async def test_reply_hand_back_and_the_bot_answers_again_all_audited(env: ConsoleEnv) -> None:
    patient = portal_patients(env)[0]
    thread = await escalate(env, patient)
    alex = await env.signed_in("alex")
    assert (await alex.post(f"/v1/console/threads/{thread}/reply", {"text": "Hello"})).status_code == 409
    assert (await alex.post(f"/v1/console/threads/{thread}/take-over")).status_code == 200
    sent = await alex.post(f"/v1/console/threads/{thread}/reply", {"text": "Hi, this is Alex from billing."})
    assert sent.status_code == 200
    staff_events = await env.services.events.of_types(thread, frozenset({"staff_message"}))
    assert [e.data["text"] for e in staff_events] == ["Hi, this is Alex from billing."]
    assert sent.json()["event_id"] == staff_events[0].id
    await outbox_drained(env.services.agent.ports.outbox)
    comms = await env.services.platform.list_communications(patient.id, thread, 50)
    assert comms[-1].text == "Hi, this is Alex from billing."
    assert comms[-1].author.value == "staff"

    back = await alex.post(f"/v1/console/threads/{thread}/hand-back", {"note": "balance explained"})
    assert back.status_code == 200
    assert back.json()["mode"] == "bot"
    assert back.json()["holder"] is None
    answer = await env.say(patient, thread, "what is my balance?")
    assert answer["message"][0]["text"].startswith(T.BACK_FROM_HUMAN["en"])

    resolved = await alex.post(f"/v1/console/threads/{thread}/resolve")
    assert resolved.status_code == 200
    assert resolved.json()["escalated_at"] is None
    assert (await alex.get("/v1/console/queue")).json() == []
    ticket_id = resolved.json()["ticket_id"]
    ticket = next(t for t in await env.services.platform.list_tickets(patient.id) if t.id == ticket_id)
    assert ticket.status is TicketStatus.RESOLVED
    assert (await alex.post(f"/v1/console/threads/{thread}/resolve")).status_code == 409

    actor = env.staff["alex"].actor
    mine = [(a.event, a.thread_id) for a in await env.audit() if a.actor == actor]
    assert mine == [
        ("console.login", None),
        ("console.take_over", thread),
        ("console.reply", thread),
        ("console.hand_back", thread),
        ("console.resolve", thread),
    ]
    reply_record = next(a for a in await env.audit() if a.event == "console.reply")
    assert reply_record.payload == {"event_id": staff_events[0].id}  # ids only, never the words
    assert (await env.services.audit.verify()).ok


async def test_staff_reply_reaches_the_patients_live_portal_stream(
    migrated_database_url: str, tmp_path: Path
) -> None:
    async with console_env(migrated_database_url, tmp_path) as env:
        patient = portal_patients(env)[0]
        thread = await escalate(env, patient)
    # The same database, now behind a real server: the patient's stream stays open while staff reply.
    from api.main import create_app

    app = create_app(env.settings)
    async with live_server(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        alex = StaffClient(http, env.staff["alex"])
        assert (await alex.login()).status_code == 200
        assert (await alex.post(f"/v1/console/threads/{thread}/take-over")).status_code == 200
        async with http.stream(
            "GET", f"/v1/portal/threads/{thread}/events", headers=env.patient_auth(patient)
        ) as response:
            stream = read_sse(response, until="staff_message")

            async def first() -> Sse:
                return await anext(stream)

            waiter = asyncio.create_task(first())
            await asyncio.sleep(0.2)
            assert not waiter.done()
            sent = await alex.post(
                f"/v1/console/threads/{thread}/reply", {"text": "Hi, Alex from billing here."}
            )
            assert sent.status_code == 200
            event = await asyncio.wait_for(waiter, 5)
        assert event.event == "staff_message"
        assert event.data["text"] == "Hi, Alex from billing here."
        assert event.id == sent.json()["event_id"]


# --------------------------------------------------------------------------- plan approvals


async def test_an_agent_cannot_decide_a_plan_a_manager_approves_it_and_the_plan_is_active(
    env: ConsoleEnv,
) -> None:
    patient, thread, plan_id = await request_plan_approval(env)
    alex, morgan = await env.signed_in("alex"), await env.signed_in("morgan")
    waiting = (await alex.get("/v1/console/approvals")).json()
    assert [(a["thread_id"], a["plan_id"]) for a in waiting] == [(thread, plan_id)]
    assert (await alex.get(f"/v1/console/threads/{thread}")).json()["pending_approval"]["plan_id"] == plan_id

    refused = await alex.post(f"/v1/console/threads/{thread}/plan-decision", {"approved": True})
    assert refused.status_code == 403
    assert refused.json()["error"] == "forbidden"
    plans = await env.services.platform.list_payment_plans(patient.id)
    assert next(p for p in plans if p.id == plan_id).status is PlanStatus.PENDING_APPROVAL

    approved = await morgan.post(f"/v1/console/threads/{thread}/plan-decision", {"approved": True})
    assert approved.status_code == 200, approved.text
    assert approved.json()["plan_status"] == "active"
    plan = next(p for p in await env.services.platform.list_payment_plans(patient.id) if p.id == plan_id)
    assert plan.status is PlanStatus.ACTIVE
    assert plan.approver == env.staff["morgan"].actor
    told = await env.services.events.after(thread, approved.json()["event_id"] - 1)
    assert told[0].type == "message"
    assert str(told[0].data["text"]).startswith("Good news: your payment plan was approved")
    assert (await morgan.get("/v1/console/approvals")).json() == []
    again = await morgan.post(f"/v1/console/threads/{thread}/plan-decision", {"approved": False})
    assert again.status_code == 409
    decided = [a for a in await env.audit() if a.event == "console.plan_approved"]
    assert [(a.actor, a.thread_id, a.payload["plan_id"]) for a in decided] == [
        (env.staff["morgan"].actor, thread, plan_id)
    ]


async def test_a_manager_denies_a_plan(env: ConsoleEnv) -> None:
    patient, thread, plan_id = await request_plan_approval(env)
    morgan = await env.signed_in("morgan")
    denied = await morgan.post(f"/v1/console/threads/{thread}/plan-decision", {"approved": False})
    assert denied.status_code == 200
    assert denied.json()["plan_status"] == "denied"
    plan = next(p for p in await env.services.platform.list_payment_plans(patient.id) if p.id == plan_id)
    assert plan.status is PlanStatus.DENIED
    assert any(
        a.event == "console.plan_denied" and a.actor == env.staff["morgan"].actor for a in await env.audit()
    )


# --------------------------------------------------------------------------- live feed, analytics, page


async def test_console_feed_streams_thread_events_and_resumes_after_last_event_id(env: ConsoleEnv) -> None:
    patient = portal_patients(env)[0]
    thread = await escalate(env, patient)
    alex = await env.signed_in("alex")
    start = await env.services.events.last_id()
    feed = asyncio.create_task(
        alex.get("/v1/console/events", params={"limit": 1}, headers={"Last-Event-ID": str(start)})
    )
    await asyncio.sleep(0.1)
    assert (await alex.post(f"/v1/console/threads/{thread}/take-over")).status_code == 200
    response = await asyncio.wait_for(feed, 10)
    assert response.status_code == 200
    blocks = [b for b in response.text.replace("\r\n", "\n").split("\n\n") if "event: thread" in b]
    assert len(blocks) == 1
    data = json.loads(next(line[6:] for line in blocks[0].split("\n") if line.startswith("data: ")))
    assert data["thread_id"] == thread
    assert data["type"] == "mode"
    assert f"id: {data['event_id']}" in blocks[0]
    # Replaying from an earlier id gives the turn's events too, without token deltas.
    replay = await alex.get("/v1/console/events", params={"limit": 3}, headers={"Last-Event-ID": "0"})
    assert '"type": "token"' not in replay.text
    assert (await env.client().get("/v1/console/events", params={"limit": 1})).status_code == 401


async def test_analytics_counts_conversations_handoffs_and_the_first_human_reply(env: ConsoleEnv) -> None:
    patients = portal_patients(env)
    bot_only = await env.open_thread(patients[1])
    await env.say(patients[1], bot_only, "what is my balance?")
    handed = await escalate(env, patients[0])
    alex = await env.signed_in("alex")
    await alex.post(f"/v1/console/threads/{handed}/take-over")
    await alex.post(f"/v1/console/threads/{handed}/reply", {"text": "Hello from billing."})
    stats = (await alex.get("/v1/console/analytics", params={"days": 7})).json()
    assert stats["conversations"] == 2
    assert stats["handoffs"] == 1
    assert stats["resolved_without_human"] == 1
    assert stats["resolution_rate"] == 0.5
    assert stats["handoff_rate"] == 0.5
    # The reply came seconds after the hand-off, within this test's run.
    assert stats["median_first_human_reply_s"] is not None
    assert 0 <= stats["median_first_human_reply_s"] < 60
    intents = {i["intent"]: i["count"] for i in stats["top_intents"]}
    assert intents["balance"] >= 1
    assert len(stats["by_day"]) == 7
    assert sum(d["conversations"] for d in stats["by_day"]) == 2
    assert (await alex.get("/v1/console/analytics", params={"days": 0})).status_code == 422


async def test_console_page_assets_and_openapi(env: ConsoleEnv) -> None:
    http = env.client()
    page = await http.get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<label for="login-email">' in page.text
    assert (await http.get("/console/console.js")).headers["content-type"].startswith("text/javascript")
    assert (await http.get("/console/console.css")).status_code == 200
    spec = (await http.get("/openapi.json")).json()
    take_over = spec["paths"]["/v1/console/threads/{thread_id}/take-over"]["post"]
    assert {"401", "403", "404", "409"} <= set(take_over["responses"])
    assert "403" in spec["paths"]["/v1/console/threads/{thread_id}/plan-decision"]["post"]["responses"]
    schemes = spec["components"]["securitySchemes"]
    assert {"ConsoleSession", "ConsoleToken"} <= set(schemes)


@pytest.mark.parametrize("role", list(Role))
async def test_every_role_can_sign_in_and_read_the_queue(env: ConsoleEnv, role: Role) -> None:
    await env.add_staff(f"someone-{role.value}", role)
    member = await env.signed_in(f"someone-{role.value}")
    assert (await member.get("/v1/console/queue")).status_code == 200


async def test_requests_queued_during_an_outage_are_listed_until_opened_as_tickets(env: ConsoleEnv) -> None:
    patient = portal_patients(env)[0]
    handoffs = env.services.agent.ports.handoffs
    assert handoffs is not None
    said = [TranscriptLine(author=Author.PATIENT, text="I need a person", at=datetime.now(UTC))]
    verified = await handoffs.queue(
        thread_id="th-out-1", channel=Channel.PORTAL, patient_id=patient.id, transcript=said,
        idempotency_key="outage-handoff:th-out-1",
    )  # fmt: skip
    unknown = await handoffs.queue(
        thread_id="th-out-2", channel=Channel.SMS, patient_id=None, transcript=said,
        idempotency_key="outage-handoff:th-out-2",
    )  # fmt: skip
    alex = await env.signed_in("alex")
    listed = (await alex.get("/v1/console/outage-handoffs")).json()
    assert [(h["reference"], h["thread_id"], h["patient_id"]) for h in listed] == [
        (verified.reference, "th-out-1", patient.id),
        (unknown.reference, "th-out-2", None),
    ]
    # The platform is back: the verified patient's request becomes a ticket and leaves the list.
    await handoffs.sync(env.services.platform)
    listed = (await alex.get("/v1/console/outage-handoffs")).json()
    assert [h["reference"] for h in listed] == [unknown.reference]
    assert (await env.client().get("/v1/console/outage-handoffs")).status_code == 401
