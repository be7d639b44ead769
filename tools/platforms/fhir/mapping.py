"""Our models to FHIR R4 resources and back (plain JSON dicts, validated with ``fhir.resources`` R4B).

* Practice: Organization (timezone in an extension).
* Patient: Patient (portal identity as an identifier; channel, SMS consent, timezone as extensions).
* Coverage: Coverage (copay and coinsurance as ``costToBeneficiary``; deductible and out-of-pocket
  amounts and what is met as extensions).
* Claim: Claim (what was sent) + ExplanationOfBenefit (what the payer decided; header-level
  adjudication carries the claim's denial codes).
* LineItem: an Invoice line that points at its ExplanationOfBenefit item, whose ``adjudication``
  (submitted, eligible, benefit, deductible, copay, coinsurance, noncovered, pending and the CARC/RARC
  adjustments) is what we read; the Invoice line's own ``priceComponent`` (base = billed, informational
  figures, a deduction per adjustment) serves a line with no EOB (self-pay).
* Statement: Invoice (number as an identifier, due date as an extension, ``totalNet`` = patient
  responsibility).
* Payment: Basic, code ``patient-payment`` (sekmet has no PaymentReconciliation or PaymentNotice).
* PaymentPlan: Basic, code ``payment-plan`` (FHIR has no payment-plan resource).
* Ticket: Task (transcript as ``note``).  Communication: Communication.

Money goes over the wire as decimal currency units and comes back as integer cents via ``Decimal``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tools.platforms.models import (
    Adjustment,
    Author,
    Channel,
    Claim,
    ClaimCode,
    ClaimStatus,
    Communication,
    Coverage,
    CoverageRank,
    Direction,
    GroupCode,
    Installment,
    InstallmentStatus,
    Language,
    LineItem,
    Patient,
    Payment,
    PaymentMethod,
    PaymentPlan,
    PaymentSource,
    PlanStatus,
    Practice,
    Ticket,
    TicketPriority,
    TicketReason,
    TicketStatus,
    TranscriptLine,
)

Resource = dict[str, Any]

BASE = "https://patient-billing-agent.org/fhir"
SYS = f"{BASE}/CodeSystem"
EXT = f"{BASE}/StructureDefinition"
PORTAL_SYSTEM = f"{SYS}/portal-user"
NUMBER_SYSTEM = f"{SYS}/statement-number"
CLAIM_NUMBER_SYSTEM = f"{SYS}/claim-number"
KEY_SYSTEM = f"{SYS}/idempotency-key"
MESSAGE_SYSTEM = f"{SYS}/message-id"
KIND_SYSTEM = f"{SYS}/record-kind"
FIGURE_SYSTEM = f"{SYS}/line-figure"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
C4BB = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
GROUP_SYSTEM = "https://x12.org/codes/claim-adjustment-group-codes"
CARC_SYSTEM = "https://x12.org/codes/claim-adjustment-reason-codes"
RARC_SYSTEM = "https://x12.org/codes/remittance-advice-remark-codes"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
MODIFIER_SYSTEM = f"{SYS}/procedure-modifier"
CURRENCY = "USD"

PAYMENT_KIND = "patient-payment"
PLAN_KIND = "payment-plan"

# Our figure name -> (code system, code) in EOB item adjudication.
ADJ_CODES: dict[str, tuple[str, str]] = {
    "billed": (ADJUDICATION, "submitted"),
    "allowed": (ADJUDICATION, "eligible"),
    "insurance_paid": (ADJUDICATION, "benefit"),
    "deductible": (ADJUDICATION, "deductible"),
    "copay": (ADJUDICATION, "copay"),
    "coinsurance": (C4BB, "coinsurance"),
    "not_covered": (C4BB, "noncovered"),
    "insurance_pending": (FIGURE_SYSTEM, "pending"),
}
FIGURES = tuple(ADJ_CODES)


def ext(name: str) -> str:
    return f"{EXT}/{name}"


# --------------------------------------------------------------------------- scalars


def money(cents: int) -> dict[str, Any]:
    return {"value": float(Decimal(cents) / 100), "currency": CURRENCY}


def cents(m: dict[str, Any] | None) -> int:
    if not m or m.get("value") is None:
        return 0
    return int((Decimal(str(m["value"])) * 100).to_integral_value())


def instant(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_instant(value: str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def parse_date(value: str) -> date:
    return date.fromisoformat(value[:10])


def ref(resource_type: str, rid: str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{rid}"}


def ref_id(reference: dict[str, Any] | None) -> str | None:
    """The id of ``Type/id`` (absolute URLs included); ``None`` for a display-only reference."""
    if not reference or not reference.get("reference"):
        return None
    return str(reference["reference"]).rstrip("/").split("/")[-1]


def extensions(resource: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """This element's extensions by our short name (the last URL segment); repeated ones keep the last."""
    out: dict[str, dict[str, Any]] = {}
    for e in resource.get("extension", []) or []:
        out[str(e.get("url", "")).rsplit("/", 1)[-1]] = e
    return out


