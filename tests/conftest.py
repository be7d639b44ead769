"""Shared fixtures: an isolated, fresh database per test, on SQLite and on PostgreSQL.

``database_url`` is parametrized over ``sqlite`` (a temp file) and ``postgres``
(a schema of its own in ``$TEST_DATABASE_URL``, selected through ``search_path``
in the URL and dropped afterwards, so parallel runs never see each other's
rows). The PostgreSQL parameter skips when the variable is unset.

``migrated_database_url`` is the same database brought to the Alembic head; on
SQLite it is a copy of a template migrated once per session, which keeps it fast.

Under pytest-xdist each worker process gets a schema of its own for the tests that
use ``$TEST_DATABASE_URL`` directly (the checkpointer's tests create tables at its
top level): the variable is pointed at that schema for the worker's whole session,
so two workers never race on one set of tables, and the schema is dropped at the end.
Sockets: pytest-socket (``addopts`` in pyproject) refuses any connection beyond the
loopback addresses; Unix sockets stay open for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from migrations import migrate_service
from tools.db import normalize_url
from tools.platforms.ledger.schema import migrate

PG_ENV = "TEST_DATABASE_URL"
PG_SKIP_REASON = (
    "set TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test to run PostgreSQL tests"
)


def _pg_conninfo(url: str) -> str:
    return make_url(normalize_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def _with_schema(url: str, schema: str) -> str:
    return (
        make_url(normalize_url(url))
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )


_WORKER_SCHEMA = pytest.StashKey[tuple[str, str]]()


def pytest_configure(config: pytest.Config) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = os.environ.get(PG_ENV)
    if not worker or not base:
        return
    schema = f"w_{worker}_{secrets.token_hex(4)}"
    conninfo = _pg_conninfo(base)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    config.stash[_WORKER_SCHEMA] = (conninfo, schema)
    os.environ[PG_ENV] = _with_schema(base, schema)  # subprocesses of this worker inherit it too


def pytest_unconfigure(config: pytest.Config) -> None:
    created = config.stash.get(_WORKER_SCHEMA, None)
    if created is None:
        return
    conninfo, schema = created
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of its own for this test (async driver URL)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP_REASON)
    schema = f"t_{secrets.token_hex(8)}"
    conninfo = _pg_conninfo(base)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _with_schema(base, schema)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    # Its own thread and loop: session fixtures run outside the tests' event loops.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, migrate_all(f"sqlite+aiosqlite:///{path}")).result()
    return path


Recorded = list[tuple[str, Any, bool]]


@pytest.fixture(scope="session")
def postgres_migration() -> Recorded | None:
    """The statements, with their parameters, that brought an empty schema of ``$TEST_DATABASE_URL`` to
    the Alembic head: the migrations are run once per session on a schema of their own while SQLAlchemy's
    ``before_cursor_execute`` records what each sends to the driver. ``None`` without PostgreSQL, or when
    a statement names that schema (it could not be replayed on another)."""
    base = os.environ.get(PG_ENV)
    if not base:
        return None
    schema = f"m_{secrets.token_hex(8)}"
    conninfo = _pg_conninfo(base)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    recorded: Recorded = []

    def record(
        conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if schema in str(conn.engine.url):
            recorded.append((statement, parameters, executemany))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, migrate_all(_with_schema(base, schema))).result()
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    if not recorded or any(schema in statement for statement, _, _ in recorded):
        return None
    return recorded


def replay_migration(url: str, recorded: Recorded) -> None:
    """Send the recorded statements to the (empty) schema of ``url``, in one transaction: the same
    statements with the same parameters as the migrations sent, without their round trips and commits."""
    with psycopg.connect(_pg_conninfo(url)) as conn, conn.cursor() as cur:
        for statement, parameters, many in recorded:
            if many:
                cur.executemany(statement, parameters)
            else:
                cur.execute(statement, parameters)


@pytest.fixture
async def migrated_database_url(
    database_url: str, _sqlite_template: Path, postgres_migration: Recorded | None
) -> str:
    """``database_url`` with the schema at the Alembic head. On SQLite a copy of a template migrated once
    per session; on PostgreSQL the statements of a migration recorded once per session, replayed."""
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        shutil.copyfile(_sqlite_template, parsed.database or "")
    elif postgres_migration is not None:
        await asyncio.to_thread(replay_migration, database_url, postgres_migration)
    else:
        await migrate_all(database_url)
    return database_url


async def migrate_all(url: str) -> None:
    """The ledger's schema and the service's own tables, as the app's lifespan does."""
    await migrate(url)
    await migrate_service(url)
