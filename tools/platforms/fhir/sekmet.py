"""Runs sekmet-fhir (a FHIR R4 server, PyPI, Apache-2.0) locally: a sandbox for the FHIR adapter's tests,
the platform latency benchmark and trying the adapter by hand (development only, never a practice's
server).

``make install`` puts it in a virtual environment of its own (``.venv-sekmet``; ``$SEKMET_BIN``
overrides where the ``sekmet`` executable is looked for). The server requires SMART Backend Services
authentication: the tests' client key is registered with it, so every call the adapter makes carries a
token it got with a signed JWT assertion. ``wipe`` empties the server between tests by clearing its
SQLite tables from this process (sekmet's own ``reset`` does the same, from its CLI).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

REPO_ROOT = Path(__file__).resolve().parents[3]
CLIENT_ID = "billing-agent-tests"
START_TIMEOUT_S = 40.0


class SekmetUnavailable(RuntimeError):
    pass


def find_sekmet() -> Path:
    override = os.environ.get("SEKMET_BIN")
    path = Path(override) if override else REPO_ROOT / ".venv-sekmet" / "bin" / "sekmet"
    if path.is_file() and os.access(path, os.X_OK):
        return path
    raise SekmetUnavailable(f"sekmet-fhir is not installed at {path}: run `make install`")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SekmetServer:
    base_url: str  # the FHIR base, .../fhir
    token_url: str
    client_id: str
    private_key_pem: str
    db_path: Path
    process: subprocess.Popen[bytes]

    def wipe(self) -> None:
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            for table in ("resources", "versions", "idx"):
                conn.execute(f"DELETE FROM {table}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def new_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@contextmanager
def run_sekmet(workdir: Path, *, auth: bool = True) -> Iterator[SekmetServer]:
    binary = find_sekmet()
    port = _free_port()
    key = new_private_key()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_path = workdir / "client_public.pem"
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    base = f"http://127.0.0.1:{port}/fhir"
    settings = {
        "base_url": base,
        "data_dir": str(workdir / "data"),
        "own_private_key_path": str(workdir / "keys" / "sekmet_private.pem"),
        "simulator": {"enabled": False},
        "log_inbound": False,
        "validation": {"inbound": "strict"},
        "server_auth": {
            "types": ["smart"] if auth else ["none"],
            "smart_clients": [{"client_id": CLIENT_ID, "public_key_path": str(public_path)}],
        },
    }
    config = workdir / "settings.yaml"
    config.write_text(yaml.safe_dump(settings))
    log = (workdir / "sekmet.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "serve", "-c", str(config), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
    )
    server = SekmetServer(
        base_url=base,
        token_url=f"http://127.0.0.1:{port}/auth/token",
        client_id=CLIENT_ID,
        private_key_pem=private_pem,
        db_path=workdir / "data" / "sekmet.db",
        process=process,
    )
    try:
        started = time.monotonic()
        while True:
            if process.poll() is not None:
                raise SekmetUnavailable(
                    f"sekmet exited with {process.returncode}: {(workdir / 'sekmet.log').read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{base}/metadata", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() - started > START_TIMEOUT_S:
                raise SekmetUnavailable(f"sekmet did not start within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()
        log.close()
