"""The attack suite's target: the real app (ASGI, lifespan included) on a seeded database, configured as
deployed (signed webhooks on, secrets set), with the requests an outside attacker would send.

Everything goes through HTTP; nothing is patched. ``Target.build`` starts a fresh app (its own rate-limit
memory) on a database seeded once per module."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from api.deps import Services
from api.main import create_app
from api.security import issue_portal_token
from api.settings import Settings
from api.staff import Role, StaffDirectory
from tests.support.stripe_stub import sign_stripe_payload
from tools.db import create_engine
from tools.demo import generate_practice
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Patient

BASE = "http://testserver"
PORTAL_SECRET = "attack-suite-portal-secret-0f9e8d7c6b5a49382716"
TWILIO_TOKEN = "attack-suite-twilio-auth-token"
STRIPE_SECRET = "whsec_attack_suite_3c1d"
PRACTICE_NUMBER = "+15555550100"
STAFF_PASSWORD = "amber meadow quietly turns"
SMS_URL = f"{BASE}/v1/sms/inbound"


async def seed(url: str) -> list[Patient]:
    engine = create_engine(url)
    try:
        ledger = LedgerPlatform(engine)
        await ledger.bulk_load(generate_practice(patients=20, seed=5))
        return await ledger.list_patients(limit=100, offset=0)
    finally:
        await engine.dispose()


def settings_for(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "environment": "test",
        "public_base_url": BASE,
        "portal_token_secret": PORTAL_SECRET,
        "twilio_auth_token": TWILIO_TOKEN,
        "stripe_webhook_secret": STRIPE_SECRET,
        "rate_limit_ip_per_minute": 100_000,
        "rate_limit_ip_burst": 10_000,
        "rate_limit_thread_per_minute": 100_000,
        "rate_limit_thread_burst": 10_000,
        "rate_limit_patient_per_minute": 100_000,
        "rate_limit_patient_burst": 10_000,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Target:
    http: httpx.AsyncClient
    app: FastAPI
    settings: Settings
    patients: list[Patient]
    staff: dict[str, str] = field(default_factory=dict)  # role -> e-mail

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    @classmethod
    @asynccontextmanager
    async def build(
        cls,
        url: str,
        patients: list[Patient],
        *,
        client: tuple[str, int] = ("203.0.113.7", 50000),
        **overrides: Any,
    ) -> AsyncIterator[Target]:
        settings = settings_for(url, **overrides)
        app = create_app(settings)
        async with (
            LifespanManager(app, startup_timeout=60, shutdown_timeout=60),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=client), base_url=BASE) as http,
        ):
            target = cls(http, app, settings, patients)
            yield target

    # ------------------------------------------------------------------ identities

    def portal_patient(self, index: int = 0) -> Patient:
        return [p for p in self.patients if p.portal_user_id][index]

    def token(self, patient: Patient, *, ttl: timedelta = timedelta(minutes=30)) -> str:
        assert patient.portal_user_id is not None
        return issue_portal_token(self.settings, patient.portal_user_id, ttl=ttl)

    def auth(self, patient: Patient) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(patient)}"}

    async def thread(self, patient: Patient) -> str:
        response = await self.http.post("/v1/portal/threads", headers=self.auth(patient), json={})
        assert response.status_code == 201, response.text
        thread_id: str = response.json()["id"]
        return thread_id

    async def staff_account(self, role: Role) -> str:
        if role.value not in self.staff:
            email = f"{role.value}-{secrets.token_hex(3)}@practice.test"
            await StaffDirectory(self.services.engine).create(email, role, STAFF_PASSWORD)
            self.staff[role.value] = email
        return self.staff[role.value]

    async def bearer(self, role: Role) -> dict[str, str]:
        email = await self.staff_account(role)
        response = await self.http.post(
            "/v1/console/tokens", json={"email": email, "password": STAFF_PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    # ------------------------------------------------------------------ vendors

    async def sms(self, form: dict[str, str], *, token: str = TWILIO_TOKEN) -> httpx.Response:
        signature = RequestValidator(token).compute_signature(SMS_URL, form)
        return await self.http.post("/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})

    async def stripe(
        self, event: dict[str, Any], *, secret: str = STRIPE_SECRET, at: int | None = None
    ) -> httpx.Response:
        payload = json.dumps(event).encode()
        header = sign_stripe_payload(payload, secret, int(time.time()) if at is None else at)
        return await self.http.post(
            "/v1/payments/stripe/webhook",
            content=payload,
            headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        )


def sms_form(phone: str, body: str, **extra: str) -> dict[str, str]:
    sid = f"SM{secrets.token_hex(16)}"
    form = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "From": phone,
        "To": PRACTICE_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    form.update(extra)
    return form


def checkout_event(
    session_id: str, patient_id: str, statement_id: str | None, amount_cents: int
) -> dict[str, Any]:
    """A ``checkout.session.completed`` event as Stripe sends it, for a session with our metadata."""
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "livemode": False,
        "data": {
            "object": {
                "object": "checkout.session",
                "id": session_id,
                "payment_status": "paid",
                "status": "complete",
                "amount_total": amount_cents,
                "currency": "usd",
                "payment_intent": f"pi_{secrets.token_hex(12)}",
                "metadata": {
                    "patient_id": patient_id,
                    "statement_id": statement_id or "",
                    "link_key": f"forged:{secrets.token_hex(4)}",
                },
            }
        },
    }
