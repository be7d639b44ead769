"""Alembic environment of the service's own tables (see ``migrations/__init__``).

Run programmatically by ``migrations.migrate_service`` with an open connection in
``config.attributes["connection"]``, or from the command line with
``sqlalchemy.url``. The modules that own service tables are imported explicitly.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, make_url

import guardrails.audit
import tools.conversations
import tools.messaging.consent
import tools.payments.sandbox
import tools.payments.stripe
import tools.staff_accounts
import tools.webhook_events
from migrations import VERSION_TABLE
from tools.db import Base, UTCDateTime

SERVICE_MODULES = frozenset(
    m.__name__
    for m in (
        guardrails.audit,
        tools.conversations,
        tools.messaging.consent,
        tools.payments.sandbox,
        tools.payments.stripe,
        tools.staff_accounts,
        tools.webhook_events,
    )
)
SERVICE_TABLES = frozenset(
    str(mapper.class_.__tablename__)
    for mapper in Base.registry.mappers
    if mapper.class_.__module__ in SERVICE_MODULES
)

config = context.config
target_metadata = Base.metadata


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ == "table":
        return name in SERVICE_TABLES
    table = getattr(obj, "table", None)
    return table is None or table.name in SERVICE_TABLES


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if isinstance(given, Connection):
    _run(given)
else:
    url = make_url(config.get_main_option("sqlalchemy.url") or "")
    driver = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql+psycopg"
    engine = create_engine(url.set(drivername=driver))
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()
