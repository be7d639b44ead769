"""Request protection: body size limits, rate limits, security headers on pages, CORS.

Rate limits are sliding-window counters kept by the ``limits`` library: in Redis when ``BILLING_REDIS_URL``
is set, so every worker counts against the same windows, else in this process's memory. A refused request gets
``429`` with ``Retry-After`` (whole seconds) and the usual error body.

The client address is the TCP peer's unless the peer is one of ``BILLING_FORWARDED_ALLOW_IPS`` (none by
default): only then is ``X-Forwarded-For`` believed (uvicorn's ``ProxyHeadersMiddleware``, mounted here so
the rule is the same under ``serve``, ``--workers`` and in tests; uvicorn's own is switched off).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.settings import Settings
from tools.errors import BillingError, RateLimited

log = logging.getLogger("api.protection")

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


HSTS = b"max-age=31536000; includeSubDomains"


# Event ids are 64-bit integers in the database: a larger cursor is not one of ours.
MAX_CURSOR = 2**63 - 1
_CURSOR = re.compile(r"[0-9]{1,19}")


class InvalidCursor(BillingError):
    status_code = 400
    code = "invalid_cursor"


def parse_cursor(value: str) -> int:
    """An SSE resume cursor (``Last-Event-ID``): ASCII digits only, at most ``MAX_CURSOR``; anything
    else (a 5,000-digit number, ``2**63``, a non-ASCII digit) is ``InvalidCursor`` (400)."""
    text = value.strip()
    if not _CURSOR.fullmatch(text) or int(text) > MAX_CURSOR:
        raise InvalidCursor("Last-Event-ID must be an event id: ASCII digits, at most 2^63 - 1")
    return int(text)


class RequestTooLarge(BillingError):
    status_code = 413
    code = "request_too_large"


class UnsupportedMediaType(BillingError):
    status_code = 415
    code = "unsupported_media_type"


# --------------------------------------------------------------------------- rate limits


def storage_url(redis_url: str | None) -> str:
    """The ``limits`` storage of every rate limit: Redis when one is configured (every worker counts
    against the same windows), else this process's memory (one process, or per worker)."""
    if not redis_url:
        return "async+memory://"
    scheme, sep, rest = redis_url.partition("://")
    if not sep or scheme not in ("redis", "rediss", "async+redis", "async+rediss"):
        raise ValueError(f"the rate-limit storage must be a redis:// URL, not {scheme or redis_url!r}")
    return redis_url if scheme.startswith("async+") else f"async+{scheme}://{rest}"


def window(rate_per_minute: float, burst: int) -> RateLimitItem:
    """``burst`` requests in a window of ``burst / rate`` minutes: the same long-run rate as a token
    bucket of that rate and burst, without its state living in one process.

    Counted as a sliding-window counter (``limits``' ``SlidingWindowCounterRateLimiter``): the current
    fixed window's count plus the previous window's, weighted by how much of it the sliding window still
    covers. Within a first window it is exact (``burst`` pass, the next is refused); across windows it
    assumes the previous window's requests were spread evenly, so a burst bunched at the end of one
    window can let through up to ``burst`` more in the sliding window that ends mid-way through the
    next (never more than twice the burst in any window). Chosen over ``limits``' moving window, which
    is exact: in this process's memory that one hands every limited key's expiry to a thread after each
    request (``asyncio.to_thread`` per key), about fifty thread hand-overs per HTTP turn; the counter's
    expiry is plain dictionary work. In Redis both are one script call."""
    seconds = max(1, math.ceil(burst * 60.0 / rate_per_minute))
    return RateLimitItemPerSecond(burst, seconds)


