"""Outreach end to end through HTTP: a statement posts → the outreach text reaches Twilio's API (Prism
serving Twilio's own OpenAPI spec) → a signed inbound "PLAN" → identity → an option → "YES" → one plan
on the ledger → the pending reminder cancelled and nothing else sent. Plus the console's outreach pages."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from sqlalchemy import update

from api.deps import Services
from api.main import create_app
from api.settings import Settings
from api.staff import Role, StaffDirectory
from tests.api.test_sms_webhook import AUTH_TOKEN, PUBLIC_BASE, PUBLIC_URL, sign, twilio_form
from tests.support.lifespan import STARTUP_S
from tests.support.outreach import PEOPLE, practice, statement
from tests.support.prism import PrismServer, PrismUnavailable, run_prism
from tests.support.vendor import VendorFileMissing, vendor_file
from tools.db import create_engine
from tools.outreach.store import OutreachStepRow
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Patient

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def prism() -> Iterator[PrismServer]:
    try:
        with run_prism(vendor_file("twilio", "twilio_api_v2010.json")) as server:
            yield server
    except (VendorFileMissing, PrismUnavailable) as exc:
        pytest.skip(f"Twilio REST mock unavailable: {exc}")


def _daytime_address() -> tuple[str, str, str]:
    """A (state, ZIP, recorded zone) where it is now mid-day, so the send window is open whatever the
    hour this test runs at (a state outside the US table falls back to the recorded zone)."""
    now = datetime.now(UTC)
    for state, zip_code, zone in (
        ("NY", "10001", "America/New_York"),
        ("CA", "94105", "America/Los_Angeles"),
        ("HI", "96813", "Pacific/Honolulu"),
        ("XX", "00000", "Europe/London"),
        ("XX", "00000", "Asia/Tokyo"),
        ("XX", "00000", "Asia/Kolkata"),
    ):
        if 9 <= now.astimezone(ZoneInfo(zone)).hour < 20:
            return state, zip_code, zone
    raise AssertionError("some zone of the list is always in daytime")


def _prism_log(prism: PrismServer, start: int, needle: str, timeout_s: float = 5.0) -> str:
    """Prism's log since ``start`` once it mentions ``needle`` (it logs asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while needle not in prism.log_since(start) and time.monotonic() < deadline:
        time.sleep(0.05)
    return prism.log_since(start)


@dataclass
class Http:
    http: httpx.AsyncClient
    services: Services
    patient: Patient
    csrf: str = ""

    async def staff_post(self, path: str, json: object | None = None) -> httpx.Response:
        return await self.http.post(path, json=json, headers={"X-CSRF-Token": self.csrf})

    async def text(self, body: str) -> None:
        assert self.patient.phone is not None
        form = twilio_form(self.patient.phone, body)
        response = await self.http.post(
            "/v1/sms/inbound", data=form, headers={"X-Twilio-Signature": sign(PUBLIC_URL, form)}
        )
        assert response.status_code == 200, response.text
        await self.settle()

    async def settle(self) -> None:
        assert self.patient.phone is not None
        for _ in range(400):
            thread = await self.services.threads.find_by_phone(self.patient.phone)
            queued = (
                []
                if thread is None
                else [m for m in await self.services.threads.inbound_of(thread.id) if m.status == "queued"]
            )
            if not queued and self.services.runner.in_flight() == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the SMS turn did not finish")

    async def last_bot_text(self) -> str:
        """The agent's last answer on the patient's SMS thread (before verification nothing is logged
        on the platform, so it is read from the thread's state)."""
        assert self.patient.phone is not None
        thread = await self.services.threads.find_by_phone(self.patient.phone)
        assert thread is not None
        state = await self.services.agent.state(thread.id)
        return [m["text"] for m in state.get("messages") or [] if m["role"] == "bot"][-1]


