"""The demo portal (patient picker → portal session → statement pages with the widget), the widget's
configuration and static files, over HTTP in process."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from typing import Literal

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.main import create_app
from api.routes.demo import SESSION_COOKIE
from api.security import issue_portal_token, verify_portal_token
from api.settings import Settings
from tests.support.lifespan import STARTUP_S
from tools.db import create_engine
from tools.demo import generate_practice
from tools.platforms.ledger import LedgerPlatform, PracticeData

PORTAL_ORIGIN = "https://portal.practice.example"


class WidgetTags(HTMLParser):
    """The ``data-*`` attributes of every ``<script src=".../widget.js">`` on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.widgets: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "script" and values.get("src", "").endswith("/static/widget.js"):
            self.widgets.append(values)


def widgets_of(html: str) -> list[dict[str, str]]:
    parser = WidgetTags()
    parser.feed(html)
    return parser.widgets


@pytest.fixture
async def practice(migrated_database_url: str) -> PracticeData:
    data = generate_practice(patients=12, seed=5)
    engine = create_engine(migrated_database_url)
    await LedgerPlatform(engine).bulk_load(data)
    await engine.dispose()
    return data


def _settings(url: str, environment: Literal["test", "production"] = "test") -> Settings:
    return Settings(
        database_url=url,
        environment=environment,
        allowed_origins=[PORTAL_ORIGIN],
        portal_token_secret="a-test-secret-that-is-long-enough-32b",
    )


