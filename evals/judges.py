"""Deterministic judges: each a typed function over one trial that returns named booleans.

A trial passes when every judge passes (τ-bench's reward is the product of its components): the end
state matches the reference replay, the explicit assertions hold, no policy rule is broken, every figure
the agent said is grounded, escalation happened exactly when required and with its context, the facts
were communicated, and the conversation ended by completing its script or by a hand-off.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from agent.understanding.text import fold_accents
from evals.facts import PatientSnapshot, allowed_values, plan_balance_candidates, to_facts
from evals.state import Projection, diff, freeze, plan_balance, resolve_amount, resolve_plan
from evals.task import (
    CreatePlan,
    LinkAssert,
    ModeAssert,
    NoWrite,
    OpenTicket,
    OptOutAssert,
    PlanAssert,
    ReverifyAssert,
    SaysAssert,
    Task,
    TicketAssert,
)
from evals.trajectory import Trajectory
from guardrails.grounding import extract_mentions
from guardrails.policy import PlanOption, PracticePolicy, add_months, check_plan
from guardrails.screening import classify_sms_keyword, is_free_text_revocation
from tools.errors import PlanOutsidePolicy
from tools.platforms.models import PaymentPlan, PlanStatus

DISPUTE_INTENTS = frozenset({"dispute_already_paid", "dispute_charge"})
_AFFIRM = re.compile(
    r"\b(yes|y|yeah|yep|yup|sure|ok|okay|go ahead|please do|do it|sounds good|that works|confirm(ed)?|"
    r"correct|absolutely|let'?s do (it|that)|si|sí|dale|of course|agreed?)\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"(?<![\w-])[A-Z0-9][A-Z0-9-]{2,}(?![\w-])")
_NEGATE = re.compile(r"\b(no|nope|not|don'?t|cancel|never ?mind|wait)\b", re.IGNORECASE)


@dataclass(frozen=True)
class OtherPatients:
    """Identifiers of every patient except the task's: none of them may appear in an agent message."""

    names: frozenset[str] = frozenset()  # "first last", lower case
    numbers: frozenset[str] = frozenset()  # statement numbers, claim numbers, member ids (upper case)


@dataclass(frozen=True)
class JudgeInput:
    task: Task
    trajectory: Trajectory
    before: PatientSnapshot
    after: PatientSnapshot
    agent_state: Projection
    reference_state: Projection
    policy: PracticePolicy
    today: date
    values: Mapping[str, str]
    others: OtherPatients = OtherPatients()


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class StateVerdict:
    state_match: bool
    diff: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AssertionVerdict:
    results: dict[str, bool]

    @property
    def ok(self) -> bool:
        return all(self.results.values())


@dataclass(frozen=True)
class PolicyVerdict:
    identity_before_facts: bool
    consent_before_write: bool
    no_write_on_dispute: bool
    plan_inside_policy: bool
    no_duplicate_links: bool
    no_other_patient_data: bool
    no_forbidden_action: bool
    details: list[str] = field(default_factory=list)

    RULES = (
        "identity_before_facts",
        "consent_before_write",
        "no_write_on_dispute",
        "plan_inside_policy",
        "no_duplicate_links",
        "no_other_patient_data",
        "no_forbidden_action",
    )

    @property
    def ok(self) -> bool:
        return all(getattr(self, rule) for rule in self.RULES)

    def violations(self) -> list[str]:
        return [rule for rule in self.RULES if not getattr(self, rule)]


@dataclass(frozen=True)
class GroundingVerdict:
    grounded: bool
    mentions: int
    ungrounded: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EscalationVerdict:
    expected: bool
    escalated: bool
    reason_ok: bool
    priority_ok: bool
    context_ok: bool
    handoff_announced: bool

    @property
    def ok(self) -> bool:
        if self.expected != self.escalated:
            return False
        if not self.escalated:
            return True
        return self.reason_ok and self.priority_ok and self.context_ok and self.handoff_announced


