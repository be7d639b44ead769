"""Liveness and readiness.

* ``/health/live``: the process answers (no dependency is asked). A supervisor restarts on failure.
* ``/health/ready`` (and ``/health``, the same): the database can serve a write now, probed within
  ``BILLING_HEALTH_TIMEOUT_S``. A load balancer stops sending traffic on 503 (with ``Retry-After``).

On SQLite the readiness probe takes the database's write lock and lets it go (``BEGIN IMMEDIATE``): a
file that answers ``SELECT 1`` while another process holds its write lock cannot take a message, and is
not ready. On PostgreSQL it is a round trip (``SELECT 1``) within the deadline.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import ServicesDep
from api.errors import DATABASE_UNAVAILABLE, error_responses
from tools.errors import PlatformUnavailable
from tools.platforms.http import platform_state

router = APIRouter(tags=["health"])

VERSION = "0.1.0"
NOT_READY: tuple[type[Exception], ...] = (TimeoutError, *DATABASE_UNAVAILABLE)


class PlatformHealth(BaseModel):
    name: str  # ledger | drchrono | fhir
    state: str  # embedded; or the circuit breaker's: closed (calls go through), open (paused), half_open
    last_error: str | None = None


class Health(BaseModel):
    status: str  # ok; degraded while the practice system's breaker is open (patients are told so)
    database: str
    version: str
    platform: PlatformHealth


class Live(BaseModel):
    status: str
    version: str


@router.get("/health/live", response_model=Live)
async def live() -> Live:
    """200 while the process serves requests; asks no dependency."""
    return Live(status="ok", version=VERSION)


async def _ready(services: ServicesDep) -> Health:
    engine = services.engine
    try:
        async with asyncio.timeout(services.settings.health_timeout_s):
            async with engine.connect() as conn:
                if engine.dialect.name == "sqlite":
                    # The pool's connection waits up to the busy timeout: the probe's own deadline
                    # bounds it, and a cancelled wait takes nothing.
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                    await conn.exec_driver_sql("ROLLBACK")
                else:
                    await conn.execute(text("SELECT 1"))
    except NOT_READY as exc:
        reason = "locked or slow" if isinstance(exc, TimeoutError) else "not reachable"
        raise PlatformUnavailable(f"database is {reason}") from exc
    state = platform_state(services.platform)
    return Health(
        status="degraded" if state.state == "open" else "ok",
        database="ok",
        version=VERSION,
        platform=PlatformHealth(name=state.name, state=state.state, last_error=state.last_error),
    )


@router.get("/health/ready", response_model=Health, responses=error_responses(503))
async def ready(services: ServicesDep) -> Health:
    """200 when the database can take a write now; 503 with ``Retry-After`` otherwise."""
    return await _ready(services)


@router.get("/health", response_model=Health, responses=error_responses(503))
async def health(services: ServicesDep) -> Health:
    """Readiness (``/health/ready``), at the address load balancers already probe, with the practice
    system's state: ``degraded`` while its circuit breaker is open (patients are told so)."""
    return await _ready(services)
