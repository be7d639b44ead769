"""Dependencies injected into routes. Everything is built once in the lifespan
(``api.main``) and stored on ``app.state.services``; routes declare what they
need through these ``Annotated`` aliases, and tests swap them with
``app.dependency_overrides``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from api.settings import Settings
from tools.platforms.base import BillingPlatform
from tools.platforms.ledger import LedgerPlatform


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    platform: BillingPlatform
    ledger: LedgerPlatform | None  # the embedded ledger, when it is the platform (demo directory)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_platform(services: Annotated[Services, Depends(get_services)]) -> BillingPlatform:
    return services.platform


def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


ServicesDep = Annotated[Services, Depends(get_services)]
PlatformDep = Annotated[BillingPlatform, Depends(get_platform)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
