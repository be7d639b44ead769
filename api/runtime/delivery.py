"""``Delivery``: what reaches the patient outside the turn's own SSE stream.

* After a turn on an SMS thread, its ``message`` goes out through the ``Messaging`` port, only while the
  patient's SMS consent stands.
* A staff reply (``post_staff_message``) and a system notice (``post_system_message``, e.g. "payment
  received") are appended as events (so the portal's live stream shows them at once, on any worker),
  logged on the platform transcript, and texted on SMS threads.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from agent.events import AgentEvent, MessageEvent
from agent.service import BillingAgent
from agent.service import ThreadNotFound as AgentThreadNotFound
from api.runtime.events import StoredEvent
from api.runtime.locks import ThreadLocks
from api.runtime.metrics import Metrics
from api.runtime.threads import ThreadRecord, Threads
from tools.messaging.base import Messaging, OutboundMessage
from tools.messaging.consent import SmsConsentStore
from tools.platforms.base import BillingPlatform
from tools.platforms.models import Author, Channel, CommunicationIn, Direction

log = logging.getLogger(__name__)

Emit = Callable[[str, Mapping[str, Any], str | None], Awaitable[StoredEvent]]


class Delivery:
    def __init__(
        self,
        *,
        agent: BillingAgent,
        platform: BillingPlatform,
        messaging: Messaging,
        threads: Threads,
        locks: ThreadLocks,
        emit: Emit,
        consent: SmsConsentStore,
        metrics: Metrics | None = None,
    ) -> None:
        self._agent = agent
        self._platform = platform
        self.messaging = messaging
        self._threads = threads
        self._locks = locks
        self._emit = emit
        self._consent = consent
        self._metrics = metrics

    async def sms_consent(self, thread: ThreadRecord) -> bool:
        """May we text this thread? Replies, staff messages and notices on a conversation the patient
        started by texting us are allowed until the number opts out (STOP, or a free-text revocation)
        and after it opts back in (START). The platform's ``sms_consent`` flag governs outreach the
        patient did not start, not answers to their own texts."""
        if thread.channel != Channel.SMS.value or not thread.phone:
            return False
        return await self._consent.allows(thread.phone)

    async def _text(self, thread: ThreadRecord, body: str, kind: str) -> bool:
        if not body.strip() or thread.phone is None or not await self.sms_consent(thread):
            log.info("delivery.sms.skipped", extra={"thread_id": thread.id, "kind": kind})
            return False
        sent = await self.messaging.send(OutboundMessage(to=thread.phone, body=body, thread_id=thread.id))
        if self._metrics is not None:
            self._metrics.messages_sent.labels(kind=kind).inc()
        log.info("delivery.sms.sent", extra={"thread_id": thread.id, "kind": kind, "segments": sent.segments})
        return True

    async def after_turn(self, thread: ThreadRecord, events: Sequence[AgentEvent]) -> None:
        if thread.channel != Channel.SMS.value:
            return  # the portal got the turn on its SSE stream
        for event in events:
            if isinstance(event, MessageEvent):
                await self._text(thread, event.text, "reply")

    async def post_staff_message(self, thread_id: str, staff_id: str, text: str) -> StoredEvent:
        """A staff reply: event ``staff_message`` (live to the portal), transcript, SMS when consented.
        Serialized with the thread's turns, so it never lands in the middle of a bot answer."""
        async with self._locks.hold(thread_id):
            thread = await self._threads.get(thread_id)
            try:
                await self._agent.relay_staff_message(thread_id, staff_id, text)
            except AgentThreadNotFound:
                # No graph state yet (or no verified patient): keep the transcript on the platform anyway.
                if thread.patient_id is not None:
                    await self._platform.log_communication(
                        thread.patient_id,
                        CommunicationIn(
                            thread_id=thread_id,
                            channel=Channel(thread.channel),
                            direction=Direction.OUTBOUND,
                            author=Author.STAFF,
                            text=text,
                        ),
                    )
            stored = await self._emit(
                thread_id, {"type": "staff_message", "text": text, "staff_id": staff_id}, None
            )
            await self._text(thread, text, "staff")
        log.info("delivery.staff_message", extra={"thread_id": thread_id, "staff_id": staff_id})
        return stored

    async def post_system_message(
        self, thread_id: str, text: str, *, intent: str | None = None, actions: Sequence[str] = ()
    ) -> StoredEvent:
        """A notice from the practice's system (e.g. a payment received): a ``message`` event, the
        transcript (author system) and an SMS when consented."""
        async with self._locks.hold(thread_id):
            thread = await self._threads.get(thread_id)
            if thread.patient_id is not None:
                await self._platform.log_communication(
                    thread.patient_id,
                    CommunicationIn(
                        thread_id=thread_id,
                        channel=Channel(thread.channel),
                        direction=Direction.OUTBOUND,
                        author=Author.SYSTEM,
                        text=text,
                    ),
                )
            event = MessageEvent(text=text, intent=intent, confidence=1.0, actions=list(actions))
            stored = await self._emit(thread_id, event.model_dump(mode="json"), None)
            await self._text(thread, text, "system")
        return stored
