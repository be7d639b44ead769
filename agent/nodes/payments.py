"""``payment_link``: a link for the balance, a chosen amount within it, or the active plan's next
installment. The amount always comes from the ledger (or a patient's amount checked against it), never
from a model. No link is created while the account has an open dispute."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

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
from agent.state import ConversationState, Language, LinkOffer, Update
from agent.understanding.base import Intent
from guardrails.policy import prompt_pay_amount
from tools.payments.base import LinkPurpose, LinkRequest
from tools.platforms.models import InstallmentStatus, PlanStatus, StatementStatus


@dataclass(frozen=True)
class _Terms:
    amount_cents: int
    purpose: LinkPurpose
    what: str
    key: str
    statement_id: str | None = None
    plan_id: str | None = None
    target_cents: int = 0
    discounted: bool = False


def _what(purpose: LinkPurpose, discounted: bool, language: Language) -> str:
    es = language == "es"
    if discounted:
        return "saldo con descuento por pronto pago" if es else "balance with the prompt-pay discount"
    return {
        "balance": "saldo" if es else "balance",
        "partial": "pago parcial" if es else "partial payment",
        "plan_down_payment": "pago inicial del plan" if es else "plan down payment",
        "plan_installment": "cuota del plan" if es else "plan installment",
    }[purpose]


async def payment_link(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    """A link is written only when the patient asked to pay (``link_request == "pay"``) or said yes to
    the terms stated in the previous turn (``expecting == "link_offer"``); otherwise the terms are stated
    and the patient is asked."""
    c = ctx(runtime)
    platform = c.ports.platform
    pid = patient_id(state)
    language = lang(state)
    tools = [call("list_tickets"), call("list_payment_plans"), call("get_account_summary")]
    if await account_disputed(state, platform, pid):
        return reply(
            T.LINK_DISPUTED[language], [], {"link_offer": None, "expecting": None},
            tools=tools, guard=[{"check": "dispute", "verdict": "no_link"}],
        )  # fmt: skip
    accepted = state.get("expecting") == "link_offer" and work(state).get("intent") == Intent.AFFIRM.value
    numbers = [] if accepted else entity_list(state, "statement_numbers")
    named: str | None = None
    if numbers:
        number = str(numbers[0])
        tools.append(call("find_statement_by_number", number=number))
        statement = await platform.find_statement_by_number(pid, number)
        if statement is None:
            # Another patient's number reads exactly like one that does not exist; no link either way.
            return reply(
                T.OTHER_STATEMENT[language].format(number=number), [],
                {"link_offer": None, "expecting": None},
                tools=tools, guard=[{"check": "statement_ownership", "verdict": "refused"}],
            )  # fmt: skip
        named = statement.id
    plans = await platform.list_payment_plans(pid)
    summary = await platform.get_account_summary(pid)
    offered = state.get("link_offer") if accepted else None
    request = "pay" if accepted else (state.get("link_request") or "pay")
    amounts = entity_list(state, "amounts_cents")
    asked = [] if accepted else [a for a in amounts if isinstance(a, int) and a > 0]
    active = next((p for p in plans if p.status is PlanStatus.ACTIVE), None)
    facts = FactSet()
    terms: _Terms
    if active is not None and not asked and request != "discount" and offered is None:
        due = sorted(
            (i for i in active.installments if i.status is not InstallmentStatus.PAID),
            key=lambda i: i.sequence,
        )
        if not due:
            return reply(
                T.balance(summary.balance_cents, summary.open_statement_count, language),
                facts.amounts(summary.balance_cents).pairs(),
                {"link_offer": None},
                tools=tools,
            )
        inst = due[0]
        purpose: LinkPurpose = "plan_down_payment" if inst.sequence == 0 else "plan_installment"
        terms = _Terms(
            amount_cents=inst.amount_cents,
            purpose=purpose,
            what=_what(purpose, False, language),
            key=f"link:{pid}:plan:{active.id}:{inst.sequence}",
            plan_id=active.id,
            target_cents=inst.amount_cents,
        )
    else:
        balance = summary.balance_cents
        if balance <= 0:
            facts.amounts(balance)
            return reply(
                T.balance(balance, summary.open_statement_count, language),
                facts.pairs(),
                {"link_offer": None, "expecting": None},
                tools=tools,
            )
        tools.append(call("list_statements"))
        open_ = [
            s
            for s in await platform.list_statements(pid)
            if s.status is StatementStatus.OPEN and s.balance_cents > 0
        ]
        focus = next((s for s in open_ if s.id == (named or state.get("statement_id"))), None)
        if focus is None and len(open_) == 1:
            focus = open_[0]
        if request == "discount":
            focus = None  # the prompt-pay discount is on paying the whole balance today
        target = focus.balance_cents if focus is not None else balance
        statement_id = focus.id if focus is not None else None
        discounted = False
        if offered is not None:
            if offered["target_cents"] != target and offered["statement_id"] is None:
                target, statement_id = balance, None
            if offered["target_cents"] != target:
                # The balance moved since the offer: state the new terms and ask again.
                request, offered = "unclear", None
        if offered is not None:
            amount, purpose, discounted = offered["amount_cents"], offered["purpose"], offered["discounted"]
            statement_id = offered["statement_id"]
        elif request == "discount":
            pay_today = prompt_pay_amount(c.ports.policy, balance)
            amount, purpose, discounted = (pay_today or balance), "balance", pay_today is not None
            facts.amounts(balance, amount)
            offer: LinkOffer = {
                "amount_cents": amount, "purpose": purpose, "statement_id": None,
                "target_cents": target, "discounted": discounted,
            }  # fmt: skip
            return reply(
                T.discount_answer(balance, pay_today, language),
                facts.pairs(),
                {"link_offer": offer, "expecting": "link_offer"},
                tools=tools,
                guard=[{"check": "discount", "verdict": "policy_terms_offered"}],
                suggestions=T.YES_NO[language],
            )
        elif asked:
            if asked[0] > target:
                facts.amounts(target)
                return reply(T.link_over_balance(target, language), facts.pairs(), tools=tools)
            smallest = c.ports.policy.min_online_payment_cents
            if asked[0] < min(smallest, target):
                # "make me a 1 cent pay link": no card payment that small can be taken.
                facts.amounts(smallest, target)
                return reply(T.link_under_minimum(smallest, target, language), facts.pairs(), tools=tools)
            amount, purpose = asked[0], ("balance" if asked[0] == target else "partial")
        else:
            amount, purpose = target, "balance"
        terms = _Terms(
            amount_cents=amount,
            purpose=purpose,
            what=_what(purpose, discounted, language),
            key=(
                f"link:{pid}:{statement_id or 'account'}:{purpose}:{amount}:{target}:{c.today().isoformat()}"
            ),
            statement_id=statement_id,
            target_cents=target,
            discounted=discounted,
        )
    if request != "pay":
        # Nothing the patient said is a go-ahead for this link yet: state the terms and ask.
        facts.amounts(terms.amount_cents)
        text = T.link_offer(terms.amount_cents, terms.what, language)
        if terms.plan_id is None and terms.purpose == "balance":
            facts.amounts(summary.balance_cents)
            text = T.balance(summary.balance_cents, summary.open_statement_count, language) + " " + text
        pending_link: LinkOffer | None = (
            None
            if terms.plan_id is not None or terms.purpose not in ("balance", "partial")
            else {
                "amount_cents": terms.amount_cents,
                "purpose": "balance" if terms.purpose == "balance" else "partial",
                "statement_id": terms.statement_id,
                "target_cents": terms.target_cents,
                "discounted": terms.discounted,
            }
        )
        return reply(
            text,
            facts.pairs(),
            {"link_offer": pending_link, "expecting": "link_offer"},
            tools=tools,
            suggestions=T.YES_NO[language],
        )
    link = await c.ports.gateway.create_link(
        LinkRequest(
            patient_id=pid,
            statement_id=terms.statement_id,
            plan_id=terms.plan_id,
            amount_cents=terms.amount_cents,
            purpose=terms.purpose,
            description=terms.what,
            idempotency_key=terms.key,
        )
    )
    c.side_effect_done("payment_link")
    tools.append(
        call("create_payment_link", link_id=link.id, amount_cents=terms.amount_cents, purpose=terms.purpose)
    )
    expires = link.expires_at.astimezone(ZoneInfo(c.ports.policy.office_hours.timezone)).date()
    facts.amounts(terms.amount_cents).dates(expires)
    return reply(
        T.link_created(terms.amount_cents, link.url, expires, terms.what, language),
        facts.pairs(),
        {"expecting": None, "link_offer": None, "link_request": None},
        tools=tools,
        actions=["created_payment_link"],
        reads=[f"link:{link.id}"],
    )
