"""The billing situations the demo practice covers, as tags on ``Patient.scenario_tags``.

Every patient gets one *financial* scenario by construction (a balanced deck, so
each appears about ``patients / 15`` times), plus the contact scenarios drawn
independently, plus tags that hold as a consequence of the data (a self-pay
surgery over $5,000 is tagged ``balance_over_5000`` too).
"""

from __future__ import annotations

from typing import Final

FINANCIAL_SCENARIOS: Final[tuple[str, ...]] = (
    "copay_only",
    "deductible_heavy",
    "coinsurance_after_deductible",
    "paid_in_full_by_insurance",
    "claim_pending",
    "claim_denied",
    "partially_paid_claim",
    "already_paid",
    "credit_balance",
    "active_plan",
    "plan_defaulted",
    "balance_over_5000",
    "multiple_open_statements",
    "self_pay",
    "secondary_pending",
)

CONTACT_SCENARIOS: Final[tuple[str, ...]] = ("prefers_sms", "spanish_speaker", "no_phone")

SCENARIOS: Final[tuple[str, ...]] = FINANCIAL_SCENARIOS + CONTACT_SCENARIOS

# Denials the demo practice receives: (group code, CARC, RARC). The first six
# are guaranteed to appear once at least 6 patients carry ``claim_denied``.
DENIALS: Final[tuple[tuple[str, str, str | None], ...]] = (
    ("CO", "50", "N115"),
    ("CO", "16", "N290"),
    ("CO", "197", None),
    ("CO", "29", None),
    ("CO", "18", "M86"),
    ("PR", "204", "N130"),
    ("CO", "22", "N479"),
    ("CO", "16", "MA130"),
)

# Line-level denials on a claim that is otherwise paid (``partially_paid_claim``).
PARTIAL_DENIALS: Final[tuple[tuple[str, str, str | None], ...]] = (
    ("CO", "97", "M15"),
    ("PR", "96", "N130"),
    ("CO", "97", "N20"),
    ("CO", "236", None),
)
