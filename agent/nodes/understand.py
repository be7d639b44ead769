"""``understand``: the input screen (``guard_in``), then the understanding port (local engine or LLM)
plus the conversation-repair bookkeeping and the escalation rules. It records what the patient meant in
the turn's record; :mod:`agent.routing` decides where to go."""

from __future__ import annotations

import re

from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from agent.context import AgentContext
from agent.nodes.common import ctx
from agent.nodes.guard import guard_in
from agent.outreach.replies import read_reply
from agent.routing import LOW_CONFIDENCE, choose_route
from agent.state import INTENT_HISTORY, WINDOW, ConversationState, LinkRequest, Turn, Update
from agent.understanding.base import Intent, LineRef, Understanding, UnderstandingContext
from agent.understanding.cues import (
    RE_FUTURE_PAY,
    about_this_bill,
    asks_about_a_line,
    asks_about_credit,
    asks_about_secondary,
    asks_amount_owed,
    asks_another_creditors_hardship_plan,
    asks_balance_and_a_line,
    asks_balance_and_insurer_paid,
    asks_deductible_progress,
    asks_for_a_refund,
    asks_for_breakdown,
    asks_for_discount,
    asks_for_explanation,
    asks_for_pay_link,
    asks_for_person,
    asks_for_person_only,
    asks_if_insurer_paid,
    asks_if_refused_service_is_billed,
    asks_insurers_progress,
    asks_last_payment,
    asks_next_installment,
    asks_outright_for_person,
    asks_owed_beside,
    asks_owed_for_one_thing,
    asks_own_balance,
    asks_per_statement,
    asks_plainly_for_person,
    asks_same_for_own_account,
    asks_this_bill_apart,
    asks_to_pay_everything,
    asks_to_pay_over_time,
    asks_to_remove_a_charge,
    asks_to_update_details,
    asks_what_a_charge_is,
    asks_what_a_term_means,
    asks_what_an_amount_was,
    asks_what_is_left,
    asks_what_is_owed,
    asks_whether_paid,
    asks_whether_payment_arrived,
    asks_why_owed,
    choice_number,
    claims_waiver,
    contests_a_charge,
    declines_paying,
    defers_the_answer,
    hardship_of_someone_else,
    legal_words_about_this_bill,
    mentions_dispute,
    mentions_hardship,
    mentions_paying,
    names_a_denial,
    names_a_procedure_code,
    names_an_insurance_change,
    names_other_creditor,
    names_the_plan,
    names_the_practice_bill,
    names_this_practice,
    pays_an_amount_toward,
    pays_another_way,
    receiving_pay,
    refuses_down_payment,
    says_already_paid,
    says_insurer_paid_all,
    says_paid_at_visit,
    shares_a_bill_with_others,
    statement_pointer,
    wants_to_pay_all_now,
)
from agent.understanding.frustration import lone_vent
from agent.understanding.text import normalize
from guardrails.escalation import (
    CONFIDENT_INTENT,
    FRUSTRATION_THRESHOLD,
    EscalationSignals,
    asks_for_a_lawyer,
    decide,
    legal_text,
    mentions_legal,
)
from guardrails.screening import repair_words, screen_input
from tools.platforms.models import Channel, TicketPriority, TicketReason

# Below this, a reading that hands the conversation to staff needs the patient's words to back it.
SURE = 0.8
UNCLEAR = 0.3  # the confidence of a reading that fell back for want of support in the patient's words
_HANDOFF_INTENTS = frozenset({Intent.FINANCIAL_HARDSHIP, Intent.DISPUTE_CHARGE, Intent.DISPUTE_ALREADY_PAID})

# Offers answered with yes or no; anything else moves the conversation on and the offer lapses.
_YES_NO_OFFERS = frozenset({"human_offer", "link_offer", "clarify"})
_BOTH_LANGUAGES = frozenset({"ok", "okay", "k", "no", "dob", "zip"})


def _says_no_language(intent: Intent, text: str) -> bool:
    """An identity answer, or a word both languages use: nothing that tells English from Spanish."""
    words = [w for w in normalize(text).split() if w.isalpha()]
    return intent is Intent.IDENTITY_ANSWER or all(w in _BOTH_LANGUAGES for w in words)


# A message that opens with a plain yes ("yes, go on and set it up", "sure thing", "sí, por favor").
_RE_PLAIN_YES = re.compile(r"\s*(?:yes|yeah|yep|yup|ya|sure|ok|okay|absolutely|definitely|si|claro|dale)\b")
# Offers whose yes writes something: a payment link, a ticket for a person, a plan.
_WRITE_OFFERS = frozenset({"link_offer", "human_offer", "consent"})

# A pay_now below this confidence is not taken as the patient's go-ahead for a link.
EXPLICIT_PAY_CONFIDENCE = 0.6

# Intents whose meaning survives a correction ("no, I meant the March statement" keeps explaining).
_CONTENT_INTENTS = frozenset(
    {
        Intent.BALANCE,
        Intent.EXPLAIN_STATEMENT,
        Intent.EXPLAIN_CHARGE,
        Intent.CLAIM_STATUS,
        Intent.DENIAL_REASON,
        Intent.INSURANCE_TERMS,
        Intent.PAYMENT_PLAN,
        Intent.PAY_NOW,
    }
)


# Readings a "why do I still owe" question is often given that answer something else (the bare balance, the
# claim's status, a definition): the question is answered with the statement's insurance math instead.
_WHY_OWED_READINGS = frozenset(
    {Intent.BALANCE, Intent.CLAIM_STATUS, Intent.INSURANCE_TERMS, Intent.EXPLAIN_STATEMENT}
)


# Readings an unsure engine gives words of hardship that ask for no plan ("there's no way I can cover this").
_HARDSHIP_READINGS = frozenset(
    {
        Intent.PAYMENT_PLAN,
        Intent.PAY_NOW,
        Intent.BALANCE,
        Intent.EXPLAIN_STATEMENT,
        Intent.OUT_OF_SCOPE,
        Intent.FINANCIAL_HARDSHIP,  # read, unsure, as what the words say
    }
)


# Readings an unsure engine gives a request to pay in parts ("can I stretch it out over a few months?").
# Out of scope is one too ("can I chip away at it", "a bit each month" read as chat), but not when the bill
# is shared out among people ("split the bill with my friends" is a restaurant's); an unsure plan reading
# is made sure by the words. Another creditor's bill is set aside afterwards (``_scoped``).
_PAY_OVER_TIME_READINGS = frozenset(
    {
        Intent.PAY_NOW,
        Intent.BALANCE,
        Intent.EXPLAIN_STATEMENT,
        Intent.EXPLAIN_CHARGE,
        Intent.CLAIM_STATUS,
        Intent.INSURANCE_TERMS,
        Intent.PAYMENT_METHODS,
    }
)


# Readings a question about one line of the bill, named by what it was, is given instead of that line.
_LINE_READINGS = frozenset({Intent.BALANCE, Intent.CLAIM_STATUS, Intent.PAY_NOW, Intent.EXPLAIN_STATEMENT})


# Unsure readings that a credit, a plan's next installment or a charge named by its amount settle.
_UNSURE_ACCOUNT_READINGS = frozenset(
    {Intent.BALANCE, Intent.EXPLAIN_STATEMENT, Intent.PAY_NOW, Intent.PAYMENT_PLAN, Intent.CLAIM_STATUS}
)


# Readings a question about the deductible's progress is often given instead of the coverage it asks about.
_DEDUCTIBLE_READINGS = frozenset(
    {
        Intent.BALANCE,
        Intent.EXPLAIN_STATEMENT,
        Intent.CLAIM_STATUS,
        Intent.INSURANCE_TERMS,
        Intent.OUT_OF_SCOPE,
    }
)


def _why_owed_reading(intent: Intent, text: str) -> bool:
    """Whether ``intent`` is a reading a "why do I still owe" question gets by mistake: the bare balance,
    the claim's status, a definition, an explanation read too unsure to act on; a denial or an insurance
    change only when the words name none ("insurance didn't pay??" is no denial question)."""
    if intent in _WHY_OWED_READINGS:
        return True
    if intent is Intent.DENIAL_REASON:
        return not names_a_denial(text)
    if intent is Intent.UPDATE_INSURANCE_OR_CONTACT:
        return not names_an_insurance_change(text)
    if intent is Intent.PAYMENT_PLAN:
        # "I pay premiums every month, why is this on me": the month is the premium's, no plan is asked for.
        return not (names_the_plan(text) or asks_to_pay_over_time(text))
    return intent is Intent.OUT_OF_SCOPE and about_this_bill(text)


