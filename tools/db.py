"""Database plumbing shared by every SQL-backed adapter: one declarative ``Base``,
URL normalisation, async engine creation and the one way a store writes (:func:`write_transaction`).

SQLite (file under ``var/`` by default) and PostgreSQL (by URL) are both first
class. URLs may be given in their plain form (``sqlite:///path``,
``postgresql://user@host/db``); they are normalised to the async drivers
(``aiosqlite``, ``psycopg``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Dialect, Engine, MetaData, TypeDecorator, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import PoolResetState, StaticPool

from tools.errors import ConfigurationError, PlatformUnavailable

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/billing.db"
# How long a SQLite writer waits for another process's write lock (and for its turn among this
# process's writers) before it gives up with ``DatabaseBusy``.
SQLITE_BUSY_TIMEOUT_S = 30.0

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DatabaseBusy(PlatformUnavailable):
    """A SQLite writer waited its whole busy timeout for another writer's lock (another process
    holding the file): nothing was written; the caller may retry."""

    code = "database_busy"


def normalize_url(url: str) -> str:
    """Map plain SQLite/PostgreSQL URLs to their async drivers; refuse anything else."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ConfigurationError(f"unsupported database backend {backend!r}: use sqlite or postgresql")


def create_engine(
    url: str, *, echo: bool = False, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S
) -> AsyncEngine:
    """An async engine with sane pooling and, for SQLite, WAL + busy timeout + FKs on every connection.

    Durability trade-off, chosen deliberately: on a SQLite file ``synchronous=NORMAL`` in WAL mode
    fsyncs at WAL checkpoints, not at every commit; the database stays consistent and every commit
    survives a process crash, only the last commits before a power loss can be lost."""
    url = normalize_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in url
        if in_memory:
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": busy_timeout_s}
        # The pool ends a returned connection's open transaction itself (``_end_open_transaction``), not
        # with an unconditional rollback on every check-in.
        kwargs["pool_reset_on_return"] = None
        engine = create_async_engine(url, **kwargs)
        _write_timeouts[engine.sync_engine] = busy_timeout_s

        @event.listens_for(engine.sync_engine, "reset")
        def _end_open_transaction(dbapi_conn: Any, _record: Any, state: PoolResetState) -> None:
            """Roll back a returned connection only when it holds a transaction. The driver opens one
            only for a write (``write_transaction``'s ``BEGIN IMMEDIATE``, which ends in a commit or a
            rollback before the connection comes back); a read runs in autocommit and leaves none. The
            pool's default rollback on every check-in was a trip to the driver's thread for nothing
            after each read, several a turn. ``in_transaction`` is aiosqlite's own flag (SQLite's
            autocommit state), read without running anything on the database."""
            if state.terminate_only or not state.asyncio_safe:
                return
            if dbapi_conn.driver_connection.in_transaction:
                dbapi_conn.rollback()

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.update(pool_size=10, max_overflow=20)
    engine = create_async_engine(url, **kwargs)
    ping_when_idle(engine, PING_IDLE_AFTER_S)
    return engine


# --------------------------------------------------------------------------- writes

# SQLite engines' busy timeouts, and one lock per engine and event loop that orders this process's
# writers of a SQLite database (see ``write_transaction``).
_write_timeouts: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()
_write_locks: weakref.WeakKeyDictionary[
    Engine, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
] = weakref.WeakKeyDictionary()


def _write_lock(engine: AsyncEngine) -> asyncio.Lock:
    per_loop = _write_locks.setdefault(engine.sync_engine, weakref.WeakKeyDictionary())
    return per_loop.setdefault(asyncio.get_running_loop(), asyncio.Lock())


