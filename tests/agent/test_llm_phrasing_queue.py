"""Phrasing against a single-slot server that interrupts (llama-cpp-python's default, issue 15): streams
sent at once came back empty. The real ``ChatOpenAI`` talks to the scripted server in that mode."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from langchain_openai import ChatOpenAI

from agent.llm_phrasing import LlmPhraser
from agent.phrasing import Phrased, PhrasingFailed
from agent.understanding.llm import CircuitBreaker, EndpointGate
from tests.support.openai_server import Reply, ScriptedOpenAI

ANSWER = "Your statement shows one visit, and the balance is what your insurance left to you."
CONVERSATIONS = 6


@pytest.fixture
def server() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI(interrupt_requests=True) as s:
        s.fallback = lambda body: Reply(content=ANSWER, chunk_size=8, chunk_delay_s=0.03)
        yield s


def _phraser(server: ScriptedOpenAI, gate: EndpointGate) -> LlmPhraser:
    model = ChatOpenAI(base_url=server.base_url, api_key="test", model="scripted", max_retries=0)
    return LlmPhraser(model, timeout_s=10.0, breaker=CircuitBreaker(threshold=100), gate=gate)


async def _phrase_all(phraser: LlmPhraser) -> list[Phrased | PhrasingFailed]:
    async def one(i: int) -> Phrased | PhrasingFailed:
        try:
            return await phraser.phrase(f"Draft {i}.", [], "en", None, lambda _: True)
        except PhrasingFailed as failed:
            return failed

    return list(await asyncio.gather(*(one(i) for i in range(CONVERSATIONS))))


async def test_concurrent_streams_to_an_interrupting_server_are_cut_without_a_queue(
    server: ScriptedOpenAI,
) -> None:
    """The defect, reproduced: with every request sent at once, newer requests cut older streams off."""
    results = await _phrase_all(_phraser(server, EndpointGate(limit=CONVERSATIONS)))
    cut = [r for r in results if isinstance(r, PhrasingFailed)]
    assert server.interrupted > 0
    assert cut
    assert all(str(r) == "interrupted" for r in cut)


async def test_the_endpoint_gate_queues_requests_and_every_stream_is_whole(server: ScriptedOpenAI) -> None:
    phraser = _phraser(server, EndpointGate())  # the default: one request at a time per server
    results = await _phrase_all(phraser)
    assert all(isinstance(r, Phrased) and r.text == ANSWER for r in results)
    assert server.max_in_flight == 1
    assert server.interrupted == 0
    assert phraser.fallbacks == {}