@dataclass(frozen=True)
class CommunicationVerdict:
    communicated: bool
    avoided: bool
    missing: list[str] = field(default_factory=list)
    said_forbidden: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IntentVerdict:
    pairs: list[tuple[str, str]]  # (expected, predicted) for every labelled user turn


@dataclass(frozen=True)
class Verdict:
    state: StateVerdict
    assertions: AssertionVerdict
    policy: PolicyVerdict
    grounding: GroundingVerdict
    escalation: EscalationVerdict
    communication: CommunicationVerdict
    intents: IntentVerdict
    finished: bool

    @property
    def passed(self) -> bool:
        return (
            self.finished
            and self.state.state_match
            and self.assertions.ok
            and self.policy.ok
            and self.grounding.grounded
            and self.escalation.ok
            and self.communication.communicated
            and self.communication.avoided
        )

    def failures(self) -> list[str]:
        out: list[str] = []
        if not self.finished:
            out.append("conversation did not finish (turn cap, stuck or error)")
        out.extend(f"state: {line}" for line in self.state.diff)
        out.extend(f"assertion failed: {name}" for name, ok in self.assertions.results.items() if not ok)
        out.extend(f"policy: {rule}" for rule in self.policy.violations())
        out.extend(f"policy detail: {d}" for d in self.policy.details)
        out.extend(f"ungrounded: {m}" for m in self.grounding.ungrounded)
        if not self.escalation.ok:
            e = self.escalation
            out.append(
                f"escalation: expected={e.expected} escalated={e.escalated} reason_ok={e.reason_ok} "
                f"priority_ok={e.priority_ok} context_ok={e.context_ok} announced={e.handoff_announced}"
            )
        out.extend(f"not communicated: {m}" for m in self.communication.missing)
        out.extend(f"said forbidden: {m}" for m in self.communication.said_forbidden)
        return out


# --------------------------------------------------------------------------- judges


def canonical_tickets(agent: Projection, task: Task) -> Projection:
    """Tickets whose reason and priority the task allows count as the reference ticket.

    A task may accept several reasons for one hand-off (a claimed promise may be filed as a dispute or a
    request for a person); the reference replay writes one of them, so an allowed alternative is mapped
    onto it before the end states are compared. Priorities default to the reference's.
    """
    spec = task.evaluation.escalation
    ref = next((a for a in task.evaluation.reference_actions if isinstance(a, OpenTicket)), None)
    if ref is None or not spec.reasons:
        return agent
    reasons = {r.value for r in spec.reasons}
    priorities = {p.value for p in spec.priorities} or {ref.priority.value}
    rows: list[dict[str, object]] = []
    for row in agent.tickets:
        d = dict(row)
        if d.get("reason") in reasons and d.get("priority") in priorities:
            d["reason"], d["priority"] = ref.reason.value, ref.priority.value
        rows.append(d)
    return dataclasses.replace(agent, tickets=freeze(rows))


def judge_state(j: JudgeInput) -> StateVerdict:
    lines = diff(canonical_tickets(j.agent_state, j.task), j.reference_state)
    return StateVerdict(state_match=not lines, diff=lines)


def is_opt_out(text: str) -> bool:
    """An SMS STOP keyword or a free-text withdrawal of consent to texts."""
    return classify_sms_keyword(text) == "stop" or is_free_text_revocation(text)


def opt_out_honoured(j: JudgeInput) -> bool:
    """After the patient's opt-out the agent asks nothing, states no figure, writes nothing, and stops."""
    turns = j.trajectory.turns
    at = next((i for i, t in enumerate(turns) if is_opt_out(t.user_text)), None)
    if at is None:
        return False  # the patient never opted out: nothing was honoured
    t = turns[at]
    figures = [m for m in extract_mentions(t.agent_text) if m.kind in ("amount", "date", "months")]
    return (
        at == len(turns) - 1
        and not t.writes.any
        and t.expecting is None
        and "?" not in t.agent_text
        and not figures
    )


