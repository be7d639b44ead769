"""DrChrono API objects to our models (pure functions over the JSON DrChrono returns).

DrChrono has no statement object: a statement is one appointment's line items (``appt-<id>``, number
``A<id>``, dated by the earliest posting, due ``terms_days`` later). The patient's share of a line is
what DrChrono shows as ``balance_pt + pt_paid``, split into deductible, coinsurance and copay by the
line's ``PR`` transactions (CARC 1, 2, 3); what no PR transaction explains is "not covered". The
contractual adjustment is ``billed - allowed`` with the CARC/RARC of the line's ``CO`` transactions
(none when DrChrono recorded none).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tools.platforms.ledger.convert import normalize_phone
from tools.platforms.models import (
    Adjustment,
    Channel,
    Claim,
    ClaimCode,
    ClaimStatus,
    Coverage,
    CoverageRank,
    GroupCode,
    Language,
    LineItem,
    Patient,
    Payment,
    PaymentMethod,
    PaymentSource,
    Practice,
)

Obj = dict[str, Any]

KEY_TAG = "billing-agent"
_NOTE = re.compile(
    r"\[billing-agent key=(?P<key>[^;\]]+);source=(?P<source>[a-z_]+);method=(?P<method>[a-z]+)"
    r"(?:;ext=(?P<ext>[^;\]]*))?\]"
)

METHOD_TO_DRCHRONO = {
    PaymentMethod.CARD: "CRDT",
    PaymentMethod.ACH: "OTHR",
    PaymentMethod.CASH: "CASH",
    PaymentMethod.CHECK: "CHCK",
}
_CARD_CODES = {"CRDT", "DBIT", "AMEX", "VISA", "MSTR", "DISC", "SQR1", "SQRE", "ONPT", "PTPA", "DRCP"}


# DrChrono's ``insurance_plan_type``: X12 claim filing indicator codes.
PLAN_TYPES = {
    "12": "PPO",
    "13": "POS",
    "14": "EPO",
    "15": "Indemnity",
    "16": "HMO Medicare Risk",
    "17": "DMO",
    "HM": "HMO",
    "MA": "Medicare Part A",
    "MB": "Medicare Part B",
    "MC": "Medicaid",
    "CH": "TRICARE",
    "VA": "VA",
    "BL": "Blue Cross/Blue Shield",
    "CI": "Commercial",
    "WC": "Workers' compensation",
}


def cents(value: Any) -> int:
    if value in (None, ""):
        return 0
    try:
        return int((Decimal(str(value)) * 100).to_integral_value())
    except ArithmeticError as exc:  # decimal.InvalidOperation: not a number
        raise ValueError(f"DrChrono sent {value!r} where an amount belongs") from exc


def _copay(value: Any) -> int:
    """The patient's default copay (free text in DrChrono): 0 when it is not an amount."""
    try:
        return max(0, cents(str(value).strip().lstrip("$"))) if value else 0
    except ValueError:
        return 0


def _units(value: Any) -> int:
    try:
        return max(1, int(Decimal(str(value)))) if value not in (None, "") else 1
    except ArithmeticError:
        return 1


def amount(cents_: int) -> str:
    return f"{Decimal(cents_) / 100:.2f}"


def parse_day(value: str | None) -> date | None:
    """A date DrChrono sent, or ``None`` when it sent none we can read (never a guessed one)."""
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def parse_instant(value: str | None) -> datetime:
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        at = None
    if at is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def statement_id(appointment: int | str) -> str:
    return f"appt-{appointment}"


def appointment_of(statement: str) -> int | None:
    if not statement.startswith("appt-") or not statement[5:].isdigit():
        return None
    return int(statement[5:])


def practice(office: Obj) -> Practice:
    parts = [office.get("address"), office.get("city"), office.get("state"), office.get("zip_code")]
    return Practice(
        id=str(office["id"]),
        name=str(office.get("name") or ""),
        phone=str(office.get("phone_number") or ""),
        address=", ".join(str(p) for p in parts if p),
    )