# Words that point back at the bill the previous message named ("the ER one", "that one", "anyway").
_RE_POINTS_BACK = re.compile(r"\b(?:the (?:\w+ )?one|that one|that bill|anyway|anyways)\b")


# Readings that do not answer "so what about the plan?" when a plan was being negotiated earlier.
_NOT_A_PLAN_ANSWER = frozenset(
    {
        Intent.OUT_OF_SCOPE,
        Intent.EXPLAIN_STATEMENT,
        Intent.GREETING,
        Intent.AFFIRM,
        Intent.DENY,
        Intent.THANKS_GOODBYE,
        Intent.INSURANCE_TERMS,
    }
)


# The plan asked after in a word or two, with nothing else said ("plan?", "back. plan?", "ok, the plan
# now"): after a plan was negotiated, that negotiation.
_RE_TERSE_PLAN = re.compile(
    r"^(?:(?:ok|okay|k|so|and|back|im back|i m back|now|well|alright|right|what about|how about|about|the"
    r"|that|my|pls|plz|please|then|y|entonces|ya|volvi|de nuevo|lo del|el|la)\s+)*"
    r"(?:plan|plans|payment plan|payment plans|pay plan|el plan|plan de pagos|cuotas)"
    r"(?:\s+(?:pls|plz|please|now|then|again|thing|stuff|entonces|por favor|ahora))*$"
)


def _asks_for_the_plan_tersely(text: str) -> bool:
    return bool(_RE_TERSE_PLAN.match(normalize(text).replace("'", " ")))


# Any word of a payment made or sent ("paid", "sent a check", "payment went through", "pagué").
# A question of the line just explained, pointed back at ("that one", "for it") and asking what insurance did
# with it or what of it is the patient's.
_LINE_FOLLOW_UP_READINGS = frozenset(
    {
        Intent.CLAIM_STATUS,
        Intent.BALANCE,
        Intent.EXPLAIN_STATEMENT,
        Intent.INSURANCE_TERMS,
        Intent.OUT_OF_SCOPE,
    }
)
_RE_THAT_LINE = re.compile(
    r"\b(?:(?:that|this|the same) (?:one|charge|line|item|code|service|test|visit)"
    r"|(?:for|on|of) (?:it|that))\b"
)
_RE_LINE_MATH_WORD = re.compile(
    r"\b(?:insurance|insurer|they|paid|pay|cover\w*|owe|mine|my (?:part|share))\b"
)
_RE_LINK_FOR_AMOUNT = re.compile(r"\blink (?:for|of|to pay) (?:\$ ?)?\d")
_RE_ALREADY_CONTACTED = re.compile(
    r"\balready (?:called|talked|spoke|spoken|phoned|emailed|asked|told|explained|contacted|wrote|messaged"
    r"|texted|complained|went over|been through)\b|\bya (?:llame|llamé|hable|hablé|pregunte|pregunté|escribi"
    r"|escribí|les dije|le dije)\b"
)
_RE_PAID_ANY = re.compile(
    r"\b(?:paid|payed|pay|payment\w*|check|cheque|money order|receipt|charged my|came out|went through"
    r"|cash(?! (?:price|prices|rate|discount))|handed|gave|settled|zelle|venmo|should be gone|should be zero"
    # "already", but not of a call or a letter ("I already called about this")
    r"|already(?! (?:called|talked|spoke|spoken|phoned|emailed|asked|told|explained|contacted|wrote|messaged"
    r"|texted|complained|went over|been through|the|a|an|included|discounted|reduced|adjusted)\b)"
    r"|pagu?[eé]\w*|pagado|pagamos|pago)\b"
)
# A charge contested as a service the patient never received ("billed me for labs I never had", "charged
# for an x-ray that was never done").
_RE_NOT_RECEIVED = re.compile(
    r"\b(?:charged|billed|charging|billing|charge|bill)(?: me| us)? for\b[\w ]{0,40}?"
    r"\b(?:(?:i|we) (?:never|did not|didn t|didnt) (?:had|have|get|got|receive|received|order|ordered)"
    r"|(?:was|were) (?:never|not) (?:done|performed|given)|(?:wasn t|weren t) (?:done|performed|given))\b"
)
# Unsure readings that words asking what is owed settle as the balance ("kindly advise the sum I should
# remit to your office" is no request for a person).
_OWED_READINGS = frozenset(
    {
        Intent.BALANCE,
        Intent.EXPLAIN_STATEMENT,
        Intent.CLAIM_STATUS,
        Intent.INSURANCE_TERMS,
        Intent.REQUEST_HUMAN,
        *_HANDOFF_INTENTS,
    }
)
# Readings of chat that a question of what is owed is given beside its chatty words ("great, so I'm all
# set?" read as thanks).
_CHAT_READINGS = frozenset({Intent.THANKS_GOODBYE, Intent.AFFIRM, Intent.GREETING, Intent.OUT_OF_SCOPE})
# The agent's own confusion (unclear messages in a row, clarifications that failed) is no ticket by itself:
# a ticket is a write, and a write needs the patient's yes or ask. The clarification goes on and, at its
# cap, offers a person (``clarify``); a yes to that offer opens the ticket.
_OWN_CONFUSION = frozenset({TicketReason.LOW_CONFIDENCE, TicketReason.REPAIR_FAILURE})
_CHARGE_READINGS = frozenset(
    {
        Intent.EXPLAIN_CHARGE,
        Intent.EXPLAIN_STATEMENT,
        Intent.BALANCE,
        Intent.CLAIM_STATUS,
        Intent.DENIAL_REASON,
    }
)
_RE_PAID = re.compile(r"\b(?:paid|payed|pay(?:ed)? (?:it|that|this|the|my|cash|in full)|pagu?e|pagamos)\b")
# Paying in parts said not to be wanted ("in full, not in installments", "sin cuotas").
_RE_NOT_IN_PARTS = re.compile(
    r"\b(?:not|no|instead of|rather than|sin|without) (?:in |en |a |with |over |by )?(?:monthly )?"
    r"(?:installments?|monthly|a plan|partes|cuotas|plazos|payments|pagos|mensualidades)\b"
    # "don't need installments, just text me a link", "no need for a plan"
    r"|\b(?:don ?'?t|do not|no) (?:need|want)(?: for)? (?:any |the |a |no )?(?:monthly )?"
    r"(?:installments?|payment plan|plan|plans|payments)\b"
    r"|\bno need for (?:a |any )?(?:installments?|payment plan|plan|payments)\b"
)
_RE_IN_FULL = re.compile(
    r"\b(?:in full|all of it|all at once|the (?:whole|entire|full) (?:thing|balance|amount|bill)|de una vez"
    r"|completo|todo junto)\b"
)
# When the bill is due ("fecha de vencimiento", "cuándo vence", "due date").
_RE_DUE_DATE = re.compile(
    r"\b(?:vencimiento|vence|vencen|fecha (?:limite|de pago|para pagar)|due date|when (?:is|s) (?:it|this|my"
    r" \w+) due)\b"
)
# An amount asked of what was just named ("how much I must pay for this", "what do I owe for that one").
_RE_AMOUNT_FOR_IT = re.compile(
    r"\b(?:pay|owe|cost|charge|charged|bill|billed)\b[\w ]{0,12}?\b(?:for|on) (?:this|that|it|them)\b"
)
# A plan asked to be set up ("setting up the plan", "can we set one up", "start the plan").
_RE_SET_UP = re.compile(
    r"\bset(?:ting)? (?:it |one |that |this |the plan |a plan )?up\b|\bsetup\b|\bstart (?:the|a) plan\b"
)
# A claim adjustment's group code and reason ("CO 50", "PR-204", "co-97").
_RE_ADJUSTMENT_CODE = re.compile(r"\b(?:co|pr|oa|pi)[ -]?\d{1,3}\b")
_RE_BILLED_ASK = re.compile(
    r"\b(?:bill|billed|charge|charged)\b[\w ]{0,10}\bme\b"
    r"|\b(?:have to|need to|do i|will i|am i) (?:pay|owe)\b|\bmy responsibility\b|\bon me\b"
)
# Paying in parts asked for, beside another question ("can I set up payments", "could I pay it monthly").
_RE_ASKS_FOR_PARTS = re.compile(
    r"\b(?:can|could|may) (?:i|we)\b|\bset (?:up|me up)\b|\b(?:want|like|need) to\b|\bwould like\b"
    r"|\bpossible\b|\b(?:do|does) (?:you|y all|u) (?:do|offer|have)\b|\bis there\b|\bpuedo\b"
    # the formal ask: "I am writing to request an installment arrangement", "kindly advise of the options"
    r"|\b(?:request|requesting|arrange|arrangement|kindly advise|advise (?:me )?of|options)\b"
)
# "I can't pay it all at once, not without a plan": the whole balance is what cannot be paid.
_RE_CANNOT = re.compile(
    r"\b(?:can ?t|cannot|can not|unable|not able|no way|couldn ?t|won ?t be able|no puedo)\b"
)
# What a denial of ours is a denial of: a claim, a line of the statement, the insurer's answer (a card
# "rejected at the zoo" is not one).
_RE_DENIED_BY_INSURER = re.compile(
    r"\b(?:insurance|insurer|medicare|medicaid|claims?|statement|eob|seguro|seugro|aseguranza|coverage|line|lines"
    r"|visit|services?"
    r"|consulta|cargo|charge|test|procedure|biops\w*|bipos\w*|x ?ray|xray|scan|lab|labs|surgery|treatment"
    r"|tratamiento|appointment|mri|ct|ultrasound|injection|shot|vaccine|resonancia|radiografia|ultrasonido"
    r"|analisis|estudio|examen|procedimiento|cirugia|inyeccion|vacuna|cita|visita|medicare|medicaid|aetna"
    r"|cigna|humana|bcbs|tricare)\b"
)
# Readings a request naming a statement number is given, unsure, instead of that statement.
_STATEMENT_READINGS = frozenset({Intent.BALANCE, Intent.OUT_OF_SCOPE, Intent.IDENTITY_ANSWER})
# Readings a question naming a denied claim or line is given instead of the denial's reason.
_DENIAL_READINGS = frozenset(
    {
        Intent.IDENTITY_ANSWER,  # "la resonancia de julio salió negada": a month is no identity answer
        Intent.DISPUTE_CHARGE,
        Intent.EXPLAIN_STATEMENT,
        Intent.EXPLAIN_CHARGE,
        Intent.CLAIM_STATUS,
        Intent.BALANCE,
        Intent.INSURANCE_TERMS,
        Intent.OUT_OF_SCOPE,
    }
)
# Readings a question about a second insurance is given instead of that claim's status; a change to it on
# file ("update my secondary insurance") is not such a question.
_RE_CHANGE_WORD = re.compile(r"\b(?:update|change|new|switch|add|remove|replace|different|expired|lapsed)\w*")
_SECONDARY_READINGS = frozenset(
    {
        Intent.EXPLAIN_STATEMENT,
        Intent.BALANCE,
        Intent.INSURANCE_TERMS,
        Intent.CLAIM_STATUS,
        Intent.UPDATE_INSURANCE_OR_CONTACT,
        Intent.OUT_OF_SCOPE,
    }
)
# Readings a question of what an insurance term means is given instead of the term.
_TERM_READINGS = frozenset(
    {Intent.EXPLAIN_STATEMENT, Intent.BALANCE, Intent.INSURANCE_TERMS, Intent.OUT_OF_SCOPE}
)


