"""Shared by the browser tests: where Chromium is, how it starts, the live server's coordinates."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
STAFF_EMAIL = "sam.rivera@practice.example"
STAFF_PASSWORD = "correct horse battery staple 42"
MANAGER_EMAIL = "morgan.lee@practice.example"
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    staff_email: str
    staff_password: str
    log: Path
    manager_email: str = MANAGER_EMAIL  # signs in with staff_password


@dataclass
class PortalSite:
    """A practice's own portal on another origin: serves whatever page the test sets, at any path.

    The same server answers on two origins: ``allowed`` (``http://127.0.0.1:<port>``, configured as an
    allowed origin of the service) and ``refused`` (``http://localhost:<port>``, not configured). Both are
    loopback addresses, so the browser's private-network rules do not get in the way of the test."""

    port: int
    page: list[str] = field(default_factory=lambda: ["<!doctype html><title>empty</title>"])

    @property
    def allowed(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def refused(self) -> str:
        return f"http://localhost:{self.port}"


@contextmanager
def serve_portal_site(port: int) -> Iterator[PortalSite]:
    site = PortalSite(port)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = site.page[0].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(
            self, format: str, *args: object
        ) -> None:  # quiet: the server logs to stderr otherwise
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
