"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import ServicesDep
from api.errors import error_responses
from tools.errors import PlatformUnavailable

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str
    version: str


@router.get("/health", response_model=Health, responses=error_responses(503))
async def health(services: ServicesDep) -> Health:
    """200 when the service and its database answer; 503 otherwise."""
    try:
        async with services.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver failure means "not ready"; the handler renders 503
        raise PlatformUnavailable("database is not reachable") from exc
    return Health(status="ok", database="ok", version="0.1.0")
