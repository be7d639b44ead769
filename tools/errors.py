"""Typed errors raised by ports and adapters.

Every error carries an HTTP status so the API renders it with one handler as
``{"error": <code>, "detail": <message>}``. Expected business outcomes are
errors of this hierarchy, never bare exceptions.
"""

from __future__ import annotations


class BillingError(Exception):
    """Base of every expected failure. ``code`` is stable and machine-readable."""

    status_code: int = 400
    code: str = "billing_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(BillingError):
    status_code = 404
    code = "not_found"


class PatientNotFound(NotFound):
    code = "patient_not_found"


class StatementNotFound(NotFound):
    code = "statement_not_found"


class PlanNotFound(NotFound):
    code = "plan_not_found"


class TicketNotFound(NotFound):
    code = "ticket_not_found"


class LinkNotFound(NotFound):
    code = "link_not_found"


class InvalidAmount(BillingError):
    status_code = 422
    code = "invalid_amount"


class PlanOutsidePolicy(BillingError):
    status_code = 422
    code = "plan_outside_policy"


class PlanScheduleMismatch(BillingError):
    """Installments do not sum to the plan total."""

    status_code = 422
    code = "plan_schedule_mismatch"


class ActivePlanExists(BillingError):
    status_code = 409
    code = "active_plan_exists"


class IdempotencyConflict(BillingError):
    """The same idempotency key was reused with different parameters."""

    status_code = 409
    code = "idempotency_conflict"


class InvariantViolation(BillingError):
    """A write would break a ledger invariant (billed = allowed + contractual, ...)."""

    status_code = 422
    code = "invariant_violation"


class InvalidTransition(BillingError):
    status_code = 409
    code = "invalid_transition"


class PlatformUnavailable(BillingError):
    """The practice-management system could not be reached or failed."""

    status_code = 503
    code = "platform_unavailable"


class ConfigurationError(BillingError):
    status_code = 500
    code = "configuration_error"


class NotAuthenticated(BillingError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(BillingError):
    status_code = 403
    code = "forbidden"


class ThreadLocked(BillingError):
    status_code = 409
    code = "thread_locked"


class RateLimited(BillingError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
