"""A separate process for the restart tests: runs a scripted conversation and dies (SIGKILL) either
right after a write node's side effect (before that node's checkpoint) or after a given turn.

    python -m tests.agent.crash_worker LEDGER_URL CHECKPOINT_PATH THREAD PATIENT_ID KILL_AT TEXT...

``KILL_AT`` is a write-node name (killed by the ``after_side_effect`` hook), ``after-turns`` (killed
once every text was sent) or ``approve:<node>`` (sends the texts, then resumes the staff approval and is
killed inside ``<node>``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from agent.checkpoint import open_checkpointer
from guardrails.audit import AuditTrail
from tests.agent.harness import build_agent, clock
from tools.db import create_engine
from tools.payments.sandbox import SandboxGateway
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Channel


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


async def main(
    url: str, checkpoint_path: str, thread: str, patient_id: str, kill_at: str, texts: list[str]
) -> None:
    engine = create_engine(url)
    platform = LedgerPlatform(engine, clock=clock)
    gateway = SandboxGateway(engine, "http://billing.test", clock=clock)
    audit = AuditTrail(engine, clock=clock)
    approve_node = kill_at.removeprefix("approve:") if kill_at.startswith("approve:") else None

    def hook(node: str) -> None:
        if node == kill_at or (node == approve_node and approving):
            _die()

    approving = False
    async with open_checkpointer(checkpoint_path) as saver:
        agent = build_agent(platform, gateway, audit, saver, after_side_effect=hook)
        for text in texts:
            async for _ in agent.turn(
                thread, text, channel=Channel.PORTAL, patient_id=patient_id, phone=None
            ):
                pass
        if approve_node is not None:
            approving = True
            await agent.resume_plan_decision(thread, approved=True, approver="staff.crash")
    if kill_at == "after-turns":
        _die()
    print("finished without dying", flush=True)
    sys.exit(3)


if __name__ == "__main__":
    url, cp, thread, pid, kill_at, *texts = sys.argv[1:]
    asyncio.run(main(url, cp, thread, pid, kill_at, texts))
