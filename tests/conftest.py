"""Shared fixtures: an isolated, fresh database per test, on SQLite and on PostgreSQL.

``database_url`` is parametrized over ``sqlite`` (a temp file) and ``postgres``
(a schema of its own in ``$TEST_DATABASE_URL``, selected through ``search_path``
in the URL and dropped afterwards, so parallel runs never see each other's
rows). The PostgreSQL parameter skips when the variable is unset.

``migrated_database_url`` is the same database brought to the Alembic head; on
SQLite it is a copy of a template migrated once per session, which keeps it fast;
on PostgreSQL a migrated schema an earlier test left is emptied and used again
when its shape is still the migrations' (``_recycled``).

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
    base = os.environ.get(PG_ENV)
    if base and _EMPTIED:
        with psycopg.connect(_pg_conninfo(base), autocommit=True) as conn:
            for schema in _EMPTIED:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
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
    """A fresh, empty database of its own for this test (async driver URL); for a test that asks for
    ``migrated_database_url`` on PostgreSQL, possibly a migrated schema an earlier test of this process
    used and left empty again (see ``_recycled``)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP_REASON)
    conninfo = _pg_conninfo(base)
    migrated = "migrated_database_url" in request.fixturenames
    if migrated and _EMPTIED:
        schema = _EMPTIED.pop()
    else:
        schema = f"t_{secrets.token_hex(8)}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    url = _with_schema(base, schema)
    try:
        yield url
    finally:
        if migrated and url in _AT_HEAD and _recycled(url, schema):
            _EMPTIED.append(schema)
        else:
            _AT_HEAD.discard(url)
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# Migrated PostgreSQL schemas of this process. A test's own schema costs ~0.4 s to create and migrate and
# ~0.1 s to drop (DDL, in PostgreSQL's CPU too); emptied again it costs ~15 ms. A schema is used again only
# when it still has exactly the shape the migrations gave it (a test that added a table, such as a
# checkpointer's, or changed one, hands it back to be dropped), and every row but the Alembic versions is
# deleted and every sequence restarted, in one transaction: to the next test it is a fresh migrated schema.
_AT_HEAD: set[str] = set()  # URLs of schemas at the Alembic head (in use or emptied)
_EMPTIED: list[str] = []  # schemas at the head holding no row, ready for the next test
_SHAPE: dict[str, str] = {}  # the shape of a freshly migrated schema, read once per process


# Every relation of a schema with its columns (name, type, null, default) and, for an index, its
# definition: one read of the catalog.
_SHAPE_SQL = """
SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), CASE WHEN c.relkind = 'i' THEN pg_get_indexdef(c.oid) END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind = 'r'
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
WHERE n.nspname = %s
ORDER BY 1, 3
"""


def _shape(conn: psycopg.Connection[Any], schema: str) -> tuple[str, list[str], list[str]]:
    """The schema's shape (names of the schema itself left out: a sequence's default and an index's
    definition carry them), its tables but the Alembic versions', and its sequences."""
    rows = conn.execute(_SHAPE_SQL, (schema,)).fetchall()
    tables = sorted({r[0] for r in rows if r[1] == "r" and not r[0].startswith("alembic_version")})
    sequences = sorted({r[0] for r in rows if r[1] == "S"})
    return repr(rows).replace(schema, ""), tables, sequences


def _recycled(url: str, schema: str) -> bool:
    """Empty ``schema`` (``url``'s) for the next test; False when it cannot be (another shape, a lock
    still held)."""
    try:
        with psycopg.connect(_pg_conninfo(url), autocommit=True) as conn:
            shape, tables, sequences = _shape(conn, schema)
            if shape != _SHAPE.get("head"):
                return False
            with conn.transaction():  # one round trip: statements without parameters
                conn.execute(
                    "SET LOCAL lock_timeout = '2s';"  # a connection a test left open: drop the schema
                    "SET LOCAL session_replication_role = replica;"  # no foreign-key order to keep
                    + "".join(f'DELETE FROM "{schema}"."{t}";' for t in tables)
                    + "".join(f'ALTER SEQUENCE "{schema}"."{q}" RESTART;' for q in sequences)
                )
        return True
    except psycopg.Error:
        return False


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
        return database_url
    if database_url in _AT_HEAD:
        return database_url  # emptied after an earlier test (see ``_recycled``)
    if postgres_migration is not None:
        await asyncio.to_thread(replay_migration, database_url, postgres_migration)
    else:
        await migrate_all(database_url)
    if "head" not in _SHAPE:
        schema = make_url(database_url).query["options"]
        with psycopg.connect(_pg_conninfo(database_url)) as conn:
            _SHAPE["head"] = _shape(conn, str(schema).removeprefix("-csearch_path="))[0]
    _AT_HEAD.add(database_url)
    return database_url


async def migrate_all(url: str) -> None:
    """The ledger's schema and the service's own tables, as the app's lifespan does."""
    await migrate(url)
    await migrate_service(url)
