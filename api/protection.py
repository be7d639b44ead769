"""Request protection: body size limits, rate limits, security headers on pages, CORS.

Rate limits are in-memory token buckets (per client IP on every ``/v1/portal`` route, per thread on
posting a message): each worker counts on its own, so with N workers the effective ceiling is N times
the setting — good enough against a runaway client; put a shared limiter at the proxy for hard quotas.
A refused request gets ``429`` with ``Retry-After`` (whole seconds) and the usual error body.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.settings import Settings
from tools.errors import BillingError, RateLimited

# Vendor webhooks (Stripe events can be larger than a chat message) get their own, larger limit.
WEBHOOK_PREFIXES = ("/v1/sms", "/v1/payments", "/v1/webhooks", "/v1/pay")
UNLIMITED_PAGE_PREFIXES = ("/docs", "/redoc")  # Swagger UI loads its assets from a CDN

PAGE_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class RequestTooLarge(BillingError):
    status_code = 413
    code = "request_too_large"


class UnsupportedMediaType(BillingError):
    status_code = 415
    code = "unsupported_media_type"


# --------------------------------------------------------------------------- rate limits


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBucket:
    """``rate_per_minute`` tokens refilled continuously, at most ``burst`` banked, one per request."""

    MAX_KEYS = 50_000

    def __init__(
        self, rate_per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")
        self.rate = rate_per_minute / 60.0
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """0 when allowed; otherwise the seconds until a token is available."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.MAX_KEYS:
                self._evict(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def check(self, key: str, what: str) -> None:
        wait = self.take(key)
        if wait > 0:
            raise RateLimited(f"too many requests for this {what}; retry later", max(1, math.ceil(wait)))

    def _evict(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


@dataclass(frozen=True)
class RateLimits:
    per_ip: TokenBucket
    per_thread: TokenBucket

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(
            per_ip=TokenBucket(settings.rate_limit_ip_per_minute, settings.rate_limit_ip_burst),
            per_thread=TokenBucket(settings.rate_limit_thread_per_minute, settings.rate_limit_thread_burst),
        )


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# --------------------------------------------------------------------------- ASGI middleware


def _error(status: int, code: str, detail: str) -> tuple[Message, Message]:
    body = json.dumps({"error": code, "detail": detail}).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, {"type": "http.response.body", "body": body, "more_body": False}


class BodyLimitMiddleware:
    """Refuses bodies over the limit with 413 before any route reads them (declared or chunked)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, webhook_max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.webhook_max_bytes = webhook_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.webhook_max_bytes if path.startswith(WEBHOOK_PREFIXES) else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        # Read the (bounded) body up front, then replay it to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._refuse(send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        start, body = _error(413, "request_too_large", f"request body over {limit} bytes")
        await send(start)
        await send(body)


def _replay(chunks: list[bytes], first: Message | None, receive: Receive) -> Receive:
    pending: list[Message] = (
        [first]
        if first is not None
        else [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
    )

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()  # then http.disconnect, as the server reports it

    return replay


class SecurityHeadersMiddleware:
    """``nosniff`` on every response; CSP, frame and referrer policies on HTML pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exempt = scope["path"].startswith(UNLIMITED_PAGE_PREFIXES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html") and not exempt:
                    headers.extend(h for h in PAGE_HEADERS if h[0] not in names)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def install_protection(app: FastAPI, settings: Settings) -> None:
    @app.exception_handler(RateLimited)
    async def _rate_limited(_request: Request, exc: RateLimited) -> JSONResponse:
        return JSONResponse(
            status_code=429,
            content={"error": exc.code, "detail": exc.detail},
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        webhook_max_bytes=settings.max_webhook_request_bytes,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.allowed_origins),
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        expose_headers=["Retry-After"],
        allow_credentials=False,
        max_age=600,
    )
