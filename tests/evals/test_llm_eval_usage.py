"""The eval report of an ``--engine llm`` run carries the language model's figures: tokens per turn from
the provider's usage data, fallbacks, and how many phrased replies the grounding check replaced. A
phrased reply with a wrong amount is replaced every time: the suite still sees no ungrounded mention."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_openai import ChatOpenAI

from agent.llm_phrasing import LlmPhraser
from agent.understanding.llm import CircuitBreaker, LlmUnderstander, platform_identifiers
from agent.understanding.local import LocalUnderstander
from evals.report import SuiteResult
from evals.suite import run_suite
from evals.task import load_tasks
from tests.evals.test_eval_llm_engine import _echo_local
from tests.support.openai_server import JsonDict, Reply, ScriptedOpenAI
from tools.platforms.base import BillingPlatform

AMOUNT = re.compile(r"\$(\d{1,3}(?:,\d{3})*)\.(\d{2})")


class Script:
    """Understanding as the local engine reads it; phrasing echoes the draft, every other reply with its
    first amount one cent off. Records the tokens it reported (a stream the agent cuts at the wrong
    amount never gets to report them)."""

    def __init__(self) -> None:
        self.tokens = 0
        self.phrased = 0
        self.wrong = 0
        self._lock = threading.Lock()

    def __call__(self, body: JsonDict) -> Reply:
        if "response_format" in body:
            reply = _echo_local(body)
        else:
            draft = str(body["messages"][-1]["content"]).removeprefix("DRAFT:\n").split("\n\nSOURCES:\n")[0]
            with self._lock:
                self.phrased += 1
                bump = self.phrased % 2 == 0 and AMOUNT.search(draft) is not None
                self.wrong += bump
            text = AMOUNT.sub(_one_cent_more, draft, count=1) if bump else draft
            reply = Reply.text(text, prompt_tokens=len(draft) // 4 + 120, completion_tokens=len(text) // 4)
            if bump:
                return reply
        with self._lock:
            self.tokens += reply.prompt_tokens + reply.completion_tokens
        return reply


def _one_cent_more(m: re.Match[str]) -> str:
    cents = int(m.group(1).replace(",", "")) * 100 + int(m.group(2)) + 1
    return f"${cents // 100:,}.{cents % 100:02d}"


@pytest.fixture(scope="module")
def script() -> Script:
    return Script()


@pytest.fixture(scope="module")
def server(script: Script) -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI(fallback=script) as s:
        yield s


@pytest.fixture(scope="module")
def suite(server: ScriptedOpenAI) -> SuiteResult:
    # Generous deadlines: a call the agent gave up on under load was still counted by the server, and the
    # token check then compared the server's count with usage the agent never received.
    model = ChatOpenAI(base_url=server.base_url, api_key="test", model="scripted", max_retries=0, timeout=60)

    def understander(platform: BillingPlatform) -> LlmUnderstander:
        return LlmUnderstander(
            model, LocalUnderstander.default(), identifiers=platform_identifiers(platform), timeout_s=60
        )

    def phraser(platform: BillingPlatform) -> LlmPhraser:
        breaker = CircuitBreaker(threshold=100)
        return LlmPhraser(model, identifiers=platform_identifiers(platform), timeout_s=60, breaker=breaker)

    # The dev split's line-item tasks: enough turns of both kinds of call; the other splits add only time.
    return asyncio.run(
        run_suite(
            [t for t in load_tasks() if t.split == "dev"],
            trials=1,
            seed=0,
            engine="llm",
            category="line_items",
            understander_factory=understander,
            phraser_factory=phraser,
        )
    )


def test_the_report_carries_tokens_per_turn_from_the_provider(suite: SuiteResult, script: Script) -> None:
    llm = suite.llm
    assert llm is not None
    assert llm.fallbacks == {}, "every turn reached the scripted model (a fallback's usage is never reported)"
    turns = sum(o.turns for o in suite.outcomes)
    assert llm.turns == turns
    assert llm.input_tokens + llm.output_tokens == script.tokens
    # Reported to one decimal: at most half a tenth away (295.25 reads 295.2 in binary floating point).
    assert abs(llm.tokens_per_turn_mean - script.tokens / turns) <= 0.05 + 1e-9
    assert llm.tokens_per_turn_p95 > 0
    assert llm.phrasing_calls == script.phrased
    assert llm.first_token_ms_mean is not None
    report = suite.markdown()
    assert "## Language model" in report
    assert f"| tokens per turn mean / p95 | {llm.tokens_per_turn_mean:.1f} /" in report
    data: dict[str, Any] = suite.to_json()
    assert data["llm"]["tokens_per_turn_p95"] == llm.tokens_per_turn_p95


def test_every_wrong_amount_is_replaced_and_none_reaches_the_patient(
    suite: SuiteResult, script: Script
) -> None:
    llm = suite.llm
    assert llm is not None
    assert script.wrong > 0
    assert llm.replaced_by_grounding == script.wrong
    assert llm.streams_cut == script.wrong
    assert llm.replaced_share == pytest.approx(script.wrong / script.phrased, abs=1e-4)
    assert suite.metrics.ungrounded_mentions == 0
    assert suite.metrics.policy_violations_total == 0
