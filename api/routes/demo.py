"""The demo practice portal: a patient picker, a signed portal session, statement pages with the widget.

Development aid only (404 in production and on any platform but the embedded ledger): it plays the part
of a practice's own patient portal so a person trying the product can see the chat widget where it
belongs. Picking a patient is the demo's stand-in for signing in: the server issues a portal session
token (the same HS256 JWT a real portal would sign) and keeps it in an ``HttpOnly`` cookie; every
statement page then embeds the widget with a fresh token naming the statement being viewed, exactly as
a practice's portal server would.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Cookie, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Services, ServicesDep
from api.errors import error_responses
from api.security import DEFAULT_TTL, issue_portal_token, verify_portal_token
from tools.errors import NotAuthenticated, NotFound
from tools.platforms.ledger import LedgerPlatform
from tools.platforms.models import Patient, Statement, StatementSummary

router = APIRouter(tags=["demo"])

SESSION_COOKIE = "pba_demo_portal"
NO_STORE = {"Cache-Control": "no-store"}
BRAND_COLOR = "#0f5c8c"


class DemoPatient(BaseModel):
    patient_id: str
    portal_user_id: str | None
    name: str
    preferred_channel: str
    language: str
    scenario_tags: list[str]


class DemoSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient_id: str = Field(min_length=1, max_length=64)
    statement_id: str | None = Field(default=None, min_length=1, max_length=64)


class DemoSessionOut(BaseModel):
    token: str = Field(description="a portal session token: send it as `Authorization: Bearer <token>`")
    portal_user_id: str
    statement_id: str | None
    expires_at: datetime


# --------------------------------------------------------------------------- the demo's data


def _demo_ledger(services: Services) -> LedgerPlatform:
    if services.ledger is None or services.settings.environment == "production":
        raise NotFound("the demo portal is only available on the embedded ledger outside production")
    return services.ledger


def _name(p: Patient) -> str:
    return f"{p.first_name} {p.last_name}"


async def _directory(services: Services, limit: int, offset: int) -> list[DemoPatient]:
    patients = await _demo_ledger(services).list_patients(limit=limit, offset=offset)
    return [
        DemoPatient(
            patient_id=p.id,
            portal_user_id=p.portal_user_id,
            name=_name(p),
            preferred_channel=p.preferred_channel.value,
            language=p.language.value,
            scenario_tags=list(p.scenario_tags),
        )
        for p in patients
    ]


async def _portal_patient(services: Services, patient_id: str) -> Patient:
    """The picked demo patient, if they have a portal identity (the only way to a portal session)."""
    patient = await _demo_ledger(services).get_patient(patient_id)
    if patient.portal_user_id is None:
        raise NotFound(f"demo patient {patient_id} has no portal account")
    return patient


def _issue(services: Services, patient: Patient, statement_id: str | None) -> DemoSessionOut:
    assert patient.portal_user_id is not None  # _portal_patient guarantees it
    now = datetime.now(UTC)
    token = issue_portal_token(services.settings, patient.portal_user_id, now=now, statement_id=statement_id)
    return DemoSessionOut(
        token=token,
        portal_user_id=patient.portal_user_id,
        statement_id=statement_id,
        expires_at=now.replace(microsecond=0) + DEFAULT_TTL,
    )


async def _signed_in(services: Services, cookie: str | None) -> Patient | None:
    """The patient of the demo portal session cookie; ``None`` when absent, forged or expired."""
    _demo_ledger(services)
    if not cookie:
        return None
    try:
        session = verify_portal_token(services.settings, cookie)
    except NotAuthenticated:
        return None
    return await services.platform.find_patient_by_portal_identity(session.portal_user_id)


# --------------------------------------------------------------------------- JSON


@router.get("/v1/demo/patients", response_model=list[DemoPatient], responses=error_responses(404, 422))
async def demo_patients(
    services: ServicesDep,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=1_000_000),
) -> list[DemoPatient]:
    """The demo practice's patients (fictitious), with the scenario each illustrates."""
    return await _directory(services, limit, offset)


@router.post(
    "/v1/demo/sessions",
    status_code=201,
    response_model=DemoSessionOut,
    responses=error_responses(404, 422),
)
async def demo_session(body: DemoSessionIn, services: ServicesDep) -> DemoSessionOut:
    """Sign a portal session token for a demo patient (what a practice's portal does for its users).
    Never available in production: there the practice's own portal signs the tokens."""
    patient = await _portal_patient(services, body.patient_id)
    if body.statement_id is not None:
        await services.platform.get_statement(patient.id, body.statement_id)  # 404 unless theirs
    return _issue(services, patient, body.statement_id)


# --------------------------------------------------------------------------- pages

SessionCookie = Annotated[str | None, Cookie(alias=SESSION_COOKIE, include_in_schema=False)]


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"