class RateLimiter:
    """Sliding-window rate limits in shared storage (``limits``, see :func:`window`). ``namespace``
    keeps tests and services that share one Redis database apart.

    ``exact=True`` counts in ``limits``' moving window instead: no window edge lets a burst through,
    at the cost of the per-key expiry work :func:`window` describes. Failed sign-ins use it: they are
    rare, and the limit is a security promise (five wrong passwords, then nothing for the window, even
    when the fifth lands a moment before a window boundary)."""

    def __init__(self, redis_url: str | None = None, *, namespace: str = "billing") -> None:
        url = storage_url(redis_url)
        # redis-py rather than limits' default coredis client: one Redis client library in the project.
        options: dict[str, str] = {} if url.startswith("async+memory") else {"implementation": "redispy"}
        storage = storage_from_string(url, **options)
        if not isinstance(storage, Storage):  # an async+ URL always gives an async storage
            raise TypeError(f"{url} is not an asynchronous rate-limit storage")
        self.storage = storage
        self._counter = SlidingWindowCounterRateLimiter(self.storage)
        self._exact = MovingWindowRateLimiter(self.storage)
        self._namespace = namespace

    def _strategy(self, exact: bool) -> SlidingWindowCounterRateLimiter | MovingWindowRateLimiter:
        return self._exact if exact else self._counter

    async def hit(self, item: RateLimitItem, *key: str, exact: bool = False) -> int:
        """Count one request; 0 when it is allowed, else the whole seconds until one would be."""
        if await self._strategy(exact).hit(item, self._namespace, *key):
            return 0
        return await self.retry_after(item, *key, exact=exact)

    async def test(self, item: RateLimitItem, *key: str, exact: bool = False) -> int:
        """Like :meth:`hit` without counting: 0 when a request would be allowed."""
        if await self._strategy(exact).test(item, self._namespace, *key):
            return 0
        return await self.retry_after(item, *key, exact=exact)

    async def retry_after(self, item: RateLimitItem, *key: str, exact: bool = False) -> int:
        stats = await self._strategy(exact).get_window_stats(item, self._namespace, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def clear(self, item: RateLimitItem, *key: str, exact: bool = False) -> None:
        await self._strategy(exact).clear(item, self._namespace, *key)

    async def check(self, item: RateLimitItem, what: str, *key: str) -> None:
        """Count one request; ``RateLimited`` (429 with ``Retry-After``) when over the limit."""
        wait = await self.hit(item, *key)
        if wait:
            raise RateLimited(f"too many requests for this {what}; retry later", wait)


@dataclass(frozen=True)
class RateLimits:
    """The service's limits, all in one storage: per client address on every ``/v1/portal`` route, per
    conversation and per patient on posting a message (new threads do not reset a patient's budget),
    and failed console sign-ins per account and per address (``api.routes.console``)."""

    limiter: RateLimiter
    per_ip: RateLimitItem
    per_thread: RateLimitItem
    per_patient: RateLimitItem
    login_account: RateLimitItem
    login_ip: RateLimitItem

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        login_window = max(1, math.ceil(settings.login_failure_window_s))
        return cls(
            limiter=RateLimiter(settings.redis_url, namespace=settings.redis_key_prefix),
            per_ip=window(settings.rate_limit_ip_per_minute, settings.rate_limit_ip_burst),
            per_thread=window(settings.rate_limit_thread_per_minute, settings.rate_limit_thread_burst),
            per_patient=window(settings.rate_limit_patient_per_minute, settings.rate_limit_patient_burst),
            login_account=RateLimitItemPerSecond(settings.login_failures_per_account, login_window),
            login_ip=RateLimitItemPerSecond(settings.login_failures_per_ip, login_window),
        )

    async def address(self, ip: str) -> None:
        await self.limiter.check(self.per_ip, "address", "ip", ip)

    async def message(self, patient_id: str, thread_id: str) -> None:
        """Posting a message: per (patient, thread), so a caller who is refused on someone else's thread
        id spends only their own budget, and per patient across all their threads."""
        await self.limiter.check(self.per_thread, "conversation", "thread", patient_id, thread_id)
        await self.limiter.check(self.per_patient, "patient", "patient", patient_id)


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
    """``nosniff`` on every response; CSP, frame and referrer policies on HTML pages; HSTS on every
    response when the service is reached over https (browsers ignore it on http)."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

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
                if self.hsts and b"strict-transport-security" not in names:
                    headers.append((b"strict-transport-security", HSTS))
                content_type = dict(headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html") and not exempt:
                    headers.extend(h for h in PAGE_HEADERS if h[0] not in names)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


# Requests given up on by ``DeadlineMiddleware`` whose clean-up is still running (kept referenced).
_abandoned: set[asyncio.Future[None]] = set()


def _forget(task: asyncio.Future[None]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: it was logged by the error handlers, or is the cancellation's


class DeadlineMiddleware:
    """A request whose response has not started within ``timeout_s`` is cancelled and answered
    ``503`` with ``Retry-After``: a locked or unreachable database gives a clear, prompt answer instead
    of a request that hangs for the driver's own timeout (or forever, on a PostgreSQL lock wait).

    Once the response has started (a stream's first bytes) the deadline no longer applies. A request
    cancelled while its transaction was waiting for the database commits nothing (the driver rolls
    back); the client may send it again after ``Retry-After``."""

    def __init__(self, app: ASGIApp, *, timeout_s: float, retry_after_s: int) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = asyncio.Event()
        gave_up = False

        async def watch(message: Message) -> None:
            if gave_up:
                return  # the 503 went out: whatever the cancelled request still sends is dropped
            if message["type"] == "http.response.start":
                started.set()
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, watch))
        waiter = asyncio.ensure_future(started.wait())
        try:
            done, _ = await asyncio.wait(
                {task, waiter}, timeout=self.timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        except BaseException:
            task.cancel()
            raise
        finally:
            waiter.cancel()
        if not done:
            gave_up = True
            task.cancel()
            log.warning("api.request.deadline", extra={"path": scope["path"], "timeout_s": self.timeout_s})
            start, body = _error(503, "service_unavailable", "the service is busy; retry shortly")
            start["headers"].append((b"retry-after", str(self.retry_after_s).encode()))
            await send(start)
            await send(body)
            # Not awaited: the cancelled request's clean-up (a rollback queued behind a lock wait on the
            # driver's thread) may take as long as the database's own busy timeout; it finishes on its own.
            _abandoned.add(task)
            task.add_done_callback(_forget)
            return
        await task


def install_protection(app: FastAPI, settings: Settings) -> None:
    @app.exception_handler(RateLimited)
    async def _rate_limited(_request: Request, exc: RateLimited) -> JSONResponse:
        return JSONResponse(
            status_code=429,
            content={"error": exc.code, "detail": exc.detail},
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    app.add_middleware(
        DeadlineMiddleware, timeout_s=settings.request_timeout_s, retry_after_s=settings.retry_after_s
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.hsts)
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
    if settings.forwarded_allow_ips:
        # Outermost, so every other layer (rate limits, the Secure cookie) sees the real client.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.forwarded_allow_ips))
