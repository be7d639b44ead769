"""``guard_in`` (the input screen: a fresh turn record, identity from the run context, refusals) and
``guard_out`` (grounding, advice, SMS length, streaming of the approved reply)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from agent import templates as T
from agent.context import AgentContext
from agent.facts import FactSet
from agent.lc_tools_readonly import ReadOnlyTools
from agent.nodes.common import ctx, lang, line, work
from agent.phrasing import PhrasingFailed, has_placeholder
from agent.state import WINDOW, ConversationState, GuardDecision, Turn, Update
from agent.understanding.local import detect_language
from guardrails.audit import SCREENED_TEXT_KEY, screened_text
from guardrails.compliance import fit_sms, strip_advice
from guardrails.grounding import Mention, check, extract_mention_spans
from guardrails.screening import classify_sms_keyword, is_free_text_revocation, screen_followup
from tools.messaging.segments import gsm7_plain
from tools.platforms.models import Channel

# A patient line kept in the checkpoint window is truncated; the full text is on the platform.
WINDOW_LINE_CHARS = 500
MAX_INPUT_CHARS = 2000
# A phrased reply is released to the patient this many characters behind what the model has written: any
# figure the grounding check reads is shorter, so every figure in released text has been seen whole.
HOLD_CHARS = 40

log = logging.getLogger(__name__)

# A templated reply is streamed a sentence at a time (with the whitespace after it): the whole text is
# known at once, and the HTTP runtime sends tokens a sentence at a time anyway (``TOKEN_FLUSH_S``).
_SENTENCE = re.compile(r".+?(?:[.!?](?=\s)|\n|$)\s*", re.S)


def sentences(text: str) -> list[str]:
    """``text`` cut after each sentence; the pieces join back to exactly ``text``."""
    return [m.group(0) for m in _SENTENCE.finditer(text) if m.group(0)]


class ThreadPatientMismatch(PermissionError):
    """A verified caller tried to use a thread that belongs to another patient."""


@dataclass(frozen=True, slots=True)
class Screened:
    """What the screen made of a message: durable changes, and the turn's fresh record (with its answer
    when the screen answered: locked, opted out, refused)."""

    durable: Update
    work: Turn

    @property
    def answered(self) -> bool:
        return bool(self.work.get("reply"))


# An SMS thread's identity lapses after this long without a message either way (the patient's or ours).
SMS_IDENTITY_TTL = timedelta(hours=12)


def sms_identity_lapsed(state: ConversationState, text: str, now: datetime) -> bool:
    """Whether a verified SMS thread must verify again: the patient sent START/UNSTOP (consent to texts
    given anew), or the thread has been silent longer than :data:`SMS_IDENTITY_TTL`."""
    if text.strip().upper() in {"START", "UNSTOP"}:
        return True
    messages = state.get("messages") or []
    if not messages:
        return False
    try:
        last = datetime.fromisoformat(messages[-1]["at"])
    except (KeyError, ValueError):
        return True  # no time on the last line: verify rather than guess
    return now - last > SMS_IDENTITY_TTL


def guard_in(state: ConversationState, c: AgentContext) -> Screened:
    """The input screen: starts the turn's record afresh, takes identity from the run context, and refuses
    what must not go further (a locked thread, a text opt-out, an empty, too long or injected message).
    A plain function run at the start of ``understand``'s step (see :mod:`agent.nodes.understand`)."""
    now = c.now()
    text = state.get("text") or ""
    language = lang(state)
    turn: Turn = {"reply": "", "preface": "", "fallback": "", "facts": [], "suggestions": []}
    update: Update = {
        "turn": state.get("turn", 0) + 1,
        "channel": c.channel.value,
        "messages": [line("patient", text[:WINDOW_LINE_CHARS], now)],
    }
    identity = state.get("identity", "unverified")
    if "identity" not in state:
        update.update(
            {
                "identity": "unverified",
                "mode": "bot",
                "auth_failures": 0,
                "repair_failures": 0,
                "low_conf_streak": 0,
            }
        )
        update.update({"intent_history": [], "pending": None, "expecting": None, "language": "en"})
    if (
        c.channel is Channel.SMS
        and c.verified_patient_id is None
        and identity == "verified"
        and sms_identity_lapsed(state, text, now)
    ):
        # A phone number is not a person: after an opt-out and START, or a long silence, whoever holds
        # the phone answers the identity questions again before any account fact.
        identity = "unverified"
        update.update(
            {
                "identity": "unverified",
                "auth_failures": 0,
                "auth_dob": None,
                "pending": None,
                "expecting": None,
                "link_offer": None,
                "clarify_options": [],
            }
        )
    if c.verified_patient_id is not None:
        if state.get("patient_id") not in (None, c.verified_patient_id):
            raise ThreadPatientMismatch("this thread belongs to another patient")
        if identity != "verified":
            identity = "verified"
            update.update({"identity": "verified", "patient_id": c.verified_patient_id})
    elif identity != "verified" and identity != "locked":
        held = [*list(state.get("held_lines") or []), line("patient", text[:WINDOW_LINE_CHARS], now)]
        update["held_lines"] = held[-WINDOW:]

    if state.get("mode") == "human":
        return Screened(update, turn)  # the relay stores the message; the bot stays silent

    if identity == "locked":
        turn["reply"] = turn["fallback"] = T.LOCKED[language].format(phone=c.ports.policy.office_hours.phone)
        turn["guard"] = [{"check": "thread", "verdict": "locked"}]
        return Screened(update, turn)

    if state.get("human_session_ended"):
        # The explicit marker written by hand-back: forget offers made before the human took over.
        update.update(
            {"human_session_ended": False, "pending": None, "expecting": None, "clarify_options": []}
        )
        turn["preface"] = T.BACK_FROM_HUMAN[language]

    if c.channel is Channel.SMS and (classify_sms_keyword(text) == "stop" or is_free_text_revocation(text)):
        # The patient withdrew consent to texts: confirm once, ask nothing, drop what was pending. The SMS
        # webhook records the opt-out; the agent never texts a question after it.
        update.update({"pending": None, "expecting": None, "link_offer": None, "clarify_options": []})
        if identity == "verified" and c.verified_patient_id is None:
            update["identity"] = "unverified"  # texts resume only after START, with identity asked again
        turn["reply"] = turn["fallback"] = T.SMS_OPTED_OUT[language]
        turn["guard"] = [{"check": "sms_consent", "verdict": "opted_out"}]
        turn["actions"] = ["sms_opt_out"]
        return Screened(update, turn)

    earlier = [m["text"] for m in (state.get("messages") or []) if m["role"] == "patient"]
    screen = screen_followup(text, earlier[-1] if earlier else None, max_chars=MAX_INPUT_CHARS)
    turn["guard"] = [{"check": "screen", "verdict": screen.verdict}]
    canned = {
        "empty": T.EMPTY,
        "too_long": T.TOO_LONG,
        "injection": T.INJECTION,
        "other_patient": T.OTHER_PERSON,
        "abuse": T.ABUSE,
    }.get(screen.verdict)
    if canned is not None:
        # A refusal is understood in the words' own language: "cuánto debe mi esposo" is refused in Spanish
        # on a thread that has not yet been read as Spanish (the screen runs before understanding).
        if detect_language(text) == "es":
            language = "es"
        turn["reply"] = turn["fallback"] = canned[language]
        turn["suggestions"] = T.SUGGESTIONS[language]
        if state.get("expecting") in ("clarify", "human_offer", "link_offer"):
            # The refusal ends with its own question: the one asked before it is no longer open.
            update.update({"expecting": None, "clarify_options": []})
    return Screened(update, turn)


