"""Issue 15's readings of text nobody on the team wrote, class by class, each in phrasings written here (not
copied from any eval file): a relative's account behind a typo or a claim, a question after a greeting or
a slip, the balance asked without the word, why insurance paid only part, an explicit request for a
staff action, a plan chosen by its description."""

from __future__ import annotations

import pytest

from agent import templates as T
from tests.agent.harness import Env
from tools.platforms.models import Statement, StatementStatus

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

_REFUSED = (T.OTHER_PERSON["en"], T.OTHER_PERSON["es"])


async def _open_statement(env: Env, pid: str) -> Statement:
    summary = next(s for s in await env.platform.list_statements(pid) if s.status is StatementStatus.OPEN)
    return await env.platform.get_statement(pid, summary.id)


async def _writes(env: Env, pid: str) -> tuple[int, int, int]:
    return (
        len(await env.platform.list_payment_plans(pid)),
        len(await env.gateway.list_links(pid)),
        len(await env.platform.list_tickets(pid)),
    )


# --------------------------------------------------------------------------- a relative's account


@pytest.mark.parametrize(
    "text",
    [
        "could you pull up my husbnad's acount, I handle his bills",
        "what's on my daughters acconut right now",
        "whats my mothers balanse",
        "did my daughter's claim go through yet",
        "my kids insurance claim from the er visit, was it paid?",
    ],
)
async def test_a_relatives_account_is_refused_through_typos_and_claims(env: Env, text: str) -> None:
    patient = env.patient("copay_only")
    said = await env.say("relative", text, patient)
    assert said.text in _REFUSED
    assert await _writes(env, patient.id) == (0, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "it's either food for my kids or this bill, there's just no money left",
        "I'm on my wife's plan, did the insurance claim for my visit go through",
        "i pay for my children and my bill on top of that is too much",
    ],
)
async def test_a_relative_named_beside_the_patients_own_bill_is_not_refused(env: Env, text: str) -> None:
    patient = env.patient("copay_only")
    said = await env.say("own", text, patient)
    assert said.text not in _REFUSED
