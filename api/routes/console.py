"""The staff console over HTTP: ``/console`` (the page) and ``/v1/console/*`` (its API).

Authentication, either of:

* **Session cookie** (the page): ``POST /v1/console/login`` sets ``pba_console_session`` (``HttpOnly``,
  ``SameSite=Lax``, ``Secure`` when served over https) and ``pba_console_csrf`` (readable by the page).
  Every unsafe request must echo the CSRF token in ``X-CSRF-Token``; it is checked against the cookie
  *and* the session it was issued with (double submit bound to the session), else 403.
* **Bearer token** (scripts): ``POST /v1/console/tokens`` → ``Authorization: Bearer …``. No ambient
  credential is involved, so no CSRF token is needed.

Roles: ``agent`` works the queue; approving or denying a payment plan needs ``manager`` or ``admin``.
Every action is audited with the staff member's id (``api.console``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response, Security
from fastapi.responses import FileResponse
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from api.console import Analytics, Console, PatientContext, QueueItem, ThreadView
from api.deps import ServicesDep
from api.errors import error_responses
from api.protection import client_ip, parse_cursor
from api.runtime.bus import ALL_THREADS
from api.runtime.threads import ThreadRecord
from api.staff import IssuedSession, Role, SessionKind, StaffDirectory, StaffUser
from tools.errors import Forbidden, NotAuthenticated, RateLimited
from tools.platforms.models import AccountSummary, Claim, PaymentPlan, Statement, Ticket

router = APIRouter(tags=["console"])

STATIC = Path(__file__).resolve().parent.parent / "static"
SESSION_COOKIE = "pba_console_session"
CSRF_COOKIE = "pba_console_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
QUIET_EVENTS = frozenset({"typing", "token"})  # too chatty for the console's feed
SSE_WAIT_S = 15.0
# Analytics windows are about the service's own conversations: any day outside these bounds is a
# mistake (and 0001-01-01 or 9999-12-31 would overflow the window's date arithmetic).
ANALYTICS_FIRST_DAY = date(2000, 1, 1)
ANALYTICS_LAST_DAY = date(2100, 12, 31)

_session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="ConsoleSession")
_bearer = HTTPBearer(auto_error=False, scheme_name="ConsoleToken")


# --------------------------------------------------------------------------- dependencies


async def get_directory(services: ServicesDep) -> StaffDirectory:
    return StaffDirectory(services.engine)


DirectoryDep = Annotated[StaffDirectory, Depends(get_directory)]


async def get_console(services: ServicesDep, directory: DirectoryDep) -> Console:
    return Console(
        engine=services.engine,
        threads=services.threads,
        events=services.events,
        bus=services.bus,
        agent=services.agent,
        platform=services.platform,
        audit=services.audit,
        staff=directory,
        delivery=services.delivery,
        locks=services.locks,
    )


ConsoleDep = Annotated[Console, Depends(get_console)]


async def current_staff(
    request: Request,
    directory: DirectoryDep,
    cookie: Annotated[str | None, Security(_session_cookie)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    csrf_header: Annotated[str | None, Header(alias=CSRF_HEADER, include_in_schema=False)] = None,
) -> StaffUser:
    if bearer is not None:
        return (await directory.resolve(bearer.credentials, SessionKind.BEARER)).staff
    if not cookie:
        raise NotAuthenticated("sign in to the console")
    session = await directory.resolve(cookie, SessionKind.COOKIE)
    if request.method not in SAFE_METHODS:
        cookie_token = request.cookies.get(CSRF_COOKIE) or ""
        sent = csrf_header or ""
        if not (
            sent
            and hmac.compare_digest(sent.encode(), cookie_token.encode())
            and hmac.compare_digest(sent.encode(), session.csrf_token.encode())
        ):
            raise Forbidden("missing or wrong CSRF token (send the X-CSRF-Token header)")
    return session.staff


ConsoleUser = Annotated[StaffUser, Depends(current_staff)]


async def require_manager(staff: ConsoleUser) -> StaffUser:
    staff.require(Role.MANAGER)
    return staff


ManagerUser = Annotated[StaffUser, Depends(require_manager)]

AUTH_ERRORS = (401, 403)


# --------------------------------------------------------------------------- models


class Credentials(BaseModel):
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class StaffOut(BaseModel):
    id: int
    email: str
    role: Role


class LoginOut(BaseModel):
    staff: StaffOut
    csrf_token: str
    expires_at: datetime


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    staff: StaffOut


class ThreadOut(BaseModel):
    id: str
    patient_id: str | None
    channel: str
    mode: str
    holder: str | None
    holder_email: str | None
    created_at: datetime
    last_inbound_at: datetime | None
    escalated_at: datetime | None
    escalation_reason: str | None
    escalation_priority: str | None
    ticket_id: str | None


class QueueItemOut(BaseModel):
    thread: ThreadOut
    state: Literal["waiting", "held", "bot"]
    waiting_s: float


class TranscriptLineOut(BaseModel):
    author: str
    text: str
    at: datetime


class PatientOut(BaseModel):
    patient_id: str
    name: str
    language: str
    preferred_channel: str
    summary: AccountSummary
    statements: list[Statement]
    claims: list[Claim]
    plans: list[PaymentPlan]
    tickets: list[Ticket]


class ApprovalOut(BaseModel):
    thread_id: str
    patient_id: str
    plan_id: str
    total_cents: int
    months: int
    installment_cents: int
    channel: str


class OutageHandoffOut(BaseModel):
    reference: str  # what the patient was given
    thread_id: str
    channel: str
    patient_id: str | None  # None: the patient was not verified (no account to attach a ticket to)
    reason: str
    priority: str
    created_at: datetime


class ThreadDetailOut(BaseModel):
    thread: ThreadOut
    transcript: list[TranscriptLineOut]
    patient: PatientOut | None
    ticket: Ticket | None
    escalation_reason: str | None
    pending_approval: ApprovalOut | None


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class ReplyOut(BaseModel):
    event_id: int
    thread_id: str


class HandBackIn(BaseModel):
    note: str | None = Field(default=None, max_length=1000)


class PlanDecisionIn(BaseModel):
    approved: bool


class PlanDecisionOut(BaseModel):
    thread_id: str
    plan_id: str
    approved: bool
    plan_status: str | None
    event_id: int


class IntentCount(BaseModel):
    intent: str
    count: int


class DayOut(BaseModel):
    day: date
    conversations: int
    handoffs: int
    resolved_without_human: int
    median_first_human_reply_s: float | None


class AnalyticsOut(BaseModel):
    since: date
    until: date
    conversations: int
    handoffs: int
    resolved_without_human: int
    resolution_rate: float = Field(description="share of conversations answered without any human")
    handoff_rate: float = Field(description="share of conversations handed to a person")
    median_first_human_reply_s: float | None
    top_intents: list[IntentCount]
    by_day: list[DayOut]


def _staff_out(staff: StaffUser) -> StaffOut:
    return StaffOut(id=staff.id, email=staff.email, role=staff.role)


def _thread_out(thread: ThreadRecord, holder_email: str | None = None) -> ThreadOut:
    return ThreadOut(
        id=thread.id,
        patient_id=thread.patient_id,
        channel=thread.channel,
        mode=thread.mode,
        holder=thread.holder,
        holder_email=holder_email,
        created_at=thread.created_at,
        last_inbound_at=thread.last_inbound_at,
        escalated_at=thread.escalated_at,
        escalation_reason=thread.escalation_reason,
        escalation_priority=thread.escalation_priority,
        ticket_id=thread.ticket_id,
    )


def _approval_out(thread_id: str, request: dict[str, Any]) -> ApprovalOut:
    return ApprovalOut(
        thread_id=thread_id,
        patient_id=str(request["patient_id"]),
        plan_id=str(request["plan_id"]),
        total_cents=int(request["total_cents"]),
        months=int(request["months"]),
        installment_cents=int(request["installment_cents"]),
        channel=str(request["channel"]),
    )


def _queue_out(item: QueueItem) -> QueueItemOut:
    return QueueItemOut(
        thread=_thread_out(item.thread, item.holder_email), state=item.state, waiting_s=item.waiting_s
    )


def _patient_out(p: PatientContext) -> PatientOut:
    return PatientOut(
        patient_id=p.patient_id,
        name=p.name,
        language=p.language,
        preferred_channel=p.preferred_channel,
        summary=p.summary,
        statements=p.statements,
        claims=p.claims,
        plans=p.plans,
        tickets=p.tickets,
    )


def _detail_out(view: ThreadView) -> ThreadDetailOut:
    return ThreadDetailOut(
        thread=_thread_out(view.thread, view.holder_email),
        transcript=[TranscriptLineOut(author=e.author, text=e.text, at=e.at) for e in view.transcript],
        patient=_patient_out(view.patient) if view.patient is not None else None,
        ticket=view.ticket,
        escalation_reason=view.thread.escalation_reason,
        pending_approval=(
            _approval_out(view.thread.id, view.pending_approval)
            if view.pending_approval is not None
            else None
        ),
    )


def _analytics_out(a: Analytics) -> AnalyticsOut:
    return AnalyticsOut(
        since=a.since,
        until=a.until,
        conversations=a.conversations,
        handoffs=a.handoffs,
        resolved_without_human=a.resolved_without_human,
        resolution_rate=a.resolution_rate,
        handoff_rate=a.handoff_rate,
        median_first_human_reply_s=a.median_first_human_reply_s,
        top_intents=[IntentCount(intent=i, count=c) for i, c in a.top_intents],
        by_day=[
            DayOut(
                day=d.day,
                conversations=d.conversations,
                handoffs=d.handoffs,
                resolved_without_human=d.resolved_without_human,
                median_first_human_reply_s=d.median_first_human_reply_s,
            )
            for d in a.by_day
        ],
    )


# --------------------------------------------------------------------------- the page


def _page(name: str, media_type: str) -> FileResponse:
    return FileResponse(
        STATIC / name,
        media_type=media_type,
        headers={
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": (
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
            ),
            "Referrer-Policy": "same-origin",
        },
    )


@router.get("/console", include_in_schema=False)
async def console_page() -> FileResponse:
    return _page("console.html", "text/html; charset=utf-8")


@router.get("/console/console.js", include_in_schema=False)
async def console_script() -> FileResponse:
    return _page("console.js", "text/javascript; charset=utf-8")


@router.get("/console/console.css", include_in_schema=False)
async def console_styles() -> FileResponse:
    return _page("console.css", "text/css; charset=utf-8")


# --------------------------------------------------------------------------- sign in


def _secure(request: Request, services: ServicesDep) -> bool:
    return request.url.scheme == "https" or services.settings.public_base_url.startswith("https://")


def _set_cookies(response: Response, issued: IssuedSession, secure: bool) -> None:
    max_age = max(
        0, int((issued.session.expires_at - datetime.now(issued.session.expires_at.tzinfo)).total_seconds())
    )
    common: dict[str, Any] = {"max_age": max_age, "path": "/", "secure": secure, "samesite": "lax"}
    response.set_cookie(SESSION_COOKIE, issued.token, httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, issued.session.csrf_token, httponly=False, **common)


def _account_key(email: str) -> str:
    """The throttling and audit key of a sign-in's account: a digest of the address as typed (trimmed,
    lower-cased), so neither the rate-limit storage nor the audit trail holds e-mail addresses."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()[:24]


