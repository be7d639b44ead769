"""The link in an outreach message: the portal chat, opened with the message's offer in context.

The link carries a signed, expiring token that names the outreach step (its row id) and nothing else: no
patient id, no name, no amount. ``o1.<step id>.<expiry, epoch seconds>.<HMAC-SHA256, 18 bytes>``; the key
is the service's secret with a context of its own, so the token cannot be reused as another kind of token
and cannot be forged or extended.

The token is not an identity. The portal chat still runs under the patient's own portal session; the
service attaches the step to the new thread only when the step was sent to that same patient (else the
chat opens without it, revealing nothing), and the plan is written only after the patient says yes to
terms stated in the chat.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import SecretStr

VERSION = "o1"
OFFER_PARAM = "offer"
DEFAULT_TTL = timedelta(days=30)


def _sign(secret: SecretStr, step_id: int, expires: int) -> str:
    mac = hmac.new(
        secret.get_secret_value().encode(),
        f"outreach-offer:{VERSION}:{step_id}:{expires}".encode(),
        hashlib.sha256,
    )
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode().rstrip("=")


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def offer_token(secret: SecretStr, step_id: int, expires_at: datetime) -> str:
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    expires = int(expires_at.timestamp())
    return f"{VERSION}.{step_id}.{expires}.{_sign(secret, step_id, expires)}"


def verify_offer_token(secret: SecretStr, token: str, now: datetime) -> int | None:
    """The step id a token names, or ``None`` when it is malformed, not ours or expired."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != VERSION or not _digits(parts[1]) or not _digits(parts[2]):
        return None
    if len(parts[1]) > 18 or len(parts[2]) > 12:
        return None
    step_id, expires = int(parts[1]), int(parts[2])
    if not hmac.compare_digest(parts[3], _sign(secret, step_id, expires)):
        return None
    return step_id if now.timestamp() < expires else None


def offer_link(base_url: str, secret: SecretStr, step_id: int, expires_at: datetime) -> str:
    """``base_url`` (the portal page with the chat widget) with the offer token as ``?offer=``."""
    parts = urlsplit(base_url)
    query = "&".join(
        q for q in (parts.query, urlencode({OFFER_PARAM: offer_token(secret, step_id, expires_at)})) if q
    )
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))
