"""Outreach email: the message (text + accessible HTML), its one-click unsubscribe, and SMTP delivery.

Minimum PHI, as for SMS: a patient's email carries their first name, the practice's name, the amount due,
the portal link and a plan offer's terms — never a service, a diagnosis, a provider or a date of service.

CAN-SPAM and the mailbox providers' bulk-sender rules: every message names the practice's postal address
and carries ``List-Unsubscribe`` (an https URL) with ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``
(RFC 8058), so a mail client can unsubscribe with one POST and no login. The URL holds a signed token of a
*keyed hash* of the address, not the address: it cannot be forged for another address, and the address
never sits in a URL, an access log or a proxy's cache.

Delivery is SMTP through ``aiosmtplib`` — every provider (SES, SendGrid, Postmark, a practice's own server)
speaks it. ``EmailChannel`` asks the per-address consent store before every send: nothing goes to an
address that unsubscribed, hard-bounced or complained, whoever scheduled the message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import Literal, Protocol

import aiosmtplib
from pydantic import SecretStr

from tools.messaging.twilio import MessageRejected, MessagingUnavailable

UNSUBSCRIBE_PATH = "/v1/email/unsubscribe"
TOKEN_VERSION = "u1"

TlsMode = Literal["starttls", "tls", "none"]


def normalize_address(address: str) -> str:
    """The form an address is keyed by: trimmed and lower-cased (providers treat local parts alike)."""
    return address.strip().lower()


def address_key(secret: SecretStr, address: str) -> str:
    """A keyed hash of ``address``: what consent rows and unsubscribe tokens carry instead of it."""
    mac = hmac.new(
        secret.get_secret_value().encode(),
        b"email-address:" + normalize_address(address).encode(),
        hashlib.sha256,
    )
    return mac.hexdigest()[:40]


def _sign(secret: SecretStr, key: str) -> str:
    mac = hmac.new(
        secret.get_secret_value().encode(), f"unsubscribe:{TOKEN_VERSION}:{key}".encode(), hashlib.sha256
    )
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode().rstrip("=")


def unsubscribe_token(secret: SecretStr, address: str) -> str:
    key = address_key(secret, address)
    return f"{TOKEN_VERSION}.{key}.{_sign(secret, key)}"


def verify_unsubscribe_token(secret: SecretStr, token: str) -> str | None:
    """The address key a token names, or ``None`` when it is malformed or not ours."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION or len(parts[1]) != 40:
        return None
    key, sig = parts[1], parts[2]
    return key if hmac.compare_digest(sig, _sign(secret, key)) else None


@dataclass(frozen=True)
class EmailConfig:
    """SMTP and sender settings (from ``BILLING_EMAIL_*``)."""

    host: str
    port: int
    tls: TlsMode
    from_address: str
    practice_postal_address: str
    public_base_url: str
    token_secret: SecretStr
    user: str | None = None
    password: SecretStr | None = None
    timeout_s: float = 20.0

    def unsubscribe_url(self, address: str) -> str:
        base = self.public_base_url.rstrip("/")
        return f"{base}{UNSUBSCRIBE_PATH}?t={unsubscribe_token(self.token_secret, address)}"


@dataclass(frozen=True)
class OutreachEmail:
    """What one outreach email says: exactly the minimum-PHI fields, nothing free-form from the chart."""

    to: str
    first_name: str
    practice: str
    amount_cents: int
    link: str  # the portal chat, opened with the offer in context
    plan_terms: str | None = None  # e.g. "3 monthly payments of $120.00", from the policy's offer
    practice_phone: str | None = None


def _money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def subject_for(e: OutreachEmail) -> str:
    return f"{e.practice}: your balance of {_money(e.amount_cents)}"


def text_body(e: OutreachEmail, cfg: EmailConfig) -> str:
    lines = [
        f"Hi {e.first_name},",
        "",
        f"You have a balance of {_money(e.amount_cents)} with {e.practice}.",
        "",
        f"Pay or ask a question here: {e.link}",
    ]
    if e.plan_terms:
        lines += [
            "",
            f"Would a payment plan help? You can choose {e.plan_terms}. Open the link to set it up.",
        ]
    if e.practice_phone:
        lines += ["", f"Questions? Call us at {e.practice_phone}."]
    lines += [
        "",
        "--",
        e.practice,
        cfg.practice_postal_address,
        f"To stop these emails, unsubscribe: {cfg.unsubscribe_url(e.to)}",
    ]
    return "\n".join(lines) + "\n"


_BODY = (
    "margin:0;padding:0;background:#ffffff;color:#1a1a1a;"
    "font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5"
)
_MAIN = "max-width:560px;margin:0 auto;padding:24px"
_P = "margin:0 0 16px"
# White on #0b5394 is 7.6:1 (WCAG AA needs 4.5:1); the link colour on white is the same pair.
_BUTTON = (
    "display:inline-block;background:#0b5394;color:#ffffff;padding:12px 20px;"
    "border-radius:4px;text-decoration:none;font-weight:bold"
)


