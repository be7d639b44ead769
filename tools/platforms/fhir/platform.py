"""``BillingPlatform`` on a FHIR R4 server (see ``mapping.py`` for the resources and docs/platforms.md).

Reads: one batch Bundle (``POST [base]``, type ``batch``) fetches everything financial about a patient
(Patient, Coverage, Claim, ExplanationOfBenefit, Invoice, Basic payments and plans, Task) in one HTTP
call; :class:`~tools.platforms.http.ReadCache` keeps it for a few seconds, so a turn that reads the
summary, the statements and one statement costs one call. Communications are read on their own.

Writes: conditional creates keyed by our idempotency key (``If-None-Exist: identifier=...``), so a
retry after a lost response finds the first write; within one process a lock per key serialises
concurrent attempts. Updates (plan status, ticket status) send ``If-Match`` with the version read.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from tools.errors import (
    ActivePlanExists,
    IdempotencyConflict,
    InvalidAmount,
    InvalidTransition,
    PatientNotFound,
    PlanNotFound,
    PlatformUnavailable,
    StatementNotFound,
    TicketNotFound,
)
from tools.platforms.activity import account_activity, decode_cursor, encode_cursor
from tools.platforms.fhir import mapping as m
from tools.platforms.http import PlatformHttp, ReadCache
from tools.platforms.ledger.convert import normalize_phone
from tools.platforms.ledger.invariants import derive_status, statement_balance
from tools.platforms.ledger.platform import (
    OPEN_PLAN_STATUSES,
    PLAN_TRANSITIONS,
    _same_plan,
    _same_ticket,
    _validate_plan,
)
from tools.platforms.models import (
    AccountActivity,
    AccountSummary,
    BalanceChanges,
    Change,
    ChangeKind,
    Claim,
    Communication,
    CommunicationIn,
    Coverage,
    Patient,
    Payment,
    PaymentPlan,
    PaymentRequest,
    PlanRequest,
    PlanStatus,
    Practice,
    Statement,
    StatementStatus,
    StatementSummary,
    Ticket,
    TicketRequest,
    TicketStatus,
    VerificationResult,
)

Clock = Callable[[], datetime]
FHIR_JSON = "application/fhir+json"
PAGE = 500


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Snapshot:
    """What the server holds about one patient, as resources."""

    patient: m.Resource
    coverages: list[m.Resource] = field(default_factory=list)
    claims: list[m.Resource] = field(default_factory=list)
    eobs: dict[str, m.Resource] = field(default_factory=dict)  # by id
    invoices: list[m.Resource] = field(default_factory=list)
    payments: list[m.Resource] = field(default_factory=list)
    plans: list[m.Resource] = field(default_factory=list)
    tasks: list[m.Resource] = field(default_factory=list)


class FhirPlatform:
    """A FHIR R4 server as the practice's billing platform."""

    def __init__(
        self,
        http: PlatformHttp,
        *,
        practice_id: str,
        clock: Clock = _utcnow,
        cache_ttl_s: float = 10.0,
    ) -> None:
        self.http = http
        self.practice_id = practice_id
        self._now = clock
        self.cache = ReadCache(cache_ttl_s)
        self._key_locks: dict[str, asyncio.Lock] = {}
        self._patient_locks: dict[str, asyncio.Lock] = {}

    name = "fhir"

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ transport

    async def _json(
        self,
        method: str,
        url: str,
        *,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> tuple[int, Any]:
        response = await self.http.request(
            method,
            url,
            params=params,
            json=body,
            idempotent=idempotent,
            headers={
                "accept": FHIR_JSON,
                **({"content-type": FHIR_JSON} if body is not None else {}),
                **(headers or {}),
            },
        )
        if response.status_code >= 400 and response.status_code not in (404, 410, 409, 412):
            raise PlatformUnavailable(
                f"the FHIR server refused {method} {url.split('?')[0]}: {response.status_code}"
            )
        data = response.json() if response.content else None
        return response.status_code, data

    async def _search(self, resource_type: str, params: list[tuple[str, str]]) -> list[m.Resource]:
        """Every match of a search, following ``next`` links."""
        out: list[m.Resource] = []
        _, bundle = await self._json("GET", resource_type, params=[*params, ("_count", str(PAGE))])
        while True:
            out += [
                e["resource"]
                for e in (bundle or {}).get("entry", []) or []
                if e.get("search", {}).get("mode", "match") == "match" and "resource" in e
            ]
            nxt = next(
                (lnk["url"] for lnk in (bundle or {}).get("link", []) if lnk.get("relation") == "next"), None
            )
            if not nxt:
                return out
            _, bundle = await self._json("GET", nxt)

    async def _batch(self, urls: list[str]) -> list[tuple[int, Any]]:
        bundle = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": u}} for u in urls],
        }
        _, data = await self._json("POST", "", body=bundle, idempotent=True)  # a batch of reads
        out: list[tuple[int, Any]] = []
        for entry in (data or {}).get("entry", []) or []:
            status = int(str((entry.get("response") or {}).get("status", "500")).split()[0])
            out.append((status, entry.get("resource")))
        if len(out) != len(urls):
            raise PlatformUnavailable("the FHIR server answered a batch with the wrong number of entries")
        return out

    # ------------------------------------------------------------------ the patient snapshot

    async def _snapshot(self, patient_id: str) -> _Snapshot:
        return await self.cache.get_or_load(patient_id, "snapshot", lambda: self._load(patient_id))  # type: ignore[no-any-return]  # the cache holds what _load returned

    async def _load(self, patient_id: str) -> _Snapshot:
        pid = patient_id
        if not _FHIR_ID.fullmatch(pid):
            raise PatientNotFound(f"no patient {patient_id}")
        urls = [
            f"Patient/{pid}",
            f"Coverage?beneficiary=Patient/{pid}&_count={PAGE}",
            f"Claim?patient=Patient/{pid}&_count={PAGE}",
            f"ExplanationOfBenefit?patient=Patient/{pid}&_count={PAGE}",
            f"Invoice?subject=Patient/{pid}&_count={PAGE}",
            f"Basic?subject=Patient/{pid}&_count={PAGE}",
            f"Task?patient=Patient/{pid}&_count={PAGE}",
        ]
        results = await self._batch(urls)
        status, patient = results[0]
        if status == 404 or status == 410 or not patient or patient.get("resourceType") != "Patient":
            raise PatientNotFound(f"no patient {patient_id}")
        bundles: list[list[m.Resource]] = []
        for (st, bundle), url in zip(results[1:], urls[1:], strict=True):
            if st >= 400:
                raise PlatformUnavailable(f"the FHIR server could not search {url.split('?')[0]}: {st}")
            if any(lnk.get("relation") == "next" for lnk in (bundle or {}).get("link", [])):
                # More than a page: read that search in full (rare: hundreds of records for one patient).
                rtype, query = url.split("?", 1)
                params = [tuple(p.split("=", 1)) for p in query.split("&") if not p.startswith("_count")]
                bundles.append(await self._search(rtype, params))  # type: ignore[arg-type]  # pairs
            else:
                bundles.append(
                    [e["resource"] for e in (bundle or {}).get("entry", []) or [] if "resource" in e]
                )
        coverages, claims, eobs, invoices, basics, tasks = bundles
        return _Snapshot(
            patient=patient,
            coverages=coverages,
            claims=claims,
            eobs={e["id"]: e for e in eobs},
            invoices=invoices,
            payments=[b for b in basics if m.record_kind(b) == m.PAYMENT_KIND],
            plans=[b for b in basics if m.record_kind(b) == m.PLAN_KIND],
            tasks=tasks,
        )

    async def _fresh(self, patient_id: str) -> _Snapshot:
        """The snapshot read now, for a write's checks."""
        self.cache.invalidate(patient_id)
        return await self._snapshot(patient_id)

    def _statement(self, snap: _Snapshot, invoice: m.Resource) -> Statement:
        sid = invoice["id"]
        lines = tuple(
            m.line_from_invoice(li, sid, snap.eobs)
            for li in sorted(invoice.get("lineItem", []) or [], key=lambda li: li.get("sequence", 0))
        )
        payments = tuple(
            sorted(
                (p for p in map(m.payment_from_fhir, snap.payments) if p.statement_id == sid),
                key=lambda p: (p.posted_at, p.id),
            )
        )
        balance = statement_balance(lines, payments)
        return Statement(
            id=sid,
            number=m.identifier(invoice, m.NUMBER_SYSTEM) or sid,
            patient_id=snap.patient["id"],
            statement_date=m.parse_date(invoice["date"]),
            due_date=m.parse_date(m.extensions(invoice)["due-date"]["valueDate"]),
            line_items=lines,
            payments=payments,
            balance_cents=balance,
            status=derive_status(balance),
        )

    def _statements(self, snap: _Snapshot) -> list[Statement]:
        out = [self._statement(snap, inv) for inv in snap.invoices if inv.get("status") != "cancelled"]
        return sorted(out, key=lambda s: (s.statement_date, s.id), reverse=True)

    async def sample_patient_ids(self, limit: int) -> list[str]:
        """One page of patient ids (``billing-agent platform check``); not part of the port."""
        _, bundle = await self._json("GET", "Patient", params=[("_count", str(limit)), ("_elements", "id")])
        return [e["resource"]["id"] for e in (bundle or {}).get("entry", []) or [] if "resource" in e][:limit]

    # ------------------------------------------------------------------ identity

    async def get_practice(self) -> Practice:
        status, org = await self._json("GET", f"Organization/{self.practice_id}")
        if status >= 400 or not org:
            raise PlatformUnavailable(f"the FHIR server has no Organization/{self.practice_id}")
        return m.practice_from_fhir(org)

    async def find_patient_by_portal_identity(self, portal_user_id: str) -> Patient | None:
        found = await self._search("Patient", [("identifier", f"{m.PORTAL_SYSTEM}|{portal_user_id}")])
        return m.patient_from_fhir(found[0], self.practice_id) if len(found) == 1 else None

    async def find_patients_by_phone(self, phone: str) -> list[Patient]:
        e164 = normalize_phone(phone)
        if e164 is None:
            return []
        found = await self._search("Patient", [("phone", e164)])
        return sorted((m.patient_from_fhir(r, self.practice_id) for r in found), key=lambda p: p.id)

    async def verify_identity(
        self,
        candidate_patient_ids: list[str],
        date_of_birth: date,
        zip_code: str | None,
        statement_number: str | None,
    ) -> VerificationResult:
        for pid in candidate_patient_ids:
            try:
                snap = await self._snapshot(pid)
            except PatientNotFound:
                continue
            patient = m.patient_from_fhir(snap.patient, self.practice_id)
            if patient.date_of_birth != date_of_birth:
                continue
            zip_ok = zip_code is not None and _zip5(zip_code) == _zip5(patient.zip_code) != ""
            number_ok = statement_number is not None and any(
                m.identifier(inv, m.NUMBER_SYSTEM) == statement_number.strip() for inv in snap.invoices
            )
            if zip_ok or number_ok:
                return VerificationResult(verified=True, patient_id=pid)
        return VerificationResult(verified=False, patient_id=None)

    async def get_patient(self, patient_id: str) -> Patient:
        return m.patient_from_fhir((await self._snapshot(patient_id)).patient, self.practice_id)

    # ------------------------------------------------------------------ reads

    async def get_account_summary(self, patient_id: str) -> AccountSummary:
        snap = await self._snapshot(patient_id)
        statements = self._statements(snap)
        unapplied = sum(
            p.amount_cents for p in map(m.payment_from_fhir, snap.payments) if p.statement_id is None
        )
        balance = sum(s.balance_cents for s in statements) - unapplied
        plans = [m.plan_from_fhir(p) for p in snap.plans]
        return AccountSummary(
            patient_id=patient_id,
            balance_cents=balance,
            open_statement_count=sum(1 for s in statements if s.status is StatementStatus.OPEN),
            credit_cents=max(0, -balance),
            has_active_plan=any(p.status is PlanStatus.ACTIVE for p in plans),
            has_defaulted_plan=any(p.status is PlanStatus.DEFAULTED for p in plans),
        )

    async def list_coverages(self, patient_id: str) -> list[Coverage]:
        snap = await self._snapshot(patient_id)
        return sorted(map(m.coverage_from_fhir, snap.coverages), key=lambda c: (c.rank.value, c.id))

    async def list_statements(self, patient_id: str) -> list[StatementSummary]:
        return [
            StatementSummary(
                id=s.id,
                number=s.number,
                patient_id=s.patient_id,
                statement_date=s.statement_date,
                due_date=s.due_date,
                total_patient_responsibility_cents=s.total_patient_responsibility_cents,
                total_paid_cents=s.total_paid_cents,
                balance_cents=s.balance_cents,
                status=s.status,
                line_count=len(s.line_items),
            )
            for s in self._statements(await self._snapshot(patient_id))
        ]

    async def get_statement(self, patient_id: str, statement_id: str) -> Statement:
        snap = await self._snapshot(patient_id)
        for inv in snap.invoices:
            if inv["id"] == statement_id:
                return self._statement(snap, inv)
        raise StatementNotFound(f"no statement {statement_id}")

    async def find_statement_by_number(self, patient_id: str, number: str) -> Statement | None:
        snap = await self._snapshot(patient_id)
        for inv in snap.invoices:
            if m.identifier(inv, m.NUMBER_SYSTEM) == number.strip():
                return self._statement(snap, inv)
        return None

    async def list_claims(self, patient_id: str) -> list[Claim]:
        snap = await self._snapshot(patient_id)
        by_claim = {m.ref_id(e.get("claim")): e for e in snap.eobs.values()}
        claims = [m.claim_from_fhir(c, by_claim.get(c["id"])) for c in snap.claims]
        return sorted(claims, key=lambda c: (c.service_date, c.id), reverse=True)

    async def list_payments(self, patient_id: str) -> list[Payment]:
        snap = await self._snapshot(patient_id)
        return sorted(map(m.payment_from_fhir, snap.payments), key=lambda p: (p.posted_at, p.id))

    async def list_payment_plans(self, patient_id: str) -> list[PaymentPlan]:
        snap = await self._snapshot(patient_id)
        return sorted(map(m.plan_from_fhir, snap.plans), key=lambda p: (p.created_at, p.id))

    async def list_tickets(self, patient_id: str) -> list[Ticket]:
        snap = await self._snapshot(patient_id)
        return sorted(map(m.ticket_from_fhir, snap.tasks), key=lambda t: (t.created_at, t.id))

    async def list_communications(
        self, patient_id: str, thread_id: str | None, limit: int
    ) -> list[Communication]:
        await self._snapshot(patient_id)  # PatientNotFound for an unknown patient
        if limit <= 0:
            return []
        found = await self._search("Communication", [("subject", f"Patient/{patient_id}")])
        rows = sorted(found, key=m.communication_sort_key)
        comms = [m.communication_from_fhir(r) for r in rows]
        if thread_id is not None:
            comms = [c for c in comms if c.thread_id == thread_id]
        return comms[-limit:]

    # ------------------------------------------------------------------ writes

    def _key_lock(self, key: str) -> asyncio.Lock:
        return self._key_locks.setdefault(key, asyncio.Lock())

    def _patient_lock(self, patient_id: str) -> asyncio.Lock:
        return self._patient_locks.setdefault(patient_id, asyncio.Lock())

    async def _by_key(self, resource_type: str, key: str) -> m.Resource | None:
        found = await self._search(resource_type, [("identifier", f"{m.KEY_SYSTEM}|{key}")])
        return found[0] if found else None

    async def _create(self, resource: m.Resource, key_search: str) -> m.Resource:
        m.validate(resource)
        status, created = await self._json(
            "POST",
            resource["resourceType"],
            body=resource,
            headers={"if-none-exist": key_search, "prefer": "return=representation"},
            idempotent=True,  # conditional create: a repeat finds the first
        )
        if status >= 400 or not created:
            raise PlatformUnavailable(f"the FHIR server refused a {resource['resourceType']}: {status}")
        return created  # type: ignore[no-any-return]  # JSON object

    async def _update(self, resource: m.Resource, version: str | None) -> m.Resource:
        m.validate(resource)
        headers = {"prefer": "return=representation"}
        if version:
            headers["if-match"] = f'W/"{version}"'
        status, updated = await self._json(
            "PUT", f"{resource['resourceType']}/{resource['id']}", body=resource, headers=headers
        )
        if status == 412:
            raise PlatformUnavailable("the record changed on the FHIR server while we updated it; try again")
        if status >= 400 or not updated:
            raise PlatformUnavailable(
                f"the FHIR server refused an update of {resource['resourceType']}: {status}"
            )
        return updated  # type: ignore[no-any-return]  # JSON object

    async def record_payment(self, patient_id: str, request: PaymentRequest) -> Payment:
        async with self._key_lock(f"pay:{request.idempotency_key}"):
            existing = await self._by_key("Basic", request.idempotency_key)
            if existing is not None and m.record_kind(existing) == m.PAYMENT_KIND:
                return _same_payment(m.payment_from_fhir(existing), patient_id, request)
            if existing is not None:
                raise IdempotencyConflict(
                    f"idempotency key {request.idempotency_key!r} was used for another record"
                )
            snap = await self._fresh(patient_id)
            if request.amount_cents <= 0:
                raise InvalidAmount("a payment must be a positive amount")
            if request.statement_id is not None and not any(
                i["id"] == request.statement_id for i in snap.invoices
            ):
                raise StatementNotFound(f"no statement {request.statement_id}")
            payment = Payment(
                id=f"pay-{uuid.uuid4().hex}",
                patient_id=patient_id,
                statement_id=request.statement_id,
                amount_cents=request.amount_cents,
                posted_at=self._now(),
                method=request.method,
                source=request.source,
                external_id=request.external_id,
                idempotency_key=request.idempotency_key,
            )
            resource = m.payment_to_fhir(payment.id, payment)
            resource["extension"].append({"url": m.ext("sequence"), "valueString": str(time.time_ns())})
            created = await self._create(resource, f"identifier={m.KEY_SYSTEM}|{request.idempotency_key}")
            self.cache.invalidate(patient_id)
            return _same_payment(m.payment_from_fhir(created), patient_id, request)

    async def create_payment_plan(self, patient_id: str, request: PlanRequest) -> PaymentPlan:
        async with self._patient_lock(patient_id), self._key_lock(f"plan:{request.idempotency_key}"):
            snap = await self._fresh(patient_id)
            existing = await self._by_key("Basic", request.idempotency_key)
            if existing is not None:
                if m.record_kind(existing) != m.PLAN_KIND:
                    raise IdempotencyConflict(
                        f"idempotency key {request.idempotency_key!r} was used for another record"
                    )
                plan = m.plan_from_fhir(existing)
                return _same_plan(plan, _requires_approval(existing), patient_id, request)
            _validate_plan(request)
            invoices = {i["id"] for i in snap.invoices}
            for sid in request.statement_ids:
                if sid not in invoices:
                    raise StatementNotFound(f"no statement {sid}")
            if any(m.plan_from_fhir(p).status.value in OPEN_PLAN_STATUSES for p in snap.plans):
                raise ActivePlanExists("the patient already has an active or pending payment plan")
            plan = PaymentPlan(
                id=f"plan-{uuid.uuid4().hex}",
                patient_id=patient_id,
                statement_ids=request.statement_ids,
                total_cents=request.total_cents,
                down_payment_cents=request.down_payment_cents,
                months=request.months,
                installment_cents=request.installment_cents,
                installments=tuple(sorted(request.installments, key=lambda i: i.sequence)),
                status=PlanStatus.PENDING_APPROVAL if request.requires_approval else PlanStatus.ACTIVE,
                approver=None,
                created_at=self._now(),
                idempotency_key=request.idempotency_key,
            )
            resource = _with_requires_approval(m.plan_to_fhir(plan), request.requires_approval)
            created = await self._create(resource, f"identifier={m.KEY_SYSTEM}|{request.idempotency_key}")
            self.cache.invalidate(patient_id)
            return _same_plan(m.plan_from_fhir(created), _requires_approval(created), patient_id, request)

    async def set_plan_status(
        self, patient_id: str, plan_id: str, status: PlanStatus, approver: str | None
    ) -> PaymentPlan:
        async with self._patient_lock(patient_id):
            snap = await self._fresh(patient_id)
            resource = next((p for p in snap.plans if p["id"] == plan_id), None)
            if resource is None:
                raise PlanNotFound(f"no payment plan {plan_id}")
            plan = m.plan_from_fhir(resource)
            if plan.status is status:
                return plan
            if status not in PLAN_TRANSITIONS[plan.status]:
                raise InvalidTransition(f"a {plan.status.value} plan cannot become {status.value}")
            if status is PlanStatus.ACTIVE and any(
                p["id"] != plan_id and m.plan_from_fhir(p).status.value in OPEN_PLAN_STATUSES
                for p in snap.plans
            ):
                raise ActivePlanExists("the patient already has another active or pending payment plan")
            changed = plan.model_copy(update={"status": status, "approver": approver or plan.approver})
            updated = await self._update(
                _with_requires_approval(m.plan_to_fhir(changed), _requires_approval(resource)),
                (resource.get("meta") or {}).get("versionId"),
            )
            self.cache.invalidate(patient_id)
            return m.plan_from_fhir(updated)

    async def create_ticket(self, patient_id: str, request: TicketRequest) -> Ticket:
        async with self._key_lock(f"ticket:{request.idempotency_key}"):
            snap = await self._fresh(patient_id)
            existing = await self._by_key("Task", request.idempotency_key)
            if existing is not None:
                return _same_ticket(m.ticket_from_fhir(existing), patient_id, request)
            if request.statement_id is not None and not any(
                i["id"] == request.statement_id for i in snap.invoices
            ):
                raise StatementNotFound(f"no statement {request.statement_id}")
            ticket = Ticket(
                id=f"tkt-{uuid.uuid4().hex}",
                patient_id=patient_id,
                thread_id=request.thread_id,
                statement_id=request.statement_id,
                reason=request.reason,
                priority=request.priority,
                summary=request.summary,
                transcript=request.transcript,
                status=TicketStatus.OPEN,
                assignee=None,
                created_at=self._now(),
                idempotency_key=request.idempotency_key,
            )
            created = await self._create(
                m.ticket_to_fhir(ticket), f"identifier={m.KEY_SYSTEM}|{request.idempotency_key}"
            )
            self.cache.invalidate(patient_id)
            return _same_ticket(m.ticket_from_fhir(created), patient_id, request)

    async def update_ticket(self, ticket_id: str, status: TicketStatus, assignee: str | None) -> Ticket:
        if not _FHIR_ID.fullmatch(ticket_id):
            raise TicketNotFound(f"no ticket {ticket_id}")
        code, resource = await self._json("GET", f"Task/{ticket_id}")
        if code in (404, 410) or not resource:
            raise TicketNotFound(f"no ticket {ticket_id}")
        ticket = m.ticket_from_fhir(resource)
        changed = ticket.model_copy(update={"status": status, "assignee": assignee or ticket.assignee})
        updated = await self._update(m.ticket_to_fhir(changed), (resource.get("meta") or {}).get("versionId"))
        self.cache.invalidate(ticket.patient_id)
        return m.ticket_from_fhir(updated)

    async def log_communication(self, patient_id: str, communication: CommunicationIn) -> Communication:
        """One call: a conditional create when the message has a provider id (a repeat returns the first),
        else a PUT at a new id. The patient check reads the snapshot the turn needs anyway, at the same
        time as the write; an unknown patient's message is deleted again before PatientNotFound."""
        if not _FHIR_ID.fullmatch(patient_id):
            raise PatientNotFound(f"no patient {patient_id}")
        write = self._log(patient_id, communication)
        results = await asyncio.gather(self._snapshot(patient_id), write, return_exceptions=True)
        snap_error, written = results
        if isinstance(snap_error, BaseException):
            if not isinstance(written, BaseException) and written[1]:
                await self._json("DELETE", f"Communication/{written[0].id}")
            raise snap_error
        if isinstance(written, BaseException):
            raise written
        return written[0]

    async def _log(self, patient_id: str, c: CommunicationIn) -> tuple[Communication, bool]:
        """The communication and whether this call created it."""
        comm = Communication(
            id=f"com-{uuid.uuid4().hex}",
            patient_id=patient_id,
            thread_id=c.thread_id,
            channel=c.channel,
            direction=c.direction,
            author=c.author,
            text=c.text,
            external_id=c.external_id,
            created_at=self._now(),
        )
        resource = m.communication_to_fhir(comm, time.time_ns())
        m.validate(resource)
        if c.external_id is None:
            status, created = await self._json("PUT", f"Communication/{comm.id}", body=resource)
        else:
            condition = f"identifier={m.MESSAGE_SYSTEM}|{c.external_id}&subject=Patient/{patient_id}"
            status, created = await self._json(
                "POST",
                "Communication",
                body=resource,
                headers={"if-none-exist": condition, "prefer": "return=representation"},
                idempotent=True,  # conditional create: a repeat finds the first
            )
        if status >= 400 or not created:
            raise PlatformUnavailable(f"the FHIR server refused a Communication: {status}")
        return m.communication_from_fhir(created), status == 201

    # ------------------------------------------------------------------ outreach

    async def list_recent_changes(self, since: datetime, limit: int) -> list[Change]:
        """Invoices, payments and plans created strictly after ``since``, oldest first.

        Statements count from their FHIR ``meta.lastUpdated`` (when the server got them); payments and
        plans from the instants we wrote on them."""
        if limit <= 0:
            return []
        # A statement "changes" when it is issued: the Invoice's date (FHIR has no creation instant of
        # its own that survives a reload; meta.lastUpdated moves with every edit).
        invoices = await self._search("Invoice", [("date", f"gt{since.date().isoformat()}")])
        basics = await self._search(
            "Basic", [("code", f"{m.KIND_SYSTEM}|{m.PAYMENT_KIND},{m.KIND_SYSTEM}|{m.PLAN_KIND}")]
        )
        changes: list[Change] = []
        for inv in invoices:
            at = datetime.combine(m.parse_date(inv["date"]), datetime.min.time(), tzinfo=UTC)
            if at > since:
                changes.append(
                    Change(
                        kind=ChangeKind.STATEMENT_CREATED,
                        patient_id=m.ref_id(inv["subject"]) or "",
                        resource_id=inv["id"],
                        at=at,
                    )
                )
        order = {b["id"]: int(m.extensions(b).get("sequence", {}).get("valueString", "0")) for b in basics}
        for b in basics:
            if m.record_kind(b) == m.PAYMENT_KIND:
                p = m.payment_from_fhir(b)
                if p.posted_at > since:
                    changes.append(
                        Change(
                            kind=ChangeKind.PAYMENT_POSTED,
                            patient_id=p.patient_id,
                            resource_id=p.id,
                            at=p.posted_at,
                        )
                    )
            else:
                plan = m.plan_from_fhir(b)
                if plan.created_at > since:
                    changes.append(
                        Change(
                            kind=ChangeKind.PLAN_CREATED,
                            patient_id=plan.patient_id,
                            resource_id=plan.id,
                            at=plan.created_at,
                        )
                    )
        changes.sort(key=lambda c: (c.at, order.get(c.resource_id, 0), c.resource_id))
        return changes[:limit]

    async def _events(self, since: datetime | None) -> list[tuple[datetime, str, ChangeKind, str, str]]:
        """Invoices, payments and plans the server changed at or after ``since`` (``_lastUpdated=ge``),
        as (instant, key, kind, patient, resource), oldest first. The instant is the server's
        ``meta.lastUpdated``; a plan whose version is not its first has changed status."""
        params = [("_lastUpdated", f"ge{since.astimezone(UTC).isoformat()}")] if since else []
        invoices, basics = await asyncio.gather(
            self._search("Invoice", params),
            self._search(
                "Basic",
                [*params, ("code", f"{m.KIND_SYSTEM}|{m.PAYMENT_KIND},{m.KIND_SYSTEM}|{m.PLAN_KIND}")],
            ),
        )
        events: list[tuple[datetime, str, ChangeKind, str, str]] = []
        for r in [*invoices, *basics]:
            meta = r.get("meta") or {}
            at = m.parse_instant(meta["lastUpdated"]) if meta.get("lastUpdated") else None
            if at is None or (since is not None and at < since):
                continue  # a server that ignores _lastUpdated: filter here
            key = f"{r['resourceType']}/{r['id']}/{meta.get('versionId', '')}"
            if r["resourceType"] == "Invoice":
                kind, pid = ChangeKind.STATEMENT_CREATED, m.ref_id(r.get("subject")) or ""
            elif m.record_kind(r) == m.PAYMENT_KIND:
                kind, pid = ChangeKind.PAYMENT_POSTED, m.payment_from_fhir(r).patient_id
            else:
                first = str(meta.get("versionId", "1")) == "1"
                kind = ChangeKind.PLAN_CREATED if first else ChangeKind.PLAN_STATUS_CHANGED
                pid = m.plan_from_fhir(r).patient_id
            events.append((at, key, kind, pid, r["id"]))
        events.sort(key=lambda e: (e[0], e[1]))
        return events

    async def list_balance_changes(self, cursor: str | None, limit: int) -> BalanceChanges:
        """Polls ``_lastUpdated`` on Invoice and Basic (payments, plans). The cursor is the server's
        instant of the last change read plus the changes read at that instant."""
        after, seen_at = decode_cursor(cursor)
        if limit <= 0:
            return BalanceChanges(accounts=(), cursor=cursor or "")
        fresh = [e for e in await self._events(after) if after is None or e[0] > after or e[1] not in seen_at]
        page = fresh[:limit]
        if not page:
            return BalanceChanges(accounts=(), cursor=cursor or "")
        last_at = page[-1][0]
        seen = {e[1] for e in page if e[0] == last_at} | (set(seen_at) if last_at == after else set())
        latest: dict[str, tuple[ChangeKind, datetime]] = {}
        for at, _key, kind, pid, _rid in page:
            latest[pid] = (kind, at)
        by_id = {a.patient_id: a for a in await self._activities(list(latest), latest)}
        return BalanceChanges(
            accounts=tuple(by_id[pid] for pid in latest if pid in by_id),
            cursor=encode_cursor(last_at, sorted(seen)),
        )

    async def get_account_activity(self, patient_ids: list[str]) -> list[AccountActivity]:
        return await self._activities(patient_ids, {})

    async def _activities(
        self, patient_ids: list[str], changes: dict[str, tuple[ChangeKind, datetime]]
    ) -> list[AccountActivity]:
        gate = asyncio.Semaphore(8)  # one batch read per account, a few at a time

        async def one(pid: str) -> AccountActivity | None:
            async with gate:
                try:
                    snap = await self._snapshot(pid)
                except PatientNotFound:
                    return None
            payments = sorted(map(m.payment_from_fhir, snap.payments), key=lambda p: (p.posted_at, p.id))
            plans = [m.plan_from_fhir(p) for p in snap.plans]
            change = changes.get(pid)
            if change is None:  # the account's newest change, from what was just read
                stamped = [
                    (m.parse_instant(r["meta"]["lastUpdated"]), r)
                    for r in [*snap.invoices, *snap.payments, *snap.plans]
                    if (r.get("meta") or {}).get("lastUpdated")
                ]
                if stamped:
                    at, newest = max(stamped, key=lambda x: x[0])
                    kind = (
                        ChangeKind.STATEMENT_CREATED
                        if newest["resourceType"] == "Invoice"
                        else ChangeKind.PAYMENT_POSTED
                        if m.record_kind(newest) == m.PAYMENT_KIND
                        else ChangeKind.PLAN_CREATED
                        if str(newest["meta"].get("versionId", "1")) == "1"
                        else ChangeKind.PLAN_STATUS_CHANGED
                    )
                    change = (kind, at)
                else:
                    change = (ChangeKind.STATEMENT_CREATED, datetime(1970, 1, 1, tzinfo=UTC))
            return account_activity(
                m.patient_from_fhir(snap.patient, self.practice_id),
                self._statements(snap),
                payments,
                plans,
                [m.ticket_from_fhir(t) for t in snap.tasks],
                [m.coverage_from_fhir(c) for c in snap.coverages],
                change[0],
                change[1],
            )

        found = await asyncio.gather(*(one(pid) for pid in dict.fromkeys(patient_ids)))
        return [a for a in found if a is not None]


_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def _zip5(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())[:5]


def _same_payment(payment: Payment, patient_id: str, request: PaymentRequest) -> Payment:
    same = (
        payment.patient_id == patient_id
        and payment.statement_id == request.statement_id
        and payment.amount_cents == request.amount_cents
        and payment.method is request.method
        and payment.source is request.source
        and payment.external_id == request.external_id
    )
    if not same:
        raise IdempotencyConflict(f"idempotency key {request.idempotency_key!r} was used for another payment")
    return payment


def _requires_approval(resource: m.Resource) -> bool:
    return bool(m.extensions(resource).get("requires-approval", {}).get("valueBoolean", False))


def _with_requires_approval(resource: m.Resource, requires: bool) -> m.Resource:
    resource["extension"].append({"url": m.ext("requires-approval"), "valueBoolean": requires})
    return resource