# Words of a plan or of paying in parts ("monthly plan?", "over 6 months"): a plan reading with them is
# asked for.
_RE_PLAN_WORDS = re.compile(
    r"\b(?:plan|plans|monthly|installments?|months?|payments|meses|mes|mensual\w*|cuotas|plazos|pagos)\b"
)


def _names_plan_words(text: str) -> bool:
    """Whether the words name a plan or paying in parts, typos repaired ("montlhy arrangement")."""
    return bool(_RE_PLAN_WORDS.search(repair_words(text.lower(), _PLAN_WORDS, shortest=5)))


_PLAN_WORDS = ("monthly", "months", "installments", "payments", "plan")


def _backs_a_handoff(text: str) -> bool:
    """Words behind a hand-off reading: a charge contested, a payment made, hardship, a claimed waiver."""
    return mentions_dispute(text) or says_already_paid(text) or mentions_hardship(text) or claims_waiver(text)


# A message put as a question: its mark, or a question's first word.
_RE_ASKS = re.compile(r"\?|^\s*(?:so|and|is|are|do|does|did|am|what|how|will|would|should)\b", re.IGNORECASE)


def _another_legal_matter(text: str) -> bool:
    """Legal words all about another matter of the patient's life (``legal_text`` drops them: "I'm suing my
    landlord, can you recommend an attorney"), and nothing of this bill asked beside them."""
    return (
        mentions_legal(text)
        and not mentions_legal(legal_text(text))
        and not (
            names_the_practice_bill(text)
            or asks_what_is_owed(text)
            or asks_own_balance(text)
            or asks_to_pay_over_time(text)
            or asks_for_pay_link(text)
        )
    )


