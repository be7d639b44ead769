"""Runs Stoplight Prism as a validating mock of Twilio's REST API, from Twilio's own OpenAPI spec.

Prism is an npm package (``@stoplight/prism-cli@5.14.2``; later versions need Node ≥ 24). Install it
once into the repository's git-ignored ``node_modules/``::

    npm install --no-audit --no-fund --prefix node_modules/.prism @stoplight/prism-cli@5.14.2

``$PRISM_BIN`` overrides where the executable is looked for. ``PrismUnavailable`` says why it could
not be found or started; tests turn it into a skip with that reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.vendor import REPO_ROOT

PRISM_VERSION = "5.14.2"
INSTALL_HINT = (
    f"npm install --no-audit --no-fund --prefix node_modules/.prism @stoplight/prism-cli@{PRISM_VERSION}"
)
START_TIMEOUT_S = 25.0
_CANDIDATES = (
    REPO_ROOT / "node_modules" / ".prism" / "node_modules" / ".bin" / "prism",
    REPO_ROOT / "node_modules" / ".bin" / "prism",
)


class PrismUnavailable(RuntimeError):
    """Prism is not installed, Node is missing, or Prism did not start in time."""


def find_prism() -> Path:
    override = os.environ.get("PRISM_BIN")
    candidates = (Path(override),) if override else _CANDIDATES
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            if shutil.which("node") is None:
                raise PrismUnavailable("Prism is installed but `node` is not on PATH")
            return path
    raise PrismUnavailable(
        f"Prism {PRISM_VERSION} is not installed (looked at {', '.join(map(str, candidates))}); "
        f"install it with: {INSTALL_HINT}"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PrismServer:
    url: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def log_since(self, index: int) -> str:
        return "\n".join(self.lines[index:])


@contextmanager
def run_prism(
    spec: Path, *, timeout_s: float = START_TIMEOUT_S, errors: bool = False
) -> Iterator[PrismServer]:
    """Start ``prism mock`` for ``spec`` on a free localhost port; stop it on exit. ``errors``: answer a
    request that breaks the spec with an error instead of a best-effort example (``--errors``)."""
    binary = find_prism()
    port = _free_port()
    process = subprocess.Popen(
        [str(binary), "mock", "-h", "127.0.0.1", "-p", str(port), *(["--errors"] * errors), str(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
    )
    server = PrismServer(url=f"http://127.0.0.1:{port}", process=process)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.lines.append(line.rstrip("\n"))
            if "Prism is listening on" in line:
                ready.set()

    reader = threading.Thread(target=pump, name="prism-log", daemon=True)
    reader.start()
    try:
        started = time.monotonic()
        while not ready.wait(0.1):
            if process.poll() is not None:
                raise PrismUnavailable(
                    f"Prism exited with {process.returncode} before listening:\n{server.log_since(-20)}"
                )
            if time.monotonic() - started > timeout_s:
                raise PrismUnavailable(
                    f"Prism did not start within {timeout_s:.0f} s:\n{server.log_since(-20)}"
                )
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
