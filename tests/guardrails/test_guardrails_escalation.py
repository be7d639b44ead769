"""Escalation rules: reason and priority."""

from __future__ import annotations

import pytest

from guardrails.escalation import EscalationSignals, decide, mentions_legal
from tools.platforms.models import TicketPriority, TicketReason


@pytest.mark.parametrize(
    "text",
    [
        "I'm calling my attorney",
        "my lawyer will hear about this",
        "I will sue you",
        "I'm going to sue the practice",
        "this is going to a lawsuit",
        "I filed for bankruptcy",
        "you sent me to a collections agency",
        "see you in small claims court",
        "voy a llamar a mi abogado",
        "los voy a demandar",
    ],
)
def test_legal_terms(text: str) -> None:
    assert mentions_legal(text)


@pytest.mark.parametrize(
    "text", ["My name is Sue", "Sue Smith, DOB 1/2/1980", "What do I owe?", "issue with my bill"]
)
def test_not_legal(text: str) -> None:
    assert not mentions_legal(text)


def _signals(**kw: object) -> EscalationSignals:
    base: dict[str, object] = {"intent": "ask_balance", "confidence": 0.9}
    base.update(kw)
    return EscalationSignals(**base)  # type: ignore[arg-type]  # test helper over known fields


@pytest.mark.parametrize(
    ("signals", "reason", "priority"),
    [
        ({"text": "I'll get a lawyer", "frustration": 0.9}, TicketReason.LEGAL, TicketPriority.URGENT),
        ({"dispute": True, "intent": "dispute_charge"}, TicketReason.DISPUTE_CHARGE, TicketPriority.HIGH),
        ({"dispute": True, "intent": "already_paid"}, TicketReason.DISPUTE_ALREADY_PAID, TicketPriority.HIGH),
        ({"hardship": True}, TicketReason.FINANCIAL_HARDSHIP, TicketPriority.HIGH),
        ({"frustration": 0.7}, TicketReason.FRUSTRATION, TicketPriority.HIGH),
        ({"explicit_human_request": True}, TicketReason.REQUESTED_HUMAN, TicketPriority.NORMAL),
        (
            {"explicit_human_request": True, "frustration": 0.8},
            TicketReason.FRUSTRATION,
            TicketPriority.HIGH,
        ),
        ({"repair_failures": 3}, TicketReason.REPAIR_FAILURE, TicketPriority.NORMAL),
        (
            {"confidence": 0.3, "previous_low_confidence": True},
            TicketReason.LOW_CONFIDENCE,
            TicketPriority.NORMAL,
        ),
    ],
)
def test_decide(signals: dict[str, object], reason: TicketReason, priority: TicketPriority) -> None:
    decision = decide(_signals(**signals))
    assert decision.escalate
    assert decision.reason is reason
    assert decision.priority is priority
    assert reason in decision.triggers


@pytest.mark.parametrize(
    "signals",
    [
        {},
        {"frustration": 0.69},
        {"confidence": 0.3},  # one low-confidence turn is repaired, not escalated
        {"confidence": 0.45, "previous_low_confidence": True},
        {"repair_failures": 2},
        {"text": "Hi, this is Sue"},
    ],
)
def test_no_escalation(signals: dict[str, object]) -> None:
    decision = decide(_signals(**signals))
    assert not decision.escalate
    assert decision.reason is None
    assert decision.triggers == ()


def test_repeated_low_confidence_from_an_upset_patient_is_filed_as_frustration() -> None:
    def unclear(frustration: float) -> EscalationSignals:
        return EscalationSignals(
            intent="out_of_scope", confidence=0.3, previous_low_confidence=True, frustration=frustration
        )

    upset, calm = decide(unclear(0.45)), decide(unclear(0.1))
    assert upset.escalate
    assert upset.reason is TicketReason.FRUSTRATION
    assert calm.escalate
    assert calm.reason is TicketReason.LOW_CONFIDENCE