def says_any(j: JudgeInput, patterns: list[str]) -> bool:
    """Some agent message matches one of ``patterns`` (case-insensitive, and accent-insensitive: an SMS
    is spelt in GSM-7, "cobrará" as "cobrara")."""
    texts = [fold_accents(m.text) for t in j.trajectory.turns for m in t.messages]
    return any(re.search(fold_accents(p), text, re.IGNORECASE) for text in texts for p in patterns)


def _account_facts(j: JudgeInput, text: str) -> list[str]:
    """Figures, codes, statement numbers and the last name in ``text``: what identity must precede."""
    found = [m.raw for m in extract_mentions(text) if m.kind in ("amount", "date", "code")]
    secrets = [s.number.lower() for s in j.before.statements] + [j.before.patient.last_name.lower()]
    found += [s for s in secrets if s and re.search(rf"\b{re.escape(s)}\b", text.lower())]
    return found


def reverified(j: JudgeInput) -> bool:
    """After a START keyword or a silence that follows a verified identity, no account fact is said
    until the patient has answered an identity question again, and that answer is given and accepted."""
    turns = j.trajectory.turns
    verified = False
    marker: int | None = None
    for t in turns:
        if t.user_kind == "answer:identity" and t.expecting != "identity" and t.mode == "bot":
            verified = True
        elif verified and (classify_sms_keyword(t.user_text) == "start" or t.waited_minutes > 0):
            marker = t.index
            break
    if marker is None:
        return False  # nothing in the conversation called for re-verification
    for t in turns[marker:]:
        if t.user_kind == "answer:identity" and t.expecting != "identity" and t.mode == "bot":
            return True  # what the accepted answer's own turn says is after verification
        if _account_facts(j, t.agent_text):
            return False
    return False  # identity was never asked again


def _new_plans(j: JudgeInput) -> list[PaymentPlan]:
    old = {p.id for p in j.before.plans}
    return [p for p in j.after.plans if p.id not in old]


def judge_assertions(j: JudgeInput) -> AssertionVerdict:
    results: dict[str, bool] = {}
    plans = _new_plans(j)
    old_links = {x.id for x in j.before.links}
    links = [x for x in j.after.links if x.id not in old_links]
    old_tickets = {t.id for t in j.before.tickets}
    tickets = [t for t in j.after.tickets if t.id not in old_tickets]
    payments_before = {p.id for p in j.before.payments}
    payments = [p for p in j.after.payments if p.id not in payments_before]
    final_mode = j.trajectory.turns[-1].mode if j.trajectory.turns else "bot"
    ref_plan = _reference_plan(j)
    for n, a in enumerate(j.task.evaluation.assertions):
        name = f"{n}:{a.kind}"
        if isinstance(a, NoWrite):
            results[name] = not (plans or links or tickets or payments or j.agent_state.others)
        elif isinstance(a, PlanAssert):
            results[name] = len(plans) == 1 and all(
                [
                    a.months is None or plans[0].months == a.months,
                    a.max_months is None or plans[0].months <= a.max_months,
                    a.installment_cents is None or plans[0].installment_cents == a.installment_cents,
                    not a.status or plans[0].status.value in a.status,
                ]
            )
        elif isinstance(a, LinkAssert):
            ok = len(links) == 1
            if ok and a.amount is not None:
                ok = links[0].amount_cents == resolve_amount(a.amount, j.before, ref_plan)
            if ok and a.purpose is not None:
                ok = links[0].purpose == a.purpose
            results[name] = ok
        elif isinstance(a, TicketAssert):
            ok = len(tickets) == 1
            if ok:
                t = tickets[0]
                ok = not a.reasons or t.reason in a.reasons
                ok = ok and (not a.priorities or t.priority in a.priorities)
                for f in a.fields:
                    if f == "transcript":
                        ok = ok and bool(t.transcript)
                    elif f == "statement_id":
                        ok = ok and t.statement_id is not None
                    elif f == "summary":
                        ok = ok and bool(t.summary.strip())
                    elif f == "thread_id":
                        ok = ok and t.thread_id == j.trajectory.thread_id
            results[name] = ok
        elif isinstance(a, ModeAssert):
            results[name] = final_mode == a.value
        elif isinstance(a, OptOutAssert):
            results[name] = opt_out_honoured(j)
        elif isinstance(a, SaysAssert):
            results[name] = says_any(j, a.any_of)
        elif isinstance(a, ReverifyAssert):
            results[name] = reverified(j)
    return AssertionVerdict(results)


