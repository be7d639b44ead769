"""Run the suite: every task through the real graph on a fresh ledger, k trials each, then judge.

The demo practice is generated and loaded once into a template SQLite file; each trial copies the file
(a few milliseconds), builds a fresh ``BillingAgent`` with an in-memory checkpointer and drives the
scripted user until the script is done, the agent hands off to a human or the turn cap is reached.
Tasks run concurrently on one event loop, and across ``workers`` processes when asked.

``billing-agent eval`` (wired in ``api/cli.py``) calls :func:`main`; it exits 1 when a gate fails.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import dataclasses
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.llm_usage import LlmUsageSource, PhrasingUsageSource, Role, total_tokens
from agent.outreach.offer import OutreachOffer
from agent.phrasing import Phraser
from agent.understanding.base import Understander
from evals.facts import PatientSnapshot, collect_snapshot, template_values
from evals.judges import JudgeInput, OtherPatients, Verdict, judge
from evals.metrics import (
    Gate,
    LlmUsage,
    Metrics,
    TrialOutcome,
    compute,
    gates,
    llm_markdown,
    llm_usage,
    markdown,
    slowest,
    split_gates,
)
from evals.simulator import ScriptedUser
from evals.state import Projection, patient_counts, project, replay, write_counts
from evals.task import DEFAULT_TASKS_DIR, SPLITS, Task, load_tasks
from evals.trajectory import AgentMessage, HandoffInfo, StopReason, Trajectory, TurnRecord, Writes
from guardrails.policy import PracticePolicy, default_policy
from migrations import migrate_service
from tools.db import create_engine
from tools.payments.base import PaymentGateway
from tools.platforms.base import BillingPlatform
from tools.platforms.ledger import LedgerPlatform, PracticeData, bulk_load, migrate
from tools.platforms.models import Channel, Patient

Engine = Literal["local", "llm"]
UnderstanderFactory = Callable[[BillingPlatform], Understander]
PhraserFactory = Callable[[BillingPlatform], Phraser | None]  # None: the local templates phrase

DEMO_PATIENTS = 200
DEMO_SEED = 7
SANDBOX_URL = "http://sandbox.invalid/pay"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SuiteResult(_Model):
    metrics: Metrics
    gates: list[Gate]
    outcomes: list[TrialOutcome]
    trajectories: list[Trajectory]  # failing trials only, to keep the JSON small
    seed: int
    engine: str
    llm: LlmUsage | None = None  # ``--engine llm`` only

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["passed"] = self.passed
        data["slowest_tasks"] = [{"task": t, "mean_s": s} for t, s in slowest(self.outcomes, 5)]
        # The gate thresholds on each split alone, for the record (``metrics.per_split`` has the figures).
        by_split = split_gates(self.metrics)
        data["split_gates"] = {n: [g.model_dump(mode="json") for g in rows] for n, rows in by_split.items()}
        return data

    def markdown(self) -> str:
        report = markdown(self.metrics, self.outcomes, self.gates)
        return report + llm_markdown(self.llm) if self.llm is not None else report


# --------------------------------------------------------------------------- environment


def _demo() -> tuple[Callable[..., PracticeData], date]:
    from tools.demo import DEMO_TODAY, generate_practice

    return generate_practice, DEMO_TODAY


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
    # LLM usage hook (issue 5): an optional phraser per trial, the model components the trials used and
    # the provider tokens each patient turn spent (read from the components' own counters).
    phraser_factory: PhraserFactory | None = None
    llm_sources: list[tuple[Role, LlmUsageSource]] = field(default_factory=list)
    llm_turn_tokens: list[int] = field(default_factory=list)
    # One reference computation per task and process, shared by its concurrent trials.
    _references: dict[str, asyncio.Future[Projection]] = field(default_factory=dict)
    # The patient's data and the other patients' write counts before any conversation: every trial of a
    # task starts from a byte copy of the same template, so they are read once per task and process.
    _baselines: dict[str, tuple[PatientSnapshot, dict[str, int]]] = field(default_factory=dict)
    _agent: Any = None
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
        generate, today = _demo()
        root = workdir or Path(tempfile.mkdtemp(prefix="billing-evals-"))
        template = root / "template.db"
        data = _PROCESS_CACHE.get("data")
        if data is None:
            data = _PROCESS_CACHE["data"] = generate(patients=DEMO_PATIENTS, seed=DEMO_SEED, today=today)
        if not template.exists():
            # The demo ledger is the same for every run: build it once per process, copy it after.
            built = _PROCESS_CACHE.get("template")
            if built is None or not built.exists():
                built = Path(tempfile.mkdtemp(prefix="billing-evals-template-")) / "template.db"
                await _build_db(built, data)
                _PROCESS_CACHE["template"] = built
            shutil.copyfile(built, template)
        return cls(
            workdir=root,
            template=template,
            data=data,
            today=today,
            policy=default_policy(),
            engine=engine,
            understander_factory=understander_factory,
            phraser_factory=phraser_factory,
        )

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

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
                coverages=[_model("Coverage", c) for c in fx.coverages],
                claims=[_model("Claim", c) for c in fx.claims],
                statements=[_model("Statement", s) for s in fx.statements],
                unapplied_payments=[_model("Payment", p) for p in fx.unapplied_payments],
                plans=[_model("PaymentPlan", p) for p in fx.plans],
            )
            path = self.workdir / f"fixture-{task.id}.db"
            await _build_db(path, data)
            self.fixture_templates[task.id] = path
        return path

    def others(self, patient_id: str) -> OtherPatients:
        names = {f"{p.first_name} {p.last_name}".lower() for p in self.data.patients if p.id != patient_id}
        numbers = {s.number.upper() for s in self.data.statements if s.patient_id != patient_id}
        numbers |= {c.claim_number.upper() for c in self.data.claims if c.patient_id != patient_id}
        numbers |= {c.member_id.upper() for c in self.data.coverages if c.patient_id != patient_id}
        return OtherPatients(names=frozenset(names), numbers=frozenset(numbers))

    def make_agent(
        self,
        platform: BillingPlatform,
        gateway: PaymentGateway,
        db: AsyncEngine,
        now: datetime,
        clock: Callable[[], datetime] | None = None,
    ) -> Any:
        """A ``BillingAgent`` on this trial's ledger and gateway.

        Compiling the graph costs about 150 ms, so one agent (compiled graph + in-memory checkpointer) is
        built per process and each trial gets a shallow copy with its own ports; thread ids are unique
        per trial, so trials never share a checkpoint.
        """
        from guardrails.audit import AuditTrail

        base = self._base_agent(platform, gateway, db, now)
        agent = copy.copy(base)
        tick = clock if clock is not None else (lambda: now)
        agent.ports = dataclasses.replace(
            base.ports,
            platform=platform,
            gateway=gateway,
            audit=AuditTrail(db, clock=tick),
            clock=tick,
        )
        if self.understander_factory is not None:  # its patient look-ups must read this trial's ledger
            agent.ports = dataclasses.replace(agent.ports, understander=self.understander_factory(platform))
        if self.phraser_factory is not None:
            agent.ports = dataclasses.replace(agent.ports, phraser=self.phraser_factory(platform))
        parts: tuple[tuple[Role, object], ...] = (
            ("understanding", agent.ports.understander),
            ("phrasing", agent.ports.phraser),
        )
        self.llm_sources += [(role, part) for role, part in parts if isinstance(part, LlmUsageSource)]
        return agent

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

    def _base_agent(
        self, platform: BillingPlatform, gateway: PaymentGateway, db: AsyncEngine, now: datetime
    ) -> Any:
        if self._agent is not None:
            return self._agent
        from langgraph.checkpoint.memory import InMemorySaver

        from agent.service import BillingAgent
        from agent.understanding.local import LocalUnderstander
        from guardrails.audit import AuditTrail
        from tools.codebook import CodeBook
        from tools.kb import KnowledgeBase

        if self.engine != "local" and self.understander_factory is None:
            raise EngineUnavailable(
                "the llm engine needs an LLM understander: pass understander_factory to run_suite"
            )
        understander = (
            self.understander_factory(platform)
            if self.understander_factory is not None
            else LocalUnderstander.default()
        )
        self._agent = BillingAgent(
            platform=platform,
            gateway=gateway,
            kb=KnowledgeBase.default(),
            codebook=CodeBook.default(),
            policy=self.policy,
            understander=understander,
            audit=AuditTrail(db, clock=lambda: now),
            checkpointer=InMemorySaver(),
            clock=lambda: now,
            today=lambda: self.today,
        )
        return self._agent


# Per-process memo of the generated demo practice and its built ledger (both deterministic).
_PROCESS_CACHE: dict[str, Any] = {}


class EngineUnavailable(RuntimeError):
    """An engine or option this build cannot run (reported, never a crash)."""


def _model(name: str, raw: dict[str, object]) -> Any:
    from tools.platforms import models

    return getattr(models, name).model_validate(raw)


async def _build_db(path: Path, data: PracticeData) -> None:
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


# --------------------------------------------------------------------------- one trial


async def _outreach_offer(
    env: Environment, task: Task, platform: LedgerPlatform, patient: Patient, now: datetime
) -> OutreachOffer:
    from guardrails.outreach import offer_for

    assert task.outreach is not None
    terms = None
    if task.outreach.step == "plan_offer":
        balance = (await platform.get_account_summary(patient.id)).balance_cents
        terms = offer_for(env.policy, balance, task.outreach.months or 4, env.today)
    return OutreachOffer(
        key=f"outreach:{patient.id}:eval:0",
        patient_id=patient.id,
        step=task.outreach.step,
        months=terms.months if terms else None,
        installment_cents=terms.installment_cents if terms else None,
        down_payment_cents=terms.down_payment_cents if terms else None,
        total_cents=terms.total_cents if terms else None,
        accepted=False,
    )


def _lookup_for(patient: Patient, offer: OutreachOffer) -> Callable[[str], Any]:
    async def lookup(phone: str) -> OutreachOffer | None:
        return offer if phone == patient.phone else None

    return lookup


async def _write_counts_for(engine: AsyncEngine, patient_id: str) -> Writes:
    """The patient's rows in each write table (one count per table, not a load of every record)."""
    own = await patient_counts(engine, patient_id)
    return Writes(
        plans=own["payment_plans"],
        links=own["payment_links"],
        tickets=own["tickets"],
        payments=own["payments"],
    )