async def sign_in(
    body: Credentials, request: Request, services: ServicesDep, directory: StaffDirectory, kind: SessionKind
) -> StaffUser:
    """Check the credentials under the sign-in limits (NIST SP 800-63B 5.2.2: limit failed attempts).

    Only failures count, per account and per client address, in the shared rate-limit storage (every
    worker sees them). Over either limit every attempt is refused with 429 before the password is
    looked at, the right one included, until the window moves on (an exact moving window: no window
    edge lets an extra guess through); each refusal and each failure is audited. A success clears the
    account's failures."""
    limits, limiter = services.limits, services.limits.limiter
    account, ip = _account_key(body.email), client_ip(request)
    checks = (
        (limits.login_account, "account", account),
        (limits.login_ip, "address", ip),
    )
    for item, scope, key in checks:
        wait = await limiter.test(item, "login", scope, key, exact=True)
        if wait:
            await services.audit.append(
                "console.login.throttled",
                {"kind": kind.value, "scope": scope, "account": account, "ip": ip, "retry_after_s": wait},
                actor="anonymous",
            )
            raise RateLimited("too many failed sign-ins; retry later", wait)
    try:
        staff = await directory.authenticate(body.email, body.password)
    except NotAuthenticated:
        for item, scope, key in checks:
            await limiter.hit(item, "login", scope, key, exact=True)
        await services.audit.append(
            "console.login.failed", {"kind": kind.value, "account": account, "ip": ip}, actor="anonymous"
        )
        raise
    await limiter.clear(limits.login_account, "login", "account", account, exact=True)
    return staff


