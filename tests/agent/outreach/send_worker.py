"""A separate process for the exactly-once tests: one outreach send pass as worker ``WORKER``, through the
real Twilio client to a local recording server, with the clock fixed at ``NOW``.

    python -m tests.agent.outreach.send_worker DB_URL TWILIO_URL WORKER NOW_ISO KILL_AFTER

``KILL_AFTER`` > 0: SIGKILL this process right after Twilio accepted its ``KILL_AFTER``-th message and
before the step is marked sent (the worst moment); 0: run the pass to the end and exit 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime, timedelta

from twilio.rest import Client

from agent.outreach.engine import OutreachEngine, Pacer
from guardrails.audit import AuditTrail
from guardrails.policy import default_policy
from tools.db import create_engine
from tools.messaging.base import OutboundMessage, SentMessage
from tools.messaging.consent import SmsConsentStore
from tools.messaging.twilio import TwilioMessaging
from tools.outreach.store import OutreachStore
from tools.platforms.ledger import LedgerPlatform

ACCOUNT_SID = "AC" + "0" * 32


class DiesAfter:
    """The real adapter, and the process dies right after the ``n``-th message was accepted."""

    def __init__(self, inner: TwilioMessaging, n: int) -> None:
        self._inner = inner
        self._n = n
        self._count = 0

    async def send(self, msg: OutboundMessage) -> SentMessage:
        sent = await self._inner.send(msg)
        self._count += 1
        if self._n and self._count >= self._n:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return sent


async def main(url: str, twilio_url: str, worker: str, now_iso: str, kill_after: int) -> None:
    now = datetime.fromisoformat(now_iso)

    def clock() -> datetime:
        return now

    async def thread_for(phone: str) -> str:
        return f"sms-thread:{phone}"

    client = Client(ACCOUNT_SID, "test-auth-token")
    client.api.base_url = twilio_url
    engine = create_engine(url)
    ledger = LedgerPlatform(engine, clock=clock)
    outreach = OutreachEngine(
        platform=ledger,
        store=OutreachStore(engine, clock=clock),
        consent=SmsConsentStore(engine, clock=clock),
        audit=AuditTrail(engine, clock=clock),
        policy=default_policy(),
        channels={"sms": DiesAfter(TwilioMessaging(client, "+15555550100"), kill_after)},
        link_for=lambda pid: "https://billing.example.org/pay",
        thread_for=thread_for,
        worker=worker,
        clock=clock,
        pacer=Pacer(0.0),
        lease=timedelta(minutes=5),
    )
    report = await outreach.send_pass()
    await engine.dispose()
    print(f"sent={report.sent} uncertain={report.uncertain}", flush=True)


if __name__ == "__main__":
    url, twilio_url, worker, now_iso, kill_after = sys.argv[1:6]
    asyncio.run(main(url, twilio_url, worker, now_iso, int(kill_after)))
