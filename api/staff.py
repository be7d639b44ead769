"""Staff accounts and their sessions (tables ``staff_users`` and ``staff_sessions``).

Passwords are stored as scrypt hashes (``hashlib.scrypt``, a memory-hard KDF in the standard library:
no extra dependency) in a self-describing string ``scrypt$n$r$p$salt$hash`` so the parameters can be
raised later without breaking old hashes.

A session is a random token handed to the client (in an ``HttpOnly`` cookie for the console page, or as a
bearer token for scripts); only its SHA-256 is stored, so the table never holds a usable credential. Each
session carries its own CSRF token, which the double-submit check compares with both the CSRF cookie and
the request header: a cookie planted by a sibling subdomain cannot forge it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tools.errors import BillingError, Forbidden, NotAuthenticated
from tools.staff_accounts import StaffSessionRow, StaffUserRow

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256  # NIST SP 800-63B asks that at least 64 be allowed
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0-4 scale: 3 is "safely unguessable" against an offline attack
# zxcvbn's matching is superlinear in the length; a passphrase longer than this is judged by its start.
_SCORED_CHARS = 100
# Words that make a staff password guessable here whatever their frequency elsewhere (800-63B 5.1.1.2:
# "context-specific words, such as the name of the service").
_CONTEXT_WORDS = ("billing", "patient", "console", "practice", "agent", "manager", "admin", "staff")
COOKIE_SESSION_TTL = timedelta(hours=8)
BEARER_TOKEN_TTL = timedelta(hours=1)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Role(StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


ROLE_RANK = {Role.AGENT: 0, Role.MANAGER: 1, Role.ADMIN: 2}


class SessionKind(StrEnum):
    COOKIE = "cookie"
    BEARER = "bearer"


class StaffExists(BillingError):
    status_code = 409
    code = "staff_exists"


class InvalidStaffAccount(BillingError):
    status_code = 422
    code = "invalid_staff_account"


@dataclass(frozen=True)
class StaffUser:
    id: int
    email: str
    role: Role

    @property
    def actor(self) -> str:
        """The audit actor of this staff member (ids only, never a name)."""
        return f"staff:{self.id}"

    def can(self, minimum: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[minimum]

    def require(self, minimum: Role) -> None:
        if not self.can(minimum):
            raise Forbidden(f"this action needs the {minimum.value} role or higher")


@dataclass(frozen=True)
class StaffSession:
    staff: StaffUser
    kind: SessionKind
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class IssuedSession:
    token: str
    session: StaffSession


# --------------------------------------------------------------------------- passwords


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def check_password(password: str, email: str = "") -> None:
    """Refuse a password a guesser would try early (NIST SP 800-63B 5.1.1.2): shorter than
    ``MIN_PASSWORD_CHARS``, longer than ``MAX_PASSWORD_CHARS``, or one that zxcvbn finds in its lists of
    common and breached passwords, names and words, as a keyboard pattern, repetition or sequence, or
    built from the account's own address or the service's words (``InvalidStaffAccount``, 422). No
    composition rules: length and the blocklist are what the guidance asks for."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidStaffAccount(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidStaffAccount(f"the password must have at most {MAX_PASSWORD_CHARS} characters")
    from zxcvbn import zxcvbn  # its dictionaries take a quarter of a second to load: only when needed

    local = email.partition("@")[0]
    result = zxcvbn(password[:_SCORED_CHARS], user_inputs=[email, local, *_CONTEXT_WORDS])
    if int(result["score"]) < MIN_PASSWORD_SCORE:
        feedback = result.get("feedback") or {}
        why = str(feedback.get("warning") or "it follows a common pattern").rstrip(".")
        raise InvalidStaffAccount(
            f"the password is too easy to guess ({why}); a few unrelated words make a strong one"
        )


# A hash to check against when the e-mail is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user(row: StaffUserRow) -> StaffUser:
    return StaffUser(id=row.id, email=row.email, role=Role(row.role))


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise InvalidStaffAccount("not an e-mail address")
    return email


# --------------------------------------------------------------------------- directory


class StaffDirectory:
    """Staff accounts and sessions on ``engine``. Each method is one unit of work."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))

    async def create(self, email: str, role: Role, password: str) -> StaffUser:
        email = normalize_email(email)
        check_password(password, email)
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    insert(StaffUserRow).values(
                        email=email,
                        role=role.value,
                        password_hash=hash_password(password),
                        active=True,
                        created_at=self._clock(),
                    )
                )
                pk = result.inserted_primary_key
        except IntegrityError as exc:
            raise StaffExists(f"a staff account with e-mail {email} already exists") from exc
        assert pk is not None
        return StaffUser(id=int(pk[0]), email=email, role=role)

    async def get(self, staff_id: int) -> StaffUser | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(StaffUserRow.id, StaffUserRow.email, StaffUserRow.role).where(
                        StaffUserRow.id == staff_id
                    )
                )
            ).first()
        return None if row is None else StaffUser(id=row.id, email=row.email, role=Role(row.role))

    async def authenticate(self, email: str, password: str) -> StaffUser:
        """The staff member with these credentials; ``NotAuthenticated`` (one message for every miss)."""
        try:
            email = normalize_email(email)
        except InvalidStaffAccount:
            email = ""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        StaffUserRow.id,
                        StaffUserRow.email,
                        StaffUserRow.role,
                        StaffUserRow.password_hash,
                        StaffUserRow.active,
                    ).where(StaffUserRow.email == email)
                )
            ).first()
        ok = verify_password(password, row.password_hash if row is not None else _DUMMY_HASH)
        if row is None or not ok or not row.active:
            raise NotAuthenticated("wrong e-mail or password")
        return StaffUser(id=row.id, email=row.email, role=Role(row.role))

    async def open_session(
        self, staff: StaffUser, kind: SessionKind, ttl: timedelta | None = None
    ) -> IssuedSession:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        now = self._clock()
        expires = now + (ttl or (COOKIE_SESSION_TTL if kind is SessionKind.COOKIE else BEARER_TOKEN_TTL))
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(StaffSessionRow).values(
                    token_hash=_token_hash(token),
                    staff_id=staff.id,
                    kind=kind.value,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=expires,
                    revoked_at=None,
                )
            )
        return IssuedSession(token, StaffSession(staff, kind, csrf, expires))

    async def resolve(self, token: str, kind: SessionKind) -> StaffSession:
        """The live session of ``token`` (of the given kind); ``NotAuthenticated`` otherwise."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        StaffSessionRow.kind,
                        StaffSessionRow.csrf_token,
                        StaffSessionRow.expires_at,
                        StaffSessionRow.revoked_at,
                        StaffUserRow.id,
                        StaffUserRow.email,
                        StaffUserRow.role,
                        StaffUserRow.active,
                    )
                    .join(StaffUserRow, StaffUserRow.id == StaffSessionRow.staff_id)
                    .where(StaffSessionRow.token_hash == _token_hash(token))
                )
            ).first()
        if row is None or row.kind != kind.value or row.revoked_at is not None or not row.active:
            raise NotAuthenticated("not signed in")
        expires_at: datetime = row.expires_at
        if expires_at <= self._clock():
            raise NotAuthenticated("session expired: sign in again")
        staff = StaffUser(id=row.id, email=row.email, role=Role(row.role))
        return StaffSession(staff, SessionKind(row.kind), row.csrf_token, expires_at)

    async def revoke(self, token: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(StaffSessionRow)
                .where(StaffSessionRow.token_hash == _token_hash(token), StaffSessionRow.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
