"""A stateful stand-in for DrChrono's REST API, built from DrChrono's own OpenAPI description.

Prism serves that description too, but it answers every call with the spec's examples, so a contract
case that writes then reads (a payment posted and read back, a task created then resolved) cannot run
on it. This stand-in holds state and checks everything against the same spec, strictly:

* every request must be an operation of the spec (path template and method), with only the query
  parameters that operation declares, each of its declared type; anything else is answered 400 (what
  Prism ``--errors`` does) and recorded in ``violations``;
* every write body must carry only fields of the object's schema, none read-only, the schema's required
  fields present, each of its type (the spec declares no request bodies on writes at all, see
  ``test_drchrono_prism.py``, so the object schema is the only contract there is);
* every object it answers with is validated against the object's schema before it leaves.

What it implements of DrChrono's behaviour is what the adapter relies on and what DrChrono documents:
lists paged by ``cursor``/``page_size`` with a ``next`` link, filters by ``patient``, ``appointment``,
``chart_id`` and ``since`` (objects updated at or after it), ids assigned by the server, ``created_at``
and ``updated_at`` stamped by the server's clock, PATCH answered 204. It is a test double, kept in
``tests/``; Prism's ``--errors`` run (``test_drchrono_prism.py``) remains the check of our requests
against the spec's own validator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jsonschema

from tools.platforms.drchrono import mapping as dm
from tools.platforms.ledger.loader import PracticeData
from tools.platforms.models import GroupCode, Language, PaymentMethod, Statement

Obj = dict[str, Any]
BASE_URL = "http://drchrono.fake"
DOCTOR_ID = 1
_PLAN_CODES = {v: k for k, v in dm.PLAN_TYPES.items()}
_COLLECTIONS = {
    "/api/offices": "offices",
    "/api/patients": "patients",
    "/api/line_items": "line_items",
    "/api/transactions": "transactions",
    "/api/patient_payments": "patient_payments",
    "/api/patient_messages": "patient_messages",
    "/api/tasks": "tasks",
}
_FILTERS = ("patient", "appointment", "chart_id", "line_item")


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _resolve(spec: Obj, schema: Obj) -> Obj:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


@dataclass
class _Operation:
    template: str
    pattern: re.Pattern[str]
    methods: dict[str, Obj]


# (spec, validator) by (id of the spec, collection path, whether ``required`` is checked).
_VALIDATORS: dict[tuple[int, str, bool], tuple[Obj, Any]] = {}


@dataclass
class DrChronoFake:
    """Answers an ``httpx.MockTransport``; ``clock`` stamps what it stores."""

    spec: Obj
    clock: Callable[[], datetime]
    store: dict[str, dict[int, Obj]] = field(default_factory=lambda: {c: {} for c in _COLLECTIONS.values()})
    violations: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    _next_id: int = 900_000

    def __post_init__(self) -> None:
        self._operations = [
            _Operation(
                template=path,
                pattern=re.compile("^" + re.sub(r"\{[^}]+\}", r"(?P<id>[^/]+)", path) + "/?$"),
                methods={m: op for m, op in ops.items() if m in ("get", "post", "put", "patch", "delete")},
            )
            for path, ops in self.spec["paths"].items()
        ]

    # ------------------------------------------------------------------ spec checks

    def object_schema(self, collection_path: str) -> Obj:
        page = self.spec["paths"][collection_path]["get"]["responses"]["200"]["content"]["application/json"]
        item = _resolve(self.spec, _resolve(self.spec, page["schema"])["properties"]["data"]["items"])
        return {**item, "components": self.spec["components"]}

    def validate_object(self, collection_path: str, obj: Obj) -> None:
        self._validate(collection_path, obj, required=True)

    def _validate(self, collection_path: str, instance: Obj, *, required: bool) -> None:
        """``jsonschema.validate`` against the object's schema (with its ``required`` list, or without
        it), the schema checked against its metaschema once per spec rather than at every call: that
        check, of a schema that embeds all of the spec's components, was most of a test's time."""
        key = (id(self.spec), collection_path, required)
        cached = _VALIDATORS.get(key)
        if cached is None or cached[0] is not self.spec:
            schema = self.object_schema(collection_path)
            if not required:
                schema = {**schema, "required": []}
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            cached = _VALIDATORS[key] = (self.spec, cls(schema))
        error = jsonschema.exceptions.best_match(cached[1].iter_errors(instance))
        if error is not None:
            raise error

    def _check_body(self, collection_path: str, body: Obj) -> str | None:
        schema = self.object_schema(collection_path)
        props = schema.get("properties", {})
        for name in body:
            if name not in props:
                return f"{name} is not a field of {collection_path}"
            if props[name].get("readOnly"):
                return f"{name} is read-only on {collection_path}"
        missing = [
            r for r in schema.get("required", []) if r not in body and not props.get(r, {}).get("readOnly")
        ]
        if missing:
            return f"{collection_path} requires {missing}"
        try:
            self._validate(collection_path, body, required=False)
        except jsonschema.ValidationError as exc:
            return f"{collection_path}: {exc.message}"
        return None

    def _check_request(self, method: str, path: str, query: list[tuple[str, str]]) -> tuple[Obj, str | None]:
        for op in self._operations:
            match = op.pattern.match(path)
            if match is None or method.lower() not in op.methods:
                continue
            declared = {
                p["name"]: p.get("schema", {})
                for p in op.methods[method.lower()].get("parameters", [])
                if p.get("in") == "query"
            }
            for name, value in query:
                if name not in declared:
                    raise _Violation(f"{method} {op.template}: undeclared query parameter {name!r}")
                kind = declared[name].get("type")
                if kind == "integer" and not value.lstrip("-").isdigit():
                    raise _Violation(f"{method} {op.template}: {name}={value!r} is not an integer")
                if kind == "boolean" and value not in ("true", "false"):
                    raise _Violation(f"{method} {op.template}: {name}={value!r} is not a boolean")
            groups = match.groupdict()
            return {"template": op.template}, groups.get("id")
        raise _Violation(f"{method} {path} is not an operation of DrChrono's API")

    # ------------------------------------------------------------------ transport

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = urlsplit(str(request.url))
        query = parse_qsl(url.query, keep_blank_values=True)
        self.calls.append(f"{request.method} {url.path}")
        try:
            op, object_id = self._check_request(request.method, url.path, query)
            template = str(op["template"])
            collection_path = template.removesuffix("/{id}")
            collection = _COLLECTIONS.get(collection_path)
            if collection is None:
                raise _Violation(f"{request.method} {template} is not served by this stand-in")
            if request.method == "GET" and object_id is None:
                return self._list(collection_path, collection, dict(query))
            if request.method == "GET":
                found = self._get(collection, object_id)
                if found is None:
                    return httpx.Response(404, json={"detail": "Not found."})
                self.validate_object(collection_path, found)
                return httpx.Response(200, json=found)
            body = json.loads(request.content or b"{}")
            problem = self._check_body(collection_path, body) if request.method == "POST" else None
            if problem is None and request.method == "PATCH":
                problem = self._check_patch(collection_path, body)
            if problem is not None:
                raise _Violation(problem)
            if request.method == "POST" and object_id is None:
                created = self.insert(collection, body)
                self.validate_object(collection_path, created)
                return httpx.Response(201, json=created)
            if request.method == "PATCH" and object_id is not None:
                target = self._get(collection, object_id)
                if target is None:
                    return httpx.Response(404, json={"detail": "Not found."})
                target.update(body)
                target["updated_at"] = _stamp(self.clock())
                return httpx.Response(204)
            raise _Violation(f"{request.method} {template} is not served by this stand-in")
        except _Violation as exc:
            self.violations.append(str(exc))
            return httpx.Response(400, json={"detail": str(exc)})

    def _check_patch(self, collection_path: str, body: Obj) -> str | None:
        props = self.object_schema(collection_path).get("properties", {})
        for name in body:
            if name not in props or props[name].get("readOnly"):
                return f"{name} cannot be written on {collection_path}"
        return None

    def _get(self, collection: str, object_id: str | None) -> Obj | None:
        if object_id is None or not object_id.isdigit():
            return None
        return self.store[collection].get(int(object_id))

    def _list(self, collection_path: str, collection: str, query: dict[str, str]) -> httpx.Response:
        items = sorted(self.store[collection].values(), key=lambda o: int(o["id"]))
        for name in _FILTERS:
            if name in query:
                items = [o for o in items if str(o.get(name)) == query[name]]
        if "since" in query:
            since = dm.parse_instant(query["since"])
            items = [o for o in items if dm.parse_instant(o.get("updated_at")) >= since]
        size = int(query.get("page_size", "100"))
        start = int(query.get("cursor", "0") or 0)
        page = items[start : start + size]
        for obj in page:
            self.validate_object(collection_path, obj)
        out: Obj = {"data": page}
        if start + size < len(items):
            out["next"] = f"{BASE_URL}{collection_path}?{urlencode({**query, 'cursor': start + size})}"
        return httpx.Response(200, json=out)

    # ------------------------------------------------------------------ state

    def insert(self, collection: str, body: Obj, *, at: datetime | None = None) -> Obj:
        """Store ``body`` as the server would: an id of its own unless given, its clock's stamps."""
        stamp = _stamp(at or self.clock())
        obj = {**body}
        if "id" not in obj:
            self._next_id += 1
            obj["id"] = self._next_id
        if collection in ("patients", "line_items", "transactions", "patient_payments", "patient_messages"):
            obj.setdefault("created_at", stamp)
            obj.setdefault("updated_at", stamp)
        if collection == "tasks":
            obj.setdefault("created_at", stamp)
            obj.setdefault("updated_at", stamp)
            obj["notes"] = [{**n, "task": obj["id"]} for n in obj.get("notes") or []]
        if collection == "patient_payments":
            obj.setdefault("posted_date", stamp[:10])
        self.store[collection][int(obj["id"])] = obj
        return obj

    def load(self, data: PracticeData) -> None:
        """A practice as DrChrono would hold it (ids must be DrChrono's: integers, ``appt-<n>``)."""
        p = data.practice
        self.insert(
            "offices",
            {"id": int(p.id), "name": p.name, "phone_number": p.phone, "address": p.address, "doctor": "1"},
        )
        coverage = {c.patient_id: c for c in data.coverages}
        for patient in data.patients:
            cov = coverage.get(patient.id)
            obj: Obj = {
                "id": int(patient.id),
                "doctor": DOCTOR_ID,
                "gender": "Other",
                "first_name": patient.first_name,
                "last_name": patient.last_name,
                "date_of_birth": patient.date_of_birth.isoformat(),
                "cell_phone": patient.phone or "",
                "email": patient.email or "",
                "address": patient.address_line,
                "city": patient.city,
                "state": patient.state,
                "zip_code": patient.zip_code,
                "preferred_language": "spa" if patient.language is Language.ES else "eng",
                "disable_sms_messages": not patient.sms_consent,
                "chart_id": patient.portal_user_id or "",
            }
            if cov is not None:
                obj["primary_insurance"] = {
                    "insurance_company": cov.payer_name,
                    "insurance_id_number": cov.member_id,
                    "insurance_plan_type": _PLAN_CODES.get(cov.plan_type, cov.plan_type),
                }
                obj["copay"] = dm.amount(cov.copay_cents)
            self.validate_object("/api/patients", obj)
            self.insert("patients", obj, at=datetime(2024, 1, 1, tzinfo=UTC))
        claims = {c.id: c for c in data.claims}
        for st in data.statements:
            self._load_statement(st, claims)
            for pay in st.payments:
                self._load_payment(pay)

    def _load_statement(self, st: Statement, claims: dict[str, Any]) -> None:
        appointment = dm.appointment_of(st.id)
        if appointment is None:
            raise ValueError(f"{st.id} is not a DrChrono statement id (appt-<appointment>)")
        posted = datetime(st.statement_date.year, st.statement_date.month, st.statement_date.day, tzinfo=UTC)
        for li in st.line_items:
            claim = claims.get(li.claim_id or "")
            line: Obj = {
                "id": int(li.id),
                "appointment": appointment,
                "patient": st.patient_id,
                "doctor": str(DOCTOR_ID),
                "code": li.code,
                "procedure_type": "C" if li.code_system == "CPT" else "H",
                "modifiers": list(li.modifiers),
                "quantity": float(li.units),
                "diagnosis_pointers": [],
                "description": li.description,
                "service_date": li.service_date.isoformat(),
                "posted_date": st.statement_date.isoformat(),
                "billed": float(Decimal(li.billed_cents) / 100),
                "price": float(Decimal(li.billed_cents) / 100),
                "allowed": float(Decimal(li.allowed_cents) / 100),
                "ins1_paid": float(Decimal(li.insurance_paid_cents) / 100),
                "ins2_paid": 0.0,
                "ins3_paid": 0.0,
                "adjustment": float(Decimal(li.billed_cents - li.allowed_cents) / 100),
                "balance_pt": float(Decimal(li.patient_responsibility_cents) / 100),
                "pt_paid": 0.0,
                "balance_ins": float(Decimal(li.insurance_pending_cents) / 100),
                "billing_status": "Partially Paid" if claim is not None else "",
                "denied_flag": False,
            }
            self.validate_object("/api/line_items", line)
            self.insert("line_items", line, at=posted)
            adjudicated = claim.adjudicated_on if claim is not None else st.statement_date
            reasons = [
                (a.group_code.value, f"{a.carc} {a.rarc}" if a.rarc else a.carc, a.amount_cents)
                for a in li.adjustments
                if a.group_code is not GroupCode.PR
            ]
            reasons += [
                ("PR", carc, amount)
                for carc, amount in (
                    ("1", li.deductible_cents),
                    ("2", li.coinsurance_cents),
                    ("3", li.copay_cents),
                )
                if amount
            ]
            for n, (group, reason, amount) in enumerate(reasons):
                t: Obj = {
                    "line_item": int(li.id),
                    "appointment": appointment,
                    "patient": int(st.patient_id),
                    "adjustment_group_code": group,
                    "adjustment_reason": reason,
                    "adjustment": float(Decimal(amount) / 100),
                    "ins_paid": float(Decimal(li.insurance_paid_cents) / 100) if n == 0 else 0.0,
                    "posted_date": (adjudicated or st.statement_date).isoformat(),
                }
                self.validate_object("/api/transactions", t)
                self.insert("transactions", t, at=posted)

    def _load_payment(self, pay: Any) -> None:
        appointment = dm.appointment_of(pay.statement_id) if pay.statement_id else None
        obj: Obj = {
            "id": int(pay.id),
            "patient": int(pay.patient_id),
            "amount": float(Decimal(pay.amount_cents) / 100),
            "payment_method": dm.METHOD_TO_DRCHRONO[PaymentMethod(pay.method)],
            "notes": dm.payment_note(pay.idempotency_key, pay.source, pay.method, pay.external_id),
            "received_date": pay.posted_at.date().isoformat(),
            "created_at": pay.posted_at.astimezone(UTC).isoformat(),
        }
        if appointment is not None:
            obj["appointment"] = appointment
        self.validate_object("/api/patient_payments", obj)
        self.insert("patient_payments", obj, at=pay.posted_at)


class _Violation(Exception):
    """A request that breaks DrChrono's OpenAPI description."""