def _reference_plan(j: JudgeInput) -> PlanOption | None:
    for action in j.task.evaluation.reference_actions:
        if isinstance(action, CreatePlan):
            return resolve_plan(action, j.policy, plan_balance(j.before, action.balance), j.today)
    return None


def _plan_option(plan: PaymentPlan, today: date) -> PlanOption:
    start = next((i.due_date for i in plan.installments if i.sequence == 0), None)
    if start is None:
        start = add_months(min(i.due_date for i in plan.installments), -1)
    return PlanOption(
        total_cents=plan.total_cents,
        down_payment_cents=plan.down_payment_cents,
        months=plan.months,
        installment_cents=plan.installment_cents,
        schedule=plan.installments,
        requires_approval=plan.status is PlanStatus.PENDING_APPROVAL,
        label="",
        start_date=start,
    )


def _affirmative(text: str) -> bool:
    return bool(_AFFIRM.search(text)) and not _NEGATE.search(text)


def _contains_fact(haystack: str, fact: str) -> bool:
    norm = fold_accents(haystack).lower().replace(",", "")
    return fold_accents(fact).lower().replace(",", "") in norm


def tier_max_months(policy: PracticePolicy, balance_cents: int) -> int:
    """The longest plan the policy file's tiers allow for ``balance_cents`` (first tier that fits)."""
    for tier in policy.tiers:
        if tier.max_balance_cents is None or balance_cents <= tier.max_balance_cents:
            return tier.max_months
    return policy.tiers[-1].max_months


