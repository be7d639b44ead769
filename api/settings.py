"""Settings from the environment (prefix ``BILLING_``), read only by composition roots.

Everything is optional: with nothing set the product runs on the embedded
defaults (SQLite under ``var/``, the local understanding engine, the sandbox
payment gateway, the log messaging adapter).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tools.db import DEFAULT_DATABASE_URL
from tools.messaging.email import EmailConfig

# Development only (refused in production); 32+ bytes as RFC 7518 asks of HS256 keys.
DEV_PORTAL_SECRET = "dev-portal-secret-change-me-not-for-production"
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", DEV_PORTAL_SECRET})
MIN_HS256_SECRET_BYTES = 32  # RFC 7518 section 3.2: a key at least as long as the hash output
MIN_SECRET_ENTROPY_BITS = 128


def estimated_entropy_bits(secret: str) -> float:
    """An upper estimate of the secret's entropy: its length times the Shannon entropy of its own
    character frequencies. A random 32-byte key in hex or base64 scores well over 128 bits; a repeated
    or low-variety string ("aaaa…", "abababab…") scores far below, whatever its length."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    n = len(secret)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    return per_char * n


def portal_secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot sign portal sessions in production, or ``None`` when it can."""
    if secret in PLACEHOLDER_SECRETS:
        return "is a placeholder"
    size = len(secret.encode("utf-8"))
    if size < MIN_HS256_SECRET_BYTES:
        return (
            f"has {size} bytes; HS256 needs at least {MIN_HS256_SECRET_BYTES} (e.g. `openssl rand -hex 32`)"
        )
    if estimated_entropy_bits(secret) < MIN_SECRET_ENTROPY_BITS:
        return f"is too predictable (under {MIN_SECRET_ENTROPY_BITS} bits); use `openssl rand -hex 32`"
    return None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str = "http://127.0.0.1:8000"

    database_url: str = DEFAULT_DATABASE_URL
    checkpoint_url: str | None = None  # defaults to a SQLite file beside the ledger, or the same PostgreSQL
    policy_file: Path | None = None  # defaults to guardrails/data/default_policy.yaml
    kb_dir: Path | None = None  # defaults to the shipped demo documents

    portal_token_secret: SecretStr = SecretStr(DEV_PORTAL_SECRET)
    portal_token_public_key: str | None = None  # PEM; when set, RS256 tokens are expected
    allowed_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8000", "http://localhost:8000"]
    )

    # The longest portal session a token may grant (exp - iat); longer ones are refused.
    portal_token_max_lifetime_s: int = Field(default=12 * 3600, ge=60)

    # Protection (api/protection.py): request size, rate limits (sliding windows in Redis when
    # redis_url is set, shared by every worker; in process memory otherwise).
    redis_url: str | None = None
    redis_key_prefix: str = Field(
        default="billing", pattern=r"^[A-Za-z0-9_.:-]{1,64}$"
    )  # keys of this service
    max_request_bytes: int = Field(default=16_384, ge=1024)
    max_webhook_request_bytes: int = Field(default=262_144, ge=1024)
    rate_limit_ip_per_minute: float = Field(default=120, gt=0)
    rate_limit_ip_burst: int = Field(default=60, ge=1)
    rate_limit_thread_per_minute: float = Field(default=20, gt=0)
    rate_limit_thread_burst: int = Field(default=8, ge=1)
    rate_limit_patient_per_minute: float = Field(default=40, gt=0)
    rate_limit_patient_burst: int = Field(default=16, ge=1)
    # Console sign-in: failed attempts allowed per account and per client address in the window;
    # beyond, every attempt (the right password included) is refused with 429 until the window moves.
    login_failures_per_account: int = Field(default=5, ge=1)
    login_failures_per_ip: int = Field(default=20, ge=1)
    login_failure_window_s: float = Field(default=900, gt=0)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDR networks,
    # comma-separated; "*" trusts every peer). None by default: the TCP peer is the client.
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # A request whose answer has not started after this long (a locked or unreachable database) gets
    # 503 with Retry-After; readiness probes the database within health_timeout_s.
    request_timeout_s: float = Field(default=20, gt=0)
    health_timeout_s: float = Field(default=2, gt=0)
    retry_after_s: int = Field(default=5, ge=1)
    # /docs, /redoc and /openapi.json: served unless false; unset means "not in production".
    public_docs: bool | None = None
    # /metrics: when set, it needs `Authorization: Bearer <token>`; unset, it is open outside
    # production and off (404) in production.
    metrics_token: SecretStr | None = None
    drain_timeout_s: float = Field(default=30, ge=0)  # graceful shutdown: how long in-flight turns may finish

    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    # Used only when llm_base_url and llm_model are both set (the local engine otherwise).
    llm_understanding_model: str | None = None  # a separate model for understanding; default llm_model
    llm_phrasing_model: str | None = None  # a separate model for phrasing replies; default llm_model
    llm_timeout_s: float = Field(default=8.0, gt=0)
    llm_max_tokens: int = Field(default=400, ge=16)
    # The request field that carries llm_max_tokens: OpenAI's current ``max_completion_tokens`` (OpenAI,
    # Azure, vLLM, llama-server), or the older ``max_tokens`` for servers that ignore the new name and
    # would otherwise generate unbounded replies (llama-cpp-python's server, some proxies).
    llm_max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"
    llm_temperature: float = Field(default=0.0, ge=0, le=2)
    # Requests in flight to the model server at once (understanding and phrasing together); the rest
    # queue. 1 suits single-slot servers (llama-cpp-python interrupts a running stream for a new one);
    # raise it for llama-server -np N, vLLM or a hosted API.
    llm_max_concurrency: int = Field(default=1, ge=1)
    llm_breaker_threshold: int = Field(default=3, ge=1)
    llm_breaker_cooldown_s: float = Field(default=30.0, ge=0)
    # Rounds of read-only look-ups (bind_tools) the phrasing model may make in a turn; 0 offers none.
    llm_tool_rounds: int = Field(default=2, ge=0, le=5)
    # How understanding asks for its JSON: json_schema (OpenAI, vLLM, llama-server), json_mode (servers
    # that only accept {"type": "json_object"}, e.g. llama-cpp-python's), function_calling.
    llm_structured_output: Literal["json_schema", "json_mode", "function_calling"] = "json_schema"
    # The Platt map of the model's confidence written by ``billing-agent calibrate``; unset or missing: raw.
    llm_calibration_file: Path | None = None

    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    # Twilio's REST API root, when not https://api.twilio.com (a regional edge, or a local mock in tests).
    twilio_api_base_url: str | None = None
    # The exact URL Twilio is configured to call, when it is not public_base_url + /v1/sms/inbound
    # (a proxy that rewrites paths); signatures are validated over this URL.
    twilio_webhook_url: str | None = None
    # The URL outreach texts ask Twilio to post delivery receipts to (StatusCallback), when it is not
    # public_base_url + /v1/sms/status; signatures of the receipts are validated over it.
    twilio_status_callback_url: str | None = None
    # Seconds between outreach passes run by the service (``serve`` sets 30); 0: the service runs none.
    outreach_interval_s: float = Field(default=0, ge=0)
    # How many processes send outreach from the practice's numbers (``serve --workers N`` sets N): each
    # paces a number at 1/N of the rate it can carry (a US long code, about one message a second).
    outreach_senders: int = Field(default=1, ge=1, le=64)
    # The page an outreach message's link opens: the practice portal's page with the chat widget, which
    # reads ``?offer=`` (tools/outreach/links.py). Unset: the demo portal of this service.
    outreach_link_url: str | None = None
    outreach_link_ttl_days: int = Field(default=30, ge=1, le=90)

    # The practice's billing platform (docs/platforms.md): the embedded ledger, DrChrono, or a FHIR R4 server.
    platform: Literal["ledger", "drchrono", "fhir"] = "ledger"
    platform_timeout_s: float = Field(default=5.0, gt=0)
    platform_retries: int = Field(default=2, ge=0, le=5)
    platform_cache_ttl_s: float = Field(default=10.0, ge=0)  # a figure is never shown older than this
    platform_breaker_threshold: int = Field(default=5, ge=1)
    platform_breaker_cooldown_s: float = Field(default=30.0, ge=0)
    platform_requests_per_minute: int = Field(default=600, ge=1)
    platform_max_retry_after_s: float = Field(default=3.0, ge=0)
    # FHIR R4 (SMART Backend Services: client id + a private key registered with the server).
    fhir_base_url: str | None = None
    fhir_practice_id: str | None = None  # the Organization id of the practice
    fhir_client_id: str | None = None
    fhir_private_key_file: Path | None = None  # PEM
    fhir_key_id: str | None = None
    fhir_token_url: str | None = None  # default: from [base]/.well-known/smart-configuration
    fhir_scope: str = "system/*.read system/*.write"
    fhir_jwt_algorithm: Literal["RS384", "ES384", "RS256", "ES256"] = "RS384"
    # DrChrono (OAuth 2.0: client id/secret and a refresh token from the practice's authorisation).
    drchrono_base_url: str = "https://app.drchrono.com"
    drchrono_client_id: str | None = None
    drchrono_client_secret: SecretStr | None = None
    drchrono_refresh_token: SecretStr | None = None
    drchrono_token_file: Path = Path("var/drchrono-token.enc")  # Fernet-encrypted at rest
    drchrono_token_key: SecretStr | None = None  # a Fernet key (cryptography.fernet.Fernet.generate_key())
    drchrono_practice_name: str = "the practice"
    drchrono_statement_terms_days: int = Field(default=30, ge=0)

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split_ips(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # Outreach email over SMTP (tools/messaging/email.py); no host: no email is sent. The postal address is
    # required with a host (CAN-SPAM: every commercial email names the sender's valid postal address).
    email_smtp_host: str | None = None
    email_smtp_port: int = Field(default=587, ge=1, le=65535)
    email_smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    email_smtp_user: str | None = None
    email_smtp_password: SecretStr | None = None
    email_from_address: str | None = None
    email_practice_postal_address: str | None = None
    # Bearer secret of POST /v1/email/bounces (a provider's bounce/complaint webhook, or a relay of DSNs).
    email_bounce_webhook_secret: SecretStr | None = None
    # Signs unsubscribe links and keys address hashes; defaults to the portal token secret.
    email_token_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Settings:
        if self.environment == "production" and self.portal_token_public_key is None:
            problem = portal_secret_problem(self.portal_token_secret.get_secret_value())
            if problem is not None:
                raise ValueError(
                    f"BILLING_PORTAL_TOKEN_SECRET {problem} "
                    "(or set BILLING_PORTAL_TOKEN_PUBLIC_KEY for RS256)"
                )
        if self.platform == "fhir" and not (self.fhir_base_url and self.fhir_practice_id):
            raise ValueError("BILLING_PLATFORM=fhir needs BILLING_FHIR_BASE_URL and BILLING_FHIR_PRACTICE_ID")
        if self.platform == "drchrono" and not (
            self.drchrono_client_id and self.drchrono_client_secret and self.drchrono_refresh_token
        ):
            raise ValueError(
                "BILLING_PLATFORM=drchrono needs BILLING_DRCHRONO_CLIENT_ID, _CLIENT_SECRET, _REFRESH_TOKEN"
            )
        return self

    @property
    def docs_enabled(self) -> bool:
        return self.public_docs if self.public_docs is not None else self.environment != "production"

    @property
    def hsts(self) -> bool:
        return self.public_base_url.startswith("https://")

    @model_validator(mode="after")
    def _email_is_complete(self) -> Settings:
        if self.email_smtp_host and not (self.email_from_address and self.email_practice_postal_address):
            raise ValueError(
                "BILLING_EMAIL_SMTP_HOST needs BILLING_EMAIL_FROM_ADDRESS and "
                "BILLING_EMAIL_PRACTICE_POSTAL_ADDRESS (CAN-SPAM: every email names a postal address)"
            )
        if (
            self.environment == "production"
            and self.email_smtp_host
            and self.email_secret().get_secret_value() in PLACEHOLDER_SECRETS
        ):
            raise ValueError("BILLING_EMAIL_TOKEN_SECRET must be set to a real secret in production")
        return self

    def outreach_link_base(self) -> str:
        return self.outreach_link_url or f"{self.public_base_url.rstrip('/')}/demo/portal"

    def email_secret(self) -> SecretStr:
        return self.email_token_secret or self.portal_token_secret

    def email_config(self) -> EmailConfig | None:
        """The SMTP channel's configuration, or ``None`` when email is not configured."""
        if not (self.email_smtp_host and self.email_from_address and self.email_practice_postal_address):
            return None
        return EmailConfig(
            host=self.email_smtp_host,
            port=self.email_smtp_port,
            tls=self.email_smtp_tls,
            from_address=self.email_from_address,
            practice_postal_address=self.email_practice_postal_address,
            public_base_url=self.public_base_url,
            token_secret=self.email_secret(),
            user=self.email_smtp_user,
            password=self.email_smtp_password,
        )

    def effective_checkpoint_url(self) -> str:
        if self.checkpoint_url:
            return self.checkpoint_url
        if self.database_url.startswith("sqlite"):
            return "sqlite:///var/checkpoints.db"
        return self.database_url
