"""Schema management of the embedded ledger: Alembic, run programmatically.

The migration scripts are package data (``tools/platforms/ledger/migrations``);
no ``alembic.ini`` is needed. To add a revision from the command line::

    .venv/bin/python -m tools.platforms.ledger.schema revision -m "add audit_log" \\
        --url sqlite:///var/billing.db --autogenerate
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from tools.db import alembic_config as db_alembic_config
from tools.db import create_engine, upgrade_head
from tools.platforms.ledger.tables import PatientRow, PracticeRow

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    return db_alembic_config(MIGRATIONS_DIR, url, connection)


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection=connection), "head")


def _drop_everything(connection: Connection) -> None:
    reflected = MetaData()
    reflected.reflect(connection)
    reflected.drop_all(connection)


async def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema (Alembic ``upgrade head``)."""
    await upgrade_head(url, MIGRATIONS_DIR)


async def reset(url: str) -> None:
    """Drop every table of the database at ``url`` (ours or not), then migrate to head."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_drop_everything)
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


async def is_empty(engine: AsyncEngine) -> bool:
    """True when the ledger has no practice and no patient (or no tables yet)."""
    async with engine.connect() as conn:
        has_table = await conn.run_sync(lambda c: inspect(c).has_table(PracticeRow.__tablename__))
        if not has_table:
            return True
        practice = (await conn.execute(select(PracticeRow.id).limit(1))).first()
        patient = (await conn.execute(select(PatientRow.id).limit(1))).first()
        return practice is None and patient is None


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        if not await conn.run_sync(lambda c: inspect(c).has_table("alembic_version")):
            return None
        row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        return None if row is None else str(row[0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Ledger migrations (Alembic).")
    parser.add_argument("action", choices=["upgrade", "revision", "current", "history"])
    parser.add_argument("--url", default="sqlite:///var/billing.db")
    parser.add_argument("-m", "--message", default="")
    parser.add_argument("--autogenerate", action="store_true")
    args = parser.parse_args(argv)
    cfg = alembic_config(args.url)
    if args.action == "upgrade":
        command.upgrade(cfg, "head")
    elif args.action == "revision":
        command.revision(cfg, message=args.message, autogenerate=args.autogenerate)
    elif args.action == "current":
        command.current(cfg)
    else:
        command.history(cfg)


if __name__ == "__main__":
    main()
