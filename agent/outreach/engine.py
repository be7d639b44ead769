"""The outreach engine: a decision pass over the ledger's changes, and a send pass over due steps.

It composes the pure rules (``guardrails.outreach`` decides, ``guardrails.contact`` gates each send) with
the ports (the platform, the step store, SMS consent, messaging channels, the audit trail). It lives in
``agent/`` because it needs both sides: ``tools/`` may not import ``guardrails/``, and the API only wires
it (``billing-agent outreach run`` does one pass of each; ``serve`` runs :meth:`OutreachEngine.serve`).

Everything that varies is injected — the clock, the sleep, the channels, the worker id, the link and the
thread of a phone — so a simulation (``outreach simulate``) drives this same code on a simulated clock.

Sending, step by step (:meth:`OutreachEngine.send_one`): claim one due step (``OutreachStore.claim``) →
re-read the account and decide again (a payment, a plan, a dispute or a STOP since the decision cancels
it; an unsubscribe or a bounce since moves it to the other channel) → the step's approved template in the
patient's language (none approved: held for an hour) → render with the minimum PHI (a text from the
template; an email from the fixed layout of ``tools.messaging.email``: subject, text + HTML, the practice's
postal address, RFC 8058 one-click unsubscribe) → the contact gate (block, defer to a lawful time, or
send; quiet hours and the 7-day cap count every channel) → pace per channel → send, retrying Twilio's
429/5xx and SMTP's 4xx with exponential backoff (``tenacity``; a refused mailbox is recorded as a hard
bounce) → mark sent, log the message on the patient's record with its channel, audit, and schedule the
next step (a follow-up, or a staff call task).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from agent.state import Language
from agent.templates import plan_label
from guardrails.audit import AuditEntry, AuditTrail, JsonValue
from guardrails.contact import ContactCheck, check_contact, zone_for_address
from guardrails.outreach import (
    AccountSnapshot,
    Contact,
    ContactChannel,
    Decision,
    MessageFields,
    TemplateError,
    decide,
    render,
)
from guardrails.policy import PracticePolicy
from tools.errors import BillingError
from tools.messaging.base import Messaging, OutboundMessage
from tools.messaging.consent import SmsConsentStore
from tools.messaging.email import EmailChannel, OutreachEmail, subject_for, text_body
from tools.messaging.email_consent import EmailConsentStore
from tools.messaging.sms_webhook import PERMANENT_ERROR_CODES
from tools.messaging.twilio import MessageRejected, MessagingUnavailable
from tools.outreach.store import GLOBAL, OutreachStore, PlannedStep, StoredStep
from tools.platforms.base import OutreachPlatform
from tools.platforms.models import AccountActivity, Author, Channel, CommunicationIn, Direction

log = logging.getLogger(__name__)

FEED = "ledger"
TEMPLATE_RETRY = timedelta(hours=1)
PROVIDER_RETRY = timedelta(minutes=15)
SUPPRESSED = frozenset({"unsubscribed", "bounced", "complained"})


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Pacer:
    """At most one message per ``interval_s`` per sending number (a US long code sends about one a
    second). Per process: run one sender per number, or divide the rate among workers."""

    def __init__(
        self,
        interval_s: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = interval_s
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[str, float] = {}

    async def wait(self, sender: str) -> None:
        now = self._monotonic()
        ready = self._next.get(sender, now)
        if ready > now:
            await self._sleep(ready - now)
        self._next[sender] = max(ready, now) + self._interval


@dataclass
class PassReport:
    accounts: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    scheduled: int = 0
    cancelled: int = 0
    cursor: str | None = None


@dataclass
class SendReport:
    sent: int = 0
    deferred: int = 0
    blocked: int = 0
    cancelled: int = 0
    held: int = 0
    uncertain: int = 0
    failed: int = 0


def _terms(offer: Mapping[str, Any] | None, language: Language) -> str | None:
    """The offered plan's terms in the patient's language (the stored label is the policy's English)."""
    if not offer:
        return None
    try:
        return plan_label(
            int(offer["down_payment_cents"]), int(offer["months"]), int(offer["installment_cents"]),
            int(offer["final_cents"]), language,
        )  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return str(offer["label"]) if "label" in offer else None


def _sms_undeliverable(contacts: Sequence[StoredStep], last_reply_at: datetime | None) -> bool:
    """Whether the episode's newest text came back undeliverable for good (Twilio's receipt with an
    error a retry cannot fix) and no reply came after it. A new statement starts a new episode, which
    tries the number again (the practice may have corrected it)."""
    texts = [c for c in contacts if c.channel == "sms" and c.status in ("sent", "uncertain")]
    if not texts:
        return False
    newest = texts[-1]
    if newest.delivery_status not in ("undelivered", "failed"):
        return False
    if newest.delivery_error not in PERMANENT_ERROR_CODES:
        return False
    sent_at = newest.sent_at or newest.created_at
    return last_reply_at is None or last_reply_at < sent_at


def planned(d: Decision) -> PlannedStep:
    assert d.due_at is not None
    assert d.step is not None
    assert d.channel is not None
    offer: dict[str, Any] | None = None
    if d.offer is not None:
        o = d.offer
        offer = {
            "total_cents": o.total_cents,
            "down_payment_cents": o.down_payment_cents,
            "months": o.months,
            "installment_cents": o.installment_cents,
            "final_cents": o.final_cents,
            "label": o.label,
        }
    return PlannedStep(
        key=d.key, patient_id=d.patient_id, episode=d.episode, sequence=d.sequence, step=d.step,
        channel=d.channel, template_key=d.template_key, segment=d.segment, tone=d.tone, reason=d.reason,
        due_at=d.due_at, offer=offer, summary=d.summary.text() if d.summary is not None else None,
    )  # fmt: skip


def _message_ref(message_id: str) -> str:
    """A Message-ID as the step and the audit keep it: without its angle brackets, at most 64 characters
    (a longer one, from a long sending domain, by its digest)."""
    bare = message_id.strip().strip("<>")
    return bare if len(bare) <= 64 else "sha256:" + hashlib.sha256(bare.encode()).hexdigest()[:57]


def _contact(st: StoredStep) -> Contact:
    channel: ContactChannel = "call" if st.channel == "call" else "email" if st.channel == "email" else "sms"
    return Contact(channel, st.step, st.sent_at or st.created_at)


def _decision_audit(d: Decision) -> AuditEntry:
    payload: dict[str, JsonValue] = {"action": d.action, "reason": d.reason}
    if d.action != "none":
        payload.update(
            key=d.key, step=d.step, channel=d.channel, due_at=d.due_at.isoformat() if d.due_at else None
        )
    return AuditEntry("outreach.decision", payload, patient_id=d.patient_id)


class OutreachEngine:
    def __init__(
        self,
        *,
        platform: OutreachPlatform,
        store: OutreachStore,
        consent: SmsConsentStore,
        audit: AuditTrail,
        policy: PracticePolicy,
        channels: Mapping[str, Messaging],
        link_for: Callable[[StoredStep], str],
        thread_for: Callable[[str], Awaitable[str]],
        email: EmailChannel | None = None,
        email_consent: EmailConsentStore | None = None,
        worker: str = "outreach",
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        pacer: Pacer | None = None,
        lease: timedelta = timedelta(minutes=5),
        retry_attempts: int = 4,
        retry_base_s: float = 1.0,
    ) -> None:
        self.platform = platform
        self.store = store
        self.consent = consent
        self.audit = audit
        self.policy = policy
        self.channels = dict(channels)
        self._link_for = link_for
        self.email = email
        self.email_consent = email_consent
        if email is not None and email_consent is None:
            raise ValueError("an email channel needs the email consent store (unsubscribes, bounces)")
        self._thread_for = thread_for
        self.worker = worker
        self._clock = clock or _utcnow
        self._sleep = sleep
        self._pacer = pacer or Pacer(1.0, sleep=sleep)
        self._lease = lease
        self._retry_attempts = retry_attempts
        self._retry_base_s = retry_base_s

    def now(self) -> datetime:
        return self._clock().astimezone(UTC)

    # ------------------------------------------------------------------ deciding

    async def snapshots(self, activities: Sequence[AccountActivity]) -> list[AccountSnapshot]:
        """Each account's facts plus outreach's own record of it, read in bulk."""
        episodes = {a.patient_id: a.newest_statement_id or "none" for a in activities}
        history = await self.store.history(list(episodes), episodes)
        standings = await self.consent.standings([a.phone for a in activities if a.phone])
        emails: dict[str, str] = {}
        if self.email is not None and self.email_consent is not None:
            addresses = sorted({a.email for a in activities if a.email})
            emails = dict(await self.email_consent.standings(addresses)) if addresses else {}
        paused = await self.store.paused()
        everyone = GLOBAL in paused
        out = []
        for a in activities:
            h = history[a.patient_id]
            out.append(
                AccountSnapshot(
                    activity=a,
                    episode=episodes[a.patient_id],
                    language="es" if a.language.value == "es" else "en",
                    zone=zone_for_address(a.state, a.zip_code, a.timezone),
                    has_phone=bool(a.phone),
                    # Email only with an address the engine can read and an SMTP channel to send it on.
                    has_email=bool(a.email) and self.email is not None,
                    outreach_consent=a.sms_consent,
                    opted_out=bool(a.phone) and standings.get(a.phone or "") == "opted_out",
                    contacts=tuple(
                        Contact(
                            "call" if st.channel == "call" else "email" if st.channel == "email" else "sms",
                            st.step,
                            st.sent_at or st.created_at,
                        )
                        for st in h.contacts
                    ),
                    last_reply_at=h.last_reply_at,
                    call_task_open=h.call_task_open,
                    paused=everyone or a.patient_id in paused,
                    email_suppressed=bool(a.email) and emails.get(a.email or "", "unknown") in SUPPRESSED,
                    sms_undeliverable=_sms_undeliverable(h.contacts, h.last_reply_at),
                )
            )
        return out

    async def apply(self, decisions: Sequence[Decision]) -> tuple[int, int]:
        """Store and audit decisions: steps to schedule, and pending steps to cancel for a stop."""
        steps = [planned(d) for d in decisions if d.action != "none"]
        stop = {d.patient_id: d.reason for d in decisions if d.action == "none"}
        counts = await self.store.apply(steps, stop)
        await self.audit.append_many([_decision_audit(d) for d in decisions], actor="outreach")
        return counts

    async def decide_for(self, activities: Sequence[AccountActivity]) -> list[Decision]:
        now = self.now()
        return [decide(s, self.policy, now) for s in await self.snapshots(activities)]

    async def decide_pass(self, *, page_size: int = 5000, max_pages: int | None = None) -> PassReport:
        """Every account whose balance changed since the stored cursor: decide, store, audit, then move
        the cursor (a crash before it re-decides the same page: the keys make that harmless)."""
        report = PassReport(cursor=await self.store.cursor(FEED))
        pages = 0
        while max_pages is None or pages < max_pages:
            page = await self.platform.list_balance_changes(report.cursor, page_size)
            if page.cursor == report.cursor:
                break
            decisions = await self.decide_for(page.accounts)
            inserted, cancelled = await self.apply(decisions)
            await self.store.set_cursor(FEED, page.cursor)
            report.cursor = page.cursor
            report.accounts += len(decisions)
            report.scheduled += inserted
            report.cancelled += cancelled
            for d in decisions:
                report.reasons[d.reason] = report.reasons.get(d.reason, 0) + 1
            pages += 1
        log.info("outreach.decide_pass", extra={"accounts": report.accounts, "scheduled": report.scheduled})
        return report

    async def redecide(self, patient_ids: Sequence[str]) -> list[Decision]:
        """Decide again for these accounts now (after a send, a reply, a payment, a pause)."""
        decisions = await self.decide_for(await self.platform.get_account_activity(list(patient_ids)))
        await self.apply(decisions)
        return decisions

    # ------------------------------------------------------------------ sending

    async def send_pass(self, *, max_steps: int | None = None) -> SendReport:
        report = SendReport()
        for expired in await self.store.expire_leases(self.now()):
            report.uncertain += 1
            await self._audit("uncertain", expired, reason="lease_expired")
        handled = 0
        while max_steps is None or handled < max_steps:
            step = await self.store.claim(self.worker, self.now(), self._lease, self._claimable())
            if step is None:
                break
            handled += 1
            outcome = await self.send_one(step)
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    def _claimable(self) -> list[str]:
        return [*self.channels, *(["email"] if self.email is not None else [])]

    async def _audit(self, event: str, step: StoredStep, **payload: JsonValue) -> None:
        await self.audit.append(
            f"outreach.{event}", {"key": step.key, **payload}, patient_id=step.patient_id, actor="outreach"
        )

    async def send_one(self, step: StoredStep) -> str:
        """Gate and send one claimed step; returns the ``SendReport`` field it counts under."""
        now = self.now()
        activity = await self.platform.get_account_activity([step.patient_id])
        if not activity:
            await self.store.close(step.id, self.worker, "cancelled", "unknown_patient")
            return "cancelled"
        (snap,) = await self.snapshots(activity)
        decision = decide(snap, self.policy, now)
        if decision.action != "send" or decision.key != step.key:
            await self.store.close(step.id, self.worker, "cancelled", f"redecided:{decision.reason}")
            await self._audit("cancelled", step, reason=decision.reason)
            await self.apply([decision])
            return "cancelled"
        if decision.channel != step.channel:
            # The same step on another channel now (an unsubscribe, a bounce or a STOP since the decision):
            # back to scheduled, and the decision's channel and time replace the old ones.
            assert decision.due_at is not None
            await self.store.release(step.id, self.worker, decision.due_at, f"channel:{decision.channel}")
            await self.apply([decision])
            await self._audit("rechanneled", step, reason=decision.reason, channel=decision.channel)
            return "deferred"
        template = await self.store.approved_template(step.template_key or "", snap.language)
        if template is None and snap.language != "en":
            template = await self.store.approved_template(step.template_key or "", "en")
        if template is None:
            await self.store.release(step.id, self.worker, now + TEMPLATE_RETRY, "template_not_approved")
            await self._audit("held", step, reason="template_not_approved")
            return "held"
        a = snap.activity
        patient = await self.platform.get_patient(step.patient_id)
        practice = await self.platform.get_practice()
        link = self._link_for(step)
        terms = _terms(step.offer, snap.language)
        email: OutreachEmail | None = None
        if step.channel == "email":
            if self.email is None or not patient.email:
                await self.store.close(step.id, self.worker, "blocked", "no_address")
                await self._audit("blocked", step, reason="no_address")
                return "blocked"
            email = OutreachEmail(
                to=patient.email, first_name=patient.first_name, practice=practice.name,
                amount_cents=a.balance_cents, link=link, plan_terms=terms, practice_phone=practice.phone,
                language=snap.language, tone="firm" if step.tone == "firm" else "standard",
            )  # fmt: skip
            text = text_body(email, self.email.cfg)
            # What the gate reads is what the patient's data filled in: the practice's postal address and
            # the signed links are the practice's and ours (a ZIP code would read as a procedure code).
            checked = "\n".join([subject_for(email), text])
            for fixed in (
                link,
                self.email.cfg.unsubscribe_url(email.to),
                self.email.cfg.practice_postal_address,
            ):
                checked = checked.replace(fixed, "")
        else:
            fields = MessageFields(
                first_name=patient.first_name, practice=practice.name, amount_cents=a.balance_cents,
                link=link, phone=practice.phone, terms=terms,
            )  # fmt: skip
            try:
                text = render(template.body, fields)
            except TemplateError:
                await self.store.close(step.id, self.worker, "blocked", "template_invalid")
                await self._audit("blocked", step, reason="template_invalid", version=template.version)
                return "blocked"
            checked = text.replace(link, "")
        forbidden = [patient.last_name, patient.date_of_birth.isoformat(), patient.address_line]
        if a.newest_statement_id:
            statement = await self.platform.get_statement(step.patient_id, a.newest_statement_id)
            forbidden += [li.description for li in statement.line_items]
            forbidden += [li.provider_name for li in statement.line_items]
        # Every channel's contacts count towards the cap (an SMS and an email are two contacts).
        recent = [s.sent_at for s in await self.store.timeline(step.patient_id) if s.sent_at is not None]
        verdict = check_contact(
            ContactCheck(
                now=now,
                zone=snap.zone,
                window=self._window(),
                channel="email" if step.channel == "email" else "sms",
                outreach_consent=snap.outreach_consent,
                opted_out=snap.opted_out,
                recent_contacts=recent,
                cap_per_7_days=self._cap(),
                disputed=a.open_dispute,
                attorney=a.legal_flag,
                text=checked,
                forbidden=forbidden,
                email_suppressed=snap.email_suppressed,
            )
        )
        if verdict.verdict == "block":
            await self.store.close(step.id, self.worker, "blocked", verdict.reason)
            await self._audit("blocked", step, reason=verdict.reason)
            return "blocked"
        if verdict.verdict == "defer":
            assert verdict.retry_at is not None
            await self.store.release(step.id, self.worker, verdict.retry_at, verdict.reason)
            await self._audit("deferred", step, reason=verdict.reason, until=verdict.retry_at.isoformat())
            return "deferred"
        if email is not None:
            return await self._send_email(step, email, text, template.key, template.version, now)
        to = patient.phone
        if not to:
            await self.store.close(step.id, self.worker, "blocked", "no_address")
            await self._audit("blocked", step, reason="no_address")
            return "blocked"
        thread_id = await self._thread_for(to)
        channel = self.channels[step.channel]
        try:
            await self._pacer.wait(f"{step.channel}")
            async for attempt in self._retrying():
                with attempt:
                    sent = await channel.send(OutboundMessage(to=to, body=text, thread_id=thread_id))
        except MessageRejected as exc:
            await self.store.close(step.id, self.worker, "blocked", f"rejected:{exc.twilio_code}")
            await self._audit("blocked", step, reason="provider_rejected", code=exc.twilio_code)
            return "blocked"
        except MessagingUnavailable:
            await self.store.release(step.id, self.worker, now + PROVIDER_RETRY, "provider_unavailable")
            await self._audit("deferred", step, reason="provider_unavailable")
            return "failed"
        await self._sent(
            step,
            sent.sid,
            template.key,
            template.version,
            thread_id,
            Channel.SMS,
            text,
            segments=sent.segments,
        )
        return "sent"

    def _retrying(self) -> AsyncRetrying:
        return AsyncRetrying(
            retry=retry_if_exception_type(MessagingUnavailable),
            wait=wait_exponential(multiplier=self._retry_base_s, max=30 * self._retry_base_s),
            stop=stop_after_attempt(self._retry_attempts),
            sleep=self._sleep,
            reraise=True,
        )

    async def _send_email(
        self,
        step: StoredStep,
        email: OutreachEmail,
        text: str,
        template_key: str,
        version: int,
        now: datetime,
    ) -> str:
        """Deliver over SMTP (``EmailChannel``: its own suppression check, text + HTML, the postal address,
        RFC 8058 one-click unsubscribe). A mailbox the server refuses (5xx) is a hard bounce, recorded for
        the address: nothing more is sent to it."""
        assert self.email is not None
        try:
            await self._pacer.wait("email")
            async for attempt in self._retrying():
                with attempt:
                    result = await self.email.send(email)
        except MessageRejected as exc:
            if self.email_consent is not None:
                await self.email_consent.record(
                    email.to, "hard_bounce", "smtp", detail=str(exc.twilio_code) if exc.twilio_code else None
                )
            await self._audit("blocked", step, reason="provider_rejected", code=exc.twilio_code)
            return await self._email_closed(step, "hard_bounce", now)
        except MessagingUnavailable:
            await self.store.release(step.id, self.worker, now + PROVIDER_RETRY, "provider_unavailable")
            await self._audit("deferred", step, reason="provider_unavailable")
            return "failed"
        if result.status == "suppressed" or result.message_id is None:
            await self._audit("blocked", step, reason="email_suppressed")
            return await self._email_closed(step, "email_suppressed", now)
        await self._sent(
            step, _message_ref(result.message_id), template_key, version, f"email:{step.patient_id}",
            Channel.EMAIL, text,
        )  # fmt: skip
        return "sent"

    async def _email_closed(self, step: StoredStep, reason: str, now: datetime) -> str:
        """The address may not be emailed any more: the step goes back to scheduled and the decision
        made now replaces it (the same step by text, a staff call task, or nothing), so the account is
        not left without its next step."""
        await self.store.release(step.id, self.worker, now, reason)
        await self.redecide([step.patient_id])  # stores it (a stop or a newer step cancels this one)
        return "blocked"

    async def _sent(
        self,
        step: StoredStep,
        external_id: str,
        template_key: str,
        version: int,
        thread_id: str,
        channel: Channel,
        text: str,
        *,
        segments: int | None = None,
    ) -> None:
        """Mark sent, audit, log the message on the patient's record with its channel, decide the next."""
        sent_at = self.now()
        await self.store.mark_sent(step.id, self.worker, external_id, version, sent_at)
        payload: dict[str, JsonValue] = {
            "reason": step.reason, "sid": external_id, "template": template_key, "version": version,
            "channel": channel.value,
        }  # fmt: skip
        if segments is not None:
            payload["segments"] = segments
        await self._audit("sent", step, **payload)
        try:
            await self.platform.log_communication(
                step.patient_id,
                CommunicationIn(
                    thread_id=thread_id, channel=channel, direction=Direction.OUTBOUND, author=Author.BOT,
                    text=text, external_id=external_id,
                ),
            )  # fmt: skip
        except BillingError:
            log.warning("outreach.log_communication_failed", extra={"key": step.key})
        await self.redecide([step.patient_id])

    def _window(self) -> Any:
        assert self.policy.outreach is not None
        return self.policy.outreach.send_window

    def _cap(self) -> int:
        assert self.policy.outreach is not None
        return self.policy.outreach.contact_cap_per_7_days

    # ------------------------------------------------------------------ what patients and staff do

    async def on_inbound(self, phone: str, *, opted_out: bool) -> list[str]:
        """A text from ``phone``: a reply marks the newest outreach text answered and cancels what was
        pending (the conversation carries on in the thread); STOP cancels it too, at once. Returns the
        keys of the cancelled steps."""
        patients = [p.id for p in await self.platform.find_patients_by_phone(phone)]
        if not patients:
            return []
        if opted_out:
            cancelled = await self.store.cancel_pending(patients, "opted_out")
        else:
            answered, cancelled = await self.store.record_reply(patients, self.now())
            if answered is not None:
                await self.audit.append(
                    "outreach.replied", {"key": answered.key}, patient_id=answered.patient_id, actor="patient"
                )
        for step in cancelled:
            await self._audit("cancelled", step, reason="opted_out" if opted_out else "replied")
        return [s.key for s in cancelled]

    async def on_link_opened(self, patient_id: str, step_id: int) -> None:
        """The patient opened a portal chat from a message's link: an answer like a reply to a text (the
        conversation carries on in the chat), so what was pending is cancelled."""
        _, cancelled = await self.store.record_reply([patient_id], self.now())
        await self.audit.append(
            "outreach.link_opened", {"step_id": step_id}, patient_id=patient_id, actor="patient"
        )
        for step in cancelled:
            await self._audit("cancelled", step, reason="link_opened")

    async def pause(self, scope: str, by: str) -> None:
        await self.store.pause(scope, by)
        await self.audit.append("outreach.paused", {"scope": scope}, actor="staff")

    async def resume(self, scope: str, by: str) -> None:
        await self.store.resume(scope)
        await self.audit.append("outreach.resumed", {"scope": scope}, actor="staff")
        if scope != GLOBAL:
            await self.redecide([scope])

    # ------------------------------------------------------------------ the loop

    async def run_once(self, *, max_steps: int | None = None) -> tuple[PassReport, SendReport]:
        decided = await self.decide_pass()
        sent = await self.send_pass(max_steps=max_steps)
        return decided, sent

    async def serve(self, stop: asyncio.Event, interval_s: float = 30.0) -> None:
        """Decide and send every ``interval_s`` until ``stop`` is set (``billing-agent serve``). A failing
        pass is logged and tried again next time; nothing is lost, the state is in the database."""
        while not stop.is_set():
            try:
                await self.run_once()
            except (BillingError, OSError) as exc:
                log.warning("outreach.pass_failed", extra={"error": type(exc).__name__})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await stop.wait()
