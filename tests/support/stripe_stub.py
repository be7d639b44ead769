"""A local server that speaks Stripe's Checkout Session API to the real ``stripe`` SDK.

Prism cannot load Stripe's whole OpenAPI spec on a small machine and stripe-mock is not installable
here, so this stub answers the three calls ``StripeGateway`` makes:

- ``POST /v1/checkout/sessions`` — validates the form-encoded body against the request-body schema of
  that operation in Stripe's OpenAPI spec (``openapi-checkout-slice.json``) with ``jsonschema``, then
  answers a session built on Stripe's own fixture object (``fixtures3.json``);
- ``GET /v1/checkout/sessions/{id}`` and ``POST /v1/checkout/sessions/{id}/expire``.

Like the real API it requires a bearer key, honours ``Idempotency-Key`` (same key and parameters →
the same object with ``Idempotent-Replayed: true``; same key, other parameters → ``idempotency_error``),
rejects unknown parameters at every level (Stripe's API does; the published schema only says
``additionalProperties: false`` at the top, so the stub closes nested objects too), checks that
``expires_at`` lies 30 minutes to 24 hours ahead, and answers errors in Stripe's ``{"error": {...}}``
shape so the SDK raises its own exception classes.

Test helpers: ``complete_session`` plays a patient paying at Checkout; ``event_for`` builds the
webhook event Stripe would send, shaped like the fixture ``event``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jsonschema

CHECKOUT_PATH = "/v1/checkout/sessions"
_SESSION_PATH = re.compile(r"^/v1/checkout/sessions/(?P<id>[A-Za-z0-9_]+)(?P<expire>/expire)?$")
_KEY_PART = re.compile(r"\[([^\]]*)\]")
MIN_EXPIRY_S = 30 * 60
MAX_EXPIRY_S = 24 * 60 * 60


class StubError(Exception):
    """An API error the stub answers in Stripe's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": {"type": type_, "message": message}}
        if code is not None:
            self.body["error"]["code"] = code
        if param is not None:
            self.body["error"]["param"] = param


# --------------------------------------------------------------------------- form decoding


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) to nested dicts; list indices stay dict keys until
    ``coerce`` sees in the schema that the value is an array."""
    result: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True, strict_parsing=False):
        head, _, rest = raw_key.partition("[")
        parts = [head, *_KEY_PART.findall("[" + rest)] if rest else [head]
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise StubError(400, f"Invalid parameter nesting at {raw_key}", param=raw_key)
            node = child
        node[parts[-1]] = value
    return result


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Form values are strings; give them the JSON types the schema names (as Stripe's API does)."""
    if "anyOf" in schema:
        for alternative in schema["anyOf"]:
            candidate = coerce(value, alternative)
            if jsonschema.Draft4Validator(alternative).is_valid(candidate):
                return candidate
        return value
    kind = schema.get("type")
    if kind == "array" and isinstance(value, dict):
        if all(k.isdigit() for k in value):
            items = schema.get("items", {})
            return [coerce(value[k], items) for k in sorted(value, key=int)]
        return value
    if kind == "object" and isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: coerce(v, props.get(k, extra if isinstance(extra, dict) else {})) for k, v in value.items()
        }
    if isinstance(value, str):
        if kind == "integer" and re.fullmatch(r"-?\d+", value):
            return int(value)
        if kind == "number":
            try:
                return float(value)
            except ValueError:
                return value
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
    return value


