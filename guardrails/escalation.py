"""When a conversation goes to a person, why, and how urgently.

``decide`` is a pure function of the turn's signals. Reasons, most important first (the first that applies
is the ticket's reason; the priority is the highest among all that apply):

=====================  ==========================================================  ========
reason                 trigger                                                     priority
=====================  ==========================================================  ========
legal                  the patient's text mentions a lawyer, lawsuit, bankruptcy…  urgent
dispute_*              ``dispute`` (``already_paid`` when the intent name says so)  high
financial_hardship     ``hardship``                                                high
frustration            ``frustration >= FRUSTRATION_THRESHOLD`` (0.7)              high
requested_human        ``explicit_human_request``                                  normal
repair_failure         ``repair_failures >= REPAIR_FAILURE_LIMIT`` (3)             normal
low_confidence         this turn and the previous one below 0.45                   normal
=====================  ==========================================================  ========
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guardrails.screening import normalize
from tools.platforms.models import TicketPriority, TicketReason

FRUSTRATION_THRESHOLD = 0.7
LOW_CONFIDENCE_THRESHOLD = 0.45
REPAIR_FAILURE_LIMIT = 3

LEGAL_TERMS: tuple[str, ...] = (
    "attorney", "attorneys", "lawyer", "lawyers", "lawsuit", "legal action", "sue", "suing", "sued",
    "court", "small claims", "bankruptcy", "bankrupt", "chapter 7", "chapter 13", "collections agency",
    "collection agency", "debt collector", "cease and desist", "fdcpa", "cfpb", "attorney general",
    "abogado", "abogada", "abogados", "demanda", "demandar", "demandare", "tribunal", "corte",
    "bancarrota", "quiebra", "agencia de cobranza", "agencia de cobros", "accion legal", "acciones legales",
)  # fmt: skip

# "sue" is also a first name: only the verb counts ("I'll sue", "going to sue you", "sue the practice").
_SUE = (
    r"(?:(?:i'?ll|i will|i am going to|i'm going to|i'm gonna|we will|we'll|going to|gonna|to|will|"
    r"could|can|should|might|may) sue\b|\bsu(?:e|ing|ed) (?:you|your|them|the|this|y'all|ya)\b|"
    r"\bsuing\b|\bsued\b)"
)
_LEGAL = re.compile(
    r"\b(?:"
    + "|".join(
        re.escape(t) for t in sorted(LEGAL_TERMS, key=len, reverse=True) if t not in {"sue", "suing", "sued"}
    )
    + r")\b|"
    + _SUE
)


def mentions_legal(text: str) -> bool:
    """Whether the text raises a legal matter (English or Spanish, accents and case ignored)."""
    return bool(_LEGAL.search(normalize(text)))


@dataclass(frozen=True)
class EscalationSignals:
    intent: str
    confidence: float
    previous_low_confidence: bool = False
    frustration: float = 0.0
    repair_failures: int = 0
    text: str = ""
    explicit_human_request: bool = False
    dispute: bool = False
    hardship: bool = False


@dataclass(frozen=True)
class EscalationDecision:
    escalate: bool
    reason: TicketReason | None
    priority: TicketPriority
    triggers: tuple[TicketReason, ...] = ()


_RANK = {TicketPriority.LOW: 0, TicketPriority.NORMAL: 1, TicketPriority.HIGH: 2, TicketPriority.URGENT: 3}


def decide(signals: EscalationSignals) -> EscalationDecision:
    """Whether to hand the conversation to staff; ``priority`` is ``normal`` when not escalating."""
    triggered: list[tuple[TicketReason, TicketPriority]] = []
    if mentions_legal(signals.text):
        triggered.append((TicketReason.LEGAL, TicketPriority.URGENT))
    if signals.dispute:
        reason = (
            TicketReason.DISPUTE_ALREADY_PAID
            if "already_paid" in signals.intent or "paid" in signals.intent.split("_")
            else TicketReason.DISPUTE_CHARGE
        )
        triggered.append((reason, TicketPriority.HIGH))
    if signals.hardship:
        triggered.append((TicketReason.FINANCIAL_HARDSHIP, TicketPriority.HIGH))
    if signals.frustration >= FRUSTRATION_THRESHOLD:
        triggered.append((TicketReason.FRUSTRATION, TicketPriority.HIGH))
    if signals.explicit_human_request:
        triggered.append((TicketReason.REQUESTED_HUMAN, TicketPriority.NORMAL))
    if signals.repair_failures >= REPAIR_FAILURE_LIMIT:
        triggered.append((TicketReason.REPAIR_FAILURE, TicketPriority.NORMAL))
    if signals.confidence < LOW_CONFIDENCE_THRESHOLD and signals.previous_low_confidence:
        triggered.append((TicketReason.LOW_CONFIDENCE, TicketPriority.NORMAL))
    if not triggered:
        return EscalationDecision(False, None, TicketPriority.NORMAL)
    priority = max((p for _, p in triggered), key=_RANK.__getitem__)
    return EscalationDecision(True, triggered[0][0], priority, tuple(r for r, _ in triggered))
