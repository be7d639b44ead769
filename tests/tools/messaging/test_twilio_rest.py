"""``TwilioMessaging`` through the real ``twilio`` SDK against Prism serving Twilio's OpenAPI spec.

Prism validates each request against the spec (a send without ``To`` is a 422) and answers with the
spec's example Message. Skips, with the reason, when the spec or Prism is not available; install
Prism with ``tests.support.prism.INSTALL_HINT``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from twilio.base import values
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.support.prism import PrismServer, PrismUnavailable, run_prism
from tests.support.vendor import VendorFileMissing, vendor_file
from tools.errors import ConfigurationError
from tools.messaging.base import Messaging, OutboundMessage
from tools.messaging.twilio import MessageRejected, MessagingUnavailable, TwilioMessaging

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
FROM = "+15555550100"
SERVICE_SID = "MG" + "fedcba9876543210" * 2
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@pytest.fixture(scope="module")
def prism() -> Iterator[PrismServer]:
    try:
        spec = vendor_file("twilio", "twilio_api_v2010.json")
        with run_prism(spec) as server:
            yield server
    except (VendorFileMissing, PrismUnavailable) as exc:
        pytest.skip(f"Twilio REST mock unavailable: {exc}")


@pytest.fixture
def client(prism: PrismServer) -> Client:
    twilio = Client(ACCOUNT_SID, "test-auth-token")
    twilio.api.base_url = prism.url
    return twilio


def _wait_for_log(prism: PrismServer, start: int, *needles: str, timeout_s: float = 3.0) -> str:
    """Prism's log for requests since ``start``, once it mentions every needle (it logs asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        log = prism.log_since(start)
        if all(n in log for n in needles) or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def _message(body: str = "Your balance is $123.45. Reply PAY for a link.") -> OutboundMessage:
    return OutboundMessage(to="+15555550123", body=body, thread_id="thread-1")


def test_adapter_satisfies_the_port(client: Client) -> None:
    assert isinstance(TwilioMessaging(client, FROM, None), Messaging)


async def test_send_reaches_prism_and_passes_the_spec(client: Client, prism: PrismServer) -> None:
    start = len(prism.lines)
    messaging = TwilioMessaging(client, FROM, status_callback="https://billing.example/v1/sms/status")
    sent = await messaging.send(_message())

    assert sent.sid.startswith("SM")
    assert len(sent.sid) == 34
    assert sent.segments == 1
    log = _wait_for_log(prism, start, f"post {MESSAGES_PATH}", "passed the validation rules")
    assert f"post {MESSAGES_PATH}" in log
    assert "The request passed the validation rules" in log
    assert "did not pass the validation rules" not in log


async def test_messaging_service_sender_passes_the_spec(client: Client, prism: PrismServer) -> None:
    start = len(prism.lines)
    sent = await TwilioMessaging(client, SERVICE_SID, None).send(_message())
    assert sent.sid.startswith("SM")
    log = _wait_for_log(prism, start, "passed the validation rules")
    assert "The request passed the validation rules" in log


def test_request_missing_to_gets_422(client: Client, prism: PrismServer) -> None:
    """Prism really validates against Twilio's spec: the SDK call without ``To`` is refused."""
    start = len(prism.lines)
    with pytest.raises(TwilioRestException) as err:
        client.messages.create(to=values.unset, from_=FROM, body="hello")
    assert err.value.status == 422
    log = _wait_for_log(prism, start, "required property 'To'")
    assert "Request body must have required property 'To'" in log


async def test_unreachable_twilio_is_unavailable() -> None:
    twilio = Client(ACCOUNT_SID, "test-auth-token")
    twilio.api.base_url = "http://127.0.0.1:9"  # nothing listens on the discard port
    with pytest.raises(MessagingUnavailable):
        await TwilioMessaging(twilio, FROM, None).send(_message())


@pytest.mark.parametrize("sender", ["5555550100", "+0555", "MG123", "whatsapp:+15555550100"])
def test_sender_must_be_e164_or_a_messaging_service(sender: str) -> None:
    with pytest.raises(ConfigurationError):
        TwilioMessaging(Client(ACCOUNT_SID, "t"), sender, None)


def test_status_callback_must_be_http() -> None:
    with pytest.raises(ConfigurationError):
        TwilioMessaging(Client(ACCOUNT_SID, "t"), FROM, "ftp://billing.example/status")


async def test_twilio_refusal_is_message_rejected(client: Client, prism: PrismServer) -> None:
    """A 4xx from Twilio (here Prism refusing a malformed ``StatusCallback`` URI) is a typed refusal."""
    messaging = TwilioMessaging(client, FROM, status_callback="https://bad host/with spaces")
    with pytest.raises(MessageRejected) as err:
        await messaging.send(_message())
    assert err.value.status_code == 422
