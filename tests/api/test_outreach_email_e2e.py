"""Outreach by email end to end: the engine as the service wires it (``api.outreach.build_outreach`` from
the settings), a real SMTP server (aiosmtpd on 127.0.0.1), the service's own one-click unsubscribe route
over HTTP, and the shipped example policy that sends email first for balances of $300 or more and follows
an unanswered text up by email. What is checked is what the patient and a mailbox provider see."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager

from agent.outreach.engine import OutreachEngine, Pacer
from api.deps import Services
from api.main import create_app
from api.outreach import build_outreach
from api.security import issue_portal_token
from api.settings import Settings
from guardrails.audit import AuditTrail
from guardrails.policy import PracticePolicy, load_policy
from tests.api.portal_support import parse_sse
from tests.support.lifespan import STARTUP_S
from tests.support.outreach import START, Clock, approve_all, phone_of, practice
from tests.support.smtp import SmtpRecorder, smtp_server
from tools.errors import ConfigurationError
from tools.messaging.email_consent import EmailConsentStore
from tools.messaging.log import LogMessaging
from tools.outreach.links import verify_offer_token
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Channel

EMAIL_POLICY = Path(__file__).resolve().parents[2] / "agent" / "outreach" / "data" / "policy_email.yaml"
PUBLIC_BASE = "https://billing.example"
POSTAL = "12 Main Street, Springfield, IL 62701"
# Omar owes $640 (email first: over $300, a plan offer); Karen owes $215 (a text first, then email).
PEOPLE = {
    "omar": ("Omar", "NY", "10002", 64000, True, ""),
    "karen": ("Karen", "NY", "10001", 21500, True, ""),
    "lena": ("Lena", "CA", "94105", 45000, True, ""),
}


@dataclass
class Outreach:
    http: httpx.AsyncClient
    services: Services
    settings: Settings
    smtp: SmtpRecorder
    sms: LogMessaging
    engine: OutreachEngine
    clock: Clock
    consent: EmailConsentStore

    async def run(self, days: int, *, hours: int = 0) -> None:
        """One decision pass and one send pass a day (at the clock's time of day) for ``days`` days."""
        for _ in range(days):
            await self.engine.decide_pass()
            await self.engine.send_pass()
            self.clock.advance(days=1, hours=hours)

    async def audit(self, event: str, patient_id: str) -> list[dict[str, Any]]:
        records = await self.services.audit.records(limit=10_000)
        return [r.payload for r in records if r.event == event and r.patient_id == patient_id]


def address(pid: str) -> str:
    return f"{pid}@example.org"


def email_policy(**outreach: Any) -> PracticePolicy:
    policy = load_policy(EMAIL_POLICY)
    assert policy.outreach is not None
    changed = policy.outreach.model_copy(update=outreach)
    return policy.model_copy(update={"outreach": changed})


async def _outreach(
    url: str, policy: PracticePolicy, refuse: set[str] | None = None, start: datetime = START
) -> AsyncIterator[Outreach]:
    from tools.db import create_engine

    engine = create_engine(url)
    clock = Clock(start)
    await LedgerPlatform(engine, clock=clock).bulk_load(practice(PEOPLE))
    await engine.dispose()
    async with smtp_server() as smtp:
        smtp.refuse = refuse or set()
        settings = Settings(
            database_url=url,
            environment="test",
            public_base_url=PUBLIC_BASE,
            email_smtp_host="127.0.0.1",
            email_smtp_port=smtp.port,
            email_smtp_tls="none",
            email_from_address="billing@clinic.example",
            email_practice_postal_address=POSTAL,
        )
        app = create_app(settings)
        async with (
            LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_BASE) as http,
        ):
            services: Services = app.state.services
            ledger = LedgerPlatform(services.engine, clock=clock)
            sms = LogMessaging()

            async def thread_for(phone: str) -> str:
                return f"sms:{phone}"

            async def no_wait(_: float) -> None:
                return None

            outreach = build_outreach(
                settings, services.engine, ledger, sms, services.audit, policy, thread_for,
                worker="e2e", clock=clock, pacer=Pacer(1.0, monotonic=lambda: 0.0, sleep=no_wait),
            )  # fmt: skip
            await approve_all(outreach.store)
            consent = EmailConsentStore(services.engine, settings.email_secret())
            yield Outreach(http, services, settings, smtp, sms, outreach, clock, consent)


