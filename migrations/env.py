"""Alembic environment of the service's own tables (see ``migrations/__init__``), in its own version
table beside the ledger's history. The modules that define service tables are listed here; run by
``migrations.migrate_service`` or from the command line (see ``tools.db.run_alembic_environment``).
"""

from __future__ import annotations

import guardrails.audit
import tools.conversations
import tools.handoffs
import tools.messaging.consent
import tools.messaging.email_consent
import tools.outbox
import tools.outreach.store
import tools.payments.sandbox
import tools.payments.stripe
import tools.platforms.keys
import tools.platforms.plans
import tools.staff_accounts
import tools.webhook_events
from migrations import VERSION_TABLE
from tools.db import run_alembic_environment

SERVICE_MODULES = frozenset(
    module.__name__
    for module in (
        guardrails.audit,
        tools.conversations,
        tools.messaging.consent,
        tools.messaging.email_consent,
        tools.outbox,
        tools.outreach.store,
        tools.payments.sandbox,
        tools.payments.stripe,
        tools.platforms.plans,
        tools.staff_accounts,
        tools.webhook_events,
    )
)

run_alembic_environment(SERVICE_MODULES, VERSION_TABLE)
