"""``LlmUnderstander`` through the real ``ChatOpenAI`` against the scripted local server: a good reading is
used, every failure falls back to the local engine within the turn, the breaker opens, and no identifier
of the patient is ever in a request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import pytest
from langchain_openai import ChatOpenAI

from agent.understanding.base import Intent, UnderstandingContext
from agent.understanding.llm import CircuitBreaker, LlmUnderstander
from agent.understanding.local import LocalUnderstander
from guardrails.phi import KnownIdentifiers
from tests.support.openai_server import Reply, ScriptedOpenAI

PATIENT = KnownIdentifiers(
    patient_names=("Tyrone", "Moore"),
    dates=(date(1992, 11, 14),),
    values=(("PHONE", "+17815550193"), ("ZIP", "02149"), ("ADDRESS", "210 Oak Ave"), ("CITY", "Everett"),
            ("MEMBER_ID", "W158279401"), ("STATEMENT", "S-104370"), ("EMAIL", "tyrone.moore@example.com")),
)  # fmt: skip
IDENTIFIERS = ["Tyrone", "Moore", "11/14/1992", "1992-11-14", "7815550193", "555-0193", "02149",
               "210 Oak Ave", "Everett", "W158279401", "S-104370", "tyrone.moore@example.com"]  # fmt: skip
CTX = UnderstandingContext(patient_id="pat-00001")


def reading(intent: str = "payment_plan", confidence: float = 0.9, **extra: object) -> Reply:
    doc = {
        "intent": intent,
        "confidence": confidence,
        "frustration": 0.2,
        "entities": {"month_counts": [6], "statement_refs": ["[STATEMENT_1]"]},
        "reason": "asks to spread payments",
    }
    return Reply.json({**doc, **extra}, prompt_tokens=120, completion_tokens=30)


@pytest.fixture
def server() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI() as s:
        yield s


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def understander(
    server: ScriptedOpenAI, *, timeout_s: float = 2.0, clock: Clock | None = None
) -> LlmUnderstander:
    async def identifiers(patient_id: str) -> KnownIdentifiers:
        assert patient_id == "pat-00001"
        return PATIENT

    model = ChatOpenAI(base_url=server.base_url, api_key="test", model="scripted", max_retries=0, timeout=5)
    return LlmUnderstander(
        model,
        LocalUnderstander.default(),
        identifiers=identifiers,
        timeout_s=timeout_s,
        breaker=CircuitBreaker(threshold=2, cooldown_s=30, clock=clock or Clock()),
    )


TEXT = "Hi, Tyrone Moore here (DOB 11/14/1992, 210 Oak Ave). Can I split S-104370 over 6 months? $120.50"


async def test_a_valid_reading_is_used_and_its_identifiers_restored(server: ScriptedOpenAI) -> None:
    server.script(reading(intent="payment_plan"))
    u = understander(server)
    out = await u.understand(TEXT, CTX)
    assert out.intent is Intent.PAYMENT_PLAN
    assert out.frustration == pytest.approx(0.2)
    assert "S-104370" in out.entities.statement_numbers
    assert 6 in out.entities.month_counts
    assert 12050 in out.entities.amounts_cents  # money comes from the local extraction
    assert out.alternatives[0][0] is Intent.PAYMENT_PLAN
    assert u.fallbacks == {}
    assert u.usage == {"input_tokens": 120, "output_tokens": 30}
    sent = server.requests[0].body
    assert sent["response_format"]["type"] == "json_schema"
    assert "[PATIENT_NAME]" in sent["messages"][1]["content"]
    assert "$120.50" in sent["messages"][1]["content"]


async def test_disagreement_with_the_local_engine_discounts_confidence(server: ScriptedOpenAI) -> None:
    server.script(reading(intent="greeting", confidence=0.9))
    out = await understander(server).understand("can I pay this over 6 months", CTX)
    assert out.intent is Intent.GREETING
    assert out.confidence == pytest.approx(0.72)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply.text('{"intent": "balance", "confid'), "invalid_output"),
        (Reply.json({"intent": "not_an_intent", "confidence": 0.5}), "invalid_output"),
        (reading(confidence=1.7), "invalid_output"),
        (Reply.text(""), "invalid_output"),
        (Reply.error(500), "server_error"),
        (Reply.error(429), "rate_limited"),
        (Reply.text("{}", delay_s=1.0), "timeout"),
    ],
)
async def test_every_failure_falls_back_to_the_local_engine_within_the_turn(
    server: ScriptedOpenAI, reply: Reply, reason: str
) -> None:
    server.script(reply)
    # Only the timeout case waits out a short limit; the others get a generous one so a loaded CI
    # machine cannot turn a slow but complete reply into a timeout.
    u = understander(server, timeout_s=0.3 if reason == "timeout" else 10.0)
    text = "can I pay this over 6 months"
    out = await u.understand(text, CTX)
    assert out == await LocalUnderstander.default().understand(text, CTX)
    assert u.fallbacks == {reason: 1}
    assert len(server.requests) == 1


async def test_the_breaker_opens_after_failures_and_closes_after_the_cooldown(server: ScriptedOpenAI) -> None:
    clock = Clock()
    u = understander(server, clock=clock)
    server.script(Reply.error(500), Reply.error(503))
    await u.understand("what do I owe", CTX)
    await u.understand("what do I owe", CTX)
    assert u.breaker.is_open
    out = await u.understand("what do I owe", CTX)  # skipped: no request
    assert out.intent is Intent.BALANCE
    assert len(server.requests) == 2
    assert u.fallbacks == {"server_error": 2, "circuit_open": 1}
    clock.now = 31
    server.script(reading(intent="balance"))
    await u.understand("what do I owe", CTX)
    assert len(server.requests) == 3
    assert not u.breaker.is_open


async def test_identity_answers_never_reach_the_model(server: ScriptedOpenAI) -> None:
    u = understander(server)
    out = await u.understand("11/14/1992 02149", UnderstandingContext(expecting="identity"))
    assert out.intent is Intent.IDENTITY_ANSWER
    assert server.requests == []


async def test_no_identifier_of_the_patient_in_any_request(server: ScriptedOpenAI) -> None:
    server.fallback = lambda body: reading()
    u = understander(server)
    history = (
        "I'm Tyrone Moore, my number is (781) 555-0193",
        "I moved from 210 Oak Ave, Everett 02149",
        "email me at tyrone.moore@example.com, member id W158279401",
    )
    for text in [TEXT, "born November 14, 1992 - why is statement S-104370 so high?", "tyrone moore again"]:
        await u.understand(text, CTX.model_copy(update={"previous_messages": history}))
    assert len(server.requests) == 3
    for request in server.requests:
        sent = json.dumps(request.body["messages"]).casefold()
        for value in IDENTIFIERS:
            assert value.casefold() not in sent, value
