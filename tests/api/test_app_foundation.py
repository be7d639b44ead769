"""The service as a practice would first meet it: health, OpenAPI, the demo directory, errors."""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator, Iterator, Sequence

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from api.main import create_app
from api.settings import Settings
from tests.support.lifespan import STARTUP_S
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
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
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


def _sync_dependencies(dependant: Dependant) -> list[str]:
    found = []
    for dep in dependant.dependencies:
        call = dep.call
        fn = call if inspect.isroutine(call) else type(call).__call__  # a security scheme is an instance
        if not (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)):
            found.append(getattr(call, "__qualname__", repr(call)))
        found.extend(_sync_dependencies(dep))
    return found


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI >= 0.16x wraps included routers
        if included is not None:
            yield from _api_routes(included.routes)


def test_no_route_depends_on_a_plain_function(migrated_database_url: str) -> None:
    """FastAPI runs a ``def`` dependency on its thread pool: a thread hand-over per request for what is
    an attribute read. Every dependency of every route is ``async def``."""
    app = create_app(Settings(database_url=migrated_database_url, environment="test"))
    routes = list(_api_routes(app.routes))
    assert len(routes) > 20
    offenders = {f"{r.path}: {name}" for r in routes for name in _sync_dependencies(r.dependant)}
    assert offenders == set()


async def test_a_process_owning_service_keeps_its_start_up_heap_out_of_the_collectors_way(
    migrated_database_url: str,
) -> None:
    """``serve`` builds the app with ``freeze_heap=True``: once start-up is done, everything it built is
    in the permanent generation, which the oldest generation's collections no longer walk (each one
    paused the loop 50–115 ms before); it is handed back when the service stops, and an app built
    without it (a test, a library user) leaves the collector alone."""
    assert gc.get_freeze_count() == 0
    app = create_app(Settings(database_url=migrated_database_url, environment="test"), freeze_heap=True)
    async with LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S):
        frozen = gc.get_freeze_count()
        garbage: list[object] = []
        garbage.append(garbage)  # a cycle made while serving is still collected
        del garbage
        assert gc.collect() >= 1
    assert frozen > 10_000  # the imports, the compiled graph, the code book, the KB index
    assert gc.get_freeze_count() == 0
    app = create_app(Settings(database_url=migrated_database_url, environment="test"))
    async with LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S):
        assert gc.get_freeze_count() == 0
