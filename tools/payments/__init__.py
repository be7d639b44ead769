"""The ``PaymentGateway`` port, the sandbox gateway and posting of payment events."""

from tools.payments.base import (
    LinkExpired,
    LinkPurpose,
    LinkRequest,
    LinkStatus,
    PaymentEvent,
    PaymentGateway,
    PaymentLink,
)
from tools.payments.posting import post_payment_event, posting_key
from tools.payments.sandbox import SandboxGateway

__all__ = [
    "LinkExpired",
    "LinkPurpose",
    "LinkRequest",
    "LinkStatus",
    "PaymentEvent",
    "PaymentGateway",
    "PaymentLink",
    "SandboxGateway",
    "post_payment_event",
    "posting_key",
]
