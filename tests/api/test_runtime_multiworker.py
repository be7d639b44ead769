"""Two API processes (real uvicorn) on one PostgreSQL schema: an event published by one worker reaches
an SSE client of the other within a second, a staff reply posted on one worker reaches the patient whose
stream is held by the other within a second, and double-texting across workers stays in order."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from api.security import issue_portal_token
from api.staff import Role, StaffDirectory
from tests.api.portal_support import free_port, parse_sse, read_sse, seed
from tests.api.test_portal import SECRET, make_settings
from tools.db import create_engine

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def worker(url: str, log: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "BILLING_DATABASE_URL": url,
        "BILLING_ENVIRONMENT": "test",
        "BILLING_PORTAL_TOKEN_SECRET": SECRET.get_secret_value(),
        "BILLING_RATE_LIMIT_IP_BURST": "1000",
        "BILLING_RATE_LIMIT_THREAD_BURST": "1000",
        "BILLING_RATE_LIMIT_PATIENT_BURST": "1000",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "api.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


async def wait_healthy(base: str, log: Path) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(1200):
            try:
                if (await http.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    tail = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"worker at {base} did not become healthy:\n{tail[-3000:]}")


STAFF_EMAIL, STAFF_PASSWORD = "dana.staff@practice.example", "correct horse battery"


async def _create_staff(url: str) -> None:
    engine = create_engine(url)
    try:
        await StaffDirectory(engine).create(STAFF_EMAIL, Role.AGENT, STAFF_PASSWORD)
    finally:
        await engine.dispose()


@pytest.fixture
async def workers(migrated_database_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, str, str]]:
    if migrated_database_url.startswith("sqlite"):
        pytest.skip("several workers need PostgreSQL (TEST_DATABASE_URL)")
    data = await seed(migrated_database_url)
    await _create_staff(migrated_database_url)
    patient = next(
        p for p in data.patients if p.portal_user_id and any(s.patient_id == p.id for s in data.statements)
    )
    assert patient.portal_user_id is not None
    token = issue_portal_token(make_settings(migrated_database_url, tmp_path), patient.portal_user_id)
    with (
        worker(migrated_database_url, tmp_path / "a.log") as a,
        worker(migrated_database_url, tmp_path / "b.log") as b,
    ):
        await asyncio.gather(wait_healthy(a, tmp_path / "a.log"), wait_healthy(b, tmp_path / "b.log"))
        yield a, b, token


async def test_an_event_published_on_one_worker_reaches_a_stream_on_the_other_within_a_second(
    workers: tuple[str, str, str],
) -> None:
    a, b, token = workers
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=a, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b, timeout=30) as on_b,
    ):
        thread = (await on_a.post("/v1/portal/threads", headers=auth, json={})).json()["id"]
        seen_on_b: dict[int, float] = {}
        async with on_b.stream("GET", f"/v1/portal/threads/{thread}/events", headers=auth) as follow:
            assert follow.status_code == 200

            async def collect() -> None:
                async for event in read_sse(follow):
                    seen_on_b[event.id] = time.perf_counter()

            collector = asyncio.create_task(collect())
            await asyncio.sleep(0.3)  # the stream is subscribed on worker B
            published_on_a: dict[int, float] = {}
            async with on_a.stream(
                "POST",
                f"/v1/portal/threads/{thread}/messages",
                headers=auth,
                json={"text": "what is my balance?"},
            ) as answer:
                async for event in read_sse(answer):
                    published_on_a[event.id] = time.perf_counter()
            await asyncio.wait_for(collector, 5)
        assert set(seen_on_b) == set(published_on_a)
        lags = [seen_on_b[i] - published_on_a[i] for i in published_on_a]
        assert max(lags) < 1.0, lags


async def test_a_staff_reply_on_one_worker_reaches_the_patient_on_the_other_within_a_second(
    workers: tuple[str, str, str],
) -> None:
    a, b, token = workers
    patient = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=a, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b, timeout=30) as on_b,
    ):
        thread = (await on_b.post("/v1/portal/threads", headers=patient, json={})).json()["id"]
        async with on_b.stream(
            "POST", f"/v1/portal/threads/{thread}/messages", headers=patient, json={"text": "I want a person"}
        ) as answer:
            assert "handoff" in [event.event async for event in read_sse(answer)]
        login = await on_a.post("/v1/console/tokens", json={"email": STAFF_EMAIL, "password": STAFF_PASSWORD})
        staff = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert (await on_a.post(f"/v1/console/threads/{thread}/take-over", headers=staff)).status_code == 200

        async with on_b.stream("GET", f"/v1/portal/threads/{thread}/events", headers=patient) as follow:
            assert follow.status_code == 200
            arrived = asyncio.create_task(_first_staff_message(follow))
            await asyncio.sleep(0.3)  # the stream is subscribed on worker B
            sent_at = time.perf_counter()
            reply = await on_a.post(
                f"/v1/console/threads/{thread}/reply", headers=staff, json={"text": "Hello, this is Dana."}
            )
            assert reply.status_code == 200
            text, seen_at = await asyncio.wait_for(arrived, 5)
    assert text == "Hello, this is Dana."
    assert seen_at - sent_at < 1.0


async def _first_staff_message(follow: httpx.Response) -> tuple[str, float]:
    async for event in read_sse(follow, until=None):
        if event.event == "staff_message":
            return str(event.data["text"]), time.perf_counter()
    raise AssertionError("the stream ended without the staff message")


async def test_double_texting_across_workers_is_answered_in_order(workers: tuple[str, str, str]) -> None:
    a, b, token = workers
    auth = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=a, timeout=60) as on_a,
        httpx.AsyncClient(base_url=b, timeout=60) as on_b,
    ):
        thread = (await on_a.post("/v1/portal/threads", headers=auth, json={})).json()["id"]
        url = f"/v1/portal/threads/{thread}/messages"
        texts = ["what is my balance?", "when is it due?", "thanks", "what do I owe?"]
        answers = await asyncio.gather(
            *(
                (on_a if i % 2 == 0 else on_b).post(url, headers=auth, json={"text": t})
                for i, t in enumerate(texts)
            )
        )
        turns = [parse_sse(r.text) for r in answers]
        assert all(t[-1].event == "done" for t in turns)
        spans = sorted((t[0].id, t[-1].id) for t in turns)
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end < start  # each turn's events contiguous: no interleaving
        history = (await on_b.get(f"/v1/portal/threads/{thread}", headers=auth)).json()
        assert history["pending"] == 0
        # Answered in arrival order: turn ids (= inbound ids) increase with the event ids.
        by_start = [int(t[0].data["turn_id"]) for t in sorted(turns, key=lambda t: t[0].id)]
        assert by_start == sorted(by_start)
