"""The offer link's token: names one step, signed, expiring; anything else is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from tools.outreach.links import offer_link, offer_token, verify_offer_token

SECRET = SecretStr("a-test-secret-of-enough-length-0123456789")
NOW = datetime(2026, 3, 4, 15, tzinfo=UTC)


def test_a_token_names_its_step_until_it_expires() -> None:
    token = offer_token(SECRET, 42, NOW + timedelta(days=30))
    assert verify_offer_token(SECRET, token, NOW) == 42
    assert verify_offer_token(SECRET, token, NOW + timedelta(days=30)) is None  # expired


def test_a_changed_step_expiry_or_secret_is_refused() -> None:
    token = offer_token(SECRET, 42, NOW + timedelta(days=30))
    version, step, expires, sig = token.split(".")
    later = int(expires) + 86400 * 365
    for forged in (
        f"{version}.43.{expires}.{sig}",
        f"{version}.{step}.{later}.{sig}",
        f"{version}.{step}.{expires}.{sig[:-1]}A",
        f"o2.{step}.{expires}.{sig}",
        f"{version}.²³.{expires}.{sig}",
        "",
        "...",
    ):
        assert verify_offer_token(SECRET, forged, NOW) is None
    assert verify_offer_token(SecretStr("another-secret-of-enough-length-987654"), token, NOW) is None


def test_the_link_keeps_the_page_and_adds_only_the_token() -> None:
    link = offer_link("https://portal.example/billing?tab=chat", SECRET, 7, NOW + timedelta(days=1))
    assert link.startswith("https://portal.example/billing?tab=chat&offer=o1.7.")
    assert "patient" not in link
