"""``LogMessaging``: the default ``Messaging`` adapter, for development, demos and tests.

It delivers nowhere: each message is kept in ``sent`` (for the console and tests)
and an event is logged with ids and sizes only, never the text or the number.
"""

from __future__ import annotations

import logging
import secrets

from tools.messaging.base import OutboundMessage, SentMessage
from tools.messaging.segments import sms_encoding, sms_segments

log = logging.getLogger(__name__)


class LogMessaging:
    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, msg: OutboundMessage) -> SentMessage:
        # 34 characters like a Twilio MessageSid, with a prefix no real provider uses.
        sid = f"LOG{secrets.token_hex(16)[:31]}"
        segments = sms_segments(msg.body)
        self.sent.append(msg)
        log.info(
            "messaging.sent",
            extra={
                "sid": sid,
                "thread_id": msg.thread_id,
                "segments": segments,
                "encoding": sms_encoding(msg.body),
            },
        )
        return SentMessage(sid=sid, segments=segments)
