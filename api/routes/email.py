"""Email consent over HTTP: the one-click unsubscribe (RFC 8058) and the bounce/complaint webhook.

``POST /v1/email/unsubscribe?t=TOKEN`` is what a mail client posts when the patient presses its
"Unsubscribe" button (body ``List-Unsubscribe=One-Click``) and what the confirmation page's button posts.
The token is signed (``tools.messaging.email.unsubscribe_token``); no login, no cookie, no other field is
needed, and the unsubscribe is recorded before the answer, so no later email goes to the address.

``GET`` of the same URL (a patient clicking the footer link) only shows a page with one button: link
scanners and prefetchers GET every URL in a message, and RFC 8058 forbids unsubscribing on a GET.

``POST /v1/email/bounces`` records a hard bounce, a soft bounce or a complaint for an address, from a
provider's webhook (or a relay that parses DSNs), authenticated with ``BILLING_EMAIL_BOUNCE_WEBHOOK_SECRET``
as a bearer token; each event id is recorded once. Without the secret the endpoint refuses everything.
"""

from __future__ import annotations

import hmac
import html
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ServicesDep
from api.errors import error_responses
from tools.errors import BillingError, Forbidden
from tools.messaging.email import UNSUBSCRIBE_PATH, verify_unsubscribe_token
from tools.messaging.email_consent import EmailConsentStore

log = logging.getLogger("api.email")

router = APIRouter(tags=["email"])

TokenQuery = Annotated[str, Query(alias="t", min_length=1, max_length=200, description="the signed token")]

_PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    "<title>{title}</title></head>\n"
    '<body style="font-family:Arial,Helvetica,sans-serif;color:#1a1a1a;background:#fff;'
    'max-width:560px;margin:0 auto;padding:24px">\n'
    '<main><h1 style="font-size:22px">{title}</h1>{body}</main></body></html>\n'
)


class InvalidUnsubscribeLink(BillingError):
    status_code = 400
    code = "invalid_unsubscribe_link"


class EmailServiceUnavailable(BillingError):
    status_code = 503
    code = "email_webhook_not_configured"


def _store(services: ServicesDep) -> EmailConsentStore:
    return EmailConsentStore(services.engine, services.settings.email_secret())


def _key(services: ServicesDep, token: str) -> str:
    key = verify_unsubscribe_token(services.settings.email_secret(), token)
    if key is None:
        raise InvalidUnsubscribeLink("this unsubscribe link is not valid")
    return key


_HTML_OK: dict[int | str, dict[str, Any]] = {
    200: {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}
}


# No ``response_class=HTMLResponse``: FastAPI would then document the JSON error bodies as text/html.
@router.get(UNSUBSCRIBE_PATH, responses={**_HTML_OK, **error_responses(400, 422)})
async def unsubscribe_page(services: ServicesDep, t: TokenQuery) -> HTMLResponse:
    """A page with one button that unsubscribes; a GET never changes anything."""
    _key(services, t)
    action = html.escape(f"{UNSUBSCRIBE_PATH}?t={t}")
    body = (
        "<p>Press the button to stop billing emails to this address.</p>"
        f'<form method="post" action="{action}"><button type="submit" '
        'style="background:#0b5394;color:#fff;border:0;padding:12px 20px;font-size:16px;border-radius:4px">'
        "Unsubscribe</button></form>"
    )
    return HTMLResponse(_PAGE.format(title="Unsubscribe from billing emails", body=body))


@router.post(UNSUBSCRIBE_PATH, responses={**_HTML_OK, **error_responses(400, 422)})
async def unsubscribe(request: Request, services: ServicesDep, t: TokenQuery) -> HTMLResponse:
    """Record the unsubscribe at once (RFC 8058 one-click, or the page's button)."""
    key = _key(services, t)
    raw = (await request.body())[:512]
    source: Literal["one_click", "link"] = "one_click" if b"List-Unsubscribe=One-Click" in raw else "link"
    store = _store(services)
    if await store.standing_key(key) != "unsubscribed":
        await store.record_key(key, "unsubscribe", source)
    body = "<p>You will get no more billing emails at this address. It can take effect only once: it has.</p>"
    return HTMLResponse(_PAGE.format(title="You are unsubscribed", body=body))


class BounceEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128, description="the provider's event id (deduplicates)")
    address: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    kind: Literal["hard_bounce", "soft_bounce", "complaint"]
    status: str | None = Field(default=None, max_length=32, description="the DSN status, e.g. 5.1.1")


class BounceRecorded(BaseModel):
    recorded: bool


@router.post("/v1/email/bounces", responses=error_responses(403, 422, 503))
async def bounce(
    event: BounceEvent,
    services: ServicesDep,
    authorization: Annotated[str | None, Header()] = None,
) -> BounceRecorded:
    secret = services.settings.email_bounce_webhook_secret
    if secret is None:
        raise EmailServiceUnavailable("the bounce webhook has no secret configured")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), secret.get_secret_value()):
        raise Forbidden("the bounce webhook's bearer token is wrong")
    recorded = await _store(services).record(
        event.address, event.kind, "bounce_webhook", detail=event.status, external_id=event.event_id
    )
    return BounceRecorded(recorded=recorded)
