"""Twilio's inbound messaging webhook: ``POST /v1/sms/inbound``.

Order of work, each step before the next:

1. **Verify.** The ``X-Twilio-Signature`` is checked with the ``twilio`` library's ``RequestValidator``
   over the public URL Twilio called (``BILLING_TWILIO_WEBHOOK_URL``, else ``BILLING_PUBLIC_BASE_URL`` +
   the path) and the form fields. Forged or missing → 403 and nothing is stored. With no auth token
   configured the endpoint refuses everything (503): it never accepts what it cannot verify.
2. **Consent keywords, before any model runs.** ``STOP``/``STOPALL``/``UNSUBSCRIBE``/``CANCEL``/``END``/
   ``QUIT``/``REVOKE``/``OPTOUT`` (or Twilio's ``OptOutType=STOP``) record an opt-out; ``START``/``UNSTOP``
   an opt-in; ``HELP``/``INFO`` a help request. Each is a row of ``sms_consent_events`` (deduplicated by
   ``MessageSid``) and an audit record. When Twilio posted ``OptOutType`` its Advanced Opt-Out has
   already sent the confirmation, so we send nothing; otherwise we send the one confirmation ourselves.
   ``YES`` is Twilio's opt-in keyword too, but it is also how a patient answers the agent: it counts as
   an opt-in only from a number that is opted out.
3. **Free-text revocations are STOP.** "please stop texting me", "no más mensajes": the patient has
   clearly withdrawn consent (TCPA allows revocation "by any reasonable means"), so it is recorded as an
   opt-out like the keyword, with one confirmation that names the keyword to resubscribe. Routing such a
   message to a person instead would keep texting someone who asked us to stop.
4. **Nothing after STOP.** A message from an opted-out number is acknowledged and dropped: no turn runs
   and nothing is sent, until the patient texts START. (``HELP`` is still answered: carriers require a
   HELP reply whatever the opt-in state.) Replies of turns already running are held back by the
   delivery step, which asks the same consent store before sending.
5. **Empty body or media only** → one polite "text only, please" reply, nothing else.
6. **A conversation message** is stored on the phone's one SMS thread and queued with
   ``TurnRunner.submit(external_id=MessageSid)``; a redelivered ``MessageSid`` is stored once and runs
   once. The webhook answers at once with empty TwiML; the reply goes out through the ``Messaging`` port
   when the turn finishes, whatever Twilio's 15 s webhook timeout.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response

from api.deps import Services, ServicesDep
from api.errors import error_responses
from api.settings import Settings
from guardrails.screening import classify_sms_keyword, is_free_text_revocation
from tools.errors import BillingError, Forbidden
from tools.messaging.base import E164_PATTERN, Messaging, OutboundMessage
from tools.messaging.consent import ConsentAction, ConsentSource, SmsConsentStore
from tools.messaging.sms_webhook import (
    DeliveryReceipt,
    InboundSms,
    public_request_url,
    validate_twilio_request,
)
from tools.platforms.models import Language
from tools.webhook_events import WebhookEventLog

log = logging.getLogger("api.sms")

router = APIRouter(tags=["sms"])

INBOUND_PATH = "/v1/sms/inbound"
STATUS_PATH = "/v1/sms/status"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
TWIML_MEDIA_TYPE = "application/xml"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 64 * 1024  # Twilio's inbound posts are a few kB; a body of 1,600 characters at most

Lang = Literal["en", "es"]


class SmsWebhookNotConfigured(BillingError):
    """No Twilio auth token: no request can be verified, so every one is refused."""

    status_code = 503
    code = "sms_webhook_not_configured"


class UnsupportedMediaType(BillingError):
    status_code = 415
    code = "unsupported_media_type"


class PayloadTooLarge(BillingError):
    status_code = 413
    code = "payload_too_large"


# --------------------------------------------------------------------------- wording

CONFIRM_STOP: dict[Lang, str] = {
    "en": "{practice}: you are unsubscribed and will get no more texts from us. Reply START to resubscribe.",
    "es": "{practice}: se ha dado de baja y no recibira mas mensajes. "
    "Responda START para volver a suscribirse.",
}
CONFIRM_START: dict[Lang, str] = {
    "en": "{practice}: you are subscribed to billing texts again. Reply HELP for help, STOP to opt out.",
    "es": "{practice}: vuelve a recibir mensajes de facturacion. Responda HELP para ayuda, STOP para salir.",
}
HELP_TEXT: dict[Lang, str] = {
    "en": "{practice} billing: text your question about your bill, or call {phone}. "
    "Msg&data rates may apply. Reply STOP to opt out.",
    "es": "{practice} facturacion: escriba su pregunta sobre su factura o llame al {phone}. "
    "Pueden aplicar tarifas. Responda STOP para salir.",
}
TEXT_ONLY: dict[Lang, str] = {
    "en": "Sorry, we can only read text messages. Please type your question about your bill.",
    "es": "Lo sentimos, solo podemos leer mensajes de texto. Escriba su pregunta sobre su factura.",
}


# --------------------------------------------------------------------------- dependencies


async def get_consent_store(services: ServicesDep) -> SmsConsentStore:
    return SmsConsentStore(services.engine)


async def get_webhook_log(services: ServicesDep) -> WebhookEventLog:
    return WebhookEventLog(services.engine)


ConsentDep = Annotated[SmsConsentStore, Depends(get_consent_store)]
WebhookLogDep = Annotated[WebhookEventLog, Depends(get_webhook_log)]


async def _verified_form(request: Request, services: ServicesDep, signed_url: str) -> dict[str, str]:
    """The form fields of a Twilio webhook once its signature over ``signed_url`` has checked out;
    raises before anything is stored."""
    settings = services.settings
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    if not token.strip():
        raise SmsWebhookNotConfigured("the Twilio auth token is not configured; refusing every message")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM_MEDIA_TYPE:
        raise UnsupportedMediaType(f"Twilio posts {FORM_MEDIA_TYPE}; got {content_type or 'no content type'}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise PayloadTooLarge(f"an inbound message form is at most {MAX_FORM_BYTES} bytes")
    form = await request.form()
    params = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    if not validate_twilio_request(token, signed_url, params, request.headers.get("x-twilio-signature")):
        log.warning("sms.webhook.signature_rejected", extra={"path": request.url.path})
        raise Forbidden("the request is not signed by Twilio")
    return params


async def verified_inbound_sms(request: Request, services: ServicesDep) -> InboundSms:
    """The inbound message, once its Twilio signature has checked out; raises before anything is stored."""
    settings = services.settings
    url = settings.twilio_webhook_url or public_request_url(
        settings.public_base_url, INBOUND_PATH, request.url.query
    )
    return InboundSms.from_form(await _verified_form(request, services, url))


def status_callback_url(settings: Settings) -> str:
    """The URL outreach texts give Twilio for their delivery receipts (and that receipts are signed over)."""
    return settings.twilio_status_callback_url or public_request_url(settings.public_base_url, STATUS_PATH)


async def verified_receipt(request: Request, services: ServicesDep) -> DeliveryReceipt:
    """A delivery receipt, once its Twilio signature over the status callback URL has checked out."""
    # Twilio calls exactly the URL each message gave it: the signature is checked over that URL.
    url = status_callback_url(services.settings)
    return DeliveryReceipt.from_form(await _verified_form(request, services, url))


VerifiedSms = Annotated[InboundSms, Depends(verified_inbound_sms)]
VerifiedReceipt = Annotated[DeliveryReceipt, Depends(verified_receipt)]


# --------------------------------------------------------------------------- route


def _form_schema(
    required: list[str], fields: list[str], enums: dict[str, list[str]] | None = None
) -> dict[str, object]:
    """The OpenAPI request body of a Twilio form post: string fields, more allowed (Twilio adds fields)."""
    properties = {
        f: {"type": "string", **({"enum": enums[f]} if enums and f in enums else {})} for f in fields
    }
    schema = {"type": "object", "required": required, "properties": properties}
    return {
        "requestBody": {
            "required": True,
            "content": {FORM_MEDIA_TYPE: {"schema": {**schema, "additionalProperties": {"type": "string"}}}},
        }
    }


_FORM_SCHEMA = _form_schema(
    ["MessageSid", "From", "To"],
    ["MessageSid", "AccountSid", "From", "To", "Body", "NumMedia", "OptOutType"],
    {"OptOutType": ["STOP", "START", "HELP"]},
)


@router.post(
    INBOUND_PATH,
    response_class=Response,
    responses={
        200: {"description": "Empty TwiML: acknowledged", "content": {TWIML_MEDIA_TYPE: {}}},
        **error_responses(400, 403, 413, 415, 503),
    },
    openapi_extra=_FORM_SCHEMA,
    summary="Twilio inbound message webhook",
)
async def sms_inbound(
    sms: VerifiedSms,
    services: ServicesDep,
    consent: ConsentDep,
    processed: WebhookLogDep,
    background: BackgroundTasks,
) -> Response:
    """Twilio posts each text a patient sends to the practice's number here (signed)."""
    phone = sms.from_number
    sid = sms.message_sid
    if not sms.from_phone:
        # A short code, an alphanumeric sender or another channel: we cannot answer it or find a
        # patient by it. Acknowledged (Twilio would retry an error) and recorded, no turn runs.
        await processed.claim("twilio", sid, kind="message", outcome="unroutable_sender")
        log.info("sms.inbound.unroutable", extra={"message_sid": sid, "reason": "sender_not_e164"})
        return _twiml()
    standing = await consent.standing(phone)
    change = _consent_change(sms, opted_out=standing == "opted_out")
    if change is not None:
        action, source = change
        if action == "opt_out":  # STOP ends outreach at once: nothing pending is sent
            await services.outreach.on_inbound(phone, opted_out=True)
        if await consent.record(phone, action, source, message_sid=sid):
            await services.audit.append(
                f"sms.consent.{action}", {"source": source, "message_sid": sid}, actor="patient"
            )
            log.info("sms.inbound.consent", extra={"message_sid": sid, "action": action, "source": source})
            # Twilio's Advanced Opt-Out already answered a keyword it flagged with OptOutType, and a
            # number that had opted out already got its one confirmation.
            repeated_stop = action == "opt_out" and standing == "opted_out"
            if sms.opt_out_type is None and not repeated_stop:
                background.add_task(_send_confirmation, services.messaging, services, phone, action, sid)
        return _twiml()
    if standing == "opted_out":
        await processed.claim("twilio", sid, kind="message", outcome="suppressed_opted_out")
        log.info("sms.inbound.suppressed", extra={"message_sid": sid, "reason": "opted_out"})
        return _twiml()
    if not sms.text:
        kind = "media_only" if sms.is_media_only else "empty"
        if await processed.claim("twilio", sid, kind=kind, outcome="text_only_reply"):
            lang = await _language(services, phone)
            background.add_task(_send, services.messaging, phone, TEXT_ONLY[lang], sid)
        log.info("sms.inbound.not_text", extra={"message_sid": sid, "kind": kind})
        return _twiml()
    thread = await services.threads.get_or_create_sms(phone)
    await services.outreach.on_inbound(phone, opted_out=False)  # a reply cancels what outreach had pending
    inbound = await services.runner.submit(thread.id, sms.text, external_id=sid)
    log.info(
        "sms.inbound.queued",
        extra={"message_sid": sid, "thread_id": thread.id, "duplicate": inbound.duplicate},
    )
    return _twiml()


