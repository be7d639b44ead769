"""Outreach's own tables and their SQL: scheduled steps, call tasks, templates, pauses, the feed cursor.

Exactly-once sending, and why our own table rather than APScheduler
-------------------------------------------------------------------
A step is a row with a unique ``key`` (``outreach:{patient}:{episode}:{sequence}``): deciding twice
inserts it once (``INSERT … ON CONFLICT DO NOTHING``). A sender *claims* one due step at a time in one
statement — ``UPDATE … SET status='sending' WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`` on
PostgreSQL, so several workers never claim the same row and never wait on each other; the same statement
without the locking clause on SQLite, whose single writer makes it atomic — then sends, then marks it
``sent`` with the provider's id. A claim that outlives its lease (the worker was killed between claim
and mark) becomes ``uncertain`` and is **never sent again automatically**: the message may have left
before the crash, and a patient must never get it twice; the console shows it to staff. Everything
else is sent exactly once across restarts and workers.

APScheduler's SQLAlchemy job store keeps pickled callables keyed by job id and, in 3.x, runs a job on
whichever scheduler picks it with no cross-process claim (two schedulers on one store may both run it;
4.x adds that but is pre-release). Outreach needs neither timers in memory nor pickled functions: the
work is data (a step row), the claim must be one atomic statement, and the console, the counters and
the audit read the same rows. A table and one claim statement give all of that on SQLite and on
PostgreSQL, with nothing new to operate.

Every method is one unit of work (its own transaction). No patient text is stored here except the
rendered template bodies and the staff call summaries, which name an amount and dates only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import (
    JSON,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from tools.db import Base, UTCDateTime

StepStatus = Literal[
    "scheduled",  # waiting for its time
    "sending",  # claimed by a worker, being sent
    "sent",  # the provider accepted it
    "cancelled",  # no longer wanted (a reply, a payment, a plan, a new decision)
    "blocked",  # the contact gate refused it for good (STOP, no consent, wording, PHI)
    "uncertain",  # a claim outlived its lease: maybe sent, never resent automatically
    "open",  # a staff call task waiting for a person
    "done",  # a staff call task with its outcome
]
CallOutcome = Literal["done", "no_answer", "promise_to_pay"]
PENDING: tuple[StepStatus, ...] = ("scheduled", "open")
CONTACTED: tuple[StepStatus, ...] = ("sent", "uncertain", "open", "done")
GLOBAL = "*"


class OutreachStepRow(Base):
    __tablename__ = "outreach_steps"
    __table_args__ = (Index("ix_outreach_steps_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    episode: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    template_key: Mapped[str | None] = mapped_column(String(40))
    segment: Mapped[str | None] = mapped_column(String(40))
    tone: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(120))
    offer: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    summary: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    template_version: Mapped[int | None] = mapped_column(Integer)
    external_id: Mapped[str | None] = mapped_column(String(64), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The provider's newest delivery receipt (Twilio's status callback): queued, sent, delivered,
    # undelivered or failed, its error code, and when it said delivered.
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(String(16))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))
    outcome_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutreachTemplateRow(Base):
    __tablename__ = "outreach_templates"
    __table_args__ = (UniqueConstraint("key", "language", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # draft | approved | retired
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutreachPauseRow(Base):
    __tablename__ = "outreach_pauses"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)  # a patient id, or "*" for all
    paused_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutreachCursorRow(Base):
    __tablename__ = "outreach_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A decision to store: a step to send or a call task (``channel="call"``)."""

    key: str
    patient_id: str
    episode: str
    sequence: int
    step: str
    channel: str
    template_key: str | None
    segment: str | None
    tone: str
    reason: str
    due_at: datetime
    offer: Mapping[str, Any] | None = None
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class StoredStep:
    id: int
    key: str
    patient_id: str
    episode: str
    sequence: int
    step: str
    channel: str
    template_key: str | None
    segment: str | None
    tone: str
    reason: str
    offer: dict[str, Any] | None
    summary: str | None
    due_at: datetime
    status: StepStatus
    status_reason: str | None
    attempts: int
    template_version: int | None
    external_id: str | None
    sent_at: datetime | None
    replied_at: datetime | None
    outcome: str | None
    created_at: datetime
    delivery_status: str | None = None
    delivery_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """A delivery receipt applied to the step it is about; ``changed`` is false for a repeat or for a
    receipt older than what the step already records (callbacks may arrive out of order)."""

    step: StoredStep
    previous: str | None
    changed: bool


