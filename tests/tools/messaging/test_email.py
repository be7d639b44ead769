"""The email message and its SMTP delivery, against a real SMTP server on 127.0.0.1: minimum PHI in what is
rendered for real demo patients, an accessible HTML part, signed unsubscribe tokens, and the provider's
answers mapped to "retry" or "never retry"."""

from __future__ import annotations

import re
import socket

import pytest
from pydantic import SecretStr

from tests.support.smtp import smtp_server
from tools.demo import generate_practice
from tools.messaging.email import (
    EmailConfig,
    OutreachEmail,
    SmtpTransport,
    address_key,
    build_message,
    unsubscribe_token,
    verify_unsubscribe_token,
)
from tools.messaging.twilio import MessageRejected, MessagingUnavailable

SECRET = SecretStr("unit-test-secret-0123456789abcdef0123")


def _cfg(port: int = 25) -> EmailConfig:
    return EmailConfig(
        host="127.0.0.1",
        port=port,
        tls="none",
        from_address="billing@clinic.example",
        practice_postal_address="12 Main Street, Springfield, IL 62701",
        public_base_url="https://billing.example",
        token_secret=SECRET,
        timeout_s=5,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_rendered_emails_carry_no_phi_beyond_first_name_practice_amount_and_link() -> None:
    data = generate_practice(patients=60, seed=11)
    practice = data.practice
    items_by_patient: dict[str, list[str]] = {}
    for st in data.statements:
        for li in st.line_items:
            items_by_patient.setdefault(st.patient_id, []).extend(
                [li.description, li.provider_name, li.code, li.service_date.isoformat()]
            )
    checked = 0
    for p in data.patients:
        if not p.email or p.id not in items_by_patient:
            continue
        e = OutreachEmail(
            to=p.email, first_name=p.first_name, practice=practice.name, amount_cents=12_345,
            link="https://billing.example/portal/chat?offer=abc", plan_terms="3 monthly payments of $41.15",
        )  # fmt: skip
        msg = build_message(e, _cfg())
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        assert text is not None
        assert html is not None
        rendered = "\n".join([text.get_content(), html.get_content(), str(msg["Subject"])])
        forbidden = [p.last_name, p.date_of_birth.isoformat(), p.address_line, *items_by_patient[p.id]]
        leaked = [f for f in forbidden if f and f in rendered]
        assert not leaked, (p.id, leaked)
        assert p.first_name in rendered
        checked += 1
    assert checked >= 20


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted([_luminance(a), _luminance(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_html_part_is_accessible() -> None:
    e = OutreachEmail(
        to="pat@example.com", first_name="Pat", practice="Springfield Family Care", amount_cents=5_000,
        link="https://billing.example/portal/chat?offer=abc&x=<b>",
    )  # fmt: skip
    msg = build_message(e, _cfg())
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    html = part.get_content()
    assert '<html lang="en">' in html
    assert "<main" in html
    assert "<h1" in html
    assert "<title>" in html
    assert all('alt="' in tag for tag in re.findall(r"<img\b[^>]*>", html))  # every image (if any) has alt
    assert "&lt;b&gt;" in html  # values are escaped, never markup
    # Every colour pair used: body text, button, footer, link — WCAG AA 4.5:1 for normal text.
    for fg, bg in [
        ("#1a1a1a", "#ffffff"),
        ("#ffffff", "#0b5394"),
        ("#333333", "#ffffff"),
        ("#0b5394", "#ffffff"),
    ]:
        assert fg in html
        assert bg in html
        assert _contrast(fg, bg) >= 4.5, (fg, bg)
    # Plain language: short sentences, no collection jargon.
    text_part = msg.get_body(preferencelist=("plain",))
    assert text_part is not None
    for word in ("delinquent", "collections", "past due", "final notice"):
        assert word not in text_part.get_content().lower()
        assert word not in html.lower()


def _parts(e: OutreachEmail) -> tuple[str, str, str]:
    msg = build_message(e, _cfg())
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return str(msg["Subject"]), text.get_content(), html.get_content()


def test_a_spanish_speaking_patient_gets_the_email_in_spanish() -> None:
    e = OutreachEmail(
        to="ana@example.com", first_name="Ana", practice="Clínica Maple", amount_cents=64_000,
        link="https://billing.example/portal?offer=abc", plan_terms="4 pagos mensuales de $160.00",
        practice_phone="+15555550100", language="es",
    )  # fmt: skip
    subject, text, html = _parts(e)
    assert subject == "Clínica Maple: su saldo de $640.00"
    assert text.startswith("Hola Ana:\n")
    assert "Tiene un saldo de $640.00 con Clínica Maple." in text
    assert "Puede elegir 4 pagos mensuales de $160.00." in text
    assert "cancele la suscripción: https://billing.example/" in text
    assert '<html lang="es">' in html
    assert "Pagar o hacer una pregunta</a>" in html
    assert "Tiene un saldo de <strong>$640.00</strong> con Clínica Maple." in html
    for english in ("balance", "Pay or ask", "Unsubscribe", "Questions?"):
        assert english not in text
        assert english not in html


def test_firm_wording_says_past_due_and_never_threatens() -> None:
    base = {"to": "pat@example.com", "first_name": "Pat", "practice": "Maple <Care>", "amount_cents": 9_900,
            "link": "https://billing.example/portal?offer=abc"}  # fmt: skip
    _, standard, _ = _parts(OutreachEmail(**base))  # type: ignore[arg-type]
    _, firm, firm_html = _parts(OutreachEmail(**base, tone="firm"))  # type: ignore[arg-type]
    assert "past due" not in standard
    assert "Your balance of $99.00 with Maple <Care> is past due." in firm
    assert "tell us if something on the bill looks wrong" in firm
    assert "with Maple &lt;Care&gt; is past due" in firm_html  # the practice's name is escaped, the words not
    for threat in ("collections", "credit", "legal", "attorney", "final notice", "delinquent"):
        assert threat not in firm.lower()
    _, firm_es, _ = _parts(OutreachEmail(**base, tone="firm", language="es"))  # type: ignore[arg-type]
    assert "Su saldo de $99.00 con Maple <Care> está vencido." in firm_es


def test_unsubscribe_tokens_are_signed_per_address() -> None:
    token = unsubscribe_token(SECRET, "Pat@Example.com ")
    assert verify_unsubscribe_token(SECRET, token) == address_key(SECRET, "pat@example.com")
    assert "pat" not in token.lower()
    other = SecretStr("another-secret-0123456789abcdef0123456")
    assert verify_unsubscribe_token(other, token) is None
    version, _key, sig = token.split(".")
    someone_else = address_key(SECRET, "someone@example.com")
    assert verify_unsubscribe_token(SECRET, f"{version}.{someone_else}.{sig}") is None
    assert verify_unsubscribe_token(SECRET, "garbage") is None


async def test_a_refused_mailbox_is_rejected_and_an_unreachable_server_is_retryable() -> None:
    e = OutreachEmail(
        to="gone@example.com", first_name="Pat", practice="P", amount_cents=100, link="https://x.example/"
    )
    async with smtp_server() as smtp:
        smtp.refuse.add("gone@example.com")
        with pytest.raises(MessageRejected) as rejected:
            await SmtpTransport(_cfg(smtp.port)).deliver(build_message(e, _cfg(smtp.port)))
        assert rejected.value.twilio_code == 550
        assert smtp.messages == []
    port = _free_port()
    with pytest.raises(MessagingUnavailable):
        await SmtpTransport(_cfg(port)).deliver(build_message(e, _cfg(port)))


def test_settings_refuse_email_without_a_postal_address_or_with_a_placeholder_secret() -> None:
    from api.settings import Settings

    with pytest.raises(ValueError, match="POSTAL_ADDRESS"):
        Settings(email_smtp_host="smtp.example", email_from_address="billing@clinic.example")
    with pytest.raises(ValueError, match="EMAIL_TOKEN_SECRET"):
        Settings(
            environment="production",
            portal_token_public_key="-----BEGIN PUBLIC KEY-----",
            email_smtp_host="smtp.example",
            email_from_address="billing@clinic.example",
            email_practice_postal_address="12 Main Street, Springfield, IL 62701",
        )
    assert Settings().email_config() is None