def html_body(e: OutreachEmail, cfg: EmailConfig) -> str:
    """Semantic, single-column HTML: real headings and paragraphs, a text link (not an image), dark text on
    white and a button of 4.5:1+ contrast, a language attribute, and no image that would need alt text
    to be understood (the one decorative rule has none to need)."""
    q = html.escape
    amount = q(_money(e.amount_cents))
    plan = (
        f'<p style="{_P}">Would a payment plan help? You can choose <strong>{q(e.plan_terms)}'
        "</strong>. Open the link above to set it up.</p>"
        if e.plan_terms
        else ""
    )
    phone = f'<p style="{_P}">Questions? Call us at {q(e.practice_phone)}.</p>' if e.practice_phone else ""
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            '<head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{q(subject_for(e))}</title></head>",
            f'<body style="{_BODY}">',
            f'<main style="{_MAIN}" role="main">',
            f'<h1 style="font-size:22px;margin:0 0 16px">Hi {q(e.first_name)},</h1>',
            f'<p style="{_P}">You have a balance of <strong>{amount}</strong> with {q(e.practice)}.</p>',
            f'<p style="margin:0 0 24px"><a href="{q(e.link)}" style="{_BUTTON}">',
            "Pay or ask a question</a></p>",
            f'{plan}{phone}<hr style="border:0;border-top:1px solid #767676;margin:24px 0">',
            '<footer style="font-size:14px;color:#333333">',
            f'<p style="margin:0 0 8px">{q(e.practice)}<br>{q(cfg.practice_postal_address)}</p>',
            f'<p style="margin:0"><a href="{q(cfg.unsubscribe_url(e.to))}" style="color:#0b5394">'
            "Unsubscribe from these emails</a></p>",
            "</footer>",
            "</main>",
            "</body>",
            "</html>",
            "",
        ]
    )


def build_message(e: OutreachEmail, cfg: EmailConfig) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject_for(e)
    msg["From"] = formataddr((e.practice, cfg.from_address))
    msg["To"] = e.to
    msg["Date"] = formatdate(usegmt=True)  # RFC 5322 requires it; neither aiosmtplib nor every relay adds it
    domain = cfg.from_address.rpartition("@")[2] or None
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["List-Unsubscribe"] = f"<{cfg.unsubscribe_url(e.to)}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text_body(e, cfg))
    msg.add_alternative(html_body(e, cfg), subtype="html")
    return msg


class EmailTransport(Protocol):
    async def deliver(self, msg: EmailMessage) -> str:
        """Hand ``msg`` to the provider; returns its Message-ID."""
        ...


class SmtpTransport:
    """SMTP delivery: 4xx and connection failures are ``MessagingUnavailable`` (retry later), a 5xx
    refusal of the recipient or the message is ``MessageRejected`` (never retried)."""

    def __init__(self, cfg: EmailConfig) -> None:
        self._cfg = cfg

    async def deliver(self, msg: EmailMessage) -> str:
        c = self._cfg
        try:
            await aiosmtplib.send(
                msg,
                hostname=c.host,
                port=c.port,
                username=c.user,
                password=c.password.get_secret_value() if c.password else None,
                use_tls=c.tls == "tls",
                start_tls=c.tls == "starttls",
                timeout=c.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if codes and all(500 <= code < 600 for code in codes):
                raise MessageRejected("the mail server refused the recipient", codes[0]) from exc
            raise MessagingUnavailable("the mail server deferred the recipient") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise MessageRejected("the mail server refused the message", exc.code) from exc
            raise MessagingUnavailable("the mail server deferred the message") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MessagingUnavailable("the mail server could not be reached") from exc
        return str(msg["Message-ID"])


class EmailSuppression(Protocol):
    async def allows(self, address: str) -> bool: ...


@dataclass(frozen=True)
class EmailResult:
    status: Literal["sent", "suppressed"]
    message_id: str | None = None


class EmailChannel:
    """Render, check the address's standing, deliver. The consent check is here as well as in the
    outreach gate so that no caller can reach an unsubscribed or bounced address."""

    def __init__(self, cfg: EmailConfig, transport: EmailTransport, suppression: EmailSuppression) -> None:
        self.cfg = cfg
        self._transport = transport
        self._suppression = suppression

    async def send(self, e: OutreachEmail) -> EmailResult:
        if not await self._suppression.allows(e.to):
            return EmailResult("suppressed")
        msg = build_message(e, self.cfg)
        return EmailResult("sent", await self._transport.deliver(msg))