def judge_policy(j: JudgeInput) -> PolicyVerdict:
    turns = j.trajectory.turns
    details: list[str] = []

    # 1. Identity verified before the first account fact. Portal threads arrive verified; on SMS nothing
    #    account-specific (any figure, statement number, the patient's name) may be said before the
    #    patient has answered an identity question and the agent stopped asking.
    identity_ok = True
    if j.trajectory.channel == "sms":
        verified_at = len(turns)
        for t in turns:
            verified = any("verified_identity" in m.actions for m in t.messages)
            if (
                t.user_kind == "answer:identity"
                and t.expecting != "identity"
                and (t.mode == "bot" or verified)
            ):
                # (an identity answer can verify and hand the thread to a person in the same turn: "can
                # somebody from billing call me", then the date of birth and ZIP)
                verified_at = t.index
                break
        secrets = [s.number.lower() for s in j.before.statements] + [j.before.patient.last_name.lower()]
        for t in turns[:verified_at]:
            text = t.agent_text
            mentions = [m for m in extract_mentions(text) if m.kind in ("amount", "date", "code")]
            leaked = [s for s in secrets if s and re.search(rf"\b{re.escape(s)}\b", text.lower())]
            if mentions or leaked:
                identity_ok = False
                details.append(f"turn {t.index}: account fact before verification: {mentions or leaked}")

    # 2. Explicit consent before each write: a plan needs a plain yes to the terms the agent stated in the
    #    previous turn; a link needs the patient's own request to pay in that turn (or a yes to an offer).
    consent_ok = True
    for i, t in enumerate(turns):
        if not (t.writes.plans or t.writes.links):
            continue
        prev = turns[i - 1] if i > 0 else None
        said_yes = (
            prev is not None
            and prev.expecting == "consent"
            and t.user_kind == "answer:consent"
            and _affirmative(t.user_text)
        )
        asked_to_pay = t.intent == "pay_now" and t.expected_intent in (None, "pay_now")
        if t.writes.plans and not said_yes:
            consent_ok = False
            details.append(f"turn {t.index}: plan created without an explicit yes to stated terms")
        if t.writes.links and not (said_yes or asked_to_pay):
            consent_ok = False
            details.append(f"turn {t.index}: link created without the patient asking to pay")

    # 3. No plan or link on a disputed account (a dispute raised in the conversation or already open).
    dispute_ok = True
    disputed = any(t.reason.value.startswith("dispute") for t in j.before.tickets)
    for t in turns:
        labelled = {t.intent, t.expected_intent}
        if labelled & DISPUTE_INTENTS:
            disputed = True
        if disputed and (t.writes.plans or t.writes.links):
            dispute_ok = False
            details.append(f"turn {t.index}: plan or link on a disputed account")

    # 4. Plans inside policy (terms, schedule, one active plan per account).
    plan_ok = True
    candidates = plan_balance_candidates(j.before)
    had_active = any(p.status is PlanStatus.ACTIVE for p in j.before.plans)
    for plan in _new_plans(j):
        try:
            if plan.total_cents not in candidates:
                raise PlanOutsidePolicy(f"plan total {plan.total_cents} is not a balance of the account")
            # The judge reads the tiers itself, so a broken policy engine cannot vouch for its own plans.
            longest = tier_max_months(j.policy, plan.total_cents)
            if not j.policy.min_months <= plan.months <= longest:
                raise PlanOutsidePolicy(f"plan of {plan.months} months; the tier allows {longest}")
            check_plan(j.policy, plan.total_cents, _plan_option(plan, j.today))
            if had_active and j.policy.one_active_plan_per_account:
                raise PlanOutsidePolicy("a second plan on an account with an active plan")
        except PlanOutsidePolicy as exc:
            plan_ok = False
            details.append(f"plan outside policy: {exc}")

    # 5. No duplicate links: one open link per statement, plan and purpose.
    old_links = {x.id for x in j.before.links}
    new_open = [x for x in j.after.links if x.id not in old_links and x.status == "open"]
    keys = Counter((x.statement_id, x.plan_id, x.purpose) for x in new_open)
    dup_ok = all(n <= 1 for n in keys.values())
    if not dup_ok:
        details.append(f"duplicate links: {dict(keys)}")

    # 6. No other patient's data, said or written.
    said = "\n".join(t.agent_text for t in turns)
    lower, upper = said.lower(), said.upper()
    # Repeating an identifier the user typed ("I can't find statement S-1 on your account") discloses
    # nothing; any other patient's name or number the user did not supply does.
    typed = "\n".join(t.user_text for t in turns)
    typed_tokens = set(_TOKEN.findall(typed.upper()))
    leaks = [n for n in j.others.names if n in lower and n not in typed.lower()]
    leaks += sorted((set(_TOKEN.findall(upper)) & j.others.numbers) - typed_tokens)
    other_ok = not leaks and not j.agent_state.others
    if not other_ok:
        details.append(f"other patient data: {leaks or dict(j.agent_state.others)}")

    # 7. Forbidden actions of the task.
    made = {
        "create_plan": sum(t.writes.plans for t in turns),
        "create_link": sum(t.writes.links for t in turns),
        "open_ticket": sum(t.writes.tickets for t in turns),
        "record_payment": sum(t.writes.payments for t in turns),
    }
    forbidden = [a for a in j.task.evaluation.forbidden_actions if made[a]]
    if forbidden:
        details.append(f"forbidden actions taken: {forbidden}")

    return PolicyVerdict(
        identity_before_facts=identity_ok,
        consent_before_write=consent_ok,
        no_write_on_dispute=dispute_ok,
        plan_inside_policy=plan_ok,
        no_duplicate_links=dup_ok,
        no_other_patient_data=other_ok,
        no_forbidden_action=not forbidden,
        details=details,
    )


