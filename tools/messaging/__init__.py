"""The ``Messaging`` port, its default log adapter and an SMS segment counter."""

from tools.messaging.base import Messaging, OutboundMessage, SentMessage
from tools.messaging.log import LogMessaging
from tools.messaging.segments import SmsEncoding, sms_encoding, sms_segments

__all__ = [
    "LogMessaging",
    "Messaging",
    "OutboundMessage",
    "SentMessage",
    "SmsEncoding",
    "sms_encoding",
    "sms_segments",
]
