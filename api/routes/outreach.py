"""The console's outreach pages: per patient timeline with pause/resume, the staff call queue with its
outcomes, template approval (nothing is sent with a template a manager has not approved), live
counters, and "run a pass now". Staff sign in as for the rest of the console; managers approve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from agent.outreach.engine import OutreachEngine
from api.deps import ServicesDep
from api.errors import error_responses
from api.routes.console import ConsoleUser, ManagerUser
from guardrails.outreach import TemplateError, validate_template
from tools.errors import BillingError, NotFound
from tools.messaging.email_consent import EmailConsentStore
from tools.messaging.sms_webhook import PERMANENT_ERROR_CODES
from tools.outreach.store import GLOBAL, StoredStep, Template, TemplateNotFound

# A row id in a path: bounded to what the databases store (a larger number is a 422, not an overflow).
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

router = APIRouter(prefix="/v1/console/outreach", tags=["console", "outreach"])


async def get_outreach(services: ServicesDep) -> OutreachEngine:
    return services.outreach


OutreachDep = Annotated[OutreachEngine, Depends(get_outreach)]


class InvalidTemplate(BillingError):
    status_code = 422
    code = "invalid_template"


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class StepOut(_Out):
    id: int
    patient_id: str
    key: str
    step: str
    channel: str
    status: str
    reason: str = Field(description="why this step was decided")
    status_reason: str | None = Field(description="why it was deferred, blocked or cancelled")
    due_at: datetime
    sent_at: datetime | None
    replied_at: datetime | None
    segment: str | None
    tone: str
    template_version: int | None
    summary: str | None
    outcome: str | None
    delivery_status: str | None = Field(
        description="the provider's newest receipt: queued, sent, delivered, undelivered or failed"
    )
    delivery_error: str | None = Field(description="the provider's error code of an undelivered text")
    delivered_at: datetime | None


class CallOut(StepOut):
    """A staff call task with whom to call."""

    patient_name: str | None
    patient_phone: str | None


class PatientRowOut(_Out):
    patient_id: str
    patient_name: str | None
    steps: int
    last_activity_at: datetime
    paused: bool


class TimelineOut(_Out):
    patient_id: str
    paused: bool
    paused_globally: bool
    steps: list[StepOut]
    next: StepOut | None = Field(description="the next scheduled step, if any")


class TemplateOut(_Out):
    key: str
    language: str
    version: int
    body: str
    status: Literal["draft", "approved", "retired"] | str
    created_by: str
    approved_by: str | None
    approved_at: datetime | None


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    language: Literal["en", "es"]
    body: str = Field(min_length=10, max_length=640)


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["done", "no_answer", "promise_to_pay"]


class SegmentCounters(_Out):
    """Texts and emails (sent, delivered, undelivered, replied) count messages; the outcomes (paid,
    plans, opt-outs) count patients, each under the segment and channel of their first message."""

    sent: int
    delivered: int
    undelivered: int
    undelivered_permanent: int
    replied: int
    paid_within_7_days: int
    paid_within_30_days: int
    plans: int
    opt_outs: int


class CountersOut(SegmentCounters):
    delivered: int = Field(description="messages with the provider's delivery receipt")
    undelivered: int = Field(description="messages the provider reported undelivered or failed")
    undelivered_permanent: int = Field(
        description="undelivered with an error a retry cannot fix (not a mobile number, blocked, unknown)"
    )
    call_tasks_open: int
    uncertain: int
    paused_globally: bool
    by_segment: dict[str, SegmentCounters]
    by_channel: dict[str, SegmentCounters]


class RunOut(_Out):
    decided_accounts: int
    scheduled: int
    sent: int
    deferred: int
    blocked: int
    held: int
    cancelled: int


def _step_out(s: StoredStep) -> StepOut:
    return StepOut(
        id=s.id,
        patient_id=s.patient_id,
        key=s.key,
        step=s.step,
        channel=s.channel,
        status=s.status,
        reason=s.reason,
        status_reason=s.status_reason,
        due_at=s.due_at,
        sent_at=s.sent_at,
        replied_at=s.replied_at,
        segment=s.segment,
        tone=s.tone,
        template_version=s.template_version,
        summary=s.summary,
        outcome=s.outcome,
        delivery_status=s.delivery_status,
        delivery_error=s.delivery_error,
        delivered_at=s.delivered_at,
    )


def _template_out(t: Template) -> TemplateOut:
    return TemplateOut(
        key=t.key,
        language=t.language,
        version=t.version,
        body=t.body,
        status=t.status,
        created_by=t.created_by,
        approved_by=t.approved_by,
        approved_at=t.approved_at,
    )


@router.get("/patients/{patient_id}/timeline", responses=error_responses(401, 403, 404))
async def timeline(patient_id: str, staff: ConsoleUser, outreach: OutreachDep) -> TimelineOut:
    """What was sent to this patient, when and why, and what is next."""
    await outreach.platform.get_patient(patient_id)  # 404 for an unknown patient
    steps = await outreach.store.timeline(patient_id)
    paused = await outreach.store.paused()
    upcoming = sorted((s for s in steps if s.status in ("scheduled", "open")), key=lambda s: s.due_at)
    return TimelineOut(
        patient_id=patient_id,
        paused=patient_id in paused,
        paused_globally=GLOBAL in paused,
        steps=[_step_out(s) for s in steps],
        next=_step_out(upcoming[0]) if upcoming else None,
    )


@router.post("/patients/{patient_id}/pause", responses=error_responses(401, 403, 404))
async def pause_patient(patient_id: str, staff: ConsoleUser, outreach: OutreachDep) -> TimelineOut:
    await outreach.platform.get_patient(patient_id)
    await outreach.pause(patient_id, staff.email)
    return await timeline(patient_id, staff, outreach)


@router.post("/patients/{patient_id}/resume", responses=error_responses(401, 403, 404))
async def resume_patient(patient_id: str, staff: ConsoleUser, outreach: OutreachDep) -> TimelineOut:
    await outreach.platform.get_patient(patient_id)
    await outreach.resume(patient_id, staff.email)
    return await timeline(patient_id, staff, outreach)


@router.post("/pause", responses=error_responses(401, 403))
async def pause_all(staff: ManagerUser, outreach: OutreachDep) -> dict[str, bool]:
    """Pause outreach for every patient (nothing is decided or sent until resumed)."""
    await outreach.pause(GLOBAL, staff.email)
    return {"paused": True}


@router.post("/resume", responses=error_responses(401, 403))
async def resume_all(staff: ManagerUser, outreach: OutreachDep) -> dict[str, bool]:
    await outreach.resume(GLOBAL, staff.email)
    return {"paused": False}


@router.get("/patients", responses=error_responses(401, 403))
async def outreach_patients(
    staff: ConsoleUser, outreach: OutreachDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[PatientRowOut]:
    """The patients outreach worked on most recently, newest first (to open their timelines)."""
    paused = await outreach.store.paused()
    rows = []
    for pid, steps, last in await outreach.store.recent_patients(limit):
        name = await _patient_name(outreach, pid)
        rows.append(
            PatientRowOut(
                patient_id=pid,
                patient_name=name[0] if name else None,
                steps=steps,
                last_activity_at=last,
                paused=pid in paused,
            )
        )
    return rows


async def _patient_name(outreach: OutreachEngine, patient_id: str) -> tuple[str, str | None] | None:
    try:
        p = await outreach.platform.get_patient(patient_id)
    except NotFound:
        return None
    return f"{p.first_name} {p.last_name}", p.phone


@router.get("/calls", responses=error_responses(401, 403))
async def call_queue(staff: ConsoleUser, outreach: OutreachDep) -> list[CallOut]:
    """Staff call tasks due now, oldest first, each with its prepared summary and whom to call."""
    out = []
    for s in await outreach.store.call_queue(outreach.now()):
        who = await _patient_name(outreach, s.patient_id)
        out.append(
            CallOut(
                **_step_out(s).model_dump(),
                patient_name=who[0] if who else None,
                patient_phone=who[1] if who else None,
            )
        )
    return out


@router.post("/calls/{step_id}/outcome", responses=error_responses(401, 403, 404, 422))
async def call_outcome(step_id: RowId, body: OutcomeIn, staff: ConsoleUser, outreach: OutreachDep) -> StepOut:
    done = await outreach.store.record_call_outcome(step_id, body.outcome, staff.email)
    if done is None:
        raise NotFound(f"no call task {step_id}")
    await outreach.audit.append(
        "outreach.call_outcome",
        {"key": done.key, "outcome": body.outcome},
        patient_id=done.patient_id,
        actor="staff",
    )
    return _step_out(done)


@router.get("/templates", responses=error_responses(401, 403))
async def templates(staff: ConsoleUser, outreach: OutreachDep) -> list[TemplateOut]:
    return [_template_out(t) for t in await outreach.store.templates()]


@router.post("/templates", status_code=201, responses=error_responses(401, 403, 422))
async def propose_template(body: TemplateIn, staff: ManagerUser, outreach: OutreachDep) -> TemplateOut:
    """A new draft version of a template; it is used only once approved."""
    try:
        validate_template(body.body)
    except TemplateError as exc:
        raise InvalidTemplate(str(exc)) from exc
    return _template_out(
        await outreach.store.propose_template(body.key, body.language, body.body, staff.email)
    )


@router.post("/templates/{key}/{language}/{version}/approve", responses=error_responses(401, 403, 404))
async def approve_template(
    key: str, language: str, version: RowId, staff: ManagerUser, outreach: OutreachDep
) -> TemplateOut:
    try:
        approved = await outreach.store.approve_template(key, language, version, staff.email)
    except TemplateNotFound as exc:
        raise NotFound(str(exc)) from exc
    await outreach.audit.append(
        "outreach.template_approved", {"key": key, "language": language, "version": version}, actor="staff"
    )
    return _template_out(approved)


@router.get("/counters", responses=error_responses(401, 403))
async def counters(staff: ConsoleUser, outreach: OutreachDep, services: ServicesDep) -> CountersOut:
    """Outcomes of the messages sent, overall, by segment and by channel, read live from the database:
    the steps and their delivery receipts, the ledger's payments and plans, the consent records."""
    steps = await outreach.store.steps(limit=10_000_000)
    sent = sorted(
        (s for s in steps if s.status == "sent" and s.sent_at is not None),
        key=lambda s: (s.sent_at or datetime.min.replace(tzinfo=UTC), s.id),
    )
    first: dict[str, StoredStep] = {}
    channels_of: dict[str, set[str]] = {}
    for s in sent:
        first.setdefault(s.patient_id, s)
        channels_of.setdefault(s.patient_id, set()).add(s.channel)
    paid7: set[str] = set()
    paid30: set[str] = set()
    planned: set[str] = set()
    phones: dict[str, str] = {}
    emails: dict[str, str] = {}
    for pid, step in first.items():
        at = step.sent_at
        assert at is not None
        for payment in await outreach.platform.list_payments(pid):
            if at <= payment.posted_at <= at + timedelta(days=30):
                paid30.add(pid)
                if payment.posted_at <= at + timedelta(days=7):
                    paid7.add(pid)
        if any(p.created_at >= at for p in await outreach.platform.list_payment_plans(pid)):
            planned.add(pid)
        try:
            patient = await outreach.platform.get_patient(pid)
        except NotFound:
            continue
        if patient.phone and "sms" in channels_of[pid]:
            phones[pid] = patient.phone
        if patient.email and "email" in channels_of[pid]:
            emails[pid] = patient.email
    sms_standing = await outreach.consent.standings(list(phones.values()))
    email_standing = await EmailConsentStore(services.engine, services.settings.email_secret()).standings(
        list(emails.values())
    )
    opted_out = {s.patient_id for s in steps if s.patient_id in first and s.status_reason == "opted_out"}
    opted_out |= {pid for pid, phone in phones.items() if sms_standing.get(phone) == "opted_out"}
    opted_out |= {
        pid for pid, email in emails.items() if email_standing.get(email) in ("unsubscribed", "complained")
    }

    def count(messages: list[StoredStep], members: set[str]) -> SegmentCounters:
        undelivered = [s for s in messages if s.delivery_status in ("undelivered", "failed")]
        return SegmentCounters(
            sent=len(messages),
            delivered=sum(1 for s in messages if s.delivery_status == "delivered"),
            undelivered=len(undelivered),
            undelivered_permanent=sum(1 for s in undelivered if s.delivery_error in PERMANENT_ERROR_CODES),
            replied=sum(1 for s in messages if s.replied_at is not None),
            paid_within_7_days=len(paid7 & members),
            paid_within_30_days=len(paid30 & members),
            plans=len(planned & members),
            opt_outs=len(opted_out & members),
        )

    def by(attr: str) -> dict[str, SegmentCounters]:
        names = sorted({str(getattr(s, attr) or "") for s in sent})
        return {
            name: count(
                [s for s in sent if str(getattr(s, attr) or "") == name],
                {pid for pid, s in first.items() if str(getattr(s, attr) or "") == name},
            )
            for name in names
        }

    overall = count(sent, set(first))
    return CountersOut(
        **overall.model_dump(),
        call_tasks_open=sum(1 for s in steps if s.status == "open"),
        uncertain=sum(1 for s in steps if s.status == "uncertain"),
        paused_globally=GLOBAL in await outreach.store.paused(),
        by_segment=by("segment"),
        by_channel=by("channel"),
    )


@router.post("/run", responses=error_responses(401, 403))
async def run_now(staff: ManagerUser, outreach: OutreachDep) -> RunOut:
    """One pass now: decide for every account changed since the last pass, then send what is due."""
    decided, sent = await outreach.run_once()
    return RunOut(
        decided_accounts=decided.accounts,
        scheduled=decided.scheduled,
        sent=sent.sent,
        deferred=sent.deferred,
        blocked=sent.blocked,
        held=sent.held,
        cancelled=sent.cancelled,
    )
