"""``escalate_ticket`` opens a ticket and switches the thread to human mode; ``human_relay`` keeps the bot
silent while staff own the thread (the patient's messages are already on the platform, where the console
reads them)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from langgraph.runtime import Runtime

from agent import templates as T
from agent.context import AgentContext
from agent.facts import FactSet
from agent.nodes.common import answer, call, ctx, entity_list, lang, patient_id, work
from agent.nodes.statements import pointed_statement
from agent.state import ConversationState, Update
from agent.understanding.base import Intent
from agent.understanding.cues import claims_waiver
from tools.platforms.models import (
    Author,
    Payment,
    StatementStatus,
    TicketPriority,
    TicketReason,
    TicketRequest,
    TranscriptLine,
)

INTENT_REASONS: dict[Intent, tuple[TicketReason, TicketPriority]] = {
    Intent.UPDATE_INSURANCE_OR_CONTACT: (TicketReason.UPDATE_INSURANCE_OR_CONTACT, TicketPriority.NORMAL),
    Intent.REQUEST_HUMAN: (TicketReason.REQUESTED_HUMAN, TicketPriority.NORMAL),
    Intent.DISPUTE_CHARGE: (TicketReason.DISPUTE_CHARGE, TicketPriority.HIGH),
    Intent.DISPUTE_ALREADY_PAID: (TicketReason.DISPUTE_ALREADY_PAID, TicketPriority.HIGH),
    Intent.FINANCIAL_HARDSHIP: (TicketReason.FINANCIAL_HARDSHIP, TicketPriority.HIGH),
    Intent.REFUND_OR_CREDIT: (TicketReason.REFUND_REQUEST, TicketPriority.NORMAL),
}
TRANSCRIPT_LINES = 50
OFFER_REASONS = frozenset(
    {
        Intent.REFUND_OR_CREDIT.value,
        Intent.DISPUTE_ALREADY_PAID.value,
        Intent.DISPUTE_CHARGE.value,
        Intent.FINANCIAL_HARDSHIP.value,
        Intent.UPDATE_INSURANCE_OR_CONTACT.value,
    }
)


def _reason(state: ConversationState) -> tuple[TicketReason, TicketPriority]:
    esc = work(state).get("escalation")
    if esc is not None:
        return TicketReason(esc["reason"]), TicketPriority(esc["priority"])
    intent = Intent(work(state).get("intent") or Intent.REQUEST_HUMAN.value)
    history = state.get("intent_history") or []
    # A yes to "shall I pass this to our team?" keeps the reason of the question that led to the offer.
    if intent is Intent.AFFIRM and len(history) >= 2 and history[-2] in OFFER_REASONS:
        intent = Intent(history[-2])
    return INTENT_REASONS.get(intent, (TicketReason.REQUESTED_HUMAN, TicketPriority.NORMAL))


async def _payment_on_file(c: AgentContext, pid: str) -> Payment | None:
    """The patient's latest payment made against a bill (posted after its statement was issued: by mail,
    online, by phone), if any. A copay taken at the visit predates the bill and answers no "I paid it"."""
    issued = {s.id: s.statement_date for s in await c.ports.platform.list_statements(pid)}
    latest = max(issued.values(), default=None)
    after_bill = []
    for p in await c.ports.platform.list_payments(pid):
        bill = issued.get(p.statement_id or "", latest)
        if bill is not None and p.posted_at.date() > bill:
            after_bill.append(p)
    return max(after_bill, key=lambda p: p.posted_at, default=None)


async def escalate_ticket(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    pid = patient_id(state)
    language = lang(state)
    reason, priority = _reason(state)
    esc = work(state).get("escalation")
    waiver = claims_waiver(state.get("text") or "")  # "the manager said I needn't pay": staff decide
    if (
        reason is TicketReason.DISPUTE_ALREADY_PAID
        and esc is not None
        and esc["triggers"] == reason.value
        and not waiver
    ):
        # "I already paid": look first. A payment on file answers it; only a missing one is a dispute.
        payment = await _payment_on_file(c, pid)
        if payment is not None:
            account = await c.ports.platform.get_account_summary(pid)
            posted = payment.posted_at.astimezone(ZoneInfo(c.ports.policy.office_hours.timezone)).date()
            facts = FactSet().amounts(payment.amount_cents, account.balance_cents).dates(posted)
            return {
                "expecting": "human_offer",
                "work": answer(
                    T.payment_on_file(payment.amount_cents, posted, account.balance_cents, language),
                    facts.pairs(),
                    suggestions=["Talk to a person"],
                    tools=[call("list_statements"), call("list_payments"), call("get_account_summary")],
                    reads=[f"payment:{payment.id}"],
                ),
            }
    # The ticket carries the transcript as the platform has it: the thread's queued lines go first.
    await c.ports.transcript_on_platform(c.thread_id)
    comms = await c.ports.platform.list_communications(pid, c.thread_id, TRANSCRIPT_LINES)
    transcript = tuple(TranscriptLine(author=m.author, text=m.text, at=m.created_at) for m in comms)
    if not transcript:
        transcript = tuple(
            TranscriptLine(author=Author(m["role"]), text=m["text"], at=c.now())
            for m in state.get("messages") or []
        )
    summary = f"Escalated by the billing assistant: {reason.value.replace('_', ' ')}."
    statement_id = state.get("statement_id") or c.statement_id
    named = [str(n) for n in entity_list(state, "statement_numbers")]
    if statement_id is None and named:
        # The patient named the statement ("I'm disputing S-105367"): the ticket is about that one, when it
        # is the patient's.
        found = await c.ports.platform.find_statement_by_number(pid, named[0])
        statement_id = found.id if found is not None else None
    if statement_id is None:
        # Not viewing a statement: the one the words point at ("the newer statement charges me for a test
        # that never happened"), else the patient's only open one, when there is exactly one.
        summaries = await c.ports.platform.list_statements(pid)
        statement_id = pointed_statement(summaries, None, state.get("text") or "")
        open_ones = [s.id for s in summaries if s.status is StatementStatus.OPEN]
        if statement_id is None and len(open_ones) == 1:
            statement_id = open_ones[0]
    ticket = await c.ports.platform.create_ticket(
        pid,
        TicketRequest(
            thread_id=c.thread_id,
            statement_id=statement_id,
            reason=reason,
            priority=priority,
            summary=summary,
            transcript=transcript,
            idempotency_key=f"ticket:{c.thread_id}:{state.get('turn', 0)}",
        ),
    )
    c.side_effect_done("escalate_ticket")
    hours = c.ports.policy.office_hours
    when = T.when_next_open(hours, c.now(), language)
    disputed = reason in (TicketReason.DISPUTE_CHARGE, TicketReason.DISPUTE_ALREADY_PAID)
    return {
        "mode": "human",
        "pending": None,
        "expecting": None,
        "disputed": disputed or bool(state.get("disputed")),
        "work": answer(
            T.handed_off(ticket.reference, when, hours.phone, language),
            [],
            handoff={"ticket_id": ticket.id, "reason": reason.value, "priority": priority.value},
            tools=[
                call("list_communications", limit=TRANSCRIPT_LINES),
                call("create_ticket", ticket_id=ticket.id, reason=reason.value, priority=priority.value),
            ],
            actions=["opened_ticket", "handed_to_human"],
        ),
    }


async def human_relay(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    """The bot stays silent. The message is on the platform (logged before the run) and in the window."""
    ctx(runtime)
    return {"work": {"reply": "", "actions": ["relayed_to_staff"]}}
