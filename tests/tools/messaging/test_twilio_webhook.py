"""Inbound SMS webhook helpers: requests signed exactly as Twilio signs them (the ``twilio`` library's
``RequestValidator.compute_signature``), then validated and parsed."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from tools.errors import ConfigurationError
from tools.messaging.sms_webhook import (
    InboundSms,
    InvalidInboundSms,
    public_request_url,
    validate_twilio_request,
)

AUTH_TOKEN = "12345678901234567890123456789012"
PUBLIC_URL = "https://billing.example/v1/sms/inbound"
INTERNAL_URL = "http://10.0.0.5:8000/v1/sms/inbound"

# The fields Twilio posts for an inbound SMS (Messaging webhook), with made-up values.
FORM = {
    "ToCountry": "US",
    "ToState": "NY",
    "SmsMessageSid": "SM0123456789abcdef0123456789abcdef",
    "NumMedia": "0",
    "ToCity": "NEW YORK",
    "FromZip": "10001",
    "SmsSid": "SM0123456789abcdef0123456789abcdef",
    "FromState": "NY",
    "SmsStatus": "received",
    "FromCity": "NEW YORK",
    "Body": "  What do I owe?  ",
    "FromCountry": "US",
    "To": "+15555550100",
    "MessagingServiceSid": "MGfedcba9876543210fedcba9876543210",
    "ToZip": "10001",
    "NumSegments": "1",
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
    "From": "+15555550123",
    "ApiVersion": "2010-04-01",
}


def _sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    signature: str = RequestValidator(token).compute_signature(url, params)
    return signature


def test_signed_request_validates() -> None:
    assert validate_twilio_request(AUTH_TOKEN, PUBLIC_URL, FORM, _sign(PUBLIC_URL, FORM))


def test_forged_signature_fails() -> None:
    forged = _sign(PUBLIC_URL, FORM, token="0" * 32)
    assert not validate_twilio_request(AUTH_TOKEN, PUBLIC_URL, FORM, forged)
    assert not validate_twilio_request(AUTH_TOKEN, PUBLIC_URL, FORM, "bm90IGEgc2lnbmF0dXJl")


@pytest.mark.parametrize("signature", [None, ""])
def test_missing_signature_fails(signature: str | None) -> None:
    assert not validate_twilio_request(AUTH_TOKEN, PUBLIC_URL, FORM, signature)


def test_tampered_body_fails() -> None:
    signature = _sign(PUBLIC_URL, FORM)
    assert not validate_twilio_request(AUTH_TOKEN, PUBLIC_URL, {**FORM, "Body": "STOP"}, signature)
    assert not validate_twilio_request(AUTH_TOKEN, PUBLIC_URL, {**FORM, "Extra": "x"}, signature)


def test_empty_auth_token_never_validates() -> None:
    """An unconfigured token must not accept a request signed with the empty key."""
    signature = _sign(PUBLIC_URL, FORM, token="")
    assert not validate_twilio_request("", PUBLIC_URL, FORM, signature)


def test_behind_a_proxy_the_public_url_is_validated() -> None:
    """Twilio signs the URL it called; the app behind a proxy sees another one."""
    signature = _sign(PUBLIC_URL, FORM)
    assert not validate_twilio_request(AUTH_TOKEN, INTERNAL_URL, FORM, signature)
    rebuilt = public_request_url("https://billing.example/", "/v1/sms/inbound")
    assert rebuilt == PUBLIC_URL
    assert validate_twilio_request(AUTH_TOKEN, rebuilt, FORM, signature)


def test_query_string_is_part_of_the_signed_url() -> None:
    url = public_request_url("https://billing.example", "v1/sms/inbound", "practice=p-1")
    assert url == "https://billing.example/v1/sms/inbound?practice=p-1"
    signature = _sign(url, FORM)
    assert validate_twilio_request(AUTH_TOKEN, url, FORM, signature)
    assert not validate_twilio_request(AUTH_TOKEN, PUBLIC_URL, FORM, signature)


def test_public_url_keeps_a_path_prefix() -> None:
    assert public_request_url("https://example.org/billing", "/v1/sms/inbound") == (
        "https://example.org/billing/v1/sms/inbound"
    )


@pytest.mark.parametrize("base", ["billing.example", "/v1", "ftp://billing.example"])
def test_public_url_must_be_absolute_http(base: str) -> None:
    with pytest.raises(ConfigurationError):
        public_request_url(base, "/v1/sms/inbound")


def test_parse_inbound_sms() -> None:
    sms = InboundSms.from_form(FORM)
    assert sms.message_sid == FORM["MessageSid"]
    assert sms.account_sid == FORM["AccountSid"]
    assert (sms.from_number, sms.to_number) == ("+15555550123", "+15555550100")
    assert sms.body == "  What do I owe?  "
    assert sms.text == "What do I owe?"
    assert (sms.num_media, sms.media_urls, sms.opt_out_type) == (0, (), None)
    assert not sms.is_empty
    assert not sms.is_media_only


@pytest.mark.parametrize(("raw", "parsed"), [("STOP", "STOP"), ("start", "START"), ("Help", "HELP")])
def test_advanced_opt_out_type(raw: str, parsed: str) -> None:
    sms = InboundSms.from_form({**FORM, "Body": "whatever they typed", "OptOutType": raw})
    assert sms.opt_out_type == parsed


def test_unknown_opt_out_type_is_invalid() -> None:
    with pytest.raises(InvalidInboundSms):
        InboundSms.from_form({**FORM, "OptOutType": "MAYBE"})


def test_media_only_and_empty_messages() -> None:
    media = InboundSms.from_form(
        {
            **FORM,
            "Body": "",
            "NumMedia": "2",
            "MediaUrl0": "https://api.twilio.com/media/ME1",
            "MediaUrl1": "https://api.twilio.com/media/ME2",
        }
    )
    assert media.is_media_only
    assert not media.is_empty
    assert media.media_urls == ("https://api.twilio.com/media/ME1", "https://api.twilio.com/media/ME2")

    empty = InboundSms.from_form({k: v for k, v in FORM.items() if k != "Body"} | {"NumMedia": "0"})
    assert empty.is_empty
    assert InboundSms.from_form({**FORM, "Body": "   "}).is_empty


@pytest.mark.parametrize("missing", ["MessageSid", "From", "To"])
def test_missing_required_field_is_invalid(missing: str) -> None:
    form = {
        k: v
        for k, v in FORM.items()
        if k != missing and not (missing == "MessageSid" and k == "SmsMessageSid")
    }
    with pytest.raises(InvalidInboundSms) as err:
        InboundSms.from_form(form)
    assert err.value.status_code == 400


@pytest.mark.parametrize("num_media", ["two", "-1"])
def test_bad_num_media_is_invalid(num_media: str) -> None:
    with pytest.raises(InvalidInboundSms):
        InboundSms.from_form({**FORM, "NumMedia": num_media})
