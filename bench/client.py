"""The HTTP side's load generator, run as its own process so its work never shares a CPU budget or an
event loop with the service or the bench.

    python -m bench.client --base-url URL --concurrency C --portal-ids FILE

It reads one JSON command per line on stdin — ``{"turns": N}`` runs N more turns of the mix over C
concurrent conversations (each a portal thread of its own patient, carried over between rounds);
``{"turns": N, "rate": R}`` offers the N turns *paced*, as an open-loop Poisson process of R turns a
second over the same C conversations; ``{"quit": true}`` ends — and answers each with one JSON line: the
time to the first SSE event and to ``done`` of every turn (ms), the errors, the threads it created and
the round's wall time.

Closed loop (no ``rate``): each conversation sends its next message as soon as its last turn is done.
That measures capacity, but when a round starts all C conversations post at the same instant (a burst),
and the time to the first event then mostly measures the queue of that burst. Paced: patients arrive at
random, independent moments (what a portal sees), each turn on a conversation that is not already waiting
for a reply. Its times are taken from the *scheduled* arrival, so a turn that had to wait for a free
conversation counts that wait (no coordinated omission).

It speaks HTTP/1.1 itself (:class:`Connection`: one keep-alive connection per conversation, a request
written in one send, a chunked SSE body read line by line), as a browser's native ``EventSource`` would,
so the figures are the service's: httpx's own layers (request building, h11, anyio) add about 2 ms to
the first event of an idle server's answer, as much as the service itself spends on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from api.security import issue_portal_token
from api.settings import Settings
from bench.mix import CYCLE, Conversation

TURN_TIMEOUT_S = 120.0  # a turn that has not ended by then is an error, never a hang
CONNECT_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 5.0


class ProtocolError(Exception):
    """The service's answer was not the HTTP the load generator expects."""


class Connection:
    """One keep-alive HTTP/1.1 connection to the service (opened on first use, again after a close)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._streams is None or self._streams[1].is_closing():
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                self._streams = await asyncio.open_connection(self.host, self.port)
        return self._streams

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    async def request(
        self, method: str, path: str, token: str, body: dict[str, Any] | None = None, *, sse: bool = False
    ) -> Response:
        """Send a request; the answer's status and headers are read, its body is left to
        :meth:`Response.json` or :meth:`Response.lines`.

        A kept-alive connection the service closed while it was idle (its keep-alive timeout, e.g.
        between two rounds) fails before a byte of the answer: the request was never read, so it is
        sent once more on a new connection, as HTTP clients do."""
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n" + ("Accept: text/event-stream\r\n" if sse else "") + "\r\n"
        ).encode("ascii") + payload
        reused = self._streams is not None and not self._streams[1].is_closing()
        try:
            return await self._send(head)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
        return await self._send(head)

    async def _send(self, request: bytes) -> Response:
        reader, writer = await self._open()
        writer.write(request)
        try:
            await writer.drain()
            status_line = await reader.readuntil(b"\r\n")
            parts = status_line.split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
                raise ProtocolError(f"not an HTTP status line: {status_line[:80]!r}")
            headers: dict[str, str] = {}
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
        except BaseException:
            self.close()
            raise
        return Response(self, int(parts[1]), headers, reader)


class Response:
    def __init__(
        self, connection: Connection, status: int, headers: dict[str, str], reader: asyncio.StreamReader
    ) -> None:
        self.connection, self.status, self.headers, self._reader = connection, status, headers, reader
        self._body = self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        reader = self._reader
        try:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    if size == 0:
                        await reader.readuntil(b"\r\n")  # no trailers are sent
                        break
                    chunk = await reader.readexactly(size + 2)
                    yield chunk[:-2]
            else:
                yield await reader.readexactly(int(self.headers.get("content-length", "0")))
        except BaseException:
            self.connection.close()  # a body left half read: the connection cannot be reused
            raise
        if self.headers.get("connection", "").lower() == "close":
            self.connection.close()

    async def body(self) -> bytes:
        return b"".join([chunk async for chunk in self._body])

    async def json(self) -> Any:
        return json.loads(await self.body())

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines as they arrive (a line split over two chunks comes out whole)."""
        pending = b""
        async for chunk in self._body:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r").decode()
        if pending:
            yield pending.decode()

    async def finish(self, timeout_s: float) -> None:
        """Read the rest of the body so the connection can carry the next request (closed if the
        rest does not come in ``timeout_s``)."""
        try:
            async with asyncio.timeout(timeout_s):
                async for _ in self._body:
                    pass
        except TimeoutError:
            self.connection.close()


# What a failed turn can raise: counted as an error of the round, and the conversation starts over.
TURN_FAILURES = (
    OSError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ProtocolError,
    RuntimeError,
    KeyError,
    ValueError,
    TimeoutError,
)


@dataclass
class Slot:
    """One concurrent conversation: which one, its thread, how far it got, and its connection."""

    connection: Connection
    conversation: Conversation | None = None
    thread_id: str | None = None
    token: str = ""
    position: int = 0


