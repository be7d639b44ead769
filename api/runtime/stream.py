"""SSE streams over the ``EventStore`` + ``EventBus`` (sse-starlette ``ServerSentEvent``s).

The pattern that makes resumption exact: subscribe first, then read the store after the cursor, then on
every hint of a newer event (or every ``poll`` seconds, as a safety net) read again. Each SSE ``id`` is
the event's store id, so ``Last-Event-ID`` resumes right after the last event the client saw.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence

from sse_starlette import ServerSentEvent

from api.runtime.bus import EventBus, Subscription
from api.runtime.events import EventStore, StoredEvent
from api.runtime.metrics import Metrics

POLL_SECONDS = 5.0
RETRY_MS = 2000
BATCH = 500


def to_sse(event: StoredEvent) -> ServerSentEvent:
    data = {**event.data, "turn_id": event.turn_id}
    return ServerSentEvent(
        data=json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        event=event.type,
        id=str(event.id),
        retry=RETRY_MS,
    )


async def follow(
    events: EventStore,
    subscription: Subscription,
    thread_id: str,
    cursor: int,
    *,
    metrics: Metrics | None = None,
    keep: Callable[[StoredEvent], bool] = lambda _e: True,
    until: Callable[[StoredEvent], bool] = lambda _e: False,
    poll: float = POLL_SECONDS,
    first: Sequence[StoredEvent] = (),
    subscribed_before: bool = False,
) -> AsyncIterator[ServerSentEvent]:
    """Events of ``thread_id`` after ``cursor`` that ``keep`` accepts, live, until one satisfies ``until``
    (forever when none does). Closes ``subscription`` when done or when the client goes away.

    ``first``: events the caller already holds (ids after ``cursor``, oldest first, e.g. the ``typing``
    event it just stored), sent without reading the store; the cursor moves past them.

    ``subscribed_before``: ``subscription`` was taken before any event after ``cursor`` was stored, so
    each of them comes with a hint and the store is first read on one (a read straight away would
    find nothing: one wasted read per posted message)."""
    if metrics is not None:
        metrics.sse_clients.inc()
    try:
        for event in first:
            if event.id <= cursor:
                continue
            cursor = event.id
            if keep(event):
                yield to_sse(event)
                if until(event):
                    return
        if subscribed_before:
            await subscription.news(cursor, poll)
        while True:
            while True:
                batch = await events.after(thread_id, cursor, BATCH)
                for event in batch:
                    cursor = event.id
                    if keep(event):
                        yield to_sse(event)
                        if until(event):
                            return
                if len(batch) < BATCH:
                    break
            await subscription.news(cursor, poll)
    finally:
        subscription.close()
        if metrics is not None:
            metrics.sse_clients.dec()


def subscribe(bus: EventBus, thread_id: str) -> Subscription:
    return bus.subscribe(thread_id)