def patient(obj: Obj, practice_id: str) -> Patient:
    phone = normalize_phone(str(obj.get("cell_phone") or obj.get("home_phone") or "")) or None
    language = Language.ES if obj.get("preferred_language") == "spa" else Language.EN
    return Patient(
        id=str(obj["id"]),
        practice_id=practice_id,
        first_name=str(obj.get("first_name") or ""),
        last_name=str(obj.get("last_name") or ""),
        date_of_birth=parse_day(obj.get("date_of_birth")) or date(1900, 1, 1),
        phone=phone,
        email=obj.get("email") or None,
        address_line=str(obj.get("address") or ""),
        city=str(obj.get("city") or ""),
        state=str(obj.get("state") or ""),
        zip_code=str(obj.get("zip_code") or ""),
        language=language,
        preferred_channel=Channel.SMS if phone and not obj.get("disable_sms_messages") else Channel.PORTAL,
        sms_consent=bool(phone) and not bool(obj.get("disable_sms_messages")),
        portal_user_id=obj.get("chart_id") or None,
    )


def coverages(obj: Obj) -> list[Coverage]:
    out = []
    for rank, key in (
        (CoverageRank.PRIMARY, "primary_insurance"),
        (CoverageRank.SECONDARY, "secondary_insurance"),
    ):
        ins = obj.get(key) or {}
        if not ins.get("insurance_company") and not ins.get("insurance_id_number"):
            continue
        out.append(
            Coverage(
                id=f"{obj['id']}-{rank.value}",
                patient_id=str(obj["id"]),
                payer_name=str(ins.get("insurance_company") or ""),
                plan_type=PLAN_TYPES.get(
                    str(ins.get("insurance_plan_type") or ""), str(ins.get("insurance_plan_type") or "")
                ),
                member_id=str(ins.get("insurance_id_number") or ""),
                rank=rank,
                # DrChrono does not hold benefit accumulators: these read as zero (docs/platforms.md).
                deductible_cents=0,
                deductible_met_cents=0,
                out_of_pocket_max_cents=0,
                out_of_pocket_met_cents=0,
                coinsurance_percent=0,
                copay_cents=_copay(obj.get("copay")) if rank is CoverageRank.PRIMARY else 0,
            )
        )
    return out


def line_item(obj: Obj, transactions: Iterable[Obj] | None, provider: str) -> LineItem:
    billed = cents(obj.get("billed") if obj.get("billed") is not None else obj.get("price"))
    allowed = cents(obj.get("allowed"))
    ins_paid = cents(obj.get("ins1_paid")) + cents(obj.get("ins2_paid")) + cents(obj.get("ins3_paid"))
    patient_share = max(0, cents(obj.get("balance_pt")) + cents(obj.get("pt_paid")))
    split = {"1": 0, "2": 0, "3": 0}
    adjustments: list[Adjustment] = []
    contractual = max(0, billed - allowed)
    co_codes: list[tuple[str, str | None]] = []
    for t in transactions or ():
        group = str(t.get("adjustment_group_code") or "")
        reason = str(t.get("adjustment_reason") or "")
        carc, _, rarc = reason.partition(" ")
        if group == "PR" and carc in split:
            split[carc] += cents(t.get("adjustment"))
        elif group == "CO" and carc:
            co_codes.append((carc, rarc or None))
        elif group in ("OA", "PI") and carc:
            adjustments.append(
                Adjustment(group_code=GroupCode(group), carc=carc, amount_cents=cents(t.get("adjustment")))
            )
    if contractual:
        # No CO transaction: DrChrono gave no reason code, and we do not invent one.
        co_carc, co_rarc = co_codes[0] if co_codes else ("", None)
        adjustments.insert(
            0, Adjustment(group_code=GroupCode.CO, carc=co_carc, rarc=co_rarc, amount_cents=contractual)
        )
    deductible, coinsurance, copay = (min(split[k], patient_share) for k in ("1", "2", "3"))
    explained = deductible + coinsurance + copay
    if explained > patient_share:  # inconsistent transactions: trust the patient balance
        deductible = coinsurance = copay = 0
        explained = 0
    pending = max(0, allowed - ins_paid - patient_share)
    code_system = "CPT" if obj.get("procedure_type", "C") == "C" else "HCPCS"
    return LineItem(
        id=str(obj["id"]),
        statement_id=statement_id(obj["appointment"]),
        claim_id=f"claim-{obj['appointment']}" if obj.get("billing_status") or ins_paid or pending else None,
        service_date=parse_day(obj.get("service_date"))
        or parse_day(obj.get("posted_date"))
        or date(1970, 1, 1),
        provider_name=provider,
        code=str(obj.get("code") or ""),
        code_system=code_system,
        modifiers=tuple(str(m) for m in obj.get("modifiers") or () if m),
        units=_units(obj.get("quantity") or obj.get("units")),
        description=str(obj.get("description") or ""),
        billed_cents=billed,
        allowed_cents=allowed,
        insurance_paid_cents=ins_paid,
        insurance_pending_cents=pending,
        adjustments=tuple(adjustments),
        deductible_cents=deductible,
        coinsurance_cents=coinsurance,
        copay_cents=copay,
        not_covered_cents=patient_share - explained,
    )


