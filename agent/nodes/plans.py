"""Payment plans: ``negotiate_plan`` (the policy engine's offers, counter-offers, explicit consent) and
``create_plan`` (the write, in its own node after consent). A plan above the auto-approve ceiling waits for
staff on its own small graph (:mod:`agent.nodes.approval`).

Idempotency keys derive from domain ids (patient, statements, terms), so a node that re-runs from its
start after a crash or a resume finds the record it already made instead of making a second one.
"""

from __future__ import annotations

import re
from datetime import date

from langgraph.runtime import Runtime

from agent import templates as T
from agent.context import AgentContext
from agent.facts import FactSet
from agent.nodes.common import (
    account_disputed,
    call,
    ctx,
    entity_list,
    lang,
    patient_id,
    reply,
    work,
)
from agent.outreach.replies import offered_terms
from agent.state import ConversationState, Language, OfferOption, PendingOffer, ToolCall, Turn, Update
from agent.understanding.base import Intent
from agent.understanding.cues import (
    asks_the_balance_too,
    plan_by_length,
    refuses_down_payment,
    refuses_named_terms,
)
from agent.understanding.text import normalize
from guardrails.policy import (
    PlanOption,
    check_can_open_plan,
    check_plan,
    evaluate_counter,
    offer_plans,
    required_down_payment,
)
from tools.errors import ActivePlanExists, PlanOutsidePolicy
from tools.platforms.models import (
    Installment,
    InstallmentStatus,
    PaymentPlan,
    PlanRequest,
    PlanStatus,
    StatementStatus,
)

# Terms outside the policy asked for this many times in a row bring the offer of a person.
INSISTED = 2


def to_offer(option: PlanOption) -> OfferOption:
    return {
        "label": option.label,
        "total_cents": option.total_cents,
        "down_payment_cents": option.down_payment_cents,
        "months": option.months,
        "installment_cents": option.installment_cents,
        "schedule": [(i.sequence, i.due_date.isoformat(), i.amount_cents) for i in option.schedule],
        "requires_approval": option.requires_approval,
        "start_date": option.start_date.isoformat(),
    }


def from_offer(offer: OfferOption) -> PlanOption:
    schedule = tuple(
        Installment(sequence=seq, due_date=date.fromisoformat(due), amount_cents=cents)
        for seq, due, cents in offer["schedule"]
    )
    return PlanOption(
        total_cents=offer["total_cents"],
        down_payment_cents=offer["down_payment_cents"],
        months=offer["months"],
        installment_cents=offer["installment_cents"],
        schedule=schedule,
        requires_approval=offer["requires_approval"],
        label=offer["label"],
        start_date=date.fromisoformat(offer["start_date"]),
    )


def _offer_facts(facts: FactSet, balance: int, offers: list[OfferOption]) -> None:
    facts.amounts(balance)
    for o in offers:
        facts.amounts(o["down_payment_cents"], o["installment_cents"], *(s[2] for s in o["schedule"]))
        facts.months(o["months"], o["months"] - 1)
        facts.dates(*(date.fromisoformat(s[1]) for s in o["schedule"]))


def label(offer: OfferOption, language: Language) -> str:
    """The offer's terms in the patient's language (the policy's label is the English one)."""
    final = max(offer["schedule"], key=lambda item: item[0])[2]
    return T.plan_label(
        offer["down_payment_cents"], offer["months"], offer["installment_cents"], final, language
    )


def _first_due(offer: OfferOption) -> date:
    return next(date.fromisoformat(due) for seq, due, _ in offer["schedule"] if seq == 1)


