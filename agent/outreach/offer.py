"""The outreach offer a thread is answering: plain data, kept in the checkpoint (``AgentState``)."""

from __future__ import annotations

from typing import TypedDict


class OutreachOffer(TypedDict):
    """The outreach text a thread is answering (ids and terms only)."""

    key: str
    patient_id: str
    step: str  # pay_link | plan_offer | follow_up
    months: int | None
    installment_cents: int | None
    down_payment_cents: int | None
    total_cents: int | None
    accepted: bool  # the patient answered YES to the offered plan
