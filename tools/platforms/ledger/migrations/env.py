"""Alembic environment of the embedded ledger: its tables only, in the default version table.

Run programmatically by ``tools.platforms.ledger.schema.migrate`` or from the command line
(``python -m tools.platforms.ledger.schema``); see ``tools.db.run_alembic_environment``.
"""

from __future__ import annotations

import tools.platforms.ledger.tables
from tools.db import run_alembic_environment

run_alembic_environment(frozenset({tools.platforms.ledger.tables.__name__}))
