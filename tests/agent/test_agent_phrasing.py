"""Phrasing with a model through the real ``ChatOpenAI`` against the scripted local server: a good streamed
reply reaches the patient restored, a reply with a figure not in the turn's facts never does (the template
answers instead, and it is audited), the first token is shown before the model finishes, every failure
falls back to the template within the turn, and no identifier of the patient is in any request."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator

import pytest
from langchain_openai import ChatOpenAI

from agent.events import DoneEvent, TokenEvent
from agent.llm_phrasing import LlmPhraser
from agent.service import BillingAgent
from agent.understanding.llm import CircuitBreaker, platform_identifiers
from agent.understanding.local import LocalUnderstander
from api.cli import main as cli_main
from guardrails.policy import default_policy
from tests.agent.harness import Env, Said, clock
from tests.support.openai_server import JsonDict, Reply, ScriptedOpenAI
from tools.codebook import CodeBook
from tools.demo.generator import DEMO_TODAY
from tools.kb import KnowledgeBase
from tools.platforms.models import Channel, Patient

PREFIX = "Sure, here is what I found. "
AMOUNT = re.compile(r"\$(\d{1,3}(?:,\d{3})*)\.(\d{2})")


@pytest.fixture
def server() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI() as s:
        yield s


def draft_of(body: JsonDict) -> str:
    """The templated answer the agent sent (tokenized), as the scripted model sees it."""
    content = str(body["messages"][-1]["content"])
    return content.removeprefix("DRAFT:\n").split("\n\nSOURCES:\n")[0]


def echo(body: JsonDict, chunk_delay_s: float = 0.0) -> Reply:
    return Reply.text(PREFIX + draft_of(body), chunk_delay_s=chunk_delay_s)


def one_cent_off(body: JsonDict) -> Reply:
    draft = draft_of(body)

    def bump(m: re.Match[str]) -> str:
        cents = int(m.group(1).replace(",", "")) * 100 + int(m.group(2)) + 1
        return f"${cents // 100:,}.{cents % 100:02d}"

    return Reply.text(PREFIX + AMOUNT.sub(bump, draft, count=1))


def phrasing_agent(
    env: Env, server: ScriptedOpenAI, *, timeout_s: float = 3.0
) -> tuple[BillingAgent, LlmPhraser]:
    model = ChatOpenAI(base_url=server.base_url, api_key="test", model="scripted", max_retries=0, timeout=5)
    phraser = LlmPhraser(
        model,
        identifiers=platform_identifiers(env.platform),
        timeout_s=timeout_s,
        breaker=CircuitBreaker(threshold=100, cooldown_s=30),
    )
    agent = BillingAgent(
        platform=env.platform,
        gateway=env.gateway,
        kb=KnowledgeBase.default(),
        codebook=CodeBook.default(),
        policy=default_policy(),
        understander=LocalUnderstander.default(),
        audit=env.audit,
        checkpointer=env.checkpointer,
        clock=clock,
        today=lambda: DEMO_TODAY,
        phraser=phraser,
    )
    return agent, phraser


async def templated(env: Env, thread: str, text: str, patient: Patient) -> str:
    """The local templates' answer to the same message (the default agent has no phraser)."""
    said = await env.say(f"{thread}-local", text, patient)
    assert said.message is not None
    return said.text


async def identifiers_of(env: Env, patient: Patient) -> list[str]:
    dob = patient.date_of_birth
    found = [
        patient.first_name,
        patient.last_name,
        dob.isoformat(),
        f"{dob.month:02d}/{dob.day:02d}/{dob.year}",
        f"{dob.month}/{dob.day}/{dob.year}",
        patient.address_line,
        patient.zip_code,
        patient.id,
    ]
    if patient.phone:
        found += [patient.phone, patient.phone[-10:]]
    if patient.email:
        found.append(patient.email)
    found += [c.member_id for c in await env.platform.list_coverages(patient.id)]
    found += [s.number for s in await env.platform.list_statements(patient.id)]
    found += [c.claim_number for c in await env.platform.list_claims(patient.id)]
    return [f for f in found if f]


async def test_a_good_streamed_reply_reaches_the_patient_restored(env: Env, server: ScriptedOpenAI) -> None:
    server.fallback = echo
    agent, phraser = phrasing_agent(env, server)
    patient = env.patient("copay_only")
    question = "can you explain my statement?"
    expected = PREFIX + await templated(env, "t-good", question, patient)
    said = await env.say("t-good", question, patient, agent=agent)
    assert said.text == expected
    assert said.streamed == said.text
    assert "[" not in said.text
    statement = (await env.platform.list_statements(patient.id))[0]
    assert statement.number in said.text  # restored from its placeholder
    assert len(server.requests) == 1
    assert statement.number not in server.requests[0].text
    assert "[STATEMENT_" in server.requests[0].text
    assert not phraser.fallbacks


