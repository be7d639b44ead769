"""Our own domain models, in and out of every ``BillingPlatform`` adapter.

Money is integer cents everywhere. Dates of service and statement dates are
``date``; instants are timezone-aware ``datetime``. Models are frozen so a value
read from the platform cannot be mutated on its way to a patient.

Ledger invariants (DESIGN.md), per line item:
    billed = allowed + contractual adjustment (Σ CO adjustments)
    allowed = insurance paid + insurance pending + patient responsibility
    patient responsibility = deductible + coinsurance + copay + not covered
and per statement:
    balance = Σ patient responsibility − Σ patient payments applied to it

``insurance_pending_cents`` extends DESIGN.md's second invariant for claims still
with the payer: until adjudication the allowed amount is held as "pending" and
the patient owes nothing for that line yet.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, computed_field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Channel(StrEnum):
    PORTAL = "portal"
    SMS = "sms"
    EMAIL = "email"  # outbound outreach email (replies come back through the portal chat)


class Language(StrEnum):
    EN = "en"
    ES = "es"


class GroupCode(StrEnum):
    """X12 claim adjustment group codes."""

    CO = "CO"  # contractual obligation: the provider writes it off
    PR = "PR"  # patient responsibility
    OA = "OA"  # other adjustment
    PI = "PI"  # payer-initiated reduction


class CoverageRank(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


class ClaimStatus(StrEnum):
    SUBMITTED = "submitted"
    PENDING = "pending"
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"
    DENIED = "denied"
    APPEALED = "appealed"


class StatementStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CREDIT = "credit"  # the patient overpaid: the practice owes them


class PaymentMethod(StrEnum):
    CARD = "card"
    ACH = "ach"
    CASH = "cash"
    CHECK = "check"


class PaymentSource(StrEnum):
    PORTAL = "portal"
    PAYMENT_LINK = "payment_link"
    FRONT_DESK = "front_desk"
    MAIL = "mail"
    PLAN_INSTALLMENT = "plan_installment"


class PlanStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    ACTIVE = "active"
    DEFAULTED = "defaulted"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    DENIED = "denied"


class InstallmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    PAID = "paid"
    MISSED = "missed"


class TicketReason(StrEnum):
    LOW_CONFIDENCE = "low_confidence"
    FRUSTRATION = "frustration"
    DISPUTE_ALREADY_PAID = "dispute_already_paid"
    DISPUTE_CHARGE = "dispute_charge"
    FINANCIAL_HARDSHIP = "financial_hardship"
    LEGAL = "legal"
    REQUESTED_HUMAN = "requested_human"
    REPAIR_FAILURE = "repair_failure"
    AUTH_LOCKED = "auth_locked"
    PLAN_APPROVAL = "plan_approval"
    UPDATE_INSURANCE_OR_CONTACT = "update_insurance_or_contact"
    REFUND_REQUEST = "refund_request"
    OTHER = "other"


class TicketPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Author(StrEnum):
    BOT = "bot"
    PATIENT = "patient"
    STAFF = "staff"
    SYSTEM = "system"


class ChangeKind(StrEnum):
    STATEMENT_CREATED = "statement_created"
    PAYMENT_POSTED = "payment_posted"
    PLAN_CREATED = "plan_created"
    PLAN_STATUS_CHANGED = "plan_status_changed"  # e.g. a plan defaulted or was cancelled


# --------------------------------------------------------------------------- people


class Practice(_Model):
    id: str
    name: str
    phone: str
    address: str
    timezone: str = "America/New_York"


class Patient(_Model):
    id: str
    practice_id: str
    first_name: str
    last_name: str
    date_of_birth: date
    phone: str | None = None  # E.164, e.g. +15555550123
    email: str | None = None
    address_line: str
    city: str
    state: str
    zip_code: str
    language: Language = Language.EN
    preferred_channel: Channel = Channel.PORTAL
    sms_consent: bool = False
    timezone: str = "America/New_York"
    portal_user_id: str | None = None
    scenario_tags: tuple[str, ...] = ()


class Coverage(_Model):
    id: str
    patient_id: str
    payer_name: str
    plan_type: str  # PPO, HMO, HDHP, EPO, POS, Medicare, Medicaid, ...
    member_id: str
    rank: CoverageRank = CoverageRank.PRIMARY
    deductible_cents: int = Field(ge=0)
    deductible_met_cents: int = Field(ge=0)
    out_of_pocket_max_cents: int = Field(ge=0)
    out_of_pocket_met_cents: int = Field(ge=0)
    coinsurance_percent: int = Field(ge=0, le=100)
    copay_cents: int = Field(ge=0)
    active: bool = True


# --------------------------------------------------------------------------- claims and lines


class Adjustment(_Model):
    group_code: GroupCode
    carc: str  # Claim Adjustment Reason Code, e.g. "45"
    rarc: str | None = None  # Remittance Advice Remark Code, e.g. "N130"
    amount_cents: int


class LineItem(_Model):
    id: str
    statement_id: str
    claim_id: str | None
    service_date: date
    provider_name: str
    code: str  # CPT (Level I) or HCPCS Level II
    code_system: str  # "CPT" | "HCPCS"
    modifiers: tuple[str, ...] = ()
    units: int = Field(default=1, ge=1)
    description: str  # our own plain-language text, never AMA's descriptor
    billed_cents: int = Field(ge=0)
    allowed_cents: int = Field(ge=0)
    insurance_paid_cents: int = Field(ge=0)
    insurance_pending_cents: int = Field(default=0, ge=0)
    adjustments: tuple[Adjustment, ...] = ()
    deductible_cents: int = Field(default=0, ge=0)
    coinsurance_cents: int = Field(default=0, ge=0)
    copay_cents: int = Field(default=0, ge=0)
    not_covered_cents: int = Field(default=0, ge=0)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented pattern
    @property
    def contractual_adjustment_cents(self) -> int:
        return sum(a.amount_cents for a in self.adjustments if a.group_code is GroupCode.CO)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented pattern
    @property
    def patient_responsibility_cents(self) -> int:
        return self.deductible_cents + self.coinsurance_cents + self.copay_cents + self.not_covered_cents


class ClaimCode(_Model):
    group_code: GroupCode
    carc: str
    rarc: str | None = None


class Claim(_Model):
    id: str
    patient_id: str
    claim_number: str
    payer_name: str
    coverage_rank: CoverageRank = CoverageRank.PRIMARY
    status: ClaimStatus
    service_date: date
    submitted_on: date
    adjudicated_on: date | None = None
    billed_cents: int = Field(ge=0)
    paid_cents: int = Field(ge=0)
    denial_codes: tuple[ClaimCode, ...] = ()
    line_item_ids: tuple[str, ...] = ()


# --------------------------------------------------------------------------- statements and money


class Payment(_Model):
    id: str
    patient_id: str
    statement_id: str | None
    amount_cents: int = Field(gt=0)
    posted_at: datetime
    method: PaymentMethod
    source: PaymentSource
    external_id: str | None = None
    idempotency_key: str


class StatementSummary(_Model):
    id: str
    number: str
    patient_id: str
    statement_date: date
    due_date: date
    total_patient_responsibility_cents: int
    total_paid_cents: int
    balance_cents: int  # negative means a credit owed to the patient
    status: StatementStatus
    line_count: int


class Statement(_Model):
    id: str
    number: str
    patient_id: str
    statement_date: date
    due_date: date
    line_items: tuple[LineItem, ...]
    payments: tuple[Payment, ...]
    balance_cents: int
    status: StatementStatus

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented pattern
    @property
    def total_patient_responsibility_cents(self) -> int:
        return sum(li.patient_responsibility_cents for li in self.line_items)

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented pattern
    @property
    def total_paid_cents(self) -> int:
        return sum(p.amount_cents for p in self.payments)

    def aging_days(self, today: date) -> int:
        """Days past the statement date (0 before it)."""
        return max(0, (today - self.statement_date).days)


class Installment(_Model):
    sequence: int = Field(ge=0)  # 0 = down payment when there is one
    due_date: date
    amount_cents: int = Field(gt=0)
    status: InstallmentStatus = InstallmentStatus.SCHEDULED


class PaymentPlan(_Model):
    id: str
    patient_id: str
    statement_ids: tuple[str, ...]
    total_cents: int = Field(gt=0)
    down_payment_cents: int = Field(ge=0)
    months: int = Field(gt=0)
    installment_cents: int = Field(gt=0)  # the regular monthly amount
    installments: tuple[Installment, ...]
    status: PlanStatus
    approver: str | None = None
    created_at: datetime
    idempotency_key: str


class PlanRequest(_Model):
    """A plan to create. The schedule must sum exactly to ``total_cents``."""

    statement_ids: tuple[str, ...]
    total_cents: int
    down_payment_cents: int
    months: int
    installment_cents: int
    installments: tuple[Installment, ...]
    requires_approval: bool = False
    idempotency_key: str


class PaymentRequest(_Model):
    statement_id: str | None
    amount_cents: int
    method: PaymentMethod
    source: PaymentSource
    external_id: str | None = None
    idempotency_key: str


class AccountSummary(_Model):
    patient_id: str
    balance_cents: int  # Σ over statements; negative = credit
    open_statement_count: int
    credit_cents: int  # ≥ 0: what the practice owes the patient
    has_active_plan: bool
    has_defaulted_plan: bool


# --------------------------------------------------------------------------- tickets and communications


class TranscriptLine(_Model):
    author: Author
    text: str
    at: datetime


class TicketRequest(_Model):
    thread_id: str
    statement_id: str | None
    reason: TicketReason
    priority: TicketPriority
    summary: str
    transcript: tuple[TranscriptLine, ...]
    idempotency_key: str


class Ticket(_Model):
    id: str
    patient_id: str
    thread_id: str
    statement_id: str | None
    reason: TicketReason
    priority: TicketPriority
    summary: str
    transcript: tuple[TranscriptLine, ...]
    status: TicketStatus
    assignee: str | None = None
    created_at: datetime
    idempotency_key: str

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented pattern
    @property
    def reference(self) -> str:
        """What the patient is told and can read back over the phone: a platform's own short id as it is,
        ours (``tkt_<32 hex>``) as its first 8 hex digits in capitals. Staff see it beside the ticket."""
        if len(self.id) <= 12:
            return self.id
        return self.id.rsplit("_", 1)[-1][:8].upper()


class CommunicationIn(_Model):
    thread_id: str
    channel: Channel
    direction: Direction
    author: Author
    text: str
    external_id: str | None = None  # e.g. Twilio MessageSid


class Communication(_Model):
    id: str
    patient_id: str
    thread_id: str
    channel: Channel
    direction: Direction
    author: Author
    text: str
    external_id: str | None = None
    created_at: datetime


class Change(_Model):
    kind: ChangeKind
    patient_id: str
    resource_id: str
    at: datetime


class AccountActivity(_Model):
    """An account whose patient balance may have changed, with the facts outreach decides from.

    Every figure comes from the platform's own records; nothing here is text a patient wrote."""

    patient_id: str
    balance_cents: int  # Σ statements − unapplied payments; ≤ 0 means paid (or a credit)
    # How and when the patient may be reached (the patient's record).
    phone: str | None
    email_on_file: bool
    # The address itself, so outreach can read its unsubscribe/bounce standing in bulk (None: not read).
    email: str | None = None
    sms_consent: bool
    preferred_channel: Channel
    language: Language
    state: str
    zip_code: str
    timezone: str
    last_change: ChangeKind
    changed_at: datetime
    newest_statement_id: str | None
    newest_statement_date: date | None
    oldest_open_statement_date: date | None
    oldest_open_service_date: date | None
    payment_count: int = Field(ge=0)
    on_time_payment_count: int = Field(ge=0)  # posted on or before its statement's due date
    partial_payment_count: int = Field(ge=0)  # less than its statement's patient responsibility
    median_days_to_pay: int | None  # statement date to payment, over payments applied to statements
    last_payment_at: datetime | None
    plan_count: int = Field(ge=0)
    plan_default_count: int = Field(ge=0)
    plan_in_good_standing: bool  # an active plan with no missed installment
    open_dispute: bool  # an unresolved ticket disputing a charge or saying it was paid
    legal_flag: bool  # a ticket mentioning an attorney or legal action, whatever its status
    hardship_review: bool  # an unresolved financial-hardship ticket
    self_pay: bool  # no active coverage


class BalanceChanges(_Model):
    """One page of ``list_balance_changes``: pass ``cursor`` back to read what changed after it."""

    accounts: tuple[AccountActivity, ...]
    cursor: str


class VerificationResult(_Model):
    verified: bool
    patient_id: str | None  # set only when verified
