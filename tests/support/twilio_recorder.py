"""A local server that speaks the one call of Twilio's REST API outreach makes (``POST
/2010-04-01/Accounts/{sid}/Messages.json``) and records every message it accepts, so a test can count
what reached "Twilio" across processes. The real ``twilio`` client and ``TwilioMessaging`` talk to it.

``fail_next`` queues HTTP statuses (429, 500, ...) answered, in order, before messages are accepted again.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Recorder:
    url: str = ""
    messages: list[dict[str, str]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies_to(self, to: str) -> list[str]:
        with self.lock:
            return [m["Body"] for m in self.messages if m["To"] == to]


def _handler(rec: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            account = self.path.split("/")[3] if self.path.count("/") >= 4 else "AC"
            with rec.lock:
                rec.requests += 1
                status = rec.fail_next.pop(0) if rec.fail_next else 201
                if status == 201:
                    sid = "SM" + secrets.token_hex(16)
                    rec.messages.append({**form, "sid": sid})
            if status != 201:
                payload: dict[str, object] = {
                    "code": 20429 if status == 429 else 20500,
                    "message": "try later",
                    "status": status,
                }
            else:
                payload = {
                    "sid": sid,
                    "account_sid": account,
                    "to": form.get("To"),
                    "from": form.get("From"),
                    "body": form.get("Body"),
                    "status": "queued",
                    "num_segments": "1",
                    "direction": "outbound-api",
                }
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


@contextmanager
def run_recorder() -> Iterator[Recorder]:
    rec = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
