"""Wiring of outreach for the service and the CLI: the engine on the service's ports, the shipped
templates seeded as drafts (a manager approves them in the console before any is sent)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from agent.outreach.engine import OutreachEngine, Pacer
from api.settings import Settings
from guardrails.audit import AuditTrail
from guardrails.outreach import validate_template
from guardrails.policy import PracticePolicy
from tools.errors import ConfigurationError
from tools.messaging.base import Messaging
from tools.messaging.consent import SmsConsentStore
from tools.messaging.email import EmailChannel, SmtpTransport
from tools.messaging.email_consent import EmailConsentStore
from tools.outreach.links import offer_link
from tools.outreach.store import OutreachStore, StoredStep
from tools.platforms.base import OutreachPlatform
from tools.yamlfile import load_yaml

TEMPLATES_FILE = Path(__file__).resolve().parents[1] / "guardrails" / "data" / "outreach_templates.yaml"


def shipped_templates(path: Path = TEMPLATES_FILE) -> dict[str, dict[str, str]]:
    """The shipped texts, each checked (placeholders within the minimum PHI, STOP wording)."""
    data = load_yaml(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ConfigurationError(f"outreach templates file {path} must be a mapping of keys")
    out: dict[str, dict[str, str]] = {}
    for key, by_language in data.items():
        if not isinstance(by_language, dict):
            raise ConfigurationError(f"outreach template {key!r} in {path} must map languages to texts")
        out[str(key)] = {str(lang): str(text) for lang, text in by_language.items()}
        for lang, text in out[str(key)].items():
            try:
                validate_template(text)
            except ValueError as exc:
                raise ConfigurationError(f"outreach template {key}/{lang} in {path}: {exc}") from exc
    return out


def check_email_configured(settings: Settings, policy: PracticePolicy) -> None:
    """A policy that sends email needs the SMTP settings (refused at start-up, not at the first send)."""
    if policy.outreach is None or not policy.outreach.enabled or "email" not in policy.outreach.channels:
        return
    if settings.email_config() is None:
        raise ConfigurationError(
            "the outreach policy sends email (outreach.channels lists email) but email is not configured: "
            "set BILLING_EMAIL_SMTP_HOST, BILLING_EMAIL_FROM_ADDRESS and "
            "BILLING_EMAIL_PRACTICE_POSTAL_ADDRESS "
            "(or remove email from outreach.channels)"
        )


def build_email(settings: Settings, engine: AsyncEngine) -> tuple[EmailChannel | None, EmailConsentStore]:
    consent = EmailConsentStore(engine, settings.email_secret())
    cfg = settings.email_config()
    return (None if cfg is None else EmailChannel(cfg, SmtpTransport(cfg), consent)), consent


# Seconds between two messages from one sending number, all processes together (a US long code carries
# about one message a second).
NUMBER_INTERVAL_S = 1.0


def pacer_for(
    settings: Settings,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Pacer:
    """This process's share of each sending number's rate: with ``outreach_senders`` processes sending,
    each waits that many intervals between its own messages, so together they never exceed the number's."""
    return Pacer(NUMBER_INTERVAL_S * settings.outreach_senders, monotonic=monotonic, sleep=sleep)


def build_outreach(
    settings: Settings,
    engine: AsyncEngine,
    platform: OutreachPlatform,
    messaging: Messaging,
    audit: AuditTrail,
    policy: PracticePolicy,
    thread_for: Callable[[str], Awaitable[str]],
    *,
    worker: str = "outreach",
    clock: Callable[[], datetime] | None = None,
    pacer: Pacer | None = None,
) -> OutreachEngine:
    check_email_configured(settings, policy)
    email, email_consent = build_email(settings, engine)
    now = clock or (lambda: datetime.now(UTC))
    base = settings.outreach_link_base()
    secret = settings.portal_token_secret
    ttl = timedelta(days=settings.outreach_link_ttl_days)

    def link_for(step: StoredStep) -> str:
        return offer_link(base, secret, step.id, now() + ttl)

    return OutreachEngine(
        platform=platform,
        store=OutreachStore(engine),
        consent=SmsConsentStore(engine),
        audit=audit,
        policy=policy,
        channels={"sms": messaging},
        link_for=link_for,
        thread_for=thread_for,
        email=email,
        email_consent=email_consent,
        worker=worker,
        clock=clock,
        pacer=pacer or pacer_for(settings),
    )