@router.post("/v1/console/login", response_model=LoginOut, responses=error_responses(401, 422, 429))
async def login(
    body: Credentials, request: Request, response: Response, services: ServicesDep, directory: DirectoryDep
) -> LoginOut:
    """Sign in to the console: sets the session and CSRF cookies. Failed attempts are limited per account
    and per client address (429 with ``Retry-After``, audited)."""
    staff = await sign_in(body, request, services, directory, SessionKind.COOKIE)
    issued = await directory.open_session(staff, SessionKind.COOKIE)
    _set_cookies(response, issued, _secure(request, services))
    await services.audit.append("console.login", {"kind": "cookie"}, actor=staff.actor)
    return LoginOut(
        staff=_staff_out(staff), csrf_token=issued.session.csrf_token, expires_at=issued.session.expires_at
    )


@router.post("/v1/console/tokens", response_model=TokenOut, responses=error_responses(401, 422, 429))
async def create_token(
    body: Credentials, request: Request, services: ServicesDep, directory: DirectoryDep
) -> TokenOut:
    """A short-lived bearer token for scripts (``Authorization: Bearer <token>``). Failed attempts are
    limited as on ``/login``."""
    staff = await sign_in(body, request, services, directory, SessionKind.BEARER)
    issued = await directory.open_session(staff, SessionKind.BEARER)
    await services.audit.append("console.login", {"kind": "bearer"}, actor=staff.actor)
    return TokenOut(access_token=issued.token, expires_at=issued.session.expires_at, staff=_staff_out(staff))


