"""Browser tests: the real server (``billing-agent serve``, i.e. uvicorn) on a free port against a temp
seeded database, driven by Playwright through Debian's Chromium (``playwright install`` cannot download
browsers here). Screenshots go to ``test-artifacts/e2e/`` (gitignored)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.e2e_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    MANAGER_EMAIL,
    STAFF_EMAIL,
    STAFF_PASSWORD,
    START_TIMEOUT_S,
    LiveServer,
    PortalSite,
    serve_portal_site,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli() -> list[str]:
    """``billing-agent`` of this interpreter's environment (the console script beside ``python``)."""
    script = Path(sys.executable).with_name("billing-agent")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from api.cli import main; main()"]


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install it with `apt-get update && apt-get install -y chromium`")
    return CHROMIUM


@pytest.fixture(scope="module")
def portal_site() -> Iterator[PortalSite]:
    with serve_portal_site(_free_port()) as site:
        yield site


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, chromium: Path, portal_site: PortalSite
) -> Iterator[LiveServer]:
    """The whole service in its own process, as a practice would run it."""
    work = tmp_path_factory.mktemp("e2e-server")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BILLING_ENVIRONMENT": "test",
        "BILLING_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'ledger.db'}",
        "BILLING_CHECKPOINT_URL": f"sqlite:///{work / 'checkpoints.db'}",
        "BILLING_PORTAL_TOKEN_SECRET": "e2e-portal-secret-long-enough-for-hs256!",
        "BILLING_ALLOWED_ORIGINS": json.dumps([base_url, portal_site.allowed]),
        "BILLING_PUBLIC_BASE_URL": base_url,
    }
    env.pop("BILLING_LLM_BASE_URL", None)  # the local understanding engine: no model, no network
    cli = _cli()
    run = {"cwd": work, "env": env, "check": True, "capture_output": True, "text": True, "timeout": 120}
    subprocess.run([*cli, "seed", "--patients", "20", "--seed", "3"], **run)  # type: ignore[call-overload]  # kwargs dict
    for email, role in ((STAFF_EMAIL, "agent"), (MANAGER_EMAIL, "manager")):
        subprocess.run(  # type: ignore[call-overload]  # kwargs dict
            [*cli, "staff", "create", "--email", email, "--role", role, "--password-stdin"],
            input=STAFF_PASSWORD + "\n",
            **run,
        )
    log = work / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the server did not start in {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}"
                )
            time.sleep(0.2)
        yield LiveServer(base_url, STAFF_EMAIL, STAFF_PASSWORD, log)
    finally:
        process.terminate()  # SIGTERM: uvicorn shuts down gracefully (in-flight turns finish)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="install the Python package: pip install -c constraints.txt playwright"
    )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
