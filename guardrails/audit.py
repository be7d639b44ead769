"""Append-only, hash-chained audit trail (table ``audit_log`` on ``tools.db.Base``).

Each record's ``hash`` is ``sha256(canonical_json(seq, at, thread_id, patient_id, actor, event, payload)
+ prev_hash)`` where canonical JSON has sorted keys, no whitespace and ``at`` as UTC ISO-8601 with
microseconds; the first record's ``prev_hash`` is 64 zeros. ``verify`` recomputes the chain and reports
the first ``seq`` whose content, link or position does not match, so an edited, deleted or inserted row
is found.

**Payloads hold identifiers, intent names, codes and numbers — never message text or other PHI.** This is
enforced: string values (and keys) must be short tokens without spaces (``[A-Za-z0-9_.:@/#+-]``, at most
128 characters); anything else raises ``InvalidAuditPayload``. Put the words in the communication
record, and its id here. One exception: a language model's reply that was replaced (it stated an
unverified figure) is kept as the model wrote it under ``SCREENED_TEXT_KEY`` — text the model produced
from tokenized input, at most ``MAX_SCREENED_TEXT`` characters, in which the PHI vault's detectors find
no identifier (placeholders such as ``[STATEMENT_1]`` are never restored).

Concurrency: appends are serialised so the chain stays single, across processes: each runs in one
write transaction (``tools.db.write_transaction``) that reads the chain's end and inserts after it, under
a transaction-scoped advisory lock (``pg_advisory_xact_lock``) on PostgreSQL and under the database's
write lock (``BEGIN IMMEDIATE``) on SQLite.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

from sqlalchemy import JSON, BigInteger, String, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from guardrails.phi import PhiVault
from tools.db import Base, UTCDateTime, write_transaction

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None

GENESIS_HASH = "0" * 64
_ADVISORY_LOCK_KEY = 0x4155_4449_54  # "AUDIT"
_TOKEN = re.compile(r"[A-Za-z0-9_.:@/#+\-]{0,128}")
SCREENED_TEXT_KEY = "model_text_tokenized"
MAX_SCREENED_TEXT = 2000


class InvalidAuditPayload(ValueError):
    """A payload value looks like free text; audit payloads carry ids, names and numbers only."""


class AuditLogRow(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    thread_id: Mapped[str | None] = mapped_column(String(128), index=True)
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, JsonValue]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: datetime
    thread_id: str | None
    patient_id: str | None
    actor: str
    event: str
    payload: dict[str, JsonValue]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditEntry:
    """One record to append with ``append_many``."""

    event: str
    payload: dict[str, JsonValue]
    patient_id: str | None = None
    thread_id: str | None = None


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    count: int
    first_bad_seq: int | None


def _utc_iso(at: datetime) -> str:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


def compute_hash(
    *,
    seq: int,
    at: datetime,
    thread_id: str | None,
    patient_id: str | None,
    actor: str,
    event: str,
    payload: dict[str, JsonValue],
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "at": _utc_iso(at),
        "thread_id": thread_id,
        "patient_id": patient_id,
        "actor": actor,
        "event": event,
        "payload": payload,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256((canonical + prev_hash).encode("utf-8")).hexdigest()


def _check_token(value: str, where: str) -> None:
    if not _TOKEN.fullmatch(value):
        raise InvalidAuditPayload(
            f"{where}: audit payload strings must be ids, names or codes (no spaces, at most 128 characters)"
        )


def _check_screened_text(value: JsonValue, where: str) -> None:
    if not isinstance(value, str) or len(value) > MAX_SCREENED_TEXT:
        raise InvalidAuditPayload(f"{where}: at most {MAX_SCREENED_TEXT} characters of tokenized text")
    if PhiVault().tokenize(value) != value:
        raise InvalidAuditPayload(f"{where}: the PHI vault finds an identifier in it")


def screened_text(text: str) -> str:
    """``text`` bounded and screened by the PHI vault's detectors: what ``append`` accepts under
    ``SCREENED_TEXT_KEY`` (empty when it cannot be made so)."""
    vault = PhiVault()
    out = text
    for _ in range(3):  # a cut can turn a tail into something a detector reads; screen again
        out = vault.tokenize(out)[:MAX_SCREENED_TEXT]
        if vault.tokenize(out) == out:
            return out
    return ""


def _check_payload(value: JsonValue, where: str) -> None:
    if isinstance(value, str):
        _check_token(value, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_payload(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_token(key, f"{where} key")
            if key == SCREENED_TEXT_KEY and where == "payload":
                _check_screened_text(item, f"{where}.{key}")
            else:
                _check_payload(item, f"{where}.{key}")


def _next_record(
    last: tuple[int, str] | None,
    at: datetime,
    event: str,
    payload: dict[str, JsonValue],
    thread_id: str | None,
    patient_id: str | None,
    actor: str,
) -> AuditRecord:
    """The record that follows ``last`` (the chain's ``(seq, hash)``; ``None`` for an empty chain)."""
    seq, prev_hash = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS_HASH)
    digest = compute_hash(
        seq=seq,
        at=at,
        thread_id=thread_id,
        patient_id=patient_id,
        actor=actor,
        event=event,
        payload=payload,
        prev_hash=prev_hash,
    )
    return AuditRecord(seq, at, thread_id, patient_id, actor, event, payload, prev_hash, digest)


