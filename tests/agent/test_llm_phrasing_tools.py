"""Read-only look-ups offered to the phrasing model with ``bind_tools``, through the real ``ChatOpenAI``
and the scripted server: a valid call's figures become facts of the turn (and reach the model tokenized);
the patient is always the thread's verified patient, whatever the model names; a malformed call, an
unknown tool or one round too many falls back to the template within the turn."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.agent.harness import Env
from tests.agent.test_agent_phrasing import PREFIX, identifiers_of, phrasing_agent, templated
from tests.support.openai_server import JsonDict, Reply, ScriptedOpenAI

CUT_JSON = '{"statement": "[STATEMENT_1]", "line": '
BAD_LINE = {"statement": "[STATEMENT_1]", "line": "first"}
AMOUNT = re.compile(r"\$\d{1,3}(?:,\d{3})*\.\d{2}")
QUESTION = "can you explain my statement?"


@pytest.fixture
def server() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI() as s:
        yield s


def _draft(body: JsonDict) -> str:
    user = next(m for m in body["messages"] if m["role"] == "user")
    return str(user["content"]).removeprefix("DRAFT:\n").split("\n\nSOURCES:\n")[0]


def _tool_results(body: JsonDict) -> list[str]:
    return [str(m["content"]) for m in body["messages"] if m["role"] == "tool"]


def _answer_with_the_lookup(body: JsonDict) -> Reply:
    """After a look-up: the draft, plus the first amount of the look-up the draft does not state."""
    draft = _draft(body)
    results = _tool_results(body)
    extra = next((a for r in results for a in AMOUNT.findall(r) if a not in draft), None)
    tail = f" The look-up shows {extra}." if extra else ""
    return Reply.text(PREFIX + draft + tail)


async def test_a_lookup_grounds_its_figures_and_reaches_the_model_tokenized(
    env: Env, server: ScriptedOpenAI
) -> None:
    server.script(Reply.tool_call("line_item_detail", {"statement": "[STATEMENT_1]", "line": 1}))
    server.fallback = _answer_with_the_lookup
    agent, phraser = phrasing_agent(env, server)
    patient = env.patient("copay_only")
    draft = await templated(env, "t-tool", QUESTION, patient)
    said = await env.say("t-tool", QUESTION, patient, agent=agent)

    assert len(server.requests) == 2
    assert "tools" in server.requests[0].body  # offered with bind_tools
    (result,) = _tool_results(server.requests[1].body)
    assert result.startswith("Statement [STATEMENT_1], line 1:")  # the patient's own, tokenized
    extra = next(a for a in AMOUNT.findall(result) if a not in draft)  # a figure only the look-up has
    assert said.text == PREFIX + draft + f" The look-up shows {extra}."  # grounded by the look-up
    assert said.streamed == said.text
    assert phraser.fallbacks == {}
    state = await agent.state("t-tool")
    assert {"check": "phrasing", "verdict": "ok"} in state.get("work", {}).get("guard", [])
    sent = "\n".join(r.text for r in server.requests).casefold()
    for secret in await identifiers_of(env, patient):
        assert secret.casefold() not in sent


async def test_the_lookups_read_only_the_verified_patient(env: Env, server: ScriptedOpenAI) -> None:
    patient = env.patient("copay_only")
    other = next(p for p in env.data.patients if p.id != patient.id)
    theirs = (await env.platform.list_statements(other.id))[0].number
    their_claims = [c.claim_number for c in await env.platform.list_claims(other.id)]
    server.script(
        Reply.tool_call("line_item_detail", {"statement": theirs, "line": 1, "patient_id": other.id}),
        Reply.tool_call(
            "line_item_detail", {"statement": "[STATEMENT_1]", "line": 1, "patient_id": other.id}
        ),
    )
    if their_claims:
        server.script(Reply.tool_call("claim_detail", {"claim": their_claims[0], "patient_id": other.id}))
    server.fallback = lambda body: Reply.text(PREFIX + _draft(body))
    agent, phraser = phrasing_agent(env, server)
    phraser.tool_rounds = 3
    said = await env.say("t-other", QUESTION, patient, agent=agent)
    assert said.message is not None
    results = [r for req in server.requests for r in _tool_results(req.body)][-3:]
    assert results[0] == "No such statement on this patient's account."
    # A model-chosen patient id is ignored: the verified patient's own line, and nothing else.
    assert results[1].startswith("Statement [STATEMENT_1], line 1:")
    mine = (await env.platform.list_statements(patient.id))[0]
    own = await env.platform.get_statement(patient.id, mine.id)
    assert f"billed ${own.line_items[0].billed_cents // 100:,}" in results[1]
    if their_claims:
        assert results[2] == "No such claim on this patient's account."
    sent = "\n".join(r.text for r in server.requests)
    for secret in await identifiers_of(env, other):
        if secret not in (theirs, other.id, *their_claims):  # the model typed those itself
            assert secret.casefold() not in sent.casefold()


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        ([Reply.tool_call("line_item_detail", CUT_JSON)], "malformed_tool_call"),
        ([Reply.tool_call("refund_everything", {"amount_cents": 100})], "malformed_tool_call"),
        ([Reply.tool_call("line_item_detail", BAD_LINE)], "malformed_tool_call"),
        ([Reply.tool_call("lookup_code", {"code": "CO-45"})] * 3, "tool_rounds"),
    ],
)  # fmt: skip
async def test_a_bad_tool_call_falls_back_to_the_template_within_the_turn(
    env: Env, server: ScriptedOpenAI, replies: list[Reply], reason: str
) -> None:
    server.script(*replies)
    server.fallback = lambda body: Reply.text(PREFIX + _draft(body))
    agent, phraser = phrasing_agent(env, server)
    patient = env.patient("copay_only")
    expected = await templated(env, "t-bad", QUESTION, patient)
    said = await env.say("t-bad", QUESTION, patient, agent=agent)
    assert said.text == expected
    assert said.streamed == expected
    assert phraser.fallbacks == {reason: 1}
    assert server.pending == 0
    state = await agent.state("t-bad")
    assert {"check": "phrasing", "verdict": f"fallback_{reason}"} in state.get("work", {}).get("guard", [])


def test_only_read_only_tools_are_offered() -> None:
    from agent.lc_tools_readonly import tool_definitions

    names = {d["function"]["name"] for d in tool_definitions()}
    assert names == {"lookup_code", "line_item_detail", "claim_detail", "search_documents"}
    schemas: list[dict[str, Any]] = [d["function"]["parameters"] for d in tool_definitions()]
    assert not any("patient" in json.dumps(s).casefold() for s in schemas)
