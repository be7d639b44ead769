"""DrChrono OAuth 2.0: access tokens from the practice's refresh token, kept encrypted at rest.

DrChrono's access tokens last 48 hours and each refresh returns a new refresh token (the old one stops
working), so the pair is stored after every refresh: Fernet-encrypted (AES-128-CBC + HMAC-SHA256) with
the key from ``BILLING_DRCHRONO_TOKEN_KEY``, in ``BILLING_DRCHRONO_TOKEN_FILE``. We refresh five
minutes before expiry and after any 401.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from cryptography.fernet import Fernet, InvalidToken

from tools.errors import PlatformUnavailable

REFRESH_MARGIN_S = 300


class EncryptedTokenFile:
    """The token pair as one Fernet token in a file (written atomically, mode 0600)."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._fernet = Fernet(key)

    def load(self) -> dict[str, object] | None:
        try:
            blob = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            data: dict[str, object] = json.loads(self._fernet.decrypt(blob))
        except InvalidToken:
            return None  # another key, or a damaged file: start again from the configured refresh token
        return data

    def save(self, data: dict[str, object]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self._fernet.encrypt(json.dumps(data).encode()))
        os.replace(tmp, self.path)


class DrChronoOAuth:
    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        store: EncryptedTokenFile | None,
        wall_clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._store = store
        self._time = wall_clock
        self._transport = transport
        self._timeout_s = timeout_s
        saved = store.load() if store else None
        self._refresh_token = str(saved["refresh_token"]) if saved else refresh_token
        self._access: str | None = str(saved["access_token"]) if saved else None
        self._expires_at = float(saved["expires_at"]) if saved else 0.0  # type: ignore[arg-type]  # JSON number
        self._lock = asyncio.Lock()
        self.refreshes = 0

    async def headers(self) -> dict[str, str]:
        if self._access is None or self._time() >= self._expires_at - REFRESH_MARGIN_S:
            await self.refresh()
        return {"authorization": f"Bearer {self._access}"}

    async def refresh(self) -> None:
        async with self._lock:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": self._refresh_token,
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            }
            try:
                async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout_s) as client:
                    response = await client.post(self.token_url, data=form)
            except httpx.HTTPError as exc:
                raise PlatformUnavailable(
                    f"DrChrono's token endpoint could not be reached ({type(exc).__name__})"
                ) from exc
            if response.status_code != 200:
                raise PlatformUnavailable(f"DrChrono refused our refresh token ({response.status_code})")
            body = response.json()
            self._access = str(body["access_token"])
            self._refresh_token = str(body.get("refresh_token") or self._refresh_token)
            self._expires_at = self._time() + float(body.get("expires_in", 172800))
            self.refreshes += 1
            if self._store is not None:
                self._store.save(
                    {
                        "access_token": self._access,
                        "refresh_token": self._refresh_token,
                        "expires_at": self._expires_at,
                    }
                )
