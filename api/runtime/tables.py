"""The runtime's tables (defined in ``tools.conversations`` so that ``migrations/`` can import them)."""

from tools.conversations import InboundMessageRow, ThreadEventRow, ThreadRow

__all__ = ["InboundMessageRow", "ThreadEventRow", "ThreadRow"]