def _is_busy(exc: OperationalError | sqlite3.OperationalError) -> bool:
    orig = exc.orig if isinstance(exc, OperationalError) else exc
    if not isinstance(orig, sqlite3.OperationalError):
        return False
    code = getattr(orig, "sqlite_errorcode", None)
    if code is None:
        return "locked" in str(orig) or "busy" in str(orig)
    return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One write transaction on ``engine``: committed when the block ends, rolled back if it raises
    (or is cancelled). Every store writes through this, on every backend.

    On PostgreSQL it is ``engine.begin()``: row locks and advisory locks order writers. On SQLite the
    transaction starts with ``BEGIN IMMEDIATE``, so it holds the database's write lock from its first
    statement: a unit that reads and then writes (the audit chain's end, a patient's open plans) can
    never lose its snapshot to another writer half-way (a deferred transaction would fail with
    ``SQLITE_BUSY`` at its first write, without waiting). Writers of this process queue for the lock on
    the event loop, first come first served, each woken the moment the one before commits; SQLite's
    busy handler, which sleeps with a growing back-off on aiosqlite's thread, is then only ever met
    when another process holds the file. Either wait is bounded by the engine's busy timeout and ends
    in :class:`DatabaseBusy`; the event loop keeps running meanwhile."""
    if engine.dialect.name != "sqlite":
        async with engine.begin() as conn:
            yield conn
        return
    timeout_s = _write_timeouts.get(engine.sync_engine, SQLITE_BUSY_TIMEOUT_S)
    lock = _write_lock(engine)
    try:
        async with asyncio.timeout(timeout_s):
            await lock.acquire()
    except TimeoutError:
        raise DatabaseBusy(f"no write turn on the database within {timeout_s:g} s") from None
    try:
        async with engine.begin() as conn:
            # Straight to the driver: one trip to aiosqlite's thread (a SQLAlchemy statement takes three:
            # open a cursor, execute, close it); SQLAlchemy commits or rolls back what it began.
            driver = cast(aiosqlite.Connection, (await conn.get_raw_connection()).driver_connection)
            await driver.execute_fetchall("BEGIN IMMEDIATE")
            yield conn
    except (OperationalError, sqlite3.OperationalError) as exc:
        if _is_busy(exc):
            raise DatabaseBusy(f"the database stayed locked by another writer for {timeout_s:g} s") from exc
        raise
    finally:
        lock.release()


@asynccontextmanager
async def write_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """:func:`write_transaction` for ORM code: a session over its connection, flushed when the block
    ends, before the transaction commits. Objects stay loaded after it (``expire_on_commit=False``)."""
    async with (
        write_transaction(engine) as conn,
        AsyncSession(bind=conn, expire_on_commit=False) as session,
    ):
        yield session
        await session.flush()


# A pooled PostgreSQL connection that has sat in the pool longer than this is pinged before it is used.
PING_IDLE_AFTER_S = 1.0


def ping_when_idle(engine: AsyncEngine, idle_s: float) -> None:
    """Check a pooled connection before use only when it has been idle for ``idle_s`` or more.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip before every transaction, about
    twenty of them an HTTP turn. A connection returned less
    than a second ago was talking to the server a moment ago; what kills pooled connections (a server
    restart or failover, an idle-session timeout, a proxy dropping idle sockets) takes longer than that,
    so an idle connection is still checked before a request meets it, and one that does not answer is
    replaced: raising ``DisconnectionError`` on checkout makes the pool invalidate it and connect anew
    (SQLAlchemy's documented custom pessimistic ping)."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.pop("returned_at", None)
        if returned is None or time.monotonic() - returned < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection idle for {idle_s:g} s or more is gone") from exc


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant stored in UTC on every backend.

    SQLite has no time zone support: values are stored as naive UTC and given
    ``tzinfo=UTC`` back when read. Naive datetimes are refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def alembic_config(
    script_location: Path, url: str | None = None, connection: Connection | None = None
) -> Config:
    """A programmatic Alembic config (no alembic.ini): migrations are package data."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def upgrade_head(url: str, script_location: Path) -> None:
    """Alembic ``upgrade head`` of the environment at ``script_location`` on ``url``."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda sync_conn: command.upgrade(
                    alembic_config(script_location, connection=sync_conn), "head"
                )
            )
    finally:
        await engine.dispose()


def run_alembic_environment(table_modules: frozenset[str], version_table: str = "alembic_version") -> None:
    """The body of an ``env.py``: migrate the tables defined in ``table_modules`` only.

    ``Base.metadata`` is shared by the ledger's history and the service's own, which keep separate
    version tables; each environment filters autogenerate to its own tables. Run programmatically
    (``upgrade_head``) an open sync-facade connection comes in ``config.attributes["connection"]``;
    from the command line ``sqlalchemy.url`` is used with a sync driver.
    """
    from alembic import context
    from alembic.autogenerate.api import AutogenContext
    from sqlalchemy import create_engine as create_sync_engine

    tables = frozenset(
        str(mapper.class_.__tablename__)
        for mapper in Base.registry.mappers
        if mapper.class_.__module__ in table_modules
    )

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return name in tables
        table = getattr(obj, "table", None)
        return table is None or table.name in tables

    def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
        """Render ``UTCDateTime`` as its plain SQL type: migrations never import app code."""
        if type_ == "type" and isinstance(obj, UTCDateTime):
            return "sa.DateTime(timezone=True)"
        return False

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            render_item=render_item,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()

    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        run(given)
        return
    url = make_url(context.config.get_main_option("sqlalchemy.url") or "")
    driver = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql+psycopg"
    engine = create_sync_engine(url.set(drivername=driver))
    with engine.begin() as connection:
        run(connection)
    engine.dispose()
