"""``LedgerPlatform``: the embedded reference implementation of ``BillingPlatform``.

Each public method is one unit of work: its own session, at most one commit.
Writes first *touch* the patient's row (a no-op ``UPDATE``): on PostgreSQL that
takes a row lock; on SQLite a write transaction holds the database write lock from
its start (``tools.db.write_transaction``). So writes for one patient are serialised and the checks they make
(an open plan, a statement balance) cannot race. Idempotency keys are unique in
the schema; a concurrent duplicate that loses the race gets an ``IntegrityError``,
rolls back and re-reads the winner.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session, joinedload, selectinload

from tools.db import write_session, write_transaction
from tools.errors import (
    ActivePlanExists,
    IdempotencyConflict,
    InvalidAmount,
    InvalidTransition,
    NotFound,
    PatientNotFound,
    PlanNotFound,
    PlanScheduleMismatch,
    StatementNotFound,
    TicketNotFound,
)
from tools.platforms.base import BillingPlatform
from tools.platforms.ledger import convert
from tools.platforms.ledger.invariants import check_statement, derive_status, schedule_total
from tools.platforms.ledger.loader import PracticeData, bulk_load
from tools.platforms.ledger.tables import (
    AdjustmentRow,
    ChangeRow,
    ClaimRow,
    CommunicationRow,
    CoverageRow,
    InstallmentRow,
    LineItemRow,
    PatientRow,
    PaymentPlanRow,
    PaymentRow,
    PlanStatementRow,
    PracticeRow,
    StatementRow,
    TicketRow,
)
from tools.platforms.models import (
    AccountActivity,
    AccountSummary,
    BalanceChanges,
    Change,
    ChangeKind,
    Channel,
    Claim,
    Communication,
    CommunicationIn,
    Coverage,
    CoverageRank,
    Language,
    Patient,
    Payment,
    PaymentPlan,
    PaymentRequest,
    PlanRequest,
    PlanStatus,
    Practice,
    Statement,
    StatementStatus,
    StatementSummary,
    Ticket,
    TicketReason,
    TicketRequest,
    TicketStatus,
    VerificationResult,
)

T = TypeVar("T")

OPEN_PLAN_STATUSES = (PlanStatus.ACTIVE.value, PlanStatus.PENDING_APPROVAL.value)

PLAN_TRANSITIONS: dict[PlanStatus, frozenset[PlanStatus]] = {
    PlanStatus.PENDING_APPROVAL: frozenset({PlanStatus.ACTIVE, PlanStatus.DENIED, PlanStatus.CANCELLED}),
    PlanStatus.ACTIVE: frozenset({PlanStatus.COMPLETED, PlanStatus.DEFAULTED, PlanStatus.CANCELLED}),
    PlanStatus.DEFAULTED: frozenset({PlanStatus.ACTIVE, PlanStatus.CANCELLED}),
    PlanStatus.COMPLETED: frozenset(),
    PlanStatus.CANCELLED: frozenset(),
    PlanStatus.DENIED: frozenset(),
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _zip5(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())[:5]


def _statement_query(where: ColumnElement[bool]) -> Select[StatementRow]:
    """A statement with its line items and their adjustments in its own query (one round trip, not
    three), and its payments."""
    return (
        select(StatementRow)
        .options(
            joinedload(StatementRow.line_items).joinedload(LineItemRow.adjustments),
            selectinload(StatementRow.payments),
        )
        .where(where)
        .execution_options(populate_existing=True)
    )


def _require_patient(s: Session, patient_id: str) -> PatientRow:
    row = s.get(PatientRow, patient_id)
    if row is None:
        raise PatientNotFound(f"no patient {patient_id}")
    return row


def _known(s: Session, patient_id: str, found: object) -> None:
    """Reads filter by patient: a non-empty answer proves the patient exists; only an empty one needs the
    extra look-up that tells "no rows" from "no such patient" (one query less per read)."""
    if not found:
        _require_patient(s, patient_id)


class LedgerPlatform(BillingPlatform):
    """The embedded ledger on SQLAlchemy 2.0 async (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock or _utcnow

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the ledger clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    async def bulk_load(self, data: PracticeData) -> None:
        """Insert a whole practice after validating every invariant (``InvariantViolation``)."""
        await bulk_load(self._engine, data)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _lock_patient(s: Session, patient_id: str) -> None:
        """Serialise writes for one patient (row lock on PostgreSQL; on SQLite the unit already holds
        the database write lock, taken by ``BEGIN IMMEDIATE``)."""
        result = s.connection().execute(
            update(PatientRow).where(PatientRow.id == patient_id).values(timezone=PatientRow.timezone)
        )
        if result.rowcount == 0:
            raise PatientNotFound(f"no patient {patient_id}")

    @staticmethod
    def _patient_statement(s: Session, patient_id: str, statement_id: str) -> StatementRow:
        row = s.get(StatementRow, statement_id)
        if row is None or row.patient_id != patient_id:
            raise StatementNotFound(f"no statement {statement_id}")
        return row

    @staticmethod
    def _load_statement(s: Session, where: ColumnElement[bool]) -> StatementRow | None:
        return s.execute(_statement_query(where)).unique().scalar_one_or_none()

    def _recompute_statement(self, s: Session, row: StatementRow) -> None:
        """Recompute a statement's totals from its rows and check its invariants before commit."""
        s.flush()
        loaded = self._load_statement(s, StatementRow.id == row.id)
        assert loaded is not None
        lines = tuple(convert.to_line_item(li) for li in loaded.line_items)
        payments = tuple(convert.to_payment(p) for p in loaded.payments)
        responsibility = sum(li.patient_responsibility_cents for li in lines)
        paid = sum(p.amount_cents for p in payments)
        balance = responsibility - paid
        statement = Statement(
            id=row.id,
            number=row.number,
            patient_id=row.patient_id,
            statement_date=row.statement_date,
            due_date=row.due_date,
            line_items=lines,
            payments=payments,
            balance_cents=balance,
            status=derive_status(balance),
        )
        check_statement(statement)
        row.total_patient_responsibility_cents = responsibility
        row.total_paid_cents = paid
        row.balance_cents = balance
        row.status = statement.status.value
        row.line_count = len(lines)

    @staticmethod
    def _plan_by(s: Session, *, plan_id: str | None = None, key: str | None = None) -> PaymentPlanRow | None:
        query = select(PaymentPlanRow).options(
            selectinload(PaymentPlanRow.statements), selectinload(PaymentPlanRow.installments)
        )
        if plan_id is not None:
            query = query.where(PaymentPlanRow.id == plan_id)
        if key is not None:
            query = query.where(PaymentPlanRow.idempotency_key == key)
        return s.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()

    def _change(self, kind: ChangeKind, patient_id: str, resource_id: str, at: datetime) -> ChangeRow:
        return ChangeRow(kind=kind.value, patient_id=patient_id, resource_id=resource_id, at=at)

    # ------------------------------------------------------------------ identity

    async def get_practice(self) -> Practice:
        async with self._sessions() as s:
            row = (
                await s.execute(select(PracticeRow).order_by(PracticeRow.id).limit(1))
            ).scalar_one_or_none()
            if row is None:
                raise NotFound("the ledger holds no practice")
            return convert.to_practice(row)

    async def find_patient_by_portal_identity(self, portal_user_id: str) -> Patient | None:
        async with self._sessions() as s:
            query = select(PatientRow).where(PatientRow.portal_user_id == portal_user_id)
            row = (await s.execute(query)).scalar_one_or_none()
            return None if row is None else convert.to_patient(row)

    async def list_patients(self, limit: int, offset: int = 0) -> list[Patient]:
        """The practice's patient directory, in id order.

        Ledger-only (not part of the ``BillingPlatform`` port, which never lists
        patients): the demo portal's patient picker and the evals use it."""
        async with self._sessions() as s:
            rows = await s.scalars(select(PatientRow).order_by(PatientRow.id).limit(limit).offset(offset))
            return [convert.to_patient(r) for r in rows]

    async def find_patients_by_phone(self, phone: str) -> list[Patient]:
        e164 = convert.normalize_phone(phone)
        if e164 is None:
            return []
        async with self._sessions() as s:
            rows = await s.scalars(select(PatientRow).where(PatientRow.phone == e164).order_by(PatientRow.id))
            return [convert.to_patient(r) for r in rows]

    async def verify_identity(
        self,
        candidate_patient_ids: list[str],
        date_of_birth: date,
        zip_code: str | None,
        statement_number: str | None,
    ) -> VerificationResult:
        refused = VerificationResult(verified=False, patient_id=None)
        if not candidate_patient_ids or (not zip_code and not statement_number):
            return refused
        async with self._sessions() as s:
            rows = list(
                await s.scalars(
                    select(PatientRow).where(
                        PatientRow.id.in_(candidate_patient_ids), PatientRow.date_of_birth == date_of_birth
                    )
                )
            )
            if not rows:
                return refused
            by_statement: set[str] = set()
            if statement_number:
                owners = await s.scalars(
                    select(StatementRow.patient_id).where(
                        StatementRow.number == statement_number.strip(),
                        StatementRow.patient_id.in_([r.id for r in rows]),
                    )
                )
                by_statement = set(owners)
        wanted_zip = _zip5(zip_code) if zip_code else ""
        by_zip = {
            r.id for r in rows if wanted_zip and len(wanted_zip) == 5 and _zip5(r.zip_code) == wanted_zip
        }
        matches = by_zip | by_statement
        if len(matches) > 1 and by_statement:
            # Relatives sharing a phone, a birthday and a ZIP: the statement number decides.
            matches = by_statement
        if len(matches) != 1:
            return refused
        return VerificationResult(verified=True, patient_id=next(iter(matches)))

    async def get_patient(self, patient_id: str) -> Patient:
        return await self._read(lambda s: convert.to_patient(_require_patient(s, patient_id)))

    # ------------------------------------------------------------------ reads

    async def _read(self, fn: Callable[[Session], T]) -> T:
        """Run a read, written once against a synchronous ORM session (``AsyncSession.run_sync``)."""
        async with self._sessions() as s:
            return await s.run_sync(fn)

    async def _write(self, fn: Callable[[Session], T]) -> T:
        """Run a write, written once against a synchronous ORM session, as one write transaction
        (``tools.db.write_transaction``): committed once, after ``fn`` returns."""
        async with write_session(self._engine) as s:
            return await s.run_sync(fn)

    async def get_account_summary(self, patient_id: str) -> AccountSummary:
        def read(s: Session) -> AccountSummary:
            statements = s.execute(
                select(StatementRow.balance_cents).where(StatementRow.patient_id == patient_id)
            ).all()
            _known(s, patient_id, statements)
            # The unapplied payments and the plan flags in one round trip.
            plans = select(PaymentPlanRow.id).where(PaymentPlanRow.patient_id == patient_id)
            unapplied, has_active, has_defaulted = s.execute(
                select(
                    select(func.coalesce(func.sum(PaymentRow.amount_cents), 0))
                    .where(PaymentRow.patient_id == patient_id, PaymentRow.statement_id.is_(None))
                    .scalar_subquery(),
                    plans.where(PaymentPlanRow.status == PlanStatus.ACTIVE.value).exists(),
                    plans.where(PaymentPlanRow.status == PlanStatus.DEFAULTED.value).exists(),
                )
            ).one()
            balance = sum(int(b) for (b,) in statements) - int(unapplied or 0)
            return AccountSummary(
                patient_id=patient_id,
                balance_cents=balance,
                open_statement_count=sum(
                    1 for (b,) in statements if derive_status(int(b)) is StatementStatus.OPEN
                ),
                credit_cents=max(0, -balance),
                has_active_plan=bool(has_active),
                has_defaulted_plan=bool(has_defaulted),
            )

        return await self._read(read)

    async def list_coverages(self, patient_id: str) -> list[Coverage]:
        def read(s: Session) -> list[Coverage]:
            rows = s.scalars(
                select(CoverageRow).where(CoverageRow.patient_id == patient_id).order_by(CoverageRow.id)
            )
            coverages = [convert.to_coverage(r) for r in rows]
            _known(s, patient_id, coverages)
            return sorted(coverages, key=lambda c: (c.rank is not CoverageRank.PRIMARY, c.id))

        return await self._read(read)

    async def list_statements(self, patient_id: str) -> list[StatementSummary]:
        def read(s: Session) -> list[StatementSummary]:
            rows = s.scalars(
                select(StatementRow)
                .where(StatementRow.patient_id == patient_id)
                .order_by(StatementRow.statement_date.desc(), StatementRow.number.desc())
            )
            summaries = [convert.to_statement_summary(r) for r in rows]
            _known(s, patient_id, summaries)
            return summaries

        return await self._read(read)

    async def get_statement(self, patient_id: str, statement_id: str) -> Statement:
        def read(s: Session) -> Statement:
            where = (StatementRow.id == statement_id) & (StatementRow.patient_id == patient_id)
            row = s.execute(_statement_query(where)).unique().scalar_one_or_none()
            _known(s, patient_id, row)
            if row is None:
                raise StatementNotFound(f"no statement {statement_id}")
            return convert.to_statement(row)

        return await self._read(read)

    async def find_statement_by_number(self, patient_id: str, number: str) -> Statement | None:
        def read(s: Session) -> Statement | None:
            where = (StatementRow.number == number.strip()) & (StatementRow.patient_id == patient_id)
            row = s.execute(_statement_query(where)).unique().scalar_one_or_none()
            _known(s, patient_id, row)
            return None if row is None else convert.to_statement(row)

        return await self._read(read)

    async def list_claims(self, patient_id: str) -> list[Claim]:
        def read(s: Session) -> list[Claim]:
            rows = s.scalars(
                select(ClaimRow)
                .options(selectinload(ClaimRow.denial_codes), selectinload(ClaimRow.line_items))
                .where(ClaimRow.patient_id == patient_id)
                .order_by(ClaimRow.service_date.desc(), ClaimRow.claim_number)
            )
            claims = [convert.to_claim(r) for r in rows]
            _known(s, patient_id, claims)
            return claims

        return await self._read(read)

    async def list_payments(self, patient_id: str) -> list[Payment]:
        """Newest first."""

        def read(s: Session) -> list[Payment]:
            rows = s.scalars(
                select(PaymentRow)
                .where(PaymentRow.patient_id == patient_id)
                .order_by(PaymentRow.posted_at.desc(), PaymentRow.id)
            )
            payments = [convert.to_payment(r) for r in rows]
            _known(s, patient_id, payments)
            return payments

        return await self._read(read)

    async def list_payment_plans(self, patient_id: str) -> list[PaymentPlan]:
        """Newest first."""

        def read(s: Session) -> list[PaymentPlan]:
            rows = s.scalars(
                select(PaymentPlanRow)
                .options(selectinload(PaymentPlanRow.statements), selectinload(PaymentPlanRow.installments))
                .where(PaymentPlanRow.patient_id == patient_id)
                .order_by(PaymentPlanRow.created_at.desc(), PaymentPlanRow.id)
            )
            plans = [convert.to_plan(r) for r in rows]
            _known(s, patient_id, plans)
            return plans

        return await self._read(read)

    async def list_tickets(self, patient_id: str) -> list[Ticket]:
        """Newest first."""

        def read(s: Session) -> list[Ticket]:
            rows = s.scalars(
                select(TicketRow)
                .where(TicketRow.patient_id == patient_id)
                .order_by(TicketRow.created_at.desc(), TicketRow.id)
            )
            tickets = [convert.to_ticket(r) for r in rows]
            _known(s, patient_id, tickets)
            return tickets

        return await self._read(read)

    async def list_communications(
        self, patient_id: str, thread_id: str | None, limit: int
    ) -> list[Communication]:
        """The last ``limit`` communications (of one thread, or all), oldest first."""
        if limit <= 0:
            return []

        def read(s: Session) -> list[Communication]:
            query = select(CommunicationRow).where(CommunicationRow.patient_id == patient_id)
            if thread_id is not None:
                query = query.where(CommunicationRow.thread_id == thread_id)
            rows = list(s.scalars(query.order_by(CommunicationRow.seq.desc()).limit(limit)))
            _known(s, patient_id, rows)
            return [convert.to_communication(r) for r in reversed(rows)]

        return await self._read(read)

    # ------------------------------------------------------------------ writes

    async def record_payment(self, patient_id: str, request: PaymentRequest) -> Payment:
        def record(s: Session) -> Payment:
            self._lock_patient(s, patient_id)
            existing = s.scalar(
                select(PaymentRow).where(PaymentRow.idempotency_key == request.idempotency_key)
            )
            if existing is not None:
                return _same_payment(existing, patient_id, request)
            if request.amount_cents <= 0:
                raise InvalidAmount(f"a payment must be positive, got {request.amount_cents} cents")
            statement = None
            if request.statement_id is not None:
                statement = self._patient_statement(s, patient_id, request.statement_id)
            now = self._now()
            row = PaymentRow(
                id=_new_id("pay"),
                patient_id=patient_id,
                statement_id=request.statement_id,
                amount_cents=request.amount_cents,
                posted_at=now,
                method=request.method.value,
                source=request.source.value,
                external_id=request.external_id,
                idempotency_key=request.idempotency_key,
            )
            s.add(row)
            s.add(self._change(ChangeKind.PAYMENT_POSTED, patient_id, row.id, now))
            if statement is not None:
                self._recompute_statement(s, statement)
            return convert.to_payment(row)

        try:
            return await self._write(record)
        except IntegrityError:
            # A concurrent request with the same key won the race: return its payment.
            winner = await self._read(
                lambda s: s.scalar(
                    select(PaymentRow).where(PaymentRow.idempotency_key == request.idempotency_key)
                )
            )
            if winner is None:
                raise
            return _same_payment(winner, patient_id, request)

    async def create_payment_plan(self, patient_id: str, request: PlanRequest) -> PaymentPlan:
        def create(s: Session) -> PaymentPlan:
            self._lock_patient(s, patient_id)
            existing = self._plan_by(s, key=request.idempotency_key)
            if existing is not None:
                return _same_plan(convert.to_plan(existing), existing.requires_approval, patient_id, request)
            _validate_plan(request)
            for sid in request.statement_ids:
                self._patient_statement(s, patient_id, sid)
            open_plan = s.scalar(
                select(PaymentPlanRow.id).where(
                    PaymentPlanRow.patient_id == patient_id, PaymentPlanRow.status.in_(OPEN_PLAN_STATUSES)
                )
            )
            if open_plan is not None:
                raise ActivePlanExists("the patient already has an active or pending payment plan")
            now = self._now()
            plan = PaymentPlan(
                id=_new_id("plan"),
                patient_id=patient_id,
                statement_ids=request.statement_ids,
                total_cents=request.total_cents,
                down_payment_cents=request.down_payment_cents,
                months=request.months,
                installment_cents=request.installment_cents,
                installments=tuple(sorted(request.installments, key=lambda i: i.sequence)),
                status=PlanStatus.PENDING_APPROVAL if request.requires_approval else PlanStatus.ACTIVE,
                approver=None,
                created_at=now,
                idempotency_key=request.idempotency_key,
            )
            row, links, installments = convert.plan_rows(plan, request.requires_approval)
            s.add(PaymentPlanRow(**row))
            s.flush()
            s.add_all(PlanStatementRow(**link) for link in links)
            s.add_all(InstallmentRow(**inst) for inst in installments)
            s.add(self._change(ChangeKind.PLAN_CREATED, patient_id, plan.id, now))
            return plan

        def same_as_winner(s: Session) -> PaymentPlan | None:
            winner = self._plan_by(s, key=request.idempotency_key)
            if winner is None:
                return None
            return _same_plan(convert.to_plan(winner), winner.requires_approval, patient_id, request)

        try:
            return await self._write(create)
        except IntegrityError:
            plan = await self._read(same_as_winner)
            if plan is None:
                raise
            return plan

    async def set_plan_status(
        self, patient_id: str, plan_id: str, status: PlanStatus, approver: str | None
    ) -> PaymentPlan:
        def change(s: Session) -> PaymentPlan:
            self._lock_patient(s, patient_id)
            row = self._plan_by(s, plan_id=plan_id)
            if row is None or row.patient_id != patient_id:
                raise PlanNotFound(f"no payment plan {plan_id}")
            current = PlanStatus(row.status)
            if current is status:
                return convert.to_plan(row)
            if status not in PLAN_TRANSITIONS[current]:
                raise InvalidTransition(f"a {current.value} plan cannot become {status.value}")
            if status is PlanStatus.ACTIVE:
                other = s.scalar(
                    select(PaymentPlanRow.id).where(
                        PaymentPlanRow.patient_id == patient_id,
                        PaymentPlanRow.id != plan_id,
                        PaymentPlanRow.status.in_(OPEN_PLAN_STATUSES),
                    )
                )
                if other is not None:
                    raise ActivePlanExists("the patient already has another active or pending payment plan")
            row.status = status.value
            if approver is not None:
                row.approver = approver
            row.updated_at = self._now()
            s.add(self._change(ChangeKind.PLAN_STATUS_CHANGED, patient_id, plan_id, row.updated_at))
            return convert.to_plan(row)

        return await self._write(change)

    async def create_ticket(self, patient_id: str, request: TicketRequest) -> Ticket:
        def create(s: Session) -> Ticket:
            self._lock_patient(s, patient_id)
            existing = s.scalar(select(TicketRow).where(TicketRow.idempotency_key == request.idempotency_key))
            if existing is not None:
                return _same_ticket(convert.to_ticket(existing), patient_id, request)
            if request.statement_id is not None:
                self._patient_statement(s, patient_id, request.statement_id)
            now = self._now()
            row = TicketRow(
                id=_new_id("tkt"),
                patient_id=patient_id,
                thread_id=request.thread_id,
                statement_id=request.statement_id,
                reason=request.reason.value,
                priority=request.priority.value,
                summary=request.summary,
                transcript=convert.transcript_json(request.transcript),
                status=TicketStatus.OPEN.value,
                assignee=None,
                created_at=now,
                updated_at=now,
                idempotency_key=request.idempotency_key,
            )
            s.add(row)
            s.flush()
            return convert.to_ticket(row)

        try:
            return await self._write(create)
        except IntegrityError:
            winner = await self._read(
                lambda s: s.scalar(
                    select(TicketRow).where(TicketRow.idempotency_key == request.idempotency_key)
                )
            )
            if winner is None:
                raise
            return _same_ticket(convert.to_ticket(winner), patient_id, request)

    async def update_ticket(self, ticket_id: str, status: TicketStatus, assignee: str | None) -> Ticket:
        """Set a ticket's status; ``assignee`` replaces the current one (``None`` keeps it,
        except when the ticket goes back to ``open``, which unassigns it)."""

        def change(s: Session) -> Ticket:
            row = s.get(TicketRow, ticket_id, with_for_update=True)
            if row is None:
                raise TicketNotFound(f"no ticket {ticket_id}")
            row.status = status.value
            if status is TicketStatus.OPEN or assignee is not None:
                row.assignee = assignee
            row.updated_at = self._now()
            return convert.to_ticket(row)

        return await self._write(change)

    async def log_communication(self, patient_id: str, communication: CommunicationIn) -> Communication:
        """Append a communication; one with an ``external_id`` already logged for this
        patient is not duplicated (the existing one is returned).

        One ``INSERT`` and its commit: an append checks nothing that a patient lock would have to
        protect, and the schema decides the two refusals — the foreign key (no such patient) and the
        unique ``(patient_id, external_id)`` (already logged, including by a concurrent duplicate)."""
        created_at = self._now()
        values: dict[str, object] = {
            "id": _new_id("com"),
            "patient_id": patient_id,
            "thread_id": communication.thread_id,
            "channel": communication.channel.value,
            "direction": communication.direction.value,
            "author": communication.author.value,
            "text": communication.text,
            "external_id": communication.external_id,
            "created_at": created_at,
        }
        try:
            # A Core INSERT on a plain connection: the ORM's unit of work costs several times the CPU of
            # the statement itself, and an append has nothing for it to track.
            async with write_transaction(self._engine) as conn:
                await conn.execute(insert(CommunicationRow), values)
            return convert.to_communication(CommunicationRow(**values))
        except IntegrityError:

            def already_logged(s: Session) -> Communication | None:
                _require_patient(s, patient_id)
                if communication.external_id is None:
                    return None
                winner = self._communication_by_external_id(s, patient_id, communication.external_id)
                return None if winner is None else convert.to_communication(winner)

            logged = await self._read(already_logged)
            if logged is not None:
                return logged
            raise

    @staticmethod
    def _communication_by_external_id(
        s: Session, patient_id: str, external_id: str
    ) -> CommunicationRow | None:
        return s.scalar(
            select(CommunicationRow).where(
                CommunicationRow.patient_id == patient_id, CommunicationRow.external_id == external_id
            )
        )

    # ------------------------------------------------------------------ outreach

    async def list_recent_changes(self, since: datetime, limit: int) -> list[Change]:
        """Changes strictly after ``since``, oldest first."""
        if limit <= 0:
            return []
        async with self._sessions() as s:
            rows = await s.scalars(
                select(ChangeRow)
                .where(ChangeRow.at > since)
                .order_by(ChangeRow.at, ChangeRow.seq)
                .limit(limit)
            )
            return [
                Change(kind=ChangeKind(r.kind), patient_id=r.patient_id, resource_id=r.resource_id, at=r.at)
                for r in rows
            ]

    async def list_balance_changes(self, cursor: str | None, limit: int) -> BalanceChanges:
        """The change feed's ``seq`` is the cursor. On PostgreSQL a sequence number is taken before its
        transaction commits, so a change can become visible after a later one; the feed therefore stops
        at changes younger than ``FEED_SETTLE``, which no write transaction of the ledger outlives."""
        after = _parse_cursor(cursor)
        if limit <= 0:
            return BalanceChanges(accounts=(), cursor=str(after))

        def read(s: Session) -> BalanceChanges:
            query = select(ChangeRow.seq, ChangeRow.patient_id, ChangeRow.kind, ChangeRow.at).where(
                ChangeRow.seq > after
            )
            if s.get_bind().dialect.name == "postgresql":
                query = query.where(ChangeRow.at <= self._now() - FEED_SETTLE)
            rows = s.execute(query.order_by(ChangeRow.seq).limit(limit)).all()
            if not rows:
                return BalanceChanges(accounts=(), cursor=str(after))
            last: dict[str, tuple[ChangeKind, datetime]] = {}
            for _seq, pid, kind, at in rows:
                last[pid] = (ChangeKind(kind), at)
            activity = {a.patient_id: a for a in _activity(s, list(last), last)}
            return BalanceChanges(
                accounts=tuple(activity[pid] for pid in last if pid in activity), cursor=str(rows[-1][0])
            )

        return await self._read(read)

    async def get_account_activity(self, patient_ids: list[str]) -> list[AccountActivity]:
        if not patient_ids:
            return []

        def read(s: Session) -> list[AccountActivity]:
            newest: dict[str, tuple[ChangeKind, datetime]] = {}
            for chunk in _chunks(sorted(set(patient_ids))):
                ranked = (
                    select(
                        ChangeRow.patient_id,
                        ChangeRow.kind,
                        ChangeRow.at,
                        func.row_number()
                        .over(partition_by=ChangeRow.patient_id, order_by=ChangeRow.seq.desc())
                        .label("n"),
                    )
                    .where(ChangeRow.patient_id.in_(chunk))
                    .subquery()
                )
                for pid, kind, at in s.execute(
                    select(ranked.c.patient_id, ranked.c.kind, ranked.c.at).where(ranked.c.n == 1)
                ):
                    newest[pid] = (ChangeKind(kind), at)
            return _activity(s, [p for p in patient_ids if p in newest], newest)

        return await self._read(read)

    async def post_statement(self, statement: Statement) -> Statement:
        """Add one new statement (a practice posting its monthly statements), as the change feed's
        ``statement_created``. Ledger-only, like ``list_patients``: a practice-management system posts
        its statements itself. Its invariants are checked first (``InvariantViolation``)."""
        check_statement(statement)
        if statement.payments:
            raise InvalidAmount("a new statement carries no payments yet")

        def post(s: Session) -> Statement:
            self._lock_patient(s, statement.patient_id)
            now = self._now()
            s.add(StatementRow(**convert.statement_row(statement, now)))
            s.flush()
            for position, li in enumerate(statement.line_items):
                row, adjustments = convert.line_item_rows(li, position)
                s.add(LineItemRow(**row))
                s.flush()
                s.add_all(AdjustmentRow(**a) for a in adjustments)
            s.add(self._change(ChangeKind.STATEMENT_CREATED, statement.patient_id, statement.id, now))
            return statement

        return await self._write(post)


FEED_SETTLE = timedelta(seconds=2)
_CHUNK = 2000
DISPUTE_REASONS = frozenset({TicketReason.DISPUTE_CHARGE.value, TicketReason.DISPUTE_ALREADY_PAID.value})


def _parse_cursor(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    if not cursor.isdigit():
        raise ValueError(f"not a cursor of this ledger: {cursor!r}")
    return int(cursor)


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)] or [[]]


