"""SMART Backend Services authentication (client credentials with a signed JWT assertion).

https://hl7.org/fhir/smart-app-launch/backend-services.html: we sign a short-lived JWT (``iss`` = ``sub``
= our client id, ``aud`` = the token endpoint, a unique ``jti``, ``exp`` at most five minutes out) with
our private key, post it as ``client_assertion`` with ``grant_type=client_credentials``, and send the
access token we get as a bearer token until shortly before it expires (or a 401 says otherwise).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt

from tools.errors import PlatformUnavailable

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REFRESH_MARGIN_S = 60


class SmartBackendCredentials:
    def __init__(
        self,
        *,
        client_id: str,
        private_key_pem: str,
        token_url: str | None,
        fhir_base_url: str | None = None,
        scope: str = "system/*.read system/*.write",
        kid: str | None = None,
        algorithm: str = "RS384",
        wall_clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.client_id = client_id
        self._key = private_key_pem
        self.token_url = token_url or ""
        self._discover_from = (
            None if token_url else f"{(fhir_base_url or '').rstrip('/')}/.well-known/smart-configuration"
        )
        self.scope = scope
        self.kid = kid
        self.algorithm = algorithm
        self._time = wall_clock
        self._transport = transport
        self._timeout_s = timeout_s
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def assertion(self) -> str:
        now = int(self._time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "exp": now + 300,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        headers: dict[str, Any] = {"typ": "JWT"}
        if self.kid:
            headers["kid"] = self.kid
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)

    async def headers(self) -> dict[str, str]:
        if self._token is None or self._time() >= self._expires_at - REFRESH_MARGIN_S:
            await self.refresh()
        return {"authorization": f"Bearer {self._token}"}

    async def _discover(self, client: httpx.AsyncClient) -> None:
        if self.token_url or self._discover_from is None:
            return
        response = await client.get(self._discover_from, headers={"accept": "application/json"})
        if response.status_code != 200 or "token_endpoint" not in response.json():
            raise PlatformUnavailable("the FHIR server does not publish a SMART token endpoint")
        self.token_url = str(response.json()["token_endpoint"])

    async def refresh(self) -> None:
        async with self._lock:
            try:
                async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout_s) as client:
                    await self._discover(client)
                    form = {
                        "grant_type": "client_credentials",
                        "scope": self.scope,
                        "client_assertion_type": ASSERTION_TYPE,
                        "client_assertion": self.assertion(),
                    }
                    response = await client.post(self.token_url, data=form)
            except httpx.HTTPError as exc:
                raise PlatformUnavailable(
                    f"the FHIR token endpoint could not be reached ({type(exc).__name__})"
                ) from exc
            if response.status_code != 200:
                raise PlatformUnavailable(
                    f"the FHIR token endpoint refused our credentials ({response.status_code})"
                )
            body = response.json()
            self._token = str(body["access_token"])
            self._expires_at = self._time() + float(body.get("expires_in", 300))
