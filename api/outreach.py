"""Wiring of outreach for the service and the CLI: the engine on the service's ports, the shipped
templates seeded as drafts (a manager approves them in the console before any is sent)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import yaml
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.outreach.engine import OutreachEngine
from api.settings import Settings
from guardrails.audit import AuditTrail
from guardrails.outreach import validate_template
from guardrails.policy import PracticePolicy
from tools.errors import ConfigurationError
from tools.messaging.base import Messaging
from tools.messaging.consent import SmsConsentStore
from tools.outreach.store import OutreachStore
from tools.platforms.base import OutreachPlatform

TEMPLATES_FILE = Path(__file__).resolve().parents[1] / "guardrails" / "data" / "outreach_templates.yaml"


def shipped_templates(path: Path = TEMPLATES_FILE) -> dict[str, dict[str, str]]:
    """The shipped texts, each checked (placeholders within the minimum PHI, STOP wording)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
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
) -> OutreachEngine:
    base = settings.public_base_url.rstrip("/")
    return OutreachEngine(
        platform=platform,
        store=OutreachStore(engine),
        consent=SmsConsentStore(engine),
        audit=audit,
        policy=policy,
        channels={"sms": messaging},
        link_for=lambda patient_id: f"{base}/",
        thread_for=thread_for,
        worker=worker,
    )
