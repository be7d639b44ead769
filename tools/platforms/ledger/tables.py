"""ORM tables of the embedded ledger, on the shared ``tools.db.Base``.

Money is integer cents (``BigInteger``). Instants are stored in UTC through
``UTCDateTime`` and always read back timezone-aware. Enumerations are stored as
their string values (``String``), so adding a value never needs a migration.
Relationships are ``lazy="raise"``: every query says what it loads.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tools.db import Base, UTCDateTime

ID = String(64)
ENUM = String(32)


class PracticeRow(Base):
    __tablename__ = "practices"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(300))
    timezone: Mapped[str] = mapped_column(String(64))


class PatientRow(Base):
    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    practice_id: Mapped[str] = mapped_column(ForeignKey("practices.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(32), index=True)  # normalised E.164
    email: Mapped[str | None] = mapped_column(String(254))
    address_line: Mapped[str] = mapped_column(String(300))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(32))
    zip_code: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(ENUM)
    preferred_channel: Mapped[str] = mapped_column(ENUM)
    sms_consent: Mapped[bool] = mapped_column(Boolean)
    timezone: Mapped[str] = mapped_column(String(64))
    portal_user_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    scenario_tags: Mapped[list[str]] = mapped_column(JSON)


class CoverageRow(Base):
    __tablename__ = "coverages"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    payer_name: Mapped[str] = mapped_column(String(200))
    plan_type: Mapped[str] = mapped_column(String(32))
    member_id: Mapped[str] = mapped_column(String(64))
    rank: Mapped[str] = mapped_column(ENUM)
    deductible_cents: Mapped[int] = mapped_column(BigInteger)
    deductible_met_cents: Mapped[int] = mapped_column(BigInteger)
    out_of_pocket_max_cents: Mapped[int] = mapped_column(BigInteger)
    out_of_pocket_met_cents: Mapped[int] = mapped_column(BigInteger)
    coinsurance_percent: Mapped[int] = mapped_column(Integer)
    copay_cents: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean)


class ClaimRow(Base):
    __tablename__ = "claims"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    claim_number: Mapped[str] = mapped_column(String(64))
    payer_name: Mapped[str] = mapped_column(String(200))
    coverage_rank: Mapped[str] = mapped_column(ENUM)
    status: Mapped[str] = mapped_column(ENUM)
    service_date: Mapped[date] = mapped_column(Date)
    submitted_on: Mapped[date] = mapped_column(Date)
    adjudicated_on: Mapped[date | None] = mapped_column(Date)
    billed_cents: Mapped[int] = mapped_column(BigInteger)
    paid_cents: Mapped[int] = mapped_column(BigInteger)

    denial_codes: Mapped[list[ClaimDenialCodeRow]] = relationship(
        lazy="raise", order_by="ClaimDenialCodeRow.position", viewonly=True
    )
    line_items: Mapped[list[LineItemRow]] = relationship(
        lazy="raise", order_by="LineItemRow.position", viewonly=True
    )


class ClaimDenialCodeRow(Base):
    __tablename__ = "claim_denial_codes"
    __table_args__ = (UniqueConstraint("claim_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    group_code: Mapped[str] = mapped_column(String(2))
    carc: Mapped[str] = mapped_column(String(16))
    rarc: Mapped[str | None] = mapped_column(String(16))


class StatementRow(Base):
    __tablename__ = "statements"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    statement_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    # Denormalised totals, recomputed by every write that touches the statement.
    total_patient_responsibility_cents: Mapped[int] = mapped_column(BigInteger)
    total_paid_cents: Mapped[int] = mapped_column(BigInteger)
    balance_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(ENUM)
    line_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    line_items: Mapped[list[LineItemRow]] = relationship(
        lazy="raise", order_by="LineItemRow.position", viewonly=True
    )
    payments: Mapped[list[PaymentRow]] = relationship(
        lazy="raise", order_by="(PaymentRow.posted_at, PaymentRow.id)", viewonly=True
    )


class LineItemRow(Base):
    __tablename__ = "line_items"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"), index=True)
    claim_id: Mapped[str | None] = mapped_column(ForeignKey("claims.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    service_date: Mapped[date] = mapped_column(Date)
    provider_name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(16))
    code_system: Mapped[str] = mapped_column(String(16))
    modifiers: Mapped[list[str]] = mapped_column(JSON)
    units: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    billed_cents: Mapped[int] = mapped_column(BigInteger)
    allowed_cents: Mapped[int] = mapped_column(BigInteger)
    insurance_paid_cents: Mapped[int] = mapped_column(BigInteger)
    insurance_pending_cents: Mapped[int] = mapped_column(BigInteger)
    deductible_cents: Mapped[int] = mapped_column(BigInteger)
    coinsurance_cents: Mapped[int] = mapped_column(BigInteger)
    copay_cents: Mapped[int] = mapped_column(BigInteger)
    not_covered_cents: Mapped[int] = mapped_column(BigInteger)

    adjustments: Mapped[list[AdjustmentRow]] = relationship(
        lazy="raise", order_by="AdjustmentRow.position", viewonly=True
    )


class AdjustmentRow(Base):
    __tablename__ = "line_item_adjustments"
    __table_args__ = (UniqueConstraint("line_item_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    line_item_id: Mapped[str] = mapped_column(ForeignKey("line_items.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    group_code: Mapped[str] = mapped_column(String(2))  # CO / PR / OA / PI
    carc: Mapped[str] = mapped_column(String(16))
    rarc: Mapped[str | None] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)


class PaymentRow(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    statement_id: Mapped[str | None] = mapped_column(ForeignKey("statements.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(ENUM)
    source: Mapped[str] = mapped_column(ENUM)
    external_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)


class PaymentPlanRow(Base):
    __tablename__ = "payment_plans"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    down_payment_cents: Mapped[int] = mapped_column(BigInteger)
    months: Mapped[int] = mapped_column(Integer)
    installment_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(ENUM)
    requires_approval: Mapped[bool] = mapped_column(Boolean)
    approver: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)

    statements: Mapped[list[PlanStatementRow]] = relationship(
        lazy="raise", order_by="PlanStatementRow.position", viewonly=True
    )
    installments: Mapped[list[InstallmentRow]] = relationship(
        lazy="raise", order_by="InstallmentRow.sequence", viewonly=True
    )


class PlanStatementRow(Base):
    __tablename__ = "payment_plan_statements"

    plan_id: Mapped[str] = mapped_column(ForeignKey("payment_plans.id", ondelete="CASCADE"), primary_key=True)
    statement_id: Mapped[str] = mapped_column(ForeignKey("statements.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class InstallmentRow(Base):
    __tablename__ = "plan_installments"
    __table_args__ = (UniqueConstraint("plan_id", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("payment_plans.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(ENUM)


class TicketRow(Base):
    __tablename__ = "tickets"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    thread_id: Mapped[str] = mapped_column(String(128), index=True)
    statement_id: Mapped[str | None] = mapped_column(ForeignKey("statements.id"))
    reason: Mapped[str] = mapped_column(ENUM)
    priority: Mapped[str] = mapped_column(ENUM)
    summary: Mapped[str] = mapped_column(Text)
    transcript: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(ENUM)
    assignee: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)


class CommunicationRow(Base):
    __tablename__ = "communications"
    # NULL external ids are distinct on SQLite and PostgreSQL, so the constraint
    # only dedupes messages that carry a provider id (e.g. a Twilio MessageSid).
    __table_args__ = (
        UniqueConstraint("patient_id", "external_id"),
        Index("ix_communications_patient_thread", "patient_id", "thread_id"),
    )

    # An integer key gives a total order even when the clock repeats itself.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))
    thread_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(ENUM)
    direction: Mapped[str] = mapped_column(ENUM)
    author: Mapped[str] = mapped_column(ENUM)
    text: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChangeRow(Base):
    """The change feed read by ``list_recent_changes`` (outreach polls it)."""

    __tablename__ = "ledger_changes"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(ENUM)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    resource_id: Mapped[str] = mapped_column(ID)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


LEDGER_TABLES: tuple[str, ...] = (
    "practices",
    "patients",
    "coverages",
    "claims",
    "claim_denial_codes",
    "statements",
    "line_items",
    "line_item_adjustments",
    "payments",
    "payment_plans",
    "payment_plan_statements",
    "plan_installments",
    "tickets",
    "communications",
    "ledger_changes",
)
