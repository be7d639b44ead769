"""Outreach email end to end: the service's settings build the SMTP channel, a real SMTP server (aiosmtpd on
127.0.0.1) receives the message, and the unsubscribe and bounce endpoints are driven over HTTP as a mail
client and a provider drive them. What is checked is what a patient (and a mailbox provider) sees: the
headers, both parts, the link, the postal address, and that nothing more arrives after an unsubscribe or a
hard bounce."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from api.deps import Services
from api.main import create_app
from api.settings import Settings
from tests.support.lifespan import STARTUP_S
from tests.support.smtp import SmtpRecorder, smtp_server
from tools.db import create_engine
from tools.demo import generate_practice
from tools.messaging.email import EmailChannel, OutreachEmail, SmtpTransport
from tools.messaging.email_consent import EmailConsentStore
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Patient, Practice

PUBLIC_BASE = "https://billing.example"
POSTAL = "12 Main Street, Springfield, IL 62701"
BOUNCE_SECRET = "bounce-secret-0123456789abcdef"
LINK = f"{PUBLIC_BASE}/portal/chat?offer=o-123"


@dataclass
class Mail:
    http: httpx.AsyncClient
    services: Services
    smtp: SmtpRecorder
    channel: EmailChannel
    store: EmailConsentStore
    patient: Patient
    practice: Practice

    @property
    def address(self) -> str:
        assert self.patient.email is not None
        return self.patient.email

    def email(self, to: str | None = None) -> OutreachEmail:
        return OutreachEmail(
            to=to or self.address,
            first_name=self.patient.first_name,
            practice=self.practice.name,
            amount_cents=34_550,
            link=LINK,
            plan_terms="3 monthly payments of $115.17",
            practice_phone=self.practice.phone,
        )


@pytest.fixture
async def mail(migrated_database_url: str) -> AsyncIterator[Mail]:
    engine = create_engine(migrated_database_url)
    ledger = LedgerPlatform(engine)
    await ledger.bulk_load(generate_practice(patients=20, seed=5))
    patient = next(p for p in await ledger.list_patients(limit=50, offset=0) if p.email)
    await engine.dispose()
    async with smtp_server() as smtp:
        settings = Settings(
            database_url=migrated_database_url,
            environment="test",
            public_base_url=PUBLIC_BASE,
            email_smtp_host="127.0.0.1",
            email_smtp_port=smtp.port,
            email_smtp_tls="none",
            email_from_address="billing@clinic.example",
            email_practice_postal_address=POSTAL,
            email_bounce_webhook_secret=SecretStr(BOUNCE_SECRET),
        )
        cfg = settings.email_config()
        assert cfg is not None
        app = create_app(settings)
        async with (
            LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_BASE) as http,
        ):
            services: Services = app.state.services
            store = EmailConsentStore(services.engine, settings.email_secret())
            channel = EmailChannel(cfg, SmtpTransport(cfg), store)
            practice = await services.platform.get_practice()
            yield Mail(http, services, smtp, channel, store, patient, practice)


def _parts(msg: EmailMessage) -> tuple[str, str]:
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def _unsubscribe_url(msg: EmailMessage) -> str:
    header = str(msg["List-Unsubscribe"])
    found = re.fullmatch(r"<(https://[^>]+)>", header)
    assert found, header
    return found.group(1)


async def test_email_arrives_with_headers_both_parts_link_and_one_click_unsubscribe(mail: Mail) -> None:
    result = await mail.channel.send(mail.email())
    assert result.status == "sent"
    (msg,) = mail.smtp.to(mail.address)
    assert msg["Message-ID"] == result.message_id
    assert mail.practice.name in str(msg["From"])
    assert "billing@clinic.example" in str(msg["From"])
    assert msg["Subject"] == f"{mail.practice.name}: your balance of $345.50"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    url = _unsubscribe_url(msg)
    assert url.startswith(f"{PUBLIC_BASE}/v1/email/unsubscribe?t=")
    assert mail.address.lower() not in url.lower()  # the URL carries a keyed hash, never the address

    text, html = _parts(msg)
    for part in (text, html):
        assert mail.patient.first_name in part
        assert "$345.50" in part
        assert "3 monthly payments of $115.17" in part
        assert POSTAL in part
    assert LINK in text
    assert f'href="{LINK}"' in html
    assert url in text
    assert f'href="{url.replace("&", "&amp;")}"' in html

    # The mail client's one-click POST (RFC 8058): no login, no cookie, just the token and this body.
    path = url.removeprefix(PUBLIC_BASE)
    r = await mail.http.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200, r.text
    assert "unsubscribed" in r.text
    assert await mail.store.standing(mail.address) == "unsubscribed"
    assert [e.source for e in await mail.store.history(mail.address)] == ["one_click"]

    for _ in range(3):
        assert (await mail.channel.send(mail.email())).status == "suppressed"
    # Case and spacing of the address do not get around it.
    assert (await mail.channel.send(mail.email(to=f" {mail.address.upper()} "))).status == "suppressed"
    assert len(mail.smtp.to(mail.address)) == 1


async def test_a_get_of_the_link_changes_nothing_and_a_forged_token_is_refused(mail: Mail) -> None:
    await mail.channel.send(mail.email())
    (msg,) = mail.smtp.to(mail.address)
    path = _unsubscribe_url(msg).removeprefix(PUBLIC_BASE)

    page = await mail.http.get(path)  # a link scanner, or the patient clicking the footer link
    assert page.status_code == 200
    assert '<form method="post"' in page.text
    assert await mail.store.standing(mail.address) == "unknown"
    assert (await mail.channel.send(mail.email())).status == "sent"

    token = urlsplit(path).query.removeprefix("t=")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    r = await mail.http.post(f"/v1/email/unsubscribe?t={forged}", content=b"List-Unsubscribe=One-Click")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_unsubscribe_link"
    assert await mail.store.standing(mail.address) == "unknown"

    # The page's own button posts without the one-click body: recorded as a link unsubscribe.
    assert (await mail.http.post(path)).status_code == 200
    assert [e.source for e in await mail.store.history(mail.address)] == ["link"]
    assert (await mail.channel.send(mail.email())).status == "suppressed"


async def test_a_hard_bounce_stops_email_a_soft_bounce_does_not(mail: Mail) -> None:
    auth = {"Authorization": f"Bearer {BOUNCE_SECRET}"}
    soft = {"event_id": "evt-1", "address": mail.address, "kind": "soft_bounce", "status": "4.2.2"}
    assert (await mail.http.post("/v1/email/bounces", json=soft, headers=auth)).json() == {"recorded": True}
    assert (await mail.channel.send(mail.email())).status == "sent"

    hard = {"event_id": "evt-2", "address": mail.address, "kind": "hard_bounce", "status": "5.1.1"}
    assert (await mail.http.post("/v1/email/bounces", json=hard, headers=auth)).json() == {"recorded": True}
    # The provider redelivers the same event: recorded once.
    assert (await mail.http.post("/v1/email/bounces", json=hard, headers=auth)).json() == {"recorded": False}
    assert await mail.store.standing(mail.address) == "bounced"
    assert (await mail.channel.send(mail.email())).status == "suppressed"
    assert len(mail.smtp.to(mail.address)) == 1

    # Staff corrected the address and the patient asked again: email may go out again.
    await mail.store.record(mail.address, "opt_in", "staff")
    assert (await mail.channel.send(mail.email())).status == "sent"
    assert len(mail.smtp.to(mail.address)) == 2


async def test_the_bounce_webhook_refuses_a_wrong_secret_and_bad_input(mail: Mail) -> None:
    hard = {"event_id": "evt-9", "address": mail.address, "kind": "hard_bounce"}
    wrong = await mail.http.post("/v1/email/bounces", json=hard, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    missing = await mail.http.post("/v1/email/bounces", json=hard)
    assert missing.status_code == 403
    bad = await mail.http.post(
        "/v1/email/bounces",
        json={"event_id": "x", "address": "not-an-address", "kind": "hard_bounce"},
        headers={"Authorization": f"Bearer {BOUNCE_SECRET}"},
    )
    assert bad.status_code == 422
    assert await mail.store.standing(mail.address) == "unknown"
    assert (await mail.channel.send(mail.email())).status == "sent"