def ext_values(resource: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [e for e in resource.get("extension", []) or [] if e.get("url") == ext(name)]


def identifier(resource: dict[str, Any], system: str) -> str | None:
    for ident in resource.get("identifier", []) or []:
        if ident.get("system") == system:
            return str(ident.get("value"))
    return None


def record_kind(resource: dict[str, Any]) -> str | None:
    for coding in (resource.get("code") or {}).get("coding", []) or []:
        if coding.get("system") == KIND_SYSTEM:
            return str(coding.get("code"))
    return None


def _str_ext(name: str, value: str | None) -> list[dict[str, Any]]:
    return [] if value is None else [{"url": ext(name), "valueString": value}]


# --------------------------------------------------------------------------- practice and patient


def practice_to_fhir(p: Practice) -> Resource:
    return {
        "resourceType": "Organization",
        "id": p.id,
        "active": True,
        "name": p.name,
        "telecom": [{"system": "phone", "value": p.phone}],
        "address": [{"text": p.address}],
        "extension": [{"url": ext("timezone"), "valueString": p.timezone}],
    }


def practice_from_fhir(r: Resource) -> Practice:
    e = extensions(r)
    return Practice(
        id=r["id"],
        name=r.get("name", ""),
        phone=next((t["value"] for t in r.get("telecom", []) if t.get("system") == "phone"), ""),
        address=next((a.get("text", "") for a in r.get("address", [])), ""),
        timezone=e["timezone"]["valueString"] if "timezone" in e else "America/New_York",
    )


def patient_to_fhir(p: Patient) -> Resource:
    telecom = []
    if p.phone:
        telecom.append({"system": "phone", "value": p.phone, "use": "mobile"})
    if p.email:
        telecom.append({"system": "email", "value": p.email})
    r: Resource = {
        "resourceType": "Patient",
        "id": p.id,
        "active": True,
        "name": [{"use": "official", "family": p.last_name, "given": [p.first_name]}],
        "birthDate": p.date_of_birth.isoformat(),
        "address": [{"line": [p.address_line], "city": p.city, "state": p.state, "postalCode": p.zip_code}],
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": p.language.value}]},
                "preferred": True,
            }
        ],
        "managingOrganization": ref("Organization", p.practice_id),
        "extension": [
            {"url": ext("preferred-channel"), "valueCode": p.preferred_channel.value},
            {"url": ext("sms-consent"), "valueBoolean": p.sms_consent},
            {"url": ext("timezone"), "valueString": p.timezone},
            *({"url": ext("scenario-tag"), "valueString": t} for t in p.scenario_tags),
        ],
    }
    if telecom:
        r["telecom"] = telecom
    if p.portal_user_id:
        r["identifier"] = [{"system": PORTAL_SYSTEM, "value": p.portal_user_id}]
    return r


def patient_from_fhir(r: Resource, practice_id: str) -> Patient:
    e = extensions(r)
    name = (r.get("name") or [{}])[0]
    address = (r.get("address") or [{}])[0]
    telecom = r.get("telecom", []) or []
    language = "en"
    for c in r.get("communication", []) or []:
        for coding in (c.get("language") or {}).get("coding", []) or []:
            language = str(coding.get("code", "en"))[:2]
    return Patient(
        id=r["id"],
        practice_id=ref_id(r.get("managingOrganization")) or practice_id,
        first_name=(name.get("given") or [""])[0],
        last_name=name.get("family", ""),
        date_of_birth=parse_date(r["birthDate"]),
        phone=next((t["value"] for t in telecom if t.get("system") == "phone"), None),
        email=next((t["value"] for t in telecom if t.get("system") == "email"), None),
        address_line=(address.get("line") or [""])[0],
        city=address.get("city", ""),
        state=address.get("state", ""),
        zip_code=address.get("postalCode", ""),
        language=Language(language) if language in ("en", "es") else Language.EN,
        preferred_channel=Channel(e["preferred-channel"]["valueCode"])
        if "preferred-channel" in e
        else Channel.PORTAL,
        sms_consent=bool(e.get("sms-consent", {}).get("valueBoolean", False)),
        timezone=e["timezone"]["valueString"] if "timezone" in e else "America/New_York",
        portal_user_id=identifier(r, PORTAL_SYSTEM),
        scenario_tags=tuple(x["valueString"] for x in ext_values(r, "scenario-tag")),
    )


