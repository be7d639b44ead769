"""The SMS channel through HTTP, as Twilio drives it: every request signed exactly as Twilio signs it
(``twilio.request_validator.RequestValidator.compute_signature`` over the public URL and the form), the
real agent behind it on the seeded demo practice, and the log messaging adapter recording every text."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from api.deps import Services
from api.main import create_app
from api.routes.sms import EMPTY_TWIML
from api.settings import Settings
from guardrails.compliance import sms_segments
from guardrails.policy import load_policy
from tests.support.lifespan import STARTUP_S
from tools.db import create_engine
from tools.demo import generate_practice
from tools.messaging.consent import SmsConsentStore
from tools.messaging.log import LogMessaging
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Patient
from tools.webhook_events import WebhookEventLog

AUTH_TOKEN = "12345678901234567890123456789012"
PUBLIC_BASE = "https://billing.example"
PUBLIC_URL = f"{PUBLIC_BASE}/v1/sms/inbound"
PRACTICE_NUMBER = "+15555550100"


@dataclass
class Sms:
    http: httpx.AsyncClient
    services: Services
    patient: Patient

    @property
    def phone(self) -> str:
        assert self.patient.phone is not None
        return self.patient.phone

    @property
    def sent(self) -> LogMessaging:
        messaging = self.services.messaging
        assert isinstance(messaging, LogMessaging)
        return messaging

    def texts_to_patient(self) -> list[str]:
        return [m.body for m in self.sent.sent if m.to == self.phone]

    async def post(
        self,
        body: str,
        *,
        sid: str | None = None,
        extra: dict[str, str] | None = None,
        signature: str | None = None,
        sign_url: str = PUBLIC_URL,
        token: str = AUTH_TOKEN,
    ) -> httpx.Response:
        form = twilio_form(self.phone, body, sid=sid, extra=extra)
        sig = signature if signature is not None else sign(sign_url, form, token)
        return await self.http.post(
            "/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": sig} if sig else {}
        )

    async def settle(self) -> None:
        """Wait until every queued message of the patient's thread has had its turn."""
        for _ in range(400):
            thread = await self.services.threads.find_by_phone(self.phone)
            if thread is None:
                return
            pending = [m for m in await self.services.threads.inbound_of(thread.id) if m.status == "queued"]
            if not pending and self.services.runner.in_flight() == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the SMS turn did not finish within 20 s")

    async def inbound_count(self) -> int:
        thread = await self.services.threads.find_by_phone(self.phone)
        return 0 if thread is None else len(await self.services.threads.inbound_of(thread.id))