_STATUS_FORM_SCHEMA = _form_schema(
    ["MessageSid", "MessageStatus"],
    ["MessageSid", "MessageStatus", "ErrorCode", "AccountSid", "From", "To"],
)


@router.post(
    STATUS_PATH,
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "Recorded, or not about an outreach text"},
        **error_responses(400, 403, 413, 415, 503),
    },
    openapi_extra=_STATUS_FORM_SCHEMA,
    summary="Twilio message status callback (delivery receipts)",
)
async def sms_status(receipt: VerifiedReceipt, services: ServicesDep) -> Response:
    """Twilio posts each status change of an outreach text here (signed): ``delivered``,
    ``undelivered``, ``failed``... The step sent with that ``MessageSid`` records it; a repeated or older
    status changes nothing, and a sid no step has (a conversation reply) writes nothing."""
    if receipt.is_receipt:
        update = await services.outreach.store.record_delivery(
            receipt.message_sid, receipt.status, receipt.error_code, services.outreach.now()
        )
        if update is not None and update.changed and receipt.not_delivered:
            await services.audit.append(
                "outreach.undelivered",
                {
                    "key": update.step.key,
                    "status": receipt.status,
                    "code": receipt.error_code,
                    "permanent": receipt.permanent,
                },
                patient_id=update.step.patient_id,
                actor="provider",
            )
            if receipt.permanent:
                await _redecide_after_dead_number(services, update.step.patient_id)
        log.info(
            "sms.status.received",
            extra={
                "message_sid": receipt.message_sid,
                "status": receipt.status,
                "matched": update is not None,
                "changed": bool(update and update.changed),
            },
        )
    return Response(status_code=204)


