"""No plan, link or ticket on a guess (issue 15), through the real graph: the first message of a verified
portal thread. Safety hand-offs still happen when the words are about this bill."""

from __future__ import annotations

import pytest
from sqlalchemy import text as sql

from agent.nodes.understand import about_the_bill, route_for_first_turn
from agent.understanding.base import Intent, Understanding
from guardrails.escalation import EscalationSignals, decide
from tests.agent.harness import Env

WRITES = ("payment_plans", "payment_links", "tickets")


async def _rows(env: Env) -> dict[str, int]:
    async with env.engine.connect() as conn:
        return {t: int((await conn.execute(sql(f"select count(*) from {t}"))).scalar_one()) for t in WRITES}


@pytest.mark.parametrize(
    "message",
    [
        "pay my electric bill with my card",
        "please pay my verizon bill",
        "can I take my landlord to small claims court over the deposit?",
        "my lawyer says I should buy the house, what do you think",
        "that is wrong",
        "when was the last time I got paid",
        "are you a real person",
    ],
)
async def test_a_first_message_that_is_not_about_this_bill_writes_nothing(env: Env, message: str) -> None:
    patient = env.patient("copay_only")
    before = await _rows(env)
    said = await env.say("guess-1", message, patient)
    assert said.handoff is None
    assert said.message is not None
    assert said.message.actions == []
    assert await _rows(env) == before


async def test_out_of_scope_gets_what_the_agent_can_help_with_and_no_offer(env: Env) -> None:
    said = await env.say("oos-1", "who won the hockey game last night", env.patient("copay_only"))
    assert said.message is not None
    assert said.message.intent == "out_of_scope"
    assert "balance" in said.text
    assert said.message.expecting is None  # no "shall I connect you?" that a yes would turn into a ticket


async def test_legal_action_on_this_bill_is_still_an_urgent_ticket(env: Env) -> None:
    said = await env.say(
        "legal-1", "if you don't fix this bill I'm calling my lawyer", env.patient("copay_only")
    )
    assert said.handoff is not None
    assert said.handoff.reason == "legal"
    assert said.handoff.priority == "urgent"


async def test_an_explicit_request_for_a_person_is_a_ticket(env: Env) -> None:
    said = await env.say("human-1", "can I talk to a real person please", env.patient("copay_only"))
    assert said.handoff is not None
    assert said.handoff.reason == "requested_human"


async def test_a_request_for_a_person_read_without_the_words_is_offered_first(env: Env) -> None:
    patient = env.patient("copay_only")
    before = await _rows(env)
    said = await env.say("human-2", "I need to update the insurance you have on file", patient)
    assert said.handoff is None
    assert said.message is not None
    assert said.message.expecting == "human_offer"
    assert await _rows(env) == before
    yes = await env.say("human-2", "yes please", patient)
    assert yes.handoff is not None
    assert yes.handoff.reason == "update_insurance_or_contact"


def test_an_angry_answer_to_nothing_is_no_ticket_but_the_same_words_in_a_billing_talk_are() -> None:
    """A first message read as an answer ("hell no" with nothing asked) is about nothing of the bill, so
    its frustration opens no ticket; after a billing turn, or answering the agent's offer, it does."""
    text = "hell no, screw that"
    angry = Understanding(intent=Intent.DENY, confidence=0.8, frustration=0.8)
    assert route_for_first_turn(angry, text) != "escalate_ticket"
    assert not about_the_bill(Intent.DENY, [], text)
    for about in (
        about_the_bill(Intent.DENY, ["balance"], text),
        about_the_bill(Intent.DENY, [], text, True),
    ):
        decision = decide(
            EscalationSignals(intent="deny", confidence=0.8, frustration=0.8, text=text, about_bill=about)
        )
        assert decision.reason is not None
        assert decision.reason.value == "frustration"


def test_a_first_message_opens_a_ticket_only_when_its_words_are_about_this_bill() -> None:
    """The engine's reading alone never opens a ticket on the first message: a dispute read into "which day
    does my money come in" is not one; the same reading of words about a charge is."""
    paid = Understanding(intent=Intent.DISPUTE_ALREADY_PAID, confidence=0.9)
    assert route_for_first_turn(paid, "what day does my paycheck come in") != "escalate_ticket"
    legal = Understanding(intent=Intent.EXPLAIN_STATEMENT, confidence=0.9)
    assert route_for_first_turn(legal, "any tips on finding a good divorce lawyer") != "escalate_ticket"
    assert route_for_first_turn(legal, "my lawyer will call you about these charges") == "escalate_ticket"
    dispute = Understanding(intent=Intent.DISPUTE_CHARGE, confidence=0.9)
    assert route_for_first_turn(dispute, "you charged me twice for one visit") == "escalate_ticket"


def test_legal_words_in_a_question_about_something_else_are_no_ticket() -> None:
    text = "how long does a small claims court case take"
    off = decide(EscalationSignals(intent="out_of_scope", confidence=0.9, text=text, about_bill=False))
    on = decide(EscalationSignals(intent="dispute_charge", confidence=0.9, text=text, about_bill=True))
    assert not off.escalate
    assert on.escalate
    assert on.reason is not None
    assert on.reason.value == "legal"