# A receipt moves a step's delivery status forward only: Twilio may post "sent" after "delivered", and
# posts each status again on retries. The final statuses are never replaced.
DELIVERY_RANK: dict[str, int] = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 1,
    "delivered": 2,
    "undelivered": 2,
    "failed": 2,
}


@dataclass(frozen=True, slots=True)
class History:
    """What outreach already did for one account, for the next decision."""

    contacts: tuple[StoredStep, ...] = ()  # of the current episode, oldest first
    last_reply_at: datetime | None = None
    call_task_open: bool = False


@dataclass(frozen=True, slots=True)
class Template:
    key: str
    language: str
    version: int
    body: str
    status: str
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None


def _step(r: OutreachStepRow) -> StoredStep:
    return StoredStep(
        id=r.id, key=r.key, patient_id=r.patient_id, episode=r.episode, sequence=r.sequence, step=r.step,
        channel=r.channel, template_key=r.template_key, segment=r.segment, tone=r.tone, reason=r.reason,
        offer=r.offer, summary=r.summary, due_at=r.due_at, status=r.status,  # type: ignore[arg-type]  # a StepStatus by construction
        status_reason=r.status_reason, attempts=r.attempts, template_version=r.template_version,
        external_id=r.external_id, sent_at=r.sent_at, replied_at=r.replied_at, outcome=r.outcome,
        created_at=r.created_at, delivery_status=r.delivery_status, delivery_error=r.delivery_error,
        delivered_at=r.delivered_at,
    )  # fmt: skip


def _template(r: OutreachTemplateRow) -> Template:
    return Template(
        r.key,
        r.language,
        r.version,
        r.body,
        r.status,
        r.created_by,
        r.created_at,
        r.approved_by,
        r.approved_at,
    )