# --------------------------------------------------------------------------- coverage


def coverage_to_fhir(c: Coverage) -> Resource:
    return {
        "resourceType": "Coverage",
        "id": c.id,
        "status": "active" if c.active else "cancelled",
        "type": {"text": c.plan_type},
        "subscriberId": c.member_id,
        "beneficiary": ref("Patient", c.patient_id),
        "payor": [{"display": c.payer_name}],
        "order": 1 if c.rank is CoverageRank.PRIMARY else 2,
        "costToBeneficiary": [
            {"type": {"coding": [{"code": "copay"}]}, "valueMoney": money(c.copay_cents)},
            {
                "type": {"coding": [{"code": "coinsurance"}]},
                "valueQuantity": {"value": c.coinsurance_percent, "unit": "%"},
            },
        ],
        "extension": [
            {"url": ext("deductible"), "valueMoney": money(c.deductible_cents)},
            {"url": ext("deductible-met"), "valueMoney": money(c.deductible_met_cents)},
            {"url": ext("out-of-pocket-max"), "valueMoney": money(c.out_of_pocket_max_cents)},
            {"url": ext("out-of-pocket-met"), "valueMoney": money(c.out_of_pocket_met_cents)},
        ],
    }


def coverage_from_fhir(r: Resource) -> Coverage:
    e = extensions(r)
    copay = 0
    coinsurance = 0
    for cost in r.get("costToBeneficiary", []) or []:
        code = next((c.get("code") for c in (cost.get("type") or {}).get("coding", [])), None)
        if code == "copay":
            copay = cents(cost.get("valueMoney"))
        elif code == "coinsurance":
            coinsurance = int(Decimal(str((cost.get("valueQuantity") or {}).get("value", 0))))
    return Coverage(
        id=r["id"],
        patient_id=ref_id(r.get("beneficiary")) or "",
        payer_name=(r.get("payor") or [{}])[0].get("display", ""),
        plan_type=(r.get("type") or {}).get("text", ""),
        member_id=r.get("subscriberId", ""),
        rank=CoverageRank.PRIMARY if r.get("order", 1) == 1 else CoverageRank.SECONDARY,
        deductible_cents=cents(e.get("deductible", {}).get("valueMoney")),
        deductible_met_cents=cents(e.get("deductible-met", {}).get("valueMoney")),
        out_of_pocket_max_cents=cents(e.get("out-of-pocket-max", {}).get("valueMoney")),
        out_of_pocket_met_cents=cents(e.get("out-of-pocket-met", {}).get("valueMoney")),
        coinsurance_percent=coinsurance,
        copay_cents=copay,
        active=r.get("status") == "active",
    )


# --------------------------------------------------------------------------- lines, claims, EOBs


def _code_coding(li: LineItem) -> dict[str, Any]:
    system = CPT_SYSTEM if li.code_system == "CPT" else HCPCS_SYSTEM
    return {"coding": [{"system": system, "code": li.code}], "text": li.description}


def _code_from(concept: dict[str, Any]) -> tuple[str, str, str]:
    coding = (concept.get("coding") or [{}])[0]
    system = "CPT" if coding.get("system") == CPT_SYSTEM else "HCPCS"
    return str(coding.get("code", "")), system, str(concept.get("text", ""))


def _adjustment_entry(a: Adjustment) -> dict[str, Any]:
    reason = [{"system": CARC_SYSTEM, "code": a.carc}]
    if a.rarc:
        reason.append({"system": RARC_SYSTEM, "code": a.rarc})
    return {
        "category": {"coding": [{"system": GROUP_SYSTEM, "code": a.group_code.value}]},
        "reason": {"coding": reason},
        "amount": money(a.amount_cents),
    }


def _figures(li: LineItem) -> dict[str, int]:
    return {
        "billed": li.billed_cents,
        "allowed": li.allowed_cents,
        "insurance_paid": li.insurance_paid_cents,
        "deductible": li.deductible_cents,
        "copay": li.copay_cents,
        "coinsurance": li.coinsurance_cents,
        "not_covered": li.not_covered_cents,
        "insurance_pending": li.insurance_pending_cents,
    }


