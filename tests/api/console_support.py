"""Helpers for the console tests: a seeded app with staff accounts, a signed-in staff client, and a portal
patient who talks to the real agent through the portal API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from api.deps import Services
from api.main import create_app
from api.security import issue_portal_token
from api.settings import Settings
from api.staff import Role, StaffDirectory, StaffUser
from guardrails.audit import AuditLogRow
from tests.api.portal_support import parse_sse, seed, services_of
from tools.platforms.ledger import PracticeData
from tools.platforms.models import Patient

SECRET = SecretStr("console-test-portal-secret-0123456789abcdef")
PASSWORD = "correct horse battery staple"


def make_settings(url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=url,
        environment="test",
        checkpoint_url=f"sqlite:///{tmp_path / 'checkpoints.db'}",
        portal_token_secret=SECRET,
        rate_limit_ip_per_minute=10_000,
        rate_limit_ip_burst=1_000,
        rate_limit_thread_per_minute=10_000,
        rate_limit_thread_burst=1_000,
        rate_limit_patient_per_minute=10_000,
        rate_limit_patient_burst=1_000,
    )


@dataclass(frozen=True)
class Audited:
    event: str
    actor: str
    thread_id: str | None
    payload: dict[str, Any]


@dataclass
class StaffClient:
    """One staff member's browser: its own cookie jar and the CSRF token of its session."""

    http: httpx.AsyncClient
    user: StaffUser
    csrf: str = ""

    async def login(self, password: str = PASSWORD) -> httpx.Response:
        response = await self.http.post(
            "/v1/console/login", json={"email": self.user.email, "password": password}
        )
        if response.status_code == 200:
            self.csrf = response.json()["csrf_token"]
        return response

    async def post(self, path: str, json: object | None = None) -> httpx.Response:
        return await self.http.post(path, json=json, headers={"X-CSRF-Token": self.csrf})

    async def get(self, path: str, **kw: object) -> httpx.Response:
        return await self.http.get(path, **kw)  # type: ignore[arg-type]  # httpx's own keyword types


@dataclass
class ConsoleEnv:
    app: FastAPI
    settings: Settings
    data: PracticeData
    transport: httpx.AsyncBaseTransport
    base_url: str
    staff: dict[str, StaffUser] = field(default_factory=dict)
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def services(self) -> Services:
        return services_of(self.app)

    async def add_staff(self, name: str, role: Role) -> StaffUser:
        user = await StaffDirectory(self.services.engine).create(f"{name}@practice.test", role, PASSWORD)
        self.staff[name] = user
        return user

    def client(self, *, base_url: str | None = None) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=self.transport, base_url=base_url or self.base_url, timeout=30)
        self.clients.append(client)
        return client

    async def signed_in(self, name: str) -> StaffClient:
        staff = StaffClient(self.client(), self.staff[name])
        response = await staff.login()
        assert response.status_code == 200, response.text
        return staff

    # ------------------------------------------------------------------ the patient side

    def patient_auth(self, patient: Patient) -> dict[str, str]:
        assert patient.portal_user_id is not None
        token = issue_portal_token(self.settings, patient.portal_user_id)
        return {"Authorization": f"Bearer {token}"}

    async def open_thread(self, patient: Patient) -> str:
        http = self.client()
        response = await http.post("/v1/portal/threads", headers=self.patient_auth(patient), json={})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def say(self, patient: Patient, thread_id: str, text: str) -> dict[str, list[dict[str, Any]]]:
        """A portal message; returns the turn's events by type (the answer streams until ``done``)."""
        http = self.client()
        response = await http.post(
            f"/v1/portal/threads/{thread_id}/messages",
            headers=self.patient_auth(patient),
            json={"text": text},
        )
        assert response.status_code == 200, response.text
        by_type: dict[str, list[dict[str, Any]]] = {}
        for event in parse_sse(response.text):
            by_type.setdefault(event.event, []).append(event.data)
        assert "done" in by_type, response.text
        return by_type

    async def audit(self) -> list[Audited]:
        """The audit trail, oldest first."""
        stmt = select(
            AuditLogRow.event, AuditLogRow.actor, AuditLogRow.thread_id, AuditLogRow.payload
        ).order_by(AuditLogRow.seq)
        async with self.services.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [Audited(r.event, r.actor, r.thread_id, dict(r.payload)) for r in rows]


@asynccontextmanager
async def console_env(
    url: str, tmp_path: Path, *, patients: int = 60, seed_: int = 7
) -> AsyncIterator[ConsoleEnv]:
    from asgi_lifespan import LifespanManager

    from tests.support.lifespan import STARTUP_S

    data = await seed(url, patients=patients, seed_=seed_)
    settings = make_settings(url, tmp_path)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S):
        env = ConsoleEnv(app, settings, data, httpx.ASGITransport(app=app), "http://testserver")
        await env.add_staff("alex", Role.AGENT)
        await env.add_staff("blake", Role.AGENT)
        await env.add_staff("morgan", Role.MANAGER)
        try:
            yield env
        finally:
            for client in env.clients:
                await client.aclose()
