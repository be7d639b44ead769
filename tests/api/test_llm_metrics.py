"""The app's ``/metrics`` exposes what the language model did: calls, fallbacks by reason, provider tokens
and tokens per turn, for understanding and phrasing apart, read from the components' own counters."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from api.main import create_app
from tests.api.portal_support import seed
from tests.api.test_portal import Portal, make_settings, with_statement
from tests.support.lifespan import STARTUP_S
from tests.support.openai_server import JsonDict, Reply, ScriptedOpenAI

READING = {
    "intent": "explain_statement",
    "confidence": 0.9,
    "frustration": 0.0,
    "entities": {"month_counts": [], "statement_refs": []},
    "reason": "asks to explain the bill",
}


def _is_understanding(body: JsonDict) -> bool:
    return "response_format" in body  # structured output; phrasing streams plain text


@pytest.fixture
def server() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI() as s:
        yield s


@pytest.fixture
async def portal(migrated_database_url: str, tmp_path: Path, server: ScriptedOpenAI) -> AsyncIterator[Portal]:
    data = await seed(migrated_database_url)
    settings = make_settings(
        migrated_database_url,
        tmp_path,
        llm_base_url=server.base_url,
        llm_model="scripted",
        llm_timeout_s=5,
        llm_breaker_threshold=10,
    )
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield Portal(http, settings, data, app)


def _value(text: str, sample: str) -> float:
    """The value of one sample line of the exposition (``name{labels}``); 0 when absent."""
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_a_failing_provider_turn_and_a_good_one_show_in_metrics(
    portal: Portal, server: ScriptedOpenAI
) -> None:
    patient = with_statement(portal.data)
    thread = await portal.thread(patient)
    ask = {"text": "can you explain my statement?"}
    server.script(Reply.error(503), Reply.error(429))  # understanding, then phrasing
    url = f"/v1/portal/threads/{thread}/messages"
    failed = await portal.http.post(url, headers=portal.auth(patient), json=ask)
    assert failed.status_code == 200
    assert "event: error" not in failed.text  # the patient got the local answer, no error

    text = (await portal.http.get("/metrics")).text
    assert _value(text, 'billing_llm_fallbacks_total{reason="server_error",role="understanding"}') == 1
    assert _value(text, 'billing_llm_fallbacks_total{reason="rate_limited",role="phrasing"}') == 1
    assert _value(text, 'billing_llm_calls_total{role="understanding"}') == 1
    assert _value(text, 'billing_llm_tokens_total{kind="input",role="understanding"}') == 0

    def good(body: JsonDict) -> Reply:
        if _is_understanding(body):
            return Reply.json(READING, prompt_tokens=300, completion_tokens=40)
        draft = str(body["messages"][-1]["content"]).removeprefix("DRAFT:\n").split("\n\nSOURCES:\n")[0]
        return Reply.text(draft, prompt_tokens=900, completion_tokens=200)

    server.fallback = good
    ok = await portal.http.post(url, headers=portal.auth(patient), json=ask)
    assert ok.status_code == 200
    text = (await portal.http.get("/metrics")).text
    assert _value(text, 'billing_llm_tokens_total{kind="input",role="understanding"}') == 300
    assert _value(text, 'billing_llm_tokens_total{kind="output",role="understanding"}') == 40
    assert _value(text, 'billing_llm_tokens_total{kind="input",role="phrasing"}') == 900
    assert _value(text, 'billing_llm_tokens_total{kind="output",role="phrasing"}') == 200
    # Tokens per turn: the failed turn spent none, the good one 340 on understanding.
    assert _value(text, 'billing_llm_turn_tokens_count{role="understanding"}') == 2
    assert _value(text, 'billing_llm_turn_tokens_sum{role="understanding"}') == 340
    assert _value(text, 'billing_llm_turn_tokens_bucket{le="200.0",role="understanding"}') == 1
    assert _value(text, 'billing_llm_turn_tokens_bucket{le="400.0",role="understanding"}') == 2
    assert _value(text, 'billing_llm_turn_tokens_sum{role="phrasing"}') == 1100
    assert _value(text, 'billing_llm_first_token_seconds_count{role="phrasing"}') == 1
    assert _value(text, 'billing_llm_replies_replaced_total{role="phrasing"}') == 0
    # The failures are still there, once each.
    assert _value(text, 'billing_llm_fallbacks_total{reason="server_error",role="understanding"}') == 1


async def test_without_a_model_there_are_no_llm_metrics(migrated_database_url: str, tmp_path: Path) -> None:
    await seed(migrated_database_url)
    app = create_app(make_settings(migrated_database_url, tmp_path))
    async with (
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        text = (await http.get("/metrics")).text
    assert "billing_turns_total" in text or "billing_turn_seconds" in text
    assert "billing_llm_" not in text
