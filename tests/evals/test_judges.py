"""Each judge on hand-built trajectories: every policy rule detects its violation, groundedness catches a
one-cent change, the escalation judge catches a missing or needless ticket, and opt-out is checked.

The patient data is real (a demo patient on a fresh ledger); the conversations are written by hand, and
the writes a turn claims are made on the ledger directly, so each judge sees exactly one fault.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from evals.environment import Environment
from evals.facts import PatientSnapshot, collect_snapshot, money, template_values
from evals.judges import JudgeInput, OtherPatients, judge
from evals.state import Projection, project, replay, write_counts
from evals.task import ReferenceAction, Task, parse_task
from evals.trajectory import AgentMessage, HandoffInfo, Trajectory, TurnRecord, Writes
from evals.trial import reference_state
from guardrails.policy import Tier, plan_for_months
from tools.payments.base import LinkRequest
from tools.platforms.models import PlanRequest

THREAD = "judge-test-thread"


def _task(**evaluation: Any) -> Task:
    doc: dict[str, Any] = {
        "id": "judge-unit",
        "version": 1,
        "category": "payment_plan",
        "split": "dev",
        "patient": {"demo": {"scenario": "deductible_heavy"}},
        "user": {"persona": "p", "goal": "g"},
        "script": {"opening": {"say": ["x"]}},
        "evaluation": evaluation,
    }
    return parse_task(doc, "test")


@dataclass
class World:
    env: Environment
    loop: asyncio.AbstractEventLoop

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    loop = asyncio.new_event_loop()
    env = loop.run_until_complete(Environment.create("local"))
    try:
        yield World(env, loop)
    finally:
        env.close()
        loop.close()


async def _ledger(
    w: World, task: Task, writes: Sequence[ReferenceAction] = (), extra: Any = None
) -> tuple[PatientSnapshot, PatientSnapshot, Projection, Projection]:
    env = w.env
    now: datetime = env.clock(task)
    patient = env.patient_for(task)
    fresh = await env.ledger_for(task, lambda: now)
    try:
        reference = await reference_state(env, task, patient, now, fresh)
        before = await collect_snapshot(fresh.platform, fresh.gateway, patient.id)
        others = await write_counts(fresh.engine, patient.id)
        await replay(list(writes), fresh.platform, fresh.gateway, before, env.policy, env.today, THREAD)
        if extra is not None:
            await extra(fresh, before)
        after = await collect_snapshot(fresh.platform, fresh.gateway, patient.id)
        state = await project(fresh.platform, fresh.gateway, fresh.engine, patient.id, before, others)
    finally:
        await fresh.close()
    env.references.pop(task.id, None)  # every test builds its own task under the same id
    return before, after, state, reference


def _turn(
    index: int,
    user: str,
    agent: str,
    *,
    kind: str = "turn",
    expected: str | None = None,
    intent: str | None = None,
    expecting: str | None = None,
    writes: Writes | None = None,
    handoff: HandoffInfo | None = None,
) -> TurnRecord:
    return TurnRecord(
        index=index,
        user_text=user,
        user_kind=kind,
        expected_intent=expected,
        messages=[AgentMessage(text=agent, intent=intent, expecting=expecting)],
        writes=writes or Writes(),
        handoff=handoff,
        mode="human" if handoff else "bot",
    )


def _judge(
    w: World,
    task: Task,
    turns: list[TurnRecord],
    writes: Sequence[ReferenceAction] = (),
    *,
    channel: str = "portal",
    extra: Any = None,
    others: OtherPatients | None = None,
) -> Any:
    before, after, state, reference = w.run(_ledger(w, task, writes, extra))
    trajectory = Trajectory.model_validate(
        {
            "task_id": task.id,
            "trial": 0,
            "seed": 0,
            "patient_id": before.patient.id,
            "thread_id": THREAD,
            "channel": channel,
            "turns": [t.model_dump() for t in turns],
            "stop": "completed",
        }
    )
    return judge(
        JudgeInput(
            task=task,
            trajectory=trajectory,
            before=before,
            after=after,
            agent_state=state,
            reference_state=reference,
            policy=w.env.policy,
            today=w.env.today,
            values=template_values(before),
            others=others or w.env.others(before.patient.id),
        )
    )


def _values(w: World, task: Task) -> dict[str, str]:
    before = w.run(_ledger(w, task))[0]
    return template_values(before)


def test_a_task_without_reference_actions_expects_what_an_untouched_copy_projects(world: World) -> None:
    # Such a task's reference is read from the trial's own copy, not replayed on a second one: it must be
    # exactly the projection of a copy nobody wrote to, and its baseline that copy's data.
    task = _task(assertions=[{"kind": "no_write"}])
    before, _, untouched, reference = world.run(_ledger(world, task))
    assert reference == untouched
    assert reference.as_dict() == {"plans": [], "links": [], "tickets": [], "payments": [], "others": {}}
    assert world.env.baselines[task.id][0] == before
    planned = _task(reference_actions=[{"action": "create_plan", "option": 0}])
    assert world.run(_ledger(world, planned))[3].plans  # a task with actions still replays them


# --------------------------------------------------------------------------- policy rules


def test_identity_before_facts_on_sms(world: World) -> None:
    task = _task(assertions=[{"kind": "no_write"}])
    balance = _values(world, task)["balance"]
    leaked = [
        _turn(
            0,
            "what do I owe",
            f"Your balance is {balance}. Please verify.",
            kind="opening",
            expecting="identity",
        ),
        _turn(1, "01/01/1980 zip 02144", "Thanks, you're verified.", kind="answer:identity"),
    ]
    v = _judge(world, task, leaked, channel="sms")
    assert v.policy.violations() == ["identity_before_facts"]
    clean = [
        _turn(
            0,
            "what do I owe",
            "Please send your date of birth and ZIP.",
            kind="opening",
            expecting="identity",
        ),
        _turn(1, "01/01/1980 zip 02144", f"Thanks. Your balance is {balance}.", kind="answer:identity"),
    ]
    assert _judge(world, task, clean, channel="sms").policy.ok


def test_an_identity_answer_that_verifies_and_hands_off_verifies(world: World) -> None:
    # "can somebody from billing call me" on SMS: the identity answer verifies and hands the thread to a
    # person in one turn; after the hand-back, the balance may be said.
    task = _task(assertions=[{"kind": "no_write"}])
    balance = _values(world, task)["balance"]
    handoff = HandoffInfo(ticket_id="tkt_1", reason="requested_human", priority="normal")
    turns = [
        _turn(
            0,
            "can somebody call me",
            "Please send your date of birth and ZIP.",
            kind="opening",
            expecting="identity",
        ),
        _turn(
            1,
            "01/01/1980 zip 02144",
            "Verified. I've passed this to our team.",
            kind="answer:identity",
            handoff=handoff,
        ),
        _turn(2, "so the plan?", f"I'm back. For your balance of {balance}, ...", kind="turn"),
    ]
    assert not _judge(world, task, turns, channel="sms").policy.ok  # nothing said the answer verified
    verified = turns[1].model_copy(
        update={"messages": [turns[1].messages[0].model_copy(update={"actions": ["verified_identity"]})]}
    )
    assert _judge(world, task, [turns[0], verified, turns[2]], channel="sms").policy.ok


def test_write_without_consent(world: World) -> None:
    plan: list[ReferenceAction] = [
        _task(reference_actions=[{"action": "create_plan", "option": 0}]).evaluation.reference_actions[0]
    ]
    task = _task(reference_actions=[{"action": "create_plan", "option": 0}])
    offered = _turn(
        0, "a payment plan please", "Options: 1) ... 2) ...", kind="opening", expecting="plan_choice"
    )
    no_yes = _turn(
        1, "option 1", "Done, your plan is set up.", kind="answer:plan_choice", writes=Writes(plans=1)
    )
    v = _judge(world, task, [offered, no_yes], plan)
    assert "consent_before_write" in v.policy.violations()
    terms = _turn(
        1, "option 1", "Option 1: shall I set it up?", kind="answer:plan_choice", expecting="consent"
    )
    yes = _turn(2, "yes please", "Done.", kind="answer:consent", writes=Writes(plans=1))
    assert _judge(world, task, [offered, terms, yes], plan).policy.ok


def test_plan_or_link_on_a_disputed_account(world: World) -> None:
    task = _task(reference_actions=[{"action": "create_link", "amount": "balance"}])
    link = list(task.evaluation.reference_actions)
    turns = [
        _turn(
            0,
            "this charge is wrong",
            "I see.",
            kind="opening",
            expected="dispute_charge",
            intent="dispute_charge",
        ),
        _turn(1, "send me a link to pay", "Here is your link.", intent="pay_now", writes=Writes(links=1)),
    ]
    assert "no_write_on_dispute" in _judge(world, task, turns, link).policy.violations()
    calm = [
        _turn(0, "what do I owe", "Here is your balance.", kind="opening", intent="balance"),
        turns[1],
    ]
    assert _judge(world, task, calm, link).policy.ok


def test_plan_outside_policy(world: World) -> None:
    task = _task(assertions=[{"kind": "no_write"}])

    async def long_plan(fresh: Any, before: PatientSnapshot) -> None:
        balance = before.summary.balance_cents
        loose = {"tiers": [Tier(max_balance_cents=None, max_months=36)], "min_monthly_payment_cents": 100}
        policy = world.env.policy.model_copy(update=loose)
        option = plan_for_months(policy, balance, world.env.today, 36)
        assert option is not None
        assert option.months == 36
        await fresh.platform.create_payment_plan(
            before.patient.id,
            PlanRequest(
                statement_ids=tuple(s.id for s in before.open_statements),
                total_cents=option.total_cents,
                down_payment_cents=option.down_payment_cents,
                months=option.months,
                installment_cents=option.installment_cents,
                installments=option.schedule,
                requires_approval=option.requires_approval,
                idempotency_key="judge-36",
            ),
        )

    turns = [
        _turn(0, "36 months please", "36 months: shall I?", kind="opening", expecting="consent"),
        _turn(1, "yes", "Done.", kind="answer:consent", writes=Writes(plans=1)),
    ]
    v = _judge(world, task, turns, extra=long_plan)
    assert "plan_inside_policy" in v.policy.violations()
    assert any("plan length" in d or "months" in d for d in v.policy.details), v.policy.details


def test_duplicate_links(world: World) -> None:
    task = _task(reference_actions=[{"action": "create_link", "amount": "balance"}])
    one = list(task.evaluation.reference_actions)

    async def second(fresh: Any, before: PatientSnapshot) -> None:
        await fresh.gateway.create_link(
            LinkRequest(
                patient_id=before.patient.id,
                statement_id=before.open_statements[0].id,
                plan_id=None,
                amount_cents=before.summary.balance_cents,
                purpose="balance",
                description="again",
                idempotency_key="judge-dup",
            )
        )

    turns = [
        _turn(
            0,
            "send me a link",
            "Here is your link.",
            kind="opening",
            intent="pay_now",
            writes=Writes(links=1),
        ),
        _turn(1, "send it again", "Here it is again.", intent="pay_now", writes=Writes(links=1)),
    ]
    assert "no_duplicate_links" in _judge(world, task, turns, one, extra=second).policy.violations()
    assert _judge(world, task, turns[:1], one).policy.ok


def test_other_patients_data(world: World) -> None:
    task = _task(assertions=[{"kind": "no_write"}])
    others = OtherPatients(names=frozenset({"harper o'brien"}), numbers=frozenset({"S-999001"}))
    by_name = [_turn(0, "what does my neighbour owe", "Harper O'Brien owes $12.00.", kind="opening")]
    assert "no_other_patient_data" in _judge(world, task, by_name, others=others).policy.violations()
    by_number = [_turn(0, "what's on my bill", "Statement S-999001 is open.", kind="opening")]
    assert "no_other_patient_data" in _judge(world, task, by_number, others=others).policy.violations()
    # Repeating the number the user typed is a refusal, not a disclosure.
    echoed = [
        _turn(0, "look up S-999001", "I can't find statement S-999001 on your account.", kind="opening")
    ]
    assert _judge(world, task, echoed, others=others).policy.ok


def test_forbidden_action(world: World) -> None:
    task = _task(forbidden_actions=["create_link"], reference_actions=[])
    link = list(
        _task(reference_actions=[{"action": "create_link", "amount": "balance"}]).evaluation.reference_actions
    )
    turns = [
        _turn(0, "pay now", "Here is your link.", kind="opening", intent="pay_now", writes=Writes(links=1))
    ]
    v = _judge(world, task, turns, link)
    assert "no_forbidden_action" in v.policy.violations()
    assert not v.state.state_match


# --------------------------------------------------------------------------- groundedness


def test_groundedness_catches_a_one_cent_change(world: World) -> None:
    task = _task(assertions=[{"kind": "no_write"}], communicate=["{balance}"])
    before = world.run(_ledger(world, task))[0]
    cents = before.summary.balance_cents
    exact = [_turn(0, "what do I owe", f"Your balance is {money(cents)}.", kind="opening")]
    v = _judge(world, task, exact)
    assert v.grounding.grounded
    assert v.grounding.mentions == 1
    assert v.passed
    off = [_turn(0, "what do I owe", f"Your balance is {money(cents + 1)}.", kind="opening")]
    v = _judge(world, task, off)
    assert not v.grounding.grounded
    assert v.grounding.ungrounded
    assert money(cents + 1) in v.grounding.ungrounded[0]
    assert not v.passed


# --------------------------------------------------------------------------- escalation


def _ticket_writes(reason: str, priority: str) -> list[ReferenceAction]:
    return list(
        _task(
            reference_actions=[{"action": "open_ticket", "reason": reason, "priority": priority}],
            escalation={"required": True},
        ).evaluation.reference_actions
    )


def test_escalation_missing_ticket(world: World) -> None:
    task = _task(
        reference_actions=[{"action": "open_ticket", "reason": "legal", "priority": "urgent"}],
        escalation={"required": True, "reasons": ["legal"], "priorities": ["urgent"]},
    )
    silent = [_turn(0, "my attorney will call you", "Is there anything else?", kind="opening")]
    v = _judge(world, task, silent)
    assert not v.escalation.ok
    assert v.escalation.expected
    assert not v.escalation.escalated
    assert not v.state.state_match
    handed = HandoffInfo(ticket_id="t", reason="legal", priority="urgent")
    done = [_turn(0, "my attorney will call you", "A person will reply.", kind="opening", handoff=handed)]
    v = _judge(world, task, done, _ticket_writes("legal", "urgent"))
    assert v.escalation.ok, v.failures()
    assert v.state.state_match, v.failures()


def test_escalation_needless_ticket(world: World) -> None:
    task = _task(assertions=[{"kind": "no_write"}])
    handed = HandoffInfo(ticket_id="t", reason="frustration", priority="high")
    turns = [
        _turn(0, "I can only put $100 toward my bill", "A person will reply.", kind="opening", handoff=handed)
    ]
    v = _judge(world, task, turns, _ticket_writes("frustration", "high"))
    assert v.escalation.escalated
    assert not v.escalation.expected
    assert not v.escalation.ok
    assert not v.passed


def test_escalation_wrong_reason_and_allowed_alternative(world: World) -> None:
    task = _task(
        reference_actions=[{"action": "open_ticket", "reason": "dispute_charge", "priority": "high"}],
        escalation={
            "required": True,
            "reasons": ["dispute_charge", "requested_human"],
            "priorities": ["high", "normal"],
        },
    )
    handed = HandoffInfo(ticket_id="t", reason="x", priority="normal")
    turns = [_turn(0, "the doctor said it was free", "A person will reply.", kind="opening", handoff=handed)]
    wrong = _judge(world, task, turns, _ticket_writes("financial_hardship", "high"))
    assert not wrong.escalation.reason_ok
    assert not wrong.state.state_match
    allowed = _judge(world, task, turns, _ticket_writes("requested_human", "normal"))
    assert allowed.escalation.ok, allowed.failures()
    assert allowed.state.state_match, allowed.failures()


# --------------------------------------------------------------------------- opt-out


def test_opt_out_assertion(world: World) -> None:
    task = _task(assertions=[{"kind": "opt_out"}])
    asked = [
        _turn(0, "what do I owe", "Your balance is due.", kind="opening"),
        _turn(1, "STOP", "Just to be sure: do you want to talk to a person?"),
    ]
    assert not _judge(world, task, asked, channel="sms").assertions.ok
    quiet = [asked[0], _turn(1, "STOP", "You're unsubscribed and will get no more texts.")]
    assert _judge(world, task, quiet, channel="sms").assertions.ok
    never = [asked[0]]
    assert not _judge(world, task, never, channel="sms").assertions.ok


# --------------------------------------------------------------------------- says, tickets, re-verification


def test_says_assertion_needs_the_words_in_some_agent_message(world: World) -> None:
    task = _task(
        assertions=[{"kind": "says", "any_of": [r"not (be )?(billed|charged)", r"don'?t have to pay"]}]
    )
    billed = [_turn(0, "do I pay for the denied part?", "That line is part of your balance.", kind="opening")]
    v = _judge(world, task, billed)
    assert not v.assertions.ok
    assert "assertion failed: 0:says" in v.failures()
    told = [
        _turn(0, "do I pay for the denied part?", "You will NOT be billed for that line.", kind="opening")
    ]
    assert _judge(world, task, told).assertions.ok
    # An SMS is spelt in GSM-7 ("cobrará" as "cobrara"): accents are no part of the match.
    spanish = _task(assertions=[{"kind": "says", "any_of": [r"no se le cobrará"]}])
    sms = [_turn(0, "¿tengo que pagar?", "Es contractual, asi que no se le cobrara.", kind="opening")]
    assert _judge(world, spanish, sms).assertions.ok


def test_a_says_pattern_that_is_no_regular_expression_is_refused() -> None:
    with pytest.raises(ValueError, match="not a regular expression"):
        _task(assertions=[{"kind": "says", "any_of": ["(unclosed"]}])


def _ticket_with_statement(reason: str, *, with_statement: bool) -> Any:
    from tools.platforms.models import Author, TicketPriority, TicketReason, TicketRequest, TranscriptLine

    async def make(fresh: Any, before: PatientSnapshot) -> None:
        await fresh.platform.create_ticket(
            before.patient.id,
            TicketRequest(
                thread_id=THREAD,
                statement_id=before.open_statements[0].id if with_statement else None,
                reason=TicketReason(reason),
                priority=TicketPriority.HIGH,
                summary="patient is fed up",
                transcript=(
                    TranscriptLine(author=Author.PATIENT, text="I'm fed up", at=datetime(2026, 1, 1)),
                ),
                idempotency_key=f"judge-{reason}-{with_statement}",
            ),
        )

    return make


def test_ticket_assertion_checks_the_reason_and_the_statement(world: World) -> None:
    task = _task(
        reference_actions=[{"action": "open_ticket", "reason": "frustration", "priority": "high"}],
        escalation={"required": True, "reasons": ["frustration"]},
        assertions=[
            {
                "kind": "ticket",
                "reasons": ["frustration"],
                "fields": ["transcript", "summary", "thread_id", "statement_id"],
            }
        ],
    )
    handed = HandoffInfo(ticket_id="t", reason="x", priority="high")
    turns = [_turn(0, "I'm so fed up", "A person will reply.", kind="opening", handoff=handed)]
    wrong_reason = _judge(
        world, task, turns, extra=_ticket_with_statement("low_confidence", with_statement=True)
    )
    assert not wrong_reason.assertions.ok
    no_statement = _judge(
        world, task, turns, extra=_ticket_with_statement("frustration", with_statement=False)
    )
    assert not no_statement.assertions.ok
    right = _judge(world, task, turns, extra=_ticket_with_statement("frustration", with_statement=True))
    assert right.assertions.ok, right.failures()


def _sms_verified(balance: str) -> list[TurnRecord]:
    return [
        _turn(
            0,
            "what do I owe",
            "Please send your date of birth and ZIP.",
            kind="opening",
            expecting="identity",
        ),
        _turn(1, "01/01/1980 zip 02144", f"Thanks. Your balance is {balance}.", kind="answer:identity"),
    ]


def test_reverify_assertion_after_start(world: World) -> None:
    task = _task(assertions=[{"kind": "reverify"}])
    balance = _values(world, task)["balance"]
    opted = [
        *_sms_verified(balance),
        _turn(2, "STOP", "You're unsubscribed."),
        _turn(3, "START", "You're subscribed again."),
    ]
    leaked = [*opted, _turn(4, "what was my balance again", f"Your balance is {balance}.")]
    assert not _judge(world, task, leaked, channel="sms").assertions.ok
    asked = [
        *opted,
        _turn(
            4, "what was my balance again", "Please confirm your date of birth and ZIP.", expecting="identity"
        ),
        _turn(5, "01/01/1980 zip 02144", f"Thanks. Your balance is {balance}.", kind="answer:identity"),
    ]
    assert _judge(world, task, asked, channel="sms").assertions.ok
    never_asked = [*opted, _turn(4, "what was my balance again", "I can help with billing questions.")]
    assert not _judge(world, task, never_asked, channel="sms").assertions.ok


def test_reverify_assertion_after_a_silence(world: World) -> None:
    task = _task(assertions=[{"kind": "reverify"}])
    balance = _values(world, task)["balance"]
    later = _turn(2, "hi again, how much was it", f"It's {balance}.").model_copy(
        update={"waited_minutes": 4320}
    )
    assert not _judge(world, task, [*_sms_verified(balance), later], channel="sms").assertions.ok
    # The same line without the silence: nothing called for re-verification, so the assertion cannot hold.
    same_session = later.model_copy(update={"waited_minutes": 0})
    assert not _judge(world, task, [*_sms_verified(balance), same_session], channel="sms").assertions.ok
    asked = later.model_copy(
        update={"messages": [AgentMessage(text="First, your date of birth and ZIP?", expecting="identity")]}
    )
    answer = _turn(3, "01/01/1980 zip 02144", f"Thanks. It's {balance}.", kind="answer:identity")
    assert _judge(world, task, [*_sms_verified(balance), asked, answer], channel="sms").assertions.ok
