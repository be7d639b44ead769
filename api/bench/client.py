"""The HTTP side's load generator, run as its own process so its work never shares a CPU budget or an
event loop with the service or the bench.

    python -m api.bench.client --base-url URL --concurrency C --portal-ids FILE

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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import httpx

from api.bench.mix import CYCLE, Conversation
from api.security import issue_portal_token
from api.settings import Settings

TURN_TIMEOUT_S = 120.0  # a turn that has not ended by then is an error, never a hang


@dataclass
class Slot:
    """One concurrent conversation: which one, its thread and how far it got."""

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
    def __init__(
        self, client: httpx.AsyncClient, settings: Settings, portal_ids: list[str], concurrency: int
    ):
        self.client = client
        self.settings = settings
        self.portal_ids = portal_ids
        self.slots = [Slot() for _ in range(concurrency)]
        self.sequence = count()
        self.random = random.Random(20261123)  # the same arrival pattern in every run

    async def _start(self, slot: Slot, result: Round) -> None:
        n = next(self.sequence)
        slot.conversation = CYCLE[n % len(CYCLE)]
        slot.position = 0
        slot.token = issue_portal_token(self.settings, self.portal_ids[n % len(self.portal_ids)])
        response = await self.client.post(
            "/v1/portal/threads", headers={"Authorization": f"Bearer {slot.token}"}
        )
        response.raise_for_status()
        slot.thread_id = str(response.json()["id"])
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
        async with self.client.stream(
            "POST",
            f"/v1/portal/threads/{slot.thread_id}/messages",
            json={"text": text},
            headers={"Authorization": f"Bearer {slot.token}", "Accept": "text/event-stream"},
        ) as response:
            if response.status_code != 200:
                await response.aread()
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            async for line in response.aiter_lines():
                if not line.startswith("event:"):
                    continue
                if first is None:
                    first = (time.perf_counter() - started) * 1000
                kind = line.partition(":")[2].strip()
                if kind == "error":
                    raise RuntimeError("the turn ended with an error event")
                if kind == "done":
                    result.first_ms.append(first)
                    result.done_ms.append((time.perf_counter() - started) * 1000)
                    return
        raise RuntimeError("the stream ended without a done event")

    async def _guarded(self, slot: Slot, result: Round, started: float | None = None) -> None:
        try:
            await self._turn(slot, result, started)
        except (httpx.HTTPError, RuntimeError, KeyError, ValueError, TimeoutError) as exc:
            result.errors.append(f"{type(exc).__name__}: {exc}"[:300])
            slot.conversation = None  # start a fresh conversation after a failure

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
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
    timeout = httpx.Timeout(120.0, connect=10.0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        load = Load(client, Settings(), portal_ids, concurrency)
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