def _pick(state: ConversationState, pending: PendingOffer) -> int | None:
    options = pending["options"]
    for ref in entity_list(state, "line_refs"):
        if isinstance(ref, dict) and isinstance(ref.get("ordinal"), int):
            ordinal = ref["ordinal"]
            if ordinal == -1:
                return len(options) - 1
            if 1 <= ordinal <= len(options):
                return int(ordinal) - 1
    text = (state.get("text") or "").strip().lower().removeprefix("option").strip(" .#")
    if text.isdigit() and 1 <= int(text) <= len(options):
        return int(text) - 1
    by_length = plan_by_length(state.get("text") or "")
    if by_length is not None and options:
        months = [o["months"] for o in options]
        return months.index(min(months) if by_length == "shortest" else max(months))
    return None


def _plan_exists(plans: list[PaymentPlan], language: Language, tools: list[ToolCall]) -> Update:
    """One plan per account: the active plan's terms (its monthly amount and next installment due), then
    how to pay or change it."""
    active = next((p for p in plans if p.status is PlanStatus.ACTIVE), None)
    if active is None:
        return reply(T.PLAN_EXISTS[language], [], {"expecting": None}, tools=tools)
    unpaid = sorted(
        (i for i in active.installments if i.status is InstallmentStatus.SCHEDULED), key=lambda i: i.due_date
    )
    nxt = unpaid[0] if unpaid else None
    left = sum(i.amount_cents for i in unpaid)
    facts = FactSet().amounts(active.installment_cents, left)
    if nxt is not None:
        facts.amounts(nxt.amount_cents).dates(nxt.due_date)
    terms = T.plan_in_place(
        active.installment_cents,
        nxt.due_date if nxt else None,
        nxt.amount_cents if nxt else None,
        language,
        left_cents=left,
        left_count=len(unpaid),
    )
    return reply(f"{terms} {T.PLAN_EXISTS[language]}", facts.pairs(), {"expecting": None}, tools=tools)


