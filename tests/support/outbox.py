"""Waiting for the transcript outbox: serve logs a turn's lines on the platform in the background."""

from __future__ import annotations

import asyncio

from tools.outbox import CommunicationOutbox


async def outbox_drained(outbox: CommunicationOutbox | None, timeout_s: float = 10.0) -> None:
    """Return once every line waiting in ``outbox`` is on the platform (the background drain sent it);
    TimeoutError if the drain does not get there in ``timeout_s``."""
    assert outbox is not None, "serve builds the agent with an outbox"
    async with asyncio.timeout(timeout_s):
        # Polled: the lines leave a table, which the drain (a task, or another process) writes.
        while await outbox.count():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
