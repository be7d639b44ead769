"""One trial: the scripted patient talks to a fresh agent on a fresh ledger until the script is done, the
agent hands off to a human or the turn cap is reached; the trajectory and the ledger it left are judged
against the task's reference end state."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from agent.llm_usage import LlmUsageSource, total_tokens
from agent.outreach.offer import OutreachOffer
from agent.outreach.replies import OfferLookup
from agent.service import BillingAgent
from evals.environment import Environment, TrialLedger
from evals.facts import PatientSnapshot, collect_snapshot, template_values
from evals.judges import JudgeInput, Verdict, judge
from evals.metrics import TrialOutcome
from evals.simulator import ScriptedUser
from evals.state import Projection, patient_counts, project, replay, write_counts
from evals.task import Task
from evals.trajectory import AgentMessage, HandoffInfo, StopReason, Trajectory, TurnRecord, Writes
from guardrails.outreach import offer_for
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Channel, Patient


def trial_seed(seed: int, task_id: str, trial: int) -> int:
    """A stable per-trial seed (independent of task order and of the other tasks)."""
    return random.Random(f"{seed}:{task_id}:{trial}").randrange(2**31)


async def run_trial(env: Environment, task: Task, trial: int, seed: int) -> tuple[TrialOutcome, Trajectory]:
    started = time.perf_counter()
    now = env.clock(task)
    patient = env.patient_for(task)
    ledger = await env.ledger_for(task, lambda: now)
    try:
        reference = await reference_state(env, task, patient, now, ledger)
        before, others_before = env.baselines[task.id]
        trajectory = await converse(env, task, ledger, patient, before, trial, seed)
        # A conversation that added no row for the patient leaves the snapshot as it was; one that did
        # is read again. (The projection below, which the state judge compares, is always read.)
        wrote = any(t.writes.any for t in trajectory.turns)
        after = await collect_snapshot(ledger.platform, ledger.gateway, patient.id) if wrote else before
        agent_state = await project(
            ledger.platform, ledger.gateway, ledger.engine, patient.id, before, others_before
        )
    finally:
        await ledger.close()
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


async def reference_state(
    env: Environment, task: Task, patient: Patient, now: datetime, fresh: TrialLedger
) -> Projection:
    """The reference end state (the task's actions replayed on a fresh copy); it also records the
    task's baseline, read from that copy before the replay. Computed once per task: the trials of a task
    that start together await the same computation. ``fresh`` is the calling trial's ledger, not yet
    talked to: a task without reference actions reads its baseline there and expects no new row."""
    job = env.references.get(task.id)
    if job is None:
        job = env.references[task.id] = asyncio.ensure_future(
            _compute_reference(env, task, patient, now, fresh)
        )
    return await asyncio.shield(job)


NO_WRITES = Projection(plans=(), links=(), tickets=(), payments=(), others=())


async def _compute_reference(
    env: Environment, task: Task, patient: Patient, now: datetime, fresh: TrialLedger
) -> Projection:
    if not task.evaluation.reference_actions:
        # Nothing to replay: the reference is "no new row for anyone", and the baseline is the same
        # template's data, read from the trial's own untouched copy (no second copy to build).
        snap = await collect_snapshot(fresh.platform, fresh.gateway, patient.id)
        env.baselines[task.id] = (snap, await write_counts(fresh.engine, patient.id))
        return NO_WRITES
    ledger = await env.ledger_for(task, lambda: now)
    try:
        snap = await collect_snapshot(ledger.platform, ledger.gateway, patient.id)
        others = await write_counts(ledger.engine, patient.id)
        env.baselines[task.id] = (snap, others)
        await replay(
            task.evaluation.reference_actions,
            ledger.platform,
            ledger.gateway,
            snap,
            env.policy,
            env.today,
            "ref",
        )
        result = await project(ledger.platform, ledger.gateway, ledger.engine, patient.id, snap, others)
    finally:
        await ledger.close()
    return result


@dataclass
class TrialClock:
    """The trial's "now": frozen, except that a scripted silence (``wait_minutes``) moves it on."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def _outreach_offer(
    env: Environment, task: Task, platform: LedgerPlatform, patient: Patient
) -> OutreachOffer:
    """The offer an ``outreach`` task's text carried: the policy's plan terms for the patient's balance."""
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


def _lookup_for(patient: Patient, offer: OutreachOffer) -> OfferLookup:
    async def lookup(phone: str) -> OutreachOffer | None:
        return offer if phone == patient.phone else None

    return lookup


async def converse(
    env: Environment,
    task: Task,
    ledger: TrialLedger,
    patient: Patient,
    before: PatientSnapshot,
    trial: int,
    seed: int,
) -> Trajectory:
    clock = TrialClock(env.clock(task))
    offers = None
    if task.outreach is not None:  # the agent texted first: the reply finds the offer, as in production
        offers = _lookup_for(patient, await _outreach_offer(env, task, ledger.platform, patient))
    agent = env.build_agent(ledger, clock, offers)
    values = template_values(before)
    user = ScriptedUser(task.script, values, patient.date_of_birth, random.Random(seed))
    thread_id = f"eval-{task.id}-{trial}-{uuid.uuid4().hex[:8]}"
    channel = Channel(task.channel)
    turns: list[TurnRecord] = []
    expecting: str | None = None
    stop: StopReason = "turn_cap"
    error: str | None = None
    counts = await _write_counts(ledger.engine, patient.id)
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
                if event.type == "message":
                    messages.append(
                        AgentMessage(
                            text=event.text,
                            intent=event.intent,
                            confidence=event.confidence,
                            actions=list(event.actions),
                            expecting=event.expecting,
                        )
                    )
                elif event.type == "handoff":
                    handoff = HandoffInfo(
                        ticket_id=event.ticket_id, reason=event.reason, priority=event.priority
                    )
                elif event.type == "done":
                    mode = event.mode
        except Exception as exc:  # a crash of the agent is a failed trial, reported with its message
            error = f"{type(exc).__name__}: {exc}"
            stop = "error"
        latency = (time.perf_counter() - started) * 1000
        if env.llm_sources:
            env.llm_turn_tokens.append(_tokens_of(agent) - spent)
        after = await _write_counts(ledger.engine, patient.id)
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


def _tokens_of(agent: BillingAgent) -> int:
    """Provider tokens the agent's model components have spent so far (0 with the local engine)."""
    spent = 0
    for part in (agent.ports.understander, agent.ports.phraser):
        if isinstance(part, LlmUsageSource):
            spent += total_tokens(part)
    return spent


async def _write_counts(engine: AsyncEngine, patient_id: str) -> Writes:
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
