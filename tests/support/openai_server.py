"""A local OpenAI-compatible chat-completions server for tests: the real ``openai`` / ``langchain-openai``
clients talk HTTP to it, it records every request and answers from a script.

Each request takes the next ``Reply`` of the script (or, once the script is spent, asks ``fallback``, a
callable of the request body, when one is set; otherwise a 500). A reply is a plain message, a JSON
document as the message content (what structured output parses), a tool call, an HTTP error, and may be
delayed, streamed as SSE deltas with a pause between chunks, and carry token usage.

``interrupt_requests=True`` behaves as llama-cpp-python's server does by default: one generation at a
time, and a new request cuts off the stream in progress, which then ends with ``[DONE]`` after its role
chunk, with no content and no ``finish_reason``. ``max_in_flight`` records the most requests it ever served
at once.

    with ScriptedOpenAI() as server:
        server.script(Reply.json({"intent": "balance"}), Reply.error(429))
        model = ChatOpenAI(base_url=server.base_url, api_key="test", model="scripted")
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Reply:
    content: str | None = None
    tool_calls: tuple[tuple[str, str], ...] = ()  # (name, raw arguments JSON — may be malformed on purpose)
    status: int = 200
    error_body: str = ""
    delay_s: float = 0.0  # before the first byte
    chunk_delay_s: float = 0.0  # between streamed chunks
    chunk_size: int = 4  # characters per streamed content delta
    prompt_tokens: int = 11
    completion_tokens: int = 7
    finish_reason: str = "stop"

    @classmethod
    def text(cls, content: str, **kw: Any) -> Reply:
        return cls(content=content, **kw)

    @classmethod
    def json(cls, document: Any, **kw: Any) -> Reply:
        return cls(content=json.dumps(document), **kw)

    @classmethod
    def tool_call(cls, name: str, arguments: Any, **kw: Any) -> Reply:
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return cls(tool_calls=((name, raw),), finish_reason="tool_calls", **kw)

    @classmethod
    def error(cls, status: int, message: str = "scripted error", **kw: Any) -> Reply:
        body = json.dumps({"error": {"message": message, "type": "server_error", "code": status}})
        return cls(status=status, error_body=body, **kw)


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: JsonDict

    @property
    def text(self) -> str:
        """Everything the client sent, as one string (for searching the request for identifiers)."""
        return json.dumps(self.body, ensure_ascii=False)


@dataclass
class ScriptedOpenAI:
    fallback: Callable[[JsonDict], Reply] | None = None
    requests: list[Recorded] = field(default_factory=list)
    _script: deque[Reply] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    interrupt_requests: bool = False
    max_in_flight: int = 0
    interrupted: int = 0  # streams cut off by a newer request
    _in_flight: int = 0
    _generation: int = 0

    # ------------------------------------------------------------------ control

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> ScriptedOpenAI:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="scripted-openai", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ serving

    def _next(self, body: JsonDict) -> Reply:
        with self._lock:
            if self._script:
                return self._script.popleft()
        if self.fallback is not None:
            return self.fallback(body)
        return Reply.error(500, "script exhausted")

    def _record(self, path: str, headers: dict[str, str], body: JsonDict) -> None:
        with self._lock:
            self.requests.append(Recorded(path, headers, body))

    def _begin(self) -> int:
        """A request starts: the number of the generation it owns (newer requests take the slot)."""
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self._generation += 1
            return self._generation

    def _end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _superseded(self, generation: int) -> bool:
        with self._lock:
            cut = self.interrupt_requests and self._generation != generation
            self.interrupted += cut
            return cut


def _completion(body: JsonDict, reply: Reply) -> JsonDict:
    message: JsonDict = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}
            for i, (name, args) in enumerate(reply.tool_calls)
        ]
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
        "usage": _usage(reply),
    }


def _usage(reply: Reply) -> JsonDict:
    total = reply.prompt_tokens + reply.completion_tokens
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": total,
    }


def _stream_chunks(body: JsonDict, reply: Reply) -> Iterator[JsonDict]:
    base = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = body.get("model", "scripted")

    def chunk(delta: JsonDict, finish: str | None = None) -> JsonDict:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

    yield chunk({"role": "assistant", "content": ""})
    content = reply.content or ""
    for start in range(0, len(content), reply.chunk_size):
        yield chunk({"content": content[start : start + reply.chunk_size]})
    for i, (name, args) in enumerate(reply.tool_calls):
        call = {
            "index": i,
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": name, "arguments": args},
        }
        yield chunk({"tool_calls": [call]})
    yield chunk({}, reply.finish_reason)
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {**base, "choices": [], "usage": _usage(reply)}


def _handler(server: ScriptedOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            body: JsonDict = json.loads(raw or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}
            server._record(self.path, headers, body)
            if not self.path.endswith("/chat/completions"):
                self._send(404, json.dumps({"error": {"message": "not found"}}))
                return
            reply = server._next(body)
            generation = server._begin()
            try:
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.status != 200:
                    self._send(reply.status, reply.error_body)
                    return
                if body.get("stream"):
                    self._stream(body, reply, generation)
                else:
                    self._send(200, json.dumps(_completion(body, reply)))
            finally:
                server._end()

        def _send(self, status: int, payload: str) -> None:
            data = payload.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, body: JsonDict, reply: Reply, generation: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for i, chunk in enumerate(_stream_chunks(body, reply)):
                    if i and reply.chunk_delay_s:
                        time.sleep(reply.chunk_delay_s)
                    if i and server._superseded(generation):
                        break  # a newer request took the slot: the stream just ends
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the client gave up (a timeout): nothing to finish
            self.close_connection = True

    return Handler
