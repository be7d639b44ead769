"""LangGraph's checkpointer conformance suite (``langgraph-checkpoint-conformance``) against the savers
exactly as the service opens them (``agent.checkpoint.open_checkpointer``): every base capability and
every extended one a saver implements must pass."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import CapabilityReport
from sqlalchemy.engine import make_url

from agent.checkpoint import open_checkpointer


def _failures(report: CapabilityReport) -> dict[str, list[str]]:
    return {
        capability: result.failures
        for capability, result in report.results.items()
        if result.detected and result.passed is not True
    }


async def test_the_sqlite_checkpoint_store_passes_the_conformance_suite(tmp_path: Path) -> None:
    files = itertools.count()

    @checkpointer_test(name="sqlite checkpoint store")
    async def store() -> AsyncIterator[BaseCheckpointSaver[str]]:
        # A fresh file per capability suite, as each suite expects a fresh saver.
        async with open_checkpointer(f"sqlite:///{tmp_path / f'conformance-{next(files)}.db'}") as saver:
            yield saver

    report = await validate(store)
    assert report.passed_all_base(), _failures(report)
    assert report.passed_all(), _failures(report)
    assert report.results["put"].tests_passed > 0


@pytest.mark.postgres
async def test_the_postgres_checkpoint_store_passes_the_conformance_suite() -> None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("set TEST_DATABASE_URL to run PostgreSQL tests")
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    schemas: list[str] = []

    @checkpointer_test(name="postgres checkpoint store")
    async def store() -> AsyncIterator[BaseCheckpointSaver[str]]:
        # A schema of its own per capability suite (selected by the URL, as a deployment would).
        schema = f"conf_{secrets.token_hex(4)}"
        schemas.append(schema)
        async with await psycopg.AsyncConnection.connect(plain, autocommit=True) as admin:
            await admin.execute(f'CREATE SCHEMA "{schema}"')
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        async with open_checkpointer(scoped.render_as_string(hide_password=False)) as saver:
            yield saver

    try:
        report = await validate(store)
    finally:
        async with await psycopg.AsyncConnection.connect(plain, autocommit=True) as admin:
            for schema in schemas:
                await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert report.passed_all_base(), _failures(report)
    assert report.passed_all(), _failures(report)
    assert report.results["prune"].detected  # AsyncPostgresSaver.aprune is checked too