def _delta(a: Writes, b: Writes) -> Writes:
    return Writes(
        plans=b.plans - a.plans,
        links=b.links - a.links,
        tickets=b.tickets - a.tickets,
        payments=b.payments - a.payments,
    )


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@dataclass
class _Fresh:
    path: Path
    engine: AsyncEngine
    platform: LedgerPlatform
    gateway: PaymentGateway

    async def close(self) -> None:
        await self.engine.dispose()
        _remove_db(self.path)


async def _fresh(env: Environment, task: Task, now: datetime) -> _Fresh:
    from tools.payments.sandbox import SandboxGateway

    path = env.workdir / f"trial-{uuid.uuid4().hex}.db"
    shutil.copyfile(await env.template_for(task), path)
    engine = create_engine(f"sqlite:///{path}")
    return _Fresh(
        path=path,
        engine=engine,
        platform=LedgerPlatform(engine, clock=lambda: now),
        gateway=SandboxGateway(engine, base_url=SANDBOX_URL, clock=lambda: now),
    )


async def _reference(env: Environment, task: Task, patient: Patient, now: datetime) -> Projection:
    """The reference end state (the task's actions replayed on a fresh copy); it also records the
    task's baseline, read from that copy before the replay. Computed once per task: the trials of a task
    that start together await the same computation."""
    job = env._references.get(task.id)
    if job is None:
        job = env._references[task.id] = asyncio.ensure_future(_compute_reference(env, task, patient, now))
    return await asyncio.shield(job)


