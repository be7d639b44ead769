"""Dependencies injected into routes. Everything is built once in the lifespan
(``api.main``) and stored on ``app.state.services``; routes declare what they
need through these ``Annotated`` aliases, and tests swap them with
``app.dependency_overrides``.

Every dependency in the API is ``async def``, even the ones that only read an attribute: FastAPI runs a
plain ``def`` dependency on its thread pool, a thread hand-over per dependency per request (the server
profile had 2% of the event loop's time in ``run_in_threadpool``; ``docs/performance.md``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.outreach.engine import OutreachEngine
from agent.service import BillingAgent
from api.protection import RateLimits
from api.runtime.bus import EventBus
from api.runtime.delivery import Delivery
from api.runtime.events import EventStore
from api.runtime.locks import ThreadLocks
from api.runtime.metrics import Metrics
from api.runtime.runner import TurnRunner
from api.runtime.threads import Threads
from api.settings import Settings
from guardrails.audit import AuditTrail
from tools.kb import KnowledgeBase
from tools.messaging.base import Messaging
from tools.payments.base import PaymentGateway
from tools.platforms.base import BillingPlatform
from tools.platforms.ledger import LedgerPlatform


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    platform: BillingPlatform
    ledger: LedgerPlatform | None  # the embedded ledger, when it is the platform (demo directory)
    agent: BillingAgent
    gateway: PaymentGateway
    messaging: Messaging
    kb: KnowledgeBase
    audit: AuditTrail
    events: EventStore
    bus: EventBus
    threads: Threads
    locks: ThreadLocks
    runner: TurnRunner
    delivery: Delivery
    metrics: Metrics
    limits: RateLimits
    outreach: OutreachEngine


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_platform(services: Annotated[Services, Depends(get_services)]) -> BillingPlatform:
    return services.platform


async def get_settings(services: Annotated[Services, Depends(get_services)]) -> Settings:
    return services.settings


ServicesDep = Annotated[Services, Depends(get_services)]
PlatformDep = Annotated[BillingPlatform, Depends(get_platform)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
