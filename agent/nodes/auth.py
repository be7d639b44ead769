"""``auth``: verify an SMS or otherwise unverified thread before any account fact.

Date of birth plus a second factor (ZIP code or statement number) against the patients on file for the
sender's phone. Every failure reads the same, whether the phone is unknown, shared or the details are
wrong, so nothing about the account leaks before verification. Three failures lock the thread and open a
ticket (when the phone points at exactly one patient, that patient; otherwise an audit entry only).
"""

from __future__ import annotations

from datetime import date

from langgraph.runtime import Runtime

from agent import templates as T
from agent.context import AgentContext
from agent.nodes.common import answer, call, ctx, lang, work
from agent.routing import ACCOUNT_INTENTS
from agent.state import ConversationState, Update
from agent.understanding.base import Intent
from tools.platforms.models import (
    Author,
    CommunicationIn,
    Direction,
    TicketPriority,
    TicketReason,
    TicketRequest,
    TranscriptLine,
)

MAX_AUTH_FAILURES = 3
ACCOUNT_INTENT_NAMES = frozenset(i.value for i in ACCOUNT_INTENTS)


def _dob(state: ConversationState) -> date | None:
    ents = work(state).get("entities") or {}
    raw = ents.get("date_of_birth")
    if isinstance(raw, str):
        return date.fromisoformat(raw)
    stored = state.get("auth_dob")
    return date.fromisoformat(stored) if stored else None


# What an identity answer names: never carried to the question asked before it.
_IDENTITY_ENTITIES = frozenset({"date_of_birth", "zip_code"})

# Keywords that only resume texts (not "YES", which also answers an offer the practice texted).
RESUBSCRIBE = frozenset({"START", "UNSTOP"})