def close_objects(schema: Any) -> Any:
    """A copy of ``schema`` in which every object with declared properties refuses unknown ones."""
    if isinstance(schema, list):
        return [close_objects(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {k: close_objects(v) for k, v in schema.items()}
    if "properties" in closed and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


def _param_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        unknown = sorted(k for k in error.instance if k not in allowed)
        if unknown:
            parts.append(unknown[0])
    if not parts:
        return ""
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


# --------------------------------------------------------------------------- the stub


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    status: int


@dataclass
class _Idempotent:
    method_path: str
    params: dict[str, Any]
    status: int
    body: dict[str, Any]


@dataclass
class StripeStub:
    """Stripe's Checkout Session API on ``127.0.0.1:<random port>``.

    Use ``with StripeStub(fixtures, spec).running() as stub:``; the SDK's base address is ``stub.url``.
    """

    fixtures: dict[str, Any]
    spec: dict[str, Any]
    api_key: str = "sk_test_stub"
    clock: Callable[[], float] = time.time
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    _idempotent: dict[str, _Idempotent] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stub is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @contextmanager
    def running(self) -> Iterator[StripeStub]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                stub._serve(self)

            def do_POST(self) -> None:
                stub._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        thread = threading.Thread(target=self._server.serve_forever, name="stripe-stub", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)
            self._server = None

    # ------------------------------------------------------------------ schema

    def request_schema(self, path: str, method: str) -> dict[str, Any]:
        operation = self.spec["paths"][path][method]
        body = operation.get("requestBody", {}).get("content", {})
        schema = body.get("application/x-www-form-urlencoded", {}).get("schema", {"type": "object"})
        return {**close_objects(schema), "components": self.spec.get("components", {})}

    def validate(self, path: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Coerce ``params`` by the operation's schema and validate them; ``StubError`` 400 if invalid."""
        schema = self.request_schema(path, method)
        typed = coerce(params, schema)
        validator = jsonschema.Draft4Validator(schema)
        errors = sorted(validator.iter_errors(typed), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            param = _param_path(first)
            if first.validator == "additionalProperties":
                message = f"Received unknown parameter: {param}"
            elif first.validator == "required":
                message = f"Missing required param: {first.message}"
            else:
                message = f"Invalid {param or 'request'}: {first.message}"
            raise StubError(400, message, code="parameter_invalid", param=param or None)
        if not isinstance(typed, dict):
            raise StubError(400, "request body must be an object")
        return typed

    # ------------------------------------------------------------------ HTTP

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode("utf-8") if length else ""
        idem_key = handler.headers.get("Idempotency-Key")
        method = handler.command.lower()
        extra_headers: dict[str, str] = {}
        params: dict[str, Any] = {}
        try:
            params = decode_form(raw if method == "post" else split.query)
            if handler.headers.get("Authorization") != f"Bearer {self.api_key}":
                raise StubError(401, "Invalid API Key provided", type_="invalid_request_error")
            status, body, replayed = self._dispatch(method, split.path, params, idem_key)
            if replayed:
                extra_headers["Idempotent-Replayed"] = "true"
        except StubError as exc:
            status, body = exc.status, exc.body
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, split.path, params, idem_key, status))
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
        if idem_key:
            handler.send_header("Idempotency-Key", idem_key)
        for name, value in extra_headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _dispatch(
        self, method: str, path: str, params: dict[str, Any], idem_key: str | None
    ) -> tuple[int, dict[str, Any], bool]:
        with self._lock:
            if method == "post" and idem_key:
                seen = self._idempotent.get(idem_key)
                if seen is not None:
                    if seen.method_path != f"{method} {path}" or seen.params != params:
                        raise StubError(
                            400,
                            "Keys for idempotent requests can only be used with the same parameters they "
                            "were first used with. Try using a key other than "
                            f"'{idem_key}' if you meant to execute a different request.",
                            type_="idempotency_error",
                        )
                    return seen.status, copy.deepcopy(seen.body), True
            # A request that fails raises before it is saved: Stripe does not keep failed validations.
            status, body = self._route(method, path, params)
            if method == "post" and idem_key:
                self._idempotent[idem_key] = _Idempotent(
                    f"{method} {path}", params, status, copy.deepcopy(body)
                )
            return status, body, False

    def _route(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == CHECKOUT_PATH and method == "post":
            typed = self.validate(CHECKOUT_PATH, "post", params)
            return 200, self._create_session(typed)
        match = _SESSION_PATH.match(path)
        if match is None:
            raise StubError(404, f"Unrecognized request URL ({method.upper()}: {path}).")
        session_id = match["id"]
        if match["expire"]:
            if method != "post":
                raise StubError(404, f"Unrecognized request URL ({method.upper()}: {path}).")
            self.validate("/v1/checkout/sessions/{session}/expire", "post", params)
            return 200, self._expire(session_id)
        if method != "get":
            raise StubError(404, f"Unrecognized request URL ({method.upper()}: {path}).")
        self.validate("/v1/checkout/sessions/{session}", "get", params)
        return 200, copy.deepcopy(self._session(session_id))

    # ------------------------------------------------------------------ behaviour

    def _session(self, session_id: str) -> dict[str, Any]:
        session = self.sessions.get(session_id)
        if session is None:
            raise StubError(
                404, f"No such checkout.session: '{session_id}'", code="resource_missing", param="session"
            )
        return session

    def _create_session(self, p: dict[str, Any]) -> dict[str, Any]:
        now = int(self.clock())
        expires_at = p.get("expires_at", now + MAX_EXPIRY_S)
        if not now + MIN_EXPIRY_S <= expires_at <= now + MAX_EXPIRY_S:
            raise StubError(
                400,
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout "
                "Session creation.",
                code="parameter_invalid_integer",
                param="expires_at",
            )
        mode = p.get("mode")
        if mode != "payment":
            raise StubError(400, "This stub only serves `mode=payment` sessions.", param="mode")
        items = p.get("line_items") or []
        if not items:
            raise StubError(400, "`line_items` is required in `payment` mode.", param="line_items")
        currencies = {item.get("price_data", {}).get("currency") for item in items}
        if len(currencies) != 1 or None in currencies:
            raise StubError(400, "Every line item needs `price_data[currency]`.", param="line_items")
        total = 0
        for i, item in enumerate(items):
            price = item.get("price_data", {})
            if "unit_amount" not in price or price["unit_amount"] < 0:
                raise StubError(
                    400, "A unit amount is required.", param=f"line_items[{i}][price_data][unit_amount]"
                )
            total += price["unit_amount"] * item.get("quantity", 1)
        session = copy.deepcopy(self.fixtures["resources"]["checkout.session"])
        session_id = f"cs_test_{secrets.token_urlsafe(45).replace('-', 'a').replace('_', 'b')}"
        session.update(
            id=session_id,
            created=now,
            expires_at=expires_at,
            amount_subtotal=total,
            amount_total=total,
            currency=currencies.pop(),
            metadata=p.get("metadata", {}),
            client_reference_id=p.get("client_reference_id"),
            customer_email=p.get("customer_email"),
            success_url=p.get("success_url"),
            cancel_url=p.get("cancel_url"),
            mode=mode,
            status="open",
            payment_status="unpaid",
            payment_intent=None,
            url=f"https://checkout.stripe.com/c/pay/{session_id}",
            customer_details=None,
            collected_information=None,
            shipping_address_collection=None,
            shipping_cost=None,
            currency_conversion=None,
            after_expiration=None,
            custom_text={
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            livemode=False,
        )
        self.sessions[session_id] = session
        return copy.deepcopy(session)

    def _expire(self, session_id: str) -> dict[str, Any]:
        session = self._session(session_id)
        if session["status"] != "open":
            raise StubError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired.',
                code="checkout_session_expire_not_open",
            )
        session.update(status="expired", url=None)
        return copy.deepcopy(session)

    # ------------------------------------------------------------------ test helpers

    def complete_session(self, session_id: str, *, payment_status: str = "paid") -> dict[str, Any]:
        """The patient pays at Checkout: the session completes (``paid``, or ``unpaid`` for a
        delayed method such as ACH). Returns the session as Stripe would put it in an event."""
        with self._lock:
            session = self._session(session_id)
            if session["status"] != "open":
                raise ValueError(f"session {session_id} is {session['status']}, not open")
            session.update(
                status="complete",
                payment_status=payment_status,
                payment_intent=f"pi_{secrets.token_hex(12)}",
                url=None,
                customer_details={
                    "address": None,
                    "email": "patient@example.com",
                    "name": None,
                    "phone": None,
                    "tax_exempt": "none",
                    "tax_ids": [],
                    "business_name": None,
                    "individual_name": None,
                },
            )
            return copy.deepcopy(session)

    def settle_async_payment(self, session_id: str) -> dict[str, Any]:
        """A delayed payment (ACH) succeeds for a completed, unpaid session."""
        with self._lock:
            session = self._session(session_id)
            session["payment_status"] = "paid"
            return copy.deepcopy(session)

    def event_for(
        self, event_type: str, obj: dict[str, Any], *, created: int | None = None
    ) -> dict[str, Any]:
        """A webhook event as Stripe sends it, shaped like the fixture ``event``."""
        event: dict[str, Any] = copy.deepcopy(self.fixtures["resources"]["event"])
        event.update(
            id=f"evt_{secrets.token_hex(12)}",
            created=int(self.clock()) if created is None else created,
            data={"object": copy.deepcopy(obj)},
            type=event_type,
            livemode=False,
            pending_webhooks=1,
            request={"id": None, "idempotency_key": None},
        )
        return event

    def posts_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path == path]


def sign_stripe_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header as Stripe sends it.

    ``t=<unix time>,v1=<hex HMAC-SHA256 keyed by the endpoint secret over "<t>.<raw body>">``.
    """
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
