"""The agent's own confusion writes no ticket (issue 15: no write on a guess). Unclear messages in a row
used to open a ``low_confidence`` ticket by themselves; now the clarification goes on, at its cap the agent
offers a person, and only the patient's yes opens the ticket. Safety hand-offs are not this (they keep
their own tests)."""

from __future__ import annotations

import pytest

from agent import templates as T
from tests.agent.harness import Env

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

# ("wats my baalnce" once opened this list; its typo is now read as "balance", so it is clear.)
UNCLEAR = ("bill?", "my bill", "the bill thing")


async def test_unclear_messages_in_a_row_write_nothing_and_end_in_an_offer(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    replies = [(await env.say("unclear", text, patient)) for text in UNCLEAR]
    assert all(r.handoff is None for r in replies)
    assert await env.writes(patient.id) == (0, 0, 0)
    assert replies[-1].text == T.CLARIFY_CAP["en"]


async def test_a_yes_to_the_offer_after_confusion_opens_the_ticket(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    for text in UNCLEAR:
        await env.say("unclear-yes", text, patient)
    said = await env.say("unclear-yes", "yes please", patient)
    assert said.handoff is not None
    assert await env.writes(patient.id) == (0, 0, 1)


async def test_an_unrelated_question_after_a_clarification_is_answered_as_out_of_scope(env: Env) -> None:
    patient = env.patient("deductible_heavy", exclude=("spanish_speaker",))
    await env.say("oos-after", "How do i reset my netflix password", patient)
    said = await env.say("oos-after", "netflix password", patient)
    assert said.handoff is None
    assert await env.writes(patient.id) == (0, 0, 0)