def _safe_text(text: str, facts: FactSet) -> bool:
    return check(text, facts.facts).ok


async def guard_out(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    c = ctx(runtime)
    language = lang(state)
    turn = work(state)
    body = turn.get("reply") or ""
    preface = turn.get("preface") or ""
    if not body and not preface:
        return {"work": {"reply": ""}}
    facts = FactSet(turn.get("facts") or [])
    decisions: list[GuardDecision] = []
    writer = get_stream_writer()
    released = 0
    if (
        c.ports.phraser is not None
        and turn.get("phrase_sources") is not None
        and not preface
        and c.channel is not Channel.SMS
    ):
        phrased, verdict, released = await _phrase(state, c, facts, writer)
        decisions.append({"check": "phrasing", "verdict": verdict})
        if phrased is not None:
            return {
                "work": {"reply": phrased, "guard": decisions},
                "messages": [line("bot", phrased[:WINDOW_LINE_CHARS], c.now())],
            }
    text = f"{preface} {body}".strip()
    if _safe_text(text, facts):
        decisions.append({"check": "grounding", "verdict": "ok"})
    else:
        fallback = f"{preface} {turn.get('fallback') or ''}".strip()
        if fallback and _safe_text(fallback, facts):
            text = fallback
            decisions.append({"check": "grounding", "verdict": "replaced_with_template"})
        else:
            text = T.GREETING[language]
            decisions.append({"check": "grounding", "verdict": "replaced_with_generic"})
    cleaned = strip_advice(text)
    if cleaned != text:
        decisions.append({"check": "advice", "verdict": "stripped"})
        text = cleaned
    if c.channel is Channel.SMS:
        text = gsm7_plain(text)
        fitted = fit_sms(text, c.ports.policy.sms_max_segments)
        if fitted != text:
            decisions.append({"check": "sms_segments", "verdict": "shortened"})
            text = fitted
    if not released:  # after a partly released phrasing, the final message replaces what was shown
        for sentence in sentences(text):
            writer({"token": sentence})
    return {
        "work": {"reply": text, "guard": decisions},
        "messages": [line("bot", text[:WINDOW_LINE_CHARS], c.now())],
    }


def _unverified(text: str, facts: FactSet, settled: int) -> list[Mention]:
    """The figures in ``text`` that end before ``settled`` (they can no longer grow) and are not facts."""
    return [m for _, end, m in extract_mention_spans(text) if end <= settled and not facts.facts.allows(m)]


def _release_point(text: str, released: int) -> int:
    """How far ``text`` may be shown: ``HOLD_CHARS`` behind its end, at a space, never inside a figure."""
    cut = text.rfind(" ", released, max(released, len(text) - HOLD_CHARS) + 1)
    if cut <= released:
        return released
    for start, end, _ in extract_mention_spans(text):
        if start < cut < end:
            cut = start
    return cut if cut > released else released


async def _phrase(
    state: ConversationState, c: AgentContext, facts: FactSet, writer: Callable[[Any], None]
) -> tuple[str | None, str, int]:
    """The model's phrasing of the reply, streamed as it is verified: ``(text or None, verdict, number
    of characters already shown)``. ``None``: the template answers (a failure, or a figure, placeholder
    or advice that is not in the turn's facts)."""
    phraser = c.ports.phraser
    assert phraser is not None
    buf = ""
    released = 0
    rejected: list[Mention] = []

    def emit(chunk: str) -> bool:
        nonlocal buf, released
        buf = buf + chunk if released else (buf + chunk).lstrip()
        settled = len(buf) - HOLD_CHARS
        bad = _unverified(buf, facts, settled)
        if bad:
            rejected.extend(bad)
            return False
        cut = _release_point(buf, released)
        if cut > released:
            if has_placeholder(buf[:cut]):
                return False
            writer({"token": buf[released:cut]})
            released = cut
        return True

    patient_id = state.get("patient_id") if state.get("identity") == "verified" else None
    tools = (  # the look-ups read the thread's verified patient, never one the model names
        ReadOnlyTools(c.ports.platform, c.ports.codebook, c.ports.kb, patient_id) if patient_id else None
    )
    try:
        phrased = await phraser.phrase(
            work(state).get("reply") or "",
            work(state).get("phrase_sources") or [],
            lang(state),
            state.get("patient_id"),
            emit,
            tools=tools,
            ground=facts.text,  # a look-up's figures are facts of the turn
        )
    except PhrasingFailed as failed:
        log.info("agent.phrasing.fallback", extra={"thread_id": c.thread_id, "reason": failed.reason})
        return None, f"fallback_{failed.reason}", released
    final = buf.strip()
    if not rejected:
        rejected = check(final, facts.facts).ungrounded
    if rejected or has_placeholder(final) or strip_advice(final) != final or not final:
        phraser.replaced()
        await c.ports.audit.append(
            "llm.phrasing.replaced",
            {
                "ungrounded": len(rejected),
                "kinds": [str(k) for k in sorted({m.kind for m in rejected})],
                # As the model wrote it: placeholders, never restored, screened again by the vault.
                SCREENED_TEXT_KEY: screened_text(phrased.raw),
            },
            thread_id=c.thread_id,
            patient_id=state.get("patient_id"),
        )
        log.info("agent.phrasing.replaced", extra={"thread_id": c.thread_id, "ungrounded": len(rejected)})
        return None, "replaced_with_template", released
    tail = final[released:]
    if tail:
        writer({"token": tail})
    return final, "ok", len(final)