def _activity(
    s: Session, patient_ids: list[str], changes: dict[str, tuple[ChangeKind, datetime]]
) -> list[AccountActivity]:
    """The outreach facts of many accounts in a handful of set queries (a decision pass reads
    thousands of accounts a page; one query per account would be the whole cost)."""
    facts: dict[str, dict[str, Any]] = {}
    for pid in patient_ids:
        facts[pid] = {
            "balance": 0,
            "newest": None,
            "oldest_open": None,
            "service": None,
            "payments": 0,
            "on_time": 0,
            "partial": 0,
            "days": [],
            "last_payment": None,
            "plans": 0,
            "defaults": 0,
            "good_plan": False,
            "dispute": False,
            "legal": False,
            "hardship": False,
            "covered": False,
        }
    statements: dict[str, tuple[date, date, int]] = {}
    people: dict[str, Any] = {}
    contact = select(
        PatientRow.id,
        PatientRow.phone,
        PatientRow.email,
        PatientRow.sms_consent,
        PatientRow.preferred_channel,
        PatientRow.language,
        PatientRow.state,
        PatientRow.zip_code,
        PatientRow.timezone,
    )
    for chunk in _chunks(list(facts)):
        people.update((row.id, row) for row in s.execute(contact.where(PatientRow.id.in_(chunk))))
        for sid, pid, st_date, due, resp, balance in s.execute(
            select(
                StatementRow.id,
                StatementRow.patient_id,
                StatementRow.statement_date,
                StatementRow.due_date,
                StatementRow.total_patient_responsibility_cents,
                StatementRow.balance_cents,
            ).where(StatementRow.patient_id.in_(chunk))
        ):
            f = facts[pid]
            f["balance"] += int(balance)
            statements[sid] = (st_date, due, int(resp))
            if f["newest"] is None or (st_date, sid) > f["newest"]:
                f["newest"] = (st_date, sid)
            if derive_status(int(balance)) is StatementStatus.OPEN and (
                f["oldest_open"] is None or st_date < f["oldest_open"]
            ):
                f["oldest_open"] = st_date
        for owner, first_service in s.execute(
            select(StatementRow.patient_id, func.min(LineItemRow.service_date))
            .join(LineItemRow, LineItemRow.statement_id == StatementRow.id)
            .where(StatementRow.patient_id.in_(chunk), StatementRow.balance_cents > 0)
            .group_by(StatementRow.patient_id)
        ):
            facts[owner]["service"] = first_service
        payments = select(
            PaymentRow.patient_id, PaymentRow.statement_id, PaymentRow.amount_cents, PaymentRow.posted_at
        ).where(PaymentRow.patient_id.in_(chunk))
        for payer, applied_to, amount, posted in s.execute(payments):
            f = facts[payer]
            f["payments"] += 1
            f["last_payment"] = posted if f["last_payment"] is None else max(f["last_payment"], posted)
            if applied_to is None:
                f["balance"] -= int(amount)
                continue
            st_date, due, resp = statements[applied_to]
            paid_on = posted.astimezone(UTC).date()
            f["on_time"] += paid_on <= due
            f["partial"] += int(amount) < resp
            f["days"].append(max(0, (paid_on - st_date).days))
        missed = (
            select(InstallmentRow.id)
            .where(InstallmentRow.plan_id == PaymentPlanRow.id, InstallmentRow.status == "missed")
            .exists()
        )
        for pid, status, has_missed in s.execute(
            select(PaymentPlanRow.patient_id, PaymentPlanRow.status, missed).where(
                PaymentPlanRow.patient_id.in_(chunk)
            )
        ):
            f = facts[pid]
            f["plans"] += 1
            f["defaults"] += status == PlanStatus.DEFAULTED.value
            f["good_plan"] |= status == PlanStatus.ACTIVE.value and not has_missed
        for pid, reason, status in s.execute(
            select(TicketRow.patient_id, TicketRow.reason, TicketRow.status).where(
                TicketRow.patient_id.in_(chunk)
            )
        ):
            f = facts[pid]
            unresolved = status != TicketStatus.RESOLVED.value
            f["dispute"] |= unresolved and reason in DISPUTE_REASONS
            f["legal"] |= reason == TicketReason.LEGAL.value
            f["hardship"] |= unresolved and reason == TicketReason.FINANCIAL_HARDSHIP.value
        for (pid,) in s.execute(
            select(CoverageRow.patient_id)
            .where(CoverageRow.patient_id.in_(chunk), CoverageRow.active.is_(True))
            .distinct()
        ):
            facts[pid]["covered"] = True
    out = []
    for pid in patient_ids:
        f = facts[pid]
        person = people.get(pid)
        if person is None:
            continue
        days = sorted(f["days"])
        kind, at = changes[pid]
        out.append(
            AccountActivity(
                patient_id=pid,
                balance_cents=f["balance"],
                phone=person.phone,
                email_on_file=bool(person.email),
                email=person.email or None,
                sms_consent=person.sms_consent,
                preferred_channel=Channel(person.preferred_channel),
                language=Language(person.language),
                state=person.state,
                zip_code=person.zip_code,
                timezone=person.timezone,
                last_change=kind,
                changed_at=at,
                newest_statement_id=f["newest"][1] if f["newest"] else None,
                newest_statement_date=f["newest"][0] if f["newest"] else None,
                oldest_open_statement_date=f["oldest_open"],
                oldest_open_service_date=f["service"],
                payment_count=f["payments"],
                on_time_payment_count=f["on_time"],
                partial_payment_count=f["partial"],
                median_days_to_pay=days[len(days) // 2] if days else None,
                last_payment_at=f["last_payment"],
                plan_count=f["plans"],
                plan_default_count=f["defaults"],
                plan_in_good_standing=f["good_plan"],
                open_dispute=f["dispute"],
                legal_flag=f["legal"],
                hardship_review=f["hardship"],
                self_pay=not f["covered"],
            )
        )
    return out


# ---------------------------------------------------------------------- idempotency comparisons


def _same_payment(row: PaymentRow, patient_id: str, request: PaymentRequest) -> Payment:
    same = (
        row.patient_id == patient_id
        and row.statement_id == request.statement_id
        and row.amount_cents == request.amount_cents
        and row.method == request.method.value
        and row.source == request.source.value
        and row.external_id == request.external_id
    )
    if not same:
        raise IdempotencyConflict(f"idempotency key {request.idempotency_key!r} was used for another payment")
    return convert.to_payment(row)


def _validate_plan(request: PlanRequest) -> None:
    if request.total_cents <= 0 or request.installment_cents <= 0:
        raise InvalidAmount("plan amounts must be positive")
    if request.months <= 0:
        raise InvalidAmount("a plan must last at least one month")
    if not 0 <= request.down_payment_cents <= request.total_cents:
        raise InvalidAmount("the down payment must be between zero and the plan total")
    if not request.installments:
        raise PlanScheduleMismatch("a plan needs at least one installment")
    if len({i.sequence for i in request.installments}) != len(request.installments):
        raise PlanScheduleMismatch("installment sequence numbers repeat")
    total = schedule_total(request.installments)
    if total != request.total_cents:
        raise PlanScheduleMismatch(
            f"installments sum to {total} cents, not the plan total {request.total_cents}"
        )


def _same_plan(
    plan: PaymentPlan, requires_approval: bool, patient_id: str, request: PlanRequest
) -> PaymentPlan:
    same = (
        plan.patient_id == patient_id
        and plan.statement_ids == request.statement_ids
        and plan.total_cents == request.total_cents
        and plan.down_payment_cents == request.down_payment_cents
        and plan.months == request.months
        and plan.installment_cents == request.installment_cents
        and requires_approval == request.requires_approval
        and sorted((i.sequence, i.due_date, i.amount_cents) for i in plan.installments)
        == sorted((i.sequence, i.due_date, i.amount_cents) for i in request.installments)
    )
    if not same:
        raise IdempotencyConflict(f"idempotency key {request.idempotency_key!r} was used for another plan")
    return plan


def _same_ticket(ticket: Ticket, patient_id: str, request: TicketRequest) -> Ticket:
    same = (
        ticket.patient_id == patient_id
        and ticket.thread_id == request.thread_id
        and ticket.statement_id == request.statement_id
        and ticket.reason is request.reason
        and ticket.priority is request.priority
        and ticket.summary == request.summary
        and ticket.transcript == request.transcript
    )
    if not same:
        raise IdempotencyConflict(f"idempotency key {request.idempotency_key!r} was used for another ticket")
    return ticket
