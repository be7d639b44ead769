"""The demo practice's patient directory: a page and its JSON.

Development aid only: it lists fictitious demo patients so a person trying the
product can pick one. It is not mounted in production."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from api.deps import ServicesDep
from api.errors import error_responses
from tools.errors import NotFound

router = APIRouter(tags=["demo"])


class DemoPatient(BaseModel):
    patient_id: str
    portal_user_id: str | None
    name: str
    preferred_channel: str
    language: str
    scenario_tags: list[str]


async def _directory(services: ServicesDep, limit: int, offset: int) -> list[DemoPatient]:
    if services.ledger is None or services.settings.environment == "production":
        raise NotFound("the demo directory is only available on the embedded ledger outside production")
    patients = await services.ledger.list_patients(limit=limit, offset=offset)
    return [
        DemoPatient(
            patient_id=p.id,
            portal_user_id=p.portal_user_id,
            name=f"{p.first_name} {p.last_name}",
            preferred_channel=p.preferred_channel.value,
            language=p.language.value,
            scenario_tags=list(p.scenario_tags),
        )
        for p in patients
    ]


@router.get("/v1/demo/patients", response_model=list[DemoPatient], responses=error_responses(404, 422))
async def demo_patients(
    services: ServicesDep,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[DemoPatient]:
    """The demo practice's patients (fictitious), with the scenario each illustrates."""
    return await _directory(services, limit, offset)


@router.get("/", response_class=HTMLResponse, responses=error_responses(404))
async def demo_page(services: ServicesDep) -> HTMLResponse:
    patients = await _directory(services, limit=500, offset=0)
    rows = "\n".join(
        f"<tr><td>{escape(p.name)}</td><td><code>{escape(p.portal_user_id or '')}</code></td>"
        f"<td>{escape(p.preferred_channel)}</td><td>{escape(p.language)}</td>"
        f"<td>{escape(', '.join(p.scenario_tags))}</td></tr>"
        for p in patients
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Demo practice — Patient Billing Agent</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b}}table{{border-collapse:collapse}}
td,th{{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}}caption{{text-align:left;
font-weight:600;margin-bottom:.5rem}}</style></head>
<body><main><h1>Demo practice</h1>
<p>{len(patients)} fictitious patients. API: <a href="/docs">/docs</a>, <a href="/health">/health</a>.</p>
<table><caption>Demo patients and the billing situation each illustrates</caption>
<thead><tr><th scope="col">Patient</th><th scope="col">Portal id</th><th scope="col">Channel</th>
<th scope="col">Language</th><th scope="col">Scenarios</th></tr></thead>
<tbody>
{rows}
</tbody></table></main></body></html>"""
    return HTMLResponse(page)