async def _compute_reference(env: Environment, task: Task, patient: Patient, now: datetime) -> Projection:
    fresh = await _fresh(env, task, now)
    try:
        snap = await collect_snapshot(fresh.platform, fresh.gateway, patient.id)
        others = await write_counts(fresh.engine, patient.id)
        env._baselines[task.id] = (snap, others)
        await replay(
            task.evaluation.reference_actions,
            fresh.platform,
            fresh.gateway,
            snap,
            env.policy,
            env.today,
            "ref",
        )
        result = await project(fresh.platform, fresh.gateway, fresh.engine, patient.id, snap, others)
    finally:
        await fresh.close()
    return result


@dataclass
class TrialClock:
    """The trial's "now": frozen, except that a scripted silence (``wait_minutes``) moves it on."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def _converse(
    env: Environment,
    task: Task,
    fresh: _Fresh,
    patient: Patient,
    before: PatientSnapshot,
    trial: int,
    seed: int,
) -> Trajectory:
    clock = TrialClock(env.clock(task))
    agent = env.make_agent(fresh.platform, fresh.gateway, fresh.engine, clock.now, clock)
    if task.outreach is not None:  # the agent texted first: the reply finds the offer, as in production
        offer = await _outreach_offer(env, task, fresh.platform, patient, clock.now)
        agent.ports = dataclasses.replace(agent.ports, outreach_offers=_lookup_for(patient, offer))
    values = template_values(before)
    user = ScriptedUser(task.script, values, patient.date_of_birth, random.Random(seed))
    thread_id = f"eval-{task.id}-{trial}-{uuid.uuid4().hex[:8]}"
    channel = Channel(task.channel)
    turns: list[TurnRecord] = []
    expecting: str | None = None
    stop: StopReason = "turn_cap"
    error: str | None = None
    counts = await _write_counts_for(fresh.engine, patient.id)
    handed_back = False
    for index in range(task.script.max_turns + 1):
        line = user.next(expecting)
        if line is None:
            stop = "completed"
            break
        if index == task.script.max_turns:
            break  # the user still had something to say: the turn cap ends it
        clock.now += timedelta(minutes=line.wait_minutes)
        messages: list[AgentMessage] = []
        handoff: HandoffInfo | None = None
        mode: Literal["bot", "human"] = "bot"
        spent = _tokens_of(agent)
        started = time.perf_counter()
        try:
            async for event in agent.turn(
                thread_id,
                line.text,
                channel=channel,
                patient_id=patient.id if channel is Channel.PORTAL else None,
                phone=patient.phone if channel is Channel.SMS else None,
            ):
                kind = getattr(event, "type", None)
                if kind == "message":
                    messages.append(
                        AgentMessage(
                            text=event.text,
                            intent=event.intent,
                            confidence=event.confidence,
                            actions=list(event.actions),
                            expecting=event.expecting,
                        )
                    )
                elif kind == "handoff":
                    handoff = HandoffInfo(
                        ticket_id=event.ticket_id, reason=event.reason, priority=event.priority
                    )
                elif kind == "done":
                    mode = event.mode
        except Exception as exc:  # a crash of the agent is a failed trial, reported with its message
            error = f"{type(exc).__name__}: {exc}"
            stop = "error"
        latency = (time.perf_counter() - started) * 1000
        if env.llm_sources:
            env.llm_turn_tokens.append(_tokens_of(agent) - spent)
        after = await _write_counts_for(fresh.engine, patient.id)
        turns.append(
            TurnRecord(
                index=index,
                user_text=line.text,
                user_kind=line.kind,
                expected_intent=line.intent,
                messages=messages,
                handoff=handoff,
                mode=mode,
                writes=_delta(counts, after),
                latency_ms=latency,
                waited_minutes=line.wait_minutes,
                after_hand_back=handed_back,
            )
        )
        counts = after
        handed_back = False
        if error is not None:
            break
        if handoff is not None or mode == "human":
            if not user.waits_for_hand_back():
                stop = "transfer"
                break
            # The script goes on after staff end their session (the console's "hand back").
            await agent.hand_back(thread_id)
            handed_back = True
            expecting = None
            continue
        expecting = messages[-1].expecting if messages else None
    return Trajectory(
        task_id=task.id,
        trial=trial,
        seed=seed,
        patient_id=patient.id,
        thread_id=thread_id,
        channel=task.channel,
        turns=turns,
        stop=stop,
        error=error,
    )


def _tokens_of(agent: Any) -> int:
    """Provider tokens the agent's model components have spent so far (0 with the local engine)."""
    parts = (agent.ports.understander, agent.ports.phraser)
    return sum(total_tokens(p) for p in parts if isinstance(p, LlmUsageSource))


