"""Exactly-once replies after a crash (issue 20, L8): the service on a real uvicorn is killed with SIGKILL
at every point of a turn, then started again on the same database; the restarted service finishes the
turn. Whatever the point, the patient's message is answered exactly once: one reply, one ``done``, one
payment link, one transcript line each way, no message left unanswered.

The turn is "I want to pay my bill now" from a portal patient: ``understand → payment_link (writes the
link) → guard_out → record (writes the transcript and the audit entry)``. On SQLite and on PostgreSQL.
The sweep prints its figures (``crash-sweep`` lines) for the report.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from api.security import issue_portal_token
from api.settings import Settings
from guardrails.audit import AuditLogRow
from tests.api.portal_support import free_port, seed
from tests.security import crash_server
from tools.conversations import InboundMessageRow, ThreadEventRow
from tools.db import create_engine
from tools.outbox import OutboxRow
from tools.payments.sandbox import PaymentLinkRow
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.ledger.tables import CommunicationRow
from tools.platforms.models import Patient

pytestmark = pytest.mark.slow

SECRET = "crash-sweep-portal-secret-5a4b3c2d1e0f98765432"
TEXT = "I want to pay my bill now"
CRASH_POINTS = [
    "queued",
    "enter:understand",
    "exit:understand",
    "enter:payment_link",
    "exit:payment_link",
    "enter:guard_out",
    "enter:record",
    "exit:record",
    "after-reply",
    "before-done",
]


def _env(url: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
    checkpoint = f"sqlite:///{tmp / 'checkpoints.db'}" if url.startswith("sqlite") else url
    return {
        **env,
        "BILLING_ENVIRONMENT": "test",
        "BILLING_DATABASE_URL": url,
        "BILLING_CHECKPOINT_URL": checkpoint,
        "BILLING_PORTAL_TOKEN_SECRET": SECRET,
        "BILLING_RATE_LIMIT_IP_BURST": "10000",
    }


@contextmanager
def server(url: str, tmp: Path, crash_at: str) -> Iterator[tuple[BaseProcess, str]]:
    port = free_port()
    log_path = tmp / f"server-{crash_at.replace(':', '-')}-{port}.log"
    log_path.touch()
    proc = crash_server.start(port, crash_at, _env(url, tmp), log_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if not proc.is_alive():
                raise AssertionError(log_path.read_text()[-3000:])
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.05)
        yield proc, base
    finally:
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=60)


def _exit_code(proc: BaseProcess, timeout: float) -> int | None:
    proc.join(timeout)
    return proc.exitcode


async def _patient(url: str) -> Patient:
    await seed(url, patients=12, seed_=4)
    engine = create_engine(url)
    try:
        ledger = LedgerPlatform(engine)
        for patient in await ledger.list_patients(limit=100, offset=0):
            if not patient.portal_user_id:
                continue
            summary = await ledger.get_account_summary(patient.id)
            if summary.balance_cents > 0 and not summary.has_active_plan:
                return patient
    finally:
        await engine.dispose()
    raise AssertionError("no portal patient with a balance")


async def _line_keys(conn: AsyncConnection, thread: str, direction: str) -> set[str]:
    on_platform = await conn.execute(
        select(CommunicationRow.external_id).where(
            CommunicationRow.thread_id == thread, CommunicationRow.direction == direction
        )
    )
    queued = await conn.execute(
        select(OutboxRow.key).where(
            OutboxRow.thread_id == thread, OutboxRow.direction == direction, OutboxRow.dead.is_(False)
        )
    )
    return {str(k) for (k,) in on_platform} | {str(k) for (k,) in queued}


async def _platform_duplicates(conn: AsyncConnection, thread: str) -> int:
    rows = await conn.execute(
        select(CommunicationRow.external_id, func.count())
        .where(CommunicationRow.thread_id == thread)
        .group_by(CommunicationRow.external_id)
        .having(func.count() > 1)
    )
    return len(rows.all())


async def _figures(url: str, thread: str, patient: Patient) -> dict[str, int]:

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:

            async def count(stmt: Select[int]) -> int:
                return int((await conn.execute(stmt)).scalar_one())

            events = (
                await conn.execute(
                    select(ThreadEventRow.type, func.count())
                    .where(ThreadEventRow.thread_id == thread)
                    .group_by(ThreadEventRow.type)
                )
            ).all()
            kinds = {str(k): int(n) for k, n in events}
            statuses = [
                str(s)
                for (s,) in (
                    await conn.execute(
                        select(InboundMessageRow.status).where(InboundMessageRow.thread_id == thread)
                    )
                ).all()
            ]
            return {
                "messages": kinds.get("message", 0),
                "done": kinds.get("done", 0),
                "errors": kinds.get("error", 0),
                "inbound": len(statuses),
                "answered": statuses.count("done"),
                "links": await count(
                    select(func.count())
                    .select_from(PaymentLinkRow)
                    .where(PaymentLinkRow.patient_id == patient.id)
                ),
                # A transcript line is on the platform or still in the outbox (a line the killed process
                # had claimed waits out its lease; one it had sent but not yet removed is sent again under
                # its key, which the platform keeps once): each line counted once by its key.
                "bot_lines": len(await _line_keys(conn, thread, "outbound")),
                "patient_lines": len(await _line_keys(conn, thread, "inbound")),
                "platform_duplicates": await _platform_duplicates(conn, thread),
                "audit_turns": await count(
                    select(func.count())
                    .select_from(AuditLogRow)
                    .where(AuditLogRow.thread_id == thread, AuditLogRow.event == "agent.turn")
                ),
            }
    finally:
        await engine.dispose()


def _new_thread(base: str, token: str) -> str:
    created = httpx.post(
        f"{base}/v1/portal/threads", headers={"Authorization": f"Bearer {token}"}, json={}, timeout=10
    )
    assert created.status_code == 201, created.text
    thread: str = created.json()["id"]
    return thread


def _post(base: str, token: str, thread: str) -> None:
    """Send the message; the stream breaks when the process dies (or ends with its ``done``)."""
    try:
        with httpx.stream(
            "POST",
            f"{base}/v1/portal/threads/{thread}/messages",
            headers={"Authorization": f"Bearer {token}"},
            json={"text": TEXT},
            timeout=30,
        ) as response:
            for _ in response.iter_lines():
                pass
    except httpx.TransportError:
        pass


def _wait_answered(base: str, token: str, thread: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        history = httpx.get(
            f"{base}/v1/portal/threads/{thread}", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).json()
        if history["pending"] == 0:
            return
        time.sleep(0.2)
    raise AssertionError("the restarted service did not answer the message")


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
async def test_kill_9_at_every_point_of_a_turn_answers_once(
    crash_at: str, migrated_database_url: str, tmp_path: Path
) -> None:
    url = migrated_database_url
    patient = await _patient(url)
    assert patient.portal_user_id is not None
    token = issue_portal_token(
        Settings(portal_token_secret=SECRET), patient.portal_user_id, ttl=timedelta(hours=1)
    )
    with server(url, tmp_path, crash_at) as (proc, base):
        thread = await asyncio.to_thread(_new_thread, base, token)
        await asyncio.to_thread(_post, base, token, thread)
        killed = await asyncio.to_thread(_exit_code, proc, 60)
        assert killed == -9, "the process was killed at the crash point"
    with server(url, tmp_path, "none") as (_proc, base):
        await asyncio.to_thread(_wait_answered, base, token, thread)
    figures = await _figures(url, thread, patient)
    backend = "sqlite" if url.startswith("sqlite") else "postgres"
    print(f"crash-sweep {backend} {crash_at} " + " ".join(f"{k}={v}" for k, v in figures.items()))
    assert figures["inbound"] == 1
    assert figures["answered"] == 1, "0 lost messages"
    assert figures["messages"] == 1, "0 duplicate replies"
    assert figures["done"] == 1
    assert figures["errors"] == 0
    assert figures["links"] == 1, "one link"
    assert figures["bot_lines"] == 1
    assert figures["patient_lines"] == 1
    assert figures["platform_duplicates"] == 0
    assert figures["audit_turns"] == 1
