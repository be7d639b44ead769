"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import ServicesDep
from api.errors import error_responses
from tools.errors import PlatformUnavailable
from tools.platforms.http import platform_state

router = APIRouter(tags=["health"])


class PlatformHealth(BaseModel):
    name: str  # ledger | drchrono | fhir
    state: str  # embedded; or the circuit breaker's: closed (calls go through), open (paused), half_open
    last_error: str | None = None


class Health(BaseModel):
    status: str  # ok; degraded while the practice system's breaker is open (patients are told so)
    database: str
    version: str
    platform: PlatformHealth


@router.get("/health", response_model=Health, responses=error_responses(503))
async def health(services: ServicesDep) -> Health:
    """200 when the service and its database answer; 503 otherwise."""
    try:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver failure means "not ready"; the handler renders 503
        raise PlatformUnavailable("database is not reachable") from exc
    state = platform_state(services.platform)
    return Health(
        status="degraded" if state.state == "open" else "ok",
        database="ok",
        version="0.1.0",
        platform=PlatformHealth(name=state.name, state=state.state, last_error=state.last_error),
    )
