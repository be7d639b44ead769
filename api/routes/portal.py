"""Portal chat: a patient, signed in to the practice's portal, talks to the agent.

Identity comes only from the portal's signed session token (``Authorization: Bearer``), mapped to the
patient through the platform. A patient sees only their own threads: any other thread id is a 404, the
same answer as a thread that does not exist.

Streams are SSE (sse-starlette) of typed events — ``typing``, ``token``, ``message``, ``handoff``,
``staff_message``, ``error``, ``done`` — each with ``id:`` = its ``EventStore`` id. ``data`` is JSON
with the event's fields plus ``turn_id``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from weakref import WeakKeyDictionary

from fastapi import APIRouter, Depends, Header, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from api.deps import Services, ServicesDep
from api.errors import error_responses
from api.protection import MAX_CURSOR, UnsupportedMediaType, client_ip, parse_cursor
from api.runtime.stream import follow
from api.runtime.threads import ThreadNotFound, ThreadRecord
from api.security import verify_portal_token
from tools.errors import NotAuthenticated
from tools.outreach.links import verify_offer_token
from tools.platforms.models import Channel, Patient

router = APIRouter(prefix="/v1/portal", tags=["portal"])

SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An SSE stream of typed events (`id:` = event id, `event:` = type, `data:` = JSON)",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
PING_SECONDS = 15
IDENTITY_TTL_S = 30.0
IDENTITY_MAX = 10_000


# --------------------------------------------------------------------------- dependencies


class IdentityCache:
    """Portal identity -> patient, kept ``IDENTITY_TTL_S`` seconds (per process, at most
    ``IDENTITY_MAX`` entries): every request of a chat carries the same session, and the look-up was
    the largest part of posting a message. A portal identity unlinked from its patient keeps working
    for at most the TTL (the signed session itself stays valid until it expires); an unknown identity
    is never cached."""

    def __init__(self, ttl_s: float = IDENTITY_TTL_S, max_entries: int = IDENTITY_MAX) -> None:
        self._ttl_s = ttl_s
        self._max = max_entries
        self._entries: dict[str, tuple[float, Patient]] = {}

    def get(self, portal_user_id: str) -> Patient | None:
        entry = self._entries.get(portal_user_id)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[portal_user_id]
            return None
        return entry[1]

    def put(self, portal_user_id: str, patient: Patient) -> None:
        if len(self._entries) >= self._max:  # drop the oldest half (insertion order)
            for key in list(self._entries)[: self._max // 2]:
                del self._entries[key]
        self._entries[portal_user_id] = (time.monotonic() + self._ttl_s, patient)


_identities: WeakKeyDictionary[object, IdentityCache] = WeakKeyDictionary()  # per platform (app)


async def rate_limit_ip(request: Request, services: ServicesDep) -> None:
    await services.limits.address(client_ip(request))


async def current_patient(
    services: ServicesDep,
    authorization: Annotated[str | None, Header(description="`Bearer <portal session token>`")] = None,
) -> Patient:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("a portal session token is required (Authorization: Bearer ...)")
    session = verify_portal_token(services.settings, token.strip())
    identities = _identities.get(services.platform)
    if identities is None:
        identities = _identities[services.platform] = IdentityCache()
    patient = identities.get(session.portal_user_id)
    if patient is None:
        patient = await services.platform.find_patient_by_portal_identity(session.portal_user_id)
        if patient is None:
            raise NotAuthenticated("the session does not name a patient of this practice")
        identities.put(session.portal_user_id, patient)
    return patient


async def first_event_first(services: ServicesDep) -> AsyncIterator[Callable[[], None]]:
    """Posting a message goes ahead of running turns until its first event is ready
    (``TurnRunner.enter_urgent``). The endpoint releases it as soon as the message is stored (before
    streaming); the exit here covers a failure on the way (any FastAPI version, any dependency scope)."""
    release = await services.runner.enter_urgent()
    try:
        yield release
    finally:
        release()


FirstEventFirst = Annotated[Callable[[], None], Depends(first_event_first)]


def _check_json(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType("send the body as application/json")


async def require_json(request: Request) -> None:
    _check_json(request)


CurrentPatient = Annotated[Patient, Depends(current_patient)]
LIMITED = [Depends(rate_limit_ip)]


async def own_thread(thread_id: str, patient: CurrentPatient, services: ServicesDep) -> ThreadRecord:
    thread = await services.threads.get(thread_id)
    if thread.channel != Channel.PORTAL.value or thread.patient_id != patient.id:
        raise ThreadNotFound(f"no thread {thread_id}")  # never reveal another patient's thread exists
    return thread


OwnThread = Annotated[ThreadRecord, Depends(own_thread)]


# --------------------------------------------------------------------------- models


class NewThread(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statement_id: str | None = Field(
        default=None, max_length=64, description="the statement the patient is viewing, if any"
    )
    offer: str | None = Field(
        default=None,
        max_length=200,
        description="the `offer` parameter of an outreach message's link: the chat opens with that "
        "message's offer in context (only for the patient it was sent to; otherwise ignored)",
    )


class NewMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=2000)


class ThreadOut(BaseModel):
    id: str
    channel: str
    mode: Literal["bot", "human"]
    statement_id: str | None
    created_at: datetime
    outreach_offer: bool = Field(
        default=False, description="the chat was opened from an outreach message's link, its offer in context"
    )
    outreach_step: str | None = Field(
        default=None,
        description="which outreach message the link came from: its payment link (`pay_link`), its plan "
        "offer (`plan_offer`, which YES takes) or a follow-up; the chat greets the patient accordingly",
    )


class HistoryItem(BaseModel):
    role: Literal["patient", "bot", "staff"]
    text: str
    at: datetime
    event_id: int | None = Field(description="the SSE event id (replies); null for the patient's messages")
    intent: str | None = None
    suggested_replies: list[str] = Field(default_factory=list)


class ThreadHistory(ThreadOut):
    messages: list[HistoryItem]
    last_event_id: int = Field(description="resume `/events` after this id to get only what follows")
    pending: int = Field(description="the patient's messages still waiting for their answer")


async def _out(services: Services, thread: ThreadRecord) -> ThreadOut:
    step = None
    if thread.outreach_step_id is not None:
        step = await services.outreach.store.get(thread.outreach_step_id)
    return ThreadOut(
        id=thread.id,
        channel=thread.channel,
        mode=thread.mode,
        statement_id=thread.statement_id,
        created_at=thread.created_at,
        outreach_offer=thread.outreach_step_id is not None,
        outreach_step=step.step if step is not None else None,
    )


# --------------------------------------------------------------------------- routes


@router.post(
    "/threads",
    status_code=status.HTTP_201_CREATED,
    response_model=ThreadOut,
    dependencies=LIMITED,
    responses=error_responses(401, 404, 413, 415, 422, 429),
)
async def create_thread(
    request: Request,
    patient: CurrentPatient,
    services: ServicesDep,
    body: NewThread | None = None,
) -> ThreadOut:
    """Start a conversation. ``statement_id`` (or the token's) must be one of the patient's statements."""
    if request.headers.get("content-length", "0") != "0":
        _check_json(request)
    statement_id = body.statement_id if body is not None else None
    if statement_id is None:
        statement_id = verify_portal_token(
            services.settings, request.headers["authorization"].partition(" ")[2].strip()
        ).statement_id
    if statement_id is not None:
        await services.platform.get_statement(patient.id, statement_id)  # 404 unless it is theirs
    step_id = await _offer_step(services, patient, body.offer) if body is not None and body.offer else None
    thread = await services.threads.create(
        Channel.PORTAL.value, patient_id=patient.id, statement_id=statement_id, outreach_step_id=step_id
    )
    if step_id is not None:
        await services.outreach.on_link_opened(patient.id, step_id)
    return await _out(services, thread)


async def _offer_step(services: Services, patient: Patient, token: str) -> int | None:
    """The outreach step an offer link names, when the link is ours, unexpired, and the step was sent to
    this very patient; else ``None`` and the chat opens without it (the answer is the same for a forged
    link and another patient's, so a link reveals nothing)."""
    step_id = verify_offer_token(services.settings.portal_token_secret, token, datetime.now(UTC))
    if step_id is None:
        return None
    step = await services.outreach.store.get(step_id)
    if step is None or step.patient_id != patient.id or step.status != "sent":
        return None
    return step.id


@router.get(
    "/threads/{thread_id}",
    response_model=ThreadHistory,
    dependencies=LIMITED,
    responses=error_responses(401, 404, 429),
)
async def get_thread(thread: OwnThread, services: ServicesDep) -> ThreadHistory:
    """The conversation so far: the patient's messages and the replies (bot and staff), in order."""
    items: list[HistoryItem] = []
    inbound = await services.threads.inbound_of(thread.id)
    items.extend(HistoryItem(role="patient", text=m.text, at=m.created_at, event_id=None) for m in inbound)
    for event in await services.events.of_types(thread.id, frozenset({"message", "staff_message"})):
        items.append(
            HistoryItem(
                role="staff" if event.type == "staff_message" else "bot",
                text=str(event.data.get("text", "")),
                at=event.created_at,
                event_id=event.id,
                intent=event.data.get("intent"),
                suggested_replies=list(event.data.get("suggested_replies") or []),
            )
        )
    items.sort(key=lambda i: (i.at, i.event_id or 0))
    return ThreadHistory(
        **(await _out(services, thread)).model_dump(),
        messages=items,
        last_event_id=await services.events.last_id(thread.id),
        pending=sum(1 for m in inbound if m.status == "queued"),
    )


@router.post(
    "/threads/{thread_id}/messages",
    response_class=EventSourceResponse,
    dependencies=[*LIMITED, Depends(require_json)],
    responses={**SSE_RESPONSE, **error_responses(401, 404, 413, 415, 422, 429)},
)
async def post_message(
    thread_id: str,
    first: FirstEventFirst,
    patient: CurrentPatient,
    body: NewMessage,
    services: ServicesDep,
) -> EventSourceResponse:
    """Send a message; the answer streams back as SSE until its ``done``. A message sent while an answer
    is still being written waits its turn. Closing the stream does not stop the answer: it is recorded
    and can be read with ``GET /threads/{id}`` or followed on ``/events``."""
    # Counted per (patient, thread) and per patient before anything is stored (429, nothing stored): a
    # caller refused on another patient's thread id spends only their own budget, and new threads do
    # not reset a patient's.
    await services.limits.message(patient.id, thread_id)
    subscription = services.bus.subscribe(thread_id)  # before submit: no event of the turn can be missed
    try:
        # One transaction, no read before it: the thread must be this patient's portal thread (else
        # 404, nothing stored), and on an idle thread the turn's `typing` event is stored with the
        # message: it is the stream's first event at once, before the turn queues behind other threads'.
        accepted = await services.runner.accept(
            thread_id, body.text, channel=Channel.PORTAL.value, patient_id=patient.id
        )
    except BaseException:
        subscription.close()
        raise
    finally:
        first()  # the first event is ready (or the request failed): turns may go on
    turn_id = accepted.message.turn_id
    stream = follow(
        services.events,
        subscription,
        thread_id,
        accepted.cursor,
        metrics=services.metrics,
        keep=lambda e: e.turn_id == turn_id,
        until=lambda e: e.type == "done",
        first=[accepted.typing] if accepted.typing is not None else [],
        # every event of a new turn is stored after the subscription (a duplicate's were before it)
        subscribed_before=not accepted.message.duplicate,
    )
    return EventSourceResponse(stream, ping=PING_SECONDS, headers={"Cache-Control": "no-store"})


@router.get(
    "/threads/{thread_id}/events",
    response_class=EventSourceResponse,
    dependencies=LIMITED,
    responses={**SSE_RESPONSE, **error_responses(400, 401, 404, 422, 429)},
)
async def thread_events(
    thread: OwnThread,
    services: ServicesDep,
    after: Annotated[int | None, Query(ge=0, le=MAX_CURSOR, description="resume after this event id")] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="set by EventSource on reconnect")
    ] = None,
) -> EventSourceResponse:
    """Live events of the thread (answers, staff replies, hand-offs). Resumes after ``Last-Event-ID`` (or
    ``?after=``) without loss or duplication; without either, starts from now. Stays open."""
    subscription = services.bus.subscribe(thread.id)
    try:
        if last_event_id is not None and last_event_id.strip():
            cursor = parse_cursor(last_event_id)
        elif after is not None:
            cursor = after
        else:
            cursor = await services.events.last_id(thread.id)
    except BaseException:
        subscription.close()
        raise
    stream = follow(services.events, subscription, thread.id, cursor, metrics=services.metrics)
    return EventSourceResponse(stream, ping=PING_SECONDS, headers={"Cache-Control": "no-store"})
