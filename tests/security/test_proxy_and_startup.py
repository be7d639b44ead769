"""Attacks on the processes themselves: the service as ``billing-agent serve`` runs it (a real uvicorn on
127.0.0.1), its start-up checks, and the staff-account command.

* L7: behind uvicorn's default trusted-proxy setting a client on 127.0.0.1 rotating ``X-Forwarded-For``
  got a fresh per-address budget with every request. Now no proxy is trusted unless named
  (``--forwarded-allow-ips`` / ``BILLING_FORWARDED_ALLOW_IPS``).
* L1 and the 21-line traceback: a weak portal secret is refused at start-up in production, in one line.
* L2: staff passwords are checked against a blocklist of common and guessable passwords (zxcvbn).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from api.security import issue_portal_token
from api.settings import Settings
from tests.api.portal_support import free_port
from tests.security.support import PORTAL_SECRET, seed

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    return {**env, "BILLING_ENVIRONMENT": "test", **extra}


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("served") / "ledger.db"
    shutil.copyfile(_sqlite_template, path)
    patients = asyncio.run(seed(f"sqlite+aiosqlite:///{path}"))
    portal_user = next(p.portal_user_id for p in patients if p.portal_user_id)
    assert portal_user is not None
    return path, portal_user


@contextmanager
def serve(db: Path, tmp: Path, *args: str) -> Iterator[str]:
    port = free_port()
    env = _env(
        BILLING_DATABASE_URL=f"sqlite+aiosqlite:///{db}",
        BILLING_CHECKPOINT_URL=f"sqlite:///{tmp / 'checkpoints.db'}",
        BILLING_PORTAL_TOKEN_SECRET=PORTAL_SECRET,
        BILLING_RATE_LIMIT_IP_PER_MINUTE="1",
        BILLING_RATE_LIMIT_IP_BURST="3",
    )
    log = (tmp / f"serve-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / f"serve-{port}.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _create_threads(base: str, token: str, n: int) -> list[int]:
    codes = []
    with httpx.Client(base_url=base, timeout=10) as http:
        for i in range(n):
            response = http.post(
                "/v1/portal/threads",
                headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": f"198.51.100.{i + 1}"},
                json={},
            )
            codes.append(response.status_code)
    return codes


def test_rotating_forwarded_for_does_not_reset_the_address_limit(
    seeded_file: tuple[Path, str], tmp_path: Path
) -> None:
    db, portal_user = seeded_file
    token = issue_portal_token(Settings(portal_token_secret=PORTAL_SECRET), portal_user)
    with serve(db, tmp_path) as base:
        assert _create_threads(base, token, 5) == [201, 201, 201, 429, 429]


def test_a_named_proxy_is_believed(seeded_file: tuple[Path, str], tmp_path: Path) -> None:
    db, portal_user = seeded_file
    token = issue_portal_token(Settings(portal_token_secret=PORTAL_SECRET), portal_user)
    with serve(db, tmp_path, "--forwarded-allow-ips", "127.0.0.1") as base:
        # Each client behind the proxy we named has its own budget.
        assert _create_threads(base, token, 5) == [201] * 5


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("abc", "has 3 bytes"),
        ("dev-portal-secret-change-me-not-for-production", "placeholder"),
        ("a" * 48, "too predictable"),
        ("abababababababababababababababababababab", "too predictable"),
    ],
)
def test_production_refuses_a_weak_secret_in_one_line(secret: str, why: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(free_port())],
        cwd=ROOT,
        env=_env(
            BILLING_ENVIRONMENT="production",
            BILLING_PORTAL_TOKEN_SECRET=secret,
            BILLING_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "BILLING_PORTAL_TOKEN_SECRET" in lines[0]
    assert why in lines[0]
    if len(secret) >= 8:
        assert secret not in done.stderr, "a secret is never echoed"
    assert "Traceback" not in done.stderr


def test_production_accepts_a_random_secret() -> None:
    settings = Settings(environment="production", portal_token_secret=os.urandom(32).hex())
    assert settings.environment == "production"


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "password1234", "qwertyuiop123", "123456789012"])
def test_staff_passwords_from_the_blocklist_are_refused(password: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "staff", "create", "--email", "dana@practice.test", "--role",
         "manager", "--password-stdin", "--database-url", f"sqlite:///{tmp_path / 'staff.db'}"],
        cwd=ROOT,
        env=_env(),
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "too easy to guess" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_strong_staff_password_is_accepted(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "staff", "create", "--email", "dana@practice.test", "--role",
         "manager", "--password-stdin", "--database-url", f"sqlite:///{tmp_path / 'staff.db'}"],
        cwd=ROOT,
        env=_env(),
        input="violet kettle under seven bridges\n",
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
