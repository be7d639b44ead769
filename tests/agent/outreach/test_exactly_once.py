"""Exactly once across kill -9 and two workers: real processes, SIGKILLed right after Twilio accepted a
message and before it was marked sent, then restarted; a local Twilio-speaking server counts deliveries."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from guardrails.policy import default_policy
from tests.support.outreach import START, Clock, approve_all, build_world, phone_of, practice
from tests.support.twilio_recorder import run_recorder
from tools.db import create_engine
from tools.messaging.log import LogMessaging
from tools.outreach.store import OutreachStore
from tools.platforms.ledger import LedgerPlatform

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
PATIENTS = 24


def _people() -> dict[str, tuple[str, str, str, int, bool, str]]:
    return {
        f"p{n:02d}": (f"Pat{n}", "NY", f"{10001 + n:05d}", 20000 + 100 * n, True, "") for n in range(PATIENTS)
    }


async def _worker(url: str, twilio_url: str, worker: str, now: str, kill_after: int) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.agent.outreach.send_worker",
        url,
        twilio_url,
        worker,
        now,
        str(kill_after),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    if process.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(err.decode()[-3000:])
    return process.returncode


async def test_kill_9_mid_pass_and_two_workers_send_nothing_twice(migrated_database_url: str) -> None:
    people = _people()
    engine = create_engine(migrated_database_url)
    clock = Clock()
    ledger = LedgerPlatform(engine, clock=clock)
    await ledger.bulk_load(practice(people))
    w = build_world(engine, ledger, {"sms": LogMessaging()}, clock, policy=default_policy())
    await approve_all(w.store)
    await w.engine.decide_pass()
    store = OutreachStore(engine)
    assert len(await store.steps(status="scheduled")) == PATIENTS
    now = START.isoformat()
    later = (START + timedelta(minutes=10)).isoformat()  # past the 5-minute lease, before any follow-up
    try:
        with run_recorder() as twilio:
            # Two workers at once; each is killed after its own 3rd and 5th accepted message.
            first = await asyncio.gather(
                _worker(migrated_database_url, twilio.url, "w-a", now, 3),
                _worker(migrated_database_url, twilio.url, "w-b", now, 5),
            )
            assert list(first) == [-signal.SIGKILL, -signal.SIGKILL]
            delivered_before_restart = len(twilio.messages)
            assert delivered_before_restart == 8
            # Restarted, two workers again, running to the end.
            second = await asyncio.gather(
                _worker(migrated_database_url, twilio.url, "w-a2", later, 0),
                _worker(migrated_database_url, twilio.url, "w-b2", later, 0),
            )
            assert list(second) == [0, 0]
            to = [m["To"] for m in twilio.messages]
        steps = await store.steps()
        first_steps = [s for s in steps if s.sequence == 0]
        by_status: dict[str, int] = {}
        for s in first_steps:
            by_status[s.status] = by_status.get(s.status, 0) + 1
        # Every patient got the message exactly once: never twice, none lost except by a crash's doubt.
        assert sorted(to) == sorted(phone_of(pid, people) for pid in people)
        assert len(set(to)) == len(to) == PATIENTS
        # The two messages whose worker died between Twilio and the database are "uncertain", not resent.
        assert by_status == {"sent": PATIENTS - 2, "uncertain": 2}
        uncertain = {s.patient_id for s in first_steps if s.status == "uncertain"}
        assert all(phone_of(pid, people) in to for pid in uncertain)
    finally:
        await engine.dispose()
