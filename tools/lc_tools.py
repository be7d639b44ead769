"""The platform operations as LangChain tools, for a model that may call tools.

The patient is never a model-visible argument: every tool reads the thread's *verified* patient from the
graph state injected at call time (``ToolRuntime``), and its ports from the run context. A model can only
choose what a patient may choose (which statement, an amount); asking about another patient's statement
reads exactly like asking about one that does not exist.

``READ_TOOLS`` may be offered to a model. ``WRITE_TOOLS`` are listed apart: the agent runs writes from
deterministic nodes after policy checks and consent, and binds them to a model only behind those checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast

from langchain_core.tools import BaseTool, tool
from langgraph.prebuilt import ToolRuntime

from tools.errors import InvalidAmount, StatementNotFound
from tools.kb import KnowledgeBase
from tools.payments.base import LinkRequest, PaymentGateway
from tools.platforms.base import BillingPlatform
from tools.platforms.models import StatementStatus


class ToolPorts(Protocol):
    """What a tool needs from the run context (``agent.context.AgentContext`` provides it)."""

    @property
    def platform(self) -> BillingPlatform: ...

    @property
    def gateway(self) -> PaymentGateway: ...

    @property
    def kb(self) -> KnowledgeBase: ...


# Unparameterised: pydantic builds the (hidden) argument's schema, and a Protocol is no isinstance target.
Runtime = ToolRuntime[Any, Any]


def ports(runtime: Runtime) -> ToolPorts:
    return cast(ToolPorts, runtime.context)  # the agent passes an AgentContext, which provides ToolPorts


class NoVerifiedPatient(PermissionError):
    """A tool ran on a thread whose patient is not verified."""


def verified_patient(runtime: Runtime) -> str:
    state: Mapping[str, Any] = runtime.state
    pid = state.get("patient_id")
    if state.get("identity") != "verified" or not isinstance(pid, str) or not pid:
        raise NoVerifiedPatient("tools run only for the verified patient of the thread")
    return pid


@tool
async def get_account_balance(runtime: Runtime) -> dict[str, int | bool]:
    """Get the patient's current account balance in cents (negative means a credit), the number of open
    statements, and whether a payment plan is active. Use it when the patient asks what they owe."""
    s = await ports(runtime).platform.get_account_summary(verified_patient(runtime))
    return {
        "balance_cents": s.balance_cents,
        "open_statements": s.open_statement_count,
        "credit_cents": s.credit_cents,
        "has_active_plan": s.has_active_plan,
    }


@tool
async def list_statements(runtime: Runtime) -> list[dict[str, Any]]:
    """List the patient's statements, newest first: number, date, due date, balance in cents, status."""
    rows = await ports(runtime).platform.list_statements(verified_patient(runtime))
    return [
        {
            "number": s.number,
            "statement_date": s.statement_date.isoformat(),
            "due_date": s.due_date.isoformat(),
            "balance_cents": s.balance_cents,
            "status": s.status.value,
        }
        for s in rows
    ]


@tool
async def get_statement_details(statement_number: str, runtime: Runtime) -> dict[str, Any]:
    """Get one statement by its number (as printed on the bill, e.g. "S-104233") with every line item:
    service date, code, description, billed, allowed, insurance paid and the patient's share, in cents."""
    st = await ports(runtime).platform.find_statement_by_number(verified_patient(runtime), statement_number)
    if st is None:
        raise StatementNotFound(f"no statement {statement_number} on this account")
    return {
        "number": st.number,
        "balance_cents": st.balance_cents,
        "lines": [
            {
                "service_date": li.service_date.isoformat(),
                "code": li.code,
                "description": li.description,
                "billed_cents": li.billed_cents,
                "allowed_cents": li.allowed_cents,
                "insurance_paid_cents": li.insurance_paid_cents,
                "patient_cents": li.patient_responsibility_cents,
            }
            for li in st.line_items
        ],
    }


@tool
async def list_claims(runtime: Runtime) -> list[dict[str, Any]]:
    """List the patient's insurance claims: payer, status, service date, amounts and denial codes."""
    rows = await ports(runtime).platform.list_claims(verified_patient(runtime))
    return [
        {
            "payer": c.payer_name,
            "status": c.status.value,
            "service_date": c.service_date.isoformat(),
            "billed_cents": c.billed_cents,
            "paid_cents": c.paid_cents,
            "denial_codes": [f"{d.group_code.value}-{d.carc}" for d in c.denial_codes],
        }
        for c in rows
    ]


@tool
def search_practice_documents(query: str, runtime: Runtime) -> list[dict[str, str]]:
    """Search the practice's billing documents (billing policy, ways to pay, financial assistance,
    insurance terms, claim glossary). Cite the returned title when you use a passage."""
    return [
        {"title": p.title, "heading": p.heading, "text": p.text} for p in ports(runtime).kb.search(query, k=3)
    ]


@tool
async def create_payment_link(amount_cents: int, runtime: Runtime) -> dict[str, Any]:
    """Create a secure payment link for an amount in cents, at most the patient's balance. Only after the
    patient asked to pay."""
    pid = verified_patient(runtime)
    summary = await ports(runtime).platform.get_account_summary(pid)
    if not 0 < amount_cents <= summary.balance_cents:
        raise InvalidAmount("the amount must be more than zero and at most the balance")
    open_ = [
        s
        for s in await ports(runtime).platform.list_statements(pid)
        if s.status is StatementStatus.OPEN and s.balance_cents > 0
    ]
    statement_id = open_[0].id if len(open_) == 1 else None
    purpose = "balance" if amount_cents == summary.balance_cents else "partial"
    link = await ports(runtime).gateway.create_link(
        LinkRequest(
            patient_id=pid,
            statement_id=statement_id,
            plan_id=None,
            amount_cents=amount_cents,
            purpose=purpose,
            description=purpose,
            idempotency_key=f"link:{pid}:{statement_id or 'account'}:{purpose}:{amount_cents}:"
            f"{summary.balance_cents}:{runtime.tool_call_id}",
        )
    )
    return {"url": link.url, "amount_cents": link.amount_cents, "expires_at": link.expires_at.isoformat()}


READ_TOOLS: tuple[BaseTool, ...] = (
    get_account_balance,
    list_statements,
    get_statement_details,
    list_claims,
    search_practice_documents,
)
WRITE_TOOLS: tuple[BaseTool, ...] = (create_payment_link,)