@pytest.fixture
async def client(migrated_database_url: str, practice: PracticeData) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(_settings(migrated_database_url))
    async with (
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield http


def _portal_patient(practice: PracticeData) -> tuple[str, str]:
    """A demo patient with a portal account and at least one statement: (patient id, a statement id)."""
    with_statements = {s.patient_id: s.id for s in practice.statements}
    for p in practice.patients:
        if p.portal_user_id and p.id in with_statements:
            return p.id, with_statements[p.id]
    raise AssertionError("the demo practice has no portal patient with a statement")


async def _sign_in(client: httpx.AsyncClient, patient_id: str) -> httpx.Response:
    return await client.post("/demo/session", data={"patient_id": patient_id})


async def test_the_picker_lists_the_patients_with_a_sign_in_per_portal_account(
    client: httpx.AsyncClient, practice: PracticeData
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    with_portal = [p for p in practice.patients if p.portal_user_id]
    assert len(re.findall(r'name="patient_id" value="([^"]+)"', page.text)) == len(with_portal)
    for p in practice.patients:
        assert f"{p.first_name} {p.last_name}" in page.text
    assert widgets_of(page.text) == []  # nobody is signed in: no widget on the picker


async def test_picking_a_patient_signs_in_with_an_httponly_portal_session(
    client: httpx.AsyncClient, practice: PracticeData
) -> None:
    patient_id, _ = _portal_patient(practice)
    response = await _sign_in(client, patient_id)
    assert response.status_code == 303
    assert response.headers["location"] == "/demo/portal"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    patient = next(p for p in practice.patients if p.id == patient_id)
    session = verify_portal_token(_settings("sqlite://"), client.cookies[SESSION_COOKIE])
    assert session.portal_user_id == patient.portal_user_id


async def test_the_statements_page_lists_only_the_signed_in_patients_statements_and_embeds_the_widget(
    client: httpx.AsyncClient, practice: PracticeData
) -> None:
    patient_id, _ = _portal_patient(practice)
    await _sign_in(client, patient_id)
    page = await client.get("/demo/portal")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    theirs = [s for s in practice.statements if s.patient_id == patient_id]
    others = [s for s in practice.statements if s.patient_id != patient_id]
    for s in theirs:
        assert f"/demo/portal/statements/{s.id}" in page.text
    assert not any(f"/demo/portal/statements/{s.id}" in page.text for s in others)
    [widget] = widgets_of(page.text)
    assert "data-statement-id" not in widget
    patient = next(p for p in practice.patients if p.id == patient_id)
    session = verify_portal_token(_settings("sqlite://"), widget["data-token"])
    assert session.portal_user_id == patient.portal_user_id
    assert session.statement_id is None


async def test_the_statement_page_tells_the_widget_which_statement_is_viewed(
    client: httpx.AsyncClient, practice: PracticeData
) -> None:
    patient_id, statement_id = _portal_patient(practice)
    await _sign_in(client, patient_id)
    page = await client.get(f"/demo/portal/statements/{statement_id}")
    assert page.status_code == 200
    statement = next(s for s in practice.statements if s.id == statement_id)
    assert f"Statement {statement.number}" in page.text
    [widget] = widgets_of(page.text)
    assert widget["data-statement-id"] == statement_id
    assert widget["data-statement-number"] == statement.number
    assert verify_portal_token(_settings("sqlite://"), widget["data-token"]).statement_id == statement_id

    # The widget's token works on the portal API, and a thread it opens is about that statement.
    created = await client.post(
        "/v1/portal/threads", headers={"Authorization": f"Bearer {widget['data-token']}"}, json={}
    )
    assert created.status_code == 201
    assert created.json()["statement_id"] == statement_id


async def test_another_patients_statement_page_is_a_404(
    client: httpx.AsyncClient, practice: PracticeData
) -> None:
    patient_id, _ = _portal_patient(practice)
    other = next(s for s in practice.statements if s.patient_id != patient_id)
    await _sign_in(client, patient_id)
    page = await client.get(f"/demo/portal/statements/{other.id}")
    assert page.status_code == 404
    assert other.number not in page.text


async def test_portal_pages_without_a_valid_session_go_back_to_the_picker(
    client: httpx.AsyncClient, practice: PracticeData
) -> None:
    _, statement_id = _portal_patient(practice)
    assert (await client.get("/demo/portal")).headers["location"] == "/"
    forged = issue_portal_token(
        Settings(portal_token_secret="not-the-servers-secret-but-as-long-as-it"), "portal-x"
    )
    client.cookies.set(SESSION_COOKIE, forged)
    response = await client.get(f"/demo/portal/statements/{statement_id}")
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_an_outreach_links_offer_survives_signing_in(
    client: httpx.AsyncClient, practice: PracticeData
) -> None:
    """A patient who opens a message's link signed out signs in and lands on the portal page with the
    link's offer, where the widget opens the chat with it."""
    patient_id, _ = _portal_patient(practice)
    offer = "v1.42.1893456000.QUJDREVGR0hJSktMTU5PUA"
    signed_out = await client.get("/demo/portal", params={"offer": offer})
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == f"/?offer={offer}"
    picker = await client.get(signed_out.headers["location"])
    assert "Sign in to open the offer from your message" in picker.text
    carried = re.findall(r'<input type="hidden" name="offer" value="([^"]+)">', picker.text)
    assert len(carried) == sum(1 for p in practice.patients if p.portal_user_id)
    assert set(carried) == {offer}
    signed_in = await client.post("/demo/session", data={"patient_id": patient_id, "offer": offer})
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == f"/demo/portal?offer={offer}"
    assert (await client.get(signed_in.headers["location"])).status_code == 200


async def test_a_mangled_offer_is_dropped_and_the_pages_still_work(
    client: httpx.AsyncClient, practice: PracticeData
) -> None:
    patient_id, _ = _portal_patient(practice)
    for mangled in ('"><script>alert(1)</script>', "x" * 201, "v1.1.2.abc def"):
        signed_out = await client.get("/demo/portal", params={"offer": mangled})
        assert signed_out.headers["location"] == "/"
        picker = await client.get("/", params={"offer": mangled})
        assert picker.status_code == 200
        assert 'name="offer"' not in picker.text
        assert "<script>alert(1)" not in picker.text
        signed_in = await client.post("/demo/session", data={"patient_id": patient_id, "offer": mangled})
        assert signed_in.headers["location"] == "/demo/portal"
        client.cookies.clear()


async def test_signing_out_clears_the_session(client: httpx.AsyncClient, practice: PracticeData) -> None:
    patient_id, _ = _portal_patient(practice)
    await _sign_in(client, patient_id)
    out = await client.post("/demo/logout")
    assert out.status_code == 303
    assert SESSION_COOKIE not in client.cookies
    assert (await client.get("/demo/portal")).status_code == 303


async def test_an_unknown_patient_cannot_be_picked(client: httpx.AsyncClient) -> None:
    response = await _sign_in(client, "no-such-patient")
    assert response.status_code == 404
    assert SESSION_COOKIE not in client.cookies


async def test_the_json_session_endpoint_issues_a_token_for_a_statement_of_the_patient(
    client: httpx.AsyncClient, practice: PracticeData
) -> None:
    patient_id, statement_id = _portal_patient(practice)
    issued = await client.post(
        "/v1/demo/sessions", json={"patient_id": patient_id, "statement_id": statement_id}
    )
    assert issued.status_code == 201
    body = issued.json()
    assert verify_portal_token(_settings("sqlite://"), body["token"]).statement_id == statement_id
    other = next(s for s in practice.statements if s.patient_id != patient_id)
    refused = await client.post(
        "/v1/demo/sessions", json={"patient_id": patient_id, "statement_id": other.id}
    )
    assert refused.status_code == 404
    assert "token" not in refused.json()


async def test_the_demo_portal_does_not_exist_in_production(
    migrated_database_url: str, practice: PracticeData
) -> None:
    settings = _settings(migrated_database_url, "production")
    app = create_app(settings)
    patient_id, statement_id = _portal_patient(practice)
    async with (
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        assert (await http.get("/")).status_code == 404
        assert (await http.post("/demo/session", data={"patient_id": patient_id})).status_code == 404
        assert (await http.post("/v1/demo/sessions", json={"patient_id": patient_id})).status_code == 404
        patient = next(p for p in practice.patients if p.id == patient_id)
        assert patient.portal_user_id is not None
        http.cookies.set(SESSION_COOKIE, issue_portal_token(settings, patient.portal_user_id))
        assert (await http.get(f"/demo/portal/statements/{statement_id}")).status_code == 404
        # The widget itself is product, not demo: it is served in production.
        assert (await http.get("/static/widget.js")).status_code == 200
        assert (await http.get("/v1/widget/config")).status_code == 200


async def test_the_widget_config_names_the_practice_and_the_allowed_origins(
    client: httpx.AsyncClient, practice: PracticeData
) -> None:
    config = await client.get("/v1/widget/config")
    assert config.status_code == 200
    assert config.json() == {
        "practice_name": practice.practice.name,
        "practice_phone": practice.practice.phone,
        "allowed_origins": [PORTAL_ORIGIN],
    }


async def test_cors_answers_an_allowed_portal_origin_and_not_another(client: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = await client.options("/v1/portal/threads", headers={"Origin": PORTAL_ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == PORTAL_ORIGIN
    refused = await client.options(
        "/v1/portal/threads", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers
    config = await client.get("/v1/widget/config", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in config.headers


async def test_the_widget_and_its_styles_are_served_as_static_files(client: httpx.AsyncClient) -> None:
    script = await client.get("/static/widget.js")
    assert script.status_code == 200
    assert script.headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript"}
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "/v1/portal/threads" in script.text
    css = await client.get("/static/widget.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert (await client.get("/static/../settings.py")).status_code == 404