def _row_values(p: PlannedStep, now: datetime) -> dict[str, Any]:
    return {
        "key": p.key,
        "patient_id": p.patient_id,
        "episode": p.episode,
        "sequence": p.sequence,
        "step": p.step,
        "channel": p.channel,
        "template_key": p.template_key,
        "segment": p.segment,
        "tone": p.tone,
        "reason": p.reason,
        "offer": dict(p.offer) if p.offer is not None else None,
        "summary": p.summary,
        "due_at": p.due_at,
        "status": "open" if p.channel == "call" else "scheduled",
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def _rowcount(result: Result[Any]) -> int:
    """Rows an INSERT/UPDATE touched (``execute`` of DML returns a ``CursorResult``)."""
    return int(cast("CursorResult[Any]", result).rowcount or 0)


def _aware(value: datetime) -> datetime:
    """An aggregate over a ``UTCDateTime`` column comes back without the column's type: naive on SQLite."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TemplateNotFound(LookupError):
    pass


class OutreachStore:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock or _utcnow
        self._postgres = engine.dialect.name == "postgresql"

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def _insert(self) -> Any:
        return pg_insert if self._postgres else sqlite_insert

    # ------------------------------------------------------------------ decisions

    async def history(self, patient_ids: Sequence[str], episodes: Mapping[str, str]) -> dict[str, History]:
        """Each account's contacts in its current episode, its newest reply and whether a call task is
        open (one query per 2,000 accounts)."""
        rows: dict[str, list[StoredStep]] = {p: [] for p in patient_ids}
        async with self._sessions() as s:
            for i in range(0, len(patient_ids), 2000):
                chunk = list(patient_ids[i : i + 2000])
                result = await s.scalars(
                    select(OutreachStepRow)
                    .where(OutreachStepRow.patient_id.in_(chunk))
                    .order_by(OutreachStepRow.patient_id, OutreachStepRow.sequence, OutreachStepRow.id)
                )
                for r in result:
                    rows[r.patient_id].append(_step(r))
        out: dict[str, History] = {}
        for pid, steps in rows.items():
            replies = [st.replied_at for st in steps if st.replied_at is not None]
            episode = episodes.get(pid)
            contacts = tuple(
                st
                for st in steps
                if st.episode == episode and st.status in CONTACTED and st.channel != "none"
            )
            out[pid] = History(
                contacts=contacts,
                last_reply_at=max(replies) if replies else None,
                call_task_open=any(st.status == "open" for st in steps),
            )
        return out

    async def apply(self, planned: Iterable[PlannedStep], stop: Mapping[str, str]) -> tuple[int, int]:
        """Store new steps (a key already stored is left as it is) and cancel what is no longer
        wanted: every pending step of an account in ``stop`` (patient → reason), and a scheduled step
        of a planned account whose key is not the planned one (superseded). Returns (inserted,
        cancelled)."""
        now = self._now()
        steps = list(planned)
        inserted = cancelled = 0
        async with self._sessions.begin() as s:
            for i in range(0, len(steps), 1000):
                batch = steps[i : i + 1000]
                values = [_row_values(p, now) for p in batch]
                # A step already stored keeps its key; while it is only scheduled, the newer decision's
                # timing and wording replace the old ones (a partial payment moves the follow-up).
                table = OutreachStepRow.__table__
                ins = self._insert()(table)
                # An unsubscribe, a bounce or a STOP since moves a step to the other channel, or to a
                # staff call task (its status then "open").
                changed = (
                    *("due_at", "reason", "template_key", "tone", "segment", "offer", "summary", "step"),
                    *("channel", "status"),
                )
                stmt = ins.on_conflict_do_update(
                    index_elements=["key"],
                    set_={name: ins.excluded[name] for name in (*changed, "updated_at")},
                    where=table.c.status == "scheduled",
                )
                # One statement executed for many rows (a compiled multi-row VALUES costs more than the
                # rows themselves at a thousand a batch).
                conn = await s.connection()
                inserted += _rowcount(await conn.execute(stmt, values))
                superseded = and_(
                    OutreachStepRow.patient_id.in_([p.patient_id for p in batch]),
                    OutreachStepRow.key.not_in([p.key for p in batch]),
                )
                result = await s.execute(
                    update(OutreachStepRow)
                    .where(superseded, OutreachStepRow.status == "scheduled")
                    .values(status="cancelled", status_reason="superseded", updated_at=now)
                )
                cancelled += _rowcount(result)
            by_reason: dict[str, list[str]] = {}
            for pid, reason in stop.items():
                by_reason.setdefault(reason, []).append(pid)
            for reason, pids in by_reason.items():
                for i in range(0, len(pids), 2000):
                    result = await s.execute(
                        update(OutreachStepRow)
                        .where(
                            OutreachStepRow.patient_id.in_(pids[i : i + 2000]),
                            OutreachStepRow.status == "scheduled",
                        )
                        .values(status="cancelled", status_reason=reason[:64], updated_at=now)
                    )
                    cancelled += _rowcount(result)
        return inserted, cancelled

    async def cancel_pending(self, patient_ids: Sequence[str], reason: str) -> list[StoredStep]:
        """Cancel every scheduled step of these accounts; returns what was cancelled."""
        if not patient_ids:
            return []
        now = self._now()
        async with self._sessions.begin() as s:
            rows = list(
                await s.scalars(
                    select(OutreachStepRow).where(
                        OutreachStepRow.patient_id.in_(list(patient_ids)),
                        OutreachStepRow.status == "scheduled",
                    )
                )
            )
            for r in rows:
                r.status, r.status_reason, r.updated_at = "cancelled", reason[:64], now
            return [_step(r) for r in rows]

    async def record_reply(
        self, patient_ids: Sequence[str], at: datetime
    ) -> tuple[StoredStep | None, list[StoredStep]]:
        """A patient answered: the newest sent step of these accounts gets the reply time and their
        pending steps are cancelled. Returns that step (the text the reply answers) and the cancelled."""
        if not patient_ids:
            return None, []
        async with self._sessions.begin() as s:
            newest = await s.scalar(
                select(OutreachStepRow)
                .where(OutreachStepRow.patient_id.in_(list(patient_ids)), OutreachStepRow.status == "sent")
                .order_by(OutreachStepRow.sent_at.desc(), OutreachStepRow.id.desc())
                .limit(1)
            )
            found = None
            if newest is not None:
                if newest.replied_at is None:
                    newest.replied_at = at
                    newest.updated_at = self._now()
                found = _step(newest)
        return found, await self.cancel_pending(patient_ids, "replied")

    async def get(self, step_id: int) -> StoredStep | None:
        async with self._sessions() as s:
            row = await s.get(OutreachStepRow, step_id)
            return None if row is None else _step(row)

    async def newest_sent(self, patient_ids: Sequence[str], since: datetime) -> StoredStep | None:
        """The newest text sent to any of these accounts after ``since`` (the offer a reply answers)."""
        if not patient_ids:
            return None
        async with self._sessions() as s:
            row = await s.scalar(
                select(OutreachStepRow)
                .where(
                    OutreachStepRow.patient_id.in_(list(patient_ids)),
                    OutreachStepRow.status == "sent",
                    OutreachStepRow.sent_at > since,
                )
                .order_by(OutreachStepRow.sent_at.desc(), OutreachStepRow.id.desc())
                .limit(1)
            )
            return None if row is None else _step(row)

    # ------------------------------------------------------------------ sending

    async def claim(
        self, worker: str, now: datetime, lease: timedelta, channels: Sequence[str]
    ) -> StoredStep | None:
        """Claim the most overdue scheduled step of ``channels`` for ``worker`` (one statement)."""
        due = (
            select(OutreachStepRow.id)
            .where(
                OutreachStepRow.status == "scheduled",
                OutreachStepRow.due_at <= now,
                OutreachStepRow.channel.in_(list(channels)),
            )
            .order_by(OutreachStepRow.due_at, OutreachStepRow.id)
            .limit(1)
        )
        if self._postgres:
            due = due.with_for_update(skip_locked=True)
        stmt = (
            update(OutreachStepRow)
            .where(OutreachStepRow.id == due.scalar_subquery(), OutreachStepRow.status == "scheduled")
            .values(
                status="sending",
                claimed_by=worker,
                lease_until=now + lease,
                attempts=OutreachStepRow.attempts + 1,
                updated_at=now,
            )
            .returning(OutreachStepRow)
        )
        async with self._sessions.begin() as s:
            row = (await s.execute(stmt.execution_options(synchronize_session=False))).scalar_one_or_none()
            return None if row is None else _step(row)

    async def _finish(self, step_id: int, worker: str, **values: Any) -> bool:
        async with self._sessions.begin() as s:
            result = await s.execute(
                update(OutreachStepRow)
                .where(
                    OutreachStepRow.id == step_id,
                    OutreachStepRow.status == "sending",
                    OutreachStepRow.claimed_by == worker,
                )
                .values(lease_until=None, updated_at=self._now(), **values)
            )
            return (_rowcount(result)) == 1

    async def mark_sent(
        self, step_id: int, worker: str, external_id: str, template_version: int, at: datetime
    ) -> bool:
        return await self._finish(
            step_id,
            worker,
            status="sent",
            status_reason=None,
            external_id=external_id,
            template_version=template_version,
            sent_at=at,
        )

    async def record_delivery(
        self, external_id: str, status: str, error_code: str | None, at: datetime
    ) -> DeliveryUpdate | None:
        """Apply a provider's delivery receipt to the sent step with this message id. ``None`` when no
        step has it (a conversation reply, another system's message): nothing is written. A repeat, or
        a status behind the one recorded, changes nothing."""
        rank = DELIVERY_RANK.get(status)
        if rank is None or not external_id:
            return None
        async with self._sessions.begin() as s:
            row = await s.scalar(
                select(OutreachStepRow)
                .where(OutreachStepRow.external_id == external_id)
                .order_by(OutreachStepRow.id)
                .limit(1)
                .with_for_update()
            )
            if row is None:
                return None
            previous = row.delivery_status
            if previous is not None and DELIVERY_RANK.get(previous, -1) >= rank:
                return DeliveryUpdate(_step(row), previous, changed=False)
            row.delivery_status = status
            row.delivery_error = error_code[:16] if error_code else None
            if status == "delivered":
                row.delivered_at = at
            row.updated_at = self._now()
            return DeliveryUpdate(_step(row), previous, changed=True)

    async def release(self, step_id: int, worker: str, due_at: datetime, reason: str) -> bool:
        """Back to ``scheduled`` at ``due_at`` (deferred by the gate, or a send that surely failed)."""
        return await self._finish(
            step_id, worker, status="scheduled", due_at=due_at, status_reason=reason[:64]
        )

    async def close(self, step_id: int, worker: str, status: StepStatus, reason: str) -> bool:
        """``blocked`` or ``cancelled`` by the sender's own checks."""
        return await self._finish(step_id, worker, status=status, status_reason=reason[:64])

    async def expire_leases(self, now: datetime) -> list[StoredStep]:
        """Claims whose worker died: ``uncertain`` (see the module docstring). Returns them."""
        async with self._sessions.begin() as s:
            rows = list(
                await s.scalars(
                    select(OutreachStepRow).where(
                        OutreachStepRow.status == "sending", OutreachStepRow.lease_until < now
                    )
                )
            )
            for r in rows:
                r.status, r.status_reason, r.lease_until, r.updated_at = (
                    "uncertain",
                    "lease_expired",
                    None,
                    now,
                )
            return [_step(r) for r in rows]

    # ------------------------------------------------------------------ reads for the console

    async def timeline(self, patient_id: str) -> list[StoredStep]:
        async with self._sessions() as s:
            rows = await s.scalars(
                select(OutreachStepRow)
                .where(OutreachStepRow.patient_id == patient_id)
                .order_by(OutreachStepRow.created_at, OutreachStepRow.id)
            )
            return [_step(r) for r in rows]

    async def steps(self, *, status: StepStatus | None = None, limit: int = 1000) -> list[StoredStep]:
        async with self._sessions() as s:
            query = select(OutreachStepRow).order_by(OutreachStepRow.id).limit(limit)
            if status is not None:
                query = query.where(OutreachStepRow.status == status)
            return [_step(r) for r in await s.scalars(query)]

    async def recent_patients(self, limit: int) -> list[tuple[str, int, datetime]]:
        """(patient, steps, newest change) of the patients outreach worked on most recently."""
        newest = func.max(OutreachStepRow.updated_at)
        async with self._sessions() as s:
            rows = await s.execute(
                select(OutreachStepRow.patient_id, func.count(), newest)
                .group_by(OutreachStepRow.patient_id)
                .order_by(newest.desc(), OutreachStepRow.patient_id)
                .limit(limit)
            )
            return [(str(pid), int(n), _aware(at)) for pid, n, at in rows]

    async def call_queue(self, now: datetime) -> list[StoredStep]:
        async with self._sessions() as s:
            rows = await s.scalars(
                select(OutreachStepRow)
                .where(OutreachStepRow.status == "open", OutreachStepRow.due_at <= now)
                .order_by(OutreachStepRow.due_at, OutreachStepRow.id)
            )
            return [_step(r) for r in rows]

    async def record_call_outcome(self, step_id: int, outcome: CallOutcome, by: str) -> StoredStep | None:
        async with self._sessions.begin() as s:
            row = await s.get(OutreachStepRow, step_id, with_for_update=True)
            if row is None or row.channel != "call":
                return None
            if row.status == "open":
                row.status, row.outcome, row.outcome_by, row.updated_at = "done", outcome, by, self._now()
            return _step(row)

    async def counts(self) -> dict[tuple[str, str], int]:
        """(status, segment) → steps, for the console's counters."""
        async with self._sessions() as s:
            rows = await s.execute(
                select(OutreachStepRow.status, OutreachStepRow.segment, func.count()).group_by(
                    OutreachStepRow.status, OutreachStepRow.segment
                )
            )
            return {(str(st), str(seg or "")): int(n) for st, seg, n in rows}

    async def sent_steps(self) -> list[StoredStep]:
        return await self.steps(status="sent", limit=1_000_000)

    # ------------------------------------------------------------------ pauses

    async def pause(self, scope: str, by: str) -> None:
        stmt = self._insert()(OutreachPauseRow).values(scope=scope, paused_by=by, created_at=self._now())
        async with self._sessions.begin() as s:
            await s.execute(stmt.on_conflict_do_nothing(index_elements=["scope"]))
        if scope != GLOBAL:
            await self.cancel_pending([scope], "paused")

    async def resume(self, scope: str) -> None:
        async with self._sessions.begin() as s:
            row = await s.get(OutreachPauseRow, scope)
            if row is not None:
                await s.delete(row)

    async def paused(self) -> set[str]:
        async with self._sessions() as s:
            return set(await s.scalars(select(OutreachPauseRow.scope)))

    # ------------------------------------------------------------------ cursor

    async def cursor(self, name: str) -> str | None:
        async with self._sessions() as s:
            row = await s.get(OutreachCursorRow, name)
            return None if row is None else row.value

    async def set_cursor(self, name: str, value: str) -> None:
        now = self._now()
        stmt = self._insert()(OutreachCursorRow).values(name=name, value=value, updated_at=now)
        stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value, "updated_at": now})
        async with self._sessions.begin() as s:
            await s.execute(stmt)

    # ------------------------------------------------------------------ templates

    async def seed_templates(self, texts: Mapping[str, Mapping[str, str]], by: str = "system") -> int:
        """Version 1 (a draft) of every key and language that has no version yet."""
        now = self._now()
        added = 0
        async with self._sessions.begin() as s:
            rows = await s.execute(select(OutreachTemplateRow.key, OutreachTemplateRow.language))
            have = {(str(key), str(language)) for key, language in rows}
            for key, by_language in texts.items():
                for language, body in by_language.items():
                    if (key, language) in have:
                        continue
                    s.add(OutreachTemplateRow(
                        key=key, language=language, version=1, body=body, status="draft", created_by=by,
                        created_at=now,
                    ))  # fmt: skip
                    added += 1
        return added

    async def propose_template(self, key: str, language: str, body: str, by: str) -> Template:
        """A new draft version (the next number); nothing is sent with it until it is approved."""
        async with self._sessions.begin() as s:
            latest = await s.scalar(
                select(func.max(OutreachTemplateRow.version)).where(
                    OutreachTemplateRow.key == key, OutreachTemplateRow.language == language
                )
            )
            row = OutreachTemplateRow(
                key=key, language=language, version=int(latest or 0) + 1, body=body, status="draft",
                created_by=by, created_at=self._now(),
            )  # fmt: skip
            s.add(row)
            await s.flush()
            return _template(row)

    async def approve_template(self, key: str, language: str, version: int, by: str) -> Template:
        """Approve one version; the version approved before it is retired (one live version per key)."""
        now = self._now()
        async with self._sessions.begin() as s:
            rows = list(
                await s.scalars(
                    select(OutreachTemplateRow)
                    .where(OutreachTemplateRow.key == key, OutreachTemplateRow.language == language)
                    .with_for_update()
                )
            )
            target = next((r for r in rows if r.version == version), None)
            if target is None:
                raise TemplateNotFound(f"no template {key} {language} v{version}")
            for r in rows:
                if r.status == "approved" and r is not target:
                    r.status = "retired"
            if target.status != "approved":
                target.status, target.approved_by, target.approved_at = "approved", by, now
            return _template(target)

    async def approved_template(self, key: str, language: str) -> Template | None:
        async with self._sessions() as s:
            row = await s.scalar(
                select(OutreachTemplateRow).where(
                    OutreachTemplateRow.key == key,
                    OutreachTemplateRow.language == language,
                    OutreachTemplateRow.status == "approved",
                )
            )
            return None if row is None else _template(row)

    async def templates(self) -> list[Template]:
        async with self._sessions() as s:
            rows = await s.scalars(
                select(OutreachTemplateRow).order_by(
                    OutreachTemplateRow.key, OutreachTemplateRow.language, OutreachTemplateRow.version
                )
            )
            return [_template(r) for r in rows]