def _page(title: str, body: str, *, widget: str = "") -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — Demo practice portal</title>
<link rel="stylesheet" href="/static/portal.css">
<link rel="icon" href="data:,">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="portal-bar"><span class="portal-brand">Demo practice portal</span>
<span class="portal-note">Fictitious patients — a stand-in for a practice's own portal</span></header>
<main id="main" tabindex="-1">
{body}
</main>
{widget}
</body></html>"""
    return HTMLResponse(html, headers=NO_STORE)


def _widget_tag(token: str, practice_name: str, statement: StatementSummary | Statement | None) -> str:
    attrs = {
        "data-token": token,
        "data-practice-name": practice_name,
        "data-color": BRAND_COLOR,
        "data-statement-id": statement.id if statement else "",
        "data-statement-number": statement.number if statement else "",
    }
    rendered = " ".join(f'{k}="{escape(v)}"' for k, v in attrs.items() if v)
    return f'<script src="/static/widget.js" defer {rendered}></script>'


# An outreach link's ``?offer=`` token (tools/outreach/links.py) is carried through signing in, so a patient
# who opens the link signed out lands in the chat with that offer once signed in. The token is opaque
# here, checked by the portal API when the chat opens; one that is too long or has other characters than
# a token's is dropped (the pages still work, as for a link mangled by a mail client).
OfferParam = Annotated[str | None, Query(description="an outreach link's offer token")]
_OFFER_TOKEN = re.compile(r"[A-Za-z0-9_.~=-]{1,200}")


def _offer(offer: str | None) -> str | None:
    return offer if offer is not None and _OFFER_TOKEN.fullmatch(offer) else None


def _with_offer(path: str, offer: str | None) -> str:
    return f"{path}?{urlencode({'offer': offer})}" if (offer := _offer(offer)) else path


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def picker_page(services: ServicesDep, offer: OfferParam = None) -> HTMLResponse:
    """The patient picker: sign in to the demo portal as one of the demo practice's patients."""
    patients = await _directory(services, limit=500, offset=0)
    offer = _offer(offer)
    carried = f'<input type="hidden" name="offer" value="{escape(offer)}">' if offer else ""
    rows = "\n".join(
        f"<tr><td>{escape(p.name)}</td>"
        f"<td>{escape(', '.join(p.scenario_tags)) or '—'}</td>"
        f"<td>{escape(p.preferred_channel)}</td><td>{escape(p.language)}</td><td>"
        + (
            f'<form method="post" action="/demo/session">'
            f'<input type="hidden" name="patient_id" value="{escape(p.patient_id)}">{carried}'
            f'<button type="submit" aria-label="Sign in as {escape(p.name)}">Sign in</button></form>'
            if p.portal_user_id
            else '<span class="muted">no portal account</span>'
        )
        + "</td></tr>"
        for p in patients
    )
    notice = (
        '<p class="notice" role="status">Sign in to open the offer from your message in the chat.</p>'
        if offer
        else ""
    )
    body = f"""<h1>Choose a demo patient</h1>{notice}
<p>{len(patients)} fictitious patients of the demo practice. Sign in as one to see their statements and
ask the billing assistant about them. Staff work escalated conversations in the
<a href="/console">console</a>; the API is described at <a href="/docs">/docs</a>.</p>
<table class="patients"><caption>Demo patients and the billing situation each illustrates</caption>
<thead><tr><th scope="col">Patient</th><th scope="col">Scenarios</th><th scope="col">Channel</th>
<th scope="col">Language</th><th scope="col"><span class="sr-only">Action</span></th></tr></thead>
<tbody>
{rows}
</tbody></table>"""
    return _page("Choose a patient", body)


