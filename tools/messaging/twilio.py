"""``TwilioMessaging``: the ``Messaging`` port on Twilio's Programmable Messaging REST API.

The ``twilio`` SDK is synchronous (``requests``), so each send runs in a worker thread and never blocks
the event loop. The client is built by the composition root; tests point ``client.api.base_url`` at a
Prism mock serving Twilio's OpenAPI spec.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from tools.errors import BillingError, ConfigurationError
from tools.messaging.base import E164_PATTERN, OutboundMessage, SentMessage
from tools.messaging.segments import sms_segments

log = logging.getLogger(__name__)

_MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")


class MessageRejected(BillingError):
    """Twilio refused the message (invalid or unreachable number, recipient opted out: 21610…)."""

    status_code = 422
    code = "message_rejected"

    def __init__(self, detail: str, twilio_code: int | None = None) -> None:
        super().__init__(detail)
        self.twilio_code = twilio_code


class MessagingUnavailable(BillingError):
    """Twilio could not be reached or failed; the send may be retried."""

    status_code = 503
    code = "messaging_unavailable"


class TwilioMessaging:
    """Sends each ``OutboundMessage`` as one Twilio Message.

    ``from_number`` is an E.164 number of the practice, or a Messaging Service SID (``MG…``), which lets
    Twilio pick the sender and apply Advanced Opt-Out. ``status_callback`` is the public URL Twilio
    posts delivery status to, if any.
    """

    def __init__(self, client: Client, from_number: str, status_callback: str | None = None) -> None:
        self._service = bool(_MESSAGING_SERVICE_SID.match(from_number))
        if not self._service and not re.match(E164_PATTERN, from_number):
            raise ConfigurationError("the Twilio sender must be an E.164 number or a Messaging Service SID")
        if status_callback is not None and not status_callback.startswith(("http://", "https://")):
            raise ConfigurationError("the Twilio status callback must be an http(s) URL")
        self._client = client
        self._from = from_number
        self._status_callback = status_callback

    async def send(self, msg: OutboundMessage) -> SentMessage:
        message = await asyncio.to_thread(self._create, msg)
        sid = str(message.sid or "")
        if not sid:
            raise MessagingUnavailable("Twilio accepted the message without returning its sid")
        segments = _segments(message.num_segments, msg.body)
        log.info(
            "messaging.twilio.sent",
            extra={"sid": sid, "thread_id": msg.thread_id, "segments": segments, "status": message.status},
        )
        return SentMessage(sid=sid, segments=segments)

    def _create(self, msg: OutboundMessage) -> Any:
        kwargs: dict[str, str] = {"to": msg.to, "body": msg.body}
        if self._service:
            kwargs["messaging_service_sid"] = self._from
        else:
            kwargs["from_"] = self._from
        if self._status_callback is not None:
            kwargs["status_callback"] = self._status_callback
        try:
            return self._client.messages.create(**kwargs)
        except TwilioRestException as exc:
            log.warning(
                "messaging.twilio.failed",
                extra={"thread_id": msg.thread_id, "http_status": exc.status, "twilio_code": exc.code},
            )
            if exc.status in (401, 403):
                raise ConfigurationError("Twilio refused the configured credentials") from exc
            if exc.status == 429 or exc.status >= 500:
                raise MessagingUnavailable(f"Twilio answered {exc.status}; try again later") from exc
            raise MessageRejected(
                f"Twilio refused the message (HTTP {exc.status}, code {exc.code})", exc.code
            ) from exc
        except (TwilioException, OSError) as exc:  # requests' connection errors are OSErrors
            log.warning("messaging.twilio.unreachable", extra={"thread_id": msg.thread_id})
            raise MessagingUnavailable("Twilio could not be reached") from exc


def _segments(reported: object, body: str) -> int:
    """Twilio's own segment count when it gave one, else ours by the same GSM-7/UCS-2 rules."""
    try:
        count = int(str(reported))
    except ValueError:
        count = 0
    return count if count >= 1 else max(1, sms_segments(body))
