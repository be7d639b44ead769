"""Tables of the API runtime (``api.runtime``): conversation threads, inbound messages, the event log.

``thread_events.id`` is a global autoincrement: it is the SSE event id a client resumes from, so it
only grows and is unique across threads and workers. They live under ``tools/`` because the service
migrations (which never import ``api``) must see them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tools.db import Base, UTCDateTime

# SQLite autoincrements only an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
EventId = BigInteger().with_variant(Integer(), "sqlite")


class ThreadRow(Base):
    __tablename__ = "threads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    statement_id: Mapped[str | None] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(8), default="bot")
    holder: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    escalation_reason: Mapped[str | None] = mapped_column(String(64))
    escalation_priority: Mapped[str | None] = mapped_column(String(16))
    ticket_id: Mapped[str | None] = mapped_column(String(64))
    # The outreach step whose link opened this portal chat (tools/outreach/links.py): its offer is in context.
    outreach_step_id: Mapped[int | None] = mapped_column(Integer)


class InboundMessageRow(Base):
    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    thread_id: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(8), default="queued", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ThreadEventRow(Base):
    __tablename__ = "thread_events"

    id: Mapped[int] = mapped_column(EventId, primary_key=True, autoincrement=True)
    thread_id: Mapped[str] = mapped_column(String(64), index=True)
    turn_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
