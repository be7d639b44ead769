"""The HTTP side every remote platform adapter shares: retries, a circuit breaker, a request budget,
authentication refresh, a short per-patient read cache and a call counter.

A remote practice system is slower and less reliable than the embedded ledger, and a patient waits on
every call. So:

* a 5xx or a transport failure (refused, reset, timed out) is retried with exponential backoff
  (``tenacity``), a 429 after its ``Retry-After`` when that is short enough to wait in a turn, and
  otherwise the call fails at once with :class:`~tools.errors.PlatformUnavailable`;
* a :class:`CircuitBreaker` opens after ``threshold`` failed calls in a row and then refuses calls
  without touching the network until ``cooldown_s`` has passed (one trial call then closes or re-opens
  it), so a platform that is down costs a turn nothing and is not hammered;
* a :class:`RequestBudget` (a token bucket) caps the calls a process makes per minute, below the
  vendor's own rate limit;
* a 401 refreshes the credentials once and repeats the call;
* :class:`ReadCache` keeps a patient's reads for ``ttl_s`` seconds (writes for that patient drop them),
  so one turn reads the platform once or twice, and a figure is never served older than the TTL: when
  an entry expires and the platform cannot be reached, the caller gets ``PlatformUnavailable``, not the
  old figure.

Nothing here knows a vendor's resources; adapters map responses to our models.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from tools.errors import PlatformUnavailable

Monotonic = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; lets one trial call through after ``cooldown_s``."""

    def __init__(self, threshold: int = 5, cooldown_s: float = 30.0, monotonic: Monotonic = time.monotonic):
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._monotonic = monotonic
        self._failures = 0
        self._opened_at: float | None = None
        self.last_error: str | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._monotonic() - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def check(self) -> None:
        if self.state is BreakerState.OPEN:
            raise PlatformUnavailable("the practice system is not answering; calls are paused for a moment")

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self.last_error = None

    def record_failure(self, reason: str) -> None:
        self.last_error = reason
        self._failures += 1
        if self._failures >= self.threshold or self._opened_at is not None:
            # A failed trial call in the half-open state re-opens the breaker for a full cool-down.
            self._opened_at = self._monotonic()