def _weigh(u: Understanding, text: str) -> tuple[Intent, float]:
    """:func:`_weighed`, then a "why do I still owe" question is answered with the insurance math."""
    intent, confidence = _weighed(u, text)
    if (
        (
            (intent is Intent.BALANCE and confidence < SURE)
            or (intent is Intent.OUT_OF_SCOPE and _RE_ASKS.search(text))
        )
        and any(r.keyword for r in u.entities.line_refs)
        and asks_owed_for_one_thing(text)
    ):
        # "so I don't owe for the xray yet?": that line's math (what insurance did with it, what is the
        # patient's), not the whole balance again.
        return Intent.EXPLAIN_CHARGE, SURE
    if (
        intent is not Intent.OUT_OF_SCOPE
        and (confidence < LOW_CONFIDENCE or (confidence < SURE and asks_for_a_lawyer(text)))
        and _another_legal_matter(text)
    ):
        # "different thing, my landlord is suing me, do you know a good lawyer" read, unsure, as a claim or
        # a statement: another matter of the patient's life, out of scope (and no ticket).
        return Intent.OUT_OF_SCOPE, SURE
    # A hand-off reading with no word of a dispute, a payment made or hardship is a guess, however sure the
    # engine is when the patient says nothing of having paid ("I hit my deductible already, why am I still
    # getting charged" contests nothing; "I paid cash at checkout, so why a balance" is a payment dispute).
    unbacked_handoff = (
        intent in _HANDOFF_INTENTS
        and (confidence < SURE or not _RE_PAID.search(text.lower()))
        and not _backs_a_handoff(text)
    )
    if (
        intent in _HARDSHIP_READINGS
        and (
            confidence < CONFIDENT_INTENT
            or intent is Intent.OUT_OF_SCOPE
            or (intent in (Intent.PAYMENT_PLAN, Intent.PAY_NOW) and not _names_plan_words(text))
            # "got laid off, what can I do about this bill": no explanation asked for, however sure
            or (intent is Intent.EXPLAIN_STATEMENT and not asks_for_explanation(text))
        )
        and mentions_hardship(text)
        and not hardship_of_someone_else(text)
        and not asks_to_pay_over_time(text)
        and not names_the_plan(text)
        and not asks_for_discount(text)
    ):
        # "living paycheck to paycheck, no way I can cover this bill" read, unsure, as the balance, or (sure
        # or not) as a plan or paying now that the words never ask for: the patient's words are of
        # hardship, which a person handles.
        return Intent.FINANCIAL_HARDSHIP, SURE
    denied = names_a_denial(text) and (
        _RE_DENIED_BY_INSURER.search(normalize(text)) or intent is Intent.IDENTITY_ANSWER
    )
    if (
        (intent in _DENIAL_READINGS or intent is Intent.DENIAL_REASON or confidence < LOW_CONFIDENCE)
        and ((confidence < SURE and denied) or asks_if_refused_service_is_billed(text))
        and not asks_to_pay_over_time(text)
        and not asks_what_is_owed(text)
    ):
        # "the biopsy shows as denied, will I be billed for it", "el seguro negó un cargo, ¿por qué?": the
        # denial's reason and what it means for the patient.
        return Intent.DENIAL_REASON, SURE
    if intent is Intent.BALANCE and denied and _RE_AMOUNT_FOR_IT.search(normalize(text).replace("'", " ")):
        # "Medicare send letter, claim denied. How much I must pay for this?": what the denial leaves the
        # patient to pay (or that it leaves nothing), not the whole balance.
        return Intent.DENIAL_REASON, SURE
    if (
        intent in _DENIAL_READINGS
        and confidence < LOW_CONFIDENCE
        and mentions_dispute(text)
        and asks_to_remove_a_charge(text)
    ):
        # "blood tests on my bill that were never done, take those charges off", read unsure: the words
        # contest the charge and ask for it off, which a person handles.
        return Intent.DISPUTE_CHARGE, SURE
    if (
        intent in _LINE_READINGS
        and any(ref.keyword for ref in u.entities.line_refs)
        and asks_about_a_line(text)
        and not (intent is Intent.PAY_NOW and mentions_paying(text))
        # "what do I owe, and what's the blood draw for": both, the balance first (``also``)
        and not (intent is Intent.BALANCE and asks_balance_and_a_line(text))
    ):
        # "tell me about the x-ray line, what do I owe for that part", "whats the ultrasound thing on my bill,
        # did insurance pay for it": that line's insurance math, not the balance or the claim's status.
        return Intent.EXPLAIN_CHARGE, max(confidence, SURE)
    if (
        intent in (Intent.OUT_OF_SCOPE, Intent.BALANCE, Intent.EXPLAIN_STATEMENT, Intent.INSURANCE_TERMS)
        and asks_insurers_progress(text)
        and not names_a_denial(text)
    ):
        # "did aetna ever get back to you on my october visit": the claim's status.
        return Intent.CLAIM_STATUS, max(confidence if intent is not Intent.OUT_OF_SCOPE else 0.0, SURE)
    if (
        intent in (Intent.INSURANCE_TERMS, Intent.OUT_OF_SCOPE)
        or (intent is Intent.EXPLAIN_STATEMENT and confidence < LOW_CONFIDENCE)
        # "theres a charge called 99213, what was that for and what do I owe on it": that line's math,
        # which names what is owed on it
        or (intent is Intent.BALANCE and asks_what_a_charge_is(text))
    ) and names_a_procedure_code(text):
        # "what does code 99213 mean": a line of the bill, by its code, not an insurance word.
        return Intent.EXPLAIN_CHARGE, SURE
    if intent in _CHARGE_READINGS and _RE_NOT_RECEIVED.search(normalize(text).replace("'", " ")):
        # "you charged me for a pelvic ultrasound I did NOT get": the charge is named and contested as a
        # service never received, which a person handles, however the engine read the charge.
        return Intent.DISPUTE_CHARGE, SURE
    if (
        intent is Intent.PAYMENT_PLAN
        and asks_for_breakdown(text)
        and not (asks_to_pay_over_time(text) or names_the_plan(text))
    ):
        # "can u break down what im paying for": the bill explained, not paid in parts.
        return Intent.EXPLAIN_STATEMENT, max(confidence, SURE)
    if (
        intent in _SECONDARY_READINGS
        and asks_about_secondary(text)
        and not (names_an_insurance_change(text) or _RE_CHANGE_WORD.search(text.lower()))
    ):
        # "has my backup insurance been billed yet": the second claim's status, not the statement.
        return Intent.CLAIM_STATUS, max(confidence, SURE)
    if intent in _TERM_READINGS and asks_what_a_term_means(text):
        # "whats coinsurance and why am i paying it": the term, with the patient's own figures.
        return Intent.INSURANCE_TERMS, max(confidence, SURE)
    if (_why_owed_reading(intent, text) or unbacked_handoff) and asks_why_owed(text):
        # "Why do I still owe / why didn't insurance cover it": the statement's insurance math, line by line.
        return Intent.EXPLAIN_STATEMENT, max(confidence, SURE)
    if (
        intent is Intent.PAY_NOW
        and asks_to_pay_over_time(text)
        and not _RE_NOT_IN_PARTS.search(normalize(text))
    ):
        # "quisiera pagar mi cuenta en partes", however sure the reading of paying is: paying in parts asks
        # for the plan's terms (offered, never made unasked), never a link for the whole balance.
        return Intent.PAYMENT_PLAN, SURE
    if (
        intent is Intent.BALANCE
        and asks_to_pay_over_time(text)
        and _RE_ASKS_FOR_PARTS.search(normalize(text).replace("'", " "))
        and not _RE_NOT_IN_PARTS.search(normalize(text))
    ):
        # "how much do I owe and can I set up payments for it": the plan's terms, which name the balance.
        return Intent.PAYMENT_PLAN, SURE
    if (
        intent is Intent.PAYMENT_PLAN
        and _RE_NOT_IN_PARTS.search(normalize(text))
        and (asks_for_pay_link(text) or _RE_IN_FULL.search(normalize(text)))
        and not _RE_CANNOT.search(normalize(text).replace("'", " "))
    ):
        # "I want to pay in full, not in installments, send the link": the plan word is the one turned down.
        return Intent.PAY_NOW, SURE
    if (
        intent is Intent.PAYMENT_PLAN
        and u.entities.amounts_cents
        and _RE_LINK_FOR_AMOUNT.search(normalize(text))
        and asks_for_pay_link(text)
    ):
        # "can i pay $40 now and the rest next month? send me a link for 40": the link asked for by name, for
        # that amount, is the action asked for; the rest can be paid or planned later.
        return Intent.PAY_NOW, SURE
    unsure_plan = (intent in _PAY_OVER_TIME_READINGS or intent is Intent.PAYMENT_PLAN) and confidence < SURE
    if (unsure_plan or (intent is Intent.OUT_OF_SCOPE and not shares_a_bill_with_others(text))) and (
        asks_to_pay_over_time(text)
    ):
        # "cash patient, I'd like to spread the balance out" read, unsure, as paying now: the words ask for
        # the bill in parts, the plan's terms (offered, never made unasked). After the why-owed question,
        # which "I pay for insurance every month, so why am I paying this" is.
        return Intent.PAYMENT_PLAN, SURE
    if (
        (intent is Intent.OUT_OF_SCOPE or confidence < SURE)
        and intent not in _HANDOFF_INTENTS
        and contests_a_charge(text)
        and not names_other_creditor(text)
    ):
        # "that's not right, the lab is on there twice", "you charged me for a visit I did not go to": a
        # charge contested in plain words, however the whole message read
        return Intent.DISPUTE_CHARGE, SURE
    if intent is Intent.OUT_OF_SCOPE and not names_other_creditor(text):
        if asks_next_installment(text):
            return Intent.PAYMENT_PLAN, SURE  # "whats remaining on my plan?": the plan's terms
        if asks_about_credit(text) or asks_for_a_refund(text):
            # "why does my account say i have a credit", "can you refund that to my card?"
            return Intent.REFUND_OR_CREDIT, SURE
    if intent in _UNSURE_ACCOUNT_READINGS and confidence < SURE:
        if asks_about_credit(text) and not asks_to_pay_over_time(text):
            # "did i pay too much last time? is there a credit on my file": the credit, and a refund offered.
            return Intent.REFUND_OR_CREDIT, SURE
        if asks_next_installment(text):
            # "how much is the next plan payment and what day": the plan's terms and next due date.
            return Intent.PAYMENT_PLAN, SURE
        if asks_what_an_amount_was(text):
            # "what my 30 dollar charge was": that line, found by its amount.
            return Intent.EXPLAIN_CHARGE, SURE
    if (
        intent in _DEDUCTIBLE_READINGS
        or (intent is Intent.UPDATE_INSURANCE_OR_CONTACT and not asks_to_update_details(text))
    ) and asks_deductible_progress(text):
        # (a new job's plan told beside it is no change of insurance asked for)
        # "How far along am I on my deductible": the coverage's progress, not the balance.
        return Intent.INSURANCE_TERMS, max(confidence, SURE)
    return intent, confidence


_RE_CONTACT_VERB = re.compile(r"\b(?:speak|talk|chat|connect|transfer|call|phone|reach|contact|escalate)\b")


def _person_really_asked(text: str) -> bool:
    """A request for a person named as one, or to reach someone: "where am I at with your office" names
    the office only as the one owed."""
    return asks_for_person(text) and (
        asks_plainly_for_person(text) or bool(_RE_CONTACT_VERB.search(normalize(text)))
    )


