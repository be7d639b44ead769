"""Portal session tokens: the practice portal signs a short-lived JWT naming the
patient's portal identity; we verify it (HS256 shared secret or RS256 public key,
by configuration) and map it to the patient through the platform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from api.settings import Settings
from tools.errors import NotAuthenticated

AUDIENCE = "patient-billing-agent"
DEFAULT_TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class PortalSession:
    portal_user_id: str
    expires_at: datetime
    statement_id: str | None = None


def issue_portal_token(
    settings: Settings,
    portal_user_id: str,
    *,
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
    statement_id: str | None = None,
) -> str:
    """Sign an HS256 token (what the demo portal does; a real portal signs its own)."""
    now = now or datetime.now(UTC)
    claims: dict[str, object] = {"sub": portal_user_id, "aud": AUDIENCE, "iat": now, "exp": now + ttl}
    if statement_id:
        claims["statement_id"] = statement_id
    return jwt.encode(claims, settings.portal_token_secret.get_secret_value(), algorithm="HS256")


def _check_lifetime(settings: Settings, claims: dict[str, object]) -> None:
    """A session may last at most ``portal_token_max_lifetime_s`` from when it was issued (``iat``; in
    production ``iat`` is required). A token without ``iat`` elsewhere is measured from now. A
    10-year token is refused however validly it is signed: a leaked one would work for a decade."""
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float):
        raise NotAuthenticated("invalid session token")
    if iat is None:
        if settings.environment == "production":
            raise NotAuthenticated("the session token has no issue time (iat)")
        iat = datetime.now(UTC).timestamp()
    if not isinstance(iat, int | float):
        raise NotAuthenticated("invalid session token")
    if exp - iat > settings.portal_token_max_lifetime_s:
        raise NotAuthenticated(
            f"the session token lasts longer than {settings.portal_token_max_lifetime_s} seconds"
        )


def verify_portal_token(settings: Settings, token: str) -> PortalSession:
    if settings.portal_token_public_key:
        key, algorithms = settings.portal_token_public_key, ["RS256"]
    else:
        key, algorithms = settings.portal_token_secret.get_secret_value(), ["HS256"]
    try:
        claims = jwt.decode(
            token, key, algorithms=algorithms, audience=AUDIENCE, options={"require": ["exp", "sub", "aud"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("session token expired") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("invalid session token") from exc
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise NotAuthenticated("invalid session token")
    _check_lifetime(settings, claims)
    statement = claims.get("statement_id")
    return PortalSession(
        portal_user_id=sub,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        statement_id=statement if isinstance(statement, str) else None,
    )