def eob_item(li: LineItem, sequence: int) -> dict[str, Any]:
    adjudication: list[dict[str, Any]] = [
        {
            "category": {"coding": [{"system": ADJ_CODES[name][0], "code": ADJ_CODES[name][1]}]},
            "amount": money(v),
        }
        for name, v in _figures(li).items()
    ]
    adjudication += [_adjustment_entry(a) for a in li.adjustments]
    item: dict[str, Any] = {
        "sequence": sequence,
        "productOrService": _code_coding(li),
        "servicedDate": li.service_date.isoformat(),
        "quantity": {"value": li.units},
        "net": money(li.billed_cents),
        "adjudication": adjudication,
        "extension": [
            {"url": ext("line-item-id"), "valueString": li.id},
            {"url": ext("statement"), "valueReference": ref("Invoice", li.statement_id)},
            {"url": ext("provider-name"), "valueString": li.provider_name},
        ],
    }
    if li.modifiers:
        item["modifier"] = [{"coding": [{"system": MODIFIER_SYSTEM, "code": m}]} for m in li.modifiers]
    return item


def _adjustments_from(entries: Iterable[dict[str, Any]]) -> tuple[dict[str, int], list[Adjustment]]:
    figures: dict[str, int] = dict.fromkeys(FIGURES, 0)
    by_code = {v: k for k, v in ADJ_CODES.items()}
    adjustments: list[Adjustment] = []
    for entry in entries:
        coding = ((entry.get("category") or {}).get("coding") or [{}])[0]
        key = (coding.get("system"), coding.get("code"))
        if key in by_code:
            figures[by_code[key]] = cents(entry.get("amount"))
        elif coding.get("system") == GROUP_SYSTEM:
            reasons = (entry.get("reason") or {}).get("coding", []) or []
            adjustments.append(
                Adjustment(
                    group_code=GroupCode(coding["code"]),
                    carc=next((str(r["code"]) for r in reasons if r.get("system") == CARC_SYSTEM), ""),
                    rarc=next((str(r["code"]) for r in reasons if r.get("system") == RARC_SYSTEM), None),
                    amount_cents=cents(entry.get("amount")),
                )
            )
    return figures, adjustments


def line_from_eob_item(item: dict[str, Any], claim_id: str | None) -> LineItem:
    e = extensions(item)
    code, system, description = _code_from(item.get("productOrService") or {})
    figures, adjustments = _adjustments_from(item.get("adjudication", []) or [])
    return LineItem(
        id=e["line-item-id"]["valueString"],
        statement_id=ref_id(e["statement"]["valueReference"]) or "",
        claim_id=claim_id,
        service_date=parse_date(item["servicedDate"]),
        provider_name=e.get("provider-name", {}).get("valueString", ""),
        code=code,
        code_system=system,
        modifiers=tuple(
            str(m["coding"][0]["code"]) for m in item.get("modifier", []) or [] if m.get("coding")
        ),
        units=int(Decimal(str((item.get("quantity") or {}).get("value", 1)))),
        description=description,
        billed_cents=figures["billed"],
        allowed_cents=figures["allowed"],
        insurance_paid_cents=figures["insurance_paid"],
        insurance_pending_cents=figures["insurance_pending"],
        adjustments=tuple(adjustments),
        deductible_cents=figures["deductible"],
        coinsurance_cents=figures["coinsurance"],
        copay_cents=figures["copay"],
        not_covered_cents=figures["not_covered"],
    )


def claim_to_fhir(c: Claim, lines: list[LineItem]) -> Resource:
    items = [
        {
            "sequence": n,
            "productOrService": _code_coding(li),
            "servicedDate": li.service_date.isoformat(),
            "quantity": {"value": li.units},
            "net": money(li.billed_cents),
            "extension": [{"url": ext("line-item-id"), "valueString": li.id}],
        }
        for n, li in enumerate(lines, start=1)
    ]
    r: Resource = {
        "resourceType": "Claim",
        "id": c.id,
        "identifier": [{"system": CLAIM_NUMBER_SYSTEM, "value": c.claim_number}],
        "status": "active",
        "type": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]
        },
        "use": "claim",
        "patient": ref("Patient", c.patient_id),
        "created": c.submitted_on.isoformat(),
        "insurer": {"display": c.payer_name},
        "provider": {"display": lines[0].provider_name if lines else "the practice"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [
            {"sequence": 1, "focal": True, "coverage": {"display": c.payer_name}},
        ],
        "total": money(c.billed_cents),
        "extension": [
            {"url": ext("coverage-rank"), "valueCode": c.coverage_rank.value},
            {"url": ext("service-date"), "valueDate": c.service_date.isoformat()},
        ],
    }
    if items:
        r["item"] = items
    return r