def _weighed(u: Understanding, text: str) -> tuple[Intent, float]:
    """The engine's reading checked against the patient's own words, for the intents that hand a
    conversation to staff. A hardship or charge-dispute guess without a single word of hardship or of
    contesting a charge falls back to the next reading; "I already paid" (however misspelt) and a claimed
    waiver ("the manager said I don't have to pay") are payment disputes."""
    intent, confidence = u.intent, u.confidence
    if intent is Intent.FINANCIAL_HARDSHIP and asks_another_creditors_hardship_plan(text):
        # "how do I ask discover for a hardship plan on my credit card": another creditor's program.
        return Intent.OUT_OF_SCOPE, SURE
    if intent is Intent.FINANCIAL_HARDSHIP and hardship_of_someone_else(text):
        # "my brother lost his job and can't afford his rent": someone else's hardship, no hand-off.
        others = [(i, p) for i, p in u.alternatives if i not in _HANDOFF_INTENTS]
        return others[0] if others and others[0][1] >= LOW_CONFIDENCE else (Intent.OUT_OF_SCOPE, SURE)
    if (intent is Intent.OUT_OF_SCOPE or confidence < LOW_CONFIDENCE) and (
        names_the_plan(text) and _RE_SET_UP.search(normalize(text).replace("'", " "))
    ):
        # "ok thank you. so what about the plan? can we set one up" (after a person's help): the plan's terms.
        return Intent.PAYMENT_PLAN, SURE
    if (
        intent in (Intent.INSURANCE_TERMS, Intent.EXPLAIN_STATEMENT, Intent.CLAIM_STATUS)
        and _RE_ADJUSTMENT_CODE.search(normalize(text))
        and _RE_BILLED_ASK.search(normalize(text).replace("'", " "))
    ):
        # "what does CO 50 mean on my EOB, will you bill me for it": the denial behind the code and what it
        # means for the patient's bill, not a glossary.
        return Intent.DENIAL_REASON, SURE
    if (
        intent in (Intent.DISPUTE_ALREADY_PAID, Intent.DISPUTE_CHARGE, Intent.BALANCE)
        and confidence < SURE
        and asks_if_insurer_paid(text)
        and not says_already_paid(text)
        and not mentions_dispute(text)
    ):
        # "did the aseguranza pay already or still waiting": whether the insurer paid, the claim's status;
        # nobody said a payment was made.
        return Intent.CLAIM_STATUS, SURE
    if (
        intent in (Intent.BALANCE, Intent.EXPLAIN_STATEMENT)
        and (confidence < SURE or "?" in text)  # a statement read out is no answer to "may I pay it?"
        and wants_to_pay_all_now(text)
        and not _backs_a_handoff(text)
        and not names_other_creditor(text)
    ):
        # "I should like to pay the whole of what I owe now. How may I do so?" read, unsure, as the balance:
        # the patient wants to pay it, so the link's terms are stated and offered; the link itself waits
        # for a yes (the words ask to pay, not for a link).
        return Intent.PAY_NOW, LOW_CONFIDENCE
    if (
        intent in (Intent.BALANCE, Intent.EXPLAIN_STATEMENT, Intent.REFUND_OR_CREDIT)
        and confidence < SURE
        and u.entities.amounts_cents
        and pays_an_amount_toward(text)
        and not names_other_creditor(text)
        and not _backs_a_handoff(text)
    ):
        # "I'd like to put $35 toward what I owe" read as the balance: a payment of $35, asked for.
        return Intent.PAY_NOW, max(confidence, EXPLICIT_PAY_CONFIDENCE)
    if (
        (intent in _OWED_READINGS or (intent is Intent.REFUND_OR_CREDIT and not asks_about_credit(text)))
        and confidence < SURE
        and (asks_amount_owed(text) or asks_what_is_owed(text))
        and not (intent is Intent.REQUEST_HUMAN and _person_really_asked(text))
        and not (intent in _HANDOFF_INTENTS and _backs_a_handoff(text))
    ):
        return Intent.BALANCE, SURE  # "no insurance here, so what is it that I owe you?"
    if intent in _CHAT_READINGS and asks_what_is_owed(text):
        # "so that means I'm all set?", "thanks, is anything still due?": the question, not the chat
        return Intent.BALANCE, SURE
    if intent is Intent.EXPLAIN_STATEMENT and asks_per_statement(text):
        return Intent.BALANCE, confidence  # "what I owe per statement" is the balance, statement by statement
    if intent is Intent.DISPUTE_ALREADY_PAID and (
        asks_what_is_left(text)
        or (asks_what_is_owed(text) and not mentions_dispute(text))
        # "wait does that mean its already paid?": asked, not claimed; what is still owed answers it
        or (asks_whether_paid(text) and not mentions_dispute(text))
    ):
        # "I paid part of it, what's left?", "sent you a check, am I all square now?"
        return Intent.BALANCE, max(confidence, SURE)
    if intent is Intent.DISPUTE_CHARGE and asks_what_a_charge_is(text) and not mentions_dispute(text):
        return (
            Intent.EXPLAIN_CHARGE,
            confidence,
        )  # "was that just for seeing the doctor?" asks, contests nothing
    if u.entities.statement_numbers and intent in _STATEMENT_READINGS and confidence < LOW_CONFIDENCE:
        return Intent.EXPLAIN_STATEMENT, SURE  # "can you pull up statmeent S-104593": that statement
    # "checking that you got my payment": the payment on file is looked up, as for "I already paid".
    paid_claim = (
        says_already_paid(text)
        or says_insurer_paid_all(text)
        or claims_waiver(text)
        or says_paid_at_visit(text)
        or asks_whether_payment_arrived(text)
    )
    if (paid_claim and confidence < SURE) or (
        # "no way, insurance covered all of this, I have the paperwork": contested however the claim read
        intent in (Intent.CLAIM_STATUS, Intent.BALANCE, Intent.EXPLAIN_STATEMENT, Intent.DENIAL_REASON)
        and says_insurer_paid_all(text)
    ):
        return Intent.DISPUTE_ALREADY_PAID, SURE
    if intent is Intent.REFUND_OR_CREDIT and receiving_pay(text) and not asks_about_credit(text):
        # "my tax refund just hit, send me a link for the whole thing": money come in, no refund asked for
        if asks_for_pay_link(text):
            return Intent.PAY_NOW, SURE
        others = [(i, p) for i, p in u.alternatives if i is not Intent.REFUND_OR_CREDIT]
        return others[0] if others else (Intent.OUT_OF_SCOPE, UNCLEAR)
    if intent is Intent.DISPUTE_ALREADY_PAID and receiving_pay(text):
        # "When was I last paid?" is about wages coming in, never a claim of having paid this bill.
        others = [(i, p) for i, p in u.alternatives if i not in _HANDOFF_INTENTS]
        return others[0] if others else (Intent.OUT_OF_SCOPE, UNCLEAR)
    # "is it still the same amount?", "is this already the cash price?" read as a payment claim: not a word
    # of having paid
    unpaid_claim = intent is Intent.DISPUTE_ALREADY_PAID and not (
        _RE_PAID_ANY.search(RE_FUTURE_PAY.sub(" ", text.lower().replace("'", " "))) or paid_claim
    )
    unsupported = (
        (intent is Intent.FINANCIAL_HARDSHIP and not mentions_hardship(text))
        or (intent is Intent.DISPUTE_CHARGE and not mentions_dispute(text))
        or unpaid_claim
    )
    # An angry message is read as hardship or a dispute easily; frustration then explains it better. A call
    # made before ("got the bill again, I already called about this") is read as a payment claimed just as
    # easily, however sure the reading; and a payment claimed without one word of paying is no claim.
    if unsupported and (
        unpaid_claim
        or confidence < SURE
        or u.frustration >= FRUSTRATION_THRESHOLD
        or _RE_ALREADY_CONTACTED.search(text.lower())
    ):
        if asks_to_pay_over_time(text):
            # "self-pay here, I need to spread this out": terms, not hardship
            return Intent.PAYMENT_PLAN, SURE
        others = [(i, p) for i, p in u.alternatives if i not in _HANDOFF_INTENTS]
        # With no other reading the message is unclear: asked about (or, when angry, handed on as such).
        return others[0] if others else (Intent.OUT_OF_SCOPE, UNCLEAR)
    return intent, confidence


def _in_play(u: Understanding, intent: Intent) -> list[tuple[str, float]]:
    """The readings routing weighs for a clarifying question. When the engine's top reading was set aside
    for want of support in the patient's words, it and the other hand-off readings are out of play: what
    is left may be too weak to act on ("self-pay here, I need to spread this out" read as hardship, then
    as paying now at 0.06 offered a link; it asks instead)."""
    readings = u.alternatives
    if intent is not u.intent:
        readings = [
            (i, p) for i, p in readings if i is not u.intent and (i is intent or i not in _HANDOFF_INTENTS)
        ]
    return [(i.value, round(p, 4)) for i, p in readings[:3]]


def _clarify_pick(intent: Intent, refs: list[LineRef], text: str, options: list[str]) -> Intent | None:
    ordinal = next((r.ordinal for r in refs if r.ordinal is not None), None)
    ordinal = ordinal or choice_number(text, len(options))
    if ordinal is not None:
        index = len(options) - 1 if ordinal == -1 else ordinal - 1
        return Intent(options[index]) if 0 <= index < len(options) else None
    if intent is Intent.AFFIRM:
        return Intent(options[0])
    return None


