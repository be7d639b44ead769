from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from tools.messaging import LogMessaging, Messaging, OutboundMessage, SentMessage

BODY = "Hi Maria, your statement S-1001 balance is $125.40. Pay at https://pay.example/pl_1"
PHONE = "+15555550123"


def message(body: str = BODY, thread_id: str = "thread-1") -> OutboundMessage:
    return OutboundMessage(to=PHONE, body=body, thread_id=thread_id)


def test_log_messaging_satisfies_the_port() -> None:
    assert isinstance(LogMessaging(), Messaging)


async def test_send_keeps_the_message_and_returns_a_sid_and_segments() -> None:
    messaging = LogMessaging()

    first = await messaging.send(message())
    second = await messaging.send(message(body="a" * 161, thread_id="thread-2"))

    assert messaging.sent == [message(), message(body="a" * 161, thread_id="thread-2")]
    assert isinstance(first, SentMessage)
    assert first.sid.startswith("LOG")
    assert len(first.sid) == 34
    assert first.sid != second.sid
    assert first.segments == 1
    assert second.segments == 2


async def test_logs_carry_ids_never_text_or_number(caplog: pytest.LogCaptureFixture) -> None:
    messaging = LogMessaging()
    with caplog.at_level(logging.INFO, logger="tools.messaging"):
        sent = await messaging.send(message())

    records = [r for r in caplog.records if r.name.startswith("tools.messaging")]
    assert [r.getMessage() for r in records] == ["messaging.sent"]
    record = records[0]
    assert record.__dict__["sid"] == sent.sid
    assert record.__dict__["thread_id"] == "thread-1"
    assert record.__dict__["segments"] == 1
    everything = " ".join(f"{k}={v!r}" for k, v in record.__dict__.items())
    assert "Maria" not in everything
    assert "125.40" not in everything
    assert PHONE not in everything
    assert "5555550123" not in caplog.text


@pytest.mark.parametrize("to", ["5555550123", "+0123456789", "+1 555 555 0123", "", "+1555"])
def test_outbound_message_needs_an_e164_number(to: str) -> None:
    with pytest.raises(ValidationError):
        OutboundMessage(to=to, body=BODY, thread_id="thread-1")


def test_outbound_message_needs_text_and_a_thread() -> None:
    with pytest.raises(ValidationError):
        OutboundMessage(to=PHONE, body="", thread_id="thread-1")
    with pytest.raises(ValidationError):
        OutboundMessage(to=PHONE, body=BODY, thread_id="")
