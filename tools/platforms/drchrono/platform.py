"""``BillingPlatform`` on DrChrono's REST API (see ``mapping.py`` and docs/platforms.md).

A patient's financial picture is three reads made together (the patient, their line items, their patient
payments), kept for the cache TTL; a statement's explanation adds that appointment's transactions. So a
balance question costs three calls, an explanation four, and a second question in the same turn none.

Writes: a payment is a DrChrono patient payment whose ``notes`` carry our idempotency key; before
posting we read the patient's payments back and return the one with that key, so a retry after a lost
response posts nothing twice, and claim the key in the service's table (:class:`PaymentKeys`), so the
same key for another patient or another payment posts nothing. A ticket is a DrChrono task (the
transcript as a task note); the conversation log goes to ``/api/patient_messages``. Payment plans have
no DrChrono object: they live in the service's own table (:class:`~tools.platforms.plans.ServicePlans`)
and are recorded in the patient's messages.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from tools.errors import (
    ConfigurationError,
    IdempotencyConflict,
    InvalidAmount,
    PatientNotFound,
    PlatformUnavailable,
    StatementNotFound,
    TicketNotFound,
)
from tools.platforms.activity import account_activity, decode_cursor, encode_cursor
from tools.platforms.drchrono import mapping as dm
from tools.platforms.http import PlatformHttp, ReadCache
from tools.platforms.keys import PaymentKeys
from tools.platforms.ledger.convert import normalize_phone
from tools.platforms.ledger.invariants import derive_status, statement_balance
from tools.platforms.ledger.platform import _same_ticket
from tools.platforms.models import (
    AccountActivity,
    AccountSummary,
    Author,
    BalanceChanges,
    Change,
    ChangeKind,
    Channel,
    Claim,
    Communication,
    CommunicationIn,
    Coverage,
    Direction,
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
    TicketPriority,
    TicketReason,
    TicketRequest,
    TicketStatus,
    TranscriptLine,
    VerificationResult,
)
from tools.platforms.plans import ServicePlans

Clock = Callable[[], datetime]
PAGE_SIZE = 250
MAX_PAGES = 40  # a patient with more than 10,000 records of one kind is read in part (and logged)
_PRIORITY = {
    TicketPriority.LOW: "10",
    TicketPriority.NORMAL: "20",
    TicketPriority.HIGH: "30",
    TicketPriority.URGENT: "40",
}
_TASK_OPEN, _TASK_ASSIGNED, _TASK_DONE = "open", "assigned", "resolved"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Snapshot:
    patient: dm.Obj
    lines: list[dm.Obj]
    payments: list[dm.Obj]


class DrChronoPlatform:
    name = "drchrono"

    def __init__(
        self,
        http: PlatformHttp,
        *,
        plans: ServicePlans | None,
        keys: PaymentKeys | None = None,
        office_id: str | None = None,
        doctor_id: int | None = None,
        task_status_ids: dict[str, int] | None = None,
        terms_days: int = 30,
        clock: Clock = _utcnow,
        cache_ttl_s: float = 10.0,
    ) -> None:
        self.http = http
        self.plans = plans
        # Our payment keys, held by the service: DrChrono cannot search a payment's notes for one.
        self.keys = keys
        self.office_id = office_id
        self.doctor_id = doctor_id
        # DrChrono's task statuses are the practice's own (``/api/task_statuses``): which ids mean ours.
        self.task_status_ids = task_status_ids or {_TASK_OPEN: 1, _TASK_ASSIGNED: 2, _TASK_DONE: 3}
        self.terms_days = terms_days
        self._now = clock
        self.cache = ReadCache(cache_ttl_s)
        self._key_locks: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------ transport

    async def _get(self, path: str, params: list[tuple[str, str]] | None = None) -> tuple[int, Any]:
        response = await self.http.request("GET", path, params=params, headers={"accept": "application/json"})
        if response.status_code in (403, 404):
            return response.status_code, None
        if response.status_code >= 400:
            raise PlatformUnavailable(f"DrChrono refused GET {path}: {response.status_code}")
        return response.status_code, response.json()

    async def _list(self, path: str, params: list[tuple[str, str]]) -> list[dm.Obj]:
        """Every object of a list endpoint, following ``next`` (``results`` or ``data`` on each page)."""
        out: list[dm.Obj] = []
        _, page = await self._get(path, [*params, ("page_size", str(PAGE_SIZE))])
        for _ in range(MAX_PAGES):
            if page is None:
                return out
            out += dm.results(page)
            nxt = dm.next_url(page)
            if nxt is None:
                return out
            _, page = await self._get(nxt)
        return out

    async def _send(
        self, method: str, path: str, body: dm.Obj, params: list[tuple[str, str]] | None = None
    ) -> Any:
        response = await self.http.request(
            method, path, params=params, json=body, headers={"accept": "application/json"}
        )
        if response.status_code >= 400:
            raise PlatformUnavailable(f"DrChrono refused {method} {path}: {response.status_code}")
        return response.json() if response.content else None

    # ------------------------------------------------------------------ reads

    @staticmethod
    def _pid(patient_id: str) -> str:
        if not patient_id.isdigit():
            raise PatientNotFound(f"no patient {patient_id}")
        return patient_id

    async def _snapshot(self, patient_id: str) -> _Snapshot:
        pid = self._pid(patient_id)

        async def load() -> _Snapshot:
            (_, patient), lines, payments = await asyncio.gather(
                self._get(f"/api/patients/{pid}"),
                self._list("/api/line_items", [("patient", pid)]),
                self._list("/api/patient_payments", [("patient", pid)]),
            )
            if patient is None:
                raise PatientNotFound(f"no patient {patient_id}")
            return _Snapshot(patient=patient, lines=lines, payments=payments)

        return await self.cache.get_or_load(pid, "snapshot", load)  # type: ignore[no-any-return]  # what load returned

    async def _transactions(self, patient_id: str, appointment: int) -> list[dm.Obj]:
        return await self.cache.get_or_load(  # type: ignore[no-any-return]  # what _list returned
            patient_id,
            f"transactions:{appointment}",
            lambda: self._list("/api/transactions", [("appointment", str(appointment))]),
        )

    def _payments(self, snap: _Snapshot) -> list[Payment]:
        return sorted(
            (p for p in map(dm.payment, snap.payments) if p is not None), key=lambda p: (p.posted_at, p.id)
        )

    def _by_appointment(self, snap: _Snapshot) -> dict[int, list[dm.Obj]]:
        groups: dict[int, list[dm.Obj]] = defaultdict(list)
        for li in snap.lines:
            if li.get("appointment") is not None:
                groups[int(li["appointment"])].append(li)
        return groups

    def _statement(
        self,
        snap: _Snapshot,
        appointment: int,
        lines: list[dm.Obj],
        transactions: dict[str, list[dm.Obj]] | None,
    ) -> Statement:
        sid = dm.statement_id(appointment)
        provider = str(snap.patient.get("doctor") or "")
        items = tuple(
            dm.line_item(li, (transactions or {}).get(str(li["id"])), provider)
            for li in sorted(lines, key=lambda li: int(li["id"]))
        )
        payments = tuple(p for p in self._payments(snap) if p.statement_id == sid)
        balance = statement_balance(items, payments)
        first, due = dm.statement_dates(lines, self.terms_days)
        return Statement(
            id=sid,
            number=f"A{appointment}",
            patient_id=str(snap.patient["id"]),
            statement_date=first,
            due_date=due,
            line_items=items,
            payments=payments,
            balance_cents=balance,
            status=derive_status(balance),
        )

    def _statements(self, snap: _Snapshot) -> list[Statement]:
        out = [self._statement(snap, appt, lines, None) for appt, lines in self._by_appointment(snap).items()]
        return sorted(out, key=lambda s: (s.statement_date, s.id), reverse=True)

    async def sample_patient_ids(self, limit: int) -> list[str]:
        """One page of patient ids (``billing-agent platform check``); not part of the port."""
        _, page = await self._get("/api/patients", [("page_size", str(limit))])
        return [str(p["id"]) for p in dm.results(page or {})][:limit]

    async def get_practice(self) -> Practice:
        if self.office_id:
            _, office = await self._get(f"/api/offices/{self.office_id}")
        else:
            offices = await self._list("/api/offices", [])
            office = offices[0] if offices else None
        if office is None:
            raise ConfigurationError("DrChrono returned no office for these credentials")
        return dm.practice(office)

    async def find_patient_by_portal_identity(self, portal_user_id: str) -> Patient | None:
        found = await self._list("/api/patients", [("chart_id", portal_user_id)])
        matches = [p for p in found if p.get("chart_id") == portal_user_id]
        return dm.patient(matches[0], self.office_id or "") if len(matches) == 1 else None

    async def find_patients_by_phone(self, phone: str) -> list[Patient]:
        """DrChrono cannot search by phone: this reads the patient list (paged, within the request
        budget) and compares normalised numbers. A practice with many patients should keep an index."""
        e164 = normalize_phone(phone)
        if e164 is None:
            return []
        found = await self._list("/api/patients", [])
        out = [
            dm.patient(p, self.office_id or "")
            for p in found
            if e164 in {normalize_phone(str(p.get(k) or "")) for k in ("cell_phone", "home_phone")}
        ]
        return sorted(out, key=lambda p: int(p.id) if p.id.isdigit() else 0)

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
            patient = dm.patient(snap.patient, self.office_id or "")
            if patient.date_of_birth != date_of_birth:
                continue
            zip_ok = zip_code is not None and _zip5(zip_code) == _zip5(patient.zip_code) != ""
            number_ok = statement_number is not None and any(
                f"A{appt}" == statement_number.strip().upper() for appt in self._by_appointment(snap)
            )
            if zip_ok or number_ok:
                return VerificationResult(verified=True, patient_id=pid)
        return VerificationResult(verified=False, patient_id=None)

    async def get_patient(self, patient_id: str) -> Patient:
        return dm.patient((await self._snapshot(patient_id)).patient, self.office_id or "")

    async def get_account_summary(self, patient_id: str) -> AccountSummary:
        snap = await self._snapshot(patient_id)
        statements = self._statements(snap)
        unapplied = sum(p.amount_cents for p in self._payments(snap) if p.statement_id is None)
        balance = sum(s.balance_cents for s in statements) - unapplied
        plans = await self.plans.list(patient_id) if self.plans else []
        return AccountSummary(
            patient_id=patient_id,
            balance_cents=balance,
            open_statement_count=sum(1 for s in statements if s.status is StatementStatus.OPEN),
            credit_cents=max(0, -balance),
            has_active_plan=any(p.status is PlanStatus.ACTIVE for p in plans),
            has_defaulted_plan=any(p.status is PlanStatus.DEFAULTED for p in plans),
        )

    async def list_coverages(self, patient_id: str) -> list[Coverage]:
        return dm.coverages((await self._snapshot(patient_id)).patient)

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
        appointment = dm.appointment_of(statement_id)
        lines = self._by_appointment(snap).get(appointment) if appointment is not None else None
        if appointment is None or not lines:
            raise StatementNotFound(f"no statement {statement_id}")
        by_line: dict[str, list[dm.Obj]] = defaultdict(list)
        for t in await self._transactions(patient_id, appointment):
            by_line[str(t.get("line_item"))].append(t)
        return self._statement(snap, appointment, lines, by_line)

    async def find_statement_by_number(self, patient_id: str, number: str) -> Statement | None:
        digits = number.strip().upper().removeprefix("A")
        if not digits.isdigit():
            await self._snapshot(patient_id)
            return None
        try:
            return await self.get_statement(patient_id, dm.statement_id(int(digits)))
        except StatementNotFound:
            return None

    async def list_claims(self, patient_id: str) -> list[Claim]:
        snap = await self._snapshot(patient_id)
        payer = str((snap.patient.get("primary_insurance") or {}).get("insurance_company") or "")
        out = []
        for appt, lines in self._by_appointment(snap).items():
            if not any(li.get("billing_status") for li in lines):
                continue  # never sent to a payer (self-pay)
            out.append(dm.claim(appt, lines, [], payer, patient_id))
        return sorted(out, key=lambda c: (c.service_date, c.id), reverse=True)

    async def list_payments(self, patient_id: str) -> list[Payment]:
        return self._payments(await self._snapshot(patient_id))

    async def list_payment_plans(self, patient_id: str) -> list[PaymentPlan]:
        await self._snapshot(patient_id)
        return await self.plans.list(patient_id) if self.plans else []

    async def list_tickets(self, patient_id: str) -> list[Ticket]:
        pid = self._pid(patient_id)
        await self._snapshot(pid)
        tasks = await self._list("/api/tasks", [])
        out = [self._ticket(t) for t in tasks if _task_patient(t) == pid and _task_key(t) is not None]
        return sorted(out, key=lambda t: (t.created_at, t.id))

    async def list_communications(
        self, patient_id: str, thread_id: str | None, limit: int
    ) -> list[Communication]:
        pid = self._pid(patient_id)
        await self._snapshot(pid)
        if limit <= 0:
            return []
        messages = await self._list("/api/patient_messages", [("patient", pid)])
        comms = [c for c in (_communication(m) for m in messages) if c is not None]
        comms.sort(key=lambda c: (c.created_at, int(c.id) if c.id.isdigit() else 0))
        if thread_id is not None:
            comms = [c for c in comms if c.thread_id == thread_id]
        return comms[-limit:]

    # ------------------------------------------------------------------ writes

    def _lock(self, key: str) -> asyncio.Lock:
        return self._key_locks.setdefault(key, asyncio.Lock())

    async def record_payment(self, patient_id: str, request: PaymentRequest) -> Payment:
        pid = self._pid(patient_id)
        async with self._lock(f"pay:{request.idempotency_key}"):
            self.cache.invalidate(pid)
            snap = await self._snapshot(pid)
            for payment in self._payments(snap):
                if payment.idempotency_key == request.idempotency_key:
                    return _same_payment(payment, pid, request)
            if request.amount_cents <= 0:
                raise InvalidAmount("a payment must be a positive amount")
            appointment = None
            if request.statement_id is not None:
                appointment = dm.appointment_of(request.statement_id)
                if appointment is None or appointment not in self._by_appointment(snap):
                    raise StatementNotFound(f"no statement {request.statement_id}")
            if self.keys is not None:  # the same key for another patient or payment posts nothing
                await self.keys.claim(pid, request)
            body: dm.Obj = {
                "patient": int(pid),
                "amount": float(dm.amount(request.amount_cents)),
                "payment_method": dm.METHOD_TO_DRCHRONO[request.method],
                "notes": dm.payment_note(
                    request.idempotency_key, request.source, request.method, request.external_id
                ),
                "received_date": self._now().date().isoformat(),
            }
            if appointment is not None:
                body["appointment"] = appointment
            if self.doctor_id is not None:
                body["doctor"] = self.doctor_id
            try:
                created = await self._send("POST", "/api/patient_payments", body, params=[("patient", pid)])
            except PlatformUnavailable:
                # The POST may have been applied before the failure: read back, never post twice.
                self.cache.invalidate(pid)
                again = await self._snapshot(pid)
                for p in self._payments(again):
                    if p.idempotency_key == request.idempotency_key:
                        return _same_payment(p, pid, request)
                raise
            self.cache.invalidate(pid)
            posted = dm.payment(created) if isinstance(created, dict) else None
            if posted is None or posted.idempotency_key != request.idempotency_key:
                # DrChrono answered without the payment we sent: read it back before saying it is posted.
                again = await self._snapshot(pid)
                posted = next(
                    (p for p in self._payments(again) if p.idempotency_key == request.idempotency_key), None
                )
                if posted is None:
                    raise PlatformUnavailable(
                        "DrChrono did not confirm the payment; it will be checked again"
                    )
            return _same_payment(posted, pid, request)

    async def create_payment_plan(self, patient_id: str, request: PlanRequest) -> PaymentPlan:
        pid = self._pid(patient_id)
        if self.plans is None:
            raise ConfigurationError("payment plans on DrChrono need the service database")
        snap = await self._snapshot(pid)
        statements = {dm.statement_id(a) for a in self._by_appointment(snap)}
        for sid in request.statement_ids:
            if sid not in statements:
                raise StatementNotFound(f"no statement {sid}")
        plan, created = await self.plans.create_once(pid, request)
        if created:
            await self._note(
                pid,
                f"Payment plan {plan.id}: {plan.months} months, status {plan.status.value}",
            )
        return plan

    async def set_plan_status(
        self, patient_id: str, plan_id: str, status: PlanStatus, approver: str | None
    ) -> PaymentPlan:
        pid = self._pid(patient_id)
        await self._snapshot(pid)
        if self.plans is None:
            raise ConfigurationError("payment plans on DrChrono need the service database")
        return await self.plans.set_status(pid, plan_id, status, approver)

    async def create_ticket(self, patient_id: str, request: TicketRequest) -> Ticket:
        pid = self._pid(patient_id)
        async with self._lock(f"ticket:{request.idempotency_key}"):
            snap = await self._snapshot(pid)
            for existing in await self.list_tickets(pid):
                if existing.idempotency_key == request.idempotency_key:
                    return _same_ticket(existing, pid, request)
            if request.statement_id is not None:
                appointment = dm.appointment_of(request.statement_id)
                if appointment is None or appointment not in self._by_appointment(snap):
                    raise StatementNotFound(f"no statement {request.statement_id}")
            meta = {
                "key": request.idempotency_key,
                "thread": request.thread_id,
                "statement": request.statement_id,
                "reason": request.reason.value,
                "priority": request.priority.value,
                "transcript": [
                    {"author": line.author.value, "text": line.text, "at": line.at.isoformat()}
                    for line in request.transcript
                ],
            }
            body = {
                "title": request.summary[:200],
                "status": self.task_status_ids[_TASK_OPEN],
                "priority": _PRIORITY[request.priority],
                "associated_items": [{"type": "Patient", "value": int(pid)}],
                "notes": [{"text": f"{dm.KEY_TAG} {json.dumps(meta)}"}],
            }
            created = await self._send("POST", "/api/tasks", body)
            return self._ticket(created if isinstance(created, dict) else {**body, "id": 0})

    async def update_ticket(self, ticket_id: str, status: TicketStatus, assignee: str | None) -> Ticket:
        if not ticket_id.isdigit():
            raise TicketNotFound(f"no ticket {ticket_id}")
        _, task = await self._get(f"/api/tasks/{ticket_id}")
        if task is None or _task_key(task) is None:
            raise TicketNotFound(f"no ticket {ticket_id}")
        body: dm.Obj = {"status": self.task_status_ids[status.value]}
        if assignee:
            body["assignee_user"] = assignee
        await self._send("PATCH", f"/api/tasks/{ticket_id}", body)
        return self._ticket({**task, **body})

    def _ticket(self, task: dm.Obj) -> Ticket:
        meta = _task_meta(task) or {}
        by_id = {v: k for k, v in self.task_status_ids.items()}
        return Ticket(
            id=str(task["id"]),
            patient_id=_task_patient(task) or "",
            thread_id=str(meta.get("thread") or ""),
            statement_id=meta.get("statement"),
            reason=TicketReason(meta.get("reason", TicketReason.OTHER.value)),
            priority=TicketPriority(meta.get("priority", TicketPriority.NORMAL.value)),
            summary=str(task.get("title") or ""),
            transcript=tuple(
                TranscriptLine(author=Author(x["author"]), text=x["text"], at=dm.parse_instant(x["at"]))
                for x in meta.get("transcript", [])
            ),
            status=TicketStatus(by_id.get(int(task.get("status") or 0), _TASK_OPEN)),
            assignee=task.get("assignee_user") or None,
            created_at=dm.parse_instant(task.get("created_at")) if task.get("created_at") else self._now(),
            idempotency_key=str(meta.get("key") or f"drchrono-task-{task['id']}"),
        )

    async def log_communication(self, patient_id: str, communication: CommunicationIn) -> Communication:
        pid = self._pid(patient_id)
        await self._snapshot(pid)
        if communication.external_id is not None:
            async with self._lock(f"msg:{pid}:{communication.external_id}"):
                for existing in await self.list_communications(pid, None, 10_000):
                    if existing.external_id == communication.external_id:
                        return existing
                return await self._post_message(pid, communication)
        return await self._post_message(pid, communication)

    async def _post_message(self, pid: str, c: CommunicationIn) -> Communication:
        meta = {
            "thread": c.thread_id,
            "channel": c.channel.value,
            "direction": c.direction.value,
            "author": c.author.value,
            "external_id": c.external_id,
        }
        body: dm.Obj = {
            "patient": int(pid),
            "subject": f"{dm.KEY_TAG} {json.dumps(meta)}",
            "body": c.text,
        }
        if self.doctor_id is not None:
            body["doctor"] = self.doctor_id
        created = await self._send("POST", "/api/patient_messages", body, params=[("patient", pid)])
        comm = _communication(created) if isinstance(created, dict) else None
        return comm or Communication(
            id=str((created or {}).get("id", "")) if isinstance(created, dict) else "",
            patient_id=pid,
            thread_id=c.thread_id,
            channel=c.channel,
            direction=c.direction,
            author=c.author,
            text=c.text,
            external_id=c.external_id,
            created_at=self._now(),
        )

    async def _note(self, pid: str, text: str) -> None:
        await self._post_message(
            pid,
            CommunicationIn(
                thread_id="billing-agent",
                channel=Channel.PORTAL,
                direction=Direction.OUTBOUND,
                author=Author.SYSTEM,
                text=text,
            ),
        )

    # ------------------------------------------------------------------ outreach

    async def _events(self, since: datetime | None) -> list[_Event]:
        """What changed at or after ``since`` (everything when ``None``), oldest first: line items and
        patient payments by DrChrono's ``since`` filter (objects updated at or after an instant), and
        the plans of the service's own table."""
        params = [("since", since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"))] if since else []
        lines, payments, plans = await asyncio.gather(
            self._list("/api/line_items", params),
            self._list("/api/patient_payments", params),
            self.plans.changed_since(since) if self.plans else _no_plans(),
        )
        events: list[_Event] = []
        for li in lines:
            if li.get("appointment") is None or li.get("patient") is None:
                continue
            events.append(
                _Event(
                    at=dm.parse_instant(li.get("updated_at") or li.get("created_at")),
                    key=f"li:{li['id']}",
                    kind=ChangeKind.STATEMENT_CREATED,
                    patient_id=str(li["patient"]),
                    resource_id=dm.statement_id(li["appointment"]),
                )
            )
        for obj in payments:
            payment = dm.payment(obj)
            if payment is None:
                continue
            events.append(
                _Event(
                    at=dm.parse_instant(obj.get("updated_at"))
                    if obj.get("updated_at")
                    else payment.posted_at,
                    key=f"pay:{payment.id}",
                    kind=ChangeKind.PAYMENT_POSTED,
                    patient_id=payment.patient_id,
                    resource_id=payment.id,
                )
            )
        for plan, created, updated in plans:
            events.append(
                _Event(
                    at=updated,
                    key=f"plan:{plan.id}:{updated.isoformat()}",
                    kind=ChangeKind.PLAN_CREATED if updated == created else ChangeKind.PLAN_STATUS_CHANGED,
                    patient_id=plan.patient_id,
                    resource_id=plan.id,
                )
            )
        events.sort(key=lambda e: (e.at, e.key))
        return events

    async def list_recent_changes(self, since: datetime, limit: int) -> list[Change]:
        """Statements (an appointment's line items), patient payments and plans changed after
        ``since``; a statement is named once, at its first change."""
        if limit <= 0:
            return []
        changes: list[Change] = []
        seen: set[str] = set()
        for e in await self._events(since):
            if e.at <= since or (e.kind is ChangeKind.STATEMENT_CREATED and e.resource_id in seen):
                continue
            seen.add(e.resource_id)
            changes.append(Change(kind=e.kind, patient_id=e.patient_id, resource_id=e.resource_id, at=e.at))
        return changes[:limit]

    async def list_balance_changes(self, cursor: str | None, limit: int) -> BalanceChanges:
        """DrChrono has no change feed of its own: this polls its ``since`` filter. The cursor is the
        instant of the last change read plus the changes read at that instant (DrChrono's stamps are
        to the second, and a page may end inside one second)."""
        after, seen_at = decode_cursor(cursor)
        if limit <= 0:
            return BalanceChanges(accounts=(), cursor=cursor or "")
        fresh = [
            e for e in await self._events(after) if after is None or e.at > after or e.key not in seen_at
        ]
        page = fresh[:limit]
        if not page:
            return BalanceChanges(accounts=(), cursor=cursor or "")
        last_at = page[-1].at
        seen = {e.key for e in page if e.at == last_at} | (set(seen_at) if last_at == after else set())
        latest: dict[str, tuple[ChangeKind, datetime]] = {}
        for e in page:
            latest[e.patient_id] = (e.kind, e.at)
        tasks = await self._list("/api/tasks", [])
        found = await self._activities(list(latest), tasks, latest)
        by_id = {a.patient_id: a for a in found}
        return BalanceChanges(
            accounts=tuple(by_id[pid] for pid in latest if pid in by_id),
            cursor=encode_cursor(last_at, sorted(seen)),
        )

    async def get_account_activity(self, patient_ids: list[str]) -> list[AccountActivity]:
        if not patient_ids:
            return []
        tasks = await self._list("/api/tasks", [])
        return await self._activities(patient_ids, tasks, {})

    async def _activities(
        self, patient_ids: list[str], tasks: list[dm.Obj], changes: dict[str, tuple[ChangeKind, datetime]]
    ) -> list[AccountActivity]:
        gate = asyncio.Semaphore(8)  # a page of accounts, read a few at a time within the request budget

        async def one(pid: str) -> AccountActivity | None:
            async with gate:
                try:
                    snap = await self._snapshot(pid)
                except PatientNotFound:
                    return None
                plans = await self.plans.list(pid) if self.plans else []
            payments = self._payments(snap)
            change = changes.get(pid)
            if change is None:  # the account's newest change, from what was just read
                candidates = [
                    (
                        dm.parse_instant(li.get("updated_at") or li.get("created_at")),
                        ChangeKind.STATEMENT_CREATED,
                    )
                    for li in snap.lines
                ]
                candidates += [(p.posted_at, ChangeKind.PAYMENT_POSTED) for p in payments]
                candidates += [(p.created_at, ChangeKind.PLAN_CREATED) for p in plans]
                at, kind = max(candidates, key=lambda c: c[0], default=(_EPOCH, ChangeKind.STATEMENT_CREATED))
                change = (kind, at)
            return account_activity(
                dm.patient(snap.patient, self.office_id or ""),
                self._statements(snap),
                payments,
                plans,
                [self._ticket(t) for t in tasks if _task_patient(t) == pid and _task_key(t) is not None],
                dm.coverages(snap.patient),
                change[0],
                change[1],
            )

        found = await asyncio.gather(*(one(pid) for pid in dict.fromkeys(patient_ids)))
        return [a for a in found if a is not None]


@dataclass(frozen=True)
class _Event:
    at: datetime
    key: str  # unique per change: the cursor's record of what was read at one instant
    kind: ChangeKind
    patient_id: str
    resource_id: str


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def _no_plans() -> list[tuple[PaymentPlan, datetime, datetime]]:
    return []


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


def _task_meta(task: dm.Obj) -> dict[str, Any] | None:
    for note in task.get("notes") or []:
        text = str(note.get("text") or "")
        if text.startswith(f"{dm.KEY_TAG} "):
            try:
                meta: dict[str, Any] = json.loads(text[len(dm.KEY_TAG) + 1 :])
            except ValueError:
                return None
            return meta
    return None


def _task_key(task: dm.Obj) -> str | None:
    meta = _task_meta(task)
    return str(meta["key"]) if meta and "key" in meta else None


def _task_patient(task: dm.Obj) -> str | None:
    for item in task.get("associated_items") or []:
        if item.get("type") == "Patient" and item.get("value") is not None:
            return str(item["value"])
    return None


def _communication(message: dm.Obj) -> Communication | None:
    subject = str(message.get("subject") or "")
    if not subject.startswith(f"{dm.KEY_TAG} "):
        return None
    try:
        meta = json.loads(subject[len(dm.KEY_TAG) + 1 :])
        return Communication(
            id=str(message["id"]),
            patient_id=str(message["patient"]),
            thread_id=str(meta["thread"]),
            channel=Channel(meta["channel"]),
            direction=Direction(meta["direction"]),
            author=Author(meta["author"]),
            text=str(message.get("body") or message.get("message") or ""),
            external_id=meta.get("external_id"),
            created_at=dm.parse_instant(message.get("created_at")),
        )
    except (ValueError, KeyError):
        return None
