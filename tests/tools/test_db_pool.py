"""The PostgreSQL pool: a connection the server dropped while it sat idle is replaced before a request
meets it, without a ping before every transaction."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tools.db import PING_IDLE_AFTER_S, create_engine


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_dropped_while_idle_in_the_pool_is_replaced_before_use(database_url: str) -> None:
    """A restart, a failover or an idle-session timeout closes pooled connections on the server's side.
    The next transaction after the pool sat idle gets a live connection and succeeds: the dead one is
    found on checkout (it had been idle for longer than the ping threshold) and replaced."""
    if database_url.startswith("sqlite"):
        pytest.skip("a SQLite file has no server to drop a connection")
    engine = create_engine(database_url)
    try:
        dropped = await _backend_pid(engine)
        assert await _backend_pid(engine) == dropped  # one pooled connection, reused
        conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo.split("?")[0], autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (dropped,)).fetchone() == (True,)
        await asyncio.sleep(PING_IDLE_AFTER_S + 0.3)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        assert await _backend_pid(engine) != dropped
    finally:
        await engine.dispose()
