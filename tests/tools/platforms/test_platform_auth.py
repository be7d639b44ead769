"""Credentials of the remote adapters: the SMART Backend Services assertion's shape (sekmet, in the
contract suite, also verifies it for real), and DrChrono's OAuth refresh (before expiry, after a 401)
with the token pair encrypted at rest. DrChrono's token endpoint cannot run here, so it is a small
local handler speaking its protocol."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tools.errors import PlatformUnavailable
from tools.platforms.drchrono import DrChronoOAuth, EncryptedTokenFile
from tools.platforms.fhir import SmartBackendCredentials
from tools.platforms.fhir.auth import ASSERTION_TYPE
from tools.platforms.http import HttpPolicy, PlatformHttp


def test_smart_assertion_is_a_short_lived_signed_client_credential() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    creds = SmartBackendCredentials(
        client_id="billing-agent",
        private_key_pem=pem,
        token_url="https://fhir.test/auth/token",
        kid="k1",
        wall_clock=lambda: 1_700_000_000,
    )
    token = creds.assertion()
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"], header["typ"]) == ("RS384", "k1", "JWT")
    claims = jwt.decode(
        token,
        key.public_key(),
        algorithms=["RS384"],
        audience="https://fhir.test/auth/token",
        options={"verify_exp": False},
    )
    assert claims["iss"] == claims["sub"] == "billing-agent"
    assert claims["exp"] - claims["iat"] <= 300
    assert len(claims["jti"]) >= 16
    assert creds.assertion() != token  # a fresh jti every time


async def test_smart_token_is_requested_with_the_assertion_and_reused_until_near_expiry() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    forms: list[dict[str, list[str]]] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        forms.append(parse_qs(request.content.decode()))
        return httpx.Response(200, json={"access_token": f"tok{len(forms)}", "expires_in": 300})

    now = [0.0]
    creds = SmartBackendCredentials(
        client_id="c",
        private_key_pem=pem,
        token_url="https://fhir.test/token",
        wall_clock=lambda: now[0],
        transport=httpx.MockTransport(token_endpoint),
    )
    assert await creds.headers() == {"authorization": "Bearer tok1"}
    assert forms[0]["grant_type"] == ["client_credentials"]
    assert forms[0]["client_assertion_type"] == [ASSERTION_TYPE]
    now[0] = 200
    assert await creds.headers() == {"authorization": "Bearer tok1"}
    now[0] = 241  # within a minute of expiry: refresh first
    assert await creds.headers() == {"authorization": "Bearer tok2"}


class DrChronoTokens:
    def __init__(self) -> None:
        self.grants: list[dict[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        self.grants.append(form)
        n = len(self.grants)
        if form["refresh_token"] != [f"refresh{n - 1}"]:
            return httpx.Response(400, json={"error": "invalid_grant"})
        return httpx.Response(
            200, json={"access_token": f"access{n}", "refresh_token": f"refresh{n}", "expires_in": 172800}
        )


def oauth(tmp_path: Path, tokens: DrChronoTokens, key: bytes, now: list[float]) -> DrChronoOAuth:
    return DrChronoOAuth(
        token_url="https://drchrono.test/o/token/",
        client_id="id",
        client_secret="secret",
        refresh_token="refresh0",
        store=EncryptedTokenFile(tmp_path / "token.enc", key),
        wall_clock=lambda: now[0],
        transport=httpx.MockTransport(tokens),
    )


async def test_drchrono_refreshes_before_expiry_and_keeps_the_new_pair_encrypted(tmp_path: Path) -> None:
    tokens, key, now = DrChronoTokens(), Fernet.generate_key(), [0.0]
    auth = oauth(tmp_path, tokens, key, now)
    assert await auth.headers() == {"authorization": "Bearer access1"}
    blob = (tmp_path / "token.enc").read_bytes()
    assert b"access1" not in blob
    assert b"refresh1" not in blob
    assert oct((tmp_path / "token.enc").stat().st_mode & 0o777) == "0o600"
    now[0] = 172800 - 299  # inside the five-minute margin
    assert await auth.headers() == {"authorization": "Bearer access2"}
    # A restarted process picks up the rotated refresh token from the file, not the configured one.
    restarted = oauth(tmp_path, tokens, key, now)
    assert await restarted.headers() == {"authorization": "Bearer access2"}
    now[0] = 2 * 172800
    assert await restarted.headers() == {"authorization": "Bearer access3"}
    # Another key cannot read the file: it starts again from the configured token (refused by now).
    stranger = oauth(tmp_path, tokens, Fernet.generate_key(), now)
    with pytest.raises(PlatformUnavailable, match="refused our refresh token"):
        await stranger.headers()


async def test_drchrono_refreshes_once_after_a_401() -> None:
    tokens = DrChronoTokens()
    seen: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/o/token/":
            return tokens(request)
        seen.append(request.headers["authorization"])
        return httpx.Response(401 if len(seen) == 1 else 200, json={"data": []})

    transport = httpx.MockTransport(api)
    auth = DrChronoOAuth(
        token_url="https://drchrono.test/o/token/",
        client_id="id",
        client_secret="s",
        refresh_token="refresh0",
        store=None,
        transport=transport,
    )
    http = PlatformHttp("https://drchrono.test", credentials=auth, transport=transport, policy=HttpPolicy())
    response = await http.request("GET", "/api/patients")
    assert response.status_code == 200
    assert seen == ["Bearer access1", "Bearer access2"]
    await http.aclose()