async def understand(state: ConversationState, runtime: Runtime[AgentContext]) -> Update:
    """The patient's message, screened (:func:`agent.nodes.guard.guard_in`) and then understood, in one
    step. The screen is a plain function rather than a node of its own: it only reads the state and the
    run context, so a checkpoint between the two would protect nothing and cost a superstep on every
    turn. It still runs first: a refused message never reaches the understanding engine (or a model)."""
    c = ctx(runtime)
    screened = guard_in(state, c)
    update = screened.durable
    if state.get("mode") != "human" and not screened.answered:
        # What understanding reads of the state, as the screen left it. The screen's changes are to
        # plain last-value fields; the window is read before the screen's line is added to it.
        seen: ConversationState = {**state, **screened.durable}  # type: ignore[typeddict-item]  # a view
        seen["messages"] = (state.get("messages") or [])[-(WINDOW - 1) :]
        update = {**update, **await _understood(seen, screened.work, c)}
    update["work"] = Overwrite(screened.work)  # a fresh record every turn
    return update


# A bill owed to someone else ("pay my electric bill") is out of scope whichever engine read it: the
# agent collects for this practice only, so no link, plan or ticket follows.
OTHER_CREDITOR_CONFIDENCE = 0.95
_NOT_BILLING = frozenset({Intent.OUT_OF_SCOPE, Intent.GREETING, Intent.THANKS_GOODBYE})
# Questions of this bill that may follow another creditor's bill in one message: they write nothing (a
# plan's terms are offered, never made unasked; a link is never sent this way).
_QUESTIONS_APART = frozenset(
    {
        Intent.PAYMENT_PLAN,
        Intent.BALANCE,
        Intent.EXPLAIN_STATEMENT,
        Intent.EXPLAIN_CHARGE,
        Intent.CLAIM_STATUS,
        Intent.DENIAL_REASON,
        Intent.INSURANCE_TERMS,
    }
)


def _scoped(intent: Intent, confidence: float, text: str) -> tuple[Intent, float]:
    if intent is not Intent.OUT_OF_SCOPE and names_other_creditor(text):
        if intent in _QUESTIONS_APART and asks_this_bill_apart(text):
            return intent, confidence  # "my car loan went to collections. anyway, what's my balance?"
        return Intent.OUT_OF_SCOPE, OTHER_CREDITOR_CONFIDENCE
    return intent, confidence


# Readings a plain request for a person ("ok I want to talk to a person about this one") is often given
# by an engine that finds it unlike billing text: the patient's words settle it.
_NOT_A_REQUEST = frozenset({Intent.OUT_OF_SCOPE, Intent.GREETING, Intent.THANKS_GOODBYE})


def _person_asked(intent: Intent, confidence: float, text: str, history: list[str]) -> tuple[Intent, float]:
    """A request for a person in the patient's own words, read as out of scope (or barely read at all),
    is that request when the conversation is about this bill (an earlier turn was, or these words are):
    "let me talk to a preson about this one" after a statement was explained. A ticket still needs the
    words (``asks_for_person``). A first message that is an outright request for a person and nothing
    else ("can a human check this") is that request too: in the billing office's channel it is about its
    bill; one that names another matter ("someone to look at my car") changes nothing."""
    weak = intent in _NOT_A_REQUEST or confidence < LOW_CONFIDENCE
    if intent in _CONTENT_INTENTS and asks_outright_for_person(text):
        weak = True  # "get me someone from billing about this statement": the person, not the statement
    if not weak or not asks_plainly_for_person(text):
        return intent, confidence
    if about_the_bill(Intent.REQUEST_HUMAN, history, text) or asks_for_person_only(text):
        return Intent.REQUEST_HUMAN, max(confidence, SURE)
    return intent, confidence


# A question put beside a vent: its mark, or a clause that opens with a question's word ("this bill is
# complete bs, what do I owe", "wtf is this charge").
_RE_QUESTION_CLAUSE = re.compile(
    r"(?:^|[.,;:!]\s*|\b(?:but|so|and|anyway|now|just)\s+)(?:(?:so|and|but|ok|okay|well|then)\s+)?"
    r"(?:what|wtf|whats|how|why|when|where|who|which|is|are|do|does|did|can|could|will|would|should|am|may)\b"
)
# Frustration a lone vent is read with: under the hand-off line, still upset (``UPSET_THRESHOLD``).
VENTED = 0.6
# Readings that answer no question: a vent beside them is acknowledged and a person offered.
_NO_ANSWER = frozenset(
    {*_NOT_BILLING, Intent.AFFIRM, Intent.DENY, Intent.IDENTITY_ANSWER, Intent.REQUEST_HUMAN}
)


def _vent(
    u: Understanding, intent: Intent, confidence: float, raw: str, text: str, previous: tuple[str, ...]
) -> tuple[float, bool]:
    """The frustration the escalation rules read, and whether the message is a vent to acknowledge.

    One swear from a patient who was calm until now ("this is such BS", "wtf is this bill") is no hand-off:
    beside a question the agent understood, the question is answered; alone, the agent acknowledges it and
    offers a person (a yes opens the ticket). Swearing again, a swear with other upset, or upset that builds
    over messages still reaches a person unasked (``agent.understanding.frustration.lone_vent``)."""
    if u.frustration < FRUSTRATION_THRESHOLD or not lone_vent(raw, previous):
        return u.frustration, False
    asked = "?" in text or bool(_RE_QUESTION_CLAUSE.search(text.lower().replace("\u2019", "'")))
    answered = intent not in _NO_ANSWER and confidence >= LOW_CONFIDENCE and asked
    return min(u.frustration, VENTED), not answered


def about_the_bill(
    intent: Intent, history: list[str], text: str, asked: bool = False, earlier: bool = False
) -> bool:
    """Whether the conversation is about this practice's bill: an earlier turn was, or the agent asked
    something (``asked``: an offer, a question, an outreach text) that this message answers, or this reading
    is in the domain and the words name a bill, a charge, a payment or the practice. Staff tickets on a
    reading (legal words, a dispute, hardship, frustration, repeated low confidence) need it; an explicit
    request for a person does not. A first message whose words are about nothing of the bill ("hell nah",
    "which day does my payment come in", "how do I find a good lawyer") opens no ticket, whatever the
    engine's reading: the words must be about this bill. An earlier message whose words were about the bill
    counts however it was read ("honestly your billing is a mess, every time I look at this account the
    numbers are different", then "you're not listening"): ``earlier`` says whether one was."""
    if asked or earlier or any(Intent(h) not in _NOT_BILLING for h in history):
        return True
    if intent in _NOT_BILLING:
        return False
    return about_this_bill(text)


def route_for_first_turn(u: Understanding, text: str) -> str:
    """Where a reading sends the first message of a verified portal thread, as :func:`_understood` decides
    (the measurement of ``agent.understanding.evaluate --clinc``)."""
    text = u.read_as or text
    intent, confidence = _person_asked(*_scoped(*_weigh(u, text), text), text, [])
    frustration, vent = _vent(u, intent, confidence, text, text, ())
    decision = decide(
        EscalationSignals(
            intent=intent.value,
            confidence=confidence,
            frustration=frustration,
            text=text,
            explicit_human_request=intent is Intent.REQUEST_HUMAN and asks_for_person(text),
            dispute=intent in (Intent.DISPUTE_ALREADY_PAID, Intent.DISPUTE_CHARGE),
            hardship=intent is Intent.FINANCIAL_HARDSHIP,
            about_bill=about_the_bill(intent, [], text),
            legal_about_bill=about_the_bill(intent, [], text) and legal_words_about_this_bill(text),
        )
    )
    turn: Turn = {
        "intent": intent.value,
        "confidence": confidence,
        "alternatives": _in_play(u, intent),
        "entities": u.entities.model_dump(mode="json"),
        "is_cancel": u.is_cancel,
    }
    if vent:
        turn["vent"] = True
    if decision.escalate and decision.reason is not None:
        turn["escalation"] = {
            "reason": decision.reason.value,
            "priority": decision.priority.value,
            "triggers": ",".join(t.value for t in decision.triggers),
        }
    return choose_route({"text": text, "identity": "verified", "work": turn})


# Readings a request for the payment link by name is given that ask for nothing else.
_NOT_A_LINK_ASK = frozenset(
    {Intent.OUT_OF_SCOPE, Intent.AFFIRM, Intent.THANKS_GOODBYE, Intent.GREETING, Intent.PAYMENT_METHODS}
)


