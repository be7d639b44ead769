from datetime import date

import pytest
from pydantic import ValidationError

from agent.understanding.base import Entities, Intent, LineRef, Understanding, UnderstandingContext

CONTRACT_INTENTS = [
    "balance",
    "explain_statement",
    "explain_charge",
    "insurance_terms",
    "claim_status",
    "denial_reason",
    "refund_or_credit",
    "payment_plan",
    "pay_now",
    "payment_methods",
    "dispute_already_paid",
    "dispute_charge",
    "financial_hardship",
    "request_human",
    "update_insurance_or_contact",
    "greeting",
    "thanks_goodbye",
    "affirm",
    "deny",
    "out_of_scope",
]


def test_intents_are_the_contract_twenty_plus_identity_answer() -> None:
    assert [i.value for i in Intent] == [*CONTRACT_INTENTS, "identity_answer"]


def test_models_are_frozen_and_strict() -> None:
    u = Understanding(intent=Intent.BALANCE, confidence=0.5)
    with pytest.raises(ValidationError):
        u.confidence = 0.9  # type: ignore[misc]  # asserting the model refuses mutation
    with pytest.raises(ValidationError):
        Entities(amounts_cents=[1], unknown=1)  # type: ignore[call-arg]  # extra fields are forbidden
    with pytest.raises(ValidationError):
        Understanding(intent=Intent.BALANCE, confidence=1.5)


def test_round_trip_through_json() -> None:
    u = Understanding(
        intent=Intent.PAYMENT_PLAN,
        confidence=0.8,
        alternatives=[(Intent.PAYMENT_PLAN, 0.8), (Intent.PAY_NOW, 0.1)],
        entities=Entities(dates=[date(2026, 3, 1)], line_refs=[LineRef(ordinal=2)]),
        language="es",
    )
    assert Understanding.model_validate_json(u.model_dump_json()) == u
    assert UnderstandingContext().expecting is None