@router.post("/demo/session", include_in_schema=False)
async def sign_in(
    request: Request,
    services: ServicesDep,
    patient_id: Annotated[str, Form(max_length=64)],
    offer: Annotated[str | None, Form()] = None,
) -> Response:
    """Picking a patient signs in: the portal session token goes into an ``HttpOnly`` cookie; an outreach
    link's offer the patient arrived with goes on to the portal page, whose chat opens with it."""
    patient = await _portal_patient(services, patient_id)
    session = _issue(services, patient, None)
    response = RedirectResponse(_with_offer("/demo/portal", offer), status_code=303, headers=NO_STORE)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=int(DEFAULT_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/demo/logout", include_in_schema=False)
async def sign_out(services: ServicesDep) -> Response:
    _demo_ledger(services)
    response = RedirectResponse("/", status_code=303, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _signed_in_header(patient: Patient) -> str:
    return f"""<div class="whoami"><span>Signed in as <strong>{escape(_name(patient))}</strong></span>
<form method="post" action="/demo/logout"><button type="submit" class="link">Sign out</button></form></div>"""


def _statement_rows(statements: list[StatementSummary], current: str | None) -> str:
    rows = []
    for s in statements:
        here = ' aria-current="page"' if s.id == current else ""
        rows.append(
            f'<tr><td><a href="/demo/portal/statements/{escape(s.id)}"{here}>{escape(s.number)}</a></td>'
            f"<td>{s.statement_date:%b %d, %Y}</td><td>{s.due_date:%b %d, %Y}</td>"
            f'<td class="num">{_money(s.total_patient_responsibility_cents)}</td>'
            f'<td class="num">{_money(s.total_paid_cents)}</td>'
            f'<td class="num"><strong>{_money(s.balance_cents)}</strong></td>'
            f"<td>{escape(s.status.value.replace('_', ' '))}</td></tr>"
        )
    return "\n".join(rows) or '<tr><td colspan="7">No statements.</td></tr>'


STATEMENTS_HEAD = """<thead><tr><th scope="col">Statement</th><th scope="col">Date</th>
<th scope="col">Due</th><th scope="col" class="num">Your share</th><th scope="col" class="num">Paid</th>
<th scope="col" class="num">Balance</th><th scope="col">Status</th></tr></thead>"""


@router.get("/demo/portal", response_class=HTMLResponse, include_in_schema=False)
async def portal_home(
    services: ServicesDep, cookie: SessionCookie = None, offer: OfferParam = None
) -> Response:
    """The signed-in patient's statements; the widget is on the page, not tied to one statement. Signed
    out, it sends the patient to sign in, keeping an outreach link's offer for afterwards."""
    patient = await _signed_in(services, cookie)
    if patient is None:
        return RedirectResponse(_with_offer("/", offer), status_code=303, headers=NO_STORE)
    practice = await services.platform.get_practice()
    summary = await services.platform.get_account_summary(patient.id)
    statements = await services.platform.list_statements(patient.id)
    body = f"""{_signed_in_header(patient)}
<h1>Your statements</h1>
<p class="balance">Account balance: <strong>{_money(summary.balance_cents)}</strong>
({summary.open_statement_count} open statement{"s" if summary.open_statement_count != 1 else ""})</p>
<table class="statements"><caption>Statements from {escape(practice.name)}</caption>
{STATEMENTS_HEAD}
<tbody>
{_statement_rows(statements, None)}
</tbody></table>
<p class="hint">Questions about a bill? Open a statement, or use the chat button.</p>"""
    token = _issue(services, await _portal_patient(services, patient.id), None).token
    return _page("Your statements", body, widget=_widget_tag(token, practice.name, None))


@router.get("/demo/portal/statements/{statement_id}", response_class=HTMLResponse, include_in_schema=False)
async def statement_page(statement_id: str, services: ServicesDep, cookie: SessionCookie = None) -> Response:
    """One statement in detail; the widget is told which statement is being viewed."""
    patient = await _signed_in(services, cookie)
    if patient is None:
        return RedirectResponse("/", status_code=303, headers=NO_STORE)
    practice = await services.platform.get_practice()
    statement = await services.platform.get_statement(patient.id, statement_id)  # 404 unless theirs
    lines = "\n".join(
        f"<tr><td>{li.service_date:%b %d, %Y}</td><td>{escape(li.description)}"
        f'<span class="muted"> · {escape(li.provider_name)} · {escape(li.code)}</span></td>'
        f'<td class="num">{_money(li.billed_cents)}</td>'
        f'<td class="num">{_money(li.insurance_paid_cents)}</td>'
        f'<td class="num">{_money(li.patient_responsibility_cents)}</td></tr>'
        for li in statement.line_items
    )
    payments = "".join(
        f"<li>{p.posted_at:%b %d, %Y}: {_money(p.amount_cents)}</li>" for p in statement.payments
    )
    body = f"""{_signed_in_header(patient)}
<nav aria-label="Breadcrumb"><a href="/demo/portal">Your statements</a>
› Statement {escape(statement.number)}</nav>
<h1>Statement {escape(statement.number)}</h1>
<dl class="facts"><div><dt>Statement date</dt><dd>{statement.statement_date:%b %d, %Y}</dd></div>
<div><dt>Due</dt><dd>{statement.due_date:%b %d, %Y}</dd></div>
<div><dt>Your share</dt><dd>{_money(statement.total_patient_responsibility_cents)}</dd></div>
<div><dt>Paid</dt><dd>{_money(statement.total_paid_cents)}</dd></div>
<div><dt>Balance</dt><dd><strong>{_money(statement.balance_cents)}</strong></dd></div></dl>
<table class="lines"><caption>Services on this statement</caption>
<thead><tr><th scope="col">Date</th><th scope="col">Service</th><th scope="col" class="num">Billed</th>
<th scope="col" class="num">Insurance paid</th><th scope="col" class="num">Your share</th></tr></thead>
<tbody>
{lines}
</tbody></table>
{f"<h2>Payments</h2><ul>{payments}</ul>" if payments else ""}"""
    token = _issue(services, await _portal_patient(services, patient.id), statement.id).token
    return _page(f"Statement {statement.number}", body, widget=_widget_tag(token, practice.name, statement))
