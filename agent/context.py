"""The run context: who is talking on which channel, and the capabilities a node may use.

Passed to every run as LangGraph's ``context`` (``StateGraph(..., context_schema=AgentContext)``) and read
by nodes through ``Runtime[AgentContext]``. Nothing here is checkpointed: the verified patient id comes
from the API (a signed portal session) on every turn, and the ports are built once by the composition
root and shared by all turns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from agent.outreach.replies import OfferLookup
from agent.phrasing import Phraser
from agent.understanding.base import Understander
from guardrails.audit import AuditTrail
from guardrails.policy import PracticePolicy
from tools.codebook import CodeBook
from tools.errors import PlatformUnavailable
from tools.handoffs import HandoffQueue
from tools.kb import KnowledgeBase
from tools.outbox import CommunicationOutbox
from tools.payments.base import PaymentGateway
from tools.platforms.base import BillingPlatform
from tools.platforms.models import Channel, CommunicationIn


@dataclass(frozen=True, slots=True)
class Ports:
    """The long-lived dependencies of the agent, built once per process."""

    platform: BillingPlatform
    gateway: PaymentGateway
    kb: KnowledgeBase
    codebook: CodeBook
    policy: PracticePolicy
    understander: Understander
    audit: AuditTrail
    clock: Callable[[], datetime]
    # "Today" for statements and schedules; the demo freezes it. None: the clock's date in office time.
    today: Callable[[], date] | None = None
    # Test-only: called by every write node right after its side effect, before the node returns (and so
    # before its checkpoint). The crash tests pass a callable that SIGKILLs the process. Always None in
    # production.
    after_side_effect: Callable[[str], None] | None = None
    # Phrasing with a language model; None: the local templates are the reply.
    phraser: Phraser | None = None
    # The outreach text a phone was last sent (agent.outreach.replies); None: no outreach configured.
    outreach_offers: OfferLookup | None = None
    # The outreach message a portal chat was opened from, by step id (agent.outreach.replies).
    outreach_step_offers: OfferLookup | None = None
    # Where a request for a person waits while the platform is down (tools.handoffs); None: not kept.
    handoffs: HandoffQueue | None = None
    # Where the turn's transcript lines wait for the platform (tools.outbox), drained by ``serve`` off
    # the turn's critical path; None: each line is logged on the platform at once (the turn waits).
    outbox: CommunicationOutbox | None = None

    async def log_line(self, patient_id: str, communication: CommunicationIn) -> None:
        """A line of the conversation onto the platform transcript: queued in the outbox when there is
        one (idempotent by ``external_id``), else logged now."""
        if self.outbox is not None:
            await self.outbox.enqueue(patient_id, communication)
        else:
            await self.platform.log_communication(patient_id, communication)

    async def transcript_on_platform(self, thread_id: str) -> None:
        """Make sure the thread's queued lines are on the platform (before reading its transcript there,
        e.g. for a hand-off's ticket). Raises ``PlatformUnavailable`` when they cannot go now."""
        if self.outbox is None:
            return
        if not await self.outbox.deliver_thread(self.platform, thread_id):
            raise PlatformUnavailable("the transcript could not be logged on the practice system")


@dataclass(frozen=True, slots=True)
class AgentContext:
    """Per-turn run context. ``verified_patient_id`` is set only by a trusted caller (the portal API)."""

    ports: Ports
    thread_id: str
    channel: Channel
    verified_patient_id: str | None = None
    phone: str | None = None
    statement_id: str | None = None
    outreach_step: int | None = None  # a portal chat opened from an outreach message's link
    extra: dict[str, str] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.ports.clock()

    def today(self) -> date:
        if self.ports.today is not None:
            return self.ports.today()
        tz = ZoneInfo(self.ports.policy.office_hours.timezone)
        return self.ports.clock().astimezone(tz).date()

    def side_effect_done(self, node: str) -> None:
        hook = self.ports.after_side_effect
        if hook is not None:
            hook(node)