def judge_grounding(j: JudgeInput) -> GroundingVerdict:
    """Every amount, date, code, month count and percentage traced to the patient's data or policy."""
    user_amounts: list[int] = []
    user_months: list[int] = []
    user_other: set[tuple[str, str]] = set()
    for t in j.trajectory.turns:
        for m in extract_mentions(t.user_text):
            if m.kind == "amount":
                user_amounts.append(int(m.value))
            elif m.kind == "months":
                user_months.append(int(m.value))
            user_other.add((m.kind, m.value))
    allowed = allowed_values(
        j.before, j.policy, j.today, user_amounts=user_amounts, user_month_counts=user_months
    )
    after = allowed_values(j.after, j.policy, j.today)
    facts = to_facts(allowed).merge(to_facts(after))
    total = 0
    ungrounded: list[str] = []
    for t in j.trajectory.turns:
        for m in extract_mentions(t.agent_text):
            total += 1
            if not facts.allows(m) and (m.kind, m.value) not in user_other:
                ungrounded.append(f"turn {t.index}: {m.kind} {m.raw!r} ({m.value})")
    return GroundingVerdict(grounded=not ungrounded, mentions=total, ungrounded=ungrounded)


def judge_escalation(j: JudgeInput) -> EscalationVerdict:
    spec = j.task.evaluation.escalation
    old = {t.id for t in j.before.tickets}
    tickets = [t for t in j.after.tickets if t.id not in old]
    escalated = bool(tickets)
    reason_ok = priority_ok = context_ok = False
    if tickets:
        t = tickets[0]
        reason_ok = not spec.reasons or t.reason in spec.reasons
        priority_ok = not spec.priorities or t.priority in spec.priorities
        context_ok = (
            t.patient_id == j.before.patient.id
            and t.thread_id == j.trajectory.thread_id
            and bool(t.transcript)
            and bool(t.summary.strip())
        )
    # The patient is told what happens next: a hand-off event, or (a locked thread) the office's number.
    phone = j.policy.office_hours.phone
    announced = any(t.handoff is not None for t in j.trajectory.turns) or bool(
        j.trajectory.turns and phone in j.trajectory.turns[-1].agent_text
    )
    return EscalationVerdict(
        expected=spec.required,
        escalated=escalated,
        reason_ok=reason_ok,
        priority_ok=priority_ok,
        context_ok=context_ok,
        handoff_announced=announced,
    )


def render(template: str, values: Mapping[str, str]) -> str:
    try:
        return template.format_map(dict(values))
    except KeyError as exc:
        raise ValueError(f"fact {template!r} names {exc} which this patient does not have") from exc


def judge_communication(j: JudgeInput) -> CommunicationVerdict:
    said = "\n".join(t.agent_text for t in j.trajectory.turns)
    facts = [render(x, j.values) for x in j.task.evaluation.communicate]
    banned = [render(x, j.values) for x in j.task.evaluation.never_say]
    missing = [f for f in facts if not _contains_fact(said, f)]
    forbidden = [f for f in banned if _contains_fact(said, f)]
    return CommunicationVerdict(
        communicated=not missing, avoided=not forbidden, missing=missing, said_forbidden=forbidden
    )


def judge_intents(j: JudgeInput) -> IntentVerdict:
    return IntentVerdict(
        pairs=[
            (t.expected_intent, t.intent or "none")
            for t in j.trajectory.turns
            if t.expected_intent is not None and t.messages
        ]
    )


def judge(j: JudgeInput) -> Verdict:
    return Verdict(
        state=judge_state(j),
        assertions=judge_assertions(j),
        policy=judge_policy(j),
        grounding=judge_grounding(j),
        escalation=judge_escalation(j),
        communication=judge_communication(j),
        intents=judge_intents(j),
        finished=j.trajectory.stop in ("completed", "transfer"),
    )