def eob_to_fhir(c: Claim, lines: list[LineItem]) -> Resource:
    outcome = "queued" if c.status in (ClaimStatus.SUBMITTED, ClaimStatus.PENDING) else "complete"
    r: Resource = {
        "resourceType": "ExplanationOfBenefit",
        "id": f"eob-{c.id}",
        "status": "active",
        "type": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]
        },
        "use": "claim",
        "patient": ref("Patient", c.patient_id),
        "created": (c.adjudicated_on or c.submitted_on).isoformat(),
        "insurer": {"display": c.payer_name},
        "provider": {"display": lines[0].provider_name if lines else "the practice"},
        "claim": ref("Claim", c.id),
        "outcome": outcome,
        "insurance": [{"focal": True, "coverage": {"display": c.payer_name}}],
        "payment": {"amount": money(c.paid_cents)},
        "extension": [{"url": ext("claim-status"), "valueCode": c.status.value}],
    }
    if c.adjudicated_on:
        r["payment"]["date"] = c.adjudicated_on.isoformat()
    if lines:
        r["item"] = [eob_item(li, n) for n, li in enumerate(lines, start=1)]
    if c.denial_codes:
        r["adjudication"] = [
            {
                "category": {"coding": [{"system": GROUP_SYSTEM, "code": d.group_code.value}]},
                "reason": {
                    "coding": [
                        {"system": CARC_SYSTEM, "code": d.carc},
                        *([{"system": RARC_SYSTEM, "code": d.rarc}] if d.rarc else []),
                    ]
                },
            }
            for d in c.denial_codes
        ]
    return r


def claim_from_fhir(claim: Resource, eob: Resource | None) -> Claim:
    ce = extensions(claim)
    status = ClaimStatus.SUBMITTED
    adjudicated_on = None
    paid = 0
    denial_codes: list[ClaimCode] = []
    if eob is not None:
        ee = extensions(eob)
        if "claim-status" in ee:
            status = ClaimStatus(ee["claim-status"]["valueCode"])
        elif eob.get("outcome") == "complete":
            status = ClaimStatus.PAID
        else:
            status = ClaimStatus.PENDING
        pay = eob.get("payment") or {}
        paid = cents(pay.get("amount"))
        if pay.get("date"):
            adjudicated_on = parse_date(pay["date"])
        for entry in eob.get("adjudication", []) or []:
            coding = ((entry.get("category") or {}).get("coding") or [{}])[0]
            reasons = (entry.get("reason") or {}).get("coding", []) or []
            if coding.get("system") == GROUP_SYSTEM:
                denial_codes.append(
                    ClaimCode(
                        group_code=GroupCode(coding["code"]),
                        carc=next((str(r["code"]) for r in reasons if r.get("system") == CARC_SYSTEM), ""),
                        rarc=next((str(r["code"]) for r in reasons if r.get("system") == RARC_SYSTEM), None),
                    )
                )
    items = claim.get("item", []) or []
    return Claim(
        id=claim["id"],
        patient_id=ref_id(claim.get("patient")) or "",
        claim_number=identifier(claim, CLAIM_NUMBER_SYSTEM) or claim["id"],
        payer_name=(claim.get("insurer") or {}).get("display", ""),
        coverage_rank=CoverageRank(ce["coverage-rank"]["valueCode"])
        if "coverage-rank" in ce
        else CoverageRank.PRIMARY,
        status=status,
        service_date=parse_date(ce["service-date"]["valueDate"])
        if "service-date" in ce
        else parse_date(items[0]["servicedDate"])
        if items
        else parse_date(claim["created"]),
        submitted_on=parse_date(claim["created"]),
        adjudicated_on=adjudicated_on,
        billed_cents=cents(claim.get("total")),
        paid_cents=paid,
        denial_codes=tuple(denial_codes),
        line_item_ids=tuple(extensions(i)["line-item-id"]["valueString"] for i in items),
    )


# --------------------------------------------------------------------------- statements (Invoice)


