"""A denial explained to a patient who writes in Spanish is explained in Spanish: the code book's own
Spanish text for the adjustment reason, its next step and the remark, never the English sentences."""

from __future__ import annotations

import pytest

from tests.agent.harness import Env
from tools.codebook import CodeBook
from tools.platforms.models import ClaimStatus

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
BOOK = CodeBook.default()


@pytest.mark.parametrize(
    "text",
    ["¿por qué me negaron el reclamo del seguro?", "el seguro no quiso pagar mi cita, cual fue la razon?"],
)
async def test_a_denial_asked_about_in_spanish_is_explained_in_spanish(env: Env, text: str) -> None:
    patient = env.patient("claim_denied")
    denied = [c for c in await env.platform.list_claims(patient.id) if c.status is ClaimStatus.DENIED]
    code = denied[0].denial_codes[0]
    entry = BOOK.carc(code.carc)
    assert entry is not None
    assert entry.plain_es
    assert entry.next_step_es
    said = await env.say("es-denial", text, patient)
    assert f"Motivo ({code.group_code.value}-{code.carc}): {entry.plain_es}" in said.text
    assert entry.next_step_es in said.text
    assert entry.plain not in said.text
    if code.rarc:
        remark = BOOK.rarc(code.rarc)
        assert remark is not None
        assert remark.plain_es
        assert f"({code.rarc}) {remark.plain_es}" in said.text


async def test_the_same_denial_in_english_keeps_the_english_text(env: Env) -> None:
    patient = env.patient("claim_denied", exclude=("spanish_speaker",))
    denied = [c for c in await env.platform.list_claims(patient.id) if c.status is ClaimStatus.DENIED]
    code = denied[0].denial_codes[0]
    entry = BOOK.carc(code.carc)
    assert entry is not None
    assert entry.plain_es
    said = await env.say("en-denial", "why did my insurance deny the claim?", patient)
    assert f"Reason ({code.group_code.value}-{code.carc}): {entry.plain}" in said.text
    assert entry.plain_es not in said.text