class AuditTrail:
    """The practice's audit trail on ``engine``. Create the table with the migrations (or ``create_all``)."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._postgres = engine.dialect.name == "postgresql"

    async def append(
        self,
        event: str,
        payload: dict[str, JsonValue],
        *,
        thread_id: str | None = None,
        patient_id: str | None = None,
        actor: str = "system",
    ) -> AuditRecord:
        """Add one record at the end of the chain and return it (committed)."""
        _check_token(event, "event")
        _check_token(actor, "actor")
        _check_payload(payload, "payload")
        async with write_transaction(self._engine) as conn:
            last, _ = await self._chain_end(conn)
            return await self._append_after(conn, last, event, payload, thread_id, patient_id, actor)

    async def append_once(
        self,
        event: str,
        payload: dict[str, JsonValue],
        *,
        key: str,
        thread_id: str,
        patient_id: str | None = None,
        actor: str = "system",
    ) -> AuditRecord | None:
        """:meth:`append`, unless the thread's newest ``event`` record has the same ``payload[key]`` (a
        node re-run after a crash finds its record already in the chain): ``None`` then. The check and
        the append are one transaction, and the check is read with the chain's end, in one statement."""
        _check_token(event, "event")
        _check_token(actor, "actor")
        _check_payload(payload, "payload")
        async with write_transaction(self._engine) as conn:
            last, before = await self._chain_end(conn, previous=(event, thread_id))
            if isinstance(before, dict) and key in before and before[key] == payload.get(key):
                return None
            return await self._append_after(conn, last, event, payload, thread_id, patient_id, actor)

    async def append_many(self, entries: Sequence[AuditEntry], *, actor: str = "system") -> int:
        """Add many records at the end of the chain in one transaction (a decision pass audits
        thousands of decisions; one transaction each would be most of its cost). Returns the count."""
        if not entries:
            return 0
        _check_token(actor, "actor")
        for e in entries:
            _check_token(e.event, "event")
            _check_payload(e.payload, "payload")
        at = self._clock().astimezone(UTC)

        def chain(last: tuple[int, str] | None) -> list[AuditRecord]:
            out: list[AuditRecord] = []
            for e in entries:
                r = _next_record(last, at, e.event, e.payload, e.thread_id, e.patient_id, actor)
                out.append(r)
                last = (r.seq, r.hash)
            return out

        async with write_transaction(self._engine) as conn:
            if self._postgres:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
            last = (
                await conn.execute(
                    select(AuditLogRow.seq, AuditLogRow.hash).order_by(AuditLogRow.seq.desc()).limit(1)
                )
            ).first()
            records = chain((int(last[0]), str(last[1])) if last else None)
            await conn.execute(
                insert(AuditLogRow),
                [
                    {
                        "seq": r.seq,
                        "at": at,
                        "thread_id": r.thread_id,
                        "patient_id": r.patient_id,
                        "actor": actor,
                        "event": r.event,
                        "payload": r.payload,
                        "prev_hash": r.prev_hash,
                        "hash": r.hash,
                    }
                    for r in records
                ],
            )
            return len(records)

    async def _chain_end(
        self, conn: AsyncConnection, previous: tuple[str, str] | None = None
    ) -> tuple[tuple[int, str] | None, object]:
        """The chain's last ``(seq, hash)``, read under the chain's lock (PostgreSQL: an advisory lock;
        SQLite: the write transaction's). ``previous=(event, thread_id)`` reads, in the same statement, the
        payload of that thread's newest record of that event (else ``None``)."""
        if self._postgres:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
        end = select(AuditLogRow.seq, AuditLogRow.hash).order_by(AuditLogRow.seq.desc()).limit(1)
        if previous is not None:
            event, thread_id = previous
            newest = (
                select(AuditLogRow.payload)
                .where(AuditLogRow.thread_id == thread_id, AuditLogRow.event == event)
                .order_by(AuditLogRow.seq.desc())
                .limit(1)
                .scalar_subquery()
            )
            row = (await conn.execute(end.add_columns(newest.label("previous")))).first()
            return (None, None) if row is None else ((int(row.seq), str(row.hash)), row.previous)
        last = (await conn.execute(end)).first()
        return (None if last is None else (int(last.seq), str(last.hash))), None

    async def _append_after(
        self,
        conn: AsyncConnection,
        last: tuple[int, str] | None,
        event: str,
        payload: dict[str, JsonValue],
        thread_id: str | None,
        patient_id: str | None,
        actor: str,
    ) -> AuditRecord:
        at = self._clock().astimezone(UTC)
        r = _next_record(last, at, event, payload, thread_id, patient_id, actor)
        await conn.execute(
            insert(AuditLogRow).values(
                seq=r.seq,
                at=at,
                thread_id=thread_id,
                patient_id=patient_id,
                actor=actor,
                event=event,
                payload=payload,
                prev_hash=r.prev_hash,
                hash=r.hash,
            )
        )
        return r

    async def records(self, *, after_seq: int = 0, limit: int = 100) -> list[AuditRecord]:
        """Records in chain order, ``seq > after_seq``."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(AuditLogRow).where(AuditLogRow.seq > after_seq).order_by(AuditLogRow.seq).limit(limit)
            )
            return [
                AuditRecord(
                    r.seq, r.at, r.thread_id, r.patient_id, r.actor, r.event, r.payload, r.prev_hash, r.hash
                )
                for r in rows
            ]

    async def verify(self) -> AuditVerification:
        """Recompute the whole chain; ``first_bad_seq`` is the first record that does not check out."""
        count = 0
        expected_prev = GENESIS_HASH
        first_bad: int | None = None
        async with self._engine.connect() as conn:
            result = await conn.stream(select(*AuditLogRow.__table__.columns).order_by(AuditLogRow.seq))
            async for row in result:
                count += 1
                if first_bad is not None:
                    continue
                digest = compute_hash(
                    seq=row.seq,
                    at=row.at,
                    thread_id=row.thread_id,
                    patient_id=row.patient_id,
                    actor=row.actor,
                    event=row.event,
                    payload=row.payload,
                    prev_hash=row.prev_hash,
                )
                if row.seq != count or row.prev_hash != expected_prev or row.hash != digest:
                    first_bad = row.seq
                expected_prev = row.hash
        return AuditVerification(ok=first_bad is None, count=count, first_bad_seq=first_bad)