async def _redecide_after_dead_number(services: Services, patient_id: str) -> None:
    """A text that can never be delivered to this number moves the account's next step now: to email
    when the patient may be emailed, else to a staff call task (the console's call queue), so staff see
    it at once. The platform being down only delays this: the send pass decides again before sending."""
    try:
        await services.outreach.redecide([patient_id])
    except BillingError as exc:
        log.warning("sms.status.redecide_deferred", extra={"error": type(exc).__name__})


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type=TWIML_MEDIA_TYPE)


def _consent_change(sms: InboundSms, *, opted_out: bool) -> tuple[ConsentAction, ConsentSource] | None:
    """The consent change this message makes, if any."""
    flagged = sms.opt_out_type
    keyword = classify_sms_keyword(sms.text)
    source: ConsentSource = "advanced_opt_out" if flagged is not None else "keyword"
    if flagged == "STOP" or keyword == "stop":
        return "opt_out", source
    if flagged == "HELP" or keyword == "help":
        return "help", source
    if flagged == "START" or keyword == "start":
        # "YES" is an opt-in keyword only for someone who opted out; otherwise it answers the agent.
        if opted_out or sms.text.strip().upper() != "YES":
            return "opt_in", source
        return None
    if sms.text and is_free_text_revocation(sms.text):
        return "opt_out", "free_text"
    return None