@pytest.fixture
async def world(migrated_database_url: str) -> AsyncIterator[Outreach]:
    async for w in _outreach(migrated_database_url, email_policy()):
        yield w


def _parts(msg: EmailMessage) -> tuple[str, str]:
    text, html = msg.get_body(preferencelist=("plain",)), msg.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def _unsubscribe_path(msg: EmailMessage) -> str:
    found = re.fullmatch(r"<(https://[^>]+)>", str(msg["List-Unsubscribe"]))
    assert found, msg["List-Unsubscribe"]
    return found.group(1).removeprefix(PUBLIC_BASE)


async def test_the_send_pass_emails_over_smtp_and_one_click_unsubscribe_stops_all_later_email(
    world: Outreach,
) -> None:
    await world.engine.decide_pass()
    report = await world.engine.send_pass()
    assert report.sent == 2  # Omar by email, Karen by text (Lena: 07:00 in California, not yet)
    (msg,) = world.smtp.to(address("omar"))
    assert world.smtp.envelopes[0] == ("billing@clinic.example", [address("omar")])
    assert [m.to for m in world.sms.sent] == [phone_of("karen", PEOPLE)]

    # Headers a mailbox provider checks, and the subject.
    assert msg["Subject"] == "Maple Family Medicine: your balance of $640.00"
    assert str(msg["From"]) == "Maple Family Medicine <billing@clinic.example>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    unsubscribe = _unsubscribe_path(msg)
    assert unsubscribe.startswith("/v1/email/unsubscribe?t=")

    # Both parts: first name, practice, amount, the policy's plan terms, the link, the postal address.
    text, html = _parts(msg)
    (step,) = [s for s in await world.engine.store.timeline("omar") if s.status == "sent"]
    assert (step.channel, step.step) == ("email", "plan_offer")
    assert step.offer is not None
    link = re.search(r"https://\S+offer=\S+", text)
    assert link is not None
    assert link.group(0).startswith(f"{PUBLIC_BASE}/demo/portal?offer=o1.")
    token = parse_qs(urlsplit(link.group(0)).query)["offer"][0]
    assert verify_offer_token(world.settings.portal_token_secret, token, START) == step.id
    for part in (text, html):
        for shown in ("Omar", "Maple Family Medicine", "$640.00"):
            assert shown in part
        assert str(step.offer["label"]) in part
        assert POSTAL in part
        # Minimum PHI: no last name, service, code, provider, date of birth.
        for secret in ("Smithson", "Office visit", "99213", "Dr. Rivera", "1980"):
            assert secret not in part
    assert f'href="{link.group(0).replace("&", "&amp;")}"' in html

    # Recorded as an email, with its own audit entry naming the channel.
    comms = await world.services.platform.list_communications("omar", None, 10)
    assert [(c.channel, c.external_id) for c in comms] == [
        (Channel.EMAIL, str(msg["Message-ID"]).strip("<>"))
    ]
    assert [p["channel"] for p in await world.audit("outreach.sent", "omar")] == ["email"]
    assert [p["channel"] for p in await world.audit("outreach.sent", "karen")] == ["sms"]

    # The patient's mail client presses "Unsubscribe": one POST, no login.
    r = await world.http.post(
        unsubscribe,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text

    await world.run(30)
    assert len(world.smtp.to(address("omar"))) == 1  # nothing more by email, ever
    # The follow-up went by text instead (Omar may be texted), then a staff call task.
    omar = await world.engine.store.timeline("omar")
    assert [(s.channel, s.status) for s in omar] == [("email", "sent"), ("sms", "sent"), ("call", "open")]
    # Karen's text went unanswered: the follow-up came by email a week later.
    (karen_mail,) = world.smtp.to(address("karen"))
    assert "Karen" in _parts(karen_mail)[0]
    karen = [s for s in await world.engine.store.timeline("karen") if s.status == "sent"]
    assert [s.channel for s in karen] == ["sms", "email"]
    assert karen[1].sent_at is not None
    assert karen[0].sent_at is not None
    assert karen[1].sent_at - karen[0].sent_at >= timedelta(days=7)


async def test_a_refused_mailbox_is_a_hard_bounce_and_gets_no_more_email(migrated_database_url: str) -> None:
    async for w in _outreach(migrated_database_url, email_policy(), refuse={address("omar")}):
        await w.engine.decide_pass()
        report = await w.engine.send_pass()
        assert report.blocked == 1
        assert await w.consent.standing(address("omar")) == "bounced"
        await w.run(30)
        assert w.smtp.to(address("omar")) == []
        # The server saw one attempt for the address (refused at RCPT), and no message was ever accepted.
        assert all(address("omar") not in rcpts for _, rcpts in w.smtp.envelopes)
        sent = [s.channel for s in await w.engine.store.timeline("omar") if s.status == "sent"]
        assert sent  # reached by text instead
        assert "email" not in sent


async def test_a_bounce_recorded_before_the_first_send_means_zero_emails(world: Outreach) -> None:
    await world.consent.record(address("omar"), "hard_bounce", "command", detail="5.1.1")
    await world.consent.record(address("karen"), "unsubscribe", "one_click")
    await world.run(30)
    assert world.smtp.to(address("omar")) == []
    assert world.smtp.to(address("karen")) == []
    assert {s.channel for s in await world.engine.store.timeline("omar")} <= {"sms", "call"}


async def test_an_address_suppressed_after_the_decision_moves_the_step_to_text(world: Outreach) -> None:
    await world.engine.decide_pass()  # Omar's email is scheduled
    await world.consent.record(address("omar"), "complaint", "bounce_webhook")
    report = await world.engine.send_pass()
    assert report.deferred >= 1  # back to scheduled, on the text channel now
    await world.engine.send_pass()
    assert world.smtp.to(address("omar")) == []
    assert phone_of("omar", PEOPLE) in [m.to for m in world.sms.sent]


async def test_quiet_hours_hold_an_email_until_the_window_opens_in_the_recipients_zone(
    world: Outreach,
) -> None:
    await world.engine.decide_pass()
    (step,) = await world.engine.store.timeline("lena")
    opens = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)  # 08:00 in Los Angeles
    assert (step.channel, step.due_at) == ("email", opens)
    # The worker was down all day and comes back at 21:30 in Los Angeles: the gate holds the email.
    world.clock.now = datetime(2025, 3, 5, 5, 30, tzinfo=UTC)
    report = await world.engine.send_pass()
    assert report.deferred >= 1
    assert world.smtp.to(address("lena")) == []
    held = await world.engine.store.get(step.id)
    assert held is not None
    assert (held.status, held.status_reason) == ("scheduled", "quiet_hours")
    assert held.due_at == opens + timedelta(days=1)
    world.clock.now = opens + timedelta(days=1) - timedelta(minutes=1)
    await world.engine.send_pass()
    assert world.smtp.to(address("lena")) == []
    world.clock.now = opens + timedelta(days=1)
    await world.engine.send_pass()
    (msg,) = world.smtp.to(address("lena"))
    assert msg["Date"]  # RFC 5322