def invoice_line(li: LineItem, sequence: int, eob_id: str | None, eob_sequence: int | None) -> dict[str, Any]:
    components: list[dict[str, Any]] = [{"type": "base", "amount": money(li.billed_cents)}]
    components += [
        {
            "type": "informational",
            "code": {"coding": [{"system": FIGURE_SYSTEM, "code": name}]},
            "amount": money(v),
        }
        for name, v in _figures(li).items()
        if name != "billed"
    ]
    components += [
        {
            "type": "deduction",
            "code": {
                "coding": [
                    {"system": GROUP_SYSTEM, "code": a.group_code.value},
                    {"system": CARC_SYSTEM, "code": a.carc},
                    *([{"system": RARC_SYSTEM, "code": a.rarc}] if a.rarc else []),
                ]
            },
            "amount": money(a.amount_cents),
        }
        for a in li.adjustments
    ]
    extension: list[dict[str, Any]] = [
        {"url": ext("line-item-id"), "valueString": li.id},
        {"url": ext("service-date"), "valueDate": li.service_date.isoformat()},
        {"url": ext("provider-name"), "valueString": li.provider_name},
        {"url": ext("units"), "valueInteger": li.units},
        *({"url": ext("modifier"), "valueString": m} for m in li.modifiers),
    ]
    if li.claim_id:
        extension.append({"url": ext("claim"), "valueReference": ref("Claim", li.claim_id)})
    if eob_id is not None and eob_sequence is not None:
        extension.append({"url": ext("eob-item"), "valueReference": ref("ExplanationOfBenefit", eob_id)})
        extension.append({"url": ext("eob-item-sequence"), "valueInteger": eob_sequence})
    return {
        "sequence": sequence,
        "chargeItemCodeableConcept": _code_coding(li),
        "priceComponent": components,
        "extension": extension,
    }


def line_from_invoice(line: dict[str, Any], statement_id: str, eobs: dict[str, Resource]) -> LineItem:
    """The line as the patient owes it: the adjudication from its EOB item where the Invoice points at
    one on this server, else the Invoice line's own price components (a self-pay line has no EOB)."""
    e = extensions(line)
    claim_id = ref_id(e["claim"]["valueReference"]) if "claim" in e else None
    eob_id = ref_id(e["eob-item"]["valueReference"]) if "eob-item" in e else None
    if eob_id is not None and eob_id in eobs:
        sequence = e["eob-item-sequence"]["valueInteger"]
        for item in eobs[eob_id].get("item", []) or []:
            if item.get("sequence") == sequence:
                return line_from_eob_item(item, claim_id)
    code, system, description = _code_from(line.get("chargeItemCodeableConcept") or {})
    figures: dict[str, int] = dict.fromkeys(FIGURES, 0)
    adjustments: list[Adjustment] = []
    for comp in line.get("priceComponent", []) or []:
        codings = (comp.get("code") or {}).get("coding", []) or []
        if comp.get("type") == "base":
            figures["billed"] = cents(comp.get("amount"))
        elif comp.get("type") == "informational" and codings and codings[0].get("system") == FIGURE_SYSTEM:
            figures[str(codings[0]["code"])] = cents(comp.get("amount"))
        elif comp.get("type") == "deduction":
            adjustments.append(
                Adjustment(
                    group_code=GroupCode(next(c["code"] for c in codings if c.get("system") == GROUP_SYSTEM)),
                    carc=next((str(c["code"]) for c in codings if c.get("system") == CARC_SYSTEM), ""),
                    rarc=next((str(c["code"]) for c in codings if c.get("system") == RARC_SYSTEM), None),
                    amount_cents=cents(comp.get("amount")),
                )
            )
    return LineItem(
        id=e["line-item-id"]["valueString"],
        statement_id=statement_id,
        claim_id=claim_id,
        service_date=parse_date(e["service-date"]["valueDate"]),
        provider_name=e.get("provider-name", {}).get("valueString", ""),
        code=code,
        code_system=system,
        modifiers=tuple(x["valueString"] for x in ext_values(line, "modifier")),
        units=int(e.get("units", {}).get("valueInteger", 1)),
        description=description,
        billed_cents=figures["billed"],
        allowed_cents=figures["allowed"],
        insurance_paid_cents=figures["insurance_paid"],
        insurance_pending_cents=figures["insurance_pending"],
        adjustments=tuple(adjustments),
        deductible_cents=figures["deductible"],
        coinsurance_cents=figures["coinsurance"],
        copay_cents=figures["copay"],
        not_covered_cents=figures["not_covered"],
    )


def invoice_to_fhir(
    statement_id: str,
    number: str,
    patient_id: str,
    practice_id: str,
    statement_date: date,
    due_date: date,
    lines: list[dict[str, Any]],
    billed_cents: int,
    responsibility_cents: int,
) -> Resource:
    r: Resource = {
        "resourceType": "Invoice",
        "id": statement_id,
        "identifier": [{"system": NUMBER_SYSTEM, "value": number}],
        "status": "issued",
        "subject": ref("Patient", patient_id),
        "issuer": ref("Organization", practice_id),
        "date": statement_date.isoformat(),
        "totalGross": money(billed_cents),
        "totalNet": money(responsibility_cents),
        "extension": [{"url": ext("due-date"), "valueDate": due_date.isoformat()}],
    }
    if lines:
        r["lineItem"] = lines
    return r