async def _language(services: ServicesDep, phone: str) -> Lang:
    """The patient's language when the phone names exactly one patient; English otherwise."""
    patients = await services.platform.find_patients_by_phone(phone)
    if len(patients) == 1 and patients[0].language is Language.ES:
        return "es"
    return "en"


async def _send_confirmation(
    messaging: Messaging, services: ServicesDep, phone: str, action: ConsentAction, sid: str
) -> None:
    practice = await services.platform.get_practice()
    lang = await _language(services, phone)
    if action == "opt_out":
        text = CONFIRM_STOP[lang].format(practice=practice.name)
    elif action == "opt_in":
        text = CONFIRM_START[lang].format(practice=practice.name)
    else:
        text = HELP_TEXT[lang].format(practice=practice.name, phone=practice.phone)
    await _send(messaging, phone, text, sid)


async def _send(messaging: Messaging, phone: str, text: str, sid: str) -> None:
    """Send one service text; a refusal (Twilio's 21610 for a number it has opted out, an outage) is
    logged, not raised: the webhook was already acknowledged and the consent change is recorded."""
    if not re.match(E164_PATTERN, phone):
        log.warning("sms.reply.skipped", extra={"message_sid": sid, "reason": "sender_not_e164"})
        return
    try:
        sent = await messaging.send(OutboundMessage(to=phone, body=text, thread_id=f"sms-service:{sid}"))
    except BillingError as exc:
        log.warning("sms.reply.failed", extra={"message_sid": sid, "error": exc.code})
        return
    log.info("sms.reply.sent", extra={"message_sid": sid, "sid": sent.sid, "segments": sent.segments})
