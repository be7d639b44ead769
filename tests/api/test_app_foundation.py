"""The service as a practice would first meet it: health, OpenAPI, the demo directory, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.main import create_app
from api.settings import Settings
from tools.db import create_engine
from tools.demo import generate_practice
from tools.platforms.ledger import LedgerPlatform


@pytest.fixture
async def client(migrated_database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    engine = create_engine(migrated_database_url)
    await LedgerPlatform(engine).bulk_load(generate_practice(patients=20, seed=3))
    await engine.dispose()
    app = create_app(Settings(database_url=migrated_database_url, environment="test"))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield http


async def test_health_answers_ok_with_the_database_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


async def test_openapi_documents_health_and_the_demo_directory(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/health" in spec["paths"]
    assert "503" in spec["paths"]["/health"]["get"]["responses"]
    assert "/v1/demo/patients" in spec["paths"]


async def test_demo_directory_lists_the_seeded_patients(client: httpx.AsyncClient) -> None:
    patients = (await client.get("/v1/demo/patients", params={"limit": 500})).json()
    assert len(patients) == 20
    assert all(p["portal_user_id"].startswith("portal-") for p in patients)
    page = await client.get("/")
    assert page.status_code == 200
    assert patients[0]["name"] in page.text


async def test_bad_query_gets_a_clear_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/demo/patients", params={"limit": "lots"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not Found"}
