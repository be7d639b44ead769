"""Outgoing-message compliance: SMS length and no medical or legal advice.

SMS segments follow GSM 03.38 / UCS-2 billing rules: a text of only GSM-7 characters takes up to 160
septets in one segment, else 153 per segment (extension characters ``^ { } \\ [ ~ ] | €`` and form feed take
two septets and are never split). Any other character makes the whole text UCS-2: 70 UTF-16 code units
in one segment, else 67 per segment, never splitting a surrogate pair.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from guardrails.grounding import extract_mention_spans
from tools.messaging.segments import sms_encoding as sms_encoding  # re-exported
from tools.messaging.segments import sms_segments as sms_segments  # re-exported

ELLIPSIS = "..."  # three full stops: "…" is not GSM-7 and would switch the whole text to UCS-2


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WHITESPACE = re.compile(r"\s+")
_ADVICE_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])(?=\s)")
_TRAILING = re.compile(r"[\s,;:\-–—(]+$")


def fit_sms(text: str, max_segments: int) -> str:
    """``text`` unchanged if it fits in ``max_segments``; else cut at the last sentence end, or failing that
    the last word boundary, that fits with ``...`` appended. Cuts happen only at whitespace outside any
    mention ``guardrails.grounding`` extracts, so a figure such as ``$1,234.50`` or ``April 15, 2026`` is
    kept whole or dropped whole, never split."""
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    if sms_segments(text) <= max_segments:
        return text

    def fits(candidate: str) -> bool:
        return sms_segments(candidate) <= max_segments

    # Never cut inside a figure, even one with spaces in it ("April 15, 2026", "12 monthly payments").
    inside = {i for start, end, _ in extract_mention_spans(text) for i in range(start + 1, end)}
    sentence_cuts = [m.start() for m in _SENTENCE_END.finditer(text) if m.start() not in inside]
    fitting_sentences = [c for c in sentence_cuts if fits(text[:c] + " " + ELLIPSIS)]
    word_cuts = [m.start() for m in _WHITESPACE.finditer(text) if m.start() not in inside]
    fitting_words = [c for c in word_cuts if fits(_TRAILING.sub("", text[:c]) + ELLIPSIS)]
    best_word = fitting_words[-1] if fitting_words else 0
    # Prefer whole sentences unless that throws away more than half of what a word cut keeps.
    if fitting_sentences and fitting_sentences[-1] * 2 >= best_word:
        return text[: fitting_sentences[-1]] + " " + ELLIPSIS
    if fitting_words:
        return _TRAILING.sub("", text[:best_word]) + ELLIPSIS
    # A single word longer than the whole budget (a very long link): hard cut is the only option.
    cut = len(text)
    while cut > 0 and not fits(text[:cut] + ELLIPSIS):
        cut -= 1
    return text[:cut] + ELLIPSIS


ADVICE_DISCLAIMER = (
    "I can't give medical or legal advice. For questions about your care, please talk with your care team; "
    "for legal questions, please consult a qualified professional."
)
ADVICE_DISCLAIMER_ES = (
    "No puedo dar consejos médicos ni legales. Para preguntas sobre su atención, hable con su equipo "
    "médico; para preguntas legales, consulte a un profesional calificado."
)

_ADVICE = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        # medical
        r"\b(?:you should|you could|you can|you may want to|"
        r"i (?:would )?(?:recommend|suggest|advise)(?: that)?(?: you)?|try to|"
        r"it'?s (?:fine|ok|okay|safe) to|just)\s+(?:stop|quit|skip|discontinue|start|double|"
        r"halve|reduce|increase|change)\s+(?:taking|using|your (?:dose|dosage|medications?|meds|treatment|"
        r"therapy|insulin|prescription)|the (?:medication|medicine|treatment|dose))",
        r"\b(?:stop|quit|discontinue) taking (?:your|the|this|that) (?:medications?|medicine|meds|pills|"
        r"prescription)\b",
        r"\b(?:you should|you could|i (?:would )?(?:recommend|suggest)(?: that)?(?: you)?)\s+"
        r"(?:skip|cancel|avoid|postpone|delay|refuse)\s+(?:your |the |this |that )?"
        r"(?:treatment|surgery|procedure|appointment|follow-up|therapy|"
        r"test|screening|vaccine)",
        r"\byou (?:don'?t|do not) (?:really )?need (?:the|that|this|your) (?:surgery|procedure|test|"
        r"medication|treatment|scan|therapy)",
        r"\b(?:that|the|this) (?:procedure|test|surgery|treatment|scan) (?:was|is) (?:medically )?"
        r"(?:unnecessary|not needed|not necessary)",
        # legal
        r"\b(?:you should|you could|you can|i (?:would )?(?:recommend|suggest|advise)(?: that)?(?: you)?)\s+"
        r"(?:sue|take legal action|file (?:a )?(?:lawsuit|suit|complaint in court|for bankruptcy)|"
        r"(?:get|hire|call) (?:a |an )?(?:lawyer|attorney)|declare bankruptcy|stop paying|refuse to pay|"
        r"dispute (?:it|this|the charge) in court)",
        r"\byou (?:have|'ve got) (?:a )?(?:good|strong|solid) (?:legal )?case\b",
        r"\b(?:legally|by law),? you (?:don'?t|do not) (?:have to|need to) pay\b",
        # Spanish
        r"\b(?:deberia|deberias|debe|le recomiendo|te recomiendo|le sugiero|te sugiero)\s+(?:dejar de tomar|"
        r"suspender (?:su|tu|el|la) (?:medicamento|medicina|tratamiento)|demandar|contratar a un abogado|"
        r"declararse en (?:bancarrota|quiebra)|dejar de pagar)",
        r"\b(?:deje|deja) de tomar (?:su|tu|el|la|sus|tus) (?:medicamentos?|medicinas?|pastillas)\b",
    )
)


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def contains_advice(text: str) -> bool:
    """Whether an outgoing reply gives medical or legal advice."""
    plain = _strip_accents(text)
    return any(p.search(plain) for p in _ADVICE)


def strip_advice(text: str, language: Literal["en", "es"] = "en") -> str:
    """Remove every sentence that gives medical or legal advice and put the disclaimer in place of the
    first one. Text without advice is returned unchanged."""
    if not contains_advice(text):
        return text
    disclaimer = ADVICE_DISCLAIMER_ES if language == "es" else ADVICE_DISCLAIMER
    kept: list[str] = []
    replaced = False
    # Split after . ! ? followed by whitespace, so "$1,234.50" never counts as a sentence end.
    for sentence in _ADVICE_SENTENCE_SPLIT.split(text):
        if contains_advice(sentence):
            if not replaced:
                kept.append((" " if kept else "") + disclaimer)
                replaced = True
            continue
        kept.append(sentence)
    return "".join(kept).strip()
