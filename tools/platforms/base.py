"""The ``BillingPlatform`` port: what the agent needs from a practice-management system.

Adapters (the embedded ledger, DrChrono, FHIR R4, ...) implement this protocol
with our own models in and out. Every patient-scoped method takes the patient id
first; callers pass the *verified* patient of the thread (from the run context),
never an id a model or a user typed. Reads of another patient's resource raise
the resource's ``NotFound`` error, exactly as if it did not exist.

Writes are idempotent by ``idempotency_key``: a retry with the same key and the
same parameters returns the original record; the same key with different
parameters raises ``IdempotencyConflict``. Every write either fully happens or
leaves the platform unchanged.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol, runtime_checkable

from tools.platforms.models import (
    AccountActivity,
    AccountSummary,
    BalanceChanges,
    Change,
    Claim,
    Communication,
    CommunicationIn,
    Coverage,
    Patient,
    Payment,
    PaymentPlan,
    PaymentRequest,
    PlanRequest,
    PlanStatus,
    Practice,
    Statement,
    StatementSummary,
    Ticket,
    TicketRequest,
    TicketStatus,
    VerificationResult,
)


@runtime_checkable
class BillingPlatform(Protocol):
    # ---------------------------------------------------------------- identity
    async def get_practice(self) -> Practice: ...

    async def find_patient_by_portal_identity(self, portal_user_id: str) -> Patient | None: ...

    async def find_patients_by_phone(self, phone: str) -> list[Patient]:
        """Patients whose phone (E.164) matches; a family may share one number."""
        ...

    async def verify_identity(
        self,
        candidate_patient_ids: list[str],
        date_of_birth: date,
        zip_code: str | None,
        statement_number: str | None,
    ) -> VerificationResult:
        """Date of birth plus one second factor (ZIP code or a statement number).

        Returns ``verified=False`` (never an error, never a hint of which factor
        failed) when no candidate matches both.
        """
        ...

    async def get_patient(self, patient_id: str) -> Patient: ...

    # ---------------------------------------------------------------- reads
    async def get_account_summary(self, patient_id: str) -> AccountSummary: ...

    async def list_coverages(self, patient_id: str) -> list[Coverage]: ...

    async def list_statements(self, patient_id: str) -> list[StatementSummary]:
        """Newest first."""
        ...

    async def get_statement(self, patient_id: str, statement_id: str) -> Statement: ...

    async def find_statement_by_number(self, patient_id: str, number: str) -> Statement | None: ...

    async def list_claims(self, patient_id: str) -> list[Claim]: ...

    async def list_payments(self, patient_id: str) -> list[Payment]: ...

    async def list_payment_plans(self, patient_id: str) -> list[PaymentPlan]: ...

    async def list_tickets(self, patient_id: str) -> list[Ticket]: ...

    async def list_communications(
        self, patient_id: str, thread_id: str | None, limit: int
    ) -> list[Communication]: ...

    # ---------------------------------------------------------------- writes
    async def create_payment_plan(self, patient_id: str, request: PlanRequest) -> PaymentPlan: ...

    async def set_plan_status(
        self, patient_id: str, plan_id: str, status: PlanStatus, approver: str | None
    ) -> PaymentPlan: ...

    async def record_payment(self, patient_id: str, request: PaymentRequest) -> Payment: ...

    async def create_ticket(self, patient_id: str, request: TicketRequest) -> Ticket: ...

    async def update_ticket(self, ticket_id: str, status: TicketStatus, assignee: str | None) -> Ticket: ...

    async def log_communication(self, patient_id: str, communication: CommunicationIn) -> Communication: ...

    # ---------------------------------------------------------------- outreach
    async def list_recent_changes(self, since: datetime, limit: int) -> list[Change]: ...


@runtime_checkable
class BalanceFeed(Protocol):
    """What outreach reads from a platform: accounts whose patient balance changed since a cursor. The
    embedded ledger implements it; an adapter may poll its system with a cursor or fill it from webhooks."""

    async def list_balance_changes(self, cursor: str | None, limit: int) -> BalanceChanges:
        """Accounts whose patient balance changed after ``cursor`` (``None``: from the start of the
        platform's history): a statement, a payment, a plan created or a plan's status changed (a
        default). Each account appears once per page, with its current facts, in the order of its
        first change in the page; at most ``limit`` changes are read, so a page may name fewer
        accounts. The page's ``cursor`` resumes after the last change read (the same cursor when
        nothing changed). An adapter without a change feed may poll, or fill the feed from webhooks.
        """
        ...

    async def get_account_activity(self, patient_ids: list[str]) -> list[AccountActivity]:
        """The same facts as ``list_balance_changes`` for the given accounts (unknown ids are left
        out), for re-deciding an account when nothing changed on the platform (a follow-up is due)."""
        ...


@runtime_checkable
class OutreachPlatform(BillingPlatform, BalanceFeed, Protocol):
    """A platform outreach can run on: the port plus its balance feed."""
