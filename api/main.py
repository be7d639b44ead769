"""The app factory and its lifespan: the composition root of the service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress

import psycopg
from fastapi import APIRouter, FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from tenacity import retry, retry_if_result, wait_fixed

from agent.heap import frozen_heap
from api.container import build_gateway, build_platform, close_platform, llm_sources, open_agent
from api.deps import Services
from api.errors import install_error_handlers
from api.logging import configure_logging
from api.outreach import build_outreach, shipped_templates
from api.protection import RateLimits, install_protection
from api.routes import console, demo, email, health, metrics, outreach, payments, portal, sms, widget
from api.runtime.bus import EventBus, InProcessBus, PostgresBus
from api.runtime.delivery import Delivery
from api.runtime.events import EventStore
from api.runtime.locks import ThreadLocks, advisory_key
from api.runtime.metrics import Metrics
from api.runtime.runner import TurnRunner
from api.runtime.threads import Threads
from api.settings import Settings
from migrations import migrate_service
from tools.db import create_engine, normalize_url
from tools.handoffs import HandoffQueue
from tools.messaging.base import Messaging
from tools.messaging.consent import SmsConsentStore
from tools.messaging.log import LogMessaging
from tools.platforms.base import BillingPlatform, OutreachPlatform
from tools.platforms.ledger import LedgerPlatform, migrate

log = logging.getLogger("api")

# Every router of the service, in the order they are mounted.
ROUTERS: list[APIRouter] = [
    health.router,
    metrics.router,
    demo.router,
    portal.router,
    sms.router,
    email.router,
    payments.router,
    console.router,
    outreach.router,
    widget.router,
]


def build_messaging(settings: Settings, *, status_callback: str | None = None) -> Messaging:
    """Twilio when its credentials are configured, else the log adapter. ``status_callback``: the URL
    Twilio posts the messages' delivery receipts to (outreach asks for them; conversation replies not)."""
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number:
        from twilio.rest import Client

        from tools.messaging.twilio import TwilioMessaging

        client = Client(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
        if settings.twilio_api_base_url:
            client.api.base_url = settings.twilio_api_base_url
        return TwilioMessaging(client, settings.twilio_from_number, status_callback)
    return LogMessaging()


def build_bus(settings: Settings) -> EventBus:
    """LISTEN/NOTIFY on PostgreSQL (several workers share it); in-process otherwise."""
    url = make_url(normalize_url(settings.database_url))
    if url.get_backend_name() == "postgresql":
        return PostgresBus(url.set(drivername="postgresql").render_as_string(hide_password=False))
    return InProcessBus()


@asynccontextmanager
async def startup_lock(settings: Settings) -> AsyncIterator[None]:
    """On PostgreSQL, a session advisory lock around start-up: schema migrations and the checkpoint
    store's ``setup()`` are not safe to run concurrently from several workers.

    It is polled with ``pg_try_advisory_lock`` rather than waited for: a waiting ``pg_advisory_lock``
    is a running statement, and the checkpoint store's ``CREATE INDEX CONCURRENTLY`` (run by the
    holder) waits for every running statement to finish: an undetected deadlock."""
    url = make_url(normalize_url(settings.database_url))
    if url.get_backend_name() != "postgresql":
        yield
        return
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    key = advisory_key(f"startup:{conninfo}")  # per database and schema
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:

        @retry(retry=retry_if_result(lambda taken: not taken), wait=wait_fixed(0.1))
        async def take() -> bool:
            row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))).fetchone()
            return row is not None and bool(row[0])

        await take()
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def create_app(settings: Settings | None = None, *, freeze_heap: bool = False) -> FastAPI:
    """The app. ``freeze_heap``: the caller owns the process (``serve``, a worker), so the heap built at
    start-up is frozen out of the garbage collector's reach once start-up is done (``agent.heap``)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging()
        async with AsyncExitStack() as stack:
            async with startup_lock(settings):
                await migrate(settings.database_url)
                await migrate_service(settings.database_url)
                engine = create_engine(settings.database_url)
                stack.push_async_callback(engine.dispose)
                ledger = LedgerPlatform(engine)
                platform = build_platform(settings, ledger, engine)
                if platform is not ledger:
                    stack.push_async_callback(close_platform, platform)
                gateway = build_gateway(settings, engine)
                bus = build_bus(settings)
                stack.push_async_callback(bus.close)
                await bus.start()
                agent = await stack.enter_async_context(open_agent(settings, engine, platform, gateway))
            events, threads, locks, metrics_ = (
                EventStore(engine, notify_channel=bus.channel if isinstance(bus, PostgresBus) else None),
                Threads(engine),
                ThreadLocks(engine),
                Metrics(llm=llm_sources(agent.ports)),
            )
            runner = TurnRunner(
                agent=agent, threads=threads, events=events, bus=bus, locks=locks, metrics=metrics_
            )
            messaging = build_messaging(settings)
            delivery = Delivery(
                agent=agent,
                platform=platform,
                messaging=messaging,
                threads=threads,
                locks=locks,
                emit=runner.emit,
                consent=SmsConsentStore(engine),
                metrics=metrics_,
            )
            runner.delivery = delivery

            async def sms_thread(phone: str) -> str:
                return (await threads.get_or_create_sms(phone)).id

            outreach_engine = build_outreach(
                settings,
                engine,
                # Outreach watches the configured practice system's balance feed (DrChrono, FHIR or ours).
                platform if isinstance(platform, OutreachPlatform) else ledger,
                build_messaging(settings, status_callback=sms.status_callback_url(settings)),
                agent.ports.audit,
                agent.ports.policy,
                sms_thread,
            )
            await outreach_engine.store.seed_templates(shipped_templates())
            app.state.services = Services(
                settings=settings,
                engine=engine,
                platform=platform,
                ledger=ledger if platform is ledger else None,
                agent=agent,
                gateway=gateway,
                messaging=messaging,
                kb=agent.ports.kb,
                audit=agent.ports.audit,
                events=events,
                bus=bus,
                threads=threads,
                locks=locks,
                runner=runner,
                delivery=delivery,
                metrics=metrics_,
                limits=RateLimits.from_settings(settings),
                outreach=outreach_engine,
            )
            resumed = await runner.resume()
            frozen = stack.enter_context(frozen_heap()) if freeze_heap else 0
            log.info("api.started", extra={"resumed_threads": resumed, "frozen_objects": frozen})
            stop_outreach = asyncio.Event()
            loop = (
                asyncio.create_task(outreach_engine.serve(stop_outreach, settings.outreach_interval_s))
                if settings.outreach_interval_s > 0
                else None
            )
            handoff_sync = (
                asyncio.create_task(_sync_handoffs(agent.ports.handoffs, platform, stop_outreach))
                if agent.ports.handoffs is not None
                else None
            )
            # The turns' transcript lines go onto the platform from here, off the turns' critical path
            # (lines a previous process left are sent first).
            outbox = agent.ports.outbox
            stop_outbox = asyncio.Event()
            outbox_drain = (
                asyncio.create_task(outbox.serve(platform, stop_outbox)) if outbox is not None else None
            )
            try:
                yield
            finally:
                stop_outreach.set()
                if loop is not None:
                    await loop
                if handoff_sync is not None:
                    await handoff_sync
                await runner.drain(settings.drain_timeout_s)
                if outbox is not None and outbox_drain is not None:
                    stop_outbox.set()
                    await outbox_drain
                    left = await outbox.flush(platform, OUTBOX_FLUSH_S)
                    if left:
                        log.warning("outbox.left_for_next_start", extra={"lines": left})
        log.info("api.stopped")

    docs = settings.docs_enabled
    app = FastAPI(
        title="Patient Billing Agent",
        version="0.1.0",
        summary="Answers patients' medical-bill questions and collects payment.",
        lifespan=lifespan,
        # Off in production unless BILLING_PUBLIC_DOCS=true: the schema maps every route for an attacker.
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    install_error_handlers(app, retry_after_s=settings.retry_after_s)
    install_protection(app, settings)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", widget.static_files(), name="static")
    return app


HANDOFF_SYNC_S = 30.0
# At shutdown, how long the outbox's last lines may take to reach the platform (the rest wait in the
# table for the next start).
OUTBOX_FLUSH_S = 10.0


async def _sync_handoffs(queue: HandoffQueue, platform: BillingPlatform, stop: asyncio.Event) -> None:
    """Open the requests for a person queued during a platform outage as tickets, once it is back."""
    while not stop.is_set():
        try:
            result = await queue.sync(platform)
            if result.opened:
                log.info("handoffs.synced", extra={"opened": result.opened, "waiting": result.waiting})
        except SQLAlchemyError as exc:  # the service's database is down: try again next round
            log.warning("handoffs.sync_failed", extra={"error": type(exc).__name__})
        with suppress(TimeoutError):
            async with asyncio.timeout(HANDOFF_SYNC_S):
                await stop.wait()
