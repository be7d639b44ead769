"""The scripted OpenAI-compatible server, driven through the real ``langchain_openai.ChatOpenAI``."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, ValidationError

from tests.support.openai_server import Reply, ScriptedOpenAI


@pytest.fixture
def server() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI() as s:
        yield s


def model(server: ScriptedOpenAI, **kw: object) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=server.base_url, api_key="test-key", model="scripted", max_retries=0, timeout=5, **kw
    )


async def test_plain_reply_with_usage_and_recorded_request(server: ScriptedOpenAI) -> None:
    server.script(Reply.text("Hello there", prompt_tokens=21, completion_tokens=3))
    reply = await model(server, temperature=0).ainvoke([HumanMessage("hi")])
    assert isinstance(reply, AIMessage)
    assert reply.content == "Hello there"
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] == 21
    assert reply.usage_metadata["output_tokens"] == 3
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["messages"] == [{"role": "user", "content": "hi"}]
    assert request.body["model"] == "scripted"
    assert "authorization" not in request.headers  # the key is never recorded


async def test_streamed_deltas_arrive_before_the_reply_finishes(server: ScriptedOpenAI) -> None:
    server.script(Reply.text("one two three four five", chunk_size=4, chunk_delay_s=0.1))
    started = time.monotonic()
    arrivals: list[tuple[float, str]] = []
    async for chunk in model(server, streaming=True, stream_usage=True).astream([HumanMessage("count")]):
        if chunk.content:
            arrivals.append((time.monotonic() - started, str(chunk.content)))
    assert "".join(text for _, text in arrivals) == "one two three four five"
    assert len(arrivals) == 6
    assert arrivals[0][0] < arrivals[-1][0] - 0.3  # the first token came well before the last
    assert server.requests[0].body["stream"] is True


async def test_stream_usage_is_reported(server: ScriptedOpenAI) -> None:
    server.script(Reply.text("ok", prompt_tokens=40, completion_tokens=2))
    total = None
    async for chunk in model(server, stream_usage=True).astream([HumanMessage("x")]):
        total = chunk if total is None else total + chunk
    assert total is not None
    assert total.usage_metadata is not None
    assert total.usage_metadata["total_tokens"] == 42


class Weather(BaseModel):
    city: str
    degrees: int


async def test_structured_output_and_malformed_json(server: ScriptedOpenAI) -> None:
    server.script(Reply.json({"city": "Paris", "degrees": 21}), Reply.text('{"city": "Paris", "degr'))
    structured = model(server).with_structured_output(Weather, method="json_schema", include_raw=True)
    good = await structured.ainvoke("weather?")
    assert isinstance(good, dict)
    assert good["parsed"] == Weather(city="Paris", degrees=21)
    with pytest.raises(ValidationError, match="Invalid JSON"):  # the openai client parses it
        await structured.ainvoke("weather?")
    assert server.requests[0].body["response_format"]["type"] == "json_schema"


async def test_tool_calls_including_malformed_arguments(server: ScriptedOpenAI) -> None:
    server.script(
        Reply.tool_call("Weather", {"city": "Oslo", "degrees": 3}), Reply.tool_call("Weather", "{oops")
    )
    bound = model(server).bind_tools([Weather])
    first = await bound.ainvoke("weather?")
    assert isinstance(first, AIMessage)
    assert first.tool_calls[0]["args"] == {"city": "Oslo", "degrees": 3}
    second = await bound.ainvoke("weather?")
    assert isinstance(second, AIMessage)
    assert second.tool_calls == []
    assert second.invalid_tool_calls[0]["args"] == "{oops"
    assert server.requests[0].body["tools"][0]["function"]["name"] == "Weather"


@pytest.mark.parametrize(
    ("status", "error"), [(429, openai.RateLimitError), (500, openai.InternalServerError)]
)
async def test_errors_surface_as_the_clients_typed_errors(
    server: ScriptedOpenAI, status: int, error: type[Exception]
) -> None:
    server.script(Reply.error(status))
    with pytest.raises(error):
        await model(server).ainvoke("x")


async def test_a_slow_reply_times_out(server: ScriptedOpenAI) -> None:
    server.script(Reply.text("late", delay_s=1.0))
    with pytest.raises(openai.APITimeoutError):
        await ChatOpenAI(
            base_url=server.base_url, api_key="k", model="m", max_retries=0, timeout=0.2
        ).ainvoke("x")


async def test_an_exhausted_script_answers_500_unless_a_fallback_is_set(server: ScriptedOpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        await model(server).ainvoke("x")
    server.fallback = lambda body: Reply.text(f"echo {len(body['messages'])}")
    reply = await model(server).ainvoke("x")
    assert reply.content == "echo 1"
