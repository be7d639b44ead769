"""The eval suite's dev split runs with the LLM understander against the scripted OpenAI-compatible server:
it passes the same gates as with the local engine, and no request the provider received holds an
identifier of any demo patient.

This test checks the model plumbing; the held-out splits' quality is reported by ``billing-agent eval``
(the CI gate), not tuned against here. The other splits measure the local engine's reading of new wording;
through the stand-in model they would replay that same reading, so they are left out (the test split was a
quarter of this test's time, the seen and blind splits more than the dev split)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_openai import ChatOpenAI

from agent.understanding.base import UnderstandingContext
from agent.understanding.llm import LlmUnderstander, platform_identifiers
from agent.understanding.local import LocalUnderstander
from evals.environment import DEMO_PATIENTS, DEMO_SEED
from evals.metrics import split_gates
from evals.report import SuiteResult
from evals.suite import run_suite
from evals.task import load_tasks
from tests.support.openai_server import Reply, ScriptedOpenAI
from tools.demo import DEMO_TODAY, generate_practice
from tools.platforms.base import BillingPlatform

pytestmark = pytest.mark.slow

_LATEST = re.compile(r"Latest message:\n(.*)\Z", re.DOTALL)
_ASKED = re.compile(r"The assistant last asked for: (\w+)\.")


def _echo_local(body: dict[str, Any]) -> Reply:
    """A stand-in model that reads the tokenized message as the local engine would."""
    sent = body["messages"][-1]["content"]
    match = _LATEST.search(sent)
    assert match is not None, sent
    text = match.group(1)
    asked = _ASKED.search(sent)
    context = UnderstandingContext(expecting=asked.group(1) if asked else None)
    u = LocalUnderstander.default().understand_sync(text, context)
    return Reply.json(
        {
            "intent": u.intent.value,
            "confidence": u.confidence,
            "frustration": u.frustration,
            "entities": {
                "month_counts": u.entities.month_counts,
                "statement_refs": re.findall(r"\[STATEMENT_\d+\]", text),
            },
            "reason": "scripted",
        },
        prompt_tokens=len(sent) // 4,
        completion_tokens=40,
    )


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI(fallback=_echo_local) as s:
        yield s


@pytest.fixture(scope="module")
def suite(server: ScriptedOpenAI) -> SuiteResult:
    model = ChatOpenAI(base_url=server.base_url, api_key="test", model="scripted", max_retries=0, timeout=10)

    def factory(platform: BillingPlatform) -> LlmUnderstander:
        return LlmUnderstander(
            model, LocalUnderstander.default(), identifiers=platform_identifiers(platform), timeout_s=10
        )

    # Every other dev task in id order (about 110, every category): the plumbing is the same on each, and the
    # whole split through the stand-in model was a minute and a half of CI's 15 minutes.
    dev = sorted((t for t in load_tasks() if t.split == "dev"), key=lambda t: t.id)
    return asyncio.run(run_suite(dev[::2], trials=1, seed=0, engine="llm", understander_factory=factory))


def test_the_suite_passes_its_gates_through_the_model(suite: SuiteResult, server: ScriptedOpenAI) -> None:
    dev = split_gates(suite.metrics)["dev"]
    assert [g.name for g in dev if not g.passed] == []
    assert suite.metrics.per_split["dev"].tasks >= 100
    assert {t.category for t in load_tasks() if t.split == "dev"} == set(suite.metrics.per_category)
    assert len(server.requests) > 100  # the model was asked on most turns


def test_no_demo_patient_identifier_in_any_request(suite: SuiteResult, server: ScriptedOpenAI) -> None:
    data = generate_practice(patients=DEMO_PATIENTS, seed=DEMO_SEED, today=DEMO_TODAY)
    sent = "\n".join(r.text for r in server.requests)  # everything each request carried
    values: set[str] = set()
    for p in data.patients:
        dob = p.date_of_birth
        values |= {f"{p.first_name} {p.last_name}", p.last_name, p.address_line, p.zip_code, p.email or ""}
        values |= {dob.isoformat(), f"{dob:%m/%d/%Y}", f"{dob.month}/{dob.day}/{dob.year}"}
        values |= {f"{dob:%B} {dob.day}, {dob.year}"}
        if p.phone:
            values |= {p.phone, f"{p.phone[2:5]}-{p.phone[5:8]}-{p.phone[8:]}", f"({p.phone[2:5]})"}
    values |= {c.member_id for c in data.coverages}
    values |= {s.number for s in data.statements}
    values |= {c.claim_number for c in data.claims}
    # One alternation, one pass over the requests: any occurrence of any value is a match.
    longest_first = sorted(values - {""}, key=len, reverse=True)
    anyone = re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, longest_first))})(?!\w)", re.IGNORECASE)
    found = sorted({m.group(0) for m in anyone.finditer(sent)})
    assert found == []