async def auth(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    """Verify the thread's patient. On success it carries on with the question (or the hand-off) asked
    before verification: the turn's record gets that intent and ``resumed``, and the router goes there."""
    c = ctx(runtime)
    language = lang(state)
    turn = work(state)
    ents = turn.get("entities") or {}
    intent = turn.get("intent")
    update: Update = {}
    if intent is not None and intent not in (
        Intent.IDENTITY_ANSWER.value,
        Intent.AFFIRM.value,
        Intent.DENY.value,
    ):
        if intent in (Intent.GREETING.value, Intent.THANKS_GOODBYE.value):
            pass
        elif (state.get("text") or "").strip().upper() in RESUBSCRIBE:
            pass  # "START" asks for texts again, no question to answer once verified
        else:
            update["pending_intent"] = intent
            update["pending_also"] = turn.get("also") or None
            # "I'd like to pay $40 toward my bill" before verification is a $40 link after it; "how much was
            # my last payment" is the payments read out
            question: dict[str, object] = {
                "entities": {k: v for k, v in ents.items() if k not in _IDENTITY_ENTITIES}
            }
            if turn.get("last_payment"):
                question["last_payment"] = True
            update["pending_turn"] = question
    elif state.get("expecting") == "human_offer" and intent == Intent.AFFIRM.value:
        update["pending_intent"] = Intent.REQUEST_HUMAN.value
    escalation = turn.get("escalation")
    if escalation is not None:
        # A hand-off decided before verification (a legal threat, a dispute, frustration) keeps its reason
        # and priority: it is opened as soon as the patient is verified.
        update["pending_escalation"] = escalation
        if update.get("pending_intent") not in ACCOUNT_INTENT_NAMES:
            update["pending_intent"] = Intent.REQUEST_HUMAN.value
    dob = _dob(state)
    raw_zip = ents.get("zip_code")
    zip_code = raw_zip if isinstance(raw_zip, str) else None
    numbers = ents.get("statement_numbers")
    statement_number = str(numbers[0]) if isinstance(numbers, list) and numbers else None
    if dob is None and zip_code is None and statement_number is None:
        return {**update, "expecting": "identity", "work": answer(T.AUTH_PROMPT[language], [])}
    if dob is None or (zip_code is None and statement_number is None):
        if dob is not None:
            update["auth_dob"] = dob.isoformat()
        text = T.AUTH_NEED_SECOND[language] if dob else T.AUTH_PROMPT[language]
        return {**update, "expecting": "identity", "work": answer(text, [])}

    candidates = [p.id for p in await c.ports.platform.find_patients_by_phone(c.phone)] if c.phone else []
    result = await c.ports.platform.verify_identity(candidates, dob, zip_code, statement_number)
    tools = [
        call("verify_identity", candidates=len(candidates) > 0, factor="zip" if zip_code else "statement")
    ]
    if result.verified and result.patient_id is not None:
        pid = result.patient_id
        # Flush what the patient wrote before verification onto the platform transcript.
        for n, held in enumerate(state.get("held_lines") or []):
            await c.ports.log_line(
                pid,
                CommunicationIn(
                    thread_id=c.thread_id, channel=c.channel, direction=Direction.INBOUND,
                    author=Author.PATIENT, text=held["text"],
                    # Idempotent: a verification re-run after a crash logs each held line once.
                    external_id=f"held:{c.thread_id}:{state.get('turn', 0)}:{n}",
                ),
            )  # fmt: skip
        await c.ports.platform.get_patient(pid)  # the patient on file exists and is readable
        pending = update.get("pending_intent", state.get("pending_intent"))
        also = update.get("pending_also", state.get("pending_also"))
        asked = update.get("pending_turn", state.get("pending_turn")) or {}
        earlier = update.get("pending_escalation", state.get("pending_escalation"))
        done = answer(
            T.AUTH_OK_NEXT[language], [], tools=tools, reads=[f"patient:{pid}"], actions=["verified_identity"]
        )
        if pending:
            # The confirmation prefaces the answer to the question asked before verification.
            done.update(
                {
                    "reply": "",
                    "fallback": "",
                    "preface": T.AUTH_OK[language],
                    "intent": pending,
                    "resumed": True,
                }
            )
            if also:
                done["also"] = list(also)
            # the question's entities (not the date of birth and ZIP's), and what else it asked
            entities = asked.get("entities")
            done["entities"] = dict(entities) if isinstance(entities, dict) else {}
            if asked.get("last_payment"):
                done["last_payment"] = True
        if earlier is not None:
            done.update({"escalation": earlier, "resumed": True})
        verified: Update = {
            "identity": "verified",
            "patient_id": pid,
            "auth_dob": None,
            "auth_failures": 0,
            "held_lines": [],
            "expecting": None,
            "pending_intent": None if pending else update.get("pending_intent"),
            "pending_also": None,
            "pending_turn": None,
            "pending_escalation": None,
        }
        return {**update, **verified, "work": done}
    failures = state.get("auth_failures", 0) + 1
    if failures < MAX_AUTH_FAILURES:
        return {
            **update,
            "auth_failures": failures,
            "auth_dob": None,
            "expecting": "identity",
            "work": answer(T.AUTH_FAILED[language], [], tools=tools),
        }
    # Locked: the thread stops here. A ticket goes to the only patient the phone names, if exactly one.
    locked = answer(
        T.AUTH_LOCKED[language].format(phone=c.ports.policy.office_hours.phone),
        [],
        tools=tools,
        actions=["locked_thread"],
    )
    if len(candidates) == 1:
        now = c.now()
        ticket = await c.ports.platform.create_ticket(
            candidates[0],
            TicketRequest(
                thread_id=c.thread_id,
                statement_id=None,
                reason=TicketReason.AUTH_LOCKED,
                priority=TicketPriority.HIGH,
                summary="Three failed identity verification attempts on this thread.",
                transcript=tuple(
                    TranscriptLine(author=Author.PATIENT, text="[identity details withheld]", at=now)
                    for _ in range(failures)
                ),
                idempotency_key=f"ticket:{c.thread_id}:auth_locked",
            ),
        )
        c.side_effect_done("auth")
        tools.append(call("create_ticket", reason=TicketReason.AUTH_LOCKED.value, ticket_id=ticket.id))
        locked["actions"] = ["locked_thread", "opened_ticket"]
        locked["handoff"] = {
            "ticket_id": ticket.id,
            "reason": TicketReason.AUTH_LOCKED.value,
            "priority": TicketPriority.HIGH.value,
        }
    return {**update, "identity": "locked", "auth_failures": failures, "expecting": None, "work": locked}
