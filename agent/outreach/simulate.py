# ruff: noqa: E501  (the report's Markdown table rows read best one per line)
"""A simulated practice: two outreach policies run day by day against the same simulated patients.

``billing-agent outreach simulate --days 90 --patients N --seed S`` runs

* **baseline** — what practice-management systems send to everyone: a statement on day 0, a reminder on
  days 15 and 30 (email where there is an address, a mailed letter otherwise), a staff call on day 45;
* **agent** — the practice's outreach policy through the REAL decision code (``guardrails.outreach.decide``),
  the real lawful-contact gate (``guardrails.contact.check_contact``, quiet hours in the patient's zone and
  the contact cap across channels), the real SMS templates (``guardrails.outreach.render``) and the real
  email renderer and channel (``tools.messaging.email.EmailChannel``, its suppression honoured), with the
  sends captured in process and the clock simulated.

Placement: this is ``agent`` code because it composes guardrails (decisions, gate) and tools (channels,
renderers) exactly as ``agent.outreach.engine`` does, and the CLI in ``api`` calls it (api → agent →
tools, guardrails). It keeps its own in-memory schedule instead of the SQL step store so that 10,000
patients × 90 days run in seconds; the scheduling rule is the engine's own: decide after every change,
hold one step per account, at the decision's ``due_at``, re-decide right before sending.

Patients come from ``data/patient_model.yaml`` (archetypes, probabilities per message seen, and the
sources of the calibration targets). Both policies meet the same patients drawn with the same seed, and
each message's outcome is drawn from a random stream of its own (policy, patient), so the two runs differ
only by what each policy did.
"""

from __future__ import annotations

import heapq
import json
import math
import random
import statistics
import time as _time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from guardrails.contact import ContactCheck, check_contact, zone_for_address
from guardrails.outreach import AccountSnapshot, Contact, Decision, MessageFields, decide, render
from guardrails.policy import PracticePolicy, load_policy
from tools.messaging.email import EmailChannel, EmailConfig, OutreachEmail
from tools.platforms.models import AccountActivity, ChangeKind, Channel, Language
from tools.yamlfile import load_yaml

MODEL_PATH = Path(__file__).parent / "data" / "patient_model.yaml"
TEMPLATES_PATH = Path(__file__).resolve().parents[2] / "guardrails" / "data" / "outreach_templates.yaml"
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; dates matter only for zones and DST
PolicyName = Literal["baseline", "agent"]
POLICIES: tuple[PolicyName, ...] = ("baseline", "agent")

# Where simulated patients live: (state, ZIP) spread over the four mainland zones.
PLACES = [("NY", "10001"), ("FL", "33101"), ("IL", "60601"), ("TX", "75201"), ("CO", "80202"),
          ("AZ", "85001"), ("CA", "94103"), ("WA", "98101"), ("GA", "30301"), ("OH", "43004")]  # fmt: skip


# --------------------------------------------------------------------------- the patient model


def load_model(path: Path = MODEL_PATH) -> dict[str, Any]:
    model: dict[str, Any] = load_yaml(path.read_text(encoding="utf-8"))
    if not model.get("sources"):
        raise ValueError(f"{path}: the patient model must list its sources")
    total = sum(a["weight"] for a in model["archetypes"].values())
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ValueError(f"{path}: archetype weights sum to {total}, not 1")
    return model


@dataclass
class Plan:
    installment_cents: int
    remaining: int
    next_due: datetime
    defaulted: bool = False


@dataclass
class SimPatient:
    id: str
    archetype: str
    first_name: str
    balance0: int
    state: str
    zip_code: str
    zone: ZoneInfo
    has_email: bool
    has_phone: bool
    sms_consent: bool
    # Per-policy state, reset by ``fresh``.
    balance: int = 0
    opted_out: bool = False
    email_suppressed: bool = False
    complained: bool = False
    disputed: bool = False
    plan: Plan | None = None
    contacts: list[Contact] = field(default_factory=list)
    contact_times: list[datetime] = field(default_factory=list)
    last_reply_at: datetime | None = None
    call_task_open: bool = False
    last_payment_at: datetime | None = None
    payment_count: int = 0
    pending: tuple[int, Decision] | None = None  # (generation, decision) of the one scheduled step
    generation: int = 0
    paid_day: int | None = None

    def fresh(self) -> SimPatient:
        return SimPatient(
            self.id, self.archetype, self.first_name, self.balance0, self.state, self.zip_code, self.zone,
            self.has_email, self.has_phone, self.sms_consent, balance=self.balance0,
        )  # fmt: skip

    @property
    def email(self) -> str:
        return f"{self.id}@patients.example"