async def test_the_contact_cap_counts_a_text_and_an_email_together(migrated_database_url: str) -> None:
    # Two contacts in any 7 days; a follow-up every day, email after an unanswered text.
    policy = email_policy(contact_cap_per_7_days=2, follow_up_after_days=1, digital_attempts_before_call=5)
    async for w in _outreach(migrated_database_url, policy):
        await w.run(3)  # day 0: Karen's text; day 1: her email; day 2: over the cap
        karen = await w.engine.store.timeline("karen")
        assert [(s.channel, s.status) for s in karen] == [
            ("sms", "sent"),
            ("email", "sent"),
            ("email", "scheduled"),
        ]
        assert karen[2].status_reason == "contact_cap"
        first = karen[0].sent_at
        assert first is not None
        assert karen[2].due_at >= first + timedelta(days=7)  # the text's week must pass first
        assert len(w.smtp.to(address("karen"))) == 1


async def test_start_up_refuses_a_policy_that_emails_without_smtp(migrated_database_url: str) -> None:
    from tools.db import create_engine

    engine = create_engine(migrated_database_url)
    try:
        settings = Settings(database_url=migrated_database_url, environment="test")

        async def thread_for(phone: str) -> str:
            return phone

        with pytest.raises(ConfigurationError, match="BILLING_EMAIL_SMTP_HOST"):
            build_outreach(
                settings, engine, LedgerPlatform(engine), LogMessaging(), AuditTrail(engine), email_policy(),
                thread_for,
            )  # fmt: skip
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("  channels: [sms, email]", "email_first_min_balance_cents needs email in channels"),
        ("  follow_up_channel: email", "follow_up_channel email is not one of channels"),
    ],
)
def test_a_policy_file_that_chooses_email_without_the_channel_is_refused_at_load(
    tmp_path: Path, change: str, message: str
) -> None:
    text = EMAIL_POLICY.read_text(encoding="utf-8").replace("  channels: [sms, email]", "  channels: [sms]")
    if change.startswith("  channels"):
        text = text.replace("  follow_up_channel: email", "  follow_up_channel: same")
    else:
        text = text.replace("  email_first_min_balance_cents: 30000", "  email_first_min_balance_cents: null")
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError, match=message):
        load_policy(path)


