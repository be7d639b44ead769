"""``billing-agent serve`` with ``BILLING_PLATFORM=fhir`` against a local FHIR server (sekmet): a portal
conversation explains a statement built from Claim/ExplanationOfBenefit resources, and every figure it
states is one the server holds. The service's own database is left empty of ledger data, so a figure
could come from nowhere else."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from api.main import create_app
from api.security import issue_portal_token
from api.settings import Settings
from tests.api.portal_support import parse_sse
from tests.support.lifespan import STARTUP_S
from tools.demo import generate_practice
from tools.platforms.fhir import FhirPlatform, SmartBackendCredentials
from tools.platforms.fhir.loader import load_practice
from tools.platforms.fhir.sekmet import SekmetServer
from tools.platforms.http import PlatformHttp, platform_state
from tools.platforms.ledger import PracticeData

SECRET = SecretStr("portal-test-secret-0123456789abcdef0123")
MONEY = re.compile(r"\$([\d,]+\.\d{2})")


@pytest.fixture
async def loaded(sekmet: SekmetServer) -> PracticeData:
    sekmet.wipe()
    data = generate_practice(patients=8, seed=7)
    http = PlatformHttp(
        sekmet.base_url,
        credentials=SmartBackendCredentials(
            client_id=sekmet.client_id, private_key_pem=sekmet.private_key_pem, token_url=sekmet.token_url
        ),
    )
    await load_practice(http, data)
    await http.aclose()
    return data


def settings_for(sekmet: SekmetServer, data: PracticeData, url: str, tmp_path: Path) -> Settings:
    key = tmp_path / "fhir-client.pem"
    key.write_text(sekmet.private_key_pem)
    return Settings(
        database_url=url,
        environment="test",
        checkpoint_url=f"sqlite:///{tmp_path / 'checkpoints.db'}",
        portal_token_secret=SECRET,
        platform="fhir",
        fhir_base_url=sekmet.base_url,
        fhir_practice_id=data.practice.id,
        fhir_client_id=sekmet.client_id,
        fhir_private_key_file=key,  # the token URL is discovered from .well-known/smart-configuration
    )


async def test_portal_conversation_explains_a_statement_from_claim_and_eob_resources(
    sekmet: SekmetServer, loaded: PracticeData, migrated_database_url: str, tmp_path: Path
) -> None:
    data = loaded
    claimed = {li.statement_id for st in data.statements for li in st.line_items if li.claim_id}
    statement = next(s for s in data.statements if s.id in claimed and s.balance_cents > 0)
    patient = next(p for p in data.patients if p.id == statement.patient_id)
    assert patient.portal_user_id
    settings = settings_for(sekmet, data, migrated_database_url, tmp_path)
    app = create_app(settings)
    async with (
        LifespanManager(app, startup_timeout=STARTUP_S, shutdown_timeout=STARTUP_S),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        auth = {"Authorization": f"Bearer {issue_portal_token(settings, patient.portal_user_id)}"}
        created = await http.post("/v1/portal/threads", headers=auth, json={"statement_id": statement.id})
        assert created.status_code == 201, created.text
        thread = created.json()["id"]
        replies = []
        for text in ("what is my balance?", "can you explain this statement?"):
            response = await http.post(
                f"/v1/portal/threads/{thread}/messages", headers=auth, json={"text": text}
            )
            assert response.status_code == 200
            [message] = [e for e in parse_sse(response.text) if e.event == "message"]
            replies.append(message.data["text"])
        health = (await http.get("/health")).json()
        services = app.state.services
        assert platform_state(services.platform).calls > 0
        # Outreach watches the FHIR server's accounts, not the (empty) embedded ledger.
        decided = await services.outreach.decide_pass()
        owing = {s.patient_id for s in data.statements if s.balance_cents > 0}
        assert decided.accounts >= len(owing) > 0

    # The figures the server holds for this patient, read back through the adapter on its own.
    reader = FhirPlatform(
        PlatformHttp(
            sekmet.base_url,
            credentials=SmartBackendCredentials(
                client_id=sekmet.client_id, private_key_pem=sekmet.private_key_pem, token_url=sekmet.token_url
            ),
        ),
        practice_id=data.practice.id,
    )
    served = await reader.get_statement(patient.id, statement.id)
    summary = await reader.get_account_summary(patient.id)
    await reader.aclose()
    assert served == statement  # the statement round-trips through Invoice + EOB resources
    figures = {summary.balance_cents, served.balance_cents, served.total_patient_responsibility_cents}
    for li in served.line_items:
        figures |= {
            li.billed_cents,
            li.allowed_cents,
            li.insurance_paid_cents,
            li.insurance_pending_cents,
            li.deductible_cents,
            li.coinsurance_cents,
            li.copay_cents,
            li.not_covered_cents,
            li.patient_responsibility_cents,
            li.contractual_adjustment_cents,
            *(a.amount_cents for a in li.adjustments),
        }
    figures |= {p.amount_cents for p in served.payments}
    stated = [int(m.replace(",", "").replace(".", "")) for r in replies for m in MONEY.findall(r)]
    assert stated, replies
    assert set(stated) <= figures, (replies, sorted(figures))
    assert f"${summary.balance_cents / 100:,.2f}" in replies[0]
    assert health["platform"] == {"name": "fhir", "state": "closed", "last_error": None}