def statement_dates(lines: list[Obj], terms_days: int) -> tuple[date, date]:
    days = [parse_day(li.get("posted_date")) or parse_day(li.get("service_date")) for li in lines]
    first = min((d for d in days if d is not None), default=date(1970, 1, 1))
    return first, first + timedelta(days=terms_days)


def claim(appointment: int, lines: list[Obj], transactions: list[Obj], payer: str, patient_id: str) -> Claim:
    billed = sum(cents(li.get("billed") or li.get("price")) for li in lines)
    paid = sum(
        cents(li.get("ins1_paid")) + cents(li.get("ins2_paid")) + cents(li.get("ins3_paid")) for li in lines
    )
    statuses = {str(li.get("billing_status") or "") for li in lines}
    if any(li.get("denied_flag") for li in lines) or any(
        s.startswith(("Rejected", "ERA Denied")) for s in statuses
    ):
        status = ClaimStatus.DENIED
    elif "Paid in Full" in statuses:
        status = ClaimStatus.PAID
    elif paid:
        status = ClaimStatus.PARTIALLY_PAID
    elif any(s.startswith("In Process") or s == "Payer Acknowledged" for s in statuses):
        status = ClaimStatus.PENDING
    else:
        status = ClaimStatus.SUBMITTED
    posted = [parse_day(t.get("posted_date")) for t in transactions]
    denial = []
    for t in transactions:
        group = str(t.get("adjustment_group_code") or "")
        carc, _, rarc = str(t.get("adjustment_reason") or "").partition(" ")
        if group in GroupCode.__members__ and carc and status is ClaimStatus.DENIED:
            denial.append(ClaimCode(group_code=GroupCode(group), carc=carc, rarc=rarc or None))
    first_day, _ = statement_dates(lines, 0)
    return Claim(
        id=f"claim-{appointment}",
        patient_id=patient_id,
        claim_number=str(appointment),
        payer_name=payer,
        status=status,
        service_date=min((parse_day(li.get("service_date")) or first_day for li in lines), default=first_day),
        submitted_on=first_day,
        adjudicated_on=max((d for d in posted if d is not None), default=None),
        billed_cents=billed,
        paid_cents=paid,
        denial_codes=tuple(denial),
        line_item_ids=tuple(str(li["id"]) for li in lines),
    )


def payment_note(key: str, source: PaymentSource, method: PaymentMethod, external_id: str | None) -> str:
    ext = f";ext={external_id}" if external_id else ""
    return f"[{KEY_TAG} key={key};source={source.value};method={method.value}{ext}]"


def payment(obj: Obj) -> Payment | None:
    """Our payment from a DrChrono patient payment; ``None`` for a refund or a zero line."""
    value = cents(obj.get("amount"))
    if value <= 0:
        return None
    note = _NOTE.search(str(obj.get("notes") or ""))
    code = str(obj.get("payment_method") or "")
    if note:
        method = PaymentMethod(note["method"])
        source = PaymentSource(note["source"])
        key = note["key"]
        external = note["ext"] or None
    else:
        method = (
            PaymentMethod.CASH
            if code == "CASH"
            else PaymentMethod.CHECK
            if code == "CHCK"
            else PaymentMethod.CARD
            if code in _CARD_CODES
            else PaymentMethod.ACH
        )
        source = PaymentSource.FRONT_DESK
        key = f"drchrono-{obj['id']}"
        external = obj.get("trace_number") or None
    return Payment(
        id=str(obj["id"]),
        patient_id=str(obj["patient"]),
        statement_id=statement_id(obj["appointment"]) if obj.get("appointment") else None,
        amount_cents=value,
        posted_at=parse_instant(obj.get("created_at") or obj.get("posted_date")),
        method=method,
        source=source,
        external_id=external,
        idempotency_key=key,
    )


def next_url(page: Obj) -> str | None:
    """The page's ``next`` link when it is one (absolute or rooted); anything else ends the listing."""
    nxt = page.get("next")
    if isinstance(nxt, str) and nxt.startswith(("http://", "https://", "/")):
        return nxt
    return None


def results(page: Obj) -> list[Obj]:
    """A page's objects: DrChrono answers ``results`` on some endpoints and ``data`` on others."""
    items = page.get("results")
    if items is None:
        items = page.get("data")
    return list(items or [])
