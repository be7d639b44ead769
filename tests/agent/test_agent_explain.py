"""fetch_statement → explain and claims → explain, through the compiled graph, against the ledger."""

from __future__ import annotations

from agent import templates as T
from tests.agent.harness import Env
from tools.platforms.models import ClaimStatus, StatementStatus


async def test_balance_states_the_ledger_balance_and_streams_it(env: Env) -> None:
    patient = env.patient("copay_only")
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("t-balance", "what is my balance?", patient)
    assert said.message is not None
    assert said.message.intent == "balance"
    assert f"Your balance is {T.money(summary.balance_cents)}" in said.text
    assert said.streamed == said.text
    open_ = [s for s in await env.platform.list_statements(patient.id) if s.status is StatementStatus.OPEN]
    assert open_[0].number in said.text


async def test_explain_statement_gives_the_insurance_math_of_each_line(env: Env) -> None:
    patient = env.patient("copay_only")
    newest = (await env.platform.list_statements(patient.id))[0]
    statement = await env.platform.get_statement(patient.id, newest.id)
    li = statement.line_items[0]
    said = await env.say("t-explain", "can you explain my statement?", patient)
    assert said.message is not None
    assert said.message.intent == "explain_statement"
    expected = (
        f"was billed at {T.money(li.billed_cents)}. Your plan's contracted rate is "
        f"{T.money(li.allowed_cents)}, "
        f"so {T.money(li.contractual_adjustment_cents)} was written off. Insurance paid "
        f"{T.money(li.insurance_paid_cents)}, and the remaining "
        f"{T.money(li.patient_responsibility_cents)} is "
        "your copay."
    )
    assert expected in said.text
    assert f"on {T.day(li.service_date)} (CPT {li.code})" in said.text
    assert statement.number in said.text


async def test_spanish_explanation_uses_the_same_figures(env: Env) -> None:
    patient = env.patient("copay_only")
    summary = await env.platform.get_account_summary(patient.id)
    said = await env.say("t-es", "¿cuánto debo? quiero saber mi saldo", patient)
    assert said.message is not None
    assert "Su saldo es de" in said.text
    assert T.money(summary.balance_cents) in said.text


async def test_correction_switches_the_statement_in_focus(env: Env) -> None:
    patient = env.patient("multiple_open_statements")
    statements = await env.platform.list_statements(patient.id)
    assert len(statements) >= 2
    older = statements[-1]
    first = await env.say("t-corr", "explain my statement", patient)
    assert statements[0].number in first.text
    month = T.MONTHS_EN[older.statement_date.month - 1]
    said = await env.say("t-corr", f"no, I meant the {month} statement", patient)
    assert older.number in said.text
    assert (await env.agent.state("t-corr")).get("statement_id") == older.id


async def test_denied_claim_explained_with_the_code_book_reason_and_next_step(env: Env) -> None:
    patient = env.patient("claim_denied")
    claims = [c for c in await env.platform.list_claims(patient.id) if c.status is ClaimStatus.DENIED]
    assert claims
    assert claims[0].denial_codes
    code = claims[0].denial_codes[0]
    entry = env.agent.ports.codebook.carc(code.carc)
    assert entry is not None
    said = await env.say("t-denied", "why was my claim denied?", patient)
    assert said.message is not None
    assert said.message.intent == "denial_reason"
    assert f"Reason ({code.group_code.value}-{code.carc}): {entry.plain}" in said.text
    if entry.next_step:
        assert f"Next step: {entry.next_step}" in said.text


async def test_pending_claim_status(env: Env) -> None:
    patient = env.patient("claim_pending")
    claims = await env.platform.list_claims(patient.id)
    pending = [c for c in claims if c.status in (ClaimStatus.PENDING, ClaimStatus.SUBMITTED)]
    assert pending
    said = await env.say("t-claim", "what's the status of my insurance claim?", patient)
    assert said.message is not None
    assert said.message.intent == "claim_status"
    assert pending[0].payer_name in said.text


async def test_deductible_progress_from_coverage(env: Env) -> None:
    patient = env.patient("deductible_heavy")
    cov = next(c for c in await env.platform.list_coverages(patient.id) if c.active)
    said = await env.say("t-ded", "how much of my deductible have I met?", patient)
    assert said.message is not None
    assert said.message.intent == "insurance_terms"
    assert (
        f"you've met {T.money(cov.deductible_met_cents)} of your {T.money(cov.deductible_cents)} deductible"
        in said.text
    )