async def negotiate_plan(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    policy = c.ports.policy
    pid = patient_id(state)
    language = lang(state)
    intent = Intent(work(state).get("intent") or Intent.PAYMENT_PLAN.value)
    pending = state.get("pending")
    today = c.today()
    tools = []
    facts = FactSet()
    # The balance asked beside terms in the message that opens the negotiation ("how much is my bill and
    # could I split it into 3 payments?"): said before the answer to the terms.
    balance_asked = pending is None and asks_the_balance_too(state.get("text") or "")

    if pending is None:
        tools.append(call("list_tickets"))
        if await account_disputed(state, c.ports.platform, pid):
            return reply(T.PLAN_DISPUTED[language], [], {"expecting": None}, tools=tools)
        tools.append(call("get_account_summary"))
        summary = await c.ports.platform.get_account_summary(pid)
        plans = await c.ports.platform.list_payment_plans(pid)
        tools.append(call("list_payment_plans"))
        try:
            check_can_open_plan(policy, has_active_plan=summary.has_active_plan)
        except ActivePlanExists:
            return _plan_exists(plans, language, tools)
        if any(p.status is PlanStatus.PENDING_APPROVAL for p in plans):
            text = (
                "Su plan ya está pendiente de aprobación por nuestro equipo."
                if language == "es"
                else "Your plan is already waiting for approval by our billing staff."
            )
            return reply(text, [], tools=tools)
        balance = summary.balance_cents
        if balance < policy.min_plan_balance_cents:
            facts.amounts(max(balance, 0), policy.min_plan_balance_cents)
            text = T.plan_too_small(max(balance, 0), policy.min_plan_balance_cents, language)
            if _asked_again(state):
                # A plan asked for again after hearing there can be none: a person can look at it.
                return reply(
                    T.PLAN_TOO_SMALL_PERSON[language],
                    facts.pairs(),
                    {"expecting": "human_offer"},
                    tools=tools,
                )
            return reply(text, facts.pairs(), {"expecting": "link_offer"}, tools=tools)
        tools.append(call("list_statements"))
        statements = await c.ports.platform.list_statements(pid)
        ids = sorted(s.id for s in statements if s.status is StatementStatus.OPEN and s.balance_cents > 0)
        offers = [to_offer(o) for o in offer_plans(policy, balance, today)]
        pending = {
            "statement_ids": ids,
            "balance_cents": balance,
            "options": offers,
            "chosen": None,
            "stage": "choose",
        }
        offered = offered_terms(state.get("outreach"), pid, policy, balance, today)
        if offered is not None:  # an outreach text's plan leads the options (agent.outreach.replies)
            option, accepted = offered
            lead = to_offer(option)
            pending["options"] = offers = [lead, *(o for o in offers if o["months"] != lead["months"])]
            pending["offered_first"] = True
            if accepted:
                # YES to the text picks its plan; the write still waits for this verified patient's yes
                # to the terms stated here (whoever read the text may not be the patient).
                pending = {**pending, "chosen": 0, "stage": "consent"}
                _offer_facts(facts, balance, [lead])
                text = T.plan_confirm(
                    label(lead, language), _first_due(lead), lead["requires_approval"], language
                )
                return reply(
                    text,
                    facts.pairs(),
                    {"pending": pending, "expecting": "consent", "outreach": None},
                    tools=tools,
                    reads=[f"statement:{i}" for i in ids],
                )
        if not _terms(state):
            _offer_facts(facts, balance, offers)
            text = T.plan_offers(balance, [label(o, language) for o in offers], language)
            down = required_down_payment(policy, balance)
            if down > 0 and refuses_down_payment(state.get("text") or ""):
                # Nothing down was asked for: the policy's down payment first, and the ask counts as a
                # refusal of the offers (asked again, a person is offered).
                facts.amounts(down)
                text = T.plan_down_required(down, language) + " " + text
                pending = {**pending, "refusals": 1}
            return reply(
                text,
                facts.pairs(),
                {"pending": pending, "expecting": "plan_choice"},
                tools=tools,
                reads=[f"statement:{i}" for i in ids],
                suggestions=[f"Option {i}" for i in range(1, len(offers) + 1)],
            )

    balance = pending["balance_cents"]
    no_down = refuses_down_payment(state.get("text") or "") and required_down_payment(policy, balance) > 0
    if intent is Intent.DENY and not _terms(state) and not no_down:
        if pending["stage"] == "consent":
            pending = {**pending, "stage": "choose", "chosen": None}
            _offer_facts(facts, balance, pending["options"])
            text = (
                T.PLAN_DECLINED[language]
                + " "
                + T.plan_offers(balance, [label(o, language) for o in pending["options"]], language)
            )
            return reply(text, facts.pairs(), {"pending": pending, "expecting": "plan_choice"}, tools=tools)
        return reply(T.CANCELLED[language], [], {"pending": None, "expecting": None}, tools=tools)

    chosen = _pick(state, pending)
    if (
        pending["stage"] == "consent"
        and intent is Intent.AFFIRM
        and pending["chosen"] is not None
        and chosen in (None, pending["chosen"])  # "option 3" after terms for option 1 is a new choice
    ):
        return {"work": {"consent": True, "tools": tools}}

    terms = _terms(state)
    if chosen is None and terms is not None:
        monthly, months = terms
        outcome = evaluate_counter(policy, balance, today, monthly, months)
        if outcome.accepted is not None:
            offer = to_offer(outcome.accepted)
            pending = {**pending, "options": [offer], "chosen": 0, "stage": "consent"}
            _offer_facts(facts, balance, [offer])
            terms_text = label(offer, language)
            text = T.plan_confirm(terms_text, _first_due(offer), offer["requires_approval"], language)
            if balance_asked:
                text = T.balance(balance, len(pending["statement_ids"]), language) + " " + text
            return reply(text, facts.pairs(), {"pending": pending, "expecting": "consent"}, tools=tools)
        # The alternatives are the policy's own nearest plans, never terms computed from the ask.
        alternatives = [to_offer(o) for o in outcome.alternatives] or pending["options"]
        refusals = pending.get("refusals", 0) + 1
        pending = {
            **pending,
            "options": alternatives,
            "chosen": None,
            "stage": "choose",
            "refusals": refusals,
            "offered_first": False,
        }
        _offer_facts(facts, balance, alternatives)
        facts.text(outcome.reason)
        text = T.plan_counter_rejected(outcome.reason, [label(o, language) for o in alternatives], language)
        if balance_asked:
            text = T.balance(balance, len(pending["statement_ids"]), language) + " " + text
        return _insisted(text, facts, pending, language, tools)
    if (
        chosen is None
        and intent is Intent.AFFIRM
        and (len(pending["options"]) == 1 or pending.get("offered_first"))
    ):
        chosen = 0  # the only option, or the plan the practice's text offered ("ok that works, sign me up")
    if chosen is None:
        # Nothing chosen this turn: whatever was awaiting consent is withdrawn, so a later "yes" (or an
        # option number read as one) can never consent to terms the patient moved away from. Asking for a
        # plan again instead of picking one ("no, I need 8 payments", "sixty months, like I said") is
        # another refusal of the offers, whether or not its terms could be read.
        refused = (intent is Intent.PAYMENT_PLAN and _insists(state)) or no_down
        refusals = pending.get("refusals", 0) + (1 if refused else 0)
        pending = {**pending, "stage": "choose", "chosen": None, "refusals": refusals}
        _offer_facts(facts, balance, pending["options"])
        opening = T.PLAN_WHICH[language]
        if no_down:
            down = required_down_payment(policy, balance)
            facts.amounts(down)
            opening = T.plan_down_required(down, language)
        text = (
            opening + " " + T.plan_offers(balance, [label(o, language) for o in pending["options"]], language)
        )
        return _insisted(text, facts, pending, language, tools)
    offer = pending["options"][chosen]
    pending = {**pending, "chosen": chosen, "stage": "consent"}
    _offer_facts(facts, balance, [offer])
    text = T.plan_confirm(label(offer, language), _first_due(offer), offer["requires_approval"], language)
    return reply(text, facts.pairs(), {"pending": pending, "expecting": "consent"}, tools=tools)


def _insisted(
    text: str, facts: FactSet, pending: PendingOffer, language: Language, tools: list[ToolCall]
) -> Update:
    """The offers again; once the patient has turned them down ``INSISTED`` times, with the question
    whether a person should look at it (a yes opens the ticket; an option number still picks)."""
    if pending.get("refusals", 0) < INSISTED:
        return reply(text, facts.pairs(), {"pending": pending, "expecting": "plan_choice"}, tools=tools)
    # The patient keeps asking for what the policy cannot give: a person can look at it.
    text += " " + T.PLAN_OFFER_PERSON[language]
    return reply(text, facts.pairs(), {"pending": pending, "expecting": "human_offer"}, tools=tools)


_RE_INSISTS = re.compile(
    r"\b(?:no|nope|nah|not|nothing|only|still|insist\w*|again|told you|like i said|already said|has to be"
    r"|have to be|need|needs|must|can ?t|cannot|won ?t|less|lower|smaller|longer|more months|cheaper"
    r"|solo|todavia|necesito|menos)\b"
)


def _insists(state: ConversationState) -> bool:
    """Whether a plan turn that picked nothing turns the offers down ("no, I need 8 payments", "sixty
    months, like I said") rather than asks about them or accepts one in words ("fine, the longest")."""
    return bool(_RE_INSISTS.search(normalize(state.get("text") or "").replace("'", " ")))


def _asked_again(state: ConversationState) -> bool:
    """The patient asked for a plan on an earlier turn too (this turn's reading is last), whatever came
    between: a "no" (or "no I can't") to the link offered instead does not make the next ask a first one."""
    history = state.get("intent_history") or []
    return Intent.PAYMENT_PLAN.value in history[:-1]


def _terms(state: ConversationState) -> tuple[int | None, int | None] | None:
    amounts = [a for a in entity_list(state, "amounts_cents") if isinstance(a, int) and a > 0]
    counts = [m for m in entity_list(state, "month_counts") if isinstance(m, int) and m > 0]
    if refuses_named_terms(state.get("text") or ""):
        # "six months is impossible for me", "not 6 months, 12": the terms named first are turned down,
        # never asked for; only terms named after them (if any) are the patient's own.
        amounts, counts = amounts[1:], counts[1:]
    if not amounts and not counts:
        return None
    return (amounts[0] if amounts else None, counts[0] if counts else None)


# The negotiation is over (a plan made, or none possible): nothing is offered or awaited any more.
_CLOSED: Update = {"pending": None, "expecting": None}


def plan_key(pid: str, statement_ids: list[str], offer: OfferOption) -> str:
    return (
        f"plan:{pid}:{'+'.join(sorted(statement_ids))}:{offer['total_cents']}:{offer['months']}:"
        f"{offer['installment_cents']}:{offer['down_payment_cents']}"
    )


async def create_plan(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    policy = c.ports.policy
    pid = patient_id(state)
    language: Language = lang(state)
    pending = state.get("pending")
    if pending is None or pending["chosen"] is None:
        raise RuntimeError("create_plan without a chosen option")  # routing guarantees it
    offer = pending["options"][pending["chosen"]]
    option = from_offer(offer)
    tools = [call("get_account_summary")]
    summary = await c.ports.platform.get_account_summary(pid)
    key = plan_key(pid, pending["statement_ids"], offer)
    existing = [p for p in await c.ports.platform.list_payment_plans(pid) if p.idempotency_key == key]
    if not existing and await account_disputed(state, c.ports.platform, pid):
        tools.append(call("list_tickets"))
        return reply(T.PLAN_DISPUTED[language], [], _CLOSED, consent=False, tools=tools)
    try:
        if not existing:
            if summary.balance_cents != pending["balance_cents"]:
                raise PlanOutsidePolicy("the balance changed since the offer")
            check_plan(policy, summary.balance_cents, option)
            check_can_open_plan(policy, has_active_plan=summary.has_active_plan)
    except ActivePlanExists:
        return reply(T.PLAN_EXISTS[language], [], _CLOSED, consent=False, tools=tools)
    except PlanOutsidePolicy:
        # The terms no longer hold: offer afresh, as if the patient had just asked for a plan.
        asked: Turn = {**work(state), "intent": Intent.PAYMENT_PLAN.value, "entities": {}}
        reoffer = await negotiate_plan({**state, "pending": None, "work": asked}, runtime)
        turn = reoffer.get("work")
        if isinstance(turn, dict):
            turn["consent"] = False
        return reoffer
    plan = await c.ports.platform.create_payment_plan(
        pid,
        PlanRequest(
            statement_ids=tuple(pending["statement_ids"]),
            total_cents=option.total_cents,
            down_payment_cents=option.down_payment_cents,
            months=option.months,
            installment_cents=option.installment_cents,
            installments=option.schedule,
            requires_approval=option.requires_approval,
            idempotency_key=key,
        ),
    )
    c.side_effect_done("create_plan")
    tools.append(
        call("create_payment_plan", plan_id=plan.id, months=plan.months, total_cents=plan.total_cents)
    )
    facts = FactSet()
    _offer_facts(facts, pending["balance_cents"], [offer])
    if plan.status is PlanStatus.PENDING_APPROVAL:
        return reply(
            T.plan_pending(label(offer, language), language),
            facts.pairs(),
            _CLOSED,
            consent=False,
            approval_plan_id=plan.id,
            tools=tools,
            actions=["created_plan", "requested_approval"],
        )
    return reply(
        T.plan_created(label(offer, language), _first_due(offer), language),
        facts.pairs(),
        _CLOSED,
        consent=False,
        tools=tools,
        actions=["created_plan"],
    )
