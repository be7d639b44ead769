"""What a bench run stands on: throw-away databases (SQLite files in a temporary folder, or a dedicated
PostgreSQL schema per side that is dropped afterwards — never anyone else's tables), the seeded demo
practice, and the HTTP service as a subprocess (``billing-agent serve``, or N uvicorn workers)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import httpx
import psycopg
from sqlalchemy.engine import make_url

from migrations import migrate_service
from tools.db import create_engine, normalize_url
from tools.demo import generate_practice
from tools.errors import ConfigurationError
from tools.platforms.ledger import LedgerPlatform, PracticeData, migrate

Backend = Literal["sqlite", "postgres"]
_SCHEMA_NAME = re.compile(r"^bench_[a-z0-9_]+$")


@dataclass(frozen=True)
class Store:
    database_url: str
    checkpoint_url: str


def postgres_base_url() -> str:
    for name in ("TEST_DATABASE_URL", "BILLING_DATABASE_URL"):
        url = os.environ.get(name)
        if url and make_url(url).get_backend_name() == "postgresql":
            return url
    raise ConfigurationError(
        "--backend postgres needs TEST_DATABASE_URL (or BILLING_DATABASE_URL) pointing at PostgreSQL"
    )


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def temp_store(backend: Backend, folder: Path, name: str) -> AsyncIterator[Store]:
    """Empty databases for one side of the bench, removed on exit."""
    if backend == "sqlite":
        yield Store(
            database_url=f"sqlite+aiosqlite:///{folder / name}.db",
            checkpoint_url=f"sqlite:///{folder / name}-checkpoints.db",
        )
        return
    base = postgres_base_url()
    schema = f"bench_{os.getpid()}_{name}"
    if not _SCHEMA_NAME.match(schema):
        raise ConfigurationError(f"bad schema name {schema!r}")
    url = (
        make_url(normalize_url(base))
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    async with await psycopg.AsyncConnection.connect(_libpq(base), autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield Store(database_url=url, checkpoint_url=url)
    finally:
        async with await psycopg.AsyncConnection.connect(_libpq(base), autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def seed(store: Store, patients: int) -> PracticeData:
    """Migrate the ledger and service tables and load a demo practice."""
    await migrate(store.database_url)
    await migrate_service(store.database_url)
    engine = create_engine(store.database_url)
    try:
        data = generate_practice(patients=patients)
        await LedgerPlatform(engine).bulk_load(data)
    finally:
        await engine.dispose()
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Rate limits are protection against abuse, not part of what the bench measures.
UNLIMITED = {
    "BILLING_RATE_LIMIT_IP_PER_MINUTE": "100000000",
    "BILLING_RATE_LIMIT_IP_BURST": "100000000",
    "BILLING_RATE_LIMIT_THREAD_PER_MINUTE": "100000000",
    "BILLING_RATE_LIMIT_THREAD_BURST": "100000000",
    "BILLING_RATE_LIMIT_PATIENT_PER_MINUTE": "100000000",
    "BILLING_RATE_LIMIT_PATIENT_BURST": "100000000",
}


class Server:
    """The service in a subprocess: ``billing-agent serve --workers N`` (``api.workers``: a connection
    queue per worker, so a burst is shared by every worker)."""

    def __init__(self, store: Store, workers: int, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {
            **os.environ,
            **UNLIMITED,
            "BILLING_ENVIRONMENT": "development",
            "BILLING_DATABASE_URL": store.database_url,
            "BILLING_CHECKPOINT_URL": store.checkpoint_url,
            "BILLING_PUBLIC_BASE_URL": self.base_url,
        }
        # No outreach passes (``serve`` runs one every 30 s): the bench measures turns, and a pass over the
        # seeded practice's accounts (texts to every patient with a balance) landed in some rounds and
        # not others, its CPU counted as the turns'.
        command = [
            sys.executable, "-m", "api.cli", "serve", "--port", str(self.port), "--workers", str(workers),
            "--outreach-interval", "0",
        ]  # fmt: skip
        self._log: IO[bytes] = log_path.open("wb")
        # A session (process group) of its own: stopping it reaches the worker processes too.
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    async def ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ConfigurationError(f"the service exited during start-up; see {self.log_path}")
                try:
                    if (await client.get("/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise ConfigurationError(
            f"the service did not answer /health in {timeout_s:.0f} s; see {self.log_path}"
        )

    def stop(self) -> None:
        group = self.process.pid  # its own session: the group id is its pid
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):  # any worker the master left behind
            os.killpg(group, signal.SIGKILL)
        self._log.close()


class ClientProcess:
    """The load generator (:mod:`bench.client`) in its own process, one JSON line per round."""

    def __init__(self, base_url: str, concurrency: int, portal_ids_file: Path, log_path: Path) -> None:
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.client",
                "--base-url",
                base_url,
                "--concurrency",
                str(concurrency),
                "--portal-ids",
                str(portal_ids_file),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    async def round(self, turns: int, rate: float | None = None) -> str:
        """``turns`` turns closed-loop, or paced at ``rate`` turns a second (see :mod:`bench.client`)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        command: dict[str, float] = {"turns": turns} if rate is None else {"turns": turns, "rate": rate}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = await asyncio.to_thread(self.process.stdout.readline)
        if not line:
            raise ConfigurationError("the bench client exited; see its log")
        return line

    def stop(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            try:
                self.process.stdin.write('{"quit": true}\n')
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._log.close()