# Conversations about a statement, where "the other one" points at another statement.
_STATEMENT_TOPICS = frozenset(
    {Intent.BALANCE.value, Intent.EXPLAIN_STATEMENT.value, Intent.EXPLAIN_CHARGE.value}
)


# What a question about someone else's account may be carried over to the patient's own as: questions only.
_CARRIED_OVER = _CONTENT_INTENTS - {Intent.PAY_NOW}


async def _own_instead(refused: str, c: AgentContext, state: ConversationState) -> Intent:
    """The reading of a refused question about someone else's account, for the patient's own account: one
    of :data:`_CARRIED_OVER`, the balance when the engine reads anything else."""
    u = await c.ports.understander.understand(
        refused,
        UnderstandingContext(today=c.today(), patient_id=state.get("patient_id")),
    )
    intent, confidence = _scoped(*_weigh(u, refused), refused)
    return intent if intent in _CARRIED_OVER and confidence >= LOW_CONFIDENCE else Intent.BALANCE


async def _understood(state: ConversationState, turn: Turn, c: AgentContext) -> Update:
    """What the message means, written into ``turn`` (the fresh record); returns the durable changes."""
    text = state.get("text") or ""
    history = list(state.get("intent_history") or [])
    last = Intent(history[-1]) if history else None
    previous = tuple(m["text"] for m in (state.get("messages") or []) if m["role"] == "patient")
    expecting = state.get("expecting") or ("identity" if state.get("identity") != "verified" else None)
    if expecting == "human_offer" and state.get("pending") is not None:
        expecting = "plan_choice"  # a person was offered beside the plans: "2" still picks option 2
    u = await c.ports.understander.understand(
        text,
        UnderstandingContext(
            expecting=expecting,
            last_intent=last,
            previous_messages=previous,
            today=c.today(),
            patient_id=state.get("patient_id"),
        ),
    )
    text = u.read_as or text  # the rules below read the words as the engine did, typos repaired
    intent, confidence = _scoped(*_weigh(u, text), text)
    if (
        state.get("expecting") in _WRITE_OFFERS
        and intent is Intent.AFFIRM
        and (
            (confidence < CONFIDENT_INTENT and not _RE_PLAIN_YES.match(normalize(text)))
            or defers_the_answer(text)
        )
    ):
        # "alright, I'll have him call" or "ok I'll ask my wife first" to "Would you like a link?": an unsure
        # or put-off yes to an offer that writes (a link, a ticket, a plan) is no yes; nothing is written
        # and the patient can ask again.
        intent, confidence = Intent.DENY, SURE
    if (
        intent in (Intent.AFFIRM, Intent.DENY)
        and state.get("expecting") is None
        and "?" in text
        and len(text.split()) > 4
    ):
        # "hola, q es el cobro de la radiografia? no me acuerdo bien de eso": nothing was asked, so a
        # question with a "no" in it is the question, not a no.
        others = [(i, p) for i, p in u.alternatives if i not in (Intent.AFFIRM, Intent.DENY)]
        if others:
            intent, confidence = others[0]
    if (
        history
        and history[-1] == Intent.EXPLAIN_CHARGE.value
        and state.get("line_id")
        and intent in _LINE_FOLLOW_UP_READINGS
        and _RE_THAT_LINE.search(norm := normalize(text))
        and _RE_LINE_MATH_WORD.search(norm)
        and not u.entities.line_refs
    ):
        # "ok and how much of that one did my insurance actually pay", right after one line was explained:
        # that line's math again, not the claim's totals.
        intent, confidence = Intent.EXPLAIN_CHARGE, max(confidence, SURE)
    answering = state.get("expecting") is not None and intent in (Intent.AFFIRM, Intent.DENY)
    if (
        (
            Intent.PAYMENT_PLAN.value in history
            # "alright, so what about a plan for the rest?" after a person's help: in a conversation about
            # the bill, the payment plan
            or (bool(history) and intent is Intent.OUT_OF_SCOPE)
        )
        and (
            intent in _NOT_A_PLAN_ANSWER
            or confidence < LOW_CONFIDENCE
            # "listo, ya hablé con la persona. ¿seguimos con el plan?": the person named is done with
            or (intent is Intent.REQUEST_HUMAN and not asks_for_person(text))
        )
        and (names_the_plan(text) or _asks_for_the_plan_tersely(text))
        and not answering  # "yes, set that plan up" answers the question asked; it resumes nothing
    ):
        # "so what about the plan?" after a digression or a person's help: back to the negotiation.
        intent, confidence = Intent.PAYMENT_PLAN, max(confidence, SURE)
    if (
        state.get("expecting") in (None, "link_offer", "clarify")
        and (
            intent in _NOT_A_LINK_ASK
            or confidence < CONFIDENT_INTENT
            # "pls send the link for pay all what I owe": the link asked for, the balance what it pays
            or intent is Intent.BALANCE
        )
        and asks_for_pay_link(text)
        # "this charge is wrong, whatever, send me the link": a contested bill gets no link on a guess
        and not (mentions_dispute(text) or says_already_paid(text) or mentions_hardship(text))
    ):
        # "ok send me the link then": the payment link asked for by name, which an encoder trained on
        # everyday text reads as chat. Another creditor's link is not this (``asks_for_pay_link``).
        intent, confidence = Intent.PAY_NOW, max(confidence, SURE)
    if state.get("expecting") is None and intent is Intent.DENY and mentions_dispute(text):
        # "No estoy de acuerdo con ese cobro, yo no recibí ese servicio": no answer to a question (none was
        # asked) but a charge contested.
        intent, confidence = Intent.DISPUTE_CHARGE, SURE
    if (
        previous
        and intent in (Intent.PAY_NOW, Intent.PAYMENT_PLAN)
        and names_other_creditor(previous[-1])
        and not asks_this_bill_apart(previous[-1])
        # "ok but make a payment link for the ER one anyway": a word of care that points back at the
        # other biller's bill does not make it this practice's
        and not (names_this_practice(text) and not _RE_POINTS_BACK.search(text.lower()))
    ):
        # "what's the minimum due on my capital one card" then "ok just send me a link to pay the minimum":
        # still the other creditor's bill; a link or a plan for this one needs words that name it.
        intent, confidence = Intent.OUT_OF_SCOPE, OTHER_CREDITOR_CONFIDENCE
    if (
        state.get("expecting") is None
        and (
            intent in _NOT_A_LINK_ASK
            or intent in (Intent.DENY, Intent.BALANCE)  # the balance names no one statement
            or confidence < CONFIDENT_INTENT
        )
        and any(h in _STATEMENT_TOPICS for h in history)
        and statement_pointer(text) is not None
    ):
        # "what's the other one for?", "and the older one?" after a statement was shown: that statement.
        intent, confidence = Intent.EXPLAIN_STATEMENT, SURE
    if previous and asks_same_for_own_account(text) and screen_input(previous[-1]).verdict == "other_patient":
        # "ok, what about mine then?" after a question about someone else's account was refused: that
        # question, asked of the patient's own account. Only a question is carried over: a payment the
        # other person's question asked for becomes the balance it would pay, never a link.
        intent, confidence = await _own_instead(previous[-1], c, state), SURE
    last_payment = (
        intent not in (Intent.REQUEST_HUMAN, Intent.DISPUTE_CHARGE)
        and asks_last_payment(text)
        and not (says_already_paid(text) or claims_waiver(text) or mentions_dispute(text))
    )
    if last_payment:
        # "great. how much was my last payment, for my records": the payments on file read out beside the
        # balance (from the ledger), whatever the engine read; a question, so nothing is written.
        intent, confidence = Intent.BALANCE, max(confidence, SURE)
        turn["last_payment"] = True
    if (
        state.get("pending") is not None
        and state.get("expecting") in ("plan_choice", "human_offer")
        and intent not in (Intent.AFFIRM, Intent.REQUEST_HUMAN)
        and refuses_down_payment(text)
    ):
        # "not a cent today, next month or not at all" at the plan's offers: still the plan's terms.
        intent, confidence = Intent.PAYMENT_PLAN, max(confidence, SURE)
    intent, confidence = _person_asked(intent, confidence, text, history)
    ents_read = u.entities
    if (
        intent is Intent.IDENTITY_ANSWER
        and state.get("identity") == "verified"
        and ents_read.statement_numbers
        and ents_read.date_of_birth is None
        and ents_read.zip_code is None
    ):
        # "open statement S-104561 please" from a verified patient asks to see it; it answers nothing.
        intent, confidence = Intent.EXPLAIN_STATEMENT, max(confidence, SURE)
    if (
        intent is Intent.IDENTITY_ANSWER
        and state.get("identity") == "verified"
        and not (
            ents_read.date_of_birth or ents_read.zip_code or ents_read.statement_numbers or ents_read.dates
        )
        and _RE_DUE_DATE.search(normalize(text))
    ):
        # "cuál es la fecha de vencimiento de mi cuenta?": a date asked for, not given; the balance says
        # when each statement is due.
        intent, confidence = Intent.BALANCE, SURE
    if intent in (Intent.BALANCE, Intent.CLAIM_STATUS) and asks_balance_and_insurer_paid(text):
        # "balance? also has humana paid the xray": both questions, the one read first and then the other.
        turn["also"] = [(Intent.CLAIM_STATUS if intent is Intent.BALANCE else Intent.BALANCE).value]
    elif (
        intent is Intent.BALANCE
        and any(r.keyword for r in u.entities.line_refs)
        and asks_balance_and_a_line(text)
    ):
        # "how much is my bill and why is there a blood draw": the balance, then that line's math; both asks
        # are plain in the words, however unsure the reading of the whole was.
        turn["also"] = [Intent.EXPLAIN_CHARGE.value]
        confidence = max(confidence, SURE)
    elif intent in (Intent.CLAIM_STATUS, Intent.DENIAL_REASON) and asks_owed_beside(text):
        # "has the secondary paid yet? and whats my share": the balance said after the claim's status.
        turn["also"] = [Intent.BALANCE.value]
    ents = u.entities.model_dump(mode="json")
    link_request: LinkRequest | None = None
    if (
        asks_for_discount(text)
        and not mentions_hardship(text)
        and not (
            intent in (Intent.DISPUTE_CHARGE, Intent.DISPUTE_ALREADY_PAID, Intent.REQUEST_HUMAN)
            and confidence >= EXPLICIT_PAY_CONFIDENCE
        )
    ):
        # A haggle, whatever the classifier leaned to: the amount is set by policy, so the agent answers
        # with the policy's terms (the prompt-pay discount, if any) and asks before any link.
        intent, link_request = Intent.PAY_NOW, "discount"
    elif intent is Intent.PAY_NOW:
        named = mentions_paying(text) or bool(u.entities.amounts_cents)  # "put $50 toward my balance"
        # "I can't pay this all today" names paying and is no go-ahead for a link.
        # An amount named with the words of paying is the patient's own ask ("I'd like to pay $100 now"),
        # sure enough once the reading is understood at all; paying by mail or phone asks for no link.
        sure = confidence >= EXPLICIT_PAY_CONFIDENCE or (
            bool(u.entities.amounts_cents) and mentions_paying(text) and confidence >= LOW_CONFIDENCE
        )
        clear = named and sure and not declines_paying(text) and not pays_another_way(text)
        link_request = "pay" if clear else "unclear"
    options = state.get("clarify_options") or []
    if state.get("expecting") == "clarify" and options:
        picked = _clarify_pick(intent, u.entities.line_refs, text, options)
        if picked is not None:
            intent = picked  # "the first one" / "yes" / "2" answers "do you want A, or B?"
    if (
        u.is_correction
        and intent in (Intent.DENY, Intent.AFFIRM, Intent.OUT_OF_SCOPE)
        and last in _CONTENT_INTENTS
    ):
        intent = last  # a correction keeps the task and changes its object (statement, month, line)
    if intent is Intent.EXPLAIN_STATEMENT and u.is_correction and last is Intent.BALANCE:
        intent = Intent.BALANCE
    offer = state.get("outreach")
    if c.channel is Channel.SMS:  # a reply to an outreach text (agent.outreach.replies)
        intent, offer = await read_reply(
            offer,
            c.ports.outreach_offers,
            c.phone,
            intent=intent,
            text=text,
            expecting=state.get("expecting"),
            has_pending=state.get("pending") is not None,
        )
    elif c.channel is Channel.PORTAL and c.outreach_step is not None:  # opened from an outreach link
        intent, offer = await read_reply(
            offer,
            c.ports.outreach_step_offers,
            str(c.outreach_step),
            intent=intent,
            text=text,
            expecting=state.get("expecting"),
            has_pending=state.get("pending") is not None,
        )
    low = confidence < LOW_CONFIDENCE
    streak = state.get("low_conf_streak", 0) + 1 if low else 0
    frustration, vent = _vent(u, intent, confidence, state.get("text") or "", text, previous)
    if vent:
        turn["vent"] = True  # acknowledged, a person offered (``smalltalk``)
    turn.update(
        {
            "intent": intent.value,
            "confidence": round(confidence, 4),
            "alternatives": _in_play(u, intent),
            "entities": ents,
            "frustration": round(frustration, 4),
            "is_correction": u.is_correction,
            "is_cancel": u.is_cancel,
        }
    )
    if u.read_as is not None:
        turn["read_as"] = u.read_as
    language = u.language
    if state.get("language") == "es" and language == "en" and _says_no_language(intent, text):
        language = "es"  # a date of birth and a ZIP, "ok", "no": no English said, the thread stays Spanish
    update: Update = {
        "language": language,
        "intent_history": ([*history, intent.value])[-INTENT_HISTORY:],
        "low_conf_streak": streak,
    }
    if not low and intent not in (Intent.OUT_OF_SCOPE,):
        update["repair_failures"] = 0
    if link_request is not None:
        update["link_request"] = link_request
        if link_request == "pay" and asks_to_pay_everything(text):
            # "one link for the total" after the statements were listed: the whole balance, not the
            # statement last shown
            update["statement_id"] = None
    if offer != state.get("outreach"):
        update["outreach"] = offer
    if state.get("expecting") in _YES_NO_OFFERS and intent not in (Intent.AFFIRM, Intent.DENY):
        # The patient moved on ("no thanks - what do I owe?" is read as the question): the offer lapses.
        update["expecting"] = None
    if u.is_cancel:
        update.update({"pending": None, "expecting": None, "clarify_options": [], "link_offer": None})
    asked = state.get("expecting") not in (None, "identity") or offer is not None
    earlier = any(map(about_this_bill, previous))
    about_bill = about_the_bill(intent, history, text, asked=asked, earlier=earlier)
    # Legal words on a message that opens the conversation must name this bill or the practice; later, the
    # conversation already is about the bill.
    in_conversation = about_the_bill(Intent.OUT_OF_SCOPE, history, text, asked=asked, earlier=earlier)
    decision = decide(
        EscalationSignals(
            intent=intent.value,
            confidence=confidence,
            previous_low_confidence=state.get("low_conf_streak", 0) > 0,
            frustration=frustration,
            repair_failures=state.get("repair_failures", 0),
            text=text,
            # A ticket for a person needs the patient's words asking for one; a guess is offered instead.
            explicit_human_request=intent is Intent.REQUEST_HUMAN and asks_for_person(text),
            dispute=intent in (Intent.DISPUTE_ALREADY_PAID, Intent.DISPUTE_CHARGE),
            hardship=intent is Intent.FINANCIAL_HARDSHIP,
            about_bill=about_bill,
            legal_about_bill=about_bill and (in_conversation or legal_words_about_this_bill(text)),
        )
    )
    if decision.escalate and decision.reason is not None and not set(decision.triggers) <= _OWN_CONFUSION:
        turn["escalation"] = {
            "reason": decision.reason.value,
            "priority": decision.priority.value,
            "triggers": ",".join(t.value for t in decision.triggers),
        }
    elif (
        intent is Intent.UPDATE_INSURANCE_OR_CONTACT
        and confidence >= CONFIDENT_INTENT
        and asks_to_update_details(text)
    ):
        # "can you guys update my insurance before we do this": the patient asked for that very change,
        # which only staff can make; without the ask the agent offers a person and waits for a yes.
        reason = TicketReason.UPDATE_INSURANCE_OR_CONTACT.value
        turn["escalation"] = {"reason": reason, "priority": TicketPriority.NORMAL.value, "triggers": reason}
    elif intent is Intent.REFUND_OR_CREDIT and confidence >= CONFIDENT_INTENT and asks_for_a_refund(text):
        # "please refund the credit on my account": the refund asked for outright, which only staff can
        # send; asked about ("how do refunds work?"), the credit is said and a person offered.
        reason = TicketReason.REFUND_REQUEST.value
        turn["escalation"] = {"reason": reason, "priority": TicketPriority.NORMAL.value, "triggers": reason}
    return update
