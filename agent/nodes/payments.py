"""``payment_link``: a link for the balance, a chosen amount within it, or the active plan's next
installment. The amount always comes from the ledger (or a patient's amount checked against it), never
from a model. No link is created while the account has an open dispute."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from langgraph.runtime import Runtime

from agent import templates as T
from agent.context import AgentContext
from agent.facts import FactSet
from agent.nodes.common import Update, call, ctx, entity_list, lang, patient_id, reply
from agent.state import AgentState
from tools.payments.base import LinkPurpose, LinkRequest
from tools.platforms.models import InstallmentStatus, PlanStatus, StatementStatus, TicketReason, TicketStatus

DISPUTE_REASONS = frozenset({TicketReason.DISPUTE_CHARGE, TicketReason.DISPUTE_ALREADY_PAID})


async def payment_link(state: AgentState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    platform = c.ports.platform
    pid = patient_id(state)
    language = lang(state)
    tools = [call("list_tickets"), call("list_payment_plans"), call("get_account_summary")]
    tickets = await platform.list_tickets(pid)
    if state.get("disputed") or any(
        t.reason in DISPUTE_REASONS and t.status is not TicketStatus.RESOLVED for t in tickets
    ):
        return reply(
            T.LINK_DISPUTED[language], [], tools=tools, guard=[{"check": "dispute", "verdict": "no_link"}]
        )
    plans = await platform.list_payment_plans(pid)
    summary = await platform.get_account_summary(pid)
    asked = [a for a in entity_list(state, "amounts_cents") if isinstance(a, int) and a > 0]
    active = next((p for p in plans if p.status is PlanStatus.ACTIVE), None)
    facts = FactSet()
    statement_id: str | None = None
    plan_id: str | None = None
    purpose: LinkPurpose
    if active is not None and not asked:
        due = sorted(
            (i for i in active.installments if i.status is not InstallmentStatus.PAID),
            key=lambda i: i.sequence,
        )
        if not due:
            return reply(
                T.balance(summary.balance_cents, summary.open_statement_count, language),
                facts.amounts(summary.balance_cents).pairs(),
                tools=tools,
            )
        inst = due[0]
        amount = inst.amount_cents
        plan_id = active.id
        purpose = "plan_down_payment" if inst.sequence == 0 else "plan_installment"
        what = (
            ("pago inicial del plan" if language == "es" else "plan down payment")
            if inst.sequence == 0
            else ("cuota del plan" if language == "es" else "plan installment")
        )
        key = f"link:{pid}:plan:{active.id}:{inst.sequence}"
    else:
        balance = summary.balance_cents
        if balance <= 0:
            facts.amounts(balance)
            return reply(
                T.balance(balance, summary.open_statement_count, language), facts.pairs(), tools=tools
            )
        tools.append(call("list_statements"))
        open_ = [
            s
            for s in await platform.list_statements(pid)
            if s.status is StatementStatus.OPEN and s.balance_cents > 0
        ]
        focus = next((s for s in open_ if s.id == state.get("statement_id")), None)
        if focus is None and len(open_) == 1:
            focus = open_[0]
        target = focus.balance_cents if focus is not None else balance
        statement_id = focus.id if focus is not None else None
        if asked:
            if asked[0] > target:
                facts.amounts(target)
                return reply(T.link_over_balance(target, language), facts.pairs(), tools=tools)
            amount, purpose = asked[0], ("balance" if asked[0] == target else "partial")
        else:
            amount, purpose = target, "balance"
        what = (
            ("saldo" if language == "es" else "balance")
            if purpose == "balance"
            else ("pago parcial" if language == "es" else "partial payment")
        )
        key = f"link:{pid}:{statement_id or 'account'}:{purpose}:{amount}:{target}:{c.today().isoformat()}"
    link = await c.ports.gateway.create_link(
        LinkRequest(
            patient_id=pid,
            statement_id=statement_id,
            plan_id=plan_id,
            amount_cents=amount,
            purpose=purpose,
            description=what,
            idempotency_key=key,
        )
    )
    c.side_effect_done("payment_link")
    tools.append(call("create_payment_link", link_id=link.id, amount_cents=amount, purpose=purpose))
    expires = link.expires_at.astimezone(ZoneInfo(c.ports.policy.office_hours.timezone)).date()
    facts.amounts(amount).dates(expires)
    return reply(
        T.link_created(amount, link.url, expires, what, language),
        facts.pairs(),
        tools=tools,
        actions=["created_payment_link"],
        reads=[f"link:{link.id}"],
        expecting=None,
    )