async def run_trial(env: Environment, task: Task, trial: int, seed: int) -> tuple[TrialOutcome, Trajectory]:
    started = time.perf_counter()
    now = env.clock(task)
    patient = env.patient_for(task)
    reference = await _reference(env, task, patient, now)
    before, others_before = env._baselines[task.id]
    fresh = await _fresh(env, task, now)
    try:
        trajectory = await _converse(env, task, fresh, patient, before, trial, seed)
        # A conversation that added no row for the patient leaves the snapshot as it was; one that did
        # is read again. (The projection below, which the state judge compares, is always read.)
        wrote = any(t.writes.any for t in trajectory.turns)
        after = await collect_snapshot(fresh.platform, fresh.gateway, patient.id) if wrote else before
        agent_state = await project(
            fresh.platform, fresh.gateway, fresh.engine, patient.id, before, others_before
        )
    finally:
        await fresh.close()
    verdict = judge(
        JudgeInput(
            task=task,
            trajectory=trajectory,
            before=before,
            after=after,
            agent_state=agent_state,
            reference_state=reference,
            policy=env.policy,
            today=env.today,
            values=template_values(before),
            others=env.others(patient.id),
        )
    )
    failures = verdict.failures()
    if trajectory.error:
        failures.insert(0, f"error: {trajectory.error}")
    return _outcome(
        task, trial, seed, trajectory, verdict, failures, time.perf_counter() - started
    ), trajectory


