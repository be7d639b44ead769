"""Time to first SSE event and to ``done`` for a balance question, through real HTTP.

``python -m bench.measure_http [--turns 200] [--database-url URL]`` seeds the demo practice into a fresh
database (a temporary SQLite file by default), serves the app with uvicorn on a free local port, and
asks "what is my balance?" ``--turns`` times (sequentially, rotating over portal patients, one thread
each), reading the SSE stream as it arrives. Prints p50/p95/max in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr

from api.main import create_app
from api.security import issue_portal_token
from api.settings import Settings
from migrations import migrate_service
from tools.db import create_engine
from tools.demo import generate_practice
from tools.platforms.ledger import LedgerPlatform, migrate

QUESTION = "what is my balance?"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(url: str, checkpoint_url: str, turns: int) -> tuple[list[float], list[float]]:
    await migrate(url)
    await migrate_service(url)
    data = generate_practice(patients=40, seed=7)
    engine = create_engine(url)
    try:
        await LedgerPlatform(engine).bulk_load(data)
    finally:
        await engine.dispose()
    settings = Settings(
        database_url=url,
        checkpoint_url=checkpoint_url,
        environment="test",
        portal_token_secret=SecretStr("measure-http-secret-0123456789abcdef01"),
        rate_limit_ip_per_minute=1e9,
        rate_limit_ip_burst=1_000_000,
        rate_limit_thread_per_minute=1e9,
        rate_limit_thread_burst=1_000_000,
        rate_limit_patient_per_minute=1e9,
        rate_limit_patient_burst=1_000_000,
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, freeze_heap=True),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            raise RuntimeError("the server did not start")
        await asyncio.sleep(0.02)
    with_statements = {s.patient_id for s in data.statements}
    patients = [p for p in data.patients if p.portal_user_id and p.id in with_statements][:20]
    first: list[float] = []
    done: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            threads: list[tuple[str, dict[str, str]]] = []
            for patient in patients:
                assert patient.portal_user_id is not None
                auth = {"Authorization": f"Bearer {issue_portal_token(settings, patient.portal_user_id)}"}
                created = await http.post("/v1/portal/threads", headers=auth, json={})
                threads.append((created.json()["id"], auth))
            for i in range(turns):
                thread, auth = threads[i % len(threads)]
                started = time.perf_counter()
                got_first: float | None = None
                async with http.stream(
                    "POST", f"/v1/portal/threads/{thread}/messages", headers=auth, json={"text": QUESTION}
                ) as response:
                    response.raise_for_status()
                    buffer = ""
                    async for chunk in response.aiter_text():
                        if got_first is None and "event:" in chunk:
                            got_first = time.perf_counter() - started
                        buffer += chunk
                        if "event: done" in buffer:
                            break
                if got_first is None or "event: done" not in buffer:
                    raise RuntimeError("a turn ended without its done event")
                first.append(got_first * 1000)
                done.append((time.perf_counter() - started) * 1000)
    finally:
        server.should_exit = True
        await serving
    return first, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.measure_http", description=__doc__)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--database-url", help="an EMPTY database (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'measure.db'}"
        checkpoint = f"sqlite:///{Path(tmp) / 'checkpoints.db'}" if url.startswith("sqlite") else url
        first, done = asyncio.run(_measure(url, checkpoint, args.turns))
    print(f"{len(done)} balance questions over HTTP (uvicorn, SSE), {url.split(':')[0]}")
    for name, values in (("first SSE event", first), ("done", done)):
        print(
            f"  {name:<16} p50 {statistics.median(values):7.1f} ms   p95 {_pct(values, 0.95):7.1f} ms"
            f"   max {max(values):7.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
