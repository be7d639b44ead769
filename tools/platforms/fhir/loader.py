"""A practice (our models) as FHIR R4 resources, for loading a FHIR server: the tests' conformance
data, the demo, and a practice trying the adapter against a sandbox server.

Each Claim gets its ExplanationOfBenefit (one item per line, with the adjudication), and each statement
an Invoice whose lines point at those EOB items: the statement the adapter reads back is built from what
the payer decided. Every resource is validated with ``fhir.resources`` (R4B models) before it is sent.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tools.platforms.fhir import mapping as m
from tools.platforms.http import PlatformHttp
from tools.platforms.ledger.loader import PracticeData
from tools.platforms.models import LineItem, Payment


def practice_resources(data: PracticeData) -> list[m.Resource]:
    lines_by_claim: dict[str, list[LineItem]] = defaultdict(list)
    for st in data.statements:
        for li in st.line_items:
            if li.claim_id:
                lines_by_claim[li.claim_id].append(li)
    eob_item_of: dict[str, tuple[str, int]] = {}
    out: list[m.Resource] = [m.practice_to_fhir(data.practice)]
    out += [m.patient_to_fhir(p) for p in data.patients]
    out += [m.coverage_to_fhir(c) for c in data.coverages]
    for claim in data.claims:
        lines = lines_by_claim.get(claim.id, [])
        out.append(m.claim_to_fhir(claim, lines))
        eob = m.eob_to_fhir(claim, lines)
        out.append(eob)
        for n, li in enumerate(lines, start=1):
            eob_item_of[li.id] = (eob["id"], n)
    payments: list[Payment] = list(data.unapplied_payments)
    for st in data.statements:
        invoice_lines = []
        for n, li in enumerate(st.line_items, start=1):
            eob_id, seq = eob_item_of.get(li.id, (None, None))
            invoice_lines.append(m.invoice_line(li, n, eob_id, seq))
        out.append(
            m.invoice_to_fhir(
                st.id,
                st.number,
                st.patient_id,
                data.practice.id,
                st.statement_date,
                st.due_date,
                invoice_lines,
                sum(li.billed_cents for li in st.line_items),
                st.total_patient_responsibility_cents,
            )
        )
        payments += st.payments
    out += [m.payment_to_fhir(p.id, p) for p in payments]
    for plan in data.plans:
        r = m.plan_to_fhir(plan)
        r["extension"].append({"url": m.ext("requires-approval"), "valueBoolean": False})
        out.append(r)
    for r in out:
        m.validate(r)
    return out


def transaction(resources: list[m.Resource]) -> dict[str, Any]:
    """A transaction Bundle that PUTs every resource at its id (loading twice changes nothing)."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }


async def load_practice(http: PlatformHttp, data: PracticeData) -> int:
    """PUT the whole practice in one transaction; returns how many resources were written."""
    resources = practice_resources(data)
    response = await http.request(
        "POST",
        "",
        json=transaction(resources),
        headers={"content-type": "application/fhir+json", "accept": "application/fhir+json"},
        idempotent=True,  # a transaction of PUTs: sending it twice changes nothing
    )
    if response.status_code >= 400:
        raise ValueError(
            f"the FHIR server refused the practice: {response.status_code} {response.text[:500]}"
        )
    return len(resources)
