"""Schema of the service's own tables (audit trail, payment links, ...).

The embedded ledger is an adapter with its own migration history
(``tools.platforms.ledger.schema``): a practice on DrChrono or FHIR has no ledger
tables but always has these. The two histories share a database and keep
separate Alembic version tables.
"""

from __future__ import annotations

from pathlib import Path

from tools.db import upgrade_head

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version_service"


async def migrate_service(url: str) -> None:
    """Bring the service tables at ``url`` to the newest schema."""
    await upgrade_head(url, MIGRATIONS_DIR)