# --------------------------------------------------------------------------- Basic: payments and plans


def payment_to_fhir(rid: str, p: Payment) -> Resource:
    extension: list[dict[str, Any]] = [
        {"url": ext("amount"), "valueMoney": money(p.amount_cents)},
        {"url": ext("posted-at"), "valueDateTime": instant(p.posted_at)},
        {"url": ext("method"), "valueCode": p.method.value},
        {"url": ext("source"), "valueCode": p.source.value},
        *_str_ext("external-id", p.external_id),
    ]
    if p.statement_id:
        extension.append({"url": ext("statement"), "valueReference": ref("Invoice", p.statement_id)})
    return {
        "resourceType": "Basic",
        "id": rid,
        "identifier": [{"system": KEY_SYSTEM, "value": p.idempotency_key}],
        "code": {"coding": [{"system": KIND_SYSTEM, "code": PAYMENT_KIND}], "text": "Patient payment"},
        "subject": ref("Patient", p.patient_id),
        "created": p.posted_at.date().isoformat(),
        "extension": extension,
    }


def payment_from_fhir(r: Resource) -> Payment:
    e = extensions(r)
    return Payment(
        id=r["id"],
        patient_id=ref_id(r.get("subject")) or "",
        statement_id=ref_id(e["statement"]["valueReference"]) if "statement" in e else None,
        amount_cents=cents(e["amount"]["valueMoney"]),
        posted_at=parse_instant(e["posted-at"]["valueDateTime"]),
        method=PaymentMethod(e["method"]["valueCode"]),
        source=PaymentSource(e["source"]["valueCode"]),
        external_id=e["external-id"]["valueString"] if "external-id" in e else None,
        idempotency_key=identifier(r, KEY_SYSTEM) or "",
    )


def plan_to_fhir(p: PaymentPlan) -> Resource:
    installments = [
        {
            "url": ext("installment"),
            "extension": [
                {"url": "sequence", "valueInteger": i.sequence},
                {"url": "due", "valueDate": i.due_date.isoformat()},
                {"url": "amount", "valueMoney": money(i.amount_cents)},
                {"url": "status", "valueCode": i.status.value},
            ],
        }
        for i in p.installments
    ]
    return {
        "resourceType": "Basic",
        "id": p.id,
        "identifier": [{"system": KEY_SYSTEM, "value": p.idempotency_key}],
        "code": {"coding": [{"system": KIND_SYSTEM, "code": PLAN_KIND}], "text": "Payment plan"},
        "subject": ref("Patient", p.patient_id),
        "created": p.created_at.date().isoformat(),
        "extension": [
            {"url": ext("created-at"), "valueDateTime": instant(p.created_at)},
            *({"url": ext("statement"), "valueReference": ref("Invoice", s)} for s in p.statement_ids),
            {"url": ext("total"), "valueMoney": money(p.total_cents)},
            {"url": ext("down-payment"), "valueMoney": money(p.down_payment_cents)},
            {"url": ext("months"), "valueInteger": p.months},
            {"url": ext("installment-amount"), "valueMoney": money(p.installment_cents)},
            {"url": ext("plan-status"), "valueCode": p.status.value},
            *_str_ext("approver", p.approver),
            *installments,
        ],
    }


def plan_from_fhir(r: Resource) -> PaymentPlan:
    e = extensions(r)
    installments = []
    for inst in ext_values(r, "installment"):
        parts = {x["url"]: x for x in inst.get("extension", [])}
        installments.append(
            Installment(
                sequence=parts["sequence"]["valueInteger"],
                due_date=parse_date(parts["due"]["valueDate"]),
                amount_cents=cents(parts["amount"]["valueMoney"]),
                status=InstallmentStatus(parts["status"]["valueCode"]),
            )
        )
    return PaymentPlan(
        id=r["id"],
        patient_id=ref_id(r.get("subject")) or "",
        statement_ids=tuple(ref_id(x["valueReference"]) or "" for x in ext_values(r, "statement")),
        total_cents=cents(e["total"]["valueMoney"]),
        down_payment_cents=cents(e["down-payment"]["valueMoney"]),
        months=e["months"]["valueInteger"],
        installment_cents=cents(e["installment-amount"]["valueMoney"]),
        installments=tuple(installments),
        status=PlanStatus(e["plan-status"]["valueCode"]),
        approver=e["approver"]["valueString"] if "approver" in e else None,
        created_at=parse_instant(e["created-at"]["valueDateTime"]),
        idempotency_key=identifier(r, KEY_SYSTEM) or "",
    )