def draw_patients(model: dict[str, Any], n: int, seed: int) -> list[SimPatient]:
    rng = random.Random(f"patients:{seed}")
    names = list(model["archetypes"])
    weights = [model["archetypes"][a]["weight"] for a in names]
    out = []
    for i in range(n):
        arch = rng.choices(names, weights)[0]
        a = model["archetypes"][arch]
        bal = a["balance"]
        cents = int(bal["median_cents"] * math.exp(rng.gauss(0.0, bal["sigma"])))
        cents = max(1500, min(cents, 2_500_000))
        state, zip_code = rng.choice(PLACES)
        has_phone = rng.random() < a["has_phone"]
        out.append(
            SimPatient(
                id=f"sim{i:06d}", archetype=arch, first_name=rng.choice(["Ana", "Ben", "Chloe", "Dev", "Eli"]),
                balance0=cents, state=state, zip_code=zip_code, zone=zone_for_address(state, zip_code),
                has_email=rng.random() < a["has_email"], has_phone=has_phone,
                sms_consent=has_phone and rng.random() < a["sms_consent"],
            )
        )  # fmt: skip
    return out


# --------------------------------------------------------------------------- captured channels


class CapturedTransport:
    """The email channel's transport in the simulation: keeps a count, delivers nowhere."""

    def __init__(self) -> None:
        self.sent = 0

    async def deliver(self, msg: EmailMessage) -> str:
        self.sent += 1
        return f"<sim-{self.sent}@patients.example>"


class Suppression:
    def __init__(self) -> None:
        self.blocked: set[str] = set()

    async def allows(self, address: str) -> bool:
        return address not in self.blocked


# --------------------------------------------------------------------------- one run


@dataclass
class Tally:
    days: int
    collected_by_day: list[int]
    sent: Counter[str] = field(default_factory=Counter)
    opened: Counter[str] = field(default_factory=Counter)
    opt_outs: int = 0
    complaints: int = 0
    disputes: int = 0
    plans_created: int = 0
    plans_defaulted: int = 0
    calls: int = 0
    blocked: Counter[str] = field(default_factory=Counter)
    deferred: Counter[str] = field(default_factory=Counter)
    reminders_to_unpaid: int = 0
    reminders_followed_by_payment: int = 0
    by_segment: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


