"""The service on a real uvicorn (127.0.0.1), killed with SIGKILL at a chosen point of a turn; for the
crash sweep (``test_crash_sweep.py``). Nothing is mocked: the only change is the kill.

    python -m tests.security.crash_server PORT CRASH_AT

The sweep starts each service with ``start``: a process forked from a multiprocessing fork server that
has imported the service's modules and loaded the sentence encoder once (``crash_preload``), so a start
costs the app's lifespan, not the interpreter's imports and the encoder's load (about 2.6 s of CPU, twice
per crash point). Each start is still a process of its own, killed for real and started again on the
same database.

Settings come from the environment (``BILLING_*``). ``CRASH_AT``:

* ``none``: serve normally (the restart after a crash);
* ``queued``: the message is stored, its turn never starts;
* ``enter:<node>`` / ``exit:<node>``: entering a graph node, or right after it returned (before its
  checkpoint: its side effects are done, the graph does not know it);
* ``after-reply``: the reply's ``message`` event is stored (and streamed);
* ``before-done``: the turn is recorded, its ``done`` and the message's ``done`` status are not.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvicorn

ROOT = Path(__file__).resolve().parents[2]


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _wrap_node(name: str, fn: Callable[..., Any], when: str) -> Callable[..., Any]:
    async def node(state: Any, runtime: Any) -> Any:
        if when == "enter":
            _die()
        out = await fn(state, runtime)
        if when == "exit":
            _die()
        return out

    node.__name__ = name
    return node


def arm(crash_at: str) -> None:
    import agent.graph
    from api.runtime.runner import TurnRunner
    from api.runtime.threads import Threads

    if crash_at == "none":
        return
    if crash_at == "queued":
        TurnRunner.kick = lambda self, thread_id: _die()  # type: ignore[method-assign]  # the crash itself
        return
    if crash_at.startswith(("enter:", "exit:")):
        when, node = crash_at.split(":", 1)
        setattr(agent.graph, node, _wrap_node(node, getattr(agent.graph, node), when))
        agent.graph.builder = agent.graph._build()
        return
    if crash_at == "after-reply":
        emit = TurnRunner.emit

        async def emit_then_die(
            self: TurnRunner, thread_id: str, event: Any, turn_id: str | None = None
        ) -> Any:
            stored = await emit(self, thread_id, event, turn_id)
            if event.get("type") == "message":
                _die()
            return stored

        TurnRunner.emit = emit_then_die  # type: ignore[method-assign]  # the crash itself
        return
    if crash_at == "before-done":
        Threads.finish_inbound = lambda self, *a, **k: _die()  # type: ignore[method-assign,assignment]  # the crash
        return
    raise SystemExit(f"unknown crash point {crash_at!r}")


def run(port: int, crash_at: str) -> None:
    arm(crash_at)
    from api.main import create_app

    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_config=None, proxy_headers=False)


def main() -> None:
    run(int(sys.argv[1]), sys.argv[2])


def _child(port: int, crash_at: str, env: dict[str, str], log_path: str) -> None:
    """A started service: the given environment only, its output in ``log_path``."""
    os.chdir(ROOT)
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    run(port, crash_at)


def start(port: int, crash_at: str, env: dict[str, str], log_path: Path) -> BaseProcess:
    """Start the service in a process of its own (see the module's docstring); ``exitcode`` is ``-9``
    once it was killed at its crash point."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.security.crash_preload"])
    proc = ctx.Process(target=_child, args=(port, crash_at, env, str(log_path)), daemon=True)
    proc.start()
    return proc


if __name__ == "__main__":
    main()