# --------------------------------------------------------------------------- Task and Communication

_TASK_STATUS = {
    TicketStatus.OPEN: "requested",
    TicketStatus.ASSIGNED: "accepted",
    TicketStatus.RESOLVED: "completed",
}
_TICKET_STATUS = {v: k for k, v in _TASK_STATUS.items()}
_TASK_PRIORITY = {
    TicketPriority.LOW: "routine",
    TicketPriority.NORMAL: "routine",
    TicketPriority.HIGH: "urgent",
    TicketPriority.URGENT: "stat",
}


def ticket_to_fhir(t: Ticket) -> Resource:
    r: Resource = {
        "resourceType": "Task",
        "id": t.id,
        "identifier": [{"system": KEY_SYSTEM, "value": t.idempotency_key}],
        "status": _TASK_STATUS[t.status],
        "intent": "order",
        "priority": _TASK_PRIORITY[t.priority],
        "code": {"coding": [{"system": f"{SYS}/ticket-reason", "code": t.reason.value}]},
        "description": t.summary,
        "for": ref("Patient", t.patient_id),
        "authoredOn": instant(t.created_at),
        "extension": [
            {"url": ext("thread"), "valueString": t.thread_id},
            {"url": ext("ticket-priority"), "valueCode": t.priority.value},
        ],
    }
    if t.statement_id:
        r["focus"] = ref("Invoice", t.statement_id)
    if t.assignee:
        r["owner"] = {"display": t.assignee}
    if t.transcript:
        r["note"] = [
            {"authorString": line.author.value, "time": instant(line.at), "text": line.text}
            for line in t.transcript
        ]
    return r


def ticket_from_fhir(r: Resource) -> Ticket:
    e = extensions(r)
    return Ticket(
        id=r["id"],
        patient_id=ref_id(r.get("for")) or "",
        thread_id=e["thread"]["valueString"],
        statement_id=ref_id(r.get("focus")),
        reason=TicketReason(r["code"]["coding"][0]["code"]),
        priority=TicketPriority(e["ticket-priority"]["valueCode"]),
        summary=r.get("description", ""),
        transcript=tuple(
            TranscriptLine(author=Author(n["authorString"]), text=n["text"], at=parse_instant(n["time"]))
            for n in r.get("note", []) or []
        ),
        status=_TICKET_STATUS.get(r.get("status", "requested"), TicketStatus.OPEN),
        assignee=(r.get("owner") or {}).get("display"),
        created_at=parse_instant(r["authoredOn"]),
        idempotency_key=identifier(r, KEY_SYSTEM) or "",
    )


def communication_to_fhir(c: Communication, sequence: int) -> Resource:
    r: Resource = {
        "resourceType": "Communication",
        "id": c.id,
        "status": "completed",
        "category": [{"coding": [{"system": f"{SYS}/channel", "code": c.channel.value}]}],
        "subject": ref("Patient", c.patient_id),
        "sent": instant(c.created_at),
        "payload": [{"contentString": c.text}],
        "extension": [
            {"url": ext("thread"), "valueString": c.thread_id},
            {"url": ext("direction"), "valueCode": c.direction.value},
            {"url": ext("author"), "valueCode": c.author.value},
            {"url": ext("sequence"), "valueString": str(sequence)},
        ],
    }
    if c.external_id:
        r["identifier"] = [{"system": MESSAGE_SYSTEM, "value": c.external_id}]
    return r


def communication_sort_key(r: Resource) -> tuple[str, int]:
    seq = extensions(r).get("sequence", {}).get("valueString", "0")
    return (instant(parse_instant(r["sent"])), int(seq))


def communication_from_fhir(r: Resource) -> Communication:
    e = extensions(r)
    return Communication(
        id=r["id"],
        patient_id=ref_id(r.get("subject")) or "",
        thread_id=e["thread"]["valueString"],
        channel=Channel(r["category"][0]["coding"][0]["code"]),
        direction=Direction(e["direction"]["valueCode"]),
        author=Author(e["author"]["valueCode"]),
        text=(r.get("payload") or [{}])[0].get("contentString", ""),
        external_id=identifier(r, MESSAGE_SYSTEM),
        created_at=parse_instant(r["sent"]),
    )


def dumps(resource: Resource) -> str:
    return json.dumps(resource, sort_keys=True)


def validate(resource: Resource) -> None:
    """Raise ``ValueError`` unless ``resource`` is a valid FHIR R4 (R4B models) resource."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