class Run:
    """One policy over one set of patients, event by event on a simulated clock."""

    def __init__(
        self,
        name: PolicyName,
        patients: Sequence[SimPatient],
        model: dict[str, Any],
        policy: PracticePolicy,
        days: int,
        seed: int,
    ) -> None:
        self.name = name
        self.p = [sp.fresh() for sp in patients]
        self.model = model
        self.policy = policy
        self.days = days
        self.seed = seed
        self.end = START + timedelta(days=days)
        self.t = Tally(days, [0] * days)
        self.events: list[tuple[datetime, int, str, int, int]] = []  # (at, seq, kind, patient, generation)
        self._seq = 0
        self.now = START
        self.templates: dict[str, dict[str, str]] = load_yaml(TEMPLATES_PATH.read_text(encoding="utf-8"))
        self.suppression = Suppression()
        self.transport = CapturedTransport()
        cfg = EmailConfig(
            host="sim", port=25, tls="none", from_address="billing@practice.example",
            practice_postal_address="1 Simulated Way, Springfield, IL 62701",
            public_base_url="https://billing.example", token_secret=_SIM_SECRET,
        )  # fmt: skip
        self.email = EmailChannel(cfg, self.transport, self.suppression)
        self.sms_texts = 0
        self.staleness = float(model["staleness_days"])
        self._rngs: dict[str, random.Random] = {}

    # ---- randomness: one stream per (policy-independent) patient and purpose, so both policies see the
    # same luck for the same kind of event in the same order.
    def _rng(self, i: int, purpose: str) -> random.Random:
        key = f"{self.seed}:{i}:{purpose}"
        r = self._rngs.get(key)
        if r is None:
            r = self._rngs[key] = random.Random(key)
        return r

    def push(self, at: datetime, kind: str, i: int, gen: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self.events, (at, self._seq, kind, i, gen))

    def arch(self, i: int) -> dict[str, Any]:
        a: dict[str, Any] = self.model["archetypes"][self.p[i].archetype]
        return a

    def day(self, at: datetime) -> int:
        return (at - START).days

    # ---- money
    def pay(self, i: int, cents: int, at: datetime) -> None:
        sp = self.p[i]
        cents = min(cents, sp.balance)
        if cents <= 0:
            return
        sp.balance -= cents
        sp.last_payment_at = at
        sp.payment_count += 1
        d = self.day(at)
        if d < self.days:
            self.t.collected_by_day[d] += cents
        if sp.balance <= 0 and sp.paid_day is None:
            sp.paid_day = d

    def start_plan(self, i: int, at: datetime, months: int) -> None:
        sp = self.p[i]
        if sp.plan is not None or sp.balance <= 0:
            return
        months = max(2, months)
        inst = -(-sp.balance // months)
        sp.plan = Plan(inst, months, at)
        self.t.plans_created += 1
        self.t.by_segment[sp.archetype]["plans"] += 1
        self.push(at, "installment", i)

    # ---- what a patient does when a message reaches them
    def seen(
        self, i: int, at: datetime, kind: str, *, link: bool, offer_months: int | None, firm: bool
    ) -> None:
        sp = self.p[i]
        a = self.arch(i)
        r = self._rng(i, "response")
        age = max(0.0, (at - START).total_seconds() / 86400)
        fresh = math.exp(-age / self.staleness)
        if r.random() < a["opt_out_when_seen"]:
            self.t.opt_outs += 1
            self.t.by_segment[sp.archetype]["opt_outs"] += 1
            if kind == "sms":
                sp.opted_out = True
            elif kind == "email":
                sp.email_suppressed = True
                self.suppression.blocked.add(sp.email)
            sp.last_reply_at = at
            self.redecide(i)
            return
        if r.random() < a["complaint_when_seen"]:
            self.t.complaints += 1
            self.t.by_segment[sp.archetype]["complaints"] += 1
        if r.random() < a["dispute_when_seen"] * (1.6 if firm else 1.0):
            sp.disputed = True
            self.t.disputes += 1
            self.redecide(i)
            return
        mult = fresh * (a["link_bonus"] if link else 1.0) * (a["firm_multiplier"] if firm else 1.0)
        if offer_months and r.random() < a["plan_when_offered"] * fresh:
            sp.last_reply_at = at
            self.start_plan(i, at + timedelta(minutes=5), offer_months)
            self.redecide(i)
            return
        if r.random() < min(0.95, a["pay_when_seen"] * mult):
            delay = timedelta(hours=1 + r.random() * (12 if link else 96))
            self.push(at + delay, "pay_full", i)

    # ---- baseline: the fixed sequence
    def baseline_events(self) -> None:
        for i in range(len(self.p)):
            self.push(START + timedelta(hours=15), "statement", i)
            for d in (15, 30):
                self.push(START + timedelta(days=d, hours=15), "reminder", i)
            self.push(START + timedelta(days=45, hours=16), "call", i)

    def baseline_reminder(self, i: int, at: datetime) -> None:
        sp = self.p[i]
        if sp.balance <= 0 or sp.plan is not None or sp.disputed:
            return
        self.t.reminders_to_unpaid += 1
        before = sp.payment_count
        if sp.has_email and not sp.email_suppressed:
            self.send_email(i, at, offer=None)
        else:
            self.t.sent["letter"] += 1
            if self._rng(i, "open").random() < self.arch(i)["statement_read"]:
                self.t.opened["letter"] += 1
                self.seen(i, at, "letter", link=False, offer_months=None, firm=False)
        self._watch(i, at, before)

    def _watch(self, i: int, at: datetime, before: int) -> None:
        self.push(at + timedelta(days=15) - timedelta(seconds=1), f"watch:{before}", i)

    # ---- channels
    def send_email(self, i: int, at: datetime, offer: Any, firm: bool = False) -> bool:
        sp = self.p[i]
        result = _run(
            self.email.send(
                OutreachEmail(
                    to=sp.email, first_name=sp.first_name, practice="Springfield Family Care",
                    amount_cents=sp.balance, link=f"https://billing.example/portal/chat?o={sp.id}",
                    plan_terms=offer.label if offer is not None else None,
                )
            )
        )  # fmt: skip
        if result.status != "sent":
            self.t.blocked["email_suppressed"] += 1
            return False
        self.t.sent["email"] += 1
        self.t.by_segment[sp.archetype]["messages"] += 1
        if self._rng(i, "open").random() < self.arch(i)["email_open"]:
            self.t.opened["email"] += 1
            self.seen(i, at, "email", link=True, offer_months=offer.months if offer else None, firm=firm)
        return True

    def send_sms(self, i: int, at: datetime, text: str, offer: Any, firm: bool) -> None:
        sp = self.p[i]
        assert text
        self.sms_texts += 1
        self.t.sent["sms"] += 1
        self.t.by_segment[sp.archetype]["messages"] += 1
        if self._rng(i, "open").random() < self.arch(i)["sms_read"]:
            self.t.opened["sms"] += 1
            self.seen(i, at, "sms", link=True, offer_months=offer.months if offer else None, firm=firm)

    def staff_call(self, i: int, at: datetime) -> None:
        sp = self.p[i]
        if sp.balance <= 0 or sp.plan is not None or sp.disputed:
            return
        if not sp.has_phone:  # the task is created and closed unreachable: no one to call
            sp.contacts.append(Contact("call", "staff_call", at))
            return
        a = self.arch(i)
        r = self._rng(i, "call")
        self.t.calls += 1
        self.t.by_segment[sp.archetype]["calls"] += 1
        sp.contacts.append(Contact("call", "staff_call", at))
        sp.contact_times.append(at)
        if r.random() >= a["call_answer"]:
            return
        self.t.opened["call"] += 1
        roll = r.random()
        if roll < a["pay_when_called"]:
            self.push(at + timedelta(hours=2), "pay_full", i)
        elif roll < a["pay_when_called"] + a["plan_when_called"]:
            self.start_plan(i, at + timedelta(minutes=10), int(self.model["plan_months_default"]))
        sp.last_reply_at = at

    # ---- agent: the real decision code, gate and channels
    def snapshot(self, i: int) -> AccountSnapshot:
        sp = self.p[i]
        plan_ok = sp.plan is not None and not sp.plan.defaulted
        activity = AccountActivity.model_construct(
            patient_id=sp.id, balance_cents=sp.balance, phone="+15555550000" if sp.has_phone else None,
            email_on_file=sp.has_email, sms_consent=sp.sms_consent, preferred_channel=Channel.SMS,
            language=Language.EN, state=sp.state, zip_code=sp.zip_code, timezone=str(sp.zone),
            last_change=ChangeKind.STATEMENT_CREATED, changed_at=START, newest_statement_id="st1",
            newest_statement_date=START.date(), oldest_open_statement_date=START.date(),
            oldest_open_service_date=START.date() - timedelta(days=20), payment_count=sp.payment_count,
            on_time_payment_count=sp.payment_count, partial_payment_count=0, median_days_to_pay=None,
            last_payment_at=sp.last_payment_at, plan_count=int(sp.plan is not None),
            plan_default_count=int(sp.plan is not None and sp.plan.defaulted), plan_in_good_standing=plan_ok,
            open_dispute=sp.disputed, legal_flag=False, hardship_review=False, self_pay=False,
        )  # fmt: skip
        return AccountSnapshot(
            activity=activity, episode="st1", language="en", zone=sp.zone, has_phone=sp.has_phone,
            has_email=sp.has_email, outreach_consent=sp.sms_consent, opted_out=sp.opted_out,
            contacts=tuple(sp.contacts), last_reply_at=sp.last_reply_at, call_task_open=sp.call_task_open,
            email_suppressed=sp.email_suppressed,
        )  # fmt: skip

    def redecide(self, i: int) -> None:
        if self.name != "agent":
            return
        sp = self.p[i]
        sp.generation += 1
        d = decide(self.snapshot(i), self.policy, self.now)
        if d.action == "none" or d.due_at is None:
            sp.pending = None
            return
        sp.pending = (sp.generation, d)
        self.push(max(d.due_at, self.now), "step", i, sp.generation)

    def agent_step(self, i: int, gen: int, at: datetime) -> None:
        sp = self.p[i]
        if sp.pending is None or sp.pending[0] != gen:
            return  # superseded by a newer decision
        _, planned = sp.pending
        d = decide(self.snapshot(i), self.policy, at)  # re-decided right before sending, as the engine does
        if d.action == "none" or d.key != planned.key or d.channel != planned.channel:
            self.redecide(i)
            return
        if d.action == "call":
            sp.pending = None
            self.staff_call(i, at)
            self.redecide(i)
            return
        assert self.policy.outreach is not None
        channel: Literal["sms", "email"] = "email" if d.channel == "email" else "sms"
        text = ""
        if channel == "sms":
            assert d.template_key is not None
            text = render(
                self.templates[d.template_key]["en"],
                MessageFields(
                    first_name=sp.first_name, practice="Springfield Family Care", amount_cents=sp.balance,
                    link=f"https://billing.example/p/{sp.id}", phone="(555) 555-0100",
                    terms=d.offer.label if d.offer else None,
                ),
            )  # fmt: skip
        verdict = check_contact(
            ContactCheck(
                now=at, zone=sp.zone, window=self.policy.outreach.send_window, channel=channel,
                outreach_consent=sp.sms_consent, opted_out=sp.opted_out, recent_contacts=sp.contact_times,
                cap_per_7_days=self.policy.outreach.contact_cap_per_7_days, disputed=sp.disputed,
                attorney=False, text=text or "billing email", forbidden=[],
                email_suppressed=sp.email_suppressed,
            )
        )  # fmt: skip
        if verdict.verdict == "block":
            self.t.blocked[verdict.reason] += 1
            sp.pending = None
            return
        if verdict.verdict == "defer":
            assert verdict.retry_at is not None
            self.t.deferred[verdict.reason] += 1
            self.push(verdict.retry_at, "step", i, gen)
            return
        sp.pending = None
        sp.contacts.append(Contact(channel, d.step or "follow_up", at))
        sp.contact_times.append(at)
        firm = d.tone == "firm"
        if channel == "email":
            self.send_email(i, at, d.offer, firm)
        else:
            self.send_sms(i, at, text, d.offer, firm)
        self.redecide(i)

    # ---- the loop
    def run(self) -> Tally:
        for i in range(len(self.p)):
            if self.name == "baseline":
                continue
            self.push(START + timedelta(hours=15), "statement", i)
        if self.name == "baseline":
            self.baseline_events()
        for i in range(len(self.p)):
            self.push(START + timedelta(hours=6), "unprompted", i)
        while self.events and self.events[0][0] < self.end:
            at, _, kind, i, gen = heapq.heappop(self.events)
            self.now = at
            sp = self.p[i]
            if kind == "statement":
                self.t.sent["statement"] += 1
                if self._rng(i, "statement").random() < self.arch(i)["statement_read"]:
                    self.t.opened["statement"] += 1
                    self.seen(i, at, "letter", link=False, offer_months=None, firm=False)
                self.redecide(i)
            elif kind == "reminder":
                self.baseline_reminder(i, at)
            elif kind == "call":
                self.staff_call(i, at)
            elif kind == "step":
                self.agent_step(i, gen, at)
            elif kind == "pay_full":
                if sp.plan is None and sp.balance > 0:
                    self.pay(i, sp.balance, at)
                    self.redecide(i)
            elif kind == "installment":
                plan = sp.plan
                if plan is None or plan.defaulted or sp.balance <= 0:
                    continue
                if self._rng(i, "plan").random() < self.arch(i)["plan_default_per_installment"]:
                    plan.defaulted = True
                    self.t.plans_defaulted += 1
                    self.t.by_segment[sp.archetype]["plans_defaulted"] += 1
                    sp.plan = plan
                    self.redecide(i)
                    continue
                self.pay(i, plan.installment_cents, at)
                plan.remaining -= 1
                if plan.remaining > 0 and sp.balance > 0:
                    self.push(
                        at + timedelta(days=int(self.model["plan_installment_every_days"])), "installment", i
                    )
            elif kind == "unprompted":
                if sp.balance > 0 and sp.plan is None:
                    if self._rng(i, "unprompted").random() < self.arch(i)["daily_unprompted_pay"]:
                        self.pay(i, sp.balance, at)
                        self.redecide(i)
                        continue
                    self.push(at + timedelta(days=1), "unprompted", i)
            elif kind.startswith("watch:") and (
                sp.payment_count > int(kind.split(":")[1]) or sp.plan is not None
            ):
                self.t.reminders_followed_by_payment += 1
        return self.t


_SIM_SECRET: Any = None


def _run(coro: Any) -> Any:
    """Drive an async channel call that never awaits real I/O (captured transport, in-memory store)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("a simulated channel awaited real I/O")  # pragma: no cover


# --------------------------------------------------------------------------- metrics and the report


def _metrics(run: Run) -> dict[str, Any]:
    t = run.t
    billed = sum(sp.balance0 for sp in run.p)
    collected = sum(t.collected_by_day)
    cumulative = []
    acc = 0
    for c in t.collected_by_day:
        acc += c
        cumulative.append(acc)

    def share_by(day: int) -> float:
        return cumulative[min(day, run.days) - 1] / billed if billed else 0.0

    # Days in patient A/R over the horizon: mean outstanding balance / billed per day of the horizon.
    outstanding_by_day = [billed - c for c in cumulative]
    mean_outstanding = statistics.fmean(outstanding_by_day)
    messages = t.sent["email"] + t.sent["sms"] + t.sent["letter"] + t.sent["statement"]
    staff_hours = t.calls * float(run.model["staff_minutes_per_call"]) / 60
    n = len(run.p)
    segs: dict[str, dict[str, Any]] = {}
    for arch in run.model["archetypes"]:
        members = [sp for sp in run.p if sp.archetype == arch]
        b = sum(sp.balance0 for sp in members)
        left = sum(max(sp.balance, 0) for sp in members)
        seg = t.by_segment[arch]
        segs[arch] = {
            "patients": len(members),
            "share_collected": round((b - left) / b, 4) if b else 0.0,
            "messages": seg["messages"],
            "opt_outs": seg["opt_outs"],
            "complaints": seg["complaints"],
            "plans_created": seg["plans"],
            "plans_defaulted": seg["plans_defaulted"],
            "staff_call_hours": round(seg["calls"] * float(run.model["staff_minutes_per_call"]) / 60, 1),
        }
    return {
        "patients": n,
        "billed_cents": billed,
        "collected_cents": collected,
        "share_collected_by_day": {
            "30": round(share_by(30), 4),
            "60": round(share_by(60), 4),
            "90": round(share_by(90), 4),
        },
        "days_in_patient_ar": round(mean_outstanding / (billed / run.days), 1) if billed else 0.0,
        "messages_sent": dict(t.sent),
        "messages_per_100_dollars": round(messages / (collected / 10_000), 2) if collected else None,
        "email_open_rate": round(t.opened["email"] / t.sent["email"], 4) if t.sent["email"] else None,
        "reminder_payment_rate": (
            round(t.reminders_followed_by_payment / t.reminders_to_unpaid, 4)
            if t.reminders_to_unpaid
            else None
        ),
        "opt_out_rate": round(t.opt_outs / n, 4),
        "complaint_rate": round(t.complaints / n, 4),
        "disputes": t.disputes,
        "plans_created": t.plans_created,
        "plans_defaulted": t.plans_defaulted,
        "staff_calls": t.calls,
        "staff_call_hours": round(staff_hours, 1),
        "blocked": dict(t.blocked),
        "deferred": dict(t.deferred),
        "collected_by_day_cents": t.collected_by_day,
        "unpaid_share_at_day": {
            str(d): round(outstanding_by_day[min(d, run.days) - 1] / billed, 4) for d in (15, 45, 75)
        },
        "by_segment": segs,
    }


def calibration(model: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """The baseline against the published figures (±20%), with the outstanding-A/R check scaled to the
    reference practice (steady state: one cohort a month, balances leave A/R after the write-off age)."""
    ref = model["reference_practice"]
    revenue = ref["annual_revenue_cents"]
    monthly_billed = revenue * ref["patient_responsibility_share"] / 12
    unpaid = baseline["unpaid_share_at_day"]
    outstanding = monthly_billed * sum(unpaid[d] for d in ("15", "45", "75"))
    # The published band, interpolated on a log scale: $70K at $1M of revenue, $220K at $25M.
    lo_rev, hi_rev, lo_ar, hi_ar = 1e8, 25e8, 7e6, 22e6
    k = math.log(hi_ar / lo_ar) / math.log(hi_rev / lo_rev)
    expected = lo_ar * (revenue / lo_rev) ** k

    def check(value: float | None, target: float) -> dict[str, Any]:
        ok = value is not None and 0.8 * target <= value <= 1.2 * target
        return {"value": value, "target": round(target, 4), "within_20_percent": ok}

    return {
        "email_open_rate": check(baseline["email_open_rate"], 0.11),
        "reminder_payment_rate": check(baseline["reminder_payment_rate"], 0.04),
        "outstanding_patient_ar_dollars": check(round(outstanding / 100), expected / 100),
    }


def simulate(
    *, days: int = 90, patients: int = 1000, seed: int = 1, policy_path: Path | None = None
) -> dict[str, Any]:
    global _SIM_SECRET
    from pydantic import SecretStr

    _SIM_SECRET = SecretStr(f"simulation-only-secret-{seed}-0123456789abcdef")
    model = load_model()
    policy = load_policy(policy_path)
    if policy.outreach is None:
        raise ValueError("the policy has no outreach section: nothing to compare")
    people = draw_patients(model, patients, seed)
    out: dict[str, Any] = {"days": days, "patients": patients, "seed": seed, "policies": {}}
    for name in POLICIES:
        began = _time.perf_counter()
        run = Run(name, people, model, policy, days, seed)
        run.run()
        m = _metrics(run)
        m["wall_s"] = round(_time.perf_counter() - began, 2)
        out["policies"][name] = m
    out["calibration"] = calibration(model, out["policies"]["baseline"])
    b, a = out["policies"]["baseline"], out["policies"]["agent"]
    out["lift"] = {
        "dollars_by_day_60": _lift(
            sum(a["collected_by_day_cents"][:60]), sum(b["collected_by_day_cents"][:60])
        ),
        "staff_hours": _lift(a["staff_call_hours"], b["staff_call_hours"]),
    }
    return out


def _lift(agent: float, baseline: float) -> float | None:
    return round(agent / baseline - 1, 4) if baseline else None


def seeds_summary(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    def spread(values: list[float]) -> dict[str, float]:
        return {
            "mean": round(statistics.fmean(values), 4),
            "min": round(min(values), 4),
            "max": round(max(values), 4),
            "stdev": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        }

    dollars = [r["lift"]["dollars_by_day_60"] for r in results if r["lift"]["dollars_by_day_60"] is not None]
    hours = [r["lift"]["staff_hours"] for r in results if r["lift"]["staff_hours"] is not None]
    return {
        "seeds": [r["seed"] for r in results],
        "lift_dollars_by_day_60": spread(dollars) if dollars else None,
        "lift_staff_hours": spread(hours) if hours else None,
    }


def write_chart(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    colours = {"baseline": "#7a7a7a", "agent": "#0b5394"}
    labels = {
        "baseline": "Fixed sequence (statement, reminders day 15/30, call day 45)",
        "agent": "Outreach policy",
    }
    for name in POLICIES:
        per_day = [c / 100 for c in result["policies"][name]["collected_by_day_cents"]]
        days = list(range(1, len(per_day) + 1))
        ax1.plot(days, per_day, color=colours[name], label=labels[name], linewidth=1.4)
        total, cum = 0.0, []
        for v in per_day:
            total += v
            cum.append(total)
        ax2.plot(days, cum, color=colours[name], label=labels[name], linewidth=2)
    ax1.set_ylabel("Collected that day ($)")
    ax1.set_title(
        f"Dollars collected per day — {result['patients']:,} simulated patients, seed {result['seed']}"
    )
    ax1.legend(loc="upper right", fontsize=8)
    ax2.set_ylabel("Collected to date ($)")
    ax2.set_xlabel("Day since statement")
    for d in (30, 60):
        ax2.axvline(d, color="#cccccc", linewidth=0.8, linestyle="--")
    ax1.grid(alpha=0.3)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def markdown_report(result: dict[str, Any], seeds: dict[str, Any] | None, chart: str | None) -> str:
    b, a = result["policies"]["baseline"], result["policies"]["agent"]
    cal = result["calibration"]
    lines = [
        f"# Outreach simulation — {result['patients']:,} patients, {result['days']} days, seed {result['seed']}",
        "",
        "Simulated patients (agent/outreach/data/patient_model.yaml) under two policies. The agent policy",
        "runs the real decision code, contact gate, templates and email channel; sends are captured.",
        "",
        "## Calibration of the baseline (published figures, ±20%)",
        "",
        "| Figure | Baseline | Target | Within ±20% |",
        "|---|---|---|---|",
        f"| Email open rate | {_pct(cal['email_open_rate']['value'])} | 11% | {cal['email_open_rate']['within_20_percent']} |",
        f"| Unpaid patients paying within 15 days of a reminder | {_pct(cal['reminder_payment_rate']['value'])} | 4% | {cal['reminder_payment_rate']['within_20_percent']} |",
        f"| Outstanding patient A/R, reference practice | ${cal['outstanding_patient_ar_dollars']['value']:,} | ${cal['outstanding_patient_ar_dollars']['target']:,.0f} | {cal['outstanding_patient_ar_dollars']['within_20_percent']} |",
        "",
        "## Results",
        "",
        "| Metric | Fixed sequence | Outreach policy |",
        "|---|---|---|",
    ]
    rows = [
        ("Share of dollars collected by day 30", _pct(b["share_collected_by_day"]["30"]), _pct(a["share_collected_by_day"]["30"])),
        ("… by day 60", _pct(b["share_collected_by_day"]["60"]), _pct(a["share_collected_by_day"]["60"])),
        ("… by day 90", _pct(b["share_collected_by_day"]["90"]), _pct(a["share_collected_by_day"]["90"])),
        ("Days in patient A/R (horizon)", b["days_in_patient_ar"], a["days_in_patient_ar"]),
        ("Messages sent per $100 collected", b["messages_per_100_dollars"], a["messages_per_100_dollars"]),
        ("Messages sent", b["messages_sent"], a["messages_sent"]),
        ("Opt-out rate (per patient)", _pct(b["opt_out_rate"]), _pct(a["opt_out_rate"])),
        ("Complaint rate (per patient)", _pct(b["complaint_rate"]), _pct(a["complaint_rate"])),
        ("Plans created / defaulted", f"{b['plans_created']} / {b['plans_defaulted']}", f"{a['plans_created']} / {a['plans_defaulted']}"),
        ("Staff call hours", b["staff_call_hours"], a["staff_call_hours"]),
    ]  # fmt: skip
    lines += [f"| {m} | {x} | {y} |" for m, x, y in rows]
    lines += [
        "",
        f"Lift of the outreach policy on dollars collected by day 60: **{_pct(result['lift']['dollars_by_day_60'])}**; "
        f"on staff call hours: **{_pct(result['lift']['staff_hours'])}**.",
        "",
    ]
    if seeds:
        lines += [f"## Seeds {', '.join(map(str, seeds['seeds']))}", ""]
        for label, key in (
            ("dollars by day 60", "lift_dollars_by_day_60"),
            ("staff hours", "lift_staff_hours"),
        ):
            d = seeds[key]
            lines.append(
                f"- Lift on {label}: n/a (no baseline figure)"
                if d is None
                else f"- Lift on {label}: mean {_pct(d['mean'])}, range {_pct(d['min'])} to "
                f"{_pct(d['max'])}, sd {_pct(d['stdev'])}"
            )
        lines.append("")
    lines += [
        "## By segment (archetype)",
        "",
        "| Segment | Policy | Patients | Collected | Messages | Opt-outs | Complaints | Plans (defaulted) | Call hours |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for seg in b["by_segment"]:
        for name, m in (("fixed", b), ("policy", a)):
            s = m["by_segment"][seg]
            lines.append(
                f"| {seg} | {name} | {s['patients']} | {_pct(s['share_collected'])} | {s['messages']} | {s['opt_outs']} | "
                f"{s['complaints']} | {s['plans_created']} ({s['plans_defaulted']}) | {s['staff_call_hours']} |"
            )
    if chart:
        lines += ["", f"![Dollars collected per day]({chart})", ""]
    lines += [
        "",
        "Assumptions: every probability in the patient model that is not one of the three published targets",
        "(see its `sources:`); the reference practice's revenue, patient share and write-off age; 12 staff",
        "minutes per call attempt. The simulation ranks policies against this model; it does not predict a",
        "practice's own figures.",
        "",
    ]
    return "\n".join(lines)


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, sort_keys=True, default=str)


def today_default() -> date:  # pragma: no cover - kept for callers that want the real date
    return datetime.now(UTC).date()
