"""Transcript lines waiting to be logged on the practice system: a durable outbox in the service's tables.

A turn used to wait for two platform round trips in a row: the patient's message logged on the platform
(with the account read), then the reply logged after the answer. A remote platform answers in 100 ms or
more, so those writes decided the turn's latency. Now the turn writes each line here (one local insert),
and :meth:`CommunicationOutbox.serve`, a background task of ``serve``, logs it on the platform.

Nothing is lost and nothing is logged twice:

* a line is committed here before the turn ends (the reply before its ``done``), so a process that dies
  leaves it here and the next ``serve`` sends it;
* every line carries an idempotency key (the message's provider id, the turn's id, or one made here),
  sent as the communication's ``external_id``, which every adapter checks (a conditional create on FHIR,
  a look-up before the post on DrChrono, a unique constraint in the ledger): a send repeated after a
  crash, or by a second worker, finds the first. Queuing the same key again is a no-op;
* while the platform is down (the adapter's breaker open, timeouts) lines wait, the drain backs off, and
  they go out oldest first when it is back. A line the platform can never take (its patient is gone) is
  set aside as ``dead`` with its error, not retried forever.

A line is deleted once it is on the platform: the message text is kept here no longer than needed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import (
    Boolean,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from tools.db import Base, UTCDateTime, write_transaction
from tools.errors import BillingError, PlatformUnavailable
from tools.platforms.base import BillingPlatform
from tools.platforms.models import Author, Channel, CommunicationIn, Direction

log = logging.getLogger(__name__)

# A line is claimed for this long while it is being sent; a worker that died mid-send frees it by then.
CLAIM_S = 60.0
# Rows looked at per pass.
BATCH = 100
# After a line is queued, the drain waits this long for other lines before its pass: the transcript reaches
# the platform this much later, and a busy service makes one pass for many turns' lines.
GATHER_S = 0.1
# Sent lines leave the table together, at the end of a pass or after this long within one, so a reader
# waiting for a thread's lines (``deliver_thread``) waits at most about this plus one send.
SETTLE_S = 0.25
# With nothing signalled, the drain still looks this often (lines left by a process that stopped, or
# queued by another worker).
POLL_S = 5.0
# Back-off after the platform refused or timed out: doubles from the first to the last.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0


class OutboxRow(Base):
    __tablename__ = "communication_outbox"
    # The key is unique per patient, as the platform's external ids are.
    __table_args__ = (
        UniqueConstraint("patient_id", "key"),
        Index("ix_communication_outbox_dead_seq", "dead", "seq"),
    )

    # An integer key: lines go out in the order they were queued, even when the clock repeats itself.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str] = mapped_column(String(128), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(16))
    author: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dead: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(String(200), nullable=True)


@dataclass(frozen=True)
class QueuedLine:
    seq: int
    key: str
    patient_id: str
    thread_id: str
    communication: CommunicationIn
    created_at: datetime
    attempts: int
    dead: bool
    last_error: str | None


@dataclass(frozen=True)
class DrainResult:
    sent: int  # logged on the platform in this pass
    unavailable: bool  # the pass stopped because the platform is down or slow
    more: bool  # rows were left for the next pass (a full batch)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _line(row: OutboxRow) -> QueuedLine:
    return QueuedLine(
        seq=row.seq,
        key=row.key,
        patient_id=row.patient_id,
        thread_id=row.thread_id,
        communication=CommunicationIn(
            thread_id=row.thread_id,
            channel=Channel(row.channel),
            direction=Direction(row.direction),
            author=Author(row.author),
            text=row.text,
            external_id=row.key,
        ),
        created_at=row.created_at,
        attempts=row.attempts,
        dead=row.dead,
        last_error=row.last_error,
    )


class CommunicationOutbox:
    """Transcript lines for the platform, queued here and logged there by :meth:`serve`."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] = _utcnow) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._now = clock
        self._wake = asyncio.Event()

    async def enqueue(self, patient_id: str, communication: CommunicationIn) -> str:
        """Queue one line for ``patient_id``; returns its key (``communication.external_id``, else a new
        one). The same key for the same patient again is a no-op: a turn re-run after a crash queues its
        lines once."""
        key = communication.external_id or f"outbox:{uuid.uuid4().hex}"
        row = {
            "key": key,
            "patient_id": patient_id,
            "thread_id": communication.thread_id,
            "channel": communication.channel.value,
            "direction": communication.direction.value,
            "author": communication.author.value,
            "text": communication.text,
            "created_at": self._now(),
            "attempts": 0,
            "dead": False,
        }
        try:
            # A Core INSERT: on the turn's path, and an append has nothing for the ORM to track.
            async with write_transaction(self._engine) as conn:
                await conn.execute(insert(OutboxRow), row)
        except IntegrityError:  # queued already (or being queued by a concurrent call): one line
            pass
        self._wake.set()
        return key

    async def pending(self, *, thread_id: str | None = None, include_dead: bool = True) -> list[QueuedLine]:
        """The lines not yet on the platform (of ``thread_id``, or all), oldest first."""
        query = select(OutboxRow).order_by(OutboxRow.seq)
        if thread_id is not None:
            query = query.where(OutboxRow.thread_id == thread_id)
        if not include_dead:
            query = query.where(OutboxRow.dead.is_(False))
        async with self._sessions() as s:
            return [_line(r) for r in await s.scalars(query)]

    async def count(self) -> int:
        """Lines waiting to be sent (not the dead ones)."""
        async with self._sessions() as s:
            n = await s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.dead.is_(False)))
            return int(n or 0)

    async def _claim(self, thread_id: str | None) -> list[QueuedLine]:
        """Take up to ``BATCH`` waiting lines (of ``thread_id``, or all) for one pass, oldest first, in one
        statement: a line another worker holds (claimed and not yet expired), or one it sent meanwhile, is
        not taken, on SQLite and PostgreSQL alike (the claim re-checks each row it updates)."""
        now = self._now()
        claimable = (OutboxRow.dead.is_(False)) & (
            (OutboxRow.claimed_until.is_(None)) | (OutboxRow.claimed_until < now)
        )
        oldest = select(OutboxRow.seq).where(claimable).order_by(OutboxRow.seq).limit(BATCH)
        if thread_id is not None:
            oldest = oldest.where(OutboxRow.thread_id == thread_id)
        table = cast(Table, OutboxRow.__table__)
        async with write_transaction(self._engine) as conn:
            rows = await conn.execute(
                update(table)
                .where(table.c.seq.in_(oldest.scalar_subquery()), claimable)
                .values(claimed_until=now + timedelta(seconds=CLAIM_S), attempts=table.c.attempts + 1)
                .returning(*table.c)
            )
            return sorted((_line(OutboxRow(**r._mapping)) for r in rows), key=lambda line: line.seq)

    async def _settle(
        self, sent: list[int], unsent: list[int], failed: tuple[int, str, bool] | None = None
    ) -> None:
        """End a pass in one transaction: the sent lines leave, the claimed lines not tried are free again
        (their claim's attempt undone), and the line that failed keeps its error (``dead``: never again)."""
        if not sent and not unsent and failed is None:
            return
        async with write_transaction(self._engine) as conn:
            if sent:
                await conn.execute(delete(OutboxRow).where(OutboxRow.seq.in_(sent)))
            if unsent:
                await conn.execute(
                    update(OutboxRow)
                    .where(OutboxRow.seq.in_(unsent))
                    .values(claimed_until=None, attempts=OutboxRow.attempts - 1)
                )
            if failed is not None:
                seq, error, dead = failed
                await conn.execute(
                    update(OutboxRow)
                    .where(OutboxRow.seq == seq)
                    .values(claimed_until=None, last_error=error[:200], dead=dead)
                )

    async def drain(self, platform: BillingPlatform, *, thread_id: str | None = None) -> DrainResult:
        """One pass: log the waiting lines (of ``thread_id``, or all) on ``platform``, oldest first.
        Stops at the first sign the platform is down (the rest keep their order for the next pass).

        Three statements a pass besides the sends (claim, then settle; a refused line is settled at once):
        a line sent but not yet settled when the process dies is claimed again after ``CLAIM_S`` and sent
        again, which the platform's idempotency key turns into nothing."""
        lines = await self._claim(thread_id)
        if not lines:
            return DrainResult(sent=0, unavailable=False, more=False)
        loop = asyncio.get_running_loop()
        settled_at = loop.time()
        unsettled: list[int] = []  # sent, still in the table
        sent = 0
        refused: set[int] = set()
        pos = 0  # the line being sent
        try:
            for pos, line in enumerate(lines):
                try:
                    await platform.log_communication(line.patient_id, line.communication)
                except PlatformUnavailable as exc:
                    log.warning("outbox.platform_unavailable", extra={"seq": line.seq, "reason": exc.code})
                    rest = [later.seq for later in lines[pos + 1 :]]
                    await self._settle(unsettled, rest, (line.seq, exc.code, False))
                    return DrainResult(sent=sent, unavailable=True, more=True)
                except BillingError as exc:  # e.g. the patient is gone from the platform: never deliverable
                    log.error("outbox.line_refused", extra={"seq": line.seq, "error": exc.code})
                    await self._settle([], [], (line.seq, exc.code, True))
                    refused.add(line.seq)
                    continue
                sent += 1
                unsettled.append(line.seq)
                if loop.time() - settled_at >= SETTLE_S:
                    await self._settle(unsettled, [])
                    unsettled, settled_at = [], loop.time()
            await self._settle(unsettled, [])
        except BaseException:
            # The line being sent when the pass was interrupted counts as tried; a sent one just leaves.
            rest = [later.seq for later in lines[pos + 1 :]]
            tried = lines[pos].seq
            failed = None if tried in refused else (tried, "interrupted", False)
            await asyncio.shield(self._settle(unsettled, rest, failed))
            raise
        return DrainResult(sent=sent, unavailable=False, more=len(lines) == BATCH)

    async def deliver_thread(self, platform: BillingPlatform, thread_id: str, wait_s: float = 5.0) -> bool:
        """Send the thread's waiting lines now (before its transcript is read on the platform). A line
        the background drain is sending at that moment is waited for (at most ``wait_s``). False: the
        platform is down, or a line is still waiting."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            result = await self.drain(platform, thread_id=thread_id)
            if result.unavailable:
                return False
            async with self._sessions() as s:
                left = await s.scalar(
                    select(func.count())
                    .select_from(OutboxRow)
                    .where(OutboxRow.thread_id == thread_id, OutboxRow.dead.is_(False))
                )
            if not left:
                return True
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.02)

    async def serve(self, platform: BillingPlatform, stop: asyncio.Event, poll_s: float = POLL_S) -> None:
        """Drain until ``stop``: at once when a line is queued in this process, else every ``poll_s``;
        after a refusal, with a back-off that doubles up to ``BACKOFF_MAX_S``. The platform's circuit
        breaker is respected: while it is open a send fails at once, without a request, and waits."""
        backoff = 0.0
        while not stop.is_set():
            self._wake.clear()
            try:
                result = await self.drain(platform)
            except SQLAlchemyError as exc:  # the service's own database is down: try again later
                log.warning("outbox.drain_failed", extra={"error": type(exc).__name__})
                result = DrainResult(sent=0, unavailable=True, more=True)
            if result.unavailable:
                backoff = min(BACKOFF_MAX_S, backoff * 2 if backoff else BACKOFF_FIRST_S)
                wait = backoff
            else:
                backoff = 0.0
                if result.more:
                    continue
                wait = poll_s
            if backoff:  # a new line does not cut a back-off short: the platform is down
                with suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await stop.wait()
                continue
            with suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    stop_task = asyncio.ensure_future(stop.wait())
                    wake_task = asyncio.ensure_future(self._wake.wait())
                    try:
                        await asyncio.wait({stop_task, wake_task}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        stop_task.cancel()
                        wake_task.cancel()
            if self._wake.is_set() and not stop.is_set():
                # Woken by a line: let the lines of the turns running now join it, so one pass claims and
                # settles them together (a pass per line cost as much server CPU as a quarter of a turn).
                with suppress(TimeoutError):
                    async with asyncio.timeout(GATHER_S):
                        await stop.wait()

    async def flush(self, platform: BillingPlatform, timeout_s: float = 10.0) -> int:
        """At shutdown: send what is waiting, for at most ``timeout_s``; returns the lines left (they go
        out with the next ``serve``)."""
        with suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while True:
                    result = await self.drain(platform)
                    if result.unavailable or not result.more:
                        break
        return await self.count()