def twilio_form(
    phone: str, body: str, *, sid: str | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The fields Twilio posts for an inbound SMS."""
    message_sid = sid or f"SM{secrets.token_hex(16)}"
    form = {
        "ToCountry": "US",
        "SmsMessageSid": message_sid,
        "NumMedia": "0",
        "SmsSid": message_sid,
        "SmsStatus": "received",
        "Body": body,
        "FromCountry": "US",
        "To": PRACTICE_NUMBER,
        "NumSegments": "1",
        "MessageSid": message_sid,
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "From": phone,
        "ApiVersion": "2010-04-01",
    }
    form.update(extra or {})
    return form


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    signature: str = RequestValidator(token).compute_signature(url, form)
    return signature


async def _seeded(url: str) -> list[Patient]:
    engine = create_engine(url)
    ledger = LedgerPlatform(engine)
    await ledger.bulk_load(generate_practice(patients=30, seed=3))
    patients = await ledger.list_patients(limit=100, offset=0)
    await engine.dispose()
    return patients


def _sms_patient(patients: list[Patient]) -> Patient:
    phones = [p.phone for p in patients]
    return next(p for p in patients if p.phone and p.sms_consent and phones.count(p.phone) == 1)


async def _client(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield http, app.state.services


def _settings(url: str, **changes: object) -> Settings:
    fields: dict[str, object] = {
        "database_url": url,
        "environment": "test",
        "public_base_url": PUBLIC_BASE,
        "twilio_auth_token": SecretStr(AUTH_TOKEN),
    }
    fields.update(changes)
    return Settings(**fields)  # type: ignore[arg-type]  # keyword values of mixed field types


@pytest.fixture
async def sms(migrated_database_url: str) -> AsyncIterator[Sms]:
    patient = _sms_patient(await _seeded(migrated_database_url))
    async for http, services in _client(_settings(migrated_database_url)):
        yield Sms(http, services, patient)


def _ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.text == EMPTY_TWIML
    assert response.headers["content-type"].startswith("application/xml")


# --------------------------------------------------------------------------- the conversation


async def test_conversation_then_stop_silences_until_start(sms: Sms) -> None:
    consent = SmsConsentStore(sms.services.engine)
    max_segments = load_policy().sms_max_segments

    _ok(await sms.post("What do I owe?"))
    await sms.settle()
    replies = sms.texts_to_patient()
    assert len(replies) == 1  # the agent answered (it asks the sender to verify who they are first)
    assert 1 <= sms_segments(replies[0]) <= max_segments
    thread = await sms.services.threads.find_by_phone(sms.phone)
    assert thread is not None
    assert thread.channel == "sms"

    _ok(await sms.post("STOP"))
    assert await consent.standing(sms.phone) == "opted_out"
    after_stop = sms.texts_to_patient()
    assert len(after_stop) == 2
    assert "START" in after_stop[-1]
    inbound_before = await sms.inbound_count()

    _ok(await sms.post("Hello? How much is my bill?"))
    await sms.settle()
    assert sms.texts_to_patient() == after_stop  # nothing more was texted
    assert await sms.inbound_count() == inbound_before  # and no turn was queued

    _ok(await sms.post("START"))
    assert await consent.standing(sms.phone) == "opted_in"
    assert len(sms.texts_to_patient()) == 3
    assert "STOP" in sms.texts_to_patient()[-1]

    _ok(await sms.post("What do I owe?"))
    await sms.settle()
    assert len(sms.texts_to_patient()) == 4  # the agent answers again, on the same thread
    assert (await sms.services.threads.find_by_phone(sms.phone)) == await sms.services.threads.get(thread.id)
    assert [e.action for e in await consent.history(sms.phone)] == ["opt_out", "opt_in"]


async def test_advanced_opt_out_stop_is_recorded_and_we_send_nothing(sms: Sms) -> None:
    _ok(await sms.post("Stop", extra={"OptOutType": "STOP"}))
    history = await SmsConsentStore(sms.services.engine).history(sms.phone)
    assert [(e.action, e.source) for e in history] == [("opt_out", "advanced_opt_out")]
    assert sms.texts_to_patient() == []  # Twilio's Advanced Opt-Out sent the confirmation
    assert await sms.inbound_count() == 0  # no model, no graph, no thread


@pytest.mark.parametrize("text", ["please stop texting me", "No más mensajes por favor"])
async def test_free_text_revocation_is_treated_as_stop(sms: Sms, text: str) -> None:
    _ok(await sms.post(text))
    consent = SmsConsentStore(sms.services.engine)
    assert await consent.standing(sms.phone) == "opted_out"
    assert [(e.action, e.source) for e in await consent.history(sms.phone)] == [("opt_out", "free_text")]
    assert len(sms.texts_to_patient()) == 1  # one confirmation naming START
    assert await sms.inbound_count() == 0
    _ok(await sms.post("STOP"))  # already opted out: recorded, but no second confirmation
    assert len(sms.texts_to_patient()) == 1


async def test_help_is_answered_without_changing_consent(sms: Sms) -> None:
    _ok(await sms.post("help"))
    practice = await sms.services.platform.get_practice()
    (reply,) = sms.texts_to_patient()
    assert practice.phone in reply
    assert "STOP" in reply
    assert await SmsConsentStore(sms.services.engine).standing(sms.phone) == "unknown"
    assert await sms.inbound_count() == 0


async def test_yes_is_an_answer_unless_the_number_opted_out(sms: Sms) -> None:
    _ok(await sms.post("YES"))
    await sms.settle()
    assert await sms.inbound_count() == 1  # went to the agent
    assert await SmsConsentStore(sms.services.engine).standing(sms.phone) == "unknown"


# --------------------------------------------------------------------------- bad input


async def test_forged_or_missing_signature_is_refused_and_nothing_stored(sms: Sms) -> None:
    forged = sign(PUBLIC_URL, twilio_form(sms.phone, "STOP", sid="SMforged"), token="0" * 32)
    cases = [
        await sms.post("STOP", sid="SMforged", signature=forged),
        await sms.post("What do I owe?", signature=""),  # no header at all
        await sms.post("What do I owe?", sign_url="http://testserver/v1/sms/inbound"),  # not the public URL
    ]
    for response in cases:
        assert response.status_code == 403
        assert response.json()["error"] == "forbidden"
    # A body changed after signing is refused too.
    form = twilio_form(sms.phone, "What do I owe?")
    signature = sign(PUBLIC_URL, form)
    form["Body"] = "STOP"
    tampered = await sms.http.post("/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    assert tampered.status_code == 403
    await sms.settle()
    assert await sms.inbound_count() == 0
    assert await sms.services.threads.find_by_phone(sms.phone) is None
    assert await SmsConsentStore(sms.services.engine).history(sms.phone) == []
    assert sms.sent.sent == []


async def test_redelivered_message_sid_runs_one_turn(sms: Sms) -> None:
    sid = f"SM{secrets.token_hex(16)}"
    _ok(await sms.post("What do I owe?", sid=sid))
    _ok(await sms.post("What do I owe?", sid=sid))
    await sms.settle()
    _ok(await sms.post("What do I owe?", sid=sid))  # after the turn finished, too
    await sms.settle()
    assert await sms.inbound_count() == 1
    assert len(sms.texts_to_patient()) == 1
    thread = await sms.services.threads.find_by_phone(sms.phone)
    assert thread is not None
    done = await sms.services.events.of_types(thread.id, frozenset({"done"}))
    assert len(done) == 1


async def test_redelivered_stop_is_recorded_once(sms: Sms) -> None:
    sid = f"SM{secrets.token_hex(16)}"
    _ok(await sms.post("STOP", sid=sid))
    _ok(await sms.post("STOP", sid=sid))
    assert len(await SmsConsentStore(sms.services.engine).history(sms.phone)) == 1
    assert len(sms.texts_to_patient()) == 1


@pytest.mark.parametrize(
    ("body", "extra"),
    [
        ("", {}),
        ("   ", {}),
        (
            "",
            {
                "NumMedia": "1",
                "MediaUrl0": "https://api.twilio.com/media/ME1",
                "MediaContentType0": "image/jpeg",
            },
        ),
    ],
)
async def test_empty_or_media_only_gets_a_text_only_reply_once(
    sms: Sms, body: str, extra: dict[str, str]
) -> None:
    sid = f"SM{secrets.token_hex(16)}"
    _ok(await sms.post(body, sid=sid, extra=extra))
    _ok(await sms.post(body, sid=sid, extra=extra))  # a redelivery is answered once
    (reply,) = sms.texts_to_patient()
    assert "text" in reply.lower()
    assert await sms.inbound_count() == 0
    assert await sms.services.threads.find_by_phone(sms.phone) is None
    assert await WebhookEventLog(sms.services.engine).seen("twilio", sid)


async def test_wrong_content_type_is_415_with_our_error_shape(sms: Sms) -> None:
    response = await sms.http.post(
        "/v1/sms/inbound", json={"Body": "hi"}, headers={"X-Twilio-Signature": "x"}
    )
    assert response.status_code == 415
    assert set(response.json()) == {"error", "detail"}
    assert response.json()["error"] == "unsupported_media_type"


async def test_signed_form_missing_fields_is_400(sms: Sms) -> None:
    form = {"Body": "hi", "From": sms.phone}
    response = await sms.http.post(
        "/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": sign(PUBLIC_URL, form)}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_inbound_sms"
    assert await sms.inbound_count() == 0


# --------------------------------------------------------------------------- configuration


async def test_no_auth_token_disables_the_endpoint(migrated_database_url: str) -> None:
    patient = _sms_patient(await _seeded(migrated_database_url))
    assert patient.phone is not None
    async for http, services in _client(_settings(migrated_database_url, twilio_auth_token=None)):
        form = twilio_form(patient.phone, "STOP")
        response = await http.post(
            "/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": sign(PUBLIC_URL, form)}
        )
        assert response.status_code == 503
        assert response.json()["error"] == "sms_webhook_not_configured"
        assert await SmsConsentStore(services.engine).history(patient.phone) == []


async def test_signature_is_checked_against_the_configured_public_url(migrated_database_url: str) -> None:
    """Behind a proxy that rewrites the path, the URL Twilio calls is configured explicitly."""
    patient = _sms_patient(await _seeded(migrated_database_url))
    assert patient.phone is not None
    proxied = "https://edge.example/hooks/twilio/sms?practice=demo"
    settings = _settings(migrated_database_url, twilio_webhook_url=proxied)
    async for http, services in _client(settings):
        form = twilio_form(patient.phone, "HELP")
        wrong = await http.post(
            "/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": sign(PUBLIC_URL, form)}
        )
        assert wrong.status_code == 403
        right = await http.post(
            "/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": sign(proxied, form)}
        )
        assert right.status_code == 200
        assert await SmsConsentStore(services.engine).history(patient.phone) != []
