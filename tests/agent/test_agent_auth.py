"""auth on SMS threads: nothing about the account before verification, DOB + second factor, lock."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from agent import templates as T
from guardrails.audit import AuditLogRow
from tests.agent.harness import Env, typed_dob
from tools.platforms.models import Channel, TicketReason

FIGURE = re.compile(r"\$\d|S-\d")


async def test_sms_balance_needs_verification_then_answers_the_pending_question(env: Env) -> None:
    patient = env.patient("prefers_sms", exclude=("no_phone",))
    assert patient.phone
    summary = await env.platform.get_account_summary(patient.id)
    first = await env.say("s-1", "what is my balance", channel=Channel.SMS, phone=patient.phone)
    assert first.text == T.AUTH_PROMPT["en"]
    assert first.message is not None
    assert first.message.expecting == "identity"
    assert not FIGURE.search(first.text)
    said = await env.say(
        "s-1",
        f"{typed_dob(patient.date_of_birth)} {patient.zip_code}",
        channel=Channel.SMS,
        phone=patient.phone,
    )
    assert said.text.startswith(T.AUTH_OK["en"])
    assert T.money(summary.balance_cents) in said.text
    state = await env.agent.state("s-1")
    assert state.get("identity") == "verified"
    assert state.get("patient_id") == patient.id
    # The messages sent before verification are on the platform transcript now.
    comms = await env.platform.list_communications(patient.id, "s-1", 20)
    assert any(c.text == "what is my balance" for c in comms)


async def test_unknown_phone_and_wrong_details_read_the_same(env: Env) -> None:
    patient = env.patient("prefers_sms", exclude=("no_phone",))
    assert patient.phone
    wrong = await env.say(
        "s-2", f"{typed_dob(patient.date_of_birth)} 99999", channel=Channel.SMS, phone=patient.phone
    )
    unknown = await env.say(
        "s-3",
        f"{typed_dob(patient.date_of_birth)} {patient.zip_code}",
        channel=Channel.SMS,
        phone="+15550000000",
    )
    assert wrong.text == unknown.text == T.AUTH_FAILED["en"]


async def test_statement_number_is_a_second_factor(env: Env) -> None:
    patient = env.patient("prefers_sms", exclude=("no_phone",))
    assert patient.phone
    number = (await env.platform.list_statements(patient.id))[0].number
    said = await env.say(
        "s-4", f"my dob is {typed_dob(patient.date_of_birth)} and statement {number}", channel=Channel.SMS,
        phone=patient.phone,
    )  # fmt: skip
    assert said.text.startswith(T.AUTH_OK["en"]), said.text


async def test_three_failures_lock_the_thread_and_open_a_ticket(env: Env) -> None:
    patient = env.patient("prefers_sms", exclude=("no_phone",))
    assert patient.phone
    same_phone = [p for p in env.data.patients if p.phone == patient.phone]
    for _ in range(3):
        said = await env.say("s-5", "01/01/1900 00000", channel=Channel.SMS, phone=patient.phone)
    assert said.text == T.AUTH_LOCKED["en"].format(phone=env.agent.ports.policy.office_hours.phone)
    assert (await env.agent.state("s-5")).get("identity") == "locked"
    # Even the right details no longer work on a locked thread.
    after = await env.say(
        "s-5",
        f"{typed_dob(patient.date_of_birth)} {patient.zip_code}",
        channel=Channel.SMS,
        phone=patient.phone,
    )
    assert after.text.startswith("This conversation is locked")
    if len(same_phone) == 1:
        tickets = await env.platform.list_tickets(patient.id)
        assert [t.reason for t in tickets if t.thread_id == "s-5"] == [TicketReason.AUTH_LOCKED]
    async with env.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(AuditLogRow).where(AuditLogRow.thread_id == "s-5")
        )
    assert count == 4


async def test_portal_thread_is_verified_by_the_api(env: Env) -> None:
    patient = env.patient("copay_only")
    said = await env.say("p-1", "hi", patient)
    assert said.message is not None
    assert said.message.expecting is None
    assert (await env.agent.state("p-1")).get("identity") == "verified"
