"""Outage behaviour of the remote platforms' shared transport, over real sockets: 5xx, timeouts and 429
storms end in ``PlatformUnavailable`` (never a stack trace, never a stale figure), the circuit breaker
stops calling a failing platform, and the read cache never serves past its TTL."""

from __future__ import annotations

import time

import pytest

from tests.tools.platforms.broken_server import broken_server
from tools.errors import PlatformUnavailable
from tools.platforms.fhir import FhirPlatform
from tools.platforms.http import (
    BreakerState,
    CircuitBreaker,
    HttpPolicy,
    PlatformHttp,
    ReadCache,
    RequestBudget,
    platform_state,
    retry_after_seconds,
)

# Retries without waiting; a generous timeout so a loaded CI machine never turns a slow answer into an
# outage. Only the hanging server's test waits out a short one (HANG).
FAST = HttpPolicy(timeout_s=5.0, attempts=3, backoff_initial_s=0.01, backoff_max_s=0.02, max_retry_after_s=1)
HANG = HttpPolicy(timeout_s=0.3, attempts=3, backoff_initial_s=0.01, backoff_max_s=0.02, max_retry_after_s=1)


async def test_5xx_is_retried_then_reported_and_the_breaker_opens() -> None:
    async with broken_server(status=503) as server:
        http = PlatformHttp(server.url, policy=FAST, breaker=CircuitBreaker(threshold=2, cooldown_s=60))
        for _ in range(2):
            with pytest.raises(PlatformUnavailable, match="503"):
                await http.request("GET", "/Patient/p0")
        assert server.requests == 6  # each call tried three times
        assert http.breaker.state is BreakerState.OPEN
        with pytest.raises(PlatformUnavailable, match="paused"):
            await http.request("GET", "/Patient/p0")
        assert server.requests == 6  # the open breaker did not call
        await http.aclose()


async def test_the_breaker_lets_one_trial_through_after_its_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown_s=30, monotonic=lambda: now[0])
    async with broken_server(status=500, script=[500, 500, 500]) as server:
        server.status = 200
        http = PlatformHttp(server.url, policy=FAST, breaker=breaker)
        with pytest.raises(PlatformUnavailable):
            await http.request("GET", "/x")
        assert breaker.state is BreakerState.OPEN
        now[0] = 31
        assert _state(breaker) is BreakerState.HALF_OPEN
        assert (await http.request("GET", "/x")).status_code == 200
        assert _state(breaker) is BreakerState.CLOSED
        await http.aclose()


async def test_a_timeout_is_an_outage() -> None:
    async with broken_server(hang=True) as server:
        http = PlatformHttp(server.url, policy=HANG)
        started = time.monotonic()
        with pytest.raises(PlatformUnavailable, match="timed out"):
            await http.request("GET", "/Patient/p0")
        assert time.monotonic() - started < 3
        await http.aclose()


async def test_a_post_is_never_repeated_after_a_5xx() -> None:
    async with broken_server(status=502) as server:
        http = PlatformHttp(server.url, policy=FAST)
        with pytest.raises(PlatformUnavailable):
            await http.request("POST", "/api/patient_payments", json={"amount": 1})
        assert server.requests == 1
        await http.aclose()


async def test_429_with_a_short_retry_after_is_waited_for() -> None:
    async with broken_server(status=200, script=[429], headers={"retry-after": "0"}) as server:
        http = PlatformHttp(server.url, policy=FAST)
        assert (await http.request("GET", "/x")).status_code == 200
        assert server.requests == 2
        await http.aclose()


async def test_a_429_storm_fails_fast_without_waiting_minutes() -> None:
    async with broken_server(status=429, headers={"retry-after": "120"}) as server:
        http = PlatformHttp(server.url, policy=FAST)
        started = time.monotonic()
        with pytest.raises(PlatformUnavailable, match="wait 120 s"):
            await http.request("GET", "/x")
        assert time.monotonic() - started < 10  # not the 120 s asked for
        assert server.requests == 1
        await http.aclose()


def test_retry_after_forms() -> None:
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date in the past
    assert retry_after_seconds("soon") is None


def test_the_request_budget_refuses_beyond_its_rate() -> None:
    now = [0.0]
    budget = RequestBudget(per_minute=60, burst=2, monotonic=lambda: now[0])
    budget.take()
    budget.take()
    with pytest.raises(PlatformUnavailable, match="budget"):
        budget.take()
    now[0] = 1.0  # one call a second comes back
    budget.take()


async def test_the_read_cache_never_serves_past_its_ttl() -> None:
    now = [0.0]
    cache = ReadCache(ttl_s=10, monotonic=lambda: now[0])
    loads = []

    async def load() -> int:
        loads.append(1)
        return len(loads)

    assert await cache.get_or_load("p0", "k", load) == 1
    now[0] = 9.9
    assert await cache.get_or_load("p0", "k", load) == 1
    now[0] = 10.0

    async def down() -> int:
        raise PlatformUnavailable("down")

    with pytest.raises(PlatformUnavailable):  # expired, and the platform is down: no old figure
        await cache.get_or_load("p0", "k", down)
    cache.invalidate("p0")
    assert await cache.get_or_load("p0", "k", load) == 2


async def test_fhir_adapter_reports_an_outage_and_its_state() -> None:
    async with broken_server(status=503) as server:
        http = PlatformHttp(server.url, policy=FAST, breaker=CircuitBreaker(threshold=1, cooldown_s=60))
        platform = FhirPlatform(http, practice_id="prac")
        with pytest.raises(PlatformUnavailable):
            await platform.get_account_summary("p0")
        state = platform_state(platform)
        assert (state.name, state.state) == ("fhir", "open")
        assert state.last_error is not None
        assert "503" in state.last_error
        await platform.aclose()


def _state(breaker: CircuitBreaker) -> BreakerState:
    """The breaker's state read afresh (mypy narrows a repeated attribute read to its first value)."""
    return breaker.state