@asynccontextmanager
async def outreach_service(
    url: str, tmp_path: Path, twilio_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Services, Patient, str]]:
    """The service with Twilio at ``twilio_url`` and one patient, Omar (paid up until a new statement
    posts, at an address where it is daytime now); a manager signed in to the console. Yields the client,
    the services, Omar and the console's CSRF token."""
    state, zip_code, zone = _daytime_address()
    data = practice({"omar": ("Omar", state, zip_code, 0, True, "")})
    data.patients[0] = data.patients[0].model_copy(update={"timezone": zone})
    engine = create_engine(url)
    await LedgerPlatform(engine).bulk_load(data)
    await engine.dispose()
    settings = Settings(
        database_url=url,
        environment="test",
        public_base_url=PUBLIC_BASE,
        checkpoint_url=f"sqlite:///{tmp_path / 'checkpoints.db'}",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=SecretStr(AUTH_TOKEN),
        twilio_from_number="+15555550100",
        twilio_api_base_url=twilio_url,
    )
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://testserver", timeout=60
        ) as c,
    ):
        services: Services = app.state.services
        await StaffDirectory(services.engine).create("morgan@practice.test", Role.MANAGER, PASSWORD)
        login = await c.post(
            "/v1/console/login", json={"email": "morgan@practice.test", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        yield c, services, data.patients[0], login.json()["csrf_token"]


@pytest.fixture
async def http(migrated_database_url: str, prism: PrismServer, tmp_path: Path) -> AsyncIterator[Http]:
    async with outreach_service(migrated_database_url, tmp_path, prism.url) as (c, services, omar, csrf):
        yield Http(c, services, omar, csrf)


async def test_statement_to_text_to_plan_through_http(http: Http, prism: PrismServer) -> None:
    # Nothing leaves before a manager approves the templates.
    ledger = http.services.ledger
    assert ledger is not None
    await ledger.post_statement(statement("omar", "st-omar-2", 64000, day=datetime.now(UTC).date()))
    response = await http.staff_post("/v1/console/outreach/run")
    assert response.status_code == 200, response.text
    run = response.json()
    assert (run["decided_accounts"], run["sent"], run["held"]) == (1, 0, 1)
    drafts = (await http.http.get("/v1/console/outreach/templates")).json()
    assert {t["status"] for t in drafts} == {"draft"}
    for t in drafts:
        path = f"/v1/console/outreach/templates/{t['key']}/{t['language']}/{t['version']}/approve"
        assert (await http.staff_post(path)).json()["status"] == "approved"
    # The held step is due again in an hour: move it to now, as the clock would.
    store = http.services.outreach.store
    (held,) = await store.steps(status="scheduled")
    mark = len(prism.lines)

    async with http.services.engine.begin() as conn:
        await conn.execute(
            update(OutreachStepRow).where(OutreachStepRow.id == held.id).values(due_at=datetime.now(UTC))
        )
    run = (await http.staff_post("/v1/console/outreach/run")).json()
    assert run["sent"] == 1
    assert "Messages.json" in await asyncio.to_thread(
        _prism_log, prism, mark, "Messages.json"
    )  # the text reached Twilio's API as Prism serves it
    timeline = (await http.http.get("/v1/console/outreach/patients/omar/timeline")).json()
    assert [(s["step"], s["status"]) for s in timeline["steps"]] == [
        ("plan_offer", "sent"),
        ("follow_up", "scheduled"),
    ]
    assert timeline["next"]["step"] == "follow_up"
    offered = next(s for s in await store.steps() if s.step == "plan_offer")
    assert offered.external_id is not None
    assert offered.external_id.startswith("SM")

    # The patient answers PLAN: the reminder is cancelled at once, identity is asked.
    await http.text("PLAN")
    assert "verify your identity" in await http.last_bot_text()
    dob = http.patient.date_of_birth.strftime("%m/%d/%Y")
    await http.text(f"{dob} {http.patient.zip_code}")
    options = await http.last_bot_text()
    assert "1)" in options
    assert "4 monthly payments" in options.split("2)")[0]
    await http.text("1")
    assert "(yes/no)" in await http.last_bot_text()
    await http.text("YES")
    plans = [
        p
        for p in await http.services.platform.list_payment_plans("omar")
        if p.idempotency_key.startswith("plan:")
    ]
    assert len(plans) == 1
    assert plans[0].months == 4

    # Nothing else goes out: the reminder was cancelled by the reply, and the plan stops outreach.
    run = (await http.staff_post("/v1/console/outreach/run")).json()
    assert run["sent"] == 0
    steps = await store.steps()
    assert [(s.step, s.status, s.status_reason) for s in steps] == [
        ("plan_offer", "sent", None),
        ("follow_up", "cancelled", "replied"),
    ]
    counters = (await http.http.get("/v1/console/outreach/counters")).json()
    assert (counters["sent"], counters["replied"], counters["plans"]) == (1, 1, 1)
    assert counters["by_segment"]["plan_candidate"]["plans"] == 1


async def test_console_pause_resume_and_the_call_queue(http: Http) -> None:
    ledger = http.services.ledger
    assert ledger is not None
    await ledger.post_statement(statement("omar", "st-omar-2", 64000, day=date.today()))
    paused = (await http.staff_post("/v1/console/outreach/patients/omar/pause")).json()
    assert paused["paused"] is True
    run = (await http.staff_post("/v1/console/outreach/run")).json()
    assert (run["decided_accounts"], run["sent"]) == (1, 0)
    assert (await http.http.get("/v1/console/outreach/patients/omar/timeline")).json()["steps"] == []
    resumed = (await http.staff_post("/v1/console/outreach/patients/omar/resume")).json()
    assert resumed["next"]["step"] == "plan_offer"
    assert (await http.http.get("/v1/console/outreach/calls")).json() == []
    bad = await http.staff_post(
        "/v1/console/outreach/templates",
        {"key": "pay_link", "language": "en", "body": "Hi {first_name}, {diagnosis}"},
    )
    assert bad.status_code == 422
    assert (await http.http.get("/v1/console/outreach/patients/nobody/timeline")).status_code == 404
    assert PEOPLE  # the shared cast of the outreach tests