async def test_a_reply_one_cent_off_never_reaches_the_patient(env: Env, server: ScriptedOpenAI) -> None:
    server.fallback = one_cent_off
    agent, phraser = phrasing_agent(env, server)
    patient = env.patient("copay_only")
    question = "can you explain my statement?"
    expected = await templated(env, "t-cent", question, patient)
    wrong = one_cent_off({"messages": [{"content": "DRAFT:\n" + expected}]}).content
    assert wrong is not None
    assert wrong != PREFIX + expected
    bad_figure = next(m.group(0) for m in AMOUNT.finditer(wrong) if m.group(0) not in expected)
    before = {r.seq for r in await env.audit.records(limit=10_000)}
    said = await env.say("t-cent", question, patient, agent=agent)
    assert said.text == expected  # the template, whole
    assert bad_figure not in said.text
    assert bad_figure not in said.streamed
    assert said.streamed.startswith(PREFIX.strip())  # verified text before the figure was already shown
    records = [r for r in await env.audit.records(limit=10_000) if r.seq not in before]
    replaced = [r for r in records if r.event == "llm.phrasing.replaced"]
    assert len(replaced) == 1
    assert replaced[0].payload["ungrounded"] == 1
    assert replaced[0].payload["kinds"] == ["amount"]
    assert bad_figure in str(replaced[0].payload["model_text_tokenized"])
    state = await agent.state("t-cent")
    assert {"check": "phrasing", "verdict": "replaced_with_template"} in state.get("work", {}).get(
        "guard", []
    )
    assert not phraser.fallbacks


async def test_the_first_token_is_shown_before_the_model_finishes(env: Env, server: ScriptedOpenAI) -> None:
    server.fallback = lambda body: echo(body, chunk_delay_s=0.02)
    agent, _ = phrasing_agent(env, server)
    patient = env.patient("copay_only")
    started = time.monotonic()
    first: float | None = None
    done = 0.0
    text = ""
    async for event in agent.turn(
        "t-slow", "can you explain my statement?", channel=Channel.PORTAL, patient_id=patient.id, phone=None
    ):
        if isinstance(event, TokenEvent) and first is None:
            first = time.monotonic() - started
        if isinstance(event, DoneEvent):
            done = time.monotonic() - started
        if isinstance(event, TokenEvent):
            text += event.text
    assert first is not None
    # The reply is dozens of chunks 20 ms apart: the first verified text is out long before the end.
    assert first < done / 2, (first, done)
    assert text.startswith(PREFIX.strip())


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply.error(500), "server_error"),
        (Reply.error(429, "slow down"), "rate_limited"),
        (Reply.text("", finish_reason="stop"), "empty"),
        (Reply.text("Sure.", delay_s=4.0), "timeout"),
    ],
)
async def test_a_failure_falls_back_to_the_template_within_the_turn(
    env: Env, server: ScriptedOpenAI, reply: Reply, reason: str
) -> None:
    server.script(reply)
    # 2 s: a loaded CI machine may take more than half a second to answer even a refusal, which would then
    # be read as a timeout instead of the reason under test.
    agent, phraser = phrasing_agent(env, server, timeout_s=2.0)
    patient = env.patient("copay_only")
    question = "can you explain my statement?"
    expected = await templated(env, "t-fail", question, patient)
    said = await env.say("t-fail", question, patient, agent=agent)
    assert said.text == expected
    assert said.streamed == expected
    assert phraser.fallbacks == {reason: 1}
    state = await agent.state("t-fail")
    assert {"check": "phrasing", "verdict": f"fallback_{reason}"} in state.get("work", {}).get("guard", [])


async def test_no_identifier_of_the_patient_is_in_any_request(env: Env, server: ScriptedOpenAI) -> None:
    server.fallback = echo
    agent, _ = phrasing_agent(env, server)
    for tag in ("copay_only", "multiple_open_statements"):
        patient = env.patient(tag)
        for i, question in enumerate(
            ["can you explain my statement?", "what is my balance?", "what does coinsurance mean?",
             "how do I update my address?", "why was my claim denied?"]
        ):  # fmt: skip
            said: Said = await env.say(f"t-phi-{tag}-{i}", question, patient, agent=agent)
            assert said.message is not None
        secrets = await identifiers_of(env, patient)
        for request in server.requests:
            body = json.dumps(request.body, ensure_ascii=False).casefold()
            for secret in secrets:
                assert secret.casefold() not in body, "an identifier reached the model"
    assert len(server.requests) >= 8  # explanations, coverage and KB answers were phrased by the model


async def test_a_replaced_reply_is_audited_as_the_model_wrote_it_tokenized(
    env: Env, server: ScriptedOpenAI
) -> None:
    invented_phone = "617-555-0199"

    def wrong_and_chatty(body: JsonDict) -> Reply:
        wrong = str(one_cent_off(body).content).removeprefix(PREFIX)
        return Reply.text(f"{PREFIX}Call us at {invented_phone}. {wrong}")

    server.fallback = wrong_and_chatty
    agent, phraser = phrasing_agent(env, server)
    patient = env.patient("copay_only")
    before = {r.seq for r in await env.audit.records(limit=10_000)}
    said = await env.say("t-raw", "can you explain my statement?", patient, agent=agent)
    assert invented_phone not in said.text
    records = [r for r in await env.audit.records(limit=10_000) if r.seq not in before]
    replaced = [r for r in records if r.event == "llm.phrasing.replaced"]
    assert len(replaced) == 1
    raw = replaced[0].payload["model_text_tokenized"]
    assert isinstance(raw, str)
    assert raw.startswith(PREFIX.strip())
    assert "[STATEMENT_1]" in raw  # as the model wrote it: never restored
    assert invented_phone not in raw  # screened again by the vault
    assert "[PHONE_" in raw
    for secret in await identifiers_of(env, patient):
        assert secret.casefold() not in raw.casefold()
    assert phraser.replacements == 1
    url = env.engine.url.render_as_string(hide_password=False)
    assert await asyncio.to_thread(cli_main, ["audit", "verify", "--database-url", url]) == 0
