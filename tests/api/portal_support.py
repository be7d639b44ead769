"""Helpers for the portal/runtime tests: a seeded app, a real uvicorn server in-process, SSE parsing."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from api.deps import Services
from tools.db import create_engine
from tools.demo import generate_practice
from tools.platforms.ledger import LedgerPlatform, PracticeData


@dataclass(frozen=True)
class Sse:
    id: int
    event: str
    data: dict[str, Any]


def parse_sse(text: str) -> list[Sse]:
    """The events of an SSE body (comments and pings skipped)."""
    out: list[Sse] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            fields[key] = value[1:] if value.startswith(" ") else value
        if "event" in fields and "id" in fields:
            out.append(Sse(int(fields["id"]), fields["event"], json.loads(fields.get("data", "{}"))))
    return out


async def read_sse(response: httpx.Response, *, until: str | None = "done") -> AsyncIterator[Sse]:
    """Events of a streamed response as they arrive; stops after an event of type ``until``."""
    buffer = ""
    async for chunk in response.aiter_text():
        buffer += chunk.replace("\r\n", "\n")
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            for event in parse_sse(block + "\n\n"):
                yield event
                if until is not None and event.event == until:
                    return


async def seed(url: str, patients: int = 20, seed_: int = 3) -> PracticeData:
    data = generate_practice(patients=patients, seed=seed_)
    engine = create_engine(url)
    try:
        await LedgerPlatform(engine).bulk_load(data)
    finally:
        await engine.dispose()
    return data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def live_server(app: FastAPI) -> AsyncIterator[str]:
    """The app behind a real uvicorn on a free port (lifespan included); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, lifespan="on", timeout_graceful_shutdown=5
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(600):
            if server.started or task.done():
                break
            await asyncio.sleep(0.02)
        if not server.started:
            await task  # surfaces the start-up error
            raise RuntimeError("uvicorn did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services
