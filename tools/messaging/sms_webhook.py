"""Inbound SMS from Twilio: signature validation and parsing of the webhook's form fields.

Pure helpers with no web framework: the API's SMS route passes the public URL Twilio called, the form
parameters and the ``X-Twilio-Signature`` header.

Behind a proxy or load balancer the URL the app sees (``http://10.0.0.5:8000/v1/sms/inbound``) is not
the URL Twilio signed (``https://billing.example/v1/sms/inbound``); ``public_request_url`` rebuilds the
latter from the configured public origin, and only that is validated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from twilio.request_validator import RequestValidator

from tools.errors import BillingError, ConfigurationError
from tools.messaging.base import E164_PATTERN

OptOutType = Literal["STOP", "START", "HELP"]

# Twilio's own bounds on an inbound message: at most 10 media, a body of at most 1,600 characters,
# 34-character SIDs, E.164 or channel-prefixed addresses. Anything past them is not Twilio's.
MAX_MEDIA = 10
MAX_BODY_CHARS = 1600
MAX_SID_CHARS = 64
MAX_ADDRESS_CHARS = 64
_NUM_MEDIA = re.compile(r"[0-9]{1,2}")


class InvalidInboundSms(BillingError):
    """A signed webhook whose form fields are not an inbound message."""

    status_code = 400
    code = "invalid_inbound_sms"


def public_request_url(public_base_url: str, path: str, query: str = "") -> str:
    """The URL Twilio called: the configured public origin (scheme, host, optional port and path
    prefix) joined with the request's path and raw query string."""
    base = urlsplit(public_base_url)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise ConfigurationError(f"the public base URL must be an absolute http(s) URL: {public_base_url!r}")
    url = public_base_url.rstrip("/") + "/" + path.lstrip("/")
    return f"{url}?{query}" if query else url


def validate_twilio_request(
    auth_token: str, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """Whether ``signature`` (``X-Twilio-Signature``) is Twilio's for this URL and form body.

    ``url`` is the full public URL Twilio requested, query string included; ``params`` the POST form
    fields. An empty auth token or a missing signature never validates.
    """
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))


class InboundSms(BaseModel):
    """One inbound message as Twilio posts it to the messaging webhook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_sid: str = Field(min_length=1, max_length=MAX_SID_CHARS)
    account_sid: str | None = Field(default=None, max_length=MAX_SID_CHARS)
    from_number: str = Field(min_length=1, max_length=MAX_ADDRESS_CHARS)
    to_number: str = Field(min_length=1, max_length=MAX_ADDRESS_CHARS)
    body: str = Field(default="", max_length=MAX_BODY_CHARS)
    num_media: int = Field(default=0, ge=0, le=MAX_MEDIA)
    media_urls: tuple[str, ...] = ()
    opt_out_type: OptOutType | None = None
    """Set by Twilio's Advanced Opt-Out when the body was an opt-out/opt-in/help keyword; Twilio has
    then already sent its own confirmation."""

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> InboundSms:
        """Parse Twilio's form fields (``MessageSid``, ``From``, ``To``, ``Body``, ``NumMedia``,
        ``MediaUrl0``…, ``OptOutType``). Raises ``InvalidInboundSms`` when required ones are missing."""
        raw_media = (form.get("NumMedia") or "0").strip()
        # Checked before it is used as a count: an unbounded one once looped over 10^11 media URLs.
        if not _NUM_MEDIA.fullmatch(raw_media) or int(raw_media) > MAX_MEDIA:
            raise InvalidInboundSms(f"NumMedia must be a whole number from 0 to {MAX_MEDIA}")
        num_media = int(raw_media)
        opt_out = (form.get("OptOutType") or "").strip().upper() or None
        try:
            return cls.model_validate(
                {
                    "message_sid": form.get("MessageSid") or form.get("SmsMessageSid") or "",
                    "account_sid": form.get("AccountSid"),
                    "from_number": form.get("From") or "",
                    "to_number": form.get("To") or "",
                    "body": form.get("Body") or "",
                    "num_media": num_media,
                    "media_urls": tuple(url for i in range(num_media) if (url := form.get(f"MediaUrl{i}"))),
                    "opt_out_type": opt_out,
                }
            )
        except ValidationError as exc:
            fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]}))
            raise InvalidInboundSms(f"not an inbound SMS: invalid or missing {fields}") from exc

    @property
    def from_phone(self) -> bool:
        """Whether the sender is a phone number we can answer (E.164), not a short code, an
        alphanumeric sender or another channel's address."""
        return re.fullmatch(E164_PATTERN, self.from_number) is not None

    @property
    def text(self) -> str:
        """The body without surrounding whitespace."""
        return self.body.strip()

    @property
    def is_empty(self) -> bool:
        """No text and no media."""
        return not self.text and self.num_media == 0

    @property
    def is_media_only(self) -> bool:
        return not self.text and self.num_media > 0


# Twilio's message statuses (``MessageStatus`` of a status callback). Only the outbound ones are
# receipts; ``receiving``/``received``/``read``/``canceled``/``partially_delivered`` change nothing here.
RECEIPT_STATUSES = frozenset(
    ("accepted", "scheduled", "queued", "sending", "sent", "delivered", "undelivered", "failed")
)
_KNOWN_STATUSES = RECEIPT_STATUSES | {"receiving", "received", "read", "canceled", "partially_delivered"}
_ERROR_CODE = re.compile(r"[0-9]{1,8}")

# Error codes of an undelivered or failed message that will not go through on a retry either: the number
# is not a valid mobile number (21211, 21614), the carrier has it unsubscribed (21610), the message is
# blocked (30004), the handset is unknown (30005), a landline or unreachable carrier (30006). The others
# (30003 handset off, 30008 unknown error, queue overflows...) may pass another day.
PERMANENT_ERROR_CODES = frozenset({"21211", "21610", "21614", "30004", "30005", "30006"})


class DeliveryReceipt(BaseModel):
    """One status callback Twilio posts for a message we sent (``StatusCallback``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_sid: str = Field(min_length=1, max_length=MAX_SID_CHARS)
    status: str = Field(min_length=1, max_length=32)
    error_code: str | None = Field(default=None, max_length=8)

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> DeliveryReceipt:
        """Parse ``MessageSid`` (or ``SmsSid``), ``MessageStatus`` (or ``SmsStatus``) and ``ErrorCode``.
        Raises ``InvalidInboundSms`` for a form that is not a status callback."""
        status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
        if status not in _KNOWN_STATUSES:
            raise InvalidInboundSms("not a status callback: invalid or missing MessageStatus")
        code = (form.get("ErrorCode") or "").strip() or None
        if code is not None and not _ERROR_CODE.fullmatch(code):
            raise InvalidInboundSms("not a status callback: ErrorCode must be a number")
        try:
            return cls(
                message_sid=(form.get("MessageSid") or form.get("SmsSid") or "").strip(),
                status=status,
                error_code=code,
            )
        except ValidationError as exc:
            raise InvalidInboundSms("not a status callback: invalid or missing MessageSid") from exc

    @property
    def is_receipt(self) -> bool:
        """Whether the status is one of an outbound message (a receipt we record)."""
        return self.status in RECEIPT_STATUSES

    @property
    def not_delivered(self) -> bool:
        return self.status in ("undelivered", "failed")

    @property
    def permanent(self) -> bool:
        """An undelivered or failed message whose error code says a retry would fail too."""
        return self.not_delivered and self.error_code in PERMANENT_ERROR_CODES
