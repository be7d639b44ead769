"""Builds the agent and its ports from settings: shared by the app's lifespan and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.checkpoint import open_checkpointer
from agent.context import Ports
from agent.llm_usage import LlmUsageSource, Role
from agent.outreach.replies import offer_lookup, step_offer_lookup
from agent.phrasing import Phraser
from agent.service import BillingAgent
from agent.understanding.base import Understander
from agent.understanding.local import LocalUnderstander
from api.settings import Settings
from guardrails.audit import AuditTrail
from guardrails.policy import load_policy
from tools.codebook import CodeBook
from tools.handoffs import HandoffQueue
from tools.kb import KnowledgeBase
from tools.outbox import CommunicationOutbox
from tools.outreach.store import OutreachStore
from tools.payments.base import PaymentGateway
from tools.payments.sandbox import SandboxGateway
from tools.platforms.base import BillingPlatform

if TYPE_CHECKING:
    from agent.understanding.llm import EndpointGate


def build_gateway(settings: Settings, engine: AsyncEngine) -> PaymentGateway:
    """Stripe when a key is configured, else the embedded sandbox gateway."""
    if settings.stripe_api_key is not None:
        from datetime import timedelta

        import stripe

        from tools.payments.stripe import StripeGateway

        client = stripe.StripeClient(
            settings.stripe_api_key.get_secret_value(), http_client=stripe.AIOHTTPClient()
        )
        return StripeGateway(
            client,
            success_url=f"{settings.public_base_url}/v1/pay/done",
            cancel_url=f"{settings.public_base_url}/v1/pay/cancelled",
            expires_after=timedelta(hours=23),
            engine=engine,
        )
    return SandboxGateway(engine, base_url=settings.public_base_url)


def build_platform(settings: Settings, ledger: BillingPlatform, engine: AsyncEngine) -> BillingPlatform:
    """The configured practice system (``BILLING_PLATFORM``); ``ledger`` when it is the embedded one."""
    if settings.platform == "ledger":
        return ledger
    from tools.platforms.http import CircuitBreaker, HttpPolicy, PlatformHttp, RequestBudget

    policy = HttpPolicy(
        timeout_s=settings.platform_timeout_s,
        attempts=settings.platform_retries + 1,
        max_retry_after_s=settings.platform_max_retry_after_s,
    )
    breaker = CircuitBreaker(settings.platform_breaker_threshold, settings.platform_breaker_cooldown_s)
    budget = RequestBudget(settings.platform_requests_per_minute)
    if settings.platform == "fhir":
        from tools.platforms.fhir import FhirPlatform, SmartBackendCredentials
        from tools.platforms.http import Credentials, NoCredentials

        assert settings.fhir_base_url  # checked by Settings
        assert settings.fhir_practice_id
        credentials: Credentials = NoCredentials()
        if settings.fhir_client_id and settings.fhir_private_key_file:
            credentials = SmartBackendCredentials(
                client_id=settings.fhir_client_id,
                private_key_pem=settings.fhir_private_key_file.read_text(),
                token_url=settings.fhir_token_url,
                fhir_base_url=settings.fhir_base_url,
                scope=settings.fhir_scope,
                kid=settings.fhir_key_id,
                algorithm=settings.fhir_jwt_algorithm,
                timeout_s=settings.platform_timeout_s,
            )
        http = PlatformHttp(
            settings.fhir_base_url, credentials=credentials, policy=policy, breaker=breaker, budget=budget
        )
        return FhirPlatform(
            http, practice_id=settings.fhir_practice_id, cache_ttl_s=settings.platform_cache_ttl_s
        )
    from tools.platforms.drchrono import DrChronoOAuth, DrChronoPlatform, EncryptedTokenFile
    from tools.platforms.keys import PaymentKeys
    from tools.platforms.plans import ServicePlans

    assert settings.drchrono_client_id  # checked by Settings, with the secret and the refresh token
    assert settings.drchrono_client_secret
    assert settings.drchrono_refresh_token
    base = settings.drchrono_base_url.rstrip("/")
    store = None
    if settings.drchrono_token_key is not None:
        store = EncryptedTokenFile(
            settings.drchrono_token_file, settings.drchrono_token_key.get_secret_value().encode()
        )
    oauth = DrChronoOAuth(
        token_url=f"{base}/o/token/",
        client_id=settings.drchrono_client_id,
        client_secret=settings.drchrono_client_secret.get_secret_value(),
        refresh_token=settings.drchrono_refresh_token.get_secret_value(),
        store=store,
        timeout_s=settings.platform_timeout_s,
    )
    http = PlatformHttp(base, credentials=oauth, policy=policy, breaker=breaker, budget=budget)
    return DrChronoPlatform(
        http,
        plans=ServicePlans(engine, "drchrono"),
        keys=PaymentKeys(engine, "drchrono"),
        terms_days=settings.drchrono_statement_terms_days,
        cache_ttl_s=settings.platform_cache_ttl_s,
    )


async def close_platform(platform: BillingPlatform) -> None:
    close = getattr(platform, "aclose", None)
    if close is not None:
        await close()


def _chat_model(settings: Settings, base_url: str, model_name: str) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
    # ChatOpenAI always sends its own limit as ``max_completion_tokens``; the older name goes in the body.
    limit: dict[str, Any] = (
        {"extra_body": {"max_tokens": settings.llm_max_tokens}}
        if settings.llm_max_tokens_field == "max_tokens"
        else {"max_completion_tokens": settings.llm_max_tokens}
    )
    return ChatOpenAI(
        base_url=base_url,
        api_key=key,
        model=model_name,
        timeout=settings.llm_timeout_s,
        max_retries=0,  # a failure falls back to the local engine within the turn; no retry storms
        temperature=settings.llm_temperature,
        **limit,
    )


@cache
def _gate(base_url: str, limit: int, wait_s: float) -> EndpointGate:
    from agent.understanding.llm import EndpointGate

    return EndpointGate(limit=limit, wait_s=wait_s)


def endpoint_gate(settings: Settings) -> EndpointGate:
    """One queue per model server, shared by its understanding and phrasing clients."""
    return _gate(settings.llm_base_url or "", settings.llm_max_concurrency, 4 * settings.llm_timeout_s)


def build_understander(settings: Settings, platform: BillingPlatform) -> Understander:
    """The local engine; an ``LlmUnderstander`` over it when an OpenAI-compatible server and model are
    configured (the client is built here, never at import time)."""
    local = LocalUnderstander.default()
    model_name = settings.llm_understanding_model or settings.llm_model
    if not settings.llm_base_url or not model_name:
        return local
    from agent.understanding.calibrate import Calibration
    from agent.understanding.llm import CircuitBreaker, LlmUnderstander, platform_identifiers

    model = _chat_model(settings, settings.llm_base_url, model_name)
    path = settings.llm_calibration_file
    return LlmUnderstander(
        model,
        local,
        identifiers=platform_identifiers(platform),
        timeout_s=settings.llm_timeout_s,
        breaker=CircuitBreaker(settings.llm_breaker_threshold, settings.llm_breaker_cooldown_s),
        calibration=Calibration.load(path) if path is not None and path.exists() else None,
        structured_output=settings.llm_structured_output,
        gate=endpoint_gate(settings),
    )


def build_phraser(settings: Settings, platform: BillingPlatform) -> Phraser | None:
    """``None`` (the local templates phrase every reply) unless an OpenAI-compatible server and a model
    are configured; then an ``LlmPhraser`` (the client is built here, never at import time)."""
    model_name = settings.llm_phrasing_model or settings.llm_model
    if not settings.llm_base_url or not model_name:
        return None
    from agent.llm_phrasing import LlmPhraser
    from agent.understanding.llm import CircuitBreaker, platform_identifiers

    return LlmPhraser(
        _chat_model(settings, settings.llm_base_url, model_name),
        identifiers=platform_identifiers(platform),
        timeout_s=settings.llm_timeout_s,
        breaker=CircuitBreaker(settings.llm_breaker_threshold, settings.llm_breaker_cooldown_s),
        tool_rounds=settings.llm_tool_rounds,
        gate=endpoint_gate(settings),
    )


def llm_sources(ports: Ports) -> list[tuple[Role, LlmUsageSource]]:
    """The agent's language-model components, for ``/metrics`` (none with the local engine)."""
    out: list[tuple[Role, LlmUsageSource]] = []
    if isinstance(ports.understander, LlmUsageSource):
        out.append(("understanding", ports.understander))
    if isinstance(ports.phraser, LlmUsageSource):
        out.append(("phrasing", ports.phraser))
    return out


@asynccontextmanager
async def open_agent(
    settings: Settings, engine: AsyncEngine, platform: BillingPlatform, gateway: PaymentGateway
) -> AsyncIterator[BillingAgent]:
    """A ready ``BillingAgent`` (its checkpointer open for the block's duration)."""
    policy = load_policy(settings.policy_file)
    kb = KnowledgeBase.from_dir(settings.kb_dir) if settings.kb_dir else KnowledgeBase.default()
    async with open_checkpointer(settings.effective_checkpoint_url()) as saver:
        yield BillingAgent(
            platform=platform,
            gateway=gateway,
            kb=kb,
            codebook=CodeBook.default(),
            policy=policy,
            understander=build_understander(settings, platform),
            audit=AuditTrail(engine),
            checkpointer=saver,
            phraser=build_phraser(settings, platform),
            outreach_offers=offer_lookup(platform, OutreachStore(engine), lambda: datetime.now(UTC)),
            outreach_step_offers=step_offer_lookup(OutreachStore(engine), lambda: datetime.now(UTC)),
            handoffs=HandoffQueue(engine),
            outbox=CommunicationOutbox(engine),
        )
