"""Alembic environment of the embedded ledger.

Run programmatically by ``tools.platforms.ledger.schema.migrate``, which hands
over an open (sync-facade) connection in ``config.attributes["connection"]``.
Run from the command line, ``sqlalchemy.url`` in the config is used with a sync
driver. The ORM modules whose tables the migrations manage are imported
explicitly so ``target_metadata`` (for autogenerate) is complete; a later
revision for another part's tables adds its import here.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, make_url

import tools.platforms.ledger.tables  # noqa: F401  (registers the ledger tables on Base.metadata)
from tools.db import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata
# Base.metadata is shared with the service's own tables (migrations/ at the top
# level, its own version table): this environment manages the ledger's only.
LEDGER_TABLES = frozenset(
    str(mapper.class_.__tablename__)
    for mapper in Base.registry.mappers
    if mapper.class_.__module__ == "tools.platforms.ledger.tables"
)


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ == "table":
        return name in LEDGER_TABLES
    table = getattr(obj, "table", None)
    return table is None or table.name in LEDGER_TABLES


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our ``UTCDateTime`` as its plain SQL type: migrations never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def _sync_url(url: str) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = "sqlite" if backend == "sqlite" else "postgresql+psycopg"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
    else:
        engine = create_engine(_sync_url(config.get_main_option("sqlalchemy.url") or ""))
        with engine.begin() as connection:
            _run(connection)
        engine.dispose()