@dataclass
class Round:
    first_ms: list[float] = field(default_factory=list)
    done_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)


class Load:
    def __init__(self, host: str, port: int, settings: Settings, portal_ids: list[str], concurrency: int):
        self.settings = settings
        self.portal_ids = portal_ids
        self.slots = [Slot(Connection(host, port)) for _ in range(concurrency)]
        self.sequence = count()
        self.random = random.Random(20261123)  # the same arrival pattern in every run

    async def _start(self, slot: Slot, result: Round) -> None:
        n = next(self.sequence)
        slot.conversation = CYCLE[n % len(CYCLE)]
        slot.position = 0
        slot.token = issue_portal_token(self.settings, self.portal_ids[n % len(self.portal_ids)])
        response = await slot.connection.request("POST", "/v1/portal/threads", slot.token)
        answer = await response.json()
        if response.status != 201 and response.status != 200:
            raise RuntimeError(f"HTTP {response.status} creating a thread: {str(answer)[:200]}")
        slot.thread_id = str(answer["id"])
        result.threads.append(slot.thread_id)

    async def _turn(self, slot: Slot, result: Round, started: float | None = None) -> None:
        if slot.conversation is None or slot.position >= len(slot.conversation.messages):
            await self._start(slot, result)
        assert slot.conversation is not None
        text = slot.conversation.messages[slot.position]
        slot.position += 1
        started = time.perf_counter() if started is None else started
        async with asyncio.timeout(TURN_TIMEOUT_S):  # SSE pings keep the read alive: bound the turn
            await self._stream(slot, text, started, result)

    async def _stream(self, slot: Slot, text: str, started: float, result: Round) -> None:
        first: float | None = None
        response = await slot.connection.request(
            "POST", f"/v1/portal/threads/{slot.thread_id}/messages", slot.token, {"text": text}, sse=True
        )
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {(await response.body())[:200]!r}")
        async for line in response.lines():
            if not line.startswith("event:"):
                continue
            if first is None:
                first = (time.perf_counter() - started) * 1000
            kind = line.partition(":")[2].strip()
            if kind == "error":
                slot.connection.close()
                raise RuntimeError("the turn ended with an error event")
            if kind == "done":
                result.first_ms.append(first)
                result.done_ms.append((time.perf_counter() - started) * 1000)
                await response.finish(DRAIN_TIMEOUT_S)  # the stream ends right after done
                return
        raise RuntimeError("the stream ended without a done event")

    async def _guarded(self, slot: Slot, result: Round, started: float | None = None) -> None:
        try:
            await self._turn(slot, result, started)
        except TURN_FAILURES as exc:
            result.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            slot.conversation = None  # start a fresh conversation after a failure
            slot.connection.close()  # and a fresh connection: this one may be mid-answer

    async def run(self, turns: int, rate: float | None = None) -> dict[str, Any]:
        result = Round()
        remaining = turns

        async def worker(slot: Slot) -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await self._guarded(slot, result)

        started = time.perf_counter()
        if rate is None:
            await asyncio.gather(*(worker(slot) for slot in self.slots))
        else:
            await self._paced(turns, rate, result)
        return {
            "first_ms": result.first_ms,
            "done_ms": result.done_ms,
            "errors": result.errors,
            "threads": result.threads,
            "wall_s": time.perf_counter() - started,
        }

    async def _paced(self, turns: int, rate: float, result: Round) -> None:
        free: asyncio.Queue[Slot] = asyncio.Queue()
        for slot in self.slots:
            free.put_nowait(slot)
        tasks: list[asyncio.Task[None]] = []

        async def one(slot: Slot, scheduled: float) -> None:
            try:
                await self._guarded(slot, result, scheduled)
            finally:
                free.put_nowait(slot)

        due = time.perf_counter()
        for _ in range(turns):
            due += self.random.expovariate(rate)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            slot = await free.get()  # all C conversations waiting for a reply: the wait is counted
            tasks.append(asyncio.create_task(one(slot, due)))
        await asyncio.gather(*tasks)


async def serve_commands(base_url: str, concurrency: int, portal_ids: list[str]) -> None:
    url = urlsplit(base_url)
    if url.scheme != "http" or url.hostname is None or url.port is None:
        raise SystemExit(f"--base-url must be http://host:port, not {base_url!r}")
    load = Load(url.hostname, url.port, Settings(), portal_ids, concurrency)
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                return
            command = json.loads(line)
            if command.get("quit"):
                return
            rate = command.get("rate")
            answer = await load.run(int(command["turns"]), float(rate) if rate else None)
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        for slot in load.slots:
            slot.connection.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--portal-ids", type=Path, required=True, help="JSON list of portal user ids")
    args = parser.parse_args(argv)
    portal_ids = [str(p) for p in json.loads(args.portal_ids.read_text())]
    asyncio.run(serve_commands(args.base_url, args.concurrency, portal_ids))


if __name__ == "__main__":
    main()
