"""Deterministic cues read from a patient's words alongside any understanding engine (local or LLM).

They decide how far a request to pay may go on its own: a plain "send me a link to pay" is the patient's
consent to a link for the stated amount; a haggle ("I'll pay now if you knock half off") or a message that
never mentions paying is answered with terms and a yes/no question instead, and nothing is written until
the patient says yes.
"""

from __future__ import annotations

import itertools
import re

from agent.understanding.text import normalize
from guardrails.escalation import edit_distance

_RE_DISCOUNT = re.compile(
    r"\b(?:discount\w*|descuento\w*|rebaja\w*|half off|\d{1,3} ?(?:%|percent) off|knock\w* (?:\S+ ){0,4}off\b"
    r"|(?:take|shave|cut)\w* (?:half|some(?:thing)?|\$?\d[\d.,]* ?(?:%|percent|dollars|bucks)?) off\b"
    r"|(?:reduce|lower|cut) (?:my|the|this) (?:bill|balance|total|amount|price)"
    r"|(?:mitad|50 ?%) menos|quita\w* (?:\S+ ){0,3}(?:mitad|porcentaje))"
)
_RE_DISCOUNT_RAW = re.compile(r"\d{1,3}\s?%")  # "50%" before normalisation strips the sign
_RE_HARDSHIP = re.compile(
    r"\b(?:lost (?:my|our) (?:job|work|income|insurance)|laid off|unemploy\w*|out of work|can ?n?o?t afford"
    r"|can t afford|cannot afford|hardship|struggl\w*|no income|disabilit\w*|medical leave|broke\b"
    r"|no money|fixed income|sin trabajo|desemplead\w*|no puedo pagar|dificultad\w*|no tengo dinero"
    r"|can t (?:cover|pay this|work)|no way i can|sliding (?:fee )?scale"
    r"|financial(?:ly)? (?:assistance|help|aid)"
    r"|help me financially|charity care|assistance program|money is (?:really |very |so )?tight|unpaid leave"
    r"|drowning|only income|single (?:mom|mother|dad|father|parent)|ayuda financiera|asistencia financiera)"
)
_RE_DISPUTE = re.compile(
    r"\b(?:dispute\w*|disputa\w*|twice|duplicate\w*|double (?:charged|billed|charge)|wrong|incorrect|error"
    r"|mistake\w*|never (?:had|got|received|ordered|went|was)|didn t (?:get|receive|have|order)|not mine"
    r"|isn t mine|overcharg\w*|shouldn t (?:be|have)|not (?:right|correct|accurate)|equivocad\w*|error"
    r"|cobraron dos veces|no (?:es|son) mi)"
)
_RE_WAIVER_CLAIM = re.compile(
    r"\b(?:manager|doctor|dr|office|staff|someone|receptionist|front desk|billing|nurse|they)\b[\w\s]{0,30}"
    r"\b(?:said|told me|promised|agreed)\b[\w\s]{0,40}"
    r"\b(?:don t (?:have|need) to pay|do not (?:have|need) to pay|skip|waive\w*|no need to pay|write it off"
    r"|wipe|zero|free|forgiv\w*|not (?:have|need) to pay)"
)
_RE_PAY_WORD = re.compile(
    r"\b(?:pay\w*|paid|link|settle\w*|charge my|card on file|checkout|pagar|pago|pague\w*|pagu\w*|enlace"
    r"|liquidar|cobr\w*)\b"
)


def asks_for_discount(text: str) -> bool:
    """A request to lower the amount owed ("50% off", "knock half off", "can you give me a discount")."""
    norm = normalize(text)
    return bool(_RE_DISCOUNT.search(norm)) or bool(
        _RE_DISCOUNT_RAW.search(text) and re.search(r"\boff\b|\bmenos\b", norm)
    )


def mentions_hardship(text: str) -> bool:
    """Words of financial hardship (a lost job, can't afford it): those go to a person, not a haggle."""
    return bool(_RE_HARDSHIP.search(normalize(text).replace("'", " ")))


def mentions_paying(text: str) -> bool:
    """Whether the patient's own words ask about paying or a link at all."""
    return bool(_RE_PAY_WORD.search(normalize(text)))


_CHOICE_FILLER_TEXT = (
    "option opcion number numero plan the la el one uno una please por favor i ll take want choose pick go "
    "with quiero elijo tomo"
)
_CHOICE_FILLER = frozenset(_CHOICE_FILLER_TEXT.split())


def choice_number(text: str, options: int = 9) -> int | None:
    """A bare option number ("2", "option 2", "#2", "I'll take 2") when a choice is expected."""
    words = normalize(text).replace("'", "").replace("#", " ").split()
    digits = [w for w in words if w.isdigit()]
    rest = [w for w in words if not w.isdigit() and w not in _CHOICE_FILLER]
    if len(digits) != 1 or rest:
        return None
    n = int(digits[0])
    return n if 1 <= n <= options else None


def mentions_dispute(text: str) -> bool:
    """Words that contest a charge ("billed twice", "I never had that test", "this is wrong")."""
    return bool(_RE_DISPUTE.search(normalize(text).replace("'", " ")))


def claims_waiver(text: str) -> bool:
    """A claim that someone at the practice waived the bill ("the manager said I don't have to pay"):
    only staff can confirm it, so it is handled like a payment dispute."""
    return bool(_RE_WAIVER_CLAIM.search(normalize(text).replace("'", " ")))


def says_already_paid(text: str) -> bool:
    """ "I already paid" or "my payment should be on the account by now", tolerating a misspelt word
    ("alerady paid", "my paymnet should be posted")."""
    words = normalize(text).replace("'", " ").split()
    for word, nxt in itertools.pairwise(words):
        if nxt in _PAID_WORDS and edit_distance(word, "already", 1) <= 1:
            return True
        if nxt in _ARRIVED_WORDS and edit_distance(word, "payment", 1) <= 1:
            return True
    return bool(re.search(r"\bya (?:lo |la )?pagu?e\b", normalize(text)))


def asks_what_is_left(text: str) -> bool:
    """A part payment and a question about the rest ("I paid part of it, how much is left?")."""
    norm = normalize(text).replace("'", " ")
    return bool(_RE_PART_PAID.search(norm) and _RE_WHAT_IS_LEFT.search(norm))


_PAID_WORDS = frozenset({"paid", "payed", "pay", "sent", "made", "settled", "covered"})
_ARRIVED_WORDS = frozenset({"should", "went", "posted", "arrived", "landed", "cleared"})
_RE_PART_PAID = re.compile(r"\b(?:part|partial\w*|some|half|a portion)\b")
_RE_WHAT_IS_LEFT = re.compile(r"\b(?:left|remaining|remains|rest|still owe|leftover|queda|resta|falta)\b")


_RE_PER_STATEMENT = re.compile(
    r"\b(?:per|each|every|by) (?:statement|bill|invoice)\b|\b(?:all|both) (?:my |the |of my )?statements\b"
    r"|\bstatement by statement\b|\bpor (?:cada )?(?:estado de cuenta|factura)\b"
)


def asks_per_statement(text: str) -> bool:
    """A question about the balance of each statement ("what do I owe per statement?")."""
    return bool(_RE_PER_STATEMENT.search(normalize(text)))