@router.post("/v1/console/logout", status_code=204, responses=error_responses(*AUTH_ERRORS))
async def logout(
    staff: ConsoleUser,
    request: Request,
    services: ServicesDep,
    directory: DirectoryDep,
    cookie: Annotated[str | None, Security(_session_cookie)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Response:
    """End this session (cookie or bearer token)."""
    token = bearer.credentials if bearer is not None else cookie
    if token:
        await directory.revoke(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(request, services), httponly=True)
    response.delete_cookie(CSRF_COOKIE, path="/", secure=_secure(request, services))
    await services.audit.append("console.logout", {}, actor=staff.actor)
    return response


@router.get("/v1/console/me", response_model=StaffOut, responses=error_responses(*AUTH_ERRORS))
async def me(staff: ConsoleUser) -> StaffOut:
    return _staff_out(staff)


# --------------------------------------------------------------------------- the work


@router.get("/v1/console/queue", response_model=list[QueueItemOut], responses=error_responses(*AUTH_ERRORS))
async def queue(staff: ConsoleUser, console: ConsoleDep) -> list[QueueItemOut]:
    """Escalated threads not yet resolved: by priority (urgent first), then the longest waiting."""
    return [_queue_out(i) for i in await console.queue()]


@router.get(
    "/v1/console/threads/{thread_id}",
    response_model=ThreadDetailOut,
    responses=error_responses(*AUTH_ERRORS, 404),
)
async def thread_detail(thread_id: str, staff: ConsoleUser, console: ConsoleDep) -> ThreadDetailOut:
    """Transcript, the patient's context (balance, statements and lines, claims, plans, tickets) and why
    the thread escalated."""
    return _detail_out(await console.thread_view(staff, thread_id))


@router.post(
    "/v1/console/threads/{thread_id}/take-over",
    response_model=ThreadOut,
    responses=error_responses(*AUTH_ERRORS, 404, 409),
)
async def take_over(thread_id: str, staff: ConsoleUser, console: ConsoleDep) -> ThreadOut:
    """Take the thread from the bot, exclusively: 409 names who holds it when someone else does."""
    thread = await console.take_over(staff, thread_id)
    return _thread_out(thread, staff.email)


@router.post(
    "/v1/console/threads/{thread_id}/reply",
    response_model=ReplyOut,
    responses=error_responses(*AUTH_ERRORS, 404, 409, 422),
)
async def reply(thread_id: str, body: ReplyIn, staff: ConsoleUser, console: ConsoleDep) -> ReplyOut:
    """Send a message to the patient on their channel (live on the portal, by text on SMS). The thread must
    be taken over by you first."""
    stored = await console.reply(staff, thread_id, body.text)
    return ReplyOut(event_id=stored.id, thread_id=thread_id)


@router.post(
    "/v1/console/threads/{thread_id}/hand-back",
    response_model=ThreadOut,
    responses=error_responses(*AUTH_ERRORS, 404, 409, 422),
)
async def hand_back(thread_id: str, staff: ConsoleUser, console: ConsoleDep, body: HandBackIn) -> ThreadOut:
    """Give the thread back to the bot, with an optional note on the transcript."""
    return _thread_out(await console.hand_back(staff, thread_id, body.note))


@router.post(
    "/v1/console/threads/{thread_id}/resolve",
    response_model=ThreadOut,
    responses=error_responses(*AUTH_ERRORS, 404, 409),
)
async def resolve(thread_id: str, staff: ConsoleUser, console: ConsoleDep) -> ThreadOut:
    """Close the escalation: the ticket is resolved, the thread leaves the queue and the bot answers again."""
    return _thread_out(await console.resolve(staff, thread_id))


@router.get(
    "/v1/console/approvals", response_model=list[ApprovalOut], responses=error_responses(*AUTH_ERRORS)
)
async def approvals(staff: ConsoleUser, console: ConsoleDep) -> list[ApprovalOut]:
    """Payment plans waiting for a staff decision."""
    return [_approval_out(t.id, request) for t, request in await console.approvals()]


@router.get(
    "/v1/console/outage-handoffs",
    response_model=list[OutageHandoffOut],
    responses=error_responses(*AUTH_ERRORS),
)
async def outage_handoffs(staff: ConsoleUser, console: ConsoleDep) -> list[OutageHandoffOut]:
    """Requests for a person queued while the practice system was down and not yet opened as tickets
    on it, oldest first."""
    return [
        OutageHandoffOut(
            reference=h.reference,
            thread_id=h.thread_id,
            channel=h.channel.value,
            patient_id=h.patient_id,
            reason=h.reason.value,
            priority=h.priority.value,
            created_at=h.created_at,
        )
        for h in await console.outage_handoffs()
    ]


@router.post(
    "/v1/console/threads/{thread_id}/plan-decision",
    response_model=PlanDecisionOut,
    responses=error_responses(*AUTH_ERRORS, 404, 409, 422),
)
async def plan_decision(
    thread_id: str, body: PlanDecisionIn, staff: ManagerUser, console: ConsoleDep
) -> PlanDecisionOut:
    """Approve or deny the plan waiting on this thread (manager or admin). Resumes the agent's graph, which
    activates or denies the plan on the ledger and tells the patient."""
    decision = await console.decide_plan(staff, thread_id, body.approved)
    return PlanDecisionOut(
        thread_id=thread_id,
        plan_id=decision.plan_id,
        approved=decision.approved,
        plan_status=decision.plan.status.value if decision.plan is not None else None,
        event_id=decision.event.id,
    )


@router.get(
    "/v1/console/analytics", response_model=AnalyticsOut, responses=error_responses(*AUTH_ERRORS, 422)
)
async def analytics(
    staff: ConsoleUser,
    console: ConsoleDep,
    days: Annotated[int, Query(ge=1, le=90)] = 14,
    until: Annotated[
        date | None,
        Query(ge=ANALYTICS_FIRST_DAY, le=ANALYTICS_LAST_DAY, description="last day (UTC); default today"),
    ] = None,
) -> AnalyticsOut:
    """Conversations, resolution rate (answered without a human), handoff rate, median time from hand-off
    to the first human reply, top intents, by day."""
    return _analytics_out(await console.analytics(days, until))


# --------------------------------------------------------------------------- live feed


@router.get(
    "/v1/console/events",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"},
        **error_responses(*AUTH_ERRORS, 400),
    },
)
async def console_events(
    request: Request,
    staff: ConsoleUser,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="close after this many events")] = None,
) -> EventSourceResponse:
    """Every thread's events as they happen (``thread`` events naming the thread and the event type; token
    deltas left out), resumable with ``Last-Event-ID``."""
    events, bus = services.events, services.bus
    subscription = bus.subscribe(ALL_THREADS)  # before reading the store: nothing can slip between
    try:
        if last_event_id and last_event_id.strip():
            cursor = parse_cursor(last_event_id)  # 400 for anything but an event id
        else:
            cursor = await events.last_id()
    except BaseException:
        subscription.close()
        raise

    async def stream() -> AsyncIterator[dict[str, str]]:
        nonlocal cursor
        sent = 0
        try:
            yield {"event": "ready", "data": json.dumps({"cursor": cursor, "staff_id": staff.id})}
            while True:
                batch = await events.since(cursor, limit=500)
                for ev in batch:
                    cursor = ev.id
                    if ev.type in QUIET_EVENTS:
                        continue
                    data = {"thread_id": ev.thread_id, "type": ev.type, "event_id": ev.id}
                    yield {"id": str(ev.id), "event": "thread", "data": json.dumps(data)}
                    sent += 1
                    if limit is not None and sent >= limit:
                        return
                if len(batch) == 500:
                    continue
                if await request.is_disconnected():
                    return
                await subscription.next(SSE_WAIT_S)
        finally:
            subscription.close()

    return EventSourceResponse(stream(), ping=15)