async def _portal(world: Outreach, pid: str, body: dict[str, str]) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {issue_portal_token(world.settings, f'portal-{pid}')}"}
    r = await world.http.post("/v1/portal/threads", headers=auth, json=body)
    assert r.status_code == 201, r.text
    thread: dict[str, Any] = r.json()
    thread["auth"] = auth
    return thread


async def _say(world: Outreach, thread: dict[str, Any], text: str) -> str:
    r = await world.http.post(
        f"/v1/portal/threads/{thread['id']}/messages", headers=thread["auth"], json={"text": text}
    )
    assert r.status_code == 200, r.text
    messages = [e.data for e in parse_sse(r.text) if e.event == "message"]
    assert messages, r.text
    return str(messages[-1]["text"])


@pytest.fixture
async def today(migrated_database_url: str) -> AsyncIterator[Outreach]:
    """The world on today's date (15:00 UTC: office hours in New York): the portal checks a link's expiry
    and the offer's age against the real clock."""
    start = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0)
    async for w in _outreach(migrated_database_url, email_policy(), start=start):
        yield w


async def test_the_emails_link_opens_the_portal_chat_with_the_offer_and_yes_takes_it(today: Outreach) -> None:
    world = today
    await world.engine.decide_pass()
    await world.engine.send_pass()
    (msg,) = world.smtp.to(address("omar"))
    link = re.search(r"https://\S+offer=\S+", _parts(msg)[0])
    assert link is not None
    token = parse_qs(urlsplit(link.group(0)).query)["offer"][0]
    (step,) = [s for s in await world.engine.store.timeline("omar") if s.status == "sent"]
    assert step.offer is not None

    # Another patient holding Omar's link, and a forged link: the chat opens, without the offer.
    for opened in (
        await _portal(world, "karen", {"offer": token}),
        await _portal(world, "omar", {"offer": token[:-3] + "AAA"}),
    ):
        assert (opened["outreach_offer"], opened["outreach_step"]) == (False, None)

    thread = await _portal(world, "omar", {"offer": token})
    assert thread["outreach_offer"] is True
    assert thread["outreach_step"] == step.step == "plan_offer"  # the chat greets with the plan offer
    # Opening the link is an answer: the follow-up that was pending is cancelled.
    assert [(s.status, s.status_reason) for s in await world.engine.store.timeline("omar")] == [
        ("sent", None),
        ("cancelled", "replied"),
    ]
    assert await world.audit("outreach.link_opened", "omar") == [{"step_id": step.id}]

    confirm = await _say(world, thread, "YES")
    assert "(yes/no)" in confirm  # the offered terms stated to the signed-in patient, nothing written yet
    assert f"{step.offer['months']}" in confirm
    plans = await world.services.platform.list_payment_plans("omar")
    assert [p for p in plans if p.idempotency_key.startswith("plan:")] == []
    await _say(world, thread, "yes")
    plans = [
        p
        for p in await world.services.platform.list_payment_plans("omar")
        if p.idempotency_key.startswith("plan:")
    ]
    assert [(p.months, p.installment_cents, p.down_payment_cents) for p in plans] == [
        (step.offer["months"], step.offer["installment_cents"], step.offer["down_payment_cents"])
    ]


async def test_yes_in_a_chat_opened_without_a_link_is_just_a_yes(today: Outreach) -> None:
    world = today
    await world.engine.decide_pass()
    await world.engine.send_pass()
    thread = await _portal(world, "omar", {})
    assert thread["outreach_offer"] is False
    await _say(world, thread, "YES")
    plans = await world.services.platform.list_payment_plans("omar")
    assert [p for p in plans if p.idempotency_key.startswith("plan:")] == []
