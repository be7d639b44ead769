"""A local HTTP server that misbehaves on purpose: every answer a given status (with optional headers),
or no answer at all (a hang), so outage handling is tested over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class BrokenServer:
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"error": "down"}'
    hang: bool = False
    requests: int = 0
    url: str = ""
    script: list[int] = field(default_factory=list)  # statuses to answer first, then ``status``

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            if length:
                await reader.readexactly(length)
            self.requests += 1
            if self.hang:
                await asyncio.sleep(3600)
            status = self.script.pop(0) if self.script else self.status
            extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                f"content-length: {len(self.body)}\r\n{extra}connection: close\r\n\r\n".encode()
                + self.body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def broken_server(**kwargs: object) -> AsyncIterator[BrokenServer]:
    state = BrokenServer(**kwargs)  # type: ignore[arg-type]  # the dataclass's own fields
    server = await asyncio.start_server(state._handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}"
    async with server:
        try:
            yield state
        finally:
            server.close()
