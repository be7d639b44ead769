"""The app factory and its lifespan: the composition root of the service."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.deps import Services
from api.errors import install_error_handlers
from api.logging import configure_logging
from api.routes import demo, health
from api.settings import Settings
from migrations import migrate_service
from tools.db import create_engine
from tools.platforms.ledger import LedgerPlatform, migrate

log = logging.getLogger("api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging()
        await migrate(settings.database_url)
        await migrate_service(settings.database_url)
        engine = create_engine(settings.database_url)
        ledger = LedgerPlatform(engine)
        app.state.services = Services(settings=settings, engine=engine, platform=ledger, ledger=ledger)
        log.info("api.started")
        try:
            yield
        finally:
            await engine.dispose()
            log.info("api.stopped")

    app = FastAPI(
        title="Patient Billing Agent",
        version="0.1.0",
        summary="Answers patients' medical-bill questions and collects payment.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(demo.router)
    return app
