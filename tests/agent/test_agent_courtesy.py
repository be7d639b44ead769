"""Courtesy and how the patient feels, said beside a question ("so sorry to bother you again", "thanks a
lot for your patience", "it's been a rough few weeks"), change nothing about the answer: the reply is the
one the bare question gets."""

from __future__ import annotations

import pytest

from tests.agent.harness import Env

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    ("tag", "question", "said_with_it"),
    [
        (
            "deductible_heavy",
            "what's the total I owe?",
            "So sorry to bother you again. what's the total I owe?",
        ),
        (
            "deductible_heavy",
            "how much is left on my account",
            "how much is left on my account Thanks a lot for your patience!",
        ),
        (
            "claim_denied",
            "why did my insurance deny the claim?",
            "Hope you're doing well! why did my insurance deny the claim?",
        ),
        (
            "claim_denied",
            "why did my insurance deny the claim?",
            "It's been a rough few weeks. why did my insurance deny the claim?",
        ),
        (
            "claim_denied",
            "why did my insurance deny the claim?",
            "why did my insurance deny the claim? - I'm kinda lost with all of this",
        ),
        (
            "coinsurance_after_deductible",
            "what is the first charge on my statement for",
            "what is the first charge on my statement for thank you so much in advance",
        ),
        (
            "coinsurance_after_deductible",
            "what is the first charge on my statement for",
            "what is the first charge on my statement for Thanks a lot for your patience!",
        ),
    ],
)
async def test_courtesy_beside_a_question_leaves_the_answer_as_it_is(
    env: Env, tag: str, question: str, said_with_it: str
) -> None:
    patient = env.patient(tag, exclude=("spanish_speaker",))
    bare = await env.say("bare", question, patient)
    polite = await env.say("polite", said_with_it, patient)
    assert polite.message is not None
    assert bare.message is not None
    assert polite.message.intent == bare.message.intent
    assert polite.text == bare.text
    assert polite.handoff is None
    assert await env.writes(patient.id) == (0, 0, 0)
