"""What every trial of a run shares, and the one place the agent under test is built.

The demo practice is generated and loaded once per process into a template SQLite file; each trial copies
the file (a few milliseconds) into a ledger of its own (:class:`TrialLedger`) and gets an agent from
:meth:`Environment.build_agent`, with that trial's ports passed in.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from langgraph.checkpoint.memory import InMemorySaver
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.llm_usage import LlmUsageSource, PhrasingUsageSource, Role
from agent.outreach.replies import OfferLookup
from agent.phrasing import Phraser
from agent.service import BillingAgent
from agent.understanding.base import Understander
from agent.understanding.local import LocalUnderstander
from evals.facts import PatientSnapshot
from evals.judges import OtherPatients
from evals.metrics import LlmUsage, llm_usage
from evals.state import Projection
from evals.task import Task
from guardrails.audit import AuditTrail
from guardrails.policy import PracticePolicy, default_policy
from migrations import migrate_service
from tools.codebook import CodeBook
from tools.db import create_engine
from tools.demo import DEMO_TODAY, generate_practice
from tools.kb import KnowledgeBase
from tools.payments.base import PaymentGateway
from tools.payments.sandbox import SandboxGateway
from tools.platforms import models
from tools.platforms.base import BillingPlatform
from tools.platforms.ledger import LedgerPlatform, PracticeData, bulk_load, migrate
from tools.platforms.models import Patient

Engine = Literal["local", "llm"]
UnderstanderFactory = Callable[[BillingPlatform], Understander]
PhraserFactory = Callable[[BillingPlatform], Phraser | None]  # None: the local templates phrase

DEMO_PATIENTS = 200
DEMO_SEED = 7
SANDBOX_URL = "http://sandbox.invalid/pay"


class EngineUnavailable(RuntimeError):
    """An engine or option this build cannot run (reported, never a crash)."""


@dataclass
class TrialLedger:
    """A trial's own copy of the template ledger, with the platform and gateway on it."""

    path: Path
    engine: AsyncEngine
    platform: LedgerPlatform
    gateway: PaymentGateway

    async def close(self) -> None:
        await self.engine.dispose()
        _remove_db(self.path)


