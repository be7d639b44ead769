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
EmailLanguage = Literal["en", "es"]
EmailTone = Literal["standard", "firm"]


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
    plan_terms: str | None = None  # e.g. "3 monthly payments of $120.00", the policy's offer, in `language`
    practice_phone: str | None = None
    language: EmailLanguage = "en"  # the patient's language
    tone: EmailTone = "standard"  # "firm" past the policy's firm_after_days


# The fixed wording of the email, per language: the balance sentence has a firm variant (the SMS templates'
# "past due", never a threat); everything else is the same in both tones.
_WORDS: dict[EmailLanguage, dict[str, str]] = {
    "en": {
        "subject": "{practice}: your balance of {amount}",
        "hi": "Hi {first_name},",
        "standard": "You have a balance of {amount} with {practice}.",
        "firm": "Your balance of {amount} with {practice} is past due. Please pay it, choose a payment plan, "
        "or tell us if something on the bill looks wrong.",
        "link": "Pay or ask a question here: {link}",
        "button": "Pay or ask a question",
        "plan": "Would a payment plan help? You can choose {terms}. Open the link to set it up.",
        "plan_html_before": "Would a payment plan help? You can choose ",
        "plan_html_after": ". Open the link above to set it up.",
        "phone": "Questions? Call us at {phone}.",
        "unsubscribe_text": "To stop these emails, unsubscribe: {url}",
        "unsubscribe_html": "Unsubscribe from these emails",
    },
    "es": {
        "subject": "{practice}: su saldo de {amount}",
        "hi": "Hola {first_name}:",
        "standard": "Tiene un saldo de {amount} con {practice}.",
        "firm": "Su saldo de {amount} con {practice} está vencido. Páguelo, elija un plan de pagos "
        "o díganos si algo en la factura no parece correcto.",
        "link": "Pague o haga una pregunta aquí: {link}",
        "button": "Pagar o hacer una pregunta",
        "plan": "¿Le ayudaría un plan de pagos? Puede elegir {terms}. Abra el enlace para configurarlo.",
        "plan_html_before": "¿Le ayudaría un plan de pagos? Puede elegir ",
        "plan_html_after": ". Abra el enlace de arriba para configurarlo.",
        "phone": "¿Preguntas? Llámenos al {phone}.",
        "unsubscribe_text": "Para dejar de recibir estos correos, cancele la suscripción: {url}",
        "unsubscribe_html": "Dejar de recibir estos correos",
    },
}


def _money(cents: int) -> str:
    return f"${cents // 100:,}.{cents % 100:02d}"


def _words(e: OutreachEmail) -> dict[str, str]:
    return _WORDS[e.language]


def subject_for(e: OutreachEmail) -> str:
    return _words(e)["subject"].format(practice=e.practice, amount=_money(e.amount_cents))


def _balance_sentence(e: OutreachEmail, amount: str, practice: str) -> str:
    return _words(e)[e.tone].format(amount=amount, practice=practice)


def text_body(e: OutreachEmail, cfg: EmailConfig) -> str:
    w = _words(e)
    lines = [
        w["hi"].format(first_name=e.first_name),
        "",
        _balance_sentence(e, _money(e.amount_cents), e.practice),
        "",
        w["link"].format(link=e.link),
    ]
    if e.plan_terms:
        lines += ["", w["plan"].format(terms=e.plan_terms)]
    if e.practice_phone:
        lines += ["", w["phone"].format(phone=e.practice_phone)]
    lines += [
        "",
        "--",
        e.practice,
        cfg.practice_postal_address,
        w["unsubscribe_text"].format(url=cfg.unsubscribe_url(e.to)),
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
    w = _words(e)
    amount = f"<strong>{q(_money(e.amount_cents))}</strong>"
    plan = (
        f'<p style="{_P}">{q(w["plan_html_before"])}<strong>{q(e.plan_terms)}</strong>'
        f"{q(w['plan_html_after'])}</p>"
        if e.plan_terms
        else ""
    )
    phone = f'<p style="{_P}">{q(w["phone"].format(phone=e.practice_phone))}</p>' if e.practice_phone else ""
    # The balance sentence's own words are fixed text; only the amount and the practice's name are values.
    balance = _balance_sentence(e, "\x00amount\x00", "\x00practice\x00")
    balance = q(balance).replace("\x00amount\x00", amount).replace("\x00practice\x00", q(e.practice))
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="{e.language}">',
            '<head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{q(subject_for(e))}</title></head>",
            f'<body style="{_BODY}">',
            f'<main style="{_MAIN}" role="main">',
            f'<h1 style="font-size:22px;margin:0 0 16px">{q(w["hi"].format(first_name=e.first_name))}</h1>',
            f'<p style="{_P}">{balance}</p>',
            f'<p style="margin:0 0 24px"><a href="{q(e.link)}" style="{_BUTTON}">',
            f"{q(w['button'])}</a></p>",
            f'{plan}{phone}<hr style="border:0;border-top:1px solid #767676;margin:24px 0">',
            '<footer style="font-size:14px;color:#333333">',
            f'<p style="margin:0 0 8px">{q(e.practice)}<br>{q(cfg.practice_postal_address)}</p>',
            f'<p style="margin:0"><a href="{q(cfg.unsubscribe_url(e.to))}" style="color:#0b5394">'
            f"{q(w['unsubscribe_html'])}</a></p>",
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
