"""Property-based conformance of the whole API against its own ``/openapi.json`` (schemathesis).

Every operation of the in-process app (ASGI, lifespan included, on a temp seeded database) is called
with generated requests, valid and invalid; no response may be a 5xx, and every response must be one
the schema declares (status code, content type, headers, body). Examples per operation are capped so
the run stays around a minute. A second pass sends a valid portal session token so the portal
operations are exercised past authentication too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err
from schemathesis.python import asgi

from api.main import create_app
from api.security import issue_portal_token
from api.settings import Settings
from migrations import migrate_service
from tools.db import create_engine
from tools.demo import generate_practice
from tools.platforms.ledger import LedgerPlatform, migrate

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Streams that stay open until a turn ends (or forever): exercised by the portal and e2e tests instead.
STREAMING = r"^/v1/portal/threads/\{thread_id\}/(events|messages)$|^/v1/console/events$"


async def _seeded(url: str) -> str:
    await migrate(url)
    await migrate_service(url)
    engine = create_engine(url)
    try:
        data = generate_practice(patients=8, seed=11)
        await LedgerPlatform(engine).bulk_load(data)
    finally:
        await engine.dispose()
    portal_user = next(p.portal_user_id for p in data.patients if p.portal_user_id)
    assert portal_user is not None
    return portal_user


@pytest.fixture(scope="module")
def settings_and_patient(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    work: Path = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite+aiosqlite:///{work / 'ledger.db'}"
    portal_user = asyncio.run(_seeded(url))
    app_settings = Settings(
        database_url=url,
        checkpoint_url=f"sqlite:///{work / 'checkpoints.db'}",
        environment="test",
        # Configured webhooks, as deployed: without their secrets they refuse everything with a
        # deliberate 503 (never accept what cannot be verified), which is not what this run looks for.
        twilio_auth_token="schemathesis-twilio-auth-token",
        stripe_webhook_secret="whsec_schemathesis",
        email_bounce_webhook_secret="schemathesis-email-bounce-secret",
        portal_token_secret="schemathesis-portal-secret-32-bytes-long",
        # Generous limits: the run sends hundreds of requests from one address on purpose.
        rate_limit_ip_per_minute=100_000,
        rate_limit_ip_burst=100_000,
        rate_limit_thread_per_minute=100_000,
        rate_limit_thread_burst=100_000,
        rate_limit_patient_per_minute=100_000,
        rate_limit_patient_burst=100_000,
    )
    return app_settings, portal_user


@pytest.fixture(scope="module")
def app(settings_and_patient: tuple[Settings, str]) -> Iterator[FastAPI]:
    application = create_app(settings_and_patient[0])
    yield application
    asgi.shutdown_lifespans()  # schemathesis started the lifespan on its first call; end it here


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex=STREAMING)


@pytest.fixture(scope="module")
def portal_token(settings_and_patient: tuple[Settings, str]) -> str:
    app_settings, portal_user = settings_and_patient
    return issue_portal_token(app_settings, portal_user)


FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same examples every run: a failure here reproduces
    suppress_health_check=list(HealthCheck),
)


def _fuzz(api: schemathesis.BaseSchema, headers: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Run every operation of ``api``; (the operations run, a line per operation that failed)."""
    ran: list[str] = []
    failures: list[str] = []
    for result in api.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the schema has an operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def run(case: Case[Any]) -> None:
            case.call_and_validate(checks=CHECKS, headers=headers)

        ran.append(operation.label)
        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a group of failed checks;
            # collected, so one run reports every operation at once
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:1500]}")
    return ran, failures


def test_no_operation_errors_or_breaks_its_schema(api_schema: schemathesis.BaseSchema) -> None:
    ran, failures = _fuzz(api_schema)
    assert "GET /health" in ran
    assert "POST /v1/portal/threads" in ran
    assert failures == [], "\n\n".join(failures)


def test_portal_operations_with_a_valid_session_keep_to_the_schema(
    api_schema: schemathesis.BaseSchema, portal_token: str
) -> None:
    ran, failures = _fuzz(
        api_schema.include(path_regex=r"^/v1/portal/"), headers={"Authorization": f"Bearer {portal_token}"}
    )
    assert "GET /v1/portal/threads/{thread_id}" in ran
    assert failures == [], "\n\n".join(failures)