class RequestBudget:
    """A token bucket: at most ``per_minute`` calls a minute, bursts up to ``burst``."""

    def __init__(self, per_minute: int = 600, burst: int = 60, monotonic: Monotonic = time.monotonic):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._tokens = float(burst)
        self._monotonic = monotonic
        self._at = monotonic()

    def take(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            raise PlatformUnavailable("the request budget for the practice system is spent for this minute")
        self._tokens -= 1.0


class Credentials(Protocol):
    """How an adapter authenticates: headers for a call, and a refresh after a 401."""

    async def headers(self) -> dict[str, str]: ...

    async def refresh(self) -> None: ...


class NoCredentials:
    async def headers(self) -> dict[str, str]:
        return {}

    async def refresh(self) -> None:
        return None


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class HttpPolicy:
    timeout_s: float = 5.0
    attempts: int = 3  # one call and two retries
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 2.0
    max_retry_after_s: float = 3.0  # a longer Retry-After fails the call: a patient is waiting
    injected_latency_s: float = 0.0  # the latency benchmark adds this to every call


@dataclass
class CallStats:
    calls: int = 0
    failures: int = 0
    server_s: float = 0.0  # time spent waiting for answers, injected latency excluded
    by_path: dict[str, int] = field(default_factory=dict)


class PlatformHttp:
    """An ``httpx.AsyncClient`` behind the breaker, the budget, retries and credential refresh."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        policy: HttpPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        budget: RequestBudget | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.budget = budget or RequestBudget()
        self.credentials: Credentials = credentials or NoCredentials()
        self.stats = CallStats()
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=self.policy.timeout_s,
            transport=transport,
            headers=dict(headers or {}),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: list[tuple[str, str]] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """The response of a call that reached the platform and was not a 5xx or 429 (a 4xx is the
        caller's to map); :class:`PlatformUnavailable` when it could not be had.

        Only an idempotent call is repeated after a 5xx or a timeout (GET, PUT, DELETE, or ``idempotent=
        True`` for a POST the server dedupes, such as a FHIR conditional create): a POST that may have
        been applied is never sent twice here; its caller reads back before trying again."""
        repeatable = (
            idempotent if idempotent is not None else method.upper() in ("GET", "HEAD", "PUT", "DELETE")
        )
        self.breaker.check()
        refreshed = False

        backoff = wait_exponential_jitter(
            multiplier=self.policy.backoff_initial_s, max=self.policy.backoff_max_s, jitter=0.1
        )

        def wait(state: RetryCallState) -> float:
            outcome = state.outcome
            exc = outcome.exception() if outcome is not None else None
            if isinstance(exc, _Retryable) and exc.retry_after_s is not None:
                return exc.retry_after_s
            return float(backoff(state))

        async def once() -> httpx.Response:
            nonlocal refreshed
            self.budget.take()
            self.stats.calls += 1
            path = url.split("?", 1)[0]
            self.stats.by_path[path] = self.stats.by_path.get(path, 0) + 1
            if self.policy.injected_latency_s:
                await asyncio.sleep(self.policy.injected_latency_s)
            auth = await self.credentials.headers()
            sent = time.perf_counter()
            try:
                response = await self._client.request(
                    method,
                    url,
                    params=tuple(params) if params else None,
                    json=json,
                    headers={**auth, **(headers or {})},
                    timeout=self.policy.timeout_s,
                )
            except httpx.ConnectError as exc:  # nothing was sent: safe to repeat any call
                raise _Retryable(f"could not connect ({type(exc).__name__})") from exc
            except httpx.TimeoutException as exc:
                if not repeatable:
                    raise PlatformUnavailable(
                        f"the practice system did not answer in time ({type(exc).__name__})"
                    ) from exc
                raise _Retryable(f"timed out ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                if not repeatable:
                    raise PlatformUnavailable(
                        f"the connection to the practice system failed ({type(exc).__name__})"
                    ) from exc
                raise _Retryable(f"connection failed ({type(exc).__name__})") from exc
            finally:
                self.stats.server_s += time.perf_counter() - sent
            if response.status_code == 401 and not refreshed:
                refreshed = True
                await self.credentials.refresh()
                raise _Retryable("credentials refreshed after a 401", retry_after_s=0.0)
            if response.status_code == 429:
                after = retry_after_seconds(response.headers.get("retry-after"))
                if after is None:
                    after = self.policy.backoff_initial_s
                if after > self.policy.max_retry_after_s:
                    raise PlatformUnavailable(f"the practice system asks us to wait {after:.0f} s (429)")
                raise _Retryable("rate limited (429)", retry_after_s=after)
            if response.status_code >= 500:
                if not repeatable:
                    raise PlatformUnavailable(f"the practice system failed ({response.status_code})")
                raise _Retryable(f"server error {response.status_code}")
            return response

        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.policy.attempts),
                wait=wait,
                retry=retry_if_exception_type(_Retryable),
                reraise=True,
            ):
                with attempt:
                    response = await once()
        except _Retryable as exc:
            self.stats.failures += 1
            self.breaker.record_failure(exc.reason)
            raise PlatformUnavailable(f"the practice system failed: {exc.reason}") from exc
        except PlatformUnavailable as exc:
            self.stats.failures += 1
            self.breaker.record_failure(exc.detail)
            raise
        self.breaker.record_success()
        return response


class ReadCache:
    """Per-patient reads kept for ``ttl_s`` seconds; a write for the patient drops them.

    A thread talks about one verified patient, so a patient's entry is what a thread reads in a turn.
    Entries older than the TTL are never served, whether or not the platform answers.
    """

    def __init__(self, ttl_s: float = 10.0, monotonic: Monotonic = time.monotonic, max_patients: int = 2048):
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._max = max_patients
        self._entries: dict[str, dict[str, tuple[float, Any]]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def get_or_load(self, patient_id: str, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        if self.ttl_s <= 0:
            return await load()
        hit = self._fresh(patient_id, key)
        if hit is not None:
            return hit[1]
        # One load per patient and key at a time: concurrent readers in a turn share one call.
        lock = self._locks.setdefault((patient_id, key), asyncio.Lock())
        async with lock:
            hit = self._fresh(patient_id, key)
            if hit is not None:
                return hit[1]
            value = await load()
            if len(self._entries) >= self._max and patient_id not in self._entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries.setdefault(patient_id, {})[key] = (self._monotonic(), value)
            return value

    def _fresh(self, patient_id: str, key: str) -> tuple[float, Any] | None:
        entry = self._entries.get(patient_id, {}).get(key)
        if entry is None or self._monotonic() - entry[0] >= self.ttl_s:
            return None
        return entry

    def invalidate(self, patient_id: str) -> None:
        self._entries.pop(patient_id, None)

    def clear(self) -> None:
        self._entries.clear()


@dataclass(frozen=True)
class PlatformState:
    """What ``/health`` and ``billing-agent platform check`` say about the platform."""

    name: str
    state: str  # "embedded" (the ledger), or the breaker's: closed, open, half_open
    last_error: str | None = None
    calls: int = 0


def platform_state(platform: object) -> PlatformState:
    http = getattr(platform, "http", None)
    if not isinstance(http, PlatformHttp):
        return PlatformState(name=str(getattr(platform, "name", "ledger")), state="embedded")
    return PlatformState(
        name=str(getattr(platform, "name", "remote")),
        state=http.breaker.state.value,
        last_error=http.breaker.last_error,
        calls=http.stats.calls,
    )
