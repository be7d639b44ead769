"""Mapping between ORM rows and domain models, both ways.

Rows are plain column dictionaries on the way in (for Core ``executemany``) and
ORM instances on the way out. Nothing here touches a session.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any

from tools.platforms.ledger.invariants import derive_status
from tools.platforms.ledger.tables import (
    ClaimRow,
    CommunicationRow,
    CoverageRow,
    LineItemRow,
    PatientRow,
    PaymentPlanRow,
    PaymentRow,
    PracticeRow,
    StatementRow,
    TicketRow,
)
from tools.platforms.models import (
    Adjustment,
    Author,
    Channel,
    Claim,
    ClaimCode,
    ClaimStatus,
    Communication,
    Coverage,
    CoverageRank,
    Direction,
    GroupCode,
    Installment,
    InstallmentStatus,
    Language,
    LineItem,
    Patient,
    Payment,
    PaymentMethod,
    PaymentPlan,
    PaymentSource,
    PlanStatus,
    Practice,
    Statement,
    StatementStatus,
    StatementSummary,
    Ticket,
    TicketPriority,
    TicketReason,
    TicketStatus,
    TranscriptLine,
)

Row = dict[str, Any]

_NON_DIGITS = re.compile(r"\D")


def normalize_phone(phone: str) -> str | None:
    """E.164 form of a phone number (North American numbers may omit ``+1``).

    ``"(555) 555-0123"``, ``"555.555.0123"``, ``"+1 555 555 0123"`` and
    ``"15555550123"`` all give ``"+15555550123"``; anything that cannot be a
    phone number gives ``None``.
    """
    digits = _NON_DIGITS.sub("", phone)
    if phone.strip().startswith("+"):
        return f"+{digits}" if 8 <= len(digits) <= 15 else None
    if len(digits) == 10:
        return f"+1{digits}"
    if len(digits) == 11 and digits.startswith("1"):
        return f"+{digits}"
    return None


def day_start_utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


# --------------------------------------------------------------------------- model -> row


def practice_row(p: Practice) -> Row:
    return p.model_dump()


def patient_row(p: Patient) -> Row:
    row = p.model_dump()
    row["phone"] = normalize_phone(p.phone) if p.phone else None
    row["language"] = p.language.value
    row["preferred_channel"] = p.preferred_channel.value
    row["scenario_tags"] = list(p.scenario_tags)
    return row


def coverage_row(c: Coverage) -> Row:
    row = c.model_dump()
    row["rank"] = c.rank.value
    return row


def claim_rows(c: Claim) -> tuple[Row, list[Row]]:
    row = c.model_dump(exclude={"denial_codes", "line_item_ids"})
    row["coverage_rank"] = c.coverage_rank.value
    row["status"] = c.status.value
    codes = [
        {"claim_id": c.id, "position": i, "group_code": d.group_code.value, "carc": d.carc, "rarc": d.rarc}
        for i, d in enumerate(c.denial_codes)
    ]
    return row, codes


def statement_row(st: Statement, created_at: datetime) -> Row:
    return {
        "id": st.id,
        "number": st.number,
        "patient_id": st.patient_id,
        "statement_date": st.statement_date,
        "due_date": st.due_date,
        "total_patient_responsibility_cents": st.total_patient_responsibility_cents,
        "total_paid_cents": st.total_paid_cents,
        "balance_cents": st.balance_cents,
        "status": st.status.value,
        "line_count": len(st.line_items),
        "created_at": created_at,
    }


def line_item_rows(li: LineItem, position: int) -> tuple[Row, list[Row]]:
    row = li.model_dump(
        exclude={"adjustments", "contractual_adjustment_cents", "patient_responsibility_cents"}
    )
    row["modifiers"] = list(li.modifiers)
    row["position"] = position
    adjustments = [
        {
            "line_item_id": li.id,
            "position": i,
            "group_code": a.group_code.value,
            "carc": a.carc,
            "rarc": a.rarc,
            "amount_cents": a.amount_cents,
        }
        for i, a in enumerate(li.adjustments)
    ]
    return row, adjustments


def payment_row(p: Payment) -> Row:
    row = p.model_dump()
    row["method"] = p.method.value
    row["source"] = p.source.value
    return row


def plan_rows(p: PaymentPlan, requires_approval: bool) -> tuple[Row, list[Row], list[Row]]:
    row = p.model_dump(exclude={"statement_ids", "installments"})
    row["status"] = p.status.value
    row["requires_approval"] = requires_approval
    row["updated_at"] = p.created_at
    links = [{"plan_id": p.id, "statement_id": sid, "position": i} for i, sid in enumerate(p.statement_ids)]
    installments = [
        {
            "plan_id": p.id,
            "sequence": i.sequence,
            "due_date": i.due_date,
            "amount_cents": i.amount_cents,
            "status": i.status.value,
        }
        for i in p.installments
    ]
    return row, links, installments


def transcript_json(lines: tuple[TranscriptLine, ...]) -> list[dict[str, Any]]:
    return [line.model_dump(mode="json") for line in lines]


# --------------------------------------------------------------------------- row -> model


def to_practice(r: PracticeRow) -> Practice:
    return Practice(id=r.id, name=r.name, phone=r.phone, address=r.address, timezone=r.timezone)


def to_patient(r: PatientRow) -> Patient:
    return Patient(
        id=r.id,
        practice_id=r.practice_id,
        first_name=r.first_name,
        last_name=r.last_name,
        date_of_birth=r.date_of_birth,
        phone=r.phone,
        email=r.email,
        address_line=r.address_line,
        city=r.city,
        state=r.state,
        zip_code=r.zip_code,
        language=Language(r.language),
        preferred_channel=Channel(r.preferred_channel),
        sms_consent=r.sms_consent,
        timezone=r.timezone,
        portal_user_id=r.portal_user_id,
        scenario_tags=tuple(r.scenario_tags),
    )


def to_coverage(r: CoverageRow) -> Coverage:
    return Coverage(
        id=r.id,
        patient_id=r.patient_id,
        payer_name=r.payer_name,
        plan_type=r.plan_type,
        member_id=r.member_id,
        rank=CoverageRank(r.rank),
        deductible_cents=r.deductible_cents,
        deductible_met_cents=r.deductible_met_cents,
        out_of_pocket_max_cents=r.out_of_pocket_max_cents,
        out_of_pocket_met_cents=r.out_of_pocket_met_cents,
        coinsurance_percent=r.coinsurance_percent,
        copay_cents=r.copay_cents,
        active=r.active,
    )


def to_claim(r: ClaimRow) -> Claim:
    return Claim(
        id=r.id,
        patient_id=r.patient_id,
        claim_number=r.claim_number,
        payer_name=r.payer_name,
        coverage_rank=CoverageRank(r.coverage_rank),
        status=ClaimStatus(r.status),
        service_date=r.service_date,
        submitted_on=r.submitted_on,
        adjudicated_on=r.adjudicated_on,
        billed_cents=r.billed_cents,
        paid_cents=r.paid_cents,
        denial_codes=tuple(
            ClaimCode(group_code=GroupCode(d.group_code), carc=d.carc, rarc=d.rarc) for d in r.denial_codes
        ),
        line_item_ids=tuple(li.id for li in r.line_items),
    )


def to_line_item(r: LineItemRow) -> LineItem:
    return LineItem(
        id=r.id,
        statement_id=r.statement_id,
        claim_id=r.claim_id,
        service_date=r.service_date,
        provider_name=r.provider_name,
        code=r.code,
        code_system=r.code_system,
        modifiers=tuple(r.modifiers),
        units=r.units,
        description=r.description,
        billed_cents=r.billed_cents,
        allowed_cents=r.allowed_cents,
        insurance_paid_cents=r.insurance_paid_cents,
        insurance_pending_cents=r.insurance_pending_cents,
        adjustments=tuple(
            Adjustment(
                group_code=GroupCode(a.group_code), carc=a.carc, rarc=a.rarc, amount_cents=a.amount_cents
            )
            for a in r.adjustments
        ),
        deductible_cents=r.deductible_cents,
        coinsurance_cents=r.coinsurance_cents,
        copay_cents=r.copay_cents,
        not_covered_cents=r.not_covered_cents,
    )


def to_payment(r: PaymentRow) -> Payment:
    return Payment(
        id=r.id,
        patient_id=r.patient_id,
        statement_id=r.statement_id,
        amount_cents=r.amount_cents,
        posted_at=r.posted_at,
        method=PaymentMethod(r.method),
        source=PaymentSource(r.source),
        external_id=r.external_id,
        idempotency_key=r.idempotency_key,
    )


def to_statement(r: StatementRow) -> Statement:
    return Statement(
        id=r.id,
        number=r.number,
        patient_id=r.patient_id,
        statement_date=r.statement_date,
        due_date=r.due_date,
        line_items=tuple(to_line_item(li) for li in r.line_items),
        payments=tuple(to_payment(p) for p in r.payments),
        balance_cents=r.balance_cents,
        status=StatementStatus(r.status),
    )


def to_statement_summary(r: StatementRow) -> StatementSummary:
    return StatementSummary(
        id=r.id,
        number=r.number,
        patient_id=r.patient_id,
        statement_date=r.statement_date,
        due_date=r.due_date,
        total_patient_responsibility_cents=r.total_patient_responsibility_cents,
        total_paid_cents=r.total_paid_cents,
        balance_cents=r.balance_cents,
        status=derive_status(r.balance_cents),
        line_count=r.line_count,
    )


def to_plan(r: PaymentPlanRow) -> PaymentPlan:
    return PaymentPlan(
        id=r.id,
        patient_id=r.patient_id,
        statement_ids=tuple(s.statement_id for s in r.statements),
        total_cents=r.total_cents,
        down_payment_cents=r.down_payment_cents,
        months=r.months,
        installment_cents=r.installment_cents,
        installments=tuple(
            Installment(
                sequence=i.sequence,
                due_date=i.due_date,
                amount_cents=i.amount_cents,
                status=InstallmentStatus(i.status),
            )
            for i in r.installments
        ),
        status=PlanStatus(r.status),
        approver=r.approver,
        created_at=r.created_at,
        idempotency_key=r.idempotency_key,
    )


def to_ticket(r: TicketRow) -> Ticket:
    return Ticket(
        id=r.id,
        patient_id=r.patient_id,
        thread_id=r.thread_id,
        statement_id=r.statement_id,
        reason=TicketReason(r.reason),
        priority=TicketPriority(r.priority),
        summary=r.summary,
        transcript=tuple(TranscriptLine.model_validate(line) for line in r.transcript),
        status=TicketStatus(r.status),
        assignee=r.assignee,
        created_at=r.created_at,
        idempotency_key=r.idempotency_key,
    )


def to_communication(r: CommunicationRow) -> Communication:
    return Communication(
        id=r.id,
        patient_id=r.patient_id,
        thread_id=r.thread_id,
        channel=Channel(r.channel),
        direction=Direction(r.direction),
        author=Author(r.author),
        text=r.text,
        external_id=r.external_id,
        created_at=r.created_at,
    )
