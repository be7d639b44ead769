"""The garbage collector of a long-running process.

A service process imports LangGraph, LangChain, pydantic, SQLAlchemy and FastAPI, compiles the graph and
loads the code book, policy and KB index once: a few hundred thousand objects that live as long as the
process. CPython's oldest-generation collection walks every tracked object each time it runs, so on the
bench machine each one paused the event loop for 50–115 ms, several times a minute: the whole tail of the
HTTP first event. ``frozen_heap`` collects once, then moves
everything alive into the permanent generation (``gc.freeze``), which later collections skip: they walk
only what was allocated since and is still alive. On leaving, the permanent generation is handed back to
the collector (``gc.unfreeze``), so a command run inside a longer process (a test) leaks nothing.

Entered once by whoever owns the process, after start-up and before the first request (the service's
lifespan with ``create_app(..., freeze_heap=True)``, the bench, ``bench.measure``), never per request:
each entry costs a full collection.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[int]:
    """Collect, then freeze every object alive until the block ends; yields how many are frozen."""
    gc.collect()
    gc.freeze()
    try:
        yield gc.get_freeze_count()
    finally:
        gc.unfreeze()
