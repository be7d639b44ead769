"""Several API worker processes on one port, each with an accept queue of its own.

``uvicorn --workers N`` binds one listening socket and shares it: every worker races to ``accept()`` on
one queue, and the worker that wakes first takes every connection waiting (asyncio accepts up to its
backlog at once). Under a burst one worker ends up with most keep-alive connections and the others sit
idle — measured with the bench's 50 conversations on 2 workers: 42 connections on one, 8 on the other,
so the second worker added nothing (``docs/performance.md``). On Linux each worker here gets its own
``SO_REUSEPORT`` socket instead, all bound to the same address, and the kernel spreads new connections
over their queues by a hash of the connection's addresses and ports.

The supervisor binds and listens on all N sockets *before* starting a worker, and keeps them open for
its whole life: a connection that arrives while a worker is still starting (or being restarted) waits
in that worker's queue instead of being refused, and a busy port fails at once, in the parent. A worker
that dies is started again on its own socket; one that cannot start (its exit code is uvicorn's start-up
failure, or it dies within :data:`MIN_UPTIME_S` :data:`MAX_QUICK_DEATHS` times in a row) stops the whole
service with an error. SIGINT or SIGTERM stops every worker gracefully (each finishes its requests),
then the parent.

Elsewhere (no balancing ``SO_REUSEPORT``) all workers share one socket, as uvicorn does.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from types import FrameType

from sqlalchemy.engine import make_url

from api.settings import Settings
from tools.errors import ConfigurationError

log = logging.getLogger(__name__)

STARTUP_FAILURE = 3  # uvicorn's exit code for a lifespan or bind that failed
MIN_UPTIME_S = 10.0
MAX_QUICK_DEATHS = 3
STOP_TIMEOUT_S = 30.0
SIGINT_GRACE_S = 2.0
BACKLOG = 2048

_spawn = multiprocessing.get_context("spawn")
multiprocessing.allow_connection_pickling()  # sockets travel to spawned workers as duplicated fds


def balances_connections() -> bool:
    """Whether the kernel spreads connections over ``SO_REUSEPORT`` sockets (Linux)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to ``(host, port)`` and listening (``ConfigurationError`` if it cannot be)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def worker_sockets(host: str, port: int, workers: int) -> list[socket.socket]:
    """One listening socket per worker (``SO_REUSEPORT``), or one shared socket where the kernel would
    not balance them. With ``port`` 0 the first socket picks a free port and the others join it."""
    if not balances_connections():
        return [listening_socket(host, port, reuse_port=False)]
    sockets = [listening_socket(host, port, reuse_port=True)]
    chosen = int(sockets[0].getsockname()[1])
    try:
        sockets += [listening_socket(host, chosen, reuse_port=True) for _ in range(workers - 1)]
    except ConfigurationError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _worker_main(settings: Settings, sock: socket.socket) -> None:  # pragma: no cover
    """A worker process: the app on ``sock`` until SIGINT/SIGTERM (runs in a spawned child)."""
    import uvicorn

    from api.main import create_app

    server = uvicorn.Server(
        uvicorn.Config(
            # X-Forwarded-* are the app's to believe or not (BILLING_FORWARDED_ALLOW_IPS, api.protection).
            create_app(settings, freeze_heap=True),
            log_config=None,
            proxy_headers=False,
        )
    )
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@dataclass
class _Worker:
    index: int
    sock: socket.socket
    process: SpawnProcess | None = None
    started_at: float = 0.0
    quick_deaths: int = 0


@dataclass
class Supervisor:
    """Starts, watches and stops N worker processes (see the module)."""

    settings: Settings
    sockets: list[socket.socket]
    workers: int
    _signal: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _pool: list[_Worker] = field(default_factory=list)

    def _start(self, worker: _Worker) -> None:
        worker.process = _spawn.Process(
            target=_worker_main,
            args=(self.settings, worker.sock),
            name=f"billing-agent-worker-{worker.index}",
        )
        worker.process.start()
        worker.started_at = time.monotonic()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signal = signum
        self._stop.set()

    def run(self) -> int:
        """Serve until SIGINT/SIGTERM (0) or until a worker cannot start (1)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        self._pool = [_Worker(i, self.sockets[i % len(self.sockets)]) for i in range(self.workers)]
        code = 0
        try:
            for worker in self._pool:
                self._start(worker)
            while not self._stop.wait(0.5):
                failed = self._replace_dead()
                if failed is not None:
                    code = 1
                    exit_code = failed.process.exitcode if failed.process else None
                    log.error(
                        "api.worker.cannot_start", extra={"worker": failed.index, "exit_code": exit_code}
                    )
                    print(f"billing-agent: worker {failed.index} could not start; stopping", file=sys.stderr)
                    break
        finally:
            self._stop_all()
        return code

    def _replace_dead(self) -> _Worker | None:
        """Start again every worker that exited; returns one that cannot be started, if any."""
        for worker in self._pool:
            process = worker.process
            if process is None or process.is_alive():
                continue
            quick = time.monotonic() - worker.started_at < MIN_UPTIME_S
            worker.quick_deaths = worker.quick_deaths + 1 if quick else 0
            if process.exitcode == STARTUP_FAILURE or worker.quick_deaths >= MAX_QUICK_DEATHS:
                return worker
            log.warning("api.worker.restarted", extra={"worker": worker.index, "exit_code": process.exitcode})
            self._start(worker)
        return None

    def _stop_all(self) -> None:
        """Graceful: each worker finishes its requests. A terminal's Ctrl+C reaches the workers too (one
        process group), so after SIGINT they get a moment to stop on their own: a second signal would
        make uvicorn skip its graceful shutdown."""
        alive = [w.process for w in self._pool if w.process is not None and w.process.is_alive()]
        if self._signal == signal.SIGINT:
            deadline = time.monotonic() + SIGINT_GRACE_S
            while any(p.is_alive() for p in alive) and time.monotonic() < deadline:
                time.sleep(0.05)
        for process in alive:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in alive:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sock in self.sockets:
            sock.close()


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run ``workers`` API processes on ``host:port`` (PostgreSQL only: see :func:`check_workers`)."""
    check_workers(settings, workers)
    sockets = worker_sockets(host, port, workers)
    queues = "a connection queue each" if len(sockets) > 1 else "one shared connection queue"
    print(
        f"billing-agent: {workers} workers on http://{host}:{sockets[0].getsockname()[1]} ({queues})",
        file=sys.stderr,
        flush=True,
    )
    return Supervisor(worker_settings(settings, workers), sockets, workers).run()


def worker_settings(settings: Settings, workers: int) -> Settings:
    """Each worker's settings: the practice's, with outreach's sending rate shared among the workers."""
    return settings.model_copy(update={"outreach_senders": workers})


def check_workers(settings: Settings, workers: int) -> None:
    """Several workers share their state through PostgreSQL (ledger, checkpoints, events, the bus): on
    SQLite each would have a bus of its own, and a staff reply on one would never reach a patient
    connected to another."""
    if workers < 1:
        raise ConfigurationError("--workers must be at least 1")
    stores = (settings.database_url, settings.effective_checkpoint_url())
    if workers > 1 and not all(make_url(url).get_backend_name() == "postgresql" for url in stores):
        raise ConfigurationError(
            "several workers need PostgreSQL for the ledger and the checkpoints "
            "(BILLING_DATABASE_URL=postgresql+psycopg://...); on SQLite one process serves the practice"
        )
