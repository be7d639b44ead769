"""The bench's own HTTP/1.1 client against a local server that speaks the protocol: chunked SSE read by
line, keep-alive reuse, and a connection the server closed while idle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bench.client import Connection

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return head + await reader.readexactly(length)


def _chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


SSE = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" + _chunked(
    b"event: ty",  # one event split over two chunks
    b"ping\r\ndata: {}\r\n\r\n",
    b"event: done\r\ndata: {}\r\n\r\n",
)
JSON = b'HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"id": "t"}'


Server = tuple[list[Handler], int]


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    """A server on a free port whose connections are answered by the next handler in the list."""
    handlers: list[Handler] = []

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handlers.pop(0)(reader, writer)

    srv = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    async with srv:
        yield handlers, srv.sockets[0].getsockname()[1]


async def test_an_sse_answer_reads_by_line_and_the_connection_carries_the_next_request(
    server: Server,
) -> None:
    handlers, port = server
    served: list[bytes] = []

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in (SSE, JSON):
            served.append(await _read_request(reader))
            writer.write(answer)
            await writer.drain()
        writer.close()

    handlers.append(keep_alive)
    conn = Connection("127.0.0.1", port)
    response = await conn.request("POST", "/v1/m", "tok", {"text": "hi"}, sse=True)
    assert response.status == 200
    lines = [line async for line in response.lines()]
    assert lines[:4] == ["event: typing", "data: {}", "", "event: done"]
    second = await conn.request("POST", "/v1/portal/threads", "tok")  # the same connection
    assert (second.status, await second.json()) == (201, {"id": "t"})
    assert b'{"text": "hi"}' in served[0]
    assert b"Authorization: Bearer tok" in served[1]
    conn.close()


async def test_a_kept_alive_connection_the_server_closed_while_idle_is_replaced(
    server: Server,
) -> None:
    handlers, port = server

    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(JSON)
        await writer.drain()
        writer.close()  # the keep-alive timeout: closed without a word

    handlers.extend([one_then_close, one_then_close])
    conn = Connection("127.0.0.1", port)
    assert (await (await conn.request("POST", "/v1/portal/threads", "tok")).json()) == {"id": "t"}
    await asyncio.sleep(0.05)
    again = await conn.request("POST", "/v1/portal/threads", "tok")  # sent once more, on a new connection
    assert (again.status, await again.json()) == (201, {"id": "t"})
    conn.close()


async def test_an_answer_cut_off_midway_is_an_error_not_a_second_request(
    server: Server,
) -> None:
    handlers, port = server
    requests: list[bytes] = []

    async def cut_off(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await _read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-en")
        await writer.drain()
        writer.close()

    handlers.extend([cut_off, cut_off])
    conn = Connection("127.0.0.1", port)
    with pytest.raises(asyncio.IncompleteReadError):
        await conn.request("POST", "/v1/m", "tok", {"text": "hi"}, sse=True)
    assert len(requests) == 1  # the service may have acted on it: never sent twice
