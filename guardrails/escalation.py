"""When a conversation goes to a person, why, and how urgently.

``decide`` is a pure function of the turn's signals. Reasons, most important first (the first that applies
is the ticket's reason; the priority is the highest among all that apply):

=====================  ==========================================================  ========
reason                 trigger                                                     priority
=====================  ==========================================================  ========
legal                  the patient's text mentions a lawyer, lawsuit, bankruptcy…  urgent
dispute_*              ``dispute`` (``already_paid`` when the intent name says so)  high
financial_hardship     ``hardship``                                                high
frustration            ``frustration >= FRUSTRATION_THRESHOLD`` (0.7)              high
requested_human        ``explicit_human_request``                                  normal
repair_failure         ``repair_failures >= REPAIR_FAILURE_LIMIT`` (3)             normal
low_confidence         this turn and the previous one below 0.45 (``frustration``,    normal
                       high, when ``frustration >= UPSET_THRESHOLD``)
=====================  ==========================================================  ========

Legal words, a dispute, hardship, frustration and repeated low confidence count only ``about_bill``: when
the message is read as being about this practice's bill, or the conversation already was (an explicit
request for a person always counts). "Can I take my landlord to small
claims court?" asked of a billing agent is out of scope, not an urgent legal ticket; junk typed twice is
not a ticket either.

The intent-borne triggers (dispute, hardship, a request for a person) count only when the intent's
confidence is at least ``LOW_CONFIDENCE_THRESHOLD``; a dispute or hardship reading below
``CONFIDENT_INTENT`` (0.6) ranks after frustration, which is then the ticket's reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from guardrails.screening import edit_distance, normalize, repair_words
from tools.platforms.models import TicketPriority, TicketReason

FRUSTRATION_THRESHOLD = 0.7
# Below the hand-off line but clearly upset: a ticket that repeated low confidence opens is filed as
# frustration when the patient is this upset (the reason names what called for a person).
UPSET_THRESHOLD = 0.35
LOW_CONFIDENCE_THRESHOLD = 0.45
CONFIDENT_INTENT = 0.6  # below this a dispute or hardship reading ranks after frustration
REPAIR_FAILURE_LIMIT = 3

LEGAL_TERMS: tuple[str, ...] = (
    "attorney", "attorneys", "lawyer", "lawyers", "lawsuit", "legal action", "sue", "suing", "sued",
    "court", "small claims", "legal counsel", "retained counsel", "legal representation",
    "bankruptcy", "bankrupt", "chapter 7", "chapter 13", "collections agency",
    "collection agency", "debt collector", "cease and desist", "fdcpa", "cfpb", "attorney general",
    "abogado", "abogada", "abogados", "demanda", "demandar", "demandare", "tribunal", "corte",
    "bancarrota", "quiebra", "agencia de cobranza", "agencia de cobros", "accion legal", "acciones legales",
)  # fmt: skip

# "sue" is also a first name: only the verb counts ("I'll sue", "going to sue you", "sue the practice").
_SUE = (
    r"(?:(?:i'?ll|i will|i am going to|i'm going to|i'm gonna|we will|we'll|going to|gonna|to|will|"
    r"could|can|should|might|may) sue\b|\bsu(?:e|ing|ed) (?:you|your|them|the|this|y'all|ya)\b|"
    r"\bsuing\b|\bsued\b)"
)
_LEGAL = re.compile(
    r"\b(?:"
    + "|".join(
        re.escape(t) for t in sorted(LEGAL_TERMS, key=len, reverse=True) if t not in {"sue", "suing", "sued"}
    )
    + r")\b|"
    + _SUE
)


# Legal words patients misspell ("atorney", "bankrupcy", "colections agency"). A word of a message matches
# one of these within a small edit distance (transpositions count as one edit), when both are long enough
# that a short common word cannot be one typo away and the first letter agrees (typos rarely hit it).
# Phrases match word by word, in order. Words with a common English neighbour ("demanda" ~ "demands",
# "court" ~ "count") are deliberately not here: they match exactly only.
FUZZY_LEGAL_TERMS: tuple[str, ...] = (
    "attorney", "attorneys", "lawyer", "lawyers", "lawsuit", "lawsuits", "bankruptcy", "bankrupt",
    "collections agency", "collection agency", "debt collector", "debt collectors", "abogado", "abogados",
    "bancarrota",
)  # fmt: skip
FUZZY_MIN_LENGTH = 6
# Real words one edit away from a term above; never read as a typo of it.
NOT_TYPOS = frozenset(
    {"layer", "layers", "sawyers", "collective", "correction", "corrections", "collected", "attorned"}
)
FUZZY_MIN_WORD = 5  # a misspelt word may have lost a letter: "lawyr"
_FUZZY_PHRASES: tuple[tuple[str, ...], ...] = tuple(tuple(t.split()) for t in FUZZY_LEGAL_TERMS)
_WORDS = re.compile(r"[a-z]+")


def _tolerance(term: str) -> int:
    """Edits allowed for one word of a term: none under six letters, one up to nine, two from ten."""
    if len(term) < FUZZY_MIN_LENGTH:
        return 0
    return 1 if len(term) <= 9 else 2


def _near(word: str, term: str) -> bool:
    limit = _tolerance(term)
    if limit == 0 or len(word) < FUZZY_MIN_WORD or word[0] != term[0] or word in NOT_TYPOS:
        return word == term
    return edit_distance(word, term, limit) <= limit


def _fuzzy_legal(normalized: str) -> bool:
    words = _WORDS.findall(normalized)
    for phrase in _FUZZY_PHRASES:
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if all(_near(words[i + k], phrase[k]) for k in range(n)):
                return True
    return False


# Legal words about another matter of the patient's life raise nothing against this practice: a clause whose
# legal words have someone else as the other party ("my landlord is threatening to sue me", "taking my
# contractor to small claims"), the patient's own trade ("I'm a lawyer so I read everything twice", "I work
# at a law firm") or a civic duty ("I have jury duty at court next week"). Clauses are cut at sentence
# marks, dashes, commas and "anyway"/"but", so "my landlord is suing me. I'll sue you too over this bill"
# still reads the second clause. A third party's clause that also addresses the practice ("my landlord's
# lawyer will sue your clinic") stays.
_RE_CLAUSE_BREAK = re.compile(r"[.!?;:]+(?:\s+|$)|\s+-+\s+|,\s*|\b(?:anyway|anyways|but|btw|by the way)\b")
_RE_OTHER_PARTY = re.compile(
    r"\b(?:my|our|his|her|their|the|a) (?:(?:old|former|new|current|previous|last|crazy|upstairs|downstairs"
    r"|next door) )?(?:ex|ex husband|ex wife|landlord|landlady|tenants?|roommate"
    r"|contractor|roofer|plumber|mechanic|builder|employer|boss|neighbou?r|car dealer(?:ship)?|dealership|hoa"
    r"|business partner|casero|arrendador|inquilino|jefe|vecin[oa]|ex esposo|ex esposa)s?\b"
)
# The other parties' words as patients misspell them ("my landlrod", "my contarctor").
_OTHER_PARTY_WORDS = (
    "landlord", "landlady", "tenant", "tenants", "roommate", "contractor", "plumber", "mechanic", "builder",
    "employer", "neighbor", "neighbour", "dealership",
)  # fmt: skip
# Another legal matter of the patient's life ("my attorney for the divorce", "traffic court about a
# speeding ticket"): a clause about it raises nothing against this practice.
_RE_OTHER_MATTER = re.compile(
    r"\b(?:divorce|custody|child support|alimony|immigration|traffic|speeding|parking|dui|dwi|retainer"
    r"|probate|eviction|my will|real estate|closing|citation|summons|jury|accident|wreck|crash|collision"
    r"|workers comp\w*|personal injury"
    r"|(?:student|car|auto|personal|payday) loans?|credit cards?|mortgage)\b"
)
_RE_ADDRESSES_PRACTICE = re.compile(
    r"\b(?:you|y ?all|ya|u|your|ur|ustedes)\b"
    r"|\b(?:this|these|the|my) (?:medical |hospital )?(?:bill|bills|charges?|statements?|balance|practice"
    r"|clinic|office|doctor)\b"
)
_RE_OWN_MATTER = re.compile(
    # the patient's trade, or someone's ("my sister is a lawyer"): an occupation, no threat
    r"\b(?:i m|im|i am|i was|i work as|i worked as|as|is|s|was|are|works as) (?:a|an) (?:\w+ )?"
    r"(?:lawyer|attorney|paralegal"
    r"|law student|law clerk|court reporter|judge|abogad[oa])\b"
    r"|\b(?:i work|i worked|working|i m|im|i am) (?:at|for|in) (?:a |the )?(?:\w+ )?(?:law (?:firm|office)s?"
    r"|courts?|courthouse)\b"
    r"|\b(?:jury (?:duty|service|summons)|juror|court (?:reporter|interpreter))\b"
    r"|\b(?:in|at|to) (?:the )?court(?:house)? for (?:jury|my job|work)\b"
)


# A lawyer asked of the agent for another matter ("can you recommend an attorney", "do you know a good
# lawyer?", "any lawyers you'd suggest"): a question out of scope, no threat against this practice. Only the
# ask is cut out of its clause, so "do you know a good lawyer, I'm going to sue you over this" still reads
# the threat; a lawyer of the patient's own ("do you know my lawyer will call you") is no such ask.
_LAWYER = r"(?:lawyer|lawyers|attorney|attorneys|legal aid|abogad[oa]s?)"
_RE_LAWYER_ASKED_FOR = re.compile(
    r"\b(?:can|could|would|will|do|does)\s+(?:you|u|y ?all|ya|anyone|anybody|someone|somebody)\b"
    r"(?: (?:guys|all|folks|please|maybe|possibly|happen to|by chance|perhaps))*"
    r" (?:recommend|suggest|know(?: of)?|refer me to|point me (?:to|toward|towards)|help me find|find me"
    r"|give me|send me|tell me)\b"
    r"(?: (?:me|us))?(?: (?:the name of|the names of|the number of|the number for|a list of|a name of))?"
    r" (?:a |an |any |some )?(?:(?:good|great|decent|cheap|affordable|reliable|local|free|tenants?(?: s)?"
    r"|housing|real estate|small claims|landlord|family|divorce|traffic) )*" + _LAWYER + r"\b"
    r"|\b(?:any|a good|a decent|good) " + _LAWYER + r" (?:you|u|y all)(?: (?:would|d|could|can))?"
    r" (?:recommend|suggest|know)\b"
    r"|\b(?:recommend\w*|referrals?|suggestions?) (?:for|of) (?:a |an |any |some )?(?:\w+ )?"
    + _LAWYER
    + r"\b"
    r"|\b(?:lawyer|attorney) (?:recommendations?|referrals?)\b"
    r"|\bwho (?:s|is) (?:a|the) (?:good|best|decent)(?: \w+)? (?:lawyer|attorney)\b"
    # the ask cut short ("know any attorneys?", "recommend a lawyer?")
    r"|^\s*(?:you )?(?:know|recommend|suggest)(?: of)? (?:a |an |any |some )?(?:good |decent |cheap )?"
    + _LAWYER
    + r"\b"
)


def asks_for_a_lawyer(text: str) -> bool:
    """Whether the words ask the agent for a lawyer (see ``_RE_LAWYER_ASKED_FOR``), clause by clause."""
    norm = normalize(text).replace("'", " ")
    return any(_RE_LAWYER_ASKED_FOR.search(clause) for clause in _RE_CLAUSE_BREAK.split(norm))


def legal_text(text: str) -> str:
    """``text`` without the legal words that are about another matter (see ``_RE_OTHER_PARTY``,
    ``_RE_OWN_MATTER`` and ``_RE_LAWYER_ASKED_FOR``): what :func:`decide` reads for a legal threat against
    this practice."""
    kept: list[str] = []
    norm = repair_words(normalize(text).replace("'", " "), _OTHER_PARTY_WORDS, shortest=6)
    for clause in _RE_CLAUSE_BREAK.split(norm):
        clause = _RE_LAWYER_ASKED_FOR.sub(" ", _RE_OWN_MATTER.sub(" ", clause)).strip()
        if not clause:
            continue
        if (_RE_OTHER_PARTY.search(clause) or _RE_OTHER_MATTER.search(clause)) and not (
            _RE_ADDRESSES_PRACTICE.search(clause)
        ):
            continue
        kept.append(clause)
    return ". ".join(kept)


def mentions_legal(text: str) -> bool:
    """Whether the text raises a legal matter (English or Spanish, accents and case ignored, common typos
    of the long legal words tolerated)."""
    normalized = normalize(text)
    return bool(_LEGAL.search(normalized)) or _fuzzy_legal(normalized)


@dataclass(frozen=True)
class EscalationSignals:
    intent: str
    confidence: float
    previous_low_confidence: bool = False
    frustration: float = 0.0
    repair_failures: int = 0
    text: str = ""
    explicit_human_request: bool = False
    dispute: bool = False
    hardship: bool = False
    about_bill: bool = True
    # Whether legal words are about this bill, where that is decided apart from ``about_bill`` (a first
    # message must name the bill or the practice beside them); ``None`` reads ``about_bill``.
    legal_about_bill: bool | None = None


@dataclass(frozen=True)
class EscalationDecision:
    escalate: bool
    reason: TicketReason | None
    priority: TicketPriority
    triggers: tuple[TicketReason, ...] = ()


_RANK = {TicketPriority.LOW: 0, TicketPriority.NORMAL: 1, TicketPriority.HIGH: 2, TicketPriority.URGENT: 3}


def decide(signals: EscalationSignals) -> EscalationDecision:
    """Whether to hand the conversation to staff; ``priority`` is ``normal`` when not escalating."""
    triggered: list[tuple[TicketReason, TicketPriority]] = []
    legal_about = signals.about_bill if signals.legal_about_bill is None else signals.legal_about_bill
    if legal_about and mentions_legal(legal_text(signals.text)):
        triggered.append((TicketReason.LEGAL, TicketPriority.URGENT))
    # Intent-borne triggers need an intent the engine is sure enough of: a guess below the low-confidence
    # line is clarified, never escalated on; an unsure one yields the reason to frustration.
    understood = signals.about_bill and signals.confidence >= LOW_CONFIDENCE_THRESHOLD
    sure = signals.confidence >= CONFIDENT_INTENT
    intent_borne: list[tuple[TicketReason, TicketPriority]] = []
    if signals.dispute and understood:
        reason = (
            TicketReason.DISPUTE_ALREADY_PAID
            if "already_paid" in signals.intent or "paid" in signals.intent.split("_")
            else TicketReason.DISPUTE_CHARGE
        )
        intent_borne.append((reason, TicketPriority.HIGH))
    if signals.hardship and understood:
        intent_borne.append((TicketReason.FINANCIAL_HARDSHIP, TicketPriority.HIGH))
    frustrated = signals.about_bill and signals.frustration >= FRUSTRATION_THRESHOLD
    if sure:
        triggered.extend(intent_borne)
    if frustrated:
        triggered.append((TicketReason.FRUSTRATION, TicketPriority.HIGH))
    if not sure:
        triggered.extend(intent_borne)
    if signals.explicit_human_request and signals.confidence >= LOW_CONFIDENCE_THRESHOLD:
        triggered.append((TicketReason.REQUESTED_HUMAN, TicketPriority.NORMAL))
    if signals.repair_failures >= REPAIR_FAILURE_LIMIT:
        triggered.append((TicketReason.REPAIR_FAILURE, TicketPriority.NORMAL))
    if (
        signals.about_bill
        and signals.confidence < LOW_CONFIDENCE_THRESHOLD
        and signals.previous_low_confidence
    ):
        # Two unclear messages in a row from an upset patient: the upset is what calls for a person.
        if signals.frustration >= UPSET_THRESHOLD and not frustrated:
            triggered.append((TicketReason.FRUSTRATION, TicketPriority.HIGH))
        elif not frustrated:
            triggered.append((TicketReason.LOW_CONFIDENCE, TicketPriority.NORMAL))
    if not triggered:
        return EscalationDecision(False, None, TicketPriority.NORMAL)
    priority = max((p for _, p in triggered), key=_RANK.__getitem__)
    return EscalationDecision(True, triggered[0][0], priority, tuple(r for r, _ in triggered))