def _outcome(
    task: Task, trial: int, seed: int, t: Trajectory, v: Verdict, failures: list[str], duration: float
) -> TrialOutcome:
    return TrialOutcome(
        task_id=task.id,
        category=task.category,
        split=task.split,
        trial=trial,
        seed=seed,
        passed=v.passed and t.error is None,
        state_match=v.state.state_match,
        policy_violations=v.policy.violations(),
        mentions=v.grounding.mentions,
        ungrounded=len(v.grounding.ungrounded),
        escalation_expected=v.escalation.expected,
        escalated=v.escalation.escalated,
        escalation_ok=v.escalation.ok,
        intent_pairs=v.intents.pairs,
        turns=len(t.turns),
        latencies_ms=[x.latency_ms for x in t.turns],
        stop=t.stop,
        failures=failures,
        duration_s=duration,
    )


def trial_seed(seed: int, task_id: str, trial: int) -> int:
    """A stable per-trial seed (independent of task order and of the other tasks)."""
    return random.Random(f"{seed}:{task_id}:{trial}").randrange(2**31)


# --------------------------------------------------------------------------- the suite


async def _run_all(
    env: Environment, tasks: Sequence[Task], trials: int, seed: int, concurrency: int
) -> list[tuple[TrialOutcome, Trajectory]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(task: Task, trial: int) -> tuple[TrialOutcome, Trajectory]:
        async with gate:
            return await run_trial(env, task, trial, trial_seed(seed, task.id, trial))

    jobs = [one(task, trial) for task in tasks for trial in range(trials)]
    return list(await asyncio.gather(*jobs))


def _worker(
    payload: tuple[list[dict[str, Any]], int, int, str, str, int],
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    raw_tasks, trials, seed, engine, workdir, concurrency = payload
    tasks = [Task.model_validate(t) for t in raw_tasks]

    async def go() -> list[tuple[TrialOutcome, Trajectory]]:
        env = await Environment.create(engine, Path(workdir))  # type: ignore[arg-type]  # checked by the parent
        return await _run_all(env, tasks, trials, seed, concurrency)

    return [(o.model_dump(mode="json"), t.model_dump(mode="json")) for o, t in asyncio.run(go())]


async def run_suite(
    tasks: Sequence[Task],
    trials: int,
    seed: int,
    engine: Engine = "local",
    category: str | None = None,
    *,
    workers: int = 1,
    concurrency: int = 4,
    understander_factory: UnderstanderFactory | None = None,
    phraser_factory: PhraserFactory | None = None,
) -> SuiteResult:
    """Run ``trials`` trials of every task (of ``category`` when given), judge them and compute metrics.

    ``understander_factory`` (one process only: it is not sent to worker processes) builds each trial's
    understander from its platform."""
    if trials < 1:
        raise ValueError("trials must be at least 1")
    if (understander_factory is not None or phraser_factory is not None) and workers > 1:
        raise ValueError("an understander or phraser factory runs in one process: use workers=1")
    selected = [t for t in tasks if category is None or t.category == category]
    if not selected:
        raise ValueError(f"no tasks in category {category!r}")
    started = time.perf_counter()
    env = await Environment.create(
        engine, understander_factory=understander_factory, phraser_factory=phraser_factory
    )
    try:
        for task in selected:  # fail fast on a task whose patient or fixture cannot be resolved
            env.patient_for(task)
        if workers <= 1:
            results = await _run_all(env, selected, trials, seed, concurrency)
        else:
            chunks = [selected[i::workers] for i in range(workers)]
            payloads = [
                (
                    [t.model_dump(mode="json") for t in chunk],
                    trials,
                    seed,
                    engine,
                    str(env.workdir),
                    concurrency,
                )
                for chunk in chunks
                if chunk
            ]
            loop = asyncio.get_running_loop()
            with ProcessPoolExecutor(max_workers=workers) as pool:
                parts = await asyncio.gather(*(loop.run_in_executor(pool, _worker, p) for p in payloads))
            results = [
                (TrialOutcome.model_validate(o), Trajectory.model_validate(t))
                for part in parts
                for o, t in part
            ]
    finally:
        env.close()
    outcomes = sorted((o for o, _ in results), key=lambda o: (o.task_id, o.trial))
    failing = sorted((t for o, t in results if not o.passed), key=lambda t: (t.task_id, t.trial))
    metrics = compute(outcomes, duration_s=time.perf_counter() - started)
    return SuiteResult(
        metrics=metrics,
        gates=gates(metrics),
        outcomes=outcomes,
        trajectories=failing,
        seed=seed,
        engine=engine,
        llm=env.llm_usage(),
    )


# --------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="billing-agent eval", description="Run the eval suite and check its gates."
    )
    p.add_argument("--tasks", type=Path, default=DEFAULT_TASKS_DIR, help="directory of task YAML files")
    p.add_argument("--trials", type=int, default=4, help="trials per task (k of pass^k)")
    p.add_argument("--seed", type=int, default=0, help="seed of the user-side variation")
    p.add_argument("--engine", choices=["local", "llm"], default="local")
    p.add_argument("--json", type=Path, help="write the full results as JSON here")
    p.add_argument("--report", type=Path, help="write the Markdown report here (default: stdout)")
    p.add_argument("--category", help="run one category only")
    p.add_argument("--split", choices=list(SPLITS), help="run one split only")
    p.add_argument("--workers", type=int, default=1, help="processes (tasks are split among them)")
    return p


def main(
    argv: Sequence[str] | None = None,
    understander_factory: UnderstanderFactory | None = None,
    phraser_factory: PhraserFactory | None = None,
) -> int:
    """``understander_factory`` and ``phraser_factory`` (built by the composition root from the LLM
    settings) serve ``--engine llm``, which then runs in one process."""
    args = parser().parse_args(argv)
    tasks = load_tasks(args.tasks)
    if args.split:
        tasks = [t for t in tasks if t.split == args.split]
    llm = args.engine == "llm"
    if llm and understander_factory is None:
        print("--engine llm needs BILLING_LLM_BASE_URL and BILLING_LLM_MODEL", file=sys.stderr)
        return 2
    result = asyncio.run(
        run_suite(
            tasks,
            args.trials,
            args.seed,
            engine=args.engine,
            category=args.category,
            workers=1 if llm else args.workers,
            understander_factory=understander_factory if llm else None,
            phraser_factory=phraser_factory if llm else None,
        )
    )
    report = result.markdown()
    if args.report:
        args.report.write_text(report, encoding="utf-8")
    print(report)
    if args.json:
        args.json.write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    failed = [g.name for g in result.gates if not g.passed]
    if failed:
        print(f"eval gates failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