@dataclass
class Environment:
    """What every trial shares: the template database, the demo data, the policy and the engines."""

    workdir: Path
    template: Path
    data: PracticeData
    today: date
    policy: PracticePolicy
    engine: Engine
    fixture_templates: dict[str, Path] = field(default_factory=dict)
    # Builds the understander for a trial's platform (the ``llm`` engine); None: the local engine.
    understander_factory: UnderstanderFactory | None = None
    # An optional phraser per trial; the model components the trials used and the provider tokens each
    # patient turn spent (read from the components' own counters).
    phraser_factory: PhraserFactory | None = None
    llm_sources: list[tuple[Role, LlmUsageSource]] = field(default_factory=list)
    llm_turn_tokens: list[int] = field(default_factory=list)
    # One reference computation per task and process, shared by its concurrent trials.
    references: dict[str, asyncio.Future[Projection]] = field(default_factory=dict)
    # The patient's data and the other patients' write counts before any conversation: every trial of a
    # task starts from a byte copy of the same template, so they are read once per task and process.
    baselines: dict[str, tuple[PatientSnapshot, dict[str, int]]] = field(default_factory=dict)
    # Long-lived parts every trial's agent shares. Thread ids are unique per trial, so trials sharing the
    # in-memory checkpointer never share a checkpoint.
    kb: KnowledgeBase = field(default_factory=KnowledgeBase.default)
    codebook: CodeBook = field(default_factory=CodeBook.default)
    checkpointer: InMemorySaver = field(default_factory=InMemorySaver)
    # Fixture ledgers are built one at a time: alembic's migration context is process-global, so two
    # migrations interleaving on one event loop break each other (and the trials of one task share a build).
    _fixture_lock: asyncio.Lock | None = None
    _fixture_lock_loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    async def create(
        cls,
        engine: Engine = "local",
        workdir: Path | None = None,
        understander_factory: UnderstanderFactory | None = None,
        phraser_factory: PhraserFactory | None = None,
    ) -> Environment:
        if engine != "local" and understander_factory is None:
            raise EngineUnavailable("the llm engine needs an LLM understander: pass understander_factory")
        root = workdir or Path(tempfile.mkdtemp(prefix="billing-evals-"))
        template = root / "template.db"
        data = _PROCESS_CACHE.get("data")
        if data is None:
            data = _PROCESS_CACHE["data"] = generate_practice(
                patients=DEMO_PATIENTS, seed=DEMO_SEED, today=DEMO_TODAY
            )
        if not template.exists():
            # The demo ledger is the same for every run: build it once per process, copy it after.
            built = _PROCESS_CACHE.get("template")
            if built is None or not built.exists():
                built = Path(tempfile.mkdtemp(prefix="billing-evals-template-")) / "template.db"
                await build_ledger(built, data)
                _PROCESS_CACHE["template"] = built
            shutil.copyfile(built, template)
        return cls(
            workdir=root,
            template=template,
            data=data,
            today=DEMO_TODAY,
            policy=default_policy(),
            engine=engine,
            understander_factory=understander_factory,
            phraser_factory=phraser_factory,
        )

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ------------------------------------------------------------------ a task's world

    def clock(self, task: Task) -> datetime:
        if task.clock is not None:
            return task.clock
        tz = ZoneInfo(self.policy.office_hours.timezone)
        return datetime.combine(self.today, dtime(10, 0), tzinfo=tz)

    def patient_for(self, task: Task) -> Patient:
        spec = task.patient
        if spec.fixture is not None:
            return Patient.model_validate(spec.fixture.patient)
        assert spec.demo is not None  # validated: exactly one of demo / fixture
        demo = spec.demo
        want = {demo.scenario, *demo.also}
        found = [
            p
            for p in sorted(self.data.patients, key=lambda p: p.id)
            if want <= set(p.scenario_tags) and not set(demo.exclude) & set(p.scenario_tags)
        ]
        if task.channel == "sms":
            found = [p for p in found if p.phone]
        if demo.index >= len(found):
            raise LookupError(
                f"task {task.id}: only {len(found)} demo patients have tags {sorted(want)}"
                f" without {demo.exclude} (index {demo.index})"
            )
        return found[demo.index]

    async def template_for(self, task: Task) -> Path:
        if task.patient.fixture is None:
            return self.template
        async with self._fixture_guard():
            return await self._build_fixture(task)

    def _fixture_guard(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._fixture_lock is None or self._fixture_lock_loop is not loop:
            self._fixture_lock, self._fixture_lock_loop = asyncio.Lock(), loop
        return self._fixture_lock

    async def _build_fixture(self, task: Task) -> Path:
        assert task.patient.fixture is not None  # the caller checked
        path = self.fixture_templates.get(task.id)
        if path is None:
            fx = task.patient.fixture
            data = PracticeData(
                practice=self.data.practice,
                patients=[Patient.model_validate(fx.patient)],
                coverages=[models.Coverage.model_validate(c) for c in fx.coverages],
                claims=[models.Claim.model_validate(c) for c in fx.claims],
                statements=[models.Statement.model_validate(s) for s in fx.statements],
                unapplied_payments=[models.Payment.model_validate(p) for p in fx.unapplied_payments],
                plans=[models.PaymentPlan.model_validate(p) for p in fx.plans],
            )
            path = self.workdir / f"fixture-{task.id}.db"
            await build_ledger(path, data)
            self.fixture_templates[task.id] = path
        return path

    async def ledger_for(self, task: Task, clock: Callable[[], datetime]) -> TrialLedger:
        """A fresh copy of the task's template ledger."""
        path = self.workdir / f"trial-{uuid.uuid4().hex}.db"
        shutil.copyfile(await self.template_for(task), path)
        engine = create_engine(f"sqlite:///{path}")
        return TrialLedger(
            path=path,
            engine=engine,
            platform=LedgerPlatform(engine, clock=clock),
            gateway=SandboxGateway(engine, base_url=SANDBOX_URL, clock=clock),
        )

    def others(self, patient_id: str) -> OtherPatients:
        names = {f"{p.first_name} {p.last_name}".lower() for p in self.data.patients if p.id != patient_id}
        numbers = {s.number.upper() for s in self.data.statements if s.patient_id != patient_id}
        numbers |= {c.claim_number.upper() for c in self.data.claims if c.patient_id != patient_id}
        numbers |= {c.member_id.upper() for c in self.data.coverages if c.patient_id != patient_id}
        return OtherPatients(names=frozenset(names), numbers=frozenset(numbers))

    # ------------------------------------------------------------------ the agent under test

    def build_agent(
        self,
        ledger: TrialLedger,
        clock: Callable[[], datetime],
        outreach_offers: OfferLookup | None = None,
    ) -> BillingAgent:
        """The agent of one trial: this trial's ledger, gateway, audit trail and clock, the shared
        long-lived parts; the understander and phraser of the ``llm`` engine are built for this trial's
        platform, so their patient look-ups read this trial's ledger. ``outreach_offers``: the texts the
        practice sent first (an ``outreach`` task), found by the patient's number as in production."""
        understander = (
            self.understander_factory(ledger.platform)
            if self.understander_factory is not None
            else LocalUnderstander.default()
        )
        phraser = self.phraser_factory(ledger.platform) if self.phraser_factory is not None else None
        parts: tuple[tuple[Role, object], ...] = (("understanding", understander), ("phrasing", phraser))
        self.llm_sources += [(role, part) for role, part in parts if isinstance(part, LlmUsageSource)]
        return BillingAgent(
            platform=ledger.platform,
            gateway=ledger.gateway,
            kb=self.kb,
            codebook=self.codebook,
            policy=self.policy,
            understander=understander,
            phraser=phraser,
            audit=AuditTrail(ledger.engine, clock=clock),
            checkpointer=self.checkpointer,
            # The in-memory saver lives for one run and keeps no history worth pruning (nor can it
            # prune: ``InMemorySaver.aprune`` is not implemented); pruning never changes what a turn reads.
            prune=False,
            clock=clock,
            today=lambda: self.today,
            outreach_offers=outreach_offers,
        )

    def llm_usage(self) -> LlmUsage | None:
        """The language-model figures of the run; None when no trial used a model."""
        if not self.llm_sources:
            return None
        sources = [s for _, s in self.llm_sources]
        fallbacks: dict[str, int] = {}
        for role, source in self.llm_sources:
            for reason, n in source.fallbacks.items():
                fallbacks[f"{role}:{reason}"] = fallbacks.get(f"{role}:{reason}", 0) + n
        phrasers = [s for role, s in self.llm_sources if isinstance(s, PhrasingUsageSource)]
        return llm_usage(
            self.llm_turn_tokens,
            input_tokens=sum(s.usage["input_tokens"] for s in sources),
            output_tokens=sum(s.usage["output_tokens"] for s in sources),
            understanding_calls=sum(s.calls for role, s in self.llm_sources if role == "understanding"),
            phrasing_calls=sum(s.calls for s in phrasers),
            fallbacks=fallbacks,
            replaced=sum(s.replacements for s in phrasers),
            streams_cut=sum(s.streams_cut for s in phrasers),
            first_token_s=(
                sum(s.first_token_s.total for s in phrasers),
                sum(s.first_token_s.count for s in phrasers),
            ),
        )


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# Per-process memo of the generated demo practice and its built ledger (both deterministic).
_PROCESS_CACHE: dict[str, Any] = {}


async def build_ledger(path: Path, data: PracticeData) -> None:
    """A SQLite ledger file at ``path`` with the service's tables and ``data`` loaded."""
    url = f"sqlite:///{path}"
    await migrate(url)
    await migrate_service(url)
    engine = create_engine(url)
    try:
        await bulk_load(engine, data)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await engine.dispose()
