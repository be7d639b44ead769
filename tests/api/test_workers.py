"""``billing-agent serve --workers N``: N real API processes on one port, each with its own connection
queue, supervised (a dead worker comes back, SIGTERM stops them all, SQLite is refused)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from api.workers import balances_connections, worker_sockets
from tests.api.portal_support import free_port
from tests.api.test_portal import SECRET

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = 64


def _env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "BILLING_DATABASE_URL": url,
        "BILLING_ENVIRONMENT": "test",
        "BILLING_PORTAL_TOKEN_SECRET": SECRET.get_secret_value(),
        "BILLING_RATE_LIMIT_IP_BURST": "100000",
    }


@contextmanager
def served(url: str, log: Path, workers: int = 2) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--workers", str(workers), "--port", str(port)],
            cwd=ROOT,
            env=_env(url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc, port
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)


def children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def workers_of(pid: int) -> set[int]:
    """The supervisor's worker processes (spawned; multiprocessing's resource tracker is a child too)."""
    found = set()
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
        except OSError:  # gone meanwhile
            continue
    return found


def established_by_pid(port: int, pids: set[int]) -> dict[int, int]:
    """How many accepted connections on ``port`` each of ``pids`` holds (from /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # ESTABLISHED, server side
                inodes.add(fields[9])
    counts: dict[int, int] = {}
    for pid in pids:
        held = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held += 1
        counts[pid] = held
    return counts


def wait_healthy(port: int, log: Path, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as http:
        while time.monotonic() < deadline:
            try:
                if http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"no answer on port {port}:\n{log.read_text()[-3000:]}")


def _postgres(url: str) -> None:
    if url.startswith("sqlite"):
        pytest.skip("several workers need PostgreSQL (TEST_DATABASE_URL)")
    if not balances_connections():
        pytest.skip("per-worker connection queues need Linux's SO_REUSEPORT")


def _burst_while_one_worker_is_busy(url: str, tmp_path: Path) -> dict[int, int]:
    with served(url, tmp_path / "serve.log") as (proc, port):
        wait_healthy(port, tmp_path / "serve.log")
        pids = workers_of(proc.pid)
        assert len(pids) == 2
        busy = min(pids)
        with ExitStack() as stack, ThreadPoolExecutor(CONNECTIONS) as pool:
            clients = [
                stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60.0))
                for _ in range(CONNECTIONS)
            ]
            os.kill(busy, signal.SIGSTOP)
            try:
                pending = [pool.submit(c.get, "/health") for c in clients]
                time.sleep(1.0)
            finally:
                os.kill(busy, signal.SIGCONT)
            assert all(f.result().status_code == 200 for f in pending)
            return established_by_pid(port, pids)


async def test_a_burst_while_one_worker_is_busy_is_shared_by_both_workers(
    migrated_database_url: str, tmp_path: Path
) -> None:
    """A burst of 64 keep-alive connections arrives while one worker cannot accept (stopped here, busy
    with a turn in production). With one shared queue (``uvicorn --workers``) the other worker takes all
    64 and keeps them; with a queue per worker half of them wait for the busy one, which answers them
    once it is back."""
    _postgres(migrated_database_url)
    counts = await asyncio.to_thread(_burst_while_one_worker_is_busy, migrated_database_url, tmp_path)
    assert sum(counts.values()) == CONNECTIONS
    # A fair hash gives each worker about half; below a quarter happens about 3 times in 100,000.
    assert min(counts.values()) >= CONNECTIONS // 4, counts


def _replace_a_dead_worker_then_stop(url: str, tmp_path: Path) -> tuple[int, set[int], int]:
    with served(url, tmp_path / "serve.log") as (proc, port):
        wait_healthy(port, tmp_path / "serve.log")
        victim = min(workers_of(proc.pid))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        now = workers_of(proc.pid)
        while time.monotonic() < deadline and (len(now) < 2 or victim in now):
            time.sleep(0.2)
            now = workers_of(proc.pid)
        # Fresh connections are all answered again (the new worker serves the dead one's queue).
        for _ in range(16):
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60.0) as client:
                assert client.get("/health").status_code == 200
        proc.send_signal(signal.SIGTERM)
        return victim, now, proc.wait(timeout=60)


async def test_a_dead_worker_is_replaced_and_sigterm_stops_every_worker(
    migrated_database_url: str, tmp_path: Path
) -> None:
    _postgres(migrated_database_url)
    victim, now, code = await asyncio.to_thread(
        _replace_a_dead_worker_then_stop, migrated_database_url, tmp_path
    )
    assert victim not in now
    assert len(now) == 2
    assert code == 0
    assert not any(_running(pid) for pid in now)


def _running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" not in status.read_text()
    except OSError:
        return False


def test_several_workers_on_sqlite_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", str(free_port())],
        cwd=ROOT,
        env=_env(f"sqlite:///{tmp_path / 'ledger.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "several workers need PostgreSQL" in done.stderr


def test_a_busy_port_fails_at_once_in_the_parent() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(Exception, match=f"cannot listen on 127.0.0.1:{port}"):
            worker_sockets("127.0.0.1", port, 2)


def test_port_zero_gives_every_worker_the_same_free_port() -> None:
    sockets = worker_sockets("127.0.0.1", 0, 3)
    try:
        ports = {s.getsockname()[1] for s in sockets}
        assert len(ports) == 1
        assert ports != {0}
        assert len(sockets) == (3 if balances_connections() else 1)
    finally:
        for s in sockets:
            s.close()


def test_workers_that_cannot_start_stop_the_service_with_an_error(tmp_path: Path) -> None:
    """No database to migrate (nothing listens on port 1): every worker fails its start-up, and the
    supervisor, instead of restarting them for ever, stops and exits 1 with a message."""
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", str(free_port())],
        cwd=ROOT,
        env=_env("postgresql+psycopg://postgres@127.0.0.1:1/none"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "could not start; stopping" in done.stderr


async def test_several_workers_share_a_sending_numbers_rate() -> None:
    """``serve --workers 3``: each worker sends from a number at most every 3 s, so the three together
    stay within the number's one message a second."""
    from api.outreach import pacer_for
    from api.settings import Settings
    from api.workers import worker_settings

    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    settings = worker_settings(Settings(environment="test"), 3)
    pacer = pacer_for(settings, monotonic=lambda: now[0], sleep=sleep)
    for _ in range(3):
        await pacer.wait("+15555550100")
    assert waits == [3.0, 3.0]
    single = pacer_for(Settings(environment="test"), monotonic=lambda: now[0], sleep=sleep)
    waits.clear()
    for _ in range(3):
        await single.wait("+15555550100")
    assert waits == [1.0, 1.0]  # one process: the number's own rate
