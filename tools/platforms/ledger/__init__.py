"""The embedded ledger: the reference ``BillingPlatform`` on SQLAlchemy 2.0 async."""

from tools.platforms.ledger.loader import PracticeData, bulk_load
from tools.platforms.ledger.platform import LedgerPlatform
from tools.platforms.ledger.schema import is_empty, migrate, reset

__all__ = ["LedgerPlatform", "PracticeData", "bulk_load", "is_empty", "migrate", "reset"]
