"""``fetch_statement`` and ``claims`` read the ledger for the verified patient; ``explain`` turns what they
read into plain language with the insurance math. Every figure comes from the ledger records read here."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from langgraph.runtime import Runtime

from agent import templates as T
from agent.context import AgentContext
from agent.facts import FactSet
from agent.nodes.common import answer, call, ctx, entity_list, lang, patient_id, work
from agent.service_names import named
from agent.state import ConversationState, Records, Update
from agent.understanding.base import Intent
from agent.understanding.cues import asks_about_each_statement, statement_pointer
from tools.errors import StatementNotFound
from tools.platforms.models import (
    Claim,
    ClaimStatus,
    Coverage,
    CoverageRank,
    LineItem,
    Statement,
    StatementStatus,
    StatementSummary,
)

MAX_LINES = {"portal": 6, "sms": 2}


async def fetch_statement(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    platform = c.ports.platform
    pid = patient_id(state)
    intent = Intent(work(state).get("intent") or Intent.BALANCE.value)
    tools = []
    reads: list[str] = []

    numbers = entity_list(state, "statement_numbers")
    statement: Statement | None = None
    if numbers:
        number = str(numbers[0])
        tools.append(call("find_statement_by_number", number=number))
        statement = await platform.find_statement_by_number(pid, number)
        if statement is None:
            # Another patient's number reads exactly like a number that does not exist.
            return {
                "work": answer(
                    T.OTHER_STATEMENT[lang(state)].format(number=number),
                    [],
                    tools=tools,
                    guard=[{"check": "statement_ownership", "verdict": "refused"}],
                )
            }
    summaries: list[StatementSummary] | None = None
    if statement is None and intent is not Intent.INSURANCE_TERMS:
        tools.append(call("list_statements"))
        summaries = await platform.list_statements(pid)
        reads.extend(f"statement:{s.id}" for s in summaries)
        chosen = _choose(summaries, state, c.statement_id)
        if chosen is not None:
            tools.append(call("get_statement", statement_id=chosen))
            try:
                statement = await platform.get_statement(pid, chosen)
            except StatementNotFound:
                statement = None
    if statement is not None:
        reads.append(f"statement:{statement.id}")
    summary = None
    if intent in (Intent.BALANCE, Intent.REFUND_OR_CREDIT):
        tools.append(call("get_account_summary"))
        summary = await platform.get_account_summary(pid)
        reads.append(f"account:{pid}")
    claims_read = None
    if intent is Intent.BALANCE and Intent.CLAIM_STATUS.value in (work(state).get("also") or []):
        # The claim's status asked beside the balance: read now, said after it.
        tools.append(call("list_claims"))
        found = await platform.list_claims(pid)
        reads.extend(f"claim:{cl.id}" for cl in found)
        claims_read = tuple(_choose_claims(found, Intent.CLAIM_STATUS, state.get("statement_id"), state))
    payments = None
    if intent is Intent.BALANCE and work(state).get("last_payment"):
        # "how much was my last payment": the payments on file, the latest said after the balance.
        tools.append(call("list_payments"))
        payments = tuple(await platform.list_payments(pid))
        reads.extend(f"payment:{p.id}" for p in payments)
    coverages = None
    if intent is Intent.INSURANCE_TERMS:
        tools.append(call("list_coverages"))
        coverages = tuple(await platform.list_coverages(pid))
        reads.extend(f"coverage:{cov.id}" for cov in coverages)
    records = Records(
        statement=statement,
        statements=tuple(summaries) if summaries is not None else None,
        summary=summary,
        coverages=coverages,
        claims=claims_read,
        payments=payments,
    )
    update: Update = {"work": {"records": records, "tools": tools, "reads": reads}}
    if statement is not None:
        update["statement_id"] = statement.id
    return update


def pointed_statement(summaries: list[StatementSummary], focus: str | None, text: str) -> str | None:
    """The statement the words point at from the one in focus ("the other one", "the older one", "the one
    after that"), among the open statements when there are several, else all; newest first."""
    pointer = statement_pointer(text)
    if pointer is None:
        return None
    open_ = [s for s in summaries if s.status is StatementStatus.OPEN and s.balance_cents > 0]
    ordered = open_ if len(open_) > 1 else summaries
    if len(ordered) < 2:
        return None
    ids = [s.id for s in ordered]
    at = ids.index(focus) if focus in ids else None
    if pointer == "oldest":
        return ids[-1]
    if pointer == "newest":
        return ids[0]
    if pointer == "older" or (pointer == "other" and (at is None or at < len(ids) - 1)):
        return ids[at + 1] if at is not None and at + 1 < len(ids) else ids[-1]
    if pointer == "newer" or pointer == "other":
        return ids[at - 1] if at is not None and at > 0 else ids[0]
    return None


def _choose(summaries: list[StatementSummary], state: ConversationState, hint: str | None) -> str | None:
    pointed = pointed_statement(summaries, state.get("statement_id") or hint, state.get("text") or "")
    if pointed is not None:
        return pointed
    months = [m for m in entity_list(state, "months") if isinstance(m, int)]
    if months:
        for s in summaries:  # newest first
            if s.statement_date.month == months[0]:
                return s.id
    ids = {s.id for s in summaries}
    focus = state.get("statement_id")
    if focus in ids:
        return focus
    if hint in ids:
        return hint
    open_ = [s for s in summaries if s.status is StatementStatus.OPEN and s.balance_cents > 0]
    if open_:
        return open_[0].id
    return summaries[0].id if summaries else None


async def claims(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    pid = patient_id(state)
    found = await c.ports.platform.list_claims(pid)
    intent = Intent(work(state).get("intent") or Intent.CLAIM_STATUS.value)
    focus = state.get("statement_id")
    chosen = _choose_claims(found, intent, focus, state)
    tools = [call("list_claims")]
    reads = [f"claim:{cl.id}" for cl in found]
    summary = None
    if Intent.BALANCE.value in (work(state).get("also") or []):
        # The balance asked beside the claim ("has the secondary paid yet? and whats my share"): read now,
        # said after the claim's status.
        tools.append(call("get_account_summary"))
        summary = await c.ports.platform.get_account_summary(pid)
        reads.append(f"account:{pid}")
    return {
        "work": {"records": Records(claims=tuple(chosen), summary=summary), "tools": tools, "reads": reads}
    }


def _choose_claims(
    found: list[Claim], intent: Intent, focus: str | None, state: ConversationState
) -> list[Claim]:
    ordered = sorted(found, key=lambda cl: cl.service_date, reverse=True)
    months = [m for m in entity_list(state, "months") if isinstance(m, int)]
    if months:
        by_month = [cl for cl in ordered if cl.service_date.month == months[0]]
        if by_month:
            ordered = by_month
    if intent is Intent.DENIAL_REASON:
        denied = [cl for cl in ordered if cl.status is ClaimStatus.DENIED or cl.denial_codes]
        return denied[:2] if denied else ordered[:1]
    return ordered[:2]


# --------------------------------------------------------------------------- explain


def _pick_lines(statement: Statement, state: ConversationState) -> list[LineItem]:
    lines = list(statement.line_items)
    refs = entity_list(state, "line_refs")
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        ordinal = ref.get("ordinal")
        if isinstance(ordinal, int) and lines:
            if ordinal == -1:
                return [lines[-1]]
            if 1 <= ordinal <= len(lines):
                return [lines[ordinal - 1]]
        amount = ref.get("amount_cents")
        if isinstance(amount, int):
            hits = [
                li
                for li in lines
                if amount in (li.billed_cents, li.allowed_cents, li.patient_responsibility_cents)
            ]
            if hits:
                return hits[:1]
        keyword = ref.get("keyword")
        if isinstance(keyword, str) and keyword:
            k = keyword.lower()
            hits = [li for li in lines if k in li.description.lower() or k == li.code.lower()]
            if hits:
                return hits[:1]
    for amount in entity_list(state, "amounts_cents"):
        hits = [li for li in lines if amount in (li.billed_cents, li.patient_responsibility_cents)]
        if hits:
            return hits[:1]
    # Nothing named, right after one line was explained: that line, asked about again ("how much of that one
    # did my insurance actually pay")
    history = state.get("intent_history") or []
    if len(history) >= 2 and history[-2] == Intent.EXPLAIN_CHARGE.value:
        return [li for li in lines if li.id == state.get("line_id")] or lines
    return lines


def _line_facts(facts: FactSet, li: LineItem) -> None:
    facts.amounts(
        li.billed_cents,
        li.allowed_cents,
        li.contractual_adjustment_cents,
        li.insurance_paid_cents,
        li.insurance_pending_cents,
        li.patient_responsibility_cents,
        li.deductible_cents,
        li.coinsurance_cents,
        li.copay_cents,
        li.not_covered_cents,
    )
    facts.dates(li.service_date).codes(li.code)


async def explain(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    language = lang(state)
    turn = work(state)
    intent = Intent(turn.get("intent") or Intent.BALANCE.value)
    records = turn.get("records") or Records()
    facts = FactSet()
    parts: list[str] = []
    expecting: Update = {}
    statement = records.statement
    max_lines = MAX_LINES.get(c.channel.value, 6)
    read_as = work(state).get("read_as") or state.get("text") or ""  # typos repaired ("2 staetments")

    if records.claims is not None and intent is not Intent.BALANCE:
        parts.extend(_explain_claims(records.claims, c, facts, language))
        if records.summary is not None:  # the balance asked beside the claim
            facts.amounts(records.summary.balance_cents, records.summary.credit_cents)
            parts.append(
                T.balance(records.summary.balance_cents, records.summary.open_statement_count, language)
            )
    elif intent is Intent.INSURANCE_TERMS:
        parts.extend(_explain_coverage(records.coverages or (), c, facts, state, language))
    elif intent in (Intent.BALANCE, Intent.REFUND_OR_CREDIT):
        summary = records.summary
        if summary is None:
            raise RuntimeError("a balance explained without the account summary")  # fetch reads it
        total = summary.balance_cents
        facts.amounts(total, summary.credit_cents)
        parts.append(T.balance(total, summary.open_statement_count, language))
        for s in records.statements or ():
            if s.status is StatementStatus.OPEN and s.balance_cents > 0 and len(parts) < 4:
                facts.amounts(s.balance_cents).dates(s.statement_date, s.due_date)
                parts.append(
                    T.open_statement(s.number, s.statement_date, s.due_date, s.balance_cents, language)
                )
        if records.claims is not None:  # the claim's status asked beside the balance
            parts.extend(_explain_claims(records.claims, c, facts, language))
        if records.payments is not None:  # the last payment asked about
            latest = max(records.payments, key=lambda p: p.posted_at, default=None)
            posted = None
            if latest is not None:
                zone = ZoneInfo(c.ports.policy.office_hours.timezone)
                posted = latest.posted_at.astimezone(zone).date()
                facts.amounts(latest.amount_cents).dates(posted)
            parts.append(
                T.last_payment(latest.amount_cents if latest is not None else None, posted, language)
            )
        if statement is not None and Intent.EXPLAIN_CHARGE.value in (turn.get("also") or []):
            # A line asked about beside the balance ("and why is there a blood draw"): its math, or, when
            # no line of the statement is that one, every line's (what is there instead).
            for li in (named(li, c.ports.codebook) for li in _pick_lines(statement, state)[:max_lines]):
                _line_facts(facts, li)
                parts.append(T.line_math(li, language))
        if intent is Intent.REFUND_OR_CREDIT:
            parts.append(T.REFUND_OFFER[language])
            expecting["expecting"] = "human_offer"
    elif statement is None:
        parts.append(T.balance(0, 0, language))
    else:
        lines = (
            _pick_lines(statement, state) if intent is Intent.EXPLAIN_CHARGE else list(statement.line_items)
        )
        if intent is Intent.EXPLAIN_CHARGE and len(lines) == 1:
            expecting["line_id"] = lines[0].id
        open_ = [
            s for s in records.statements or () if s.status is StatementStatus.OPEN and s.balance_cents > 0
        ]
        if intent is Intent.EXPLAIN_STATEMENT and len(open_) > 1 and asks_about_each_statement(read_as):
            # "why are there 2 statements? whats on each": what they come to together, each open one named,
            # then the one explained
            total = sum(s.balance_cents for s in open_)
            facts.amounts(total)
            parts.append(T.balance(total, len(open_), language))
            for s in open_[:4]:
                facts.amounts(s.balance_cents).dates(s.statement_date, s.due_date)
                parts.append(
                    T.open_statement(s.number, s.statement_date, s.due_date, s.balance_cents, language)
                )
        if intent is not Intent.EXPLAIN_CHARGE or len(lines) > 1:
            facts.amounts(statement.balance_cents).dates(statement.statement_date, statement.due_date)
            parts.append(
                T.statement_header(
                    statement.number, statement.statement_date, statement.due_date,
                    statement.balance_cents, len(statement.line_items), language,
                )
            )  # fmt: skip
        for li in (named(li, c.ports.codebook) for li in lines[:max_lines]):
            _line_facts(facts, li)
            parts.append(T.line_math(li, language))
            if intent is Intent.EXPLAIN_CHARGE and len(lines) == 1:
                for adj in li.adjustments:
                    entry = c.ports.codebook.carc(adj.carc)
                    if entry is not None and adj.group_code.value != "CO":
                        code = f"{adj.group_code.value}-{adj.carc}"
                        plain = entry.plain_in(language)
                        facts.codes(code).amounts(adj.amount_cents).text(plain)
                        parts.append(T.denial(code, plain, language))
                if (
                    any(a.group_code.value == "CO" and a.carc not in ROUTINE_CO for a in li.adjustments)
                    and not li.patient_responsibility_cents
                ):
                    parts.append(T.NOT_BILLED_CO[language])
        if len(lines) > max_lines:
            parts.append(
                "Pregunte por un cargo para más detalle."
                if language == "es"
                else "Ask about any other charge for details."
            )
    if state.get("pending") is not None and intent not in (Intent.PAYMENT_PLAN,):
        parts.append(T.RETURN_TO_OFFER[language])  # a digression: the offer is still open
    done = answer(" ".join(parts), facts.pairs())
    if c.ports.phraser is not None:
        done["phrase_sources"] = []  # the code book meanings it quotes are in the text itself
    return {**expecting, "work": done}


# CO adjustments on every adjudicated line (the fee-schedule write-off, Medicare's sequestration): not a
# denial, and line_math already says what was written off.
ROUTINE_CO = frozenset({"45", "253"})


def _explain_claims(found: tuple[Claim, ...], c: AgentContext, facts: FactSet, language: Any) -> list[str]:
    if not found:
        return [
            "No encuentro reclamos al seguro en su cuenta."
            if language == "es"
            else "I don't see any insurance claims on your account."
        ]
    parts: list[str] = []
    for cl in found:
        facts.dates(cl.service_date, cl.submitted_on)
        parts.append(
            T.claim_status(
                cl.payer_name,
                cl.status.value,
                cl.service_date,
                cl.submitted_on,
                language,
                secondary=cl.coverage_rank is CoverageRank.SECONDARY,
            )
        )
        if cl.status in (ClaimStatus.PAID, ClaimStatus.PARTIALLY_PAID) and cl.paid_cents:
            facts.amounts(cl.paid_cents, cl.billed_cents)
            parts.append(
                f"Pagó {T.money(cl.paid_cents)} de {T.money(cl.billed_cents)}."
                if language == "es"
                else f"They paid {T.money(cl.paid_cents)} of the {T.money(cl.billed_cents)} billed."
            )
        for code in cl.denial_codes:
            entry = c.ports.codebook.carc(code.carc)
            label = f"{code.group_code.value}-{code.carc}"
            facts.codes(label)
            next_step = None
            if entry is not None:
                plain, next_step = entry.plain_in(language), entry.next_step_in(language)
                facts.text(plain)
                parts.append(T.denial(label, plain, language))
            # What the patient owes for it comes before the next step: an SMS cut to its segments keeps it.
            if code.group_code.value == "CO":
                parts.append(T.NOT_BILLED_CO[language])
            elif code.group_code.value == "PR" and cl.status is ClaimStatus.DENIED and not cl.paid_cents:
                # "why do I owe $165 for it?": the denied claim's charge is the patient's, said in figures.
                facts.amounts(cl.billed_cents)
                parts.append(T.billed_pr(cl.billed_cents, language))
            if next_step:
                facts.text(next_step)
                parts.append(T.next_step(next_step, language))
            if code.rarc:
                remark = c.ports.codebook.rarc(code.rarc)
                if remark is not None:
                    facts.codes(code.rarc).text(remark.plain_in(language))
                    parts.append(f"({code.rarc}) {remark.plain_in(language)}")
    return parts


def _explain_coverage(
    coverages: tuple[Coverage, ...], c: AgentContext, facts: FactSet, state: ConversationState, language: Any
) -> list[str]:
    parts: list[str] = []
    active = [cov for cov in coverages if cov.active]
    if active:
        cov = active[0]
        facts.amounts(
            cov.deductible_cents,
            cov.deductible_met_cents,
            max(0, cov.deductible_cents - cov.deductible_met_cents),
            cov.out_of_pocket_max_cents, cov.out_of_pocket_met_cents, cov.copay_cents,
        ).percents(cov.coinsurance_percent)  # fmt: skip
        parts.append(
            T.coverage_progress(
                cov.payer_name, cov.deductible_cents, cov.deductible_met_cents, cov.coinsurance_percent,
                cov.out_of_pocket_max_cents, cov.out_of_pocket_met_cents, cov.copay_cents, language,
            )
        )  # fmt: skip
    else:
        parts.append(
            "No tenemos un seguro activo en su cuenta."
            if language == "es"
            else "We don't have active insurance on file for you."
        )
    query = work(state).get("read_as") or state.get("text") or ""  # typos repaired ("insuarnce")
    passages = c.ports.kb.search(query, k=1) or c.ports.kb.search(
        "insurance terms deductible coinsurance copay", k=1
    )
    if passages:
        p = passages[0]
        # The definition, without the document's worked examples: "if your coinsurance is 20%" beside
        # the patient's own 30% reads as their figure.
        snippet = _first_sentences(_without_figures(p.text), 2)
        if snippet:
            facts.text(snippet)
            parts.append(T.kb_answer(snippet, p.title, language))
    return parts


def _without_figures(text: str) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return " ".join(s for s in sentences if not re.search(r"\d", s))


def _first_sentences(text: str, n: int) -> str:
    flat = " ".join(text.split())
    out: list[str] = []
    rest = flat
    while rest and len(out) < n:
        idx = rest.find(". ")
        if idx == -1:
            out.append(rest)
            break
        out.append(rest[: idx + 1])
        rest = rest[idx + 2 :]
    return " ".join(out)
