"""Deterministic cues read from a patient's words alongside any understanding engine (local or LLM).

They decide how far a request to pay may go on its own: a plain "send me a link to pay" is the patient's
consent to a link for the stated amount; a haggle ("I'll pay now if you knock half off") or a message that
never mentions paying is answered with terms and a yes/no question instead, and nothing is written until
the patient says yes.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache
from typing import Literal

from agent.understanding.entities import RE_PROCEDURE_CODE
from agent.understanding.text import normalize
from guardrails.escalation import mentions_legal
from guardrails.screening import edit_distance, repair_words

_RE_DISCOUNT = re.compile(
    r"\b(?:discount\w*|descuento\w*|rebaja\w*|half off|\d{1,3} ?(?:%|percent) off|knock\w* (?:\S+ ){0,4}off\b"
    r"|(?:take|shave|cut)\w* (?:half|some(?:thing)?|\$?\d[\d.,]* ?(?:%|percent|dollars|bucks)?) off\b"
    r"|(?:reduce|lower|cut) (?:my|the|this) (?:bill|balance|total|amount|price)"
    r"|(?:mitad|50 ?%) menos|quita\w* (?:\S+ ){0,3}(?:mitad|porcentaje)"
    # a payment offered for the whole bill ("$5 if we call it even", "50 percent if you forgive the rest")
    r"|call (?:it|this|the whole thing|everything|us) (?:even|settled|square|done)"
    r"|forgive (?:the rest|the remainder|the balance|what s left|it)"
    r"|(?:waive|drop|write off|wipe out|wipe) the rest"
    r"|settle (?:it |this |the bill )?for|(?:as|in) (?:full|final) settlement|pay (?:off )?in full for less)"
)
_RE_DISCOUNT_RAW = re.compile(r"\d{1,3}\s?%")  # "50%" before normalisation strips the sign
_RE_HARDSHIP = re.compile(
    r"\b(?:lost (?:my|our) (?:job|work|income|insurance)|laid off|unemploy\w*|out of work|can ?n?o?t afford"
    r"|furlough\w*|(?:was|got|been|were) (?:let go|fired)|no (?:paycheck|paychecks|pay check)"
    r"|can t afford|cannot afford|hardship|struggl\w*|no income|disabilit\w*|medical leave|broke\b"
    r"|no money|(?:don t|dont|do not) have (?:the |any |enough )?(?:money|funds|cash)"
    r"|fixed income|sin trabajo|desemplead\w*|no puedo pagar|dificultad\w*|no tengo dinero"
    r"|can ?t (?:cover|pay this|pay it|pay that|work)|cannot (?:pay|cover) (?:this|it|that)|no way i can"
    r"|sliding (?:fee )?scale|(?:do|does|can) (?:you|u|y all) (?:have|offer|do) (?:any )?(?:financial )?"
    r"(?:assistance|aid)|b(?:ar|ra|aer|aree)ly (?:covering|making|paying|affording|scraping|surviving)"
    r"|financial(?:ly)? (?:assistance|help|aid)"
    r"|help me financially|charity care|assistance program|money is (?:really |very |so )?tight|unpaid leave"
    r"|drowning|only income|barely (?:pay|afford|make|cover|get by|scraping)"
    r"|paycheck to paycheck|can t do both"
    r"|(?:either|its|it s) (?:\w+ ){1,3}or (?:this|the|your|my medical) bill"
    r"|single (?:mom|mother|dad|father|parent)|ayuda financiera|asistencia financiera)"
)
_RE_DISPUTE = re.compile(
    r"\b(?:dispute\w*|disputa\w*|twice|duplicate\w*|double (?:charged|billed|charge)|wrong|incorrect|error"
    r"|mistake\w*|never (?:had|got|received|ordered|went|was|came|showed|done|performed|given|happened|seen"
    r"|drawn|taken)|(?:didn t|didnt|did not) (?:get|receive|have|order)"
    r"|(?:i|we) cancel+ed (?:it|that|the|my|this)|not mine"
    r"|isn t mine|overcharg\w*|shouldn t (?:be|have)|not (?:right|correct|accurate)|equivocad\w*|error"
    r"|cobraron dos veces|no (?:es|son) mi"
    # Spanish: "no recibí ese servicio", "nunca me hicieron ese examen", "no estoy de acuerdo con ese cobro"
    r"|no (?:recibi|me hicieron|me dieron|tuve|pedi|ordene)|nunca (?:recibi|me hicieron|me dieron|tuve|fui)"
    r"|no estoy de acuerdo con (?:ese|este|el|esos|estos|los) (?:cobro|cargo|cargos|cobros|monto|saldo))"
)
_RE_WAIVER_CLAIM = re.compile(
    r"\b(?:manager|doctor|dr|doc|office|staff|someone|receptionist|front desk|billing|nurse|they|provider"
    r"|physician|surgeon|therapist|practitioner|clinic|hospital)\b[\w\s]{0,30}"
    r"\b(?:said|says|told me|told us|promised|agreed|assured me|guaranteed)\b[\w\s]{0,40}"
    r"\b(?:don t (?:have|need) to pay|do not (?:have|need) to pay|skip|waive\w*|no need to pay|write it off"
    r"|wipe|zero|free|forgiv\w*|not (?:have|need) to pay|on the house|no charge|at no cost|no cost"
    r"|(?:wouldn t|would not|won t|will not|wasn t|was not|isn t|is not|not|never) (?:be |get |getting )?"
    r"(?:billed|charged|a bill|any bill))"
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
    """Words of financial hardship (a lost job, can't afford it): those go to a person, not a haggle.
    Another creditor's hardship program asked about is not the patient's hardship with this bill."""
    return bool(_RE_HARDSHIP.search(normalize(text).replace("'", " "))) and not (
        asks_another_creditors_hardship_plan(text)
    )


# Someone outside the patient's household (a sibling, a parent, a friend, a neighbour) as the one in
# hardship ("my brother lost his job and can't afford his rent", "my neighbor is struggling to pay her
# bills"): a spouse or partner shares the household, so "my husband lost his job" stays the patient's.
_RE_SOMEONE_ELSE = re.compile(
    r"\b(?:my|our|a) (?:brother|sister|sibling|mom|mother|dad|father|parents?|son|daughter|kid|child|cousin"
    r"|uncle|aunt|niece|nephew|grandma|grandmother|grandpa|grandfather|friend|best friend|neighbou?r"
    r"|roommate|coworker|co worker|boss|colleague|classmate|tenant|landlord)s?\b"
    r"|\b(?:mi|mis) (?:hermano|hermana|mama|papa|madre|padre|hijo|hija|primo|prima|amigo|amiga|vecino"
    r"|vecina)s?\b"
)
# The patient (or the patient's household) in the sentence: "I", "we", "me", "my" beside a thing of their
# own, or this bill named.
_RE_FIRST_PERSON = re.compile(
    r"\b(?:i|im|i m|ive|i ve|id|i d|ill|i ll|we|were|we re|weve|we ve|me|us|our|ours|myself|my|yo|nosotros"
    r"|me|mi|mis)\b"
    r"|\b(?:this|the|these|that|your|ur) (?:bill|bills|charges?|balance|statements?|amount|invoice|copay)\b"
)


# Another creditor's hardship program asked about ("how do I ask discover for a hardship plan on my credit
# card", "my capital one card is maxed out, do they have a hardship program"), this bill not named.
_RE_HARDSHIP_PROGRAM = re.compile(
    r"\bhardship (?:plan|plans|program|programs|option|options|assistance)\b"
    # a lender's own relief ("income-driven repayment", "forbearance on my student loans")
    r"|\bincome (?:based|driven|contingent) repayment\b|\bforbearance\b|\bdeferment\b|\bloan forgiveness\b"
)
_RE_CREDITOR_NAMED = re.compile(
    r"\b(?:credit ?card|card|loan|loans|mortgage|bank|lender|servicer|issuer)\b"
    r"|\b(?:do|does|would|will) they\b"
)
_RE_THIS_BILL_NAMED = re.compile(
    r"\b(?:you|your|y all|this bill|my bill|the bill|medical|this balance|my balance|statement|practice"
    r"|clinic|office|doctor)\b"
)


def asks_another_creditors_hardship_plan(text: str) -> bool:
    """Whether the words ask about another creditor's hardship program; see ``_RE_HARDSHIP_PROGRAM``."""
    norm = repair_words(normalize(text).replace("'", " "), ("program", "programs"), shortest=6)
    return bool(
        _RE_HARDSHIP_PROGRAM.search(norm) and _RE_CREDITOR_NAMED.search(norm)
    ) and not _RE_THIS_BILL_NAMED.search(norm)


def hardship_of_someone_else(text: str) -> bool:
    """Words of hardship about someone outside the household and nothing of the patient's own ("my sister
    can't afford her medication"); "my mom lost her job and I can't pay this" is the patient's."""
    norm = normalize(text).replace("'", " ")
    if not (mentions_hardship(text) and _RE_SOMEONE_ELSE.search(norm)):
        return False
    return not _RE_FIRST_PERSON.search(_RE_SOMEONE_ELSE.sub(" ", norm))


# An amount put toward the bill ("I'd like to put $35 toward what I owe", "apply $20 to my balance", "abonar
# 45 dólares a mi cuenta"): a payment of that amount, whatever words of owing follow.
_RE_AMOUNT_TOWARD = re.compile(
    r"\b(?:pay|put|apply|send|give|throw|make a payment of|abonar|abono|aplicar|dar)\b (?:you |in |le )?"
    r"(?:\$ ?)?\d[\d,.]*(?: dollars| bucks| dolares)? "
    r"(?:toward|towards|to|on|against|off|a|al|para|hacia)\b (?:my|the|what|this|our|it|mi|la|lo|el)\b"
)


def pays_an_amount_toward(text: str) -> bool:
    """Whether the words put an amount toward the bill; see ``_RE_AMOUNT_TOWARD``."""
    return bool(_RE_AMOUNT_TOWARD.search(normalize(text).replace("'", " ")))


# Several statements asked about at once ("why are there 2 statements? whats on each", "explain both bills",
# "what are all these statements"): each open statement is named before the one explained.
_RE_EACH_STATEMENT = re.compile(
    r"\b(?:two|2|three|3|four|4|several|multiple|many|different|all (?:these|those|the|my)|both|these|those)"
    r" (?:different |separate |open )?(?:statements|bills|invoices|estados de cuenta|facturas)\b"
    r"|\b(?:statements|bills|invoices)\b[\w ]{0,30}\b(?:each|both)\b"
    r"|\b(?:each|both) (?:one|statement|bill)s?\b"
    r"|\b(?:dos|tres|varias|ambas|cada) (?:facturas|estados de cuenta|factura|estado de cuenta)\b"
)


def asks_about_each_statement(text: str) -> bool:
    """Whether the words ask about several statements at once; see ``_RE_EACH_STATEMENT``."""
    return bool(_RE_EACH_STATEMENT.search(normalize(text).replace("'", " ")))


def mentions_paying(text: str) -> bool:
    """Whether the patient's own words ask about paying or a link at all."""
    return bool(_RE_PAY_WORD.search(normalize(text)))


_CHOICE_FILLER_TEXT = (
    "option opcion number numero plan the la el one uno una please por favor i ll take want choose pick go "
    "with quiero elijo tomo lets let s do id i d like ok okay yes yeah yep sure how about about just"
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


# A slip of the thumb is not a contested charge: "sorry, hit the wrong thing", "texted the wrong number".
_RE_WRONG_TAP = re.compile(
    r"\b(?:hit|hitting|pressed|press|pressing|tapped|tap|clicked|click|typed|type|sent|send|texted|pushed"
    r"|touched|picked|chose|selected) (?:the |a |on )?wrong\b(?: \w+)?"
    r"|\bwrong (?:button|buttons|key|keys|number|thing|link|option|chat|thread|app|window|place|reply)\b"
)


# A charge plainly contested: billed twice, or for care that never happened ("the lab is on there twice and
# i only went once", "you chraged me for a visit i did not go to", "that test never happened"). The first
# words name the bill themselves ("on there twice", "charged me twice"); the others need a word of the bill.
_RE_CONTESTED_ON_THE_BILL = re.compile(
    r"\b(?:on (?:there|here|it|the (?:bill|statement)|my (?:bill|statement)) (?:twice|two times|2 times)"
    r"|(?:charged|billed|charging|billing) (?:me |us )?(?:twice|two times|2 times|double)"
    r"|(?:charged|billed|charging|billing) (?:me |us )?(?:on [\w ]{0,20} )?for (?:a |an |the )?"
    r"(?:visit|appointment|test|lab|service|procedure|x ?ray|shot) (?:that )?(?:i|we) (?:did not|didn t|didnt"
    r"|never) (?:go to|went to|have|had|get|got|attend|receive|show up)"
    r"|double (?:charged|billed|charge)|duplicate (?:charge|line|bill)\w*)"
)
_RE_CONTESTED = re.compile(
    r"\b(?:only (?:went|go|had|got) (?:it |one )?once|(?:never|not) (?:once )?happened"
    r"|(?:a |the |that |this )?(?:visit|appointment|test|lab|service|procedure|x ?ray|shot) (?:that )?"
    r"(?:i|we) (?:did not|didn t|didnt|never) (?:go to|went to|have|had|get|got|attend|receive|show up)"
    r"|(?:i|we) (?:did not|didn t|didnt|never) (?:go|went|show up|attend)\b[\w ]{0,20}\b(?:visit|appointment"
    r"|that day|there))"
)
_CHARGE_WORDS = ("charged", "billed", "charging", "twice", "happened", "appointment")


def contests_a_charge(text: str) -> bool:
    """Whether the words plainly contest a charge of a bill; see ``_RE_CONTESTED_ON_THE_BILL``."""
    norm = repair_words(normalize(text).replace("'", " "), _CHARGE_WORDS, shortest=6)
    return bool(_RE_CONTESTED_ON_THE_BILL.search(norm)) or (
        bool(_RE_CONTESTED.search(norm)) and about_this_bill(text)
    )


def mentions_dispute(text: str) -> bool:
    """Words that contest a charge ("billed twice", "I never had that test", "this is wrong")."""
    norm = _RE_WRONG_TAP.sub(" ", normalize(text).replace("'", " "))
    return bool(_RE_DISPUTE.search(norm))


# Words of a waiver claim that patients misspell ("woludn't be billed", "promsied").
_WAIVER_WORDS = (
    "wouldn", "promised", "billed", "charged", "waived", "manager", "doctor", "receptionist", "physician",
)  # fmt: skip


def claims_waiver(text: str) -> bool:
    """A claim that someone at the practice waived the bill ("the manager said I don't have to pay"):
    only staff can confirm it, so it is handled like a payment dispute."""
    norm = repair_words(normalize(text).replace("'", " "), _WAIVER_WORDS, shortest=5)
    return bool(_RE_WAIVER_CLAIM.search(norm))


# The insurer said to have paid it all, against the bill ("that's wrong, my eob says insurance paid it in
# full. i owe nothing", "insurance covered all of it, why are you billing me"): a payment disputed, as a
# patient's own "I already paid" is. A question ("did insurance pay it in full?") contests nothing.
_RE_INSURER_PAID_ALL = re.compile(
    r"\b(?:insurance|insurer|ins|eob|my plan|medicare|medicaid|aetna|cigna|humana|united\w*|bcbs|blue cross"
    r"|tricare|anthem|kaiser)\b[\w ]{0,25}\b(?:paid|covered|took care of)\b (?:for )?(?:it |this |that |them "
    r"|everything |the (?:bill|whole thing|balance|charges?|visit) )?(?:all |fully )?"
    r"(?:in full|all of (?:it|this|that|them)|everything|100 ?%?|100 percent|completely|fully"
    r"|the whole (?:thing|bill|amount))"
    r"|\b(?:eob|insurance|insurer)\b[\w ]{0,20}\bsays? (?:that )?(?:i|we) (?:owe|owed) "
    r"(?:nothing|0|zero|\$ ?0)\b"
)
_RE_CONTESTS = re.compile(
    r"\b(?:i|we) (?:owe|should owe) nothing\b|\b(?:shouldn t|should not|don t|do not|dont|shouldnt) "
    r"(?:have to )?(?:owe|pay)\b|\bwhy (?:are|am|is|do|does|did) (?:you|y all|i|it|this)\b"
    r"|\b(?:that s|thats|that is|this is|it s|its) (?:wrong|not right|a mistake|an error|incorrect)\b"
    r"|\b(?:can t|cannot|can not|isn t|is not|that s not|thats not) (?:be )?(?:right|correct)\b"
    r"|^\W*no way\b|\bi (?:have|got) (?:the )?(?:paperwork|eob|proof|receipt|letter)\b"
    r"|\b(?:mistake|error|wrong)\b"
)


def says_insurer_paid_all(text: str) -> bool:
    """Whether the words contest the bill because the insurer paid it all; see ``_RE_INSURER_PAID_ALL``."""
    norm = normalize(text).replace("'", " ")
    return bool(_RE_INSURER_PAID_ALL.search(norm)) and bool(
        _RE_CONTESTS.search(norm) or re.search(r"\bsays? (?:that )?(?:i|we) (?:owe|owed)\b", norm)
    )


# Whether it is paid, asked ("wait does that mean its already paid?", "is this already paid?", "so it's
# been paid?"): a question about the bill, no claim of having paid it.
_RE_ASKS_IF_PAID = re.compile(
    r"(?:\b(?:does|do|did) (?:that|this|it) mean\b(?: \w+){0,3}?|\b(?:is|was|has|have) (?:it|this|that|"
    r"the bill|my bill|the balance|everything)\b(?: \w+){0,2}?|^\W*(?:so )?(?:it s|its|it is|this is|that s"
    r"|thats)(?: \w+)??) (?:(?:already|been|all|fully) )*(?:paid|covered|taken care of)\b[^.!]*\?"
)
_RE_I_PAID = re.compile(
    r"\b(?:i|we|i ve|we ve|i have|we have|i already|we already)\b(?: \w+)?? (?:paid|pay|sent|mailed)\b"
    r"|\bmy (?:payment|check)\b"
)


def asks_whether_paid(text: str) -> bool:
    """Whether the message asks if the bill is paid, claiming no payment of the patient's."""
    norm = " ".join(text.lower().replace("'", " ").replace("\u2019", " ").split())  # keeps the "?"
    return bool(_RE_ASKS_IF_PAID.search(norm)) and not _RE_I_PAID.search(norm)


# Everything owed, paid at once ("I'll pay them all at once, one link for the total", "pay everything
# today", "the full amount", "all of it", "todo de una vez"): the whole balance, not the statement on screen.
_RE_PAY_EVERYTHING = re.compile(
    r"\b(?:all of (?:them|it|those|these)|them all|all (?:at once|together|in one)|every ?thing|the total"
    r"|total (?:amount|balance)|the (?:full|whole|entire) (?:amount|balance|thing|total|bill)|everything owed"
    r"|all (?:my|the) (?:bills|statements|balances)|both (?:of them|bills|statements)|one link for"
    r"|todo|todas|todos)\b"
)


def asks_to_pay_everything(text: str) -> bool:
    """Whether a payment asked for is for everything owed, not one statement."""
    norm = repair_words(normalize(text), ("everything", "together", "total"), shortest=5)
    return bool(_RE_PAY_EVERYTHING.search(norm))


def says_already_paid(text: str) -> bool:
    """ "I already paid" or "my payment should be on the account by now", tolerating a misspelt word
    ("alerady paid", "my paymnet should be posted")."""
    words = normalize(text).replace("'", " ").split()
    for i, (word, nxt) in enumerate(itertools.pairwise(words)):
        # "insurance already paid", "ins paid already": the insurer's payment, not the patient's
        insurer = i > 0 and words[i - 1] in _INSURER_WORDS
        if nxt in _PAID_WORDS and edit_distance(word, "already", 1) <= 1 and not insurer:
            return True
        if word in _PAID_PAST and edit_distance(nxt, "already", 1) <= 1 and not insurer:
            return True  # "this was paid already"
        if nxt in _ARRIVED_WORDS and edit_distance(word, "payment", 1) <= 1:
            return True
    # "ya lo pagué", "yo pagué el copago", "ya está pagada" (or "pagdaa")
    return bool(
        re.search(
            r"\bya (?:lo |la )?pagu?e\b|\b(?:yo|ya) (?:lo |la )?pagu?e (?:el|la|mi|los|las|todo|eso)\b"
            r"|\bya (?:esta|estan) pag(?:ad|d)\w*",
            normalize(text),
        )
    )


# A payment the patient says was made at the visit or sent ("I paid cash at checkout", "paid my copay at
# check-in", "I mailed a check for this weeks ago"): a payment dispute when a bill still shows it.
_RE_PAID_AT_VISIT = re.compile(
    r"\b(?:paid|payed|pay|handed over)\b[\w ]{0,25}\b(?:at|during) (?:the )?(?:check ?in|check ?out"
    r"|front desk|desk|visit|appointment|time of (?:the )?(?:visit|service)|office)\b"
    r"|\b(?:mailed|sent|dropped off|put in the mail) (?:you |y all |your office )?(?:a |the |my )?"
    r"(?:check|cheque|money order|payment)\b"
    # the payment named first, or asked after ("the check I sent", "did you get my money order")
    r"|\b(?:the|my|a|that|our) (?:check|cheque|money order|payment) (?:i|we) (?:sent|mailed|dropped off"
    r"|put in the mail|dropped in the mail)\b"
    r"|\b(?:did|have|has) (?:you|y all|you guys|your office|the office|billing) (?:ever )?(?:get|got|gotten"
    r"|receive|received) (?:the|my|a|our) (?:check|cheque|money order|mailed payment)\b"
)
_VISIT_WORDS = ("checkout", "check", "mailed", "appointment", "receive")


# A payment still to come ("gonna pay at the front desk", "I'll pay it at my next visit"): no claim of one.
RE_FUTURE_PAY = re.compile(
    r"\b(?:gonna|going to|will|ll|wanna|want to|plan to|planning to|about to|rather|prefer to|can i|could i"
    r"|i d|let me|voy a|vamos a)\s+(?:just |probably |prob |simply |rather |go |come in and )?(?:pay|pagar)\b"
)


def says_paid_at_visit(text: str) -> bool:
    """Whether the words say a payment was made at the visit or sent; see ``_RE_PAID_AT_VISIT``."""
    norm = repair_words(normalize(text).replace("'", " ").replace("-", " "), _VISIT_WORDS, shortest=5)
    return bool(_RE_PAID_AT_VISIT.search(RE_FUTURE_PAY.sub(" ", norm)))


def asks_what_is_left(text: str) -> bool:
    """A part payment and a question about the rest ("I paid part of it, how much is left?")."""
    norm = normalize(text).replace("'", " ")
    return bool(_RE_PART_PAID.search(norm) and _RE_WHAT_IS_LEFT.search(norm))


_PAID_WORDS = frozenset({"paid", "payed", "pay", "sent", "made", "settled", "covered"})
_INSURER_TEXT = (
    "insurance ins insurer insurers aetna cigna humana medicare medicaid bcbs uhc kaiser anthem tricare "
    "plan coverage secondary primary seguro aseguranza"
)
_INSURER_WORDS = frozenset(_INSURER_TEXT.split())
_PAID_PAST = frozenset({"paid", "payed", "settled"})
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


# Another creditor's bill: a utility, a phone or cable carrier, a card issuer, a lender, a landlord, a
# person. The agent collects for this practice only, so such a request gets no payment link and no plan.
_CREDITOR = (
    r"(?:electric(?:ity)?|water|sewer|gas|power|energy|utilit(?:y|ies)|phone|cell ?phone|cell|mobile|"
    r"wireless|carrier|telecom|trash|garbage|"
    r"cable|internet|wifi|tv|satellite|streaming|rent|mortgage|car|auto|truck|student|personal|payday|"
    r"tuition|school|tax(?:es)?|property tax|hoa|credit ?card|card|loan|insurance premium|premium|"
    r"gym|netflix|spotify|hulu|amazon|store card|department store|furniture|house|store|light|telephone|"
    r"ac|heater|heating|domain|domain name|email|lawn|boat|plumbing)"
)
_COMPANY = (
    r"(?:x?finity|comcast|verizon|at ?&? ?t|att|t ?mobile|sprint|spectrum|cox|dish|directv|time warner|"
    # prepaid and smaller phone carriers ("my metro pcs bill", "my cricket phone bill")
    r"metro ?pcs|metro by t ?mobile|cricket|boost(?: mobile)?|mint mobile|straight talk|tracfone|google fi"
    r"|us cellular|consumer cellular|visible wireless|total wireless|simple mobile|optimum|frontier"
    r"|centurylink|"
    r"chase|citi(?:bank|card)?|capital one|wells fargo|bank of america|boa|amex|american express|"
    r"discover|visa|mastercard|synchrony|navient|sallie mae|pg ?&? ?e|sdg ?&? ?e|duke energy|con ?ed|dte|"
    r"xcel|"
    r"landlord|my bank|paypal|klarna|affirm|national grid|eversource|pseg|edison|dominion|ameren|entergy"
    r"|georgia power|fpl|pepco|peco|consumers energy|we energies|centerpoint|nicor|socalgas|the gas company"
    r"|the power company|the electric company|the water company|the phone company|the cable company"
    # car makers and their lenders ("my toyota payment", "pay honda financial")
    r"|toyota|honda|ford|nissan|chevy|chevrolet|hyundai|kia|tesla|bmw|subaru|mazda|jeep|dodge|volkswagen|vw"
    r"|lexus|acura|audi|gmc|buick|infiniti|volvo|ally|santander|carmax|carvana|westlake|sofi|lendingclub"
    # stores and their cards ("pay off my walmart card")
    r"|walmart|target|macy s|macys|kohl s|kohls|best buy|home depot|lowe s|lowes|costco|sam s club|old navy"
    r"|nordstrom|sears|jcpenney|ikea|wayfair|amazon"
    # buy now, pay later ("move my afterpay installment")
    r"|afterpay|sezzle|zip pay|uplift)"
)
# Services and shops whose own charges patients dispute ("a gym charge I didn't authorize", "a double
# charge from Spotify Premium"): never a charge of this practice.
_SERVICE = (
    r"(?:gym|netflix|spotify|hulu|amazon|apple|itunes|icloud|google play|youtube|disney|hbo|peacock|"
    r"paramount|uber|lyft|doordash|grubhub|instacart|streaming|cable|internet|wireless|app store|xbox|"
    r"playstation|steam|audible|adobe|microsoft|membership|subscription|airline|hotel|airbnb|ticketmaster)"
)
_PERSON = (
    r"(?:friend|brother|sister|mom|dad|mother|father|son|daughter|roommate|cousin|uncle|aunt|neighbou?r|"
    r"boss|coworker|wife|husband|girlfriend|boyfriend|grandma|grandpa|buddy|pal|bestie|bff|homie|bro|sis|"
    r"nephew|niece|grandson|granddaughter|grandmother|grandfather|fiance|fiancee|partner|babysitter|nanny|"
    r"colleague|classmate|tenant|in laws?|mother in law|father in law)"
)
_RE_OTHER_CREDITOR = re.compile(
    rf"\b{_CREDITOR} (?:bill|bills|payment|payments|balance|due|company|provider|statement|note|minimum)\b"
    rf"|\b(?:pay|paying|pay off|pay down|payment to|payment for|owe|owes|due to|bill from) "
    rf"(?:off |down |back )?(?:my |the |our |a )?{_COMPANY}\b"
    rf"|\b{_COMPANY} (?:\w+ )?(?:bill|bills|payment|balance|card|account|loan|due|is due|minimum|min"
    rf"|statement|installments?)\b"
    rf"|\b{_SERVICE} (?:\w+ )?(?:charges?|fees?|subscriptions?|renewals?)\b"
    rf"|\b(?:charges?|charged|fees?|billed|billing) (?:\w+ )?(?:from|by) (?:my |the )?"
    rf"(?:{_SERVICE}|{_COMPANY})\b"
    # Spanish or Spanglish: the company's account ("pagar mi cuenta de verizon", "pagarle a comcast")
    rf"|\b(?:(?:pagar|pago|cuenta|factura|recibo|deuda|saldo)\b[\w ]{{0,25}}?\b(?:de|del)"
    rf"|pagarle a|pagar a|pago a) (?:mi |la |el )?{_COMPANY}\b"
    # the card's own figures, the minimum spelt short or the company in lower case ("the min payment on my
    # discover", "what do I owe on my amex"): paying *with* the card was set aside above
    rf"|\b(?:minimum(?: payment| due)?|min(?: payment| due)?|mins|interest|apr|due date|bill|outstanding|owe"
    rf"|owes|owed|owing|left|remaining|due)"
    rf" (?:on|for|of|to) (?:my |the |a |our )?"
    rf"(?:{_CREDITOR}|{_COMPANY})\b"
    rf"|\b(?:minimum|minimums|min|mins|least)\b[\w ]{{0,30}}\b(?:on|for|to) (?:my |the |our |a )?"
    rf"(?:{_CREDITOR}|{_COMPANY})\b"
    # a plan asked for another creditor's debt ("a repayment plan for my student loans", "income based
    # repayment", "a payment plan on my car loan")
    rf"|\b(?:plan|plans|program|repayment|forbearance|deferment|refinanc\w*|consolidat\w*)\b[\w ]{{0,30}}"
    rf"\b(?:for|on|with) (?:my |the |our |a )?(?:{_CREDITOR} |{_COMPANY} )?(?:loans?|credit cards?)\b"
    r"|\bincome (?:based|driven|contingent) repayment\b"
    # a utility named by what it supplies ("pay National Grid for the power", "a link for the gas")
    r"|\b(?:pay|paying|payment|link|bill|owe|installments?)\b[\w ]{0,40}\bfor (?:the|my|our) (?:\w+ )?"
    r"(?:power|electric\w*|gas|water|heat|heating|lights|phone|internet|cable|rent|trash|sewer)\b"
    # a service cut off for not paying: a utility's or a carrier's bill ("before they shut me off")
    r"|\b(?:shut|cut|turn|turned|cutting|shutting|turning) (?:me|us|it|my \w+|our \w+|the \w+) off\b"
    r"|\b(?:shut ?off|cut ?off|disconnect\w*) (?:notice|letter|warning)\b"
    rf"|\b(?:pay|paying|pay back|repay|send money to|give money to|venmo|zelle) (?:back )?(?:my |a )?"
    rf"{_PERSON}\b|\b(?:owe|lend|lent|borrowed from) (?:my |a )?{_PERSON}\b"
    # money sent to a person, or over a person-to-person app ("send 40 to my friend", "send $25 to jake on
    # venmo", "zelle 60 to my roommate"); paying this bill by one of them names no other person
    rf"|\b(?:send|sending|sent|give|giving|transfer|transferring|wire|zelle|venmo)\b"
    rf"(?: (?:\$ ?)?\d[\d,.]*(?: dollars| bucks)?)?(?: back)? to (?:my |a |our )?{_PERSON}s?\b"
    r"|\b(?:send|sending|transfer|transferring|wire)\b (?:\$ ?)?\d[\d,.]*(?: dollars| bucks)? to "
    r"(?!(?:you|y all|your|the|this|my (?:bill|account|balance|statement))\b)(?:my |a )?[a-z]+ "
    r"(?:on|via|through|with|by|using|over) (?:venmo|zelle|cash ?app|paypal)\b"
    # a card of the patient's own paid off ("pay off my walmart card", "pay my card down")
    r"|\bpay(?:ing)? (?:off |down )?(?:my|our) (?:\w+ )?(?:credit ?card|card)\b(?! (?:on file|ending|number))"
    # "send me something to pay the card": the card's bill ("pay with the card" was set aside above)
    r"|\bpay(?:ing)? (?:off |down )?(?:the|that|this) (?:credit ?card|card|red ?card)(?: bill| balance)?\b"
    r"(?! (?:on file|ending|number|you have))"
    # a bank's own fees ("Wells Fargo charged me an overdraft fee"), a store's card ("my target redcard")
    r"|\boverdraft(?:s| fees?| charges?| protection)?\b|\bnsf fees?\b|\bred ?card\b"
    # "my gym membership charged me again"
    r"|\b(?:gym|membership|subscription|club|streaming)\b[\w ]{0,20}\b(?:charged|billed|charges|charging"
    r"|renewed|auto ?renew\w*)\b"
    rf"|\b{_COMPANY} (?:charged|billed|charges|is charging|keeps charging|hit me with)\b"
    # a person paid back by name ("pay maria back", "pay jake back for the tickets", "the $40 i owe her")
    r"|\bpay(?:ing)? (?!(?:it|this|that|them|you|y all|ya|u|the|my|off|down|now|online|in|what|everything"
    r"|all|us|me|here|today|cash|full)\b)[a-z]+ back\b|\b(?:i|we) owe (?:her|him)\b"
)
# Payees no medical practice is: a message that names one of these next to a word of owing or paying is
# about that bill, wherever the words stand ("for my water and electricity, how much is the bill", "what
# do I owe on the car", "do I pay my rent this week", "when is my car insurance due").
_RE_OTHER_PAYEE = re.compile(
    r"\b(?:electric(?:ity)?|utilit(?:y|ies)|heating|heater|plumb(?:er|ing)|lawn|landscap\w*|catering|"
    r"mortgage|rent|renting|landlord|tuition|student loans?|college loans?|car loans?|auto loans?|loans?|"
    r"(?:car|auto|home|house|homeowners?|renters?|life|pet|boat|travel) insurance|insurance premiums?|"
    r"insurance bill|subscription\w*|membership|donation|bribe|car tags?|the car|my car|our car|boat|"
    r"my cards minimum|cc bill|citi ?card|store card|"
    r"x?finity|comcast|verizon|at t|att|t ?mobile|sprint|spectrum|directv|dish network|chase|capital one|"
    r"wells fargo|bank of america|american express|synchrony|navient|sallie mae|con ?ed(?:ison)?|"
    r"nordstrom|sony|hsn|youtube|netflix|spotify|hulu|amazon|eddie bauer|m and t|red cross|"
    # another biller of care, or a lawyer's fee ("the ambulance bill, a separate company", "a retainer")
    r"ambulance|ems|paramedics?|(?:a|another|a different|a separate) (?:company|provider|biller)|retainer"
    # another kind of care's office (this agent serves a medical practice)
    r"|orthodont\w*|dentist\w*|chiropract\w*|optometrist\w*|veterinar\w*"
    # a ticket or a court's fine ("traffic court about a speeding ticket, can I just pay it online")
    r"|(?:speeding|traffic|parking|toll) (?:ticket|tickets|fine|fines|citation|violation)|traffic court"
    r"|court (?:fine|fines|fees|costs)"
    # a child's school, care or activities ("my kid's school field trip fee", "the daycare payment")
    r"|school (?:\w+ )?(?:fees?|trips?|lunch\w*|supplies)|field trips?|daycare|day care|preschool"
    r"|summer camp|(?:gym|club) (?:membership|dues)"
    r"|(?:lawyer|attorney|legal) (?:s )?fees?"
    # a pharmacy's bill, or the insurer's own premium ("what I owe CVS Caremark for my insulin", "pay my
    # Medicare Part B premium")
    r"|pharmac(?:y|ies)|caremark|express scripts|optum ?rx|walgreens|rite aid|cvs|mail order"
    r"|(?:medicare )?part [abcd] premiums?|medicare premiums?|premium (?:bill|notice|invoice)|irmaa)\b"
)
# A payee named in capitals after "pay" ("pay National Grid", "a payment to Wells Fargo Auto"): a
# company's name, unless a word of it is a clinic's ("pay Riverside Family Medicine").
_RE_NAMED_PAYEE = re.compile(
    r"\b(?:pay|paying|pay off|payment to|payments to|send money to) ((?:[A-Z][\w&'.-]*)(?: [A-Z][\w&'.-]*)+)"
)
# A creditor's name in capitals as the owner of a bill ("my Toyota payment", "our Chase card"), with the
# same exceptions.
_RE_NAMED_BILL = re.compile(
    r"(?<!with )(?<!using )(?<!from )(?<!by )\b(?:[Mm]y|[Oo]ur) "
    r"((?:[A-Z][\w&'.-]*)(?: [A-Z][\w&'.-]*)*) (?:payments?|bills?|loan|card|account)\b"
)
# A bill from a biller named by the patient, to be paid or split "here" ("I got a bill from Mass General
# for my hip, can I set up a payment plan for that one here?", "a bill from the mass general ER, can i pay
# it here"): "here" is this practice's channel, the bill someone else's. A bill from the hospital, the
# clinic, the doctor or the office may be this practice's own and is not this.
_RE_BILL_FROM_ELSEWHERE = re.compile(
    r"\b(?:bill|bills|statement|invoice|charges?) from (?:the )?"
    r"(?!(?:you|your|y all|ya|this|that|us|our|my|the|same|hospital|clinic|er|office|lab|labs|doctor|dr"
    r"|practice|billing|radiology|imaging|insurance|insurer|medicare|medicaid)\b)[a-z]+"
)
_RE_PAY_HERE = re.compile(
    r"\b(?:pay|paying|payment|plan|link|split)\b[\w ]{0,40}\b(?:here|through you|thru you|with you"
    r"|on this (?:site|portal|app|chat)|through this (?:site|portal|app|chat))\b"
)
_RE_CLINIC_NAME = re.compile(
    r"\b(?:dr|doctor|medical|medicine|clinic|health|healthcare|hospital|family|pediatrics?|care|practice|"
    r"center|associates|dental|surgery|surgical|orthopedics?|radiology|labs?|physicians?|urgent|"
    # or it is no name at all: title case ("Can I Pay My Bill Online")
    r"my|the|this|that|it|your|you|our|a|an|me|now|today|online|off|back|down|all|everything|in|with|"
    r"by|for|using|what|through|via|bill|balance|statement|amount|full|part|half|rest|invoice|copay|"
    r"deductible|visa|mastercard|card|amex|discover|cash|check|please|asap|"
    # an insurer or a health account is the patient's coverage of this bill ("my Aetna card", "my HSA card")
    r"aetna|cigna|humana|medicare|medicaid|blue|bcbs|united\w*|kaiser|anthem|tricare|hsa|fsa|hra|"
    # a service of this practice names the bill it is on ("my MRI bill", "my ER bill", "my EKG payment")
    r"mri|ct|cat|pet|x|xray|x-ray|er|ed|ekg|ecg|eeg|emg|ultrasound|biopsy|colonoscopy|endoscopy|mammogram|"
    r"lab|blood|physical|pt|ot|therapy|checkup|visit|office|procedure|scan|surgery|covid|flu)\b",
    re.IGNORECASE,
)
_RE_MONEY_OWED = re.compile(
    r"\b(?:pay|pays|paying|paid|payment\w*|bill|bills|billed|owe|owed|owing|due|balance|minimum|"
    r"how much (?:is|are)|cost|total|amount)\b"
)
# Words that put the request back on this practice's bill ("my medical bill", "the bill from the clinic").
_RE_THIS_PRACTICE = re.compile(
    r"\b(?:medical|doctor|dr|clinic|hospital|practice|office visit|visit|lab|labs|er|surgery|copay|"
    r"deductible|coinsurance|eob|statement|your office|you guys|this bill|owe you|owe y all|owe ya)\b"
    # "what's my balance here", "what do I owe with you", "I want to pay you, just not all at once"
    r"|\b(?:what|how much)\b[\w ]{0,25}\b(?:balance|owe|owing) (?:here|with you|with y all|with your office"
    r"|to you)\b"
    r"|\b(?:pay|paying) (?:you|y all|ya)\b(?! back| for| guys for)"
    # "your bill for my knee shot showed up": the practice's own bill
    r"|\b(?:your|ur|y all s) (?:bill|bills|statement|statements|invoice|charges?)\b"
)


_THIS_PRACTICE_WORDS = (
    "medical", "doctor", "clinic", "hospital", "practice", "surgery", "deductible", "coinsurance",
    "statement",
)  # fmt: skip


# The practice named as the way to pay, not as the one owed ("can I pay my phone bill through you guys",
# "pagar el agua con ustedes"): it does not make the bill this practice's.
_RE_THROUGH_US = re.compile(
    r"\b(?:through|thru|via|with|to|on|at|by|using) (?:you guys|you all|y all|your office|your site|"
    r"your website|your portal|this site|this website|this portal|this app|here)\b"
    r"|\b(?:con|por medio de|a traves de|mediante) (?:ustedes|su oficina|este sitio|esta pagina|aqui)\b"
)
# Spanish: money sent to a person ("quiero mandarle 200 dólares a mi mamá en Guatemala", "una remesa para
# mi hermano", "enviar dinero a mi familia"): no bill of this practice.
_RE_ES_MONEY_TO_PERSON = re.compile(
    r"\b(?:mandar|mandarle|mandarles|enviar|enviarle|enviarles|transferir|transferirle|pasarle|depositarle"
    r"|girarle|mando|envio|mandale|mandales|mandele|enviale|enviele|pasale|pasele|transfierele|depositale"
    r"|mandame|mandarselo|enviarselo)\b[\w $.,]{0,40}\b(?:a|para) (?:mi|mis|su|sus|el|la) (?:mama|mami|papa"
    r"|papi|madre|padre|hermano|hermana|hermanos|hijo|hija|hijos|familia|esposo|esposa|tio|tia|abuela|abuelo"
    r"|abuelos|amigo|amiga|amigos|primo|prima|novio|novia|compa|compadre|comadre|cuate|carnal|pana|parce"
    r"|vecino|vecina|sobrino|sobrina|suegro|suegra|cunado|cunada|nieto|nieta|jefe|jefa|companero|companera"
    r"|roommate|bro)\b"
    r"|\b(?:remesa|remesas|western union|moneygram|remitly|envio de dinero|enviar dinero)\b"
    # money sent home ("cómo mando dinero a guatemala", "mandar 100 dólares para honduras")
    r"|\b(?:mand\w*|envi\w*|transfer\w*|gir\w*)\b[\w $.,]{0,30}\b(?:dinero|plata|lana|feria|dolares|pesos)\b"
    r"[\w ]{0,10}\b(?:a|para|hacia) (?:guatemala|mexico|honduras|el salvador|nicaragua|colombia|venezuela"
    r"|peru|ecuador|cuba|republica dominicana|santo domingo|puerto rico|bolivia|chile|argentina|panama"
    r"|costa rica|mi pais|mi tierra|alla)\b"
)
# Spanish: another payee beside a word of owing or paying ("pagar la luz", "el recibo del agua", "cuánto
# debo de la renta", "la factura del celular"); paying *with* a card or *by* phone is not one.
_RE_ES_PAYEE = re.compile(
    r"\b(?:agua|luz|electricidad|gas natural|telefono|celular|movil|internet|cable|renta|alquiler|"
    r"hipoteca|tarjeta de credito|tarjetas de credito|prestamo|prestamos|carro|coche|colegiatura|"
    r"seguro del carro|seguro del coche|casero|casera|arrendador|duen[oa] (?:del|de la|de mi) (?:apartamento"
    r"|departamento|depa|casa|cuarto|edificio|renta)|apartamento|departamento|depa)\b"
    r"|\b(?:recibo|factura|cuenta|mensualidad|deuda)s? (?:del|de la|de mi|de mis|de) (?:gas|tarjeta|banco)\b"
)
_RE_ES_MONEY_OWED = re.compile(
    r"\b(?:pagar|pago|pagos|pague|pagarlo|pagarla|pagarle|pagarles|debo|debemos|deuda|recibo|factura|saldo|vence|"
    r"enlace|link|"
    r"cuanto es|cobran|cobro|abonar|mensualidad|enlace para pagar)\b"
)
_RE_ES_WITH_MEANS = re.compile(
    r"\b(?:con|usando|por) (?:mi |la |una |el )?(?:tarjeta(?: de (?:credito|debito))?|cuenta de banco|"
    r"cuenta bancaria|banco|telefono|celular|internet|transferencia)\b"
)
_RE_ES_THIS_PRACTICE = re.compile(
    r"\b(?:medic[oa]s?|clinica|doctora?|hospital|consulta|laboratorio|analisis|estado de cuenta|copago|"
    r"deducible|cirugia|visita|ustedes|su oficina|esta factura|este recibo)\b"
)


# Creditor words that no ordinary word lies one typo away from, so a typo in one ("my cell phone compnay")
# does not hide the creditor, while "later" never becomes "water".
_CREDITOR_WORDS = (
    "payment", "company", "companies", "verizon", "comcast", "spectrum", "electric", "electricity", "utility",
    "utilities", "wireless", "internet", "mortgage", "tuition", "satellite", "landlord", "netflix", "spotify",
    "national", "walmart", "speeding", "traffic", "parking", "ticket", "ambulance", "tmobile", "mobile",
    "discover", "xfinity", "directv", "roommate", "daycare", "student", "capital", "target", "redcard",
    "overdraft", "membership", "premium", "pharmacy", "caremark",
)  # fmt: skip


def _repair_creditor_words(norm: str) -> str:
    return repair_words(norm, _CREDITOR_WORDS, shortest=6, same_first=False)


_RE_VEHICLE_ACCIDENT = re.compile(
    r"\b(?:car|auto|truck|bike|motorcycle) (?:accident|crash|wreck|collision)s?\b"
)


@lru_cache(maxsize=256)
def names_other_creditor(text: str) -> bool:
    """Whether the message is about a bill owed to someone other than this practice ("pay my electric
    bill", "when is my visa due", "pay back my brother"); paying *with* a card is not. A word one typo
    away from a creditor word counts as that word."""
    norm = normalize(text).replace("&", " & ").replace("'s", "").replace("-", " ")
    norm = _repair_creditor_words(norm)
    # "my car accident case": an accident, no car payment
    norm = re.sub(
        r"\b(?:car|auto|truck|bike|motorcycle) (?:accident|crash|wreck|collision)s?\b", " accident ", norm
    )
    norm = re.sub(
        r"\b(?:with|using|by|from|use|put (?:it|this|that) on|charge (?:it|this|that) (?:to|on))"
        r" (?:my |a |the )?(?:\w+ ){0,2}?(?:credit ?card|card|visa|mastercard|amex|"
        r"american express|discover|debit card|bank|checking|savings)(?: account| card)?\b",
        " ",
        norm,
    )
    norm = _RE_THROUGH_US.sub(" ", repair_words(norm, ("through",), shortest=5))
    norm = _RE_ES_WITH_MEANS.sub(" ", norm)
    # "how much is my meidcal bill" puts the question back on this practice as "medical" would.
    norm = repair_words(norm, _THIS_PRACTICE_WORDS, shortest=6)
    if _RE_BILL_FROM_ELSEWHERE.search(norm) and _RE_PAY_HERE.search(norm):
        return True
    if _RE_THIS_PRACTICE.search(norm) or _RE_ES_THIS_PRACTICE.search(norm) or mentions_hardship(text):
        return False  # "I can barely pay rent" is hardship, "my hospital bill and my rent" this practice's
    named = _RE_NAMED_PAYEE.search(text) or _RE_NAMED_BILL.search(text)
    return (
        (named is not None and not _RE_CLINIC_NAME.search(named.group(1)))
        or bool(_RE_OTHER_CREDITOR.search(norm))
        or (bool(_RE_OTHER_PAYEE.search(norm)) and bool(_RE_MONEY_OWED.search(norm)))
        or (bool(_RE_ES_PAYEE.search(norm)) and bool(_RE_ES_MONEY_OWED.search(norm)))
        or bool(_RE_ES_MONEY_TO_PERSON.search(norm))
    )


_RE_PERSON = re.compile(
    r"\b(?:person|human|humans|people|someone|somebody|anyone|anybody|agent|representative|rep|staff|"
    r"operator|manager|supervisor|real|live|team|office|billing department|customer service|"
    r"persona|alguien|humano|agente|representante|gerente|supervisor)\b"
)
_RE_CONTACT_ASK = re.compile(
    r"\b(?:let me|can i|could i|may i|i want to|i d like to|i would like to|i need to|put me|connect me|"
    r"transfer me|get me)\b"
)
_RE_CONTACT = re.compile(
    r"\b(?:speak|talk|chat|connect|transfer|call|phone|telephone|ring me|reach|contact|get|put me through"
    r"|escalate|discuss\b[\w ]{0,40}\bwith|"
    r"hablar|comunicar|llamar|contactar|pasar|"
    # "me puede atender alguien", "que me llame alguien", "necesito que me atienda una persona"
    r"atender|atienda|atiendan|atiende|llamarme|llame|llamen|comunicarme|hablarme|contactarme|contacte)\b"
)


_RE_ARE_YOU_A_PERSON = re.compile(
    r"\b(?:are you|r u|is this|am i (?:talking|speaking|chatting|texting) (?:to|with)) (?:a |an )?"
    r"(?:real |actual |live |human )?(?:person|human|people|bot|robot|machine|computer|ai)\b"
)


# Words for a person that patients misspell ("preson", "humna", "represenative"): a word one edit away
# (two for the long ones) with the same first letter reads as the word.
_PERSON_WORDS = ("person", "human", "someone", "somebody", "representative", "operator", "supervisor")


def _repair_person_words(norm: str) -> str:
    return repair_words(norm, _PERSON_WORDS, shortest=5, wide_from=10)


_RE_PERSON_NOUN = re.compile(
    r"\b(?:staff member|team member|member of (?:the |your |our )?(?:\w+ )?(?:staff|team)|"
    r"person|human|someone|somebody|anyone|anybody|representative|rep|operator|manager|supervisor|"
    r"persona|alguien|humano|agente|representante|gerente)\b"
)
_RE_CONTACT_DONE = re.compile(r"\b(?:spoke|talked|chatted|phoned|called|emailed|heard|was told)\b")


def asks_plainly_for_person(text: str) -> bool:
    """A request for a person named as such ("a person", "someone", "a human", typos repaired), not a
    word that only can be one ("real quick", "the office"), and not a report of a call already made ("I
    spoke with your office"): enough to read an unclear message as that request."""
    norm = _repair_person_words(normalize(text))
    return (
        asks_for_person(text)
        and bool(_RE_PERSON_NOUN.search(norm))
        and not _RE_CONTACT_DONE.search(norm)
        and not names_other_creditor(text)
    )


_RE_ASKS_OUTRIGHT = re.compile(
    r"\b(?:let me|can i|could i|may i|i want to|i wanna|i d like to|i would like to|i need to) "
    r"(?:speak|talk|chat)\b|\b(?:get|put|connect|transfer) me (?:to |through to |with )?"
    r"(?:a |an |the |some |your )?(?:real |live |actual )?(?:person|human|someone|somebody|representative"
    r"|rep|operator|manager|supervisor)\b"
    r"|\b(?:can|could|may) (?:i|we) (?:please )?(?:get|have) (?:a |an |the |some )?(?:real |live |actual )?"
    r"(?:person|human|someone|somebody|representative|rep|operator|manager|supervisor)\b"
)


# A person asked to look at the bill, not to talk to ("someone from billing should look at this", "can a
# human check this", "have a real person go over my charges"); "did someone check my payment" asks what
# happened, not for a person.
_RE_ASKS_REVIEW = re.compile(
    r"(?<!\bdid )(?<!\bhas )\b(?:(?:a |an |some |the )?(?:real |live |actual )?"
    r"(?:person|human|human being|someone|somebody|representative|rep|staff|staff member|people))"
    r"(?: (?:from|in|at|on) (?:the |your )?(?:billing|office|team|billing (?:team|department|office)))?"
    r"(?: (?:should|could|can|would|will|must|needs? to|has to|to|please))?"
    r"(?: (?:really|actually|personally|please|just))? (?:look (?:at|into|over)|review|go over|take a look"
    r"|check(?! (?:on )?(?:my |the |what |how )?(?:\w+ ){0,2}?(?:balance|total|amount|due date|i owe|much))"
    r"|double check|handle|deal with|sort (?:out|this)|call me|reach out|get back to me|contact me|ring me"
    r"|phone me|give me a (?:call|ring)|call me back|ring me back)\b"
)


def asks_outright_for_person(text: str) -> bool:
    """The patient asks outright to talk to a person ("get me someone from billing about this", "can I
    speak to a human about this statement") or for a person to look at the bill ("someone in billing
    should look at this"): the request, whatever else the words are about."""
    norm = _repair_person_words(normalize(text))
    return asks_plainly_for_person(text) and bool(
        _RE_ASKS_OUTRIGHT.search(norm) or _RE_ASKS_REVIEW.search(norm)
    )


# The words a bare request for a person is made of ("can a human check this", "get me a real person
# please", "I need someone to look at this"): a request with nothing else in it names no other matter.
_PERSON_REQUEST_TEXT = (
    "a an the some any one please pls plz now asap just can could would will may might i d id me my we us "
    "you u your yall y all to at into over with for about on this that it these those here again want wanna "
    "need needs like rather prefer let get put connect transfer talk speak chat call phone reach contact "
    "look "
    "check review go handle deal sort out help see real live actual person human someone somebody anyone "
    "anybody representative rep operator manager supervisor staff member people agent team billing office "
    "department in from is there have has ok okay hey hi hello thanks thank really actually personally "
    "double take quick ya yes hablar con una un persona alguien humano agente representante quiero "
    "necesito puedo por favor revisar esto"
)
_PERSON_REQUEST_WORDS = frozenset(_PERSON_REQUEST_TEXT.split())


def asks_for_person_only(text: str) -> bool:
    """An outright request for a person and nothing else ("can a human check this", "get me a real person
    please"): in the billing office's own channel that request is about its bill, with or without a bill
    word; a request naming another matter ("someone to look at my car's engine") is not."""
    if not asks_outright_for_person(text):
        return False
    words = re.findall(r"[a-z]+", _repair_person_words(normalize(text).replace("'", " ")))
    return all(w in _PERSON_REQUEST_WORDS for w in words)


_NO_PERSON = frozenset({"don", "dont", "didn", "didnt", "won", "wont", "never", "without", "nunca"})


# A person already spoken with ("ok I talked to the person already", "ya hablé con la persona", "they
# sorted it out"): the help is over, nobody is asked for.
_RE_SPOKE_WITH_PERSON = re.compile(
    r"\b(?:i |we )?(?:already |just )?(?:talked|spoke|spoken|chatted|met) (?:to|with) "
    r"(?:the |a |your |that )?"
    r"(?:person|someone|somebody|agent|representative|rep|staff|lady|guy|woman|man|them|her|him)"
    r"(?: already)?\b"
    r"|\b(?:ya )?(?:hable|platique|converse) con (?:la |el |una |un |su )?(?:persona|alguien|agente|senora"
    r"|senor|muchacha|muchacho|ellos|ella|el)\b|\bya me (?:atendieron|atendio|ayudaron|ayudo)\b"
)


def asks_for_person(text: str) -> bool:
    """Whether the patient's words ask for a person ("let me talk to someone", "a human please"): a
    request for a person is a ticket only when the patient said so, never on a guess. Asking whether the
    agent is a person ("am I talking to a real person?") is a question, not that request."""
    norm = _repair_person_words(normalize(text))
    if _RE_ARE_YOU_A_PERSON.search(norm) and not _RE_CONTACT_ASK.search(norm):
        return False
    norm = _RE_SPOKE_WITH_PERSON.sub(" ", norm)  # "I talked to the person already": done, not asked
    person = _RE_PERSON.search(norm)
    if person is None:
        return False
    before = norm[: person.start()].split()[-3:]
    if _NO_PERSON & set(norm[: person.start()].split()[-5:]):
        return False  # "I don't need a person, just the balance", "no quiero hablar con nadie"
    return (
        bool(_RE_CONTACT.search(norm))
        or bool(_RE_ASKS_REVIEW.search(norm))
        or bool(_RE_ASKS_OUTRIGHT.search(norm))
        or len(norm.split()) <= 4
        or bool({"with", "to", "for", "want", "need"} & set(before))
    )


_RE_BILL_WORDS = re.compile(
    r"\b(?:bill\w*|charg\w*|statement\w*|balance|amount|owe|owed|owing|pay|paid|paying|payment\w*|invoice\w*|"
    r"fee|fees|cost\w*|price\w*|insurance|insurer|claim\w*|copay\w*|co pay|deductible|coinsurance|eob|"
    r"account|acct|debt|collection\w*|visit|doctor|dr|clinic|hospital|office|practice|procedure|test|lab|"
    r"refund\w*|credit|money|dollars?|cents|afford\w*|financial\w*|income|assistance|charity|hardship\w*|"
    r"factura\w*|cuenta|pago\w*|pagar|pagu?e\w*|pagamos|pagado|deuda|cargo\w*|seguro|cobr\w*|saldo|dinero"
    r"|consulta|medico)\b"
    r"|\$\s?\d|\bsu(?:e|ing) (?:you|your|the practice|the clinic|the office)\b"
    r"|\b(?:mailed|sent) (?:you |y all )?(?:a |the |my )?(?:check|cheque|money order)\b"
    r"|\b(?:the|my|our) (?:check|cheque|money order) (?:i|we) (?:sent|mailed)\b"
    r"|\b(?:get|got|gotten|receive|received) (?:the|my|our) (?:check|cheque|money order)\b"
)
# Wages coming in: "get paid", or a person (not the bill: "this was paid") as the one paid.
_RE_RECEIVING_PAY = re.compile(
    r"\b(?:got|get|gets|getting) paid\b"
    r"|\b(?:i|we|he|she|they|you)(?: \w+)? (?:was|were|am|is|are|be|been|being) paid\b"
    r"|\b(?:was|were|am|are) (?:i|we|you)(?: \w+)? paid\b"
    r"|\b(?:paycheck|pay ?check|payday|pay day|direct deposit|salary|wages?)\b"
    r"|\b(?:my|our|the) (?:payment|check|pay|deposit) (?:comes?|coming|gets?) in\b"
    # money of the patient's own come in: "my tax refund just hit", "got my stimulus"
    r"|\b(?:tax (?:refund|return)|stimulus|irs refund)\b"
    r"|\bmy refund (?:just |finally )?(?:hit|came|came in|arrived|landed|cleared|got deposited|is in)\b"
)


def about_this_bill(text: str) -> bool:
    """Whether the words are about a bill, a charge, a payment or the practice: a dispute, hardship or
    legal ticket on the first message needs them ("that is wrong" alone is not a dispute of this bill)."""
    norm = normalize(text).replace("'", " ")
    if _RE_BILL_WORDS.search(norm) or asks_whether_payment_arrived(text):
        return True  # "checking you got my check" is about a payment to this practice
    # A misspelt bill word ("cahrge", "statment", "insurnace"): one edit from one of the core words.
    return any(
        edit_distance(word, core, 1) <= 1
        for word in norm.split()
        if len(word) >= 5
        for core in _CORE_BILL_WORDS
        if abs(len(word) - len(core)) <= 1
    )


# What legal words on a first message must stand beside to be about this bill: the practice or its people
# addressed ("I'll sue you", "see you in court", "your office"), this bill or account named ("this charge",
# "my statement", "the balance", "medical bill"), or a debt sent to collections. "My lawyer charges $300 an
# hour", "who won the court case about the insurance company", "can you recommend a lawyer" name none.
_RE_LEGAL_TARGET = re.compile(
    r"\b(?:sue|suing|sued|take|taking|report|reporting|see)\s+(?:you|y all|yall|ya|u|your|ur|the practice"
    r"|the clinic|the office|the hospital|the doctor|this (?:practice|clinic|office|place))\b"
    r"|\b(?:your|ur|y all s|yall s) (?:office|practice|clinic|billing|company|staff|bill|charges?)\b"
    # One or two words may qualify the bill ("these surgery charges", "this ER visit bill"), never a legal
    # word ("my lawyer charges $300 an hour" names the lawyer's fee, not this bill).
    r"|\b(?:this|these|that|those|my|the|our|a|your) (?:(?!(?:lawyer|lawyers|attorney|attorneys|legal|law"
    r"|court)\b)[a-z]+ ){0,2}?(?:bill|bills|charges?|statements?|balance|account|debt|invoice|copay|visit)\b"
    r"|\b(?:medical|hospital|clinic) (?:bills?|debt|charges?)\b"
    r"|\bcol+ect\w*\b|\bcobranza\b|\bcobros?\b|\b(?:owe|owed|owing|debo|debemos)\b"
    r"|\b(?:esta|la|mi) (?:factura|cuenta|deuda|cobro)\b|\bustedes\b"
    r"|\b(?:about|over|for|on) (?:this|it|that|these|those|them)\b"
    r"|\b(?:pay|paying|paid|charge|charging|charged|bill|billing|billed) (?:this|that|it|you|me)\b"
    # withholding payment ("my lawyer says I shouldn't pay until it's fixed") is about what is owed here
    r"|\b(?:not|shouldn t|should not|don t|do not|won t|will not|stop|refuse to|withhold) (?:to )?"
    r"pay(?:ing)?\b"
)


# Legal words with an everyday use besides a threat ("I watched a court show last night", "my lawyer friend
# says hi"): on a first message they count only in the sentence that names this bill or the practice, or in
# one shaped as a threat ("I'm calling my lawyer", "you'll hear from my attorney", "see you in court"). The
# other legal words ("lawsuit", "sue you", "small claims", "collection agency", "bankruptcy") keep the
# message-wide rule.
_RE_WEAK_LEGAL = re.compile(
    r"\b(?:court|courts|lawyer|lawyers|attorney|attorneys|abogad[oa]s?|corte|tribunal)\b"
)
_RE_LEGAL_THREAT = re.compile(
    r"\b(?:call|calling|called|contact|contacting|get|getting|got|have|hire|hiring|hired|talk to|talking to"
    r"|talked to|speak to|speaking to|spoke to|speak with|spoke with|consult\w*|retain\w*|involve|involving"
    r"|bring in|bringing in|lawyer up|lawyering up)\s+(?:my|a|an|our|the)\s+(?:\w+\s+)?"
    r"(?:lawyer|attorney|abogad[oa])s?\b"
    r"|\b(?:my|our) (?:lawyer|attorney|abogad[oa])s? (?:\w+ ){0,3}?(?:call|contact|reach|be in touch|hear"
    r"|handle|deal|send|write|sue|look\w* into|review|file|take|go after|get in touch)\w*"
    # the lawyer's advice about paying ("my attorney told me not to pay until..."), not a greeting passed on
    r"|\b(?:my|our) (?:lawyer|attorney|abogad[oa])s? (?:\w+ ){0,2}?(?:say|said|told|advis|recommend)\w* "
    r"(?:\w+ ){0,6}?(?:pay|paying|owe|bill|bills|charges?)\b"
    r"|\bhear\w* from (?:my|our|a|an) (?:lawyer|attorney|abogad[oa])s?\b"
    r"|\b(?:see|take|taking|took|drag|dragging|bring|bringing) (?:you|y all|yall|u|ya|this|it|them"
    r"|the practice|the clinic|the office|your \w+) (?:to|in|into) (?:small claims )?court\b"
    r"|\b(?:in|to) court (?:over|about|for) (?:this|that|it|these|those)\b"
    r"|\blawyer up\b|\bget legal\b"
    r"|\b(?:llamar|llamo|llamare|hablar con|hablare con|contratar|contratare|contactar|consultar|consultare)"
    r" (?:a )?(?:mi|un|una|nuestro) abogad[oa]s?\b"
    r"|\b(?:mi|nuestro) abogad[oa] (?:\w+ ){0,3}?(?:llam|contact|se comunic|les? va|los demand|lo demand)\w*"
)
_RE_LEGAL_SENTENCE = re.compile(r"[.!?;]+(?:\s+|$)|\s+-+\s+|\n+")


def legal_words_about_this_bill(text: str) -> bool:
    """Whether the message names the practice or this bill beside its legal words (see
    ``_RE_LEGAL_TARGET``); the words of everyday use (``_RE_WEAK_LEGAL``) must stand in that sentence or
    in a threat."""
    norm = normalize(text).replace("'", " ")
    if not _RE_LEGAL_TARGET.search(norm):
        return False
    if mentions_legal(_RE_WEAK_LEGAL.sub(" ", norm)):
        return True  # a lawsuit, suing, small claims, collections, bankruptcy: anywhere in the message
    sentences = [normalize(part).replace("'", " ") for part in _RE_LEGAL_SENTENCE.split(text)]
    return any(
        _RE_WEAK_LEGAL.search(sentence)
        and (_RE_LEGAL_TARGET.search(sentence) or _RE_LEGAL_THREAT.search(sentence))
        for sentence in sentences
    )


_CORE_BILL_WORDS = (
    "charge",
    "charged",
    "charges",
    "statement",
    "balance",
    "payment",
    "invoice",
    "insurance",
    "deductible",
    "coinsurance",
    "copay",
    "account",
    "billed",
    "claim",
)


def receiving_pay(text: str) -> bool:
    """ "When was I last paid", "when do I get paid": wages coming in, not a payment the patient made."""
    norm = normalize(text).replace("'", " ")
    return bool(_RE_RECEIVING_PAY.search(norm)) and not says_already_paid(text)


# "Why do I still owe / why didn't insurance cover it / how come I pay anything, I'm insured": the answer
# is the statement's insurance math (billed, allowed, written off, paid, the patient's share), not the
# bare balance or the claim's status.
_INSURER = (
    r"(?:insurance|ins|insurer|aetna|cigna|humana|medicare|medicaid|blue cross\w*|bcbs|united ?healthcare|uhc"
    r"|kaiser|anthem|tricare|seguro|aseguranza|hmo|ppo)"
)
_RE_WHY_OWED = re.compile(
    # "I met my deductible, so how am I still owing", "how is there still a balance after insurance": a how
    # that asks why something is still owed
    r"\bhow (?:am|are|is|s|do|does|can|could) (?:i|we|there|it)\b(?! (?:pay|send|make|get))[\w\s]{0,30}?"
    r"\bstill\b[\w\s]{0,12}?"
    r"\b(?:owe|owing|a balance|balance|due|left|have to pay|need to pay|paying|charged|billed|on me)\b"
    # "how come aetna covered zero of the visit", "why did insurance pay nothing": the insurer paid none of it
    rf"|\b(?:why|whys|how come)\b[\w\s]{{0,40}}?\b{_INSURER}\b[\w\s]{{0,12}}?"
    r"\b(?:cover\w*|paid|pay|pays|pick\w* up) (?:zero|nothing|none|0|squat"
    r"|not (?:a|one) (?:penny|cent|dime|dollar|thing)|a single (?:penny|cent|dime|dollar))\b"
    r"|\b(?:why|whys|how come|what for|porque|por que)\b[\w\s]{0,40}?"
    r"(?:\b(?:still )?(?:owe|owing|have to pay|need to pay|paying|pay anything"
    r"|(?:got|get|getting) (?:a|this|these|another) (?:bill|bills|statement)"
    r"|(?:getting|being|get|got|been) (?:charged|billed)"
    r"|(?:a|an|any|this|the|that) (?:balance|bill|amount)|left (?:to pay|over)|debo|tengo que pagar|me cobran"
    # "por qué me llegó esta cuenta si tengo Medicare": a bill that came although insured
    r"|(?:me )?(?:llego|llegaron|mandaron|enviaron|cobraron|recibi) (?:esta|una|la|otra|estas|esa|esas)"
    r" (?:cuenta|cuentas|factura|facturas|cobro|cobros))\b"
    rf"|\b(?:{_INSURER}|plan)\b[\w\s]{{0,25}}?\b(?:not|n t|didn t|didnt|did not|doesn t"
    r"|doesnt|wont|won t|no)\b[\w\s]{0,15}?\b(?:pay|paying|cover|covered|covering|paid|pago|cubrio|cubre)\b"
    r"|\b(?:not|didn t|didnt|did not|doesn t|doesnt|wont|won t|no)\b[\w\s]{0,10}?"
    rf"\b{_INSURER}\b[\w\s]{{0,15}}?\b(?:pay|paying|cover|covered|covering|paid|pago|cubrio|cubre)\b"
    # "why didn't they cover the whole visit": in a question of this bill, "they" that cover or pay are the
    # insurer
    r"|\bthey\b(?: \w+)?? (?:not|didn t|didnt|did not|don t|dont|doesn t|won t|wont|wouldn t|never)"
    r"(?: \w+)?? (?:pay|cover|covered|paid)\b"
    r"|\b(?:didn t|didnt|don t|dont|won t|wont|wouldn t|haven t|havent|hasn t) they(?: \w+)??"
    r" (?:pay|cover|paid)\b)"
    r"|\b(?:thought|supposed to|should have|should of)\b[\w\s]{0,25}\b(?:insurance|seguro)\b[\w\s]{0,20}"
    r"\b(?:cover\w*|pay|paid)\b"
    r"|\b(?:insurance|seguro)\b[\w\s]{0,20}\b(?:supposed to|should have|should of|was to)\b[\w\s]{0,10}"
    r"\b(?:cover\w*|pay|paid)\b"
    r"|\b(?:why|how come)\b[\w\s]{0,30}\b(?:money|something|anything) (?:left|still due|to pay"
    r"|(?:still )?(?:due|owed|owing) (?:from|by) (?:me|us))\b"
    # "insurance paid, so what's the 30 dollars for?", "what is the $40 charge for": an amount owed, asked why
    r"|\bwhat(?: s| is| was|s) (?:the|that|this|my) (?:\$ ?\d[\d.,]*|\d[\d.,]* (?:dollars?|bucks))"
    r"(?: \w+)? for\b"
    r"|\b(?:why|how come)\b[\w\s]{0,40}?\b(?:insurance|insurer|plan|seguro)\b[\w\s]{0,20}?"
    r"\b(?:only|just|partly|partially|barely)\b[\w\s]{0,10}?\b(?:pay|paid|cover|covered|picked up)\b"
    r"|\b(?:why|how come)\b[\w\s]{0,40}?\b(?:insurance|insurer|plan|seguro)\b[\w\s]{0,10}?"
    r"\b(?:paid|covered|picked up)\b (?:only|just|barely) (?:part|some|a portion|a bit|half|a fraction)\b"
    # "what is this leftover amount I'm being asked to pay": the rest after insurance, asked about
    r"|\bwhat(?: s| is|s| was) (?:this|that|the) (?:leftover|left over|remaining|extra|additional)"
    r" (?:amount|balance|charge|bill|money|part)\b"
    # "humana paid for the visit but not the biopsy??", "they covered the office visit but not the lab": one
    # line paid, another not, asked about
    rf"|\b(?:{_INSURER}|they|it)\b[\w\s]{{0,12}}?\b(?:paid|covered|pago|cubrio)\b[\w\s]{{0,40}}?"
    r"\b(?:but not|but didn t|but didnt|but did not|but wouldn t|pero no)\b"
    # "why wasn't it fully covered by our plan", "how come the visit isn't paid in full"
    r"|\b(?:why|whys|how come|por que|porque)\b[\w\s]{0,40}?\b(?:wasn t|wasnt|was not|isn t|isnt|is not"
    r"|weren t|werent|were not|not)\b(?: \w+){0,2}? (?:fully|completely|totally|entirely|all the way|100 ?%?"
    r"|100 percent) (?:covered|paid)\b"
    r"|\b(?:why|whys|how come)\b[\w\s]{0,40}?\b(?:wasn t|wasnt|was not|isn t|isnt|is not|weren t|werent"
    r"|were not)\b(?: \w+){0,2}? (?:covered|paid) (?:in full|100 ?%?|100 percent|all the way)\b"
)


# The same question put in parts, anywhere in a message: insurance is named, the patient's own share is
# named ("stuck with this bill", "what part is mine", "on me", "left for me") and the message asks why or
# how ("how is it that", "explain", "break it down") or says insurance did not pay it all ("only covered
# part", "didn't cover all of it", "instead of insurance", "isn't that what I pay premiums for").
_RE_INSURANCE_NAMED = re.compile(
    r"\b(?:insurance|insurer|insured|insurances|coverage|premiums?|health plan|seguro|aseguranza)\b"
)
_RE_OWN_SHARE = re.compile(
    r"\b(?:owe|owes|owing|(?:have|need|got) to pay|paying|stuck with|on me|mine|my (?:part|share|portion)"
    r"|the (?:part|portion|share|rest|remainder)|left (?:for|to|on) me|left over|leftover|money from me"
    r"|(?:bill|billed|billing|charge|charged|charging|send|sending|sent) me|(?:a|this|the|that|my) bill"
    r"|(?:getting|get|got|gets) (?:a |another )?(?:bill|bills|billed|charged|statement)"
    r"|(?:a|this|the|that|my) balance|what s left|whats left|what is left|remaining|me toca|debo"
    r"|so (?:much|high|expensive))\b"
)
_RE_WHY_OR_SHORT = re.compile(
    r"\b(?:why|whys|how come|how is it|how s it|hows it|explain\w*|break (?:it|this|that) down|what part"
    r"|which part|what portion|instead of|isn t that what|isnt that what|thought|supposed to"
    r"|por que|porque)\b"
    r"|\b(?:didn t|didnt|did not|doesn t|doesnt|don t|dont|won t|wont|wouldn t|not|no|only|just|partly)"
    r"\b(?: \w+){0,3}? (?:pay|pays|paid|cover|covers|covered|pago|cubrio|cubre)\b"
    r"|\bwhat (?:did |does |has )?(?:my |the )?(?:insurance|insurer|seguro) (?:pay|paid|cover|covered)\b"
)
# A denial or a change of insurance is asked about in its own right ("why was my claim denied", "I have
# new insurance, why am I billed"): those keep their own answers.
_RE_DENIAL_WORD = re.compile(
    r"\b(?:den(?:y|ied|ies|ial\w*)|reject\w*|declin(?:e|ed|es|ing)|negad\w*|nego|negaron|neg[oó] pagar"
    r"|rechaz\w*)\b"
    # "Medicare turned down some of my charges"
    r"|\b(?:insurance|insurer|medicare|medicaid|plan|they|it|claim|charges?|services?) (?:\w+ )?"
    r"(?:turned|turns|turning) (?:it |them |this |that |\w+ )?down\b"
    # an insurer that "refused" a service ("the services Medicare refused"); a patient refusing a test is not
    r"|\b(?:insurance|insurer|medicare|medicaid|aetna|cigna|humana|tricare|anthem|kaiser|bcbs|blue cross"
    r"|united ?healthcare|uhc|payer|plan) (?:\w+ )?refus\w*"
)
_RE_INSURANCE_CHANGE = re.compile(
    r"\b(?:new|changed|change|switch\w*|update\w*|different|wrong|old|expired|lapsed) (?:my )?"
    r"(?:insurance|insurer|coverage|seguro)\b|\b(?:insurance|coverage) (?:changed|on file|info\w*|card)\b"
)


# Words of the insurance math that patients misspell ("coevred", "insurnace", "deductbile"): a word one edit
# away with the same first letter reads as the word.
_COVERAGE_WORDS = ("covered", "cover", "insurance", "deductible", "coverage", "premiums", "charged", "billed")


def _repair_coverage_words(norm: str) -> str:
    return repair_words(norm, _COVERAGE_WORDS, shortest=5)


# Words a voice dictation writes for their homophones ("why is their still money do from me"): "their"
# before a verb is "there", "do" after the money owed is "due".
_RE_THEIR_THERE = re.compile(r"\btheir (?=(?:is|s|was|are|were|still)\b)")
_RE_DO_DUE = re.compile(r"\b(money|amount|balance|anything|something|payment|bill) (?:do|dew)\b")


def _homophones_repaired(norm: str) -> str:
    return _RE_DO_DUE.sub(r"\1 due", _RE_THEIR_THERE.sub("there ", norm))


def asks_why_owed(text: str) -> bool:
    """The patient asks why a balance remains after insurance, however it is put."""
    norm = _homophones_repaired(_repair_coverage_words(normalize(text).replace("'", " ")))
    if _RE_WHY_OWED.search(norm):
        return True
    return bool(
        _RE_INSURANCE_NAMED.search(norm)
        and _RE_OWN_SHARE.search(norm)
        and _RE_WHY_OR_SHORT.search(norm)
        and not _RE_DENIAL_WORD.search(norm)
        and not _RE_INSURANCE_CHANGE.search(norm)
    )


# A card or a payment declined is no denied claim ("my card got declined paying this statement").
_RE_CARD_DECLINED = re.compile(
    r"\b(?:card|cards|payment|transaction|debit|visa|mastercard|amex|discover|bank)\b(?: \w+){0,3}? declin\w*"
)
_DENIAL_WORDS = ("denied", "declined", "negaron", "negado", "negada", "rejected", "rechazado", "rechazada")


def names_a_denial(text: str) -> bool:
    """Words of a denied, rejected or declined claim ("why was it denied", "the lines Medicare declined"), a
    typo in the longer ones repaired ("me negaorn la resonancia"); a declined card is none."""
    norm = repair_words(normalize(text), _DENIAL_WORDS, shortest=6)
    return bool(_RE_DENIAL_WORD.search(_RE_CARD_DECLINED.sub(" ", norm)))


def names_an_insurance_change(text: str) -> bool:
    """New, changed or wrong insurance on file ("I have new insurance", "update my coverage")."""
    return bool(_RE_INSURANCE_CHANGE.search(normalize(text).replace("'", " ")))


_RE_THE_PLAN = re.compile(
    r"\b(?:the|my|that|this|our|a) (?:payment |monthly |installment )?plan\b"
    r"(?! (?:covers?|covered|pays?|paid|picked|only|just|insurance))"
    r"|\b(?:payment plan|installments?|monthly payments|el plan|del plan|al plan|ese plan|este plan"
    r"|plan de pagos|las cuotas|los pagos mensuales|las mensualidades)\b"
)
_RE_INSURANCE_PLAN = re.compile(
    r"\b(?:insurance|health|dental|medicare|medicaid|seguro) plan\b|\bcover"
    r"|\bplan (?:de|del) (?:mi |su )?(?:seguro|salud|aseguranza)\b|\bcubr\w*"
)


def names_the_plan(text: str) -> bool:
    """The words name a payment plan ("so what about the plan?", "back to the installments", "the paymnet
    plan"), not an insurance plan ("does my plan cover this")."""
    norm = repair_words(normalize(text).replace("'", " "), (*_MONTHLY_WORDS, "payment"), shortest=6)
    return bool(_RE_THE_PLAN.search(norm)) and not _RE_INSURANCE_PLAN.search(norm)


# Words that name this practice's bill beyond doubt: the patient's own statement, bill, deductible, copay
# or coinsurance ("my newest sttaement", "how much is my bil"), or a letter from the practice itself
# ("one envelope is from your office"). A message carrying one is about the bill, whatever an encoder
# trained on everyday text makes of the rest ("what's the damage", "how far along am I").
_ANCHOR_WORDS = ("statement", "statements", "deductible", "deductibles", "coinsurance", "copay", "copays")
_ANCHOR_SHORT = frozenset({"bill", "bills", "bil", "bils", "eob", "eobs", "copay", "copays"})
# "my most recent statement", "my very last bill": a degree word may come before the one word between.
_RE_ANCHOR_LEAD = re.compile(
    r"\b(?:my|your|ur|our|this|these)\s+(?:(?:most|very)\s+)?(?:(?:\w+)\s+)?([a-z]+)\b"
)


def names_a_procedure_code(text: str) -> bool:
    """ "What is code 99213", "whats cpt 76856 on my bill": a line of the bill asked about by its code."""
    return bool(RE_PROCEDURE_CODE.search(normalize(text)))


_RE_FROM_THE_PRACTICE = re.compile(
    r"\b(?:letter|envelope|bill|bills|statement|notice|something|mail|invoice)\b[\w\s]{0,12}?\bfrom "
    r"(?:you guys|you all|you folks|you people|y all|yall|your office|ur office|your clinic|ur clinic"
    r"|your practice|the clinic"
    r"|the doctor s office|the doctors office|your billing)\b"
    r"|\b(?:co ?pay|co-pay|coinsurance|deductible|out of pocket max\w*|explanation of benefits)\b"
    # the insurer paying for the patient's care ("did aetna pay my last visit yet")
    r"|\b(?:insurance|insurer|aetna|cigna|humana|medicare|medicaid|blue cross\w*|bcbs|united ?healthcare|uhc"
    r"|kaiser|anthem|tricare)\b[\w\s]{0,20}?\b(?:pay|paid|pays|cover|covered|covers|process\w*)\b[\w\s]{0,20}?"
    r"\b(?:visit|visits|claim|claims|appointment|surgery|procedure|test|tests|labs?|bill|checkup|physical)\b"
    # a procedure code asked about ("whats code 76856", "what is cpt 99213", "hcpcs g0439")
    r"|" + RE_PROCEDURE_CODE.pattern
)


# A statement number as the practice prints it ("S-105367", "statement #104233").
_RE_STATEMENT_NUMBER = re.compile(
    r"\bs ?\d{5,8}\b|\b(?:statement|stmt|invoice) (?:number |no |num )?\d{4,8}\b"
)


def names_the_practice_bill(text: str) -> bool:
    """Whether the words name the patient's own bill with this practice beyond doubt (a one-letter typo
    in the longer words tolerated, or a statement number); see ``_ANCHOR_WORDS``."""
    norm = normalize(text).replace("'", " ")
    if _RE_FROM_THE_PRACTICE.search(norm) or _RE_STATEMENT_NUMBER.search(norm):
        return True
    for m in _RE_ANCHOR_LEAD.finditer(norm):
        for word in m.group(0).split()[1:]:
            if word in _ANCHOR_SHORT:
                return True
            if len(word) >= 6 and any(edit_distance(word, w, 1) <= 1 for w in _ANCHOR_WORDS):
                return True
    return False


# How much of the deductible (or the out-of-pocket maximum) is met or left: the coverage's progress, not
# the balance.
_RE_DEDUCTIBLE = re.compile(r"\b(?:deductible|deducible|out of pocket|oop)\b")
_RE_PROGRESS = re.compile(
    r"\b(?:how (?:much|far|close)|met|meet|used|left|remaining|remain|reached|hit|progress|toward|towards"
    r"|so far|chipped|already|satisfied|cuanto|falta|llevo)\b"
)


def asks_deductible_progress(text: str) -> bool:
    """ "How much of my deductible have I met", "how far along am I on my deductible": the coverage's
    progress (the deductible met and left), asked for on its own."""
    norm = _repair_coverage_words(normalize(text).replace("'", " "))
    return bool(_RE_DEDUCTIBLE.search(norm) and _RE_PROGRESS.search(norm)) and not asks_why_owed(text)


# "caught up on the new season", "clear everything from my phone": the words are about something else.
_NOT_ELSEWHERE = (
    r"(?! (?:on|for|in|at|from|off) "
    r"(?!(?:my|the|this|our) (?:bill|account|balance|payments?|statements?)\b))"
    r"(?! with (?!(?:you|y all|your|the (?:office|clinic|practice))\b))"
)
# The balance asked without the word, in ways an encoder trained on everyday text reads as chat: "what's
# the total I still have outstanding with you", "if I wanted to clear everything what would the number
# be", "am I all square now", "where does my account stand money-wise". A word one typo away from
# "account" or "outstanding" counts as the word.
_RE_OWED_QUESTION = re.compile(
    # Spanish: "¿tenemos que pagar algo de esa consulta?", "¿debo algo todavía?", "¿queda algo por pagar?"
    r"\b(?:tenemos|tengo|hay) que pagar algo\b|\b(?:debo|debemos|le debo|le debemos) algo\b"
    r"|\bqueda algo (?:por|de|que) pagar\b|"
    # "so whats the total now?": in the billing office's chat, the total owed
    r"\bwhat(?: s| is|s)? (?:the|my) (?:total|grand total|bottom line)(?: (?:now|then|due|owed|amount|balance"
    r"|i owe|we owe|altogether|all together))?\W*$|"
    r"\b(?:total|amount|balance|money|much|anything|something|what)\b[\w ]{0,30}\b(?:still )?"
    r"(?:outstanding|owing)\b"
    r"|\boutstanding (?:with|to) (?:you|y all|your office|the (?:office|clinic|practice))\b"
    # "what's my part after all that", "ok so how much is mine then": the patient's share, after insurance
    r"|\b(?:what(?: s| is|s)?|how much is) my (?:part|share|portion|piece|end)(?: (?:now|then|after (?:all )?"
    r"(?:that|this|insurance|them|it)|left|of (?:it|this|that|the bill)))*\W*$"
    r"|\bhow much (?:is|s) (?:mine|left for me|on me)(?: (?:now|then))?\W*$"
    r"|\b(?:am i|are we|is (?:my|the) (?:account|bill|balance))(?: \w+)? (?:all )?(?:square|squared|paid up|"
    r"caught up|settled up|in the clear|all paid|paid off|even)\b"
    + _NOT_ELSEWHERE
    + r"|\b(?:clear|pay off|settle|wipe out|pay) (?:off )?(?:everything|it all|all of it"
    r"|the whole (?:thing|lot)|my whole (?:account|balance|bill))\b" + _NOT_ELSEWHERE + r"[\w ]{0,40}"
    r"\b(?:number|total|amount|how much|cost|figure)\b"
    r"|\b(?:number|total|amount|how much|figure)\b[\w ]{0,40}\b(?:clear|pay off|settle|wipe out) "
    r"(?:off )?(?:everything|it all|all of it|my whole (?:account|balance|bill))\b"
    r"|\b(?:where|how) (?:does|do|is) my (?:account|acct|balance) (?:stand|look|looking|sit)\b"
    r"|\bwhat(?: s| is)? the damage\b|\bhow bad is the damage\b"
    # the formal word: "the amount I am to remit", "how much should I remit"
    r"|\b(?:amount|sum|how much|what)\b[\w ]{0,30}\bremit\b"
    # "What is the money I need give?", "how much money I must pay": the amount owed, in plain words
    r"|\b(?:what|how much)\b[\w ]{0,15}\b(?:money|amount)\b[\w ]{0,10}\b(?:i|we)"
    r" (?:need|have|must|got|should)(?: to)? (?:give|pay|send)\b"
    # Spanish: "quisiera saber el saldo de mi cuenta", "cuánto le debo", "lo que tengo que pagar"
    r"|\b(?:saber|decir|decirme|dime|digame|cual es|consultar|ver|revisar|checar)\b[\w ]{0,12}"
    r"\b(?:el|mi) saldo\b"
    r"|\bcuanto (?:le |les )?(?:debo|debemos|tengo que pagar|hay que pagar)\b|\blo que (?:le |les )?debo\b"
    # "¿cuánto me falta pagar?", "lo que nos queda por pagar": what is still owed
    r"|\b(?:cuanto|lo que) (?:me |nos )?(?:falta|faltan|queda|quedan) (?:por |de )?pagar\b"
    r"|\b(?:what|how much) (?:am i|are we|is my|i m|im) (?:still )?on the hook for\b"
    r"|\bhow much (?:am i|i m|im|are we|we re|do i|should i|would i) (?:supposed|meant|expected|going|gonna)"
    r"(?: to)? (?:send|pay|give|mail)(?: you| y all| your office)?\b"
    # "just making sure I don't owe anything", "do I still owe you anything", "is anything still due"
    r"|\b(?:making sure|make sure|checking|check|confirm\w*|verify\w*|see if|sure) (?:that )?(?:i|we) "
    r"(?:don t|dont|do not) (?:still )?owe\b"
    r"|\b(?:do|did) (?:i|we) (?:still )?owe (?:you |y all |your office )?(?:anything|something|money)\b"
    r"|\b(?:is|s) (?:there )?(?:still )?(?:anything|something) (?:still )?(?:due|owed|outstanding)\b"
    # "is there anything left on my account?", "anything still remaining with you guys": nothing else named
    r"|(?:\b(?:is|s) (?:there )?|^)(?:still )?(?:anything|something|any money|any balance) (?:still )?"
    r"(?:left|remaining)(?: (?:to pay|to be paid|for (?:us|me) to pay"
    r"|on (?:my|the|our) (?:account|acct|bill|balance|statement|tab)"
    r"|(?:with|for) (?:you|y all|you guys|your office|the (?:office|clinic|practice))))?\W*$"
    r"|\bthe total (?:i|we) (?:still )?(?:owe|have|need to pay|have to pay)\b"
    # "what does it all add up to", "what's my medical bill come to", "how much does everything total"
    r"|\b(?:what|how much)(?: (?:does|do|did|will|would|is|s)|s)? (?:it|that|this|everything|it all|all of it"
    r"|they|my (?:medical |doctor |hospital )?(?:bill|bills|balance|account|charges|total)"
    r"|the (?:bill|bills|charges|total))(?: all)? (?:come|comes|came|add|adds|added|amount|amounts|total"
    r"|totals) (?:up )?(?:to)?\W*$"
    # "when is it due", "and when was that due?"
    r"|\bwhen (?:is|was|s|will) (?:it|that|this|my (?:bill|balance|payment|statement)"
    r"|the (?:bill|balance|payment|statement)) (?:all )?due\b"
    r"|\b(?:left|still|owe|on|what s|whats|what is|how much is) (?:on )?my tab\b"
    # "what's the total on my knee surgery", "how much is the full amount for the MRI": care named
    r"|\b(?:what s|whats|what is|how much is|tell me) (?:the|my) (?:total|grand total|full amount|amount"
    r"|full cost|cost) (?:on|for|of) (?:my|the|this|that) (?:\w+ ){0,2}?(?:surgery|operation|procedure|visit"
    r"|appointment|treatment|tests?|labs?|x ?rays?|mri|scan|ct|ultrasound|er|stay|care|checkup|physical"
    r"|bill|bills|account|injection|therapy)\b"
    # "what am I at with you guys", "where do I stand with your office"
    r"|\b(?:what|where) (?:am i|are we|i m|im|we re) at with (?:you|y all|you guys|you all|your office"
    r"|the (?:office|clinic|practice))\b"
    r"|\b(?:what|where) (?:am i|are we) at(?: (?:right )?now| currently| today)?$"
    r"|\bwhere do (?:i|we) stand with (?:you|y all|you guys|you all|your office|the (?:office|clinic"
    r"|practice))\b"
    r"|\b(?:am i|are we|is my account|is everything)(?: \w+)? (?:all set|good to go|all good|squared away"
    r"|all squared away|in good standing)\b" + _NOT_ELSEWHERE
)
# "so that means I'm all set?", "great so I'm all squared away then?": a question only with its mark.
_RE_ALL_SET = re.compile(
    r"\b(?:so|then|that means|which means|meaning|means|great|ok|okay)\b(?: \w+){0,2}? (?:i m|im|i am|we re"
    r"|we are|i|we)(?: (?:now|then|totally|completely|fully))? (?:all set|good to go|all good|good|square"
    r"|squared away|all squared away|in the clear|paid up|paid off|settled|clear)"
    r"(?: (?:now|then|right|yeah|too|with you|with y all|with you guys|on my end|on everything))?$"
)
_OWED_WORDS = ("account", "outstanding")


def asks_what_is_owed(text: str) -> bool:
    """Whether the words ask what is owed on this practice's account without naming the balance as such
    (see ``_RE_OWED_QUESTION``); another creditor's bill is not this."""
    norm = normalize(text).replace("'", " ")
    norm = repair_words(norm, _OWED_WORDS, shortest=6, same_first=False)
    all_set = bool(_RE_ALL_SET.search(norm)) and text.rstrip().endswith("?")
    return bool(all_set or _RE_OWED_QUESTION.search(norm)) and not names_other_creditor(text)


# The balance asked for bare ("can someone check my balance", "tell me my current balance", "balance due?"):
# in the billing office's own channel that is this practice's balance, unless the words name a bank, a card,
# points or another account ("my checking balance", "the balance in my pnc account", "gift card balance").
_RE_OWN_BALANCE = re.compile(
    r"\b(?:my|the|our|current|account|acct|total|outstanding|remaining|whole|full|entire)\s+bal(?:ance)?\b"
    r"|\bbalance (?:due|owed|owing|left|i owe|remaining)\b|^\W*balance\W*$"
)
_RE_OTHER_BALANCE = re.compile(
    r"\b(?:bank\w*|checking|savings?|debit|credit|cards?|gift|points?|miles|rewards?|pto|vacation|sick|leave"
    r"|401k|ira|hsa|fsa|paypal|venmo|cash app|wallet|loans?|mortgage|money market|invest\w*|brokerage"
    r"|stocks?|portfolio|crypto\w*|bitcoin|payroll|minutes|data plan|transit|metro|subway|toll|fare|meal"
    r"|lunch|tuition|student|car|auto|phone|scale|energy|visa|mastercard|amex|discover|work ?life"
    r"|hormone\w*|chemical|electrolyte\w*)\b"
    r"|\b(?:in|at|with|from|on) (?:my |the |our )?(?!(?:account|acct|bill|statement)\b)\w+ (?:account|acct)\b"
)


def asks_own_balance(text: str) -> bool:
    """Whether the words ask for the balance with no other account named; see ``_RE_OWN_BALANCE``."""
    norm = normalize(text).replace("'", " ")
    return (
        bool(_RE_OWN_BALANCE.search(norm))
        and not _RE_OTHER_BALANCE.search(norm)
        and not names_other_creditor(text)
    )


# A sentence about another creditor, then a question of this bill asked apart from it ("my car loan went
# to collections last week. anyway what's my balance here?", "court date for my speeding ticket and money
# is tight, when is your bill due?"): the question is this practice's. A question that points back ("what
# do I owe on it") is not apart.
_RE_CLAUSE_BREAK = re.compile(
    r"(?<=[.!?;])\s+|\n+|,\s*(?=(?:when|what|how|where|why|is|are|do|does|can|could)\b)"
    r"|\b(?:anyway|anyways|but)\b"
    r"|\b(?:and also|also|and|plus)\b(?=\s+(?:what|whats|what s|how|when|where|can|could|is|are|do|does)\b)",
    re.IGNORECASE,
)
_RE_POINTS_BACK = re.compile(r"\b(?:it|that|them|those|they)\b")


# An answer put off ("ok I'll ask my wife first", "let me think about it", "I'll have him call", "maybe
# later"): whatever yes it starts with, it agrees to nothing yet.
_RE_DEFERS = re.compile(
    r"\b(?:ask|check with|talk to|talk with|run it by|run this by|see with) (?:my |the )?(?:wife|husband"
    r"|spouse|partner|son|daughter|mom|mother|dad|father|family|kids|boss)\b"
    r"|\b(?:let me|i ll|ill|i will|i need to|i have to|i gotta|gotta|have to) (?:think|check|ask|get back"
    r"|sleep on|wait)\b"
    r"|\b(?:i ll|ill|i will|he ll|she ll|they ll|we ll) (?:have \w+ )?(?:call|phone|come in|stop by)\b"
    r"|\bmaybe later\b|\bnot (?:yet|now|today|right now)\b|\bfirst\W*$|\bpor ahora no\b|\bdespues\b"
)


def defers_the_answer(text: str) -> bool:
    """Whether the words put the answer off; see ``_RE_DEFERS``."""
    return bool(_RE_DEFERS.search(normalize(text).replace("'", " ")))


def names_this_practice(text: str) -> bool:
    """Whether the words name this practice or its bill ("my medical bill", "what I owe you", "your
    office", "statement S-104373")."""
    norm = normalize(text).replace("'", " ")
    return bool(_RE_THIS_PRACTICE.search(norm)) or names_the_practice_bill(text)


def asks_this_bill_apart(text: str) -> bool:
    """Whether the message's last part asks of this bill, apart from another creditor's bill named
    before it; see ``_RE_CLAUSE_BREAK``. Only questions are answered this way (no link, plan or ticket)."""
    if not names_other_creditor(text):  # cached; most messages stop here, unsplit
        return False
    parts = [p for p in _RE_CLAUSE_BREAK.split(text) if p.strip()]
    if len(parts) < 2:
        return False
    last = parts[-1]
    if names_other_creditor(last) or _RE_POINTS_BACK.search(normalize(last).replace("'", " ")):
        return False
    return names_the_practice_bill(last) or asks_what_is_owed(last) or asks_own_balance(last)


# A second insurance asked about ("has my secondary been billed", "shouldn't my backup insurance pick up
# the rest", "did you send it to my other insurance"): the secondary claim's status.
_RE_SECONDARY = re.compile(
    r"\b(?:second(?:ary)?|2nd|backup|back up|other|supplement\w*|medigap|extra) (?:insurance|insurer|plan"
    r"|coverage|policy|one)\b|\b(?:2|two|both) (?:insurances|insurance plans|insurers|policies)\b"
)
_RE_SECONDARY_ASK = re.compile(
    r"\b(?:bill\w*|sent|send|submit\w*|pick\w* up|cover\w*|pay|paid|claim\w*|file\w*|process\w*|about"
    r"|status|question|update)\b"
)
_SECONDARY_WORDS = ("backup", "secondary", "supplemental", "insurance")


def asks_about_secondary(text: str) -> bool:
    """Whether the words ask what a second insurance was billed or paid; see ``_RE_SECONDARY``."""
    norm = repair_words(normalize(text).replace("'", " "), _SECONDARY_WORDS, shortest=6)
    return bool(_RE_SECONDARY.search(norm) and _RE_SECONDARY_ASK.search(norm))


# What an insurance term means ("what's coinsurance", "what does deductible mean"): its definition, with the
# patient's own figures, even when a why follows ("whats coinsurance and why am i paying it").
_RE_TERM_MEANING = re.compile(
    r"\bwhat(?:s| s| is| does| do| are)? (?:a |an |the |my |this )?(?:co ?insurance|deductibles?|co ?pays?"
    r"|out of pocket max\w*|allowed amount|write ?off|adjustment|eob|explanation of benefits)"
    r"(?: mean\w*| stand for| exactly)?\b"
    r"|\b(?:co ?insurance|deductible|co ?pay|allowed amount)\b[\w ]{0,20}\bwhat (?:does|do) (?:that|it|this)"
    r" mean\b"
)


def asks_what_a_term_means(text: str) -> bool:
    """Whether the words ask what an insurance term means; see ``_RE_TERM_MEANING``."""
    return bool(_RE_TERM_MEANING.search(normalize(text).replace("'", " ")))


# A change to the details on file named outright ("I moved, need to update my address", "new insurance
# card", "my phone number changed"): the practice's records, whatever an everyday-text encoder makes of it.
_RE_DETAILS_CHANGE = re.compile(
    r"\b(?:update|change|changed|correct|fix)\w* (?:my |our )(?:mailing |home |billing |email )?"
    r"(?:address|phone number|phone|cell number|e ?mail(?: address)?|last name|contact info\w*)\b"
    r"|\bmy (?:address|phone number|e ?mail|last name) (?:has |is )?(?:changed|is different|is wrong)\b"
)
# Records kept elsewhere ("change my address with the post office", "at the DMV", "on my bank account").
_RE_DETAILS_ELSEWHERE = re.compile(
    r"\b(?:post office|usps|dmv|passport|license|licence|bank|amazon|netflix|uber|employer|school|voter"
    r"|irs|social security|facebook|instagram|google|apple|account settings|app)\b"
)


def names_a_details_change(text: str) -> bool:
    """Whether the words name a change to the details on file; see ``_RE_DETAILS_CHANGE``."""
    norm = normalize(text).replace("'", " ")
    return (
        bool(_RE_DETAILS_CHANGE.search(norm))
        and not _RE_DETAILS_ELSEWHERE.search(norm)
        and not names_other_creditor(text)
    )


# A breakdown asked for ("can you break down what I'm paying for", "itemize it"): an explanation.
_RE_BREAKDOWN = re.compile(r"\bbreak\w* (?:\w+ ){0,3}?down\b|\bbreakdown\b|\bitemi[sz]\w*")


def asks_for_breakdown(text: str) -> bool:
    """Whether the words ask for the bill broken down; see ``_RE_BREAKDOWN``."""
    return bool(_RE_BREAKDOWN.search(normalize(text).replace("'", " ")))


# Paying another way than a link ("I'll pay by mail", "I'll send a check", "I'll pay at my next visit"):
# no link is asked for.
_RE_PAYS_ANOTHER_WAY = re.compile(
    r"\bpay(?:ing)? (?:it |this |that |the (?:bill|balance) )?(?:by|via|with|through|over|in) (?:the )?"
    r"(?:mail|check|cheque|phone|cash|money order|person)\b"
    r"|\b(?:send|mail|mailing|sending) (?:you |y all )?(?:a |the )?(?:check|cheque|money order)\b"
    r"|\bpay (?:it |this |that )?(?:at|during) (?:my |the )?(?:next )?(?:visit|appointment)\b"
)


# The patient says outright they want to pay all of it now ("I should like to pay the whole of what I owe
# now", "I want to pay everything I owe today", "I'd like to settle my balance in full"): the wish, then the
# whole of what is owed as what is paid.
_RE_WISH_TO_PAY = re.compile(
    r"(?:\b(?:i|we) |^\W*)(?:would like|d like|should like|would love|d love|want|wanna|wish|need|am ready"
    r"|m ready|are ready|intend|mean|(?:was|am|m|were|are) hoping|hope|(?:was|am|m) wondering if (?:i|we)"
    r" (?:could|can|might))"
    r"(?: (?:i|we) (?:might|could|can))?(?: be able)? to (?:just |go ahead and )?"
    r"(?:pay|settle|clear|take care of|pay off)\b(?P<rest>.*)$"
)
# "if that is something you are able to set up", "if possible": a courtesy, no condition on paying
_RE_POLITE_IF = re.compile(
    r"\bif (?:that|this|it) (?:is|s|would be|were|works|is something)\b.*$"
    r"|\bif (?:possible|you can|you could)\b"
)
_RE_ALL_OWED = re.compile(
    r"^(?: off| up)? (?:the whole(?: of)?\b.*|in full\b.*|everything\b.*|all of (?:it|what)\b.*"
    r"|all (?:i|we) owe\b.*|what (?:i|we) owe\b.*|(?:it|this|that) (?:all|off|in full)\b.*"
    r"|(?:the|my|our) (?:full |entire |whole |total |outstanding |remaining )?(?:balance|bill|account|amount"
    r"|amount due|amount owed)\b.*)$"
)
_RE_NOT_NOW = re.compile(
    r"\b(?:later|tomorrow|next (?:week|month|friday|time)|when i (?:get|am) paid|payday|paycheck|someday"
    r"|eventually|soon|by (?:mail|check|phone)|in person|but|if|once)\b"
)


def wants_to_pay_all_now(text: str) -> bool:
    """The patient asks to pay the whole of what is owed, now (no later date, no other way, no "but")."""
    norm = _RE_POLITE_IF.sub(" ", normalize(text).replace("'", " "))
    wish = _RE_WISH_TO_PAY.search(norm)
    return (
        wish is not None
        and bool(_RE_ALL_OWED.match(wish["rest"]))
        and not _RE_NOT_NOW.search(norm)
        and not declines_paying(text)
        and not pays_another_way(text)
        and not asks_to_pay_over_time(text)
    )


def pays_another_way(text: str) -> bool:
    """Whether the words say the patient will pay another way than a link; see ``_RE_PAYS_ANOTHER_WAY``."""
    return bool(_RE_PAYS_ANOTHER_WAY.search(normalize(text).replace("'", " ")))


# A charge the patient wants taken off ("I want those charges taken off", "remove this from my bill"): with
# words contesting it, a charge dispute.
_RE_REMOVE_CHARGE = re.compile(
    r"\b(?:take|taken|taking|remove|removed|drop|dropped|wipe|wiped|get rid of|strike|delete)\b"
    r"(?: \w+){0,3}? (?:off|charges?|from (?:my|the) (?:bill|statement|account))\b"
)


def asks_to_remove_a_charge(text: str) -> bool:
    """Whether the words ask for a charge to be taken off; see ``_RE_REMOVE_CHARGE``."""
    return bool(_RE_REMOVE_CHARGE.search(normalize(text).replace("'", " ")))


# Asking to pay in parts ("can I pay it monthly", "split it into installments", "a payment plan", "spread it
# out"); the premium paid every month ("I pay my premiums every month", "I pay for insurance every month")
# is no such request.
_PART_OBJECT = r"(?:it|this|that|them|(?:the|my|this|that|our) (?:\w+ )?\w+)"
_RE_PAY_OVER_TIME = re.compile(
    r"\b(?:pay|paying|split|spread|break|do)\b[\w ]{0,25}\b(?:monthly|installments?|over time|each month"
    r"|every month|a month|per month|in parts|in chunks)\b"
    r"|\b(?:payment plans?|installments?|plan de pagos|cuotas|monthly payments?|a plazos|en plazos"
    r"|mensualidades|pagos mensuales)\b"
    # Spanish: paying by the month ("¿puedo pagar por mes?", "pagarlo cada mes", "pagos al mes")
    r"|\b(?:pagar|pagarlo|pagarla|pago|pagos|abonar)\b[\w ]{0,15}\b(?:por mes|cada mes|al mes|mensual\w*)\b"
    # "spread this out", "stretch the balance out", "split it up": the bill, in parts
    rf"|\b(?:spread|stretch)(?:ing)? {_PART_OBJECT} out\b"
    rf"|\b(?:split|break)(?:ing)? {_PART_OBJECT} up\b"
    # "a bit each month", "a little at a time", "bit by bit", "some now and the rest later", "chip away at
    # it", "pay it down slowly", "over a few paychecks", "poco a poco": the same request without the usual
    # words
    r"|\b(?:a (?:little|bit|few bucks|little bit)|some|something|small amounts?|smaller amounts?)"
    r" (?:at a time|(?:each|every|per|a) (?:month|week|paycheck|pay ?day|two weeks|other week))\b"
    r"|\b(?:bit by bit|little by little|piece by piece|a piece at a time|poco a poco|en partes|por partes"
    r"|en pagos|in (?:small |smaller |little )?(?:pieces|portions|increments|bits|chunks))\b"
    r"|\b(?:some|part|half|a portion|a little|a bit) (?:of it )?(?:now|today)\b[\w ]{0,20}"
    r"\b(?:later|next month|the rest|rest later|over time)\b"
    rf"|\bchip(?:ping)? away (?:at )?{_PART_OBJECT}"
    rf"|\bpay(?:ing)? {_PART_OBJECT} (?:off |down )?(?:slowly|gradually|over (?:a few|several|some|the next)"
    r"|a little at a time|in steps)\b"
    r"|\b(?:each|every|per) (?:paycheck|pay check|payday|pay day)\b"
    # "can I set up payments for it", "could I make payments on this": payments, plural, asked for
    r"|\b(?:set ?up|start|make|making) (?:some |monthly |small |smaller |regular )?payments\b"
    r"(?! (?:online|by|with|through|here|on (?:the|your) (?:site|portal|website)))"
    r"|\b(?:pay|paying|pagar|pagarlo|pagarla|spread|spreading|stretch|stretching|split|splitting)\b"
    r"[\w ]{0,25}\b(?:over|in|en|across) (?:\d+|two|three|four|five|six|eight|ten|twelve|dos|tres|cuatro"
    r"|cinco|seis|doce) (?:months|meses|payments|pagos|years|anos)\b"
    # a plan named by its length ("the longest plan you have", "a 2 year plan", "a plan over two years")
    r"|\b(?:longest|longer|extended|lengthiest|shortest|cheapest|smallest) (?:possible |available )?"
    r"(?:payment |monthly )?plans?\b"
    r"|\b(?:\d+|one|two|three|four|five|six|twelve|eighteen|twenty four|thirty six) ?(?:year|yr|month|mo)s?"
    r" (?:payment |monthly )?plans?\b"
    r"|\bplans?\b[\w ]{0,40}\b(?:over|for|across|like|about|of|spanning) (?:\d+|one|two|three|four|five|a"
    r"|a couple of) (?:years?|yrs?)\b"
)
_MONTHLY_WORDS = (
    "monthly", "installments", "installment", "payments", "mensualidades", "partes", "plazos", "cuotas",
)  # fmt: skip
# An amount by the month ("$10 a month is all I can do", "twenty bucks every month"), unless the month's money
# is income or another bill ("I make 2000 dollars a month", "I pay $300 a month for insurance").
_RE_AMOUNT_MONTHLY = re.compile(
    r"(?:\$ ?\d[\d,.]*|\b\d[\d,.]* ?(?:dollars|bucks|usd)|\b(?:one|two|three|four|five|six|seven|eight|nine"
    r"|ten|fifteen|twenty|twenty five|thirty|forty|fifty|sixty|seventy|eighty|ninety|a hundred|hundred)"
    r" (?:dollars|bucks))(?: (?:a|per|each|every) | ?/ ?)(?:month|mo|week)\b"
)
_RE_MONTHLY_OTHER = re.compile(
    r"\b(?:make|makes|making|earn\w*|income|salary|wage\w*|paycheck|take home|bring home|rent|mortgage"
    r"|premiums?|insurance|coverage|car|phone|loan|spend\w*)\b"
)
_RE_PREMIUM_MONTHS = re.compile(
    rf"\b(?:premiums?|{_INSURER})\b(?: \w+){{0,4}}? (?:monthly|every month|each month|a month|per month)\b"
)


# A bill shared out among people ("split the check with my roommates", "divide the tab three ways"), or money
# put by ("save a little each month"): not paying this practice in parts.
_RE_SHARED_AMONG = re.compile(
    r"\b(?:split|divide|share)\w* (?:\w+ ){0,4}?(?:with|between|among|amongst|evenly|equally|\w+ ways)\b"
    r"|\b(?:check|tab|dinner|lunch|restaurant|tip|waiter|rent|roommates?|friends)\b"
    # money put by rather than paid out ("save a little each month", "invest some every paycheck")
    r"|\b(?:save|saving|savings|invest\w*|budget\w*|put (?:\w+ )?aside|set (?:\w+ )?aside|deposit\w*)\b"
)


def shares_a_bill_with_others(text: str) -> bool:
    """Whether the words share a bill out among people or put money by; see ``_RE_SHARED_AMONG``."""
    return bool(_RE_SHARED_AMONG.search(normalize(text).replace("'", " ")))


def asks_to_pay_over_time(text: str) -> bool:
    """Whether the words ask to pay in parts; see ``_RE_PAY_OVER_TIME``."""
    norm = repair_words(normalize(text).replace("'", " "), _MONTHLY_WORDS, shortest=6)
    norm = _RE_PREMIUM_MONTHS.sub(" ", norm)
    if _RE_AMOUNT_MONTHLY.search(text.lower()) and not _RE_MONTHLY_OTHER.search(norm):
        return True
    return bool(_RE_PAY_OVER_TIME.search(norm))


# A question of what a charge is or was for ("was that just for seeing the doctor", "what is this 99214
# for", "what does that code mean"): an explanation, not a contested charge.
_RE_WHAT_CHARGE_IS = re.compile(
    r"\bwhat(?: (?:is|was|s|are|were|does|do)|s) (?:this|that|the|these|those|it|my)\b[\w ]{0,40}\b"
    r"(?:for|mean|means|cover|covers)\b"
    r"|\b(?:was|is) (?:that|this|it) (?:just |only |really |basically )?(?:for|from|the charge for)\b"
    r"|\bin plain (?:english|words|language)\b|\bwhat (?:is|was|s) (?:a |the |code |cpt )*\d{5}\b"
)


def asks_what_a_charge_is(text: str) -> bool:
    """Whether the words ask what a charge is for; see ``_RE_WHAT_CHARGE_IS``."""
    return bool(_RE_WHAT_CHARGE_IS.search(normalize(text).replace("'", " ")))


# An explicit request that staff change what is on file ("can you guys update it", "please change my
# address", "can someone update my insurance on file"). A need stated ("I need to update the insurance you
# have on file") is offered a person first, and a question of how it is done ("how do I update it") asks
# for the way, not for the change.
_RE_ASKS_UPDATE = re.compile(
    r"\b(?:can|could|would|will|pls|please) (?:you|y all|you guys|you all|someone|somebody|your office"
    r"|the office)(?: please)? (?:update|change|fix|correct|add|switch|put)\b(?! (?:me|us)\b)"
    r"|(?:^|\b(?:please|go ahead and)\s)(?:update|change|correct)\b(?= (?:my|the|it|that|this|your)\b)"
)


_RE_DETAILS_ON_FILE = re.compile(
    r"\b(?:insurance|insurer|coverage|policy|member id|insurance card|address|phone|cell|number|e ?mail"
    r"|contact|mailing|last name|seguro|direccion|telefono|correo)\b"
)


# A refund asked for outright ("please refund the credit on my account", "I want the extra refunded to my
# card", "can you send my money back", "quiero mi reembolso"), not asked about ("how do refunds work", "can
# I get a refund?", "when can I expect the refund?"): asked about, the credit is said and a person offered.
_RE_REFUND_ASKED = re.compile(
    r"(?:^|\b(?:please|pls|plz|just|so|ok|okay|then)\s+)refund (?:me|it|that|this|the|my|what)\b"
    r"|\b(?:i|we) (?:want|d like|would like|need|am asking for|m asking for)\b[\w ]{0,25}"
    r"\b(?:refunded|a refund|my refund|the refund)\b"
    r"|\b(?:i|we) (?:want|d like|would like|need)\b (?:my |the |that |our |this )?(?:\w+ )?"
    r"(?:money|overpayment|credit|extra|difference|balance)\b[\w ]{0,20}\b(?:back|refunded|returned)\b"
    r"|\b(?:can|could|would|will) (?:you|u|y all|someone) (?:please |pls )?refund\b"
    r"|\b(?:can|could|would|will) (?:you|u|y all|someone) (?:please |pls )?"
    r"(?:send|give|mail|put|return)"
    r"(?: me)?\b[\w ]{0,20}\b(?:refund|back|money)\b"
    r"|\b(?:quiero|necesito|quisiera|me pueden|me puede|pueden|puede)\b[\w ]{0,20}\b(?:reembols\w*"
    r"|devolver\w*|devuelvan|devuelva)\b"
)


def asks_for_a_refund(text: str) -> bool:
    """Whether the words ask outright for a refund; see ``_RE_REFUND_ASKED``."""
    norm = normalize(text).replace("'", " ")
    return (
        bool(_RE_REFUND_ASKED.search(norm))
        and not _RE_SHOPPING.search(norm)
        and not names_other_creditor(text)
    )


def asks_to_update_details(text: str) -> bool:
    """Whether the words ask staff to change the insurance or contact details on file (named somewhere in
    the message: "please change my account to another one" names neither)."""
    norm = normalize(text).replace("'", " ")
    return (
        bool(_RE_ASKS_UPDATE.search(norm))
        and bool(_RE_DETAILS_ON_FILE.search(norm))
        and not re.search(r"\bhow (?:do|can|would|should) i\b", norm)
    )


# A plan with nothing paid today ("zero down", "no down payment", "not a cent today", "nothing up front").
_RE_NO_DOWN = re.compile(
    r"\b(?:zero|no|nothing|0|0 dollars|\$0|without (?:a |any )?|skip (?:the )?|waive (?:the )?)"
    r" ?(?:money )?down(?: ?payment)?\b"
    r"|\bno (?:down ?payment|payment (?:today|now|up ?front)|money (?:today|up ?front))\b"
    r"|\bnot (?:paying|going to pay|gonna pay|pay) (?:anything|a cent|a dime|a penny|nothing|any money)"
    r"(?: \w+)? (?:today|now|up ?front|right now)\b"
    r"|\bnot (?:a|one) (?:cent|dime|penny|dollar) (?:today|now|up ?front)\b"
    r"|\bnothing (?:today|up ?front|now)\b|\bfirst payment next month\b"
)


def refuses_down_payment(text: str) -> bool:
    """Whether the words ask for a plan with no payment today; see ``_RE_NO_DOWN``."""
    return bool(_RE_NO_DOWN.search(normalize(text).replace("'", " ")))


# A plan option picked by its length rather than its number ("the shortest one", "whichever has the lowest
# monthly payment", "el más largo").
_RE_SHORTEST = re.compile(
    r"\b(?:shortest|quickest|fastest|soonest|fewest (?:months|payments)|least (?:months|payments)"
    r"|(?:biggest|largest|highest) (?:monthly |month )?(?:payments?|amount|installments?)"
    r"|mas corto|mas rapido)\b"
)
_RE_LONGEST = re.compile(
    r"\b(?:longest|most (?:months|payments)|(?:lowest|smallest|cheapest|least) (?:monthly |month )?"
    r"(?:payments?|amount|installments?|per month|a month)|mas largo|mas bajo|pago mas pequeno)\b"
)


def plan_by_length(text: str) -> Literal["shortest", "longest"] | None:
    """The plan option named by its length ("the shortest one" is the fewest months, "the lowest monthly
    payment" the most), if the words name one and only one."""
    norm = normalize(text).replace("'", " ")
    short, long_ = bool(_RE_SHORTEST.search(norm)), bool(_RE_LONGEST.search(norm))
    if short == long_:
        return None
    return "shortest" if short else "longest"


# The amount owed asked for plainly ("so what is it that I owe you", "how much do I owe"), with no word
# asking what it is for or why: the balance, whatever preamble ("no insurance here") came first.
_RE_AMOUNT_OWED = re.compile(
    # Spanish: "¿cuál es mi saldo ahorita?", "cuánto debo"
    r"\bcual es mi saldo\b|\bcuanto (?:le |les )?debo\b|\bcuanto tengo que pagar\b"
    r"|\bcuanto (?:me |nos )?(?:falta|faltan|queda|quedan) (?:por |de )?pagar\b"
    r"|\bwhat (?:is it |s it )?(?:that )?(?:i|we) (?:still )?owe\b|\bhow much (?:do|did|would|will|should) "
    r"(?:i|we) (?:still )?owe\b|\bwhat do (?:i|we) (?:still )?owe\b"
    r"|\bhow much (?:am i|i m|im|are we|we re|do i|should i|would i) (?:supposed|meant|expected|going|gonna)"
    r"(?: to)? (?:send|pay|give|mail)\b"
    r"|\b(?:amount|total|figure|number|sum) (?:that )?(?:i|we) (?:still )?(?:need|have|got) to "
    r"(?:pay|cover)\b"
    r"|\bhow much (?:do|would|will|should) (?:i|we) (?:still )?(?:need|have) to (?:pay|cover)\b"
)
_RE_EXPLAIN_WORDS = re.compile(
    r"\b(?:explain\w*|why|how come|what for|for what|charged for|charge for|breakdown|break (?:it|this|that) "
    r"down|itemi\w*|line|lines|mean|means|what is this|what s this)\b"
)


def asks_amount_owed(text: str) -> bool:
    """Whether the words ask only how much is owed; see ``_RE_AMOUNT_OWED``."""
    norm = normalize(text).replace("'", " ")
    return bool(_RE_AMOUNT_OWED.search(norm)) and not _RE_EXPLAIN_WORDS.search(norm)


# The patient says they cannot or will not pay ("I can't pay this all today", "not paying that"): whatever
# an engine reads, no link is their go-ahead.
_RE_DECLINES_PAYING = re.compile(
    r"\b(?:can t|cant|cannot|can not|couldn t|unable to|won t|wont|will not|not able to|don t want to"
    r"|not going to|not gonna|refuse to)\b(?: \w+){0,2}? (?:pay|afford|cover)\b|\bnot paying\b"
)


def declines_paying(text: str) -> bool:
    """Whether the words say the patient cannot or will not pay; see ``_RE_DECLINES_PAYING``."""
    return bool(_RE_DECLINES_PAYING.search(normalize(text).replace("'", " ")))


# The patient's own account asked for in a word or two, after a question about someone else's was refused
# ("ok fine, what about mine then?", "fine. mine?", "and for me?", "how about my own account", "¿y la
# mía?"): the same question, asked of the patient's own account.
_RE_OWN_INSTEAD = re.compile(
    r"^(?:(?:ok|okay|k|kk|fine|alright|all right|oh|ohh|well|so|then|sure|right|hmm|ugh|geez|jeez|sigh"
    r"|got it|understood|i see|bueno|vale|entonces)\b[\s,.!]*)*"
    r"(?:(?:and|so|then|but)\s+)?"
    r"(?:(?:what|how) (?:about|bout|abt)|what of|how bout|what bout|y|y que (?:tal|hay) de|que tal|and)?\s*"
    r"(?:mine|me|myself|for me|my own(?: (?:one|account|acct|bill|balance|claim|statement))?"
    r"|my (?:account|acct|bill|balance|claim|statement)|la mia|el mio|yo|a mi|lo mio|mi cuenta)"
    r"(?:\s+(?:then|instead|at least|tho|though|now|entonces))?\s*[?.!]*$"
)


# After the pointer, the same ask put again in the patient's own words ("what about me then, what's on my
# account", "ok and mine? how much is it for me"): first-person words, no one else, nothing to pay or plan.
_RE_OWN_WORDS = re.compile(r"\b(?:my|mine|me|i|i m|im|myself|own|mi|yo)\b")
_RE_ANOTHER_PERSON = re.compile(
    r"\b(?:he|she|him|his|her|hers|they|them|their|husband|wife|spouse|partner|mom|mum|mother|dad|father"
    r"|son|daughter|kid|child|brother|sister|friend|grandma|grandpa|el|ella|su|esposo|esposa)\b"
)
_RE_PAY_OR_PLAN_WORDS = re.compile(
    r"\b(?:pay|paying|link|plan|plans|installments?|monthly|person|human|someone|agent|pagar|enlace)\b"
)


def asks_same_for_own_account(text: str) -> bool:
    """Whether the message only points the question before it at the patient's own account ("ok, what about
    mine then?"), perhaps putting that question again about the patient's own account after the pointer
    ("what about me then, what's on my account")."""
    if _RE_OWN_INSTEAD.match(normalize(text).replace("'", " ").strip()):
        return True
    clauses = [c for c in (normalize(p).replace("'", " ").strip() for p in re.split(r"[,.;:!?]+", text)) if c]
    for i in range(1, len(clauses)):
        if _RE_OWN_INSTEAD.match(" ".join(clauses[:i])):
            return all(
                _RE_OWN_WORDS.search(c)
                and not _RE_ANOTHER_PERSON.search(c)
                and not _RE_PAY_OR_PLAN_WORDS.search(c)
                for c in clauses[i:]
            )
    return False


# Whether the insurer has paid, asked as a question ("has humana paid the xray", "did my insurance cover the
# MRI yet", "is medicare paying for it", "is my claim still pending"): a claim's status.
_PAYER = (
    r"(?:insurance|insurer|insurance company|aseguranza|seguro|ins|medicare|medicaid|aetna|cigna|humana"
    r"|tricare|anthem|kaiser|bcbs"
    r"|blue ?cross(?: blue ?shield)?|blue shield|united ?healthcare|united|uhc|oscar|ambetter|molina|wellcare"
    r"|the plan|my plan)"
)
_RE_INSURER_PAID_ASK = re.compile(
    r"\b(?:has|have|did|does|is|was|were)\s+(?:the |my |our )?"
    + _PAYER
    + r"\b(?: \w+){0,2}? (?:pay|paid|paying"
    r"|process\w*|cover\w*|approv\w*|pick\w* up|take care of|took care of)\b"
    r"|\b(?:whether|if) (?:the |my |our )?"
    + _PAYER
    + r"\b(?: \w+){0,2}? (?:paid|pays|covered|covers|processed"
    r"|approved|picked up)\b"
    # the claim's own status asked ("is my claim still pending", "has the claim been processed")
    r"|\b(?:is|has|was|did)\s+(?:the |my |our )?(?:\w+ )?claim\b(?: \w+){0,2}? (?:pending|processed|through"
    r"|approved|paid|done|finished)\b"
)
# One clause of a message asking for the balance by itself ("balance?", "whats my balance", "how much do I
# owe"), cut at sentence marks, commas and "also"/"and"/"plus".
_RE_ASK_BREAK = re.compile(r"[?.!;,]+|\b(?:also|and also|and|plus|oh and|btw|as well as|or)\b")


def asks_if_insurer_paid(text: str) -> bool:
    """Whether the words ask if the insurer has paid (or processed, or covered) something."""
    return bool(_RE_INSURER_PAID_ASK.search(normalize(text).replace("'", " ")))


# What the patient owes for one thing ("so I don't owe for the xray yet?", "is the MRI on me", "do I have to
# pay for the blood work"), not for the whole account ("total", "balance", "everything").
_RE_OWED_FOR_IT = re.compile(
    r"\b(?:owe|owing|on me|my responsibility|responsible for|have to pay|need to pay|got to pay|gotta pay"
    r"|pay for|paying for|billed for|charged for|on the hook for)\b"
)
_RE_WHOLE_ACCOUNT = re.compile(
    r"\b(?:total|balance|overall|everything|all together|altogether|in all|whole|account|statements?)\b"
)


def asks_owed_for_one_thing(text: str) -> bool:
    """Whether the words ask what is owed for one thing rather than the whole account; see
    ``_RE_OWED_FOR_IT`` (the thing itself is the engine's line reference)."""
    norm = normalize(text).replace("'", " ")
    return bool(_RE_OWED_FOR_IT.search(norm)) and not _RE_WHOLE_ACCOUNT.search(norm)


_RE_HOW_MUCH_BILL = re.compile(
    r"\b(?:how much|what) (?:is|s) (?:my|the) (?:bill|total|balance)\b|\bwhat s my (?:bill|total|balance)\b"
)


def asks_the_balance_too(text: str) -> bool:
    """Whether a clause of the message asks for the balance ("how much is my bill and could I split it into
    3 payments?"), beside whatever else it asks."""
    for clause in _RE_ASK_BREAK.split(text.lower()):
        norm = normalize(clause).replace("'", " ")
        if not norm:
            continue
        if asks_own_balance(clause) or asks_amount_owed(clause) or asks_what_is_owed(clause):
            return True
        if _RE_HOW_MUCH_BILL.search(norm) and not names_other_creditor(clause):
            return True
    return False


# A line of the bill asked about in a clause of its own ("why is there a blood draw", "what's the x-ray on
# there for", "tell me about the MRI line").
_RE_WHY_THERE = re.compile(
    r"\b(?:why|how come|what)\b[\w ]{0,30}?\b(?:is there|s there|was there|are there|were there|did i get"
    r"|am i (?:being )?(?:charged|billed) for)\b"
)


def asks_balance_and_a_line(text: str) -> bool:
    """Two questions in one message: the balance, and what a line of the bill is or why it is there ("how
    much is my bill and why is there a blood draw", "what do I owe, and what's the x-ray on there for?"),
    each in its own clause (the line itself is the engine's line reference)."""
    balance = line = False
    for clause in _RE_ASK_BREAK.split(text.lower()):
        norm = normalize(clause).replace("'", " ")
        if not norm:
            continue
        if (
            asks_own_balance(clause)
            or asks_amount_owed(clause)
            or asks_what_is_owed(clause)
            or (_RE_HOW_MUCH_BILL.search(norm) and not names_other_creditor(clause))
        ):
            balance = True
        elif (
            asks_about_a_line(clause) or asks_what_a_charge_is(clause) or _RE_WHY_THERE.search(norm)
        ) and not names_other_creditor(clause):
            line = True
    return balance and line


def asks_balance_and_insurer_paid(text: str) -> bool:
    """Two questions in one message: the balance, and whether the insurer has paid ("balance? also has
    humana paid the xray", "whats my balance and did aetna pay for the MRI yet"), each in its own clause."""
    if not asks_if_insurer_paid(text) or re.search(r"\b(?:why|how come)\b", text.lower()):
        return False  # "why did my insurance pay zero" asks for the insurance math, not a status
    for clause in _RE_ASK_BREAK.split(text.lower()):
        if asks_if_insurer_paid(clause) or len(clause.split()) == 0:
            continue
        if asks_own_balance(clause) or asks_amount_owed(clause) or asks_what_is_owed(clause):
            return True
    return False


# The payment link asked for by name with nothing else it could be for ("send me the link", "ok text me
# that link then", "can I get the pay link", "link to pay pls", "mándeme el enlace"): in the billing
# office's own chat that is the link to pay this bill, an explicit ask. A link to something else ("the link
# to the portal", "the zoom link for my video visit") or another creditor's bill is not.
_RE_PAY_LINK_ASK = re.compile(
    r"\b(?:send|text|txt|email|e mail|give|get|shoot|share|resend|re send|forward|need|want|like)\b"
    r"(?: (?:me|us|it|over|please|pls|plz|again))*(?: (?:a|the|that|this|my|your|ur|another|new))?"
    r"(?: (?:payment|pay|paying))? link\b"
    r"(?! (?:to|for|from|of|on|in) (?!(?:pay|paying|the (?:bill|balance|statement|whole|full|total|amount)"
    r"|my (?:bill|balance|statement)|it|this|that|me|you|everything|all|what (?:i|we) owe)\b|(?:\$ ?)?\d))"
    r"|\b(?:payment|pay) link\W*(?:pls|plz|please)?\W*$|^\W*link to pay\b"
    r"|\b(?:mande|mandeme|manda|mandame|envie|envieme|envia|enviame|pase|pasame)\b(?: \w+){0,2} (?:el|un|ese)"
    r" (?:enlace|link)\b(?! (?:a|de|del|para) (?!(?:pagar|pago|la cuenta|la factura|mi cuenta|mi factura)\b))"
    # asked for tersely, what it pays named: "link for the full balance please", "payment link for the total"
    r"|\b(?:payment |pay )?link (?:for|to pay|to cover|to clear) (?:the |my |our )?(?:full |whole |entire "
    r"|total |remaining |outstanding )?(?:balance|amount|bill|statement|total|amount due|amount owed)\b"
    # the whole message is the ask: "Cool, link pls", "ok the link please"
    r"|^\W*(?:(?:ok|okay|cool|great|thanks|thx|ty|perfect|alright|sure|yes|yeah|yep|k)\W+)?(?:the |a )?link"
    r"\W*(?:pls|plz|please|now|then)?\W*$"
)


def asks_for_pay_link(text: str) -> bool:
    """Whether the words ask for the payment link by name; see ``_RE_PAY_LINK_ASK``."""
    norm = normalize(text).replace("'", " ").replace("-", " ")
    return bool(_RE_PAY_LINK_ASK.search(norm)) and not names_other_creditor(text)


# A statement pointed at from the one in focus ("what's the other one for?", "and the older one?", "what
# about the one after that?", "the earlier bill", "the newest statement"): which way from the focus.
_RE_POINT_OTHER = re.compile(r"\b(?:the|that|this) other (?:one|statement|bill|visit|invoice)s?\b")
_RE_POINT_OLDEST = re.compile(r"\b(?:oldest|earliest) (?:one|statement|bill|visit|invoice)\b|\bthe oldest\b")
_RE_POINT_NEWEST = re.compile(
    r"\b(?:newest|latest|most recent) (?:one|statement|bill|visit|invoice)\b|\bthe (?:newest|latest)\b"
)
_RE_POINT_OLDER = re.compile(
    r"\b(?:older|earlier|previous|prior) (?:one|statement|bill|visit|invoice)\b"
    r"|\bthe one (?:before|prior to) (?:that|it|this)\b|\bthe one before\b"
)
_RE_POINT_NEWER = re.compile(
    r"\b(?:newer|later|next|more recent) (?:one|statement|bill|visit|invoice)\b"
    r"|\bthe one (?:after|following) (?:that|it|this)\b|\bthe one after\b"
)

StatementPointer = Literal["other", "older", "newer", "oldest", "newest"]


def statement_pointer(text: str) -> StatementPointer | None:
    """Which statement the words point at from the one in focus, if they point at all."""
    norm = normalize(text).replace("'", " ")
    for pointer, pattern in (
        ("oldest", _RE_POINT_OLDEST),
        ("newest", _RE_POINT_NEWEST),
        ("older", _RE_POINT_OLDER),
        ("newer", _RE_POINT_NEWER),
        ("other", _RE_POINT_OTHER),
    ):
        if pattern.search(norm):
            return pointer  # type: ignore[return-value]  # the literal of the matching pattern
    return None


# Terms named only to be turned down ("six months is impossible for me", "$50 a month is way too much", "I
# can't do 6 months", "6 meses es muy poco"): the patient refuses them, never asks for them.
_TERM = (
    r"(?:\$ ?\d[\d,.]*(?: (?:a|per|each|every) month| monthly)?"
    r"|(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|eighteen|twenty|thirty|forty"
    r"|fifty|sixty|uno|dos|tres|cuatro|cinco|seis|doce) ?(?:months?|mos?|monthly payments?|payments?"
    r"|installments?|dollars?|bucks|meses|pagos|dolares)(?: (?:a|per|each|every) month| monthly)?)"
)
_RE_TERMS_REFUSED = re.compile(
    rf"(?<![\w$]){_TERM}(?: (?:is|are|s|would be|will be|just|really|simply|honestly|for me|es|son|seria"
    r"|me parece|para mi))*"
    r" (?:impossible|too (?:short|long|much|high|little|few|soon|fast|steep|expensive)|way too \w+"
    r"|not (?:enough|possible|doable|workable|realistic|an option|going to work|gonna work|long enough)"
    r"|no good|out of the question|won t work|wont work|doesn t work|does not work|will not work|unrealistic"
    r"|isn t (?:enough|possible|doable|realistic|an option)|imposible|muy (?:poco|corto|alto|caro)"
    r"|no me (?:sirve|alcanza|funciona))\b"
    rf"|\b(?:not|never|can t do|cannot do|cant do|can t afford|cannot afford|cant afford|no puedo)"
    rf" {_TERM}"
)


def refuses_named_terms(text: str) -> bool:
    """Whether the words name terms only to turn them down; see ``_RE_TERMS_REFUSED``."""
    norm = repair_words(normalize(text).replace("'", " "), ("impossible", "imposible"), shortest=8)
    norm = repair_words(norm, ("months", "years", "meses"), shortest=5)  # "six monhts is too short"
    return bool(_RE_TERMS_REFUSED.search(norm))


# What is owed asked beside another question ("has the secondary paid yet? and whats my share", "is it still
# pending, what do i actually owe right now"): the balance said after the other answer.
_RE_OWED_BESIDE = re.compile(
    r"\b(?:what|how much) (?:do|did|will|would|should|am) (?:i|we) (?:\w+ )?(?:owe|owing|on the hook for)\b"
    r"|\bwhat (?:i|we) (?:\w+ )?owe\b|\bwhat s (?:my|our) (?:share|part|portion|balance)\b"
    r"|\bwhats (?:my|our) (?:share|part|portion|balance)\b"
    r"|\bwhat is (?:my|our) (?:share|part|portion|balance)\b"
    r"|\bdo (?:i|we) (?:\w+ )?owe (?:anything|something|money)\b|\bhow much (?:is|s) (?:left|on me|mine)\b"
    # "is there anything I need to pay for my checkup", "do I have to pay anything"
    r"|\b(?:anything|something) (?:(?:left|still|else|more) )?(?:(?:i|we) (?:still )?(?:need|have|got) to"
    r"|(?:for me|for us) to|to) pay\b|\bdo (?:i|we) (?:still )?(?:need|have) to pay (?:anything|something)\b"
)


def asks_owed_beside(text: str) -> bool:
    """Whether the words also ask what is owed; see ``_RE_OWED_BESIDE``."""
    return bool(_RE_OWED_BESIDE.search(normalize(text).replace("'", " ")))


# A payment asked after: did it arrive ("checking that you got my payment", "did you receive my check", "make
# sure my payment went through", "has my payment posted"): the payment on file looked up, like "I paid".
_RE_PAYMENT_ARRIVED_ASK = re.compile(
    r"\b(?:you|y all|u|you guys|your office|the office)\s+(?:got|get|received|receive|recieved|have|saw|see"
    r"|processed)\s+(?:my|our|the)\s+(?:\w+\s+)?(?:payment|check|cheque|money order)\b"
    r"(?! (?:plan|link|method|methods|option|options|portal|page|info))"
    r"|\b(?:my|our|the)\s+(?:\w+\s+)?payment\s+(?:went|go|gone|goes|got|get)\s+(?:thru|through|in)\b"
    r"|\b(?:did|has|have|was) (?:my|our|the) (?:\w+ )?payment (?:post|posted|clear|cleared|arrive|arrived|go"
    r"|get|been (?:posted|received|applied|processed))\b"
    # "just want to make sure my payment was received", "can you confirm my payment posted"
    r"|\b(?:make sure|check|confirm|verify|see if|know if|know whether)\b (?:that )?(?:my|our|the) "
    r"(?:\w+ )?(?:payment|pymt|pmt|check) (?:was |has been |got |went )?(?:received|posted|processed|applied"
    r"|through|credited|cleared)\b"
)


# The last payment on file asked about ("how much was my last payment", "what was the amount of the last
# payment I made", "when did I last pay", "what did I pay last time"): a read of the payments, never a claim
# that one is missing. A plan's installment or a link is not this, nor wages ("when was I last paid").
_RE_LAST_PAYMENT_ASK = re.compile(
    r"\b(?:how much|what|wat|wht|when|which|amount|date|how big)\b(?: \w+){0,6}? (?:my |the |our )?"
    r"(?:last|latest|most recent|previous|prior|recent) (?:payment|pymt|pmt)\b"
    r"(?! (?:plan|link|method|option|portal|page|arrangement))"
    r"|\b(?:how much|what|wat|wht) did (?:i|we) (?:last )?pay\b(?: \w+){0,3}? "
    r"(?:last time|last month|most recently|the last time|before)\b"
    r"|\bwhen (?:did|was it) (?:i|we) last (?:pay|paid|made a payment)\b"
    r"|\bwhen did (?:i|we) (?:make|send) (?:my|the|our) (?:last|latest|most recent) payment\b"
    # "can you confirm you received my most recent payment and the amount?"
    r"|\b(?:received|got|posted|get|receive)\b (?:my|our|the) (?:last|latest|most recent|recent) "
    r"(?:payment|pymt|pmt)\b(?! (?:plan|link))"
    r"|\b(?:my|our|the) (?:last|latest|most recent|recent) (?:payment|pymt|pmt) (?:posted|went through"
    r"|arrived|came through|cleared|was received|got there)\b"
)


def asks_last_payment(text: str) -> bool:
    """Whether the words ask about the last payment on file; see ``_RE_LAST_PAYMENT_ASK``."""
    norm = normalize(text).replace("'", " ")
    return bool(_RE_LAST_PAYMENT_ASK.search(norm)) and not _RE_PLAN_INSTALLMENT.search(norm)


_RE_PLAN_INSTALLMENT = re.compile(r"\b(?:plan|installment|installments|next payment)\b")


def asks_whether_payment_arrived(text: str) -> bool:
    """Whether the words ask if a payment the patient made arrived; see ``_RE_PAYMENT_ARRIVED_ASK``."""
    norm = _RE_PAYMENT_SHORT.sub("payment", normalize(text).replace("'", " "))
    return bool(_RE_PAYMENT_ARRIVED_ASK.search(norm))


# "payment" as texts shorten it ("did my pmt go thru", "my pymt posted?")
_RE_PAYMENT_SHORT = re.compile(r"\b(?:pmt|pymt|paymt|pmnt|paymnt|pymnt)\b")


# A line of the bill asked about by what it was ("tell me about the x-ray line", "what's the ultrasound thing
# on my bill", "what do I owe for the MRI part"): that line explained, not the balance or the claim's status.
# A claim's own progress ("has insurance processed the MRI claim yet") is the claim.
_RE_LINE_ASK = re.compile(
    r"\b(?:what s|whats|what is|what was|tell me about|explain|what about|how about|info on|details on"
    r"|what (?:do|did|will) (?:i|we) (?:\w+ )?owe for|how much (?:of it |of that )?(?:is|was) (?:on me|mine)"
    r"|my (?:part|share|portion) of|did (?:insurance|ins|they|my insurance|the insurance) (?:\w+ )?"
    r"(?:pay|cover)(?: for)?)\b"
)
_RE_CLAIM_PROGRESS = re.compile(
    r"\b(?:claim|claims|process\w*|submit\w*|status|yet|pending|filed|file|hear\w*|heard|back|appeal\w*"
    r"|resubmit\w*)\b"
)


def asks_about_a_line(text: str) -> bool:
    """Whether the words ask what a line is or what is owed on it (the line named elsewhere, by the
    entities), not how its claim is going; see ``_RE_LINE_ASK``."""
    norm = normalize(text).replace("'", " ")
    return bool(_RE_LINE_ASK.search(norm)) and not _RE_CLAIM_PROGRESS.search(norm)


# The insurer refused a service and the patient asks whether it will be billed to them ("medicare won't pay
# for the sept 11 appointment, am I stuck paying for it", "el seguro no pagó la resonancia, ¿me la van a
# cobrar?"): the denial and what it means for the patient. A why ("why didn't insurance pay") asks for the
# insurance math instead.
_RE_INSURER_REFUSED = re.compile(
    rf"\b{_INSURER}\b(?: \w+){{0,2}}? (?:won t|wont|will not|refuses to|refused to|isn t going to"
    r"|isnt going to|is not going to|not going to|didn t|didnt|did not|doesn t|doesnt|does not|no|no quiere"
    r"|no quiso|se nego a)"
    r" (?:pay|cover|pago|pagar|cubre|cubrio|cubrir)\b"
)
_RE_SERVICE_UNPAID = re.compile(
    r"\b(?:eob|service|services|line|lines|charge|charges|procedure|test|item|items|visit)\b[\w ]{0,25}?"
    r"\b(?:wasn t|wasnt|was not|weren t|werent|were not|isn t|isnt|is not|never (?:got|was|were)|not)"
    r" (?:paid|covered)\b"
)
_RE_BILLED_TO_ME = re.compile(
    r"\b(?:am i|are we|i m|im) (?:\w+ )?(?:stuck|on the hook|responsible|liable"
    r"|going to be (?:billed|charged))"
    r"|\b(?:do|will|would|should) (?:i|we) (?:\w+ )?(?:have to|need to|get to|be|get) (?:pay|billed|charged)"
    r"|\b(?:is|s) (?:it|that|this) (?:going to be |gonna be )?on me\b|\bbill (?:me|us) for\b"
    r"|\b(?:me|nos) (?:la|lo|las|los)? ?(?:van a|vayan a|va a)? ?cobr\w*|\btengo que pagar\w*"
    r"|\bme toca pagar\b"
    r"|\bvoy a tener que pagar\w*"
)


def asks_if_refused_service_is_billed(text: str) -> bool:
    """Whether the words say the insurer refused a service and ask if the patient is billed for it."""
    norm = repair_words(
        normalize(text).replace("'", " "), ("seguro", "insurance", "medicare", "medicaid"), shortest=5
    )
    # or a service said denied, insurer unnamed ("la resonancia salió negada, ¿me la van a cobrar?"), or left
    # unpaid ("the eob shows one service wasn't paid")
    refused = bool(_RE_INSURER_REFUSED.search(norm) or _RE_SERVICE_UNPAID.search(norm)) or names_a_denial(
        text
    )
    return (
        refused
        and bool(_RE_BILLED_TO_ME.search(norm))
        and not re.search(r"\b(?:why|whys|how come|porque|por que)\b", norm)
    )


# The insurer's answer on a visit or claim asked after ("did aetna ever get back to you on my october visit",
# "have you heard back from medicare about the scan", "any word from my insurance on the claim"): the claim's
# status, however far from billing text the words read.
_RE_INSURER_PROGRESS = re.compile(
    rf"\b{_INSURER}\b[\w ]{{0,25}}?\b(?:get|got|gotten|getting) back\b"
    rf"|\b(?:hear|heard|hearing|word|news|update|answer|response|reply|decision)\w* (?:back )?(?:from|on|by)"
    rf" (?:my |the )?{_INSURER}\b"
    rf"|\b{_INSURER}\b[\w ]{{0,25}}?\b(?:respond\w*|repl(?:y|ied)|decid\w*|answer\w*|process\w*|finish\w*)\b"
)
_RE_CARE_NAMED = re.compile(
    r"\b(?:visit|visits|claim|claims|appointment|scan|test|tests|lab|labs|surgery|procedure|x ?ray|mri"
    r"|ultrasound|checkup|physical|bill|statement|it|that|this)\b"
)


def asks_insurers_progress(text: str) -> bool:
    """Whether the words ask if the insurer has answered on a visit or claim; see ``_RE_INSURER_PROGRESS``."""
    norm = normalize(text).replace("'", " ")
    return bool(_RE_INSURER_PROGRESS.search(norm) and _RE_CARE_NAMED.search(norm))


# A credit or an overpayment asked about ("is there a credit on my file", "did I pay too much last time", "do
# I have money coming back"): the account's credit and the offer of a refund, not the balance.
_RE_CREDIT_ASK = re.compile(
    r"\b(?:a|any|my|the) credit (?:on|in|for) (?:my|the) (?:file|account|acct|bill|balance|statement)\b"
    r"|\b(?:is|s) there (?:a|any) credit\b|\bover ?pa(?:id|y|yment|yments)\b"
    r"|\b(?:pay|paid|charged) too much\b"
    r"|\bmoney (?:coming )?back\b|\brefund\w*|\bsaldo a (?:mi )?favor\b|\breembolso\b"
    # "why does my account say I have a credit", "my balance shows a credit"
    r"|\b(?:account|acct|balance|statement|bill)\b[\w ]{0,20}\b(?:say|says|show|shows|showing|has|have)\b"
    r"[\w ]{0,12}\b(?:a |any )?credit\b"
)
# Money back for a purchase ("refund my amazon order", "a credit for the concert tickets"): a shop's matter.
_RE_SHOPPING = re.compile(
    r"\b(?:order|orders|purchase|purchases|package|subscription|membership|flight|tickets?|item|items"
    r"|return|returns|store|shop|amazon|target|walmart|ebay|airline|hotel)\b"
)


def asks_about_credit(text: str) -> bool:
    """Whether the words ask about a credit or an overpayment; see ``_RE_CREDIT_ASK``."""
    norm = repair_words(normalize(text).replace("'", " "), ("credit", "overpaid", "refund"), shortest=5)
    return bool(_RE_CREDIT_ASK.search(norm)) and not _RE_SHOPPING.search(norm)


# The next installment of a plan asked for ("how much is the next plan payment and what day", "when's my
# next installment"): the plan's own terms, not the balance.
_RE_NEXT_INSTALLMENT = re.compile(
    r"\bnext (?:plan |monthly |payment plan |scheduled )?(?:payment|installment|instalment|draft)\b"
    # "what's remaining on my plan", "how much is left on the payment plan": the plan's own terms
    r"|\b(?:left|remaining|still owed|still due|to go|outstanding)\b (?:on|in|of|with) (?:my|the|our|this)"
    r" (?:payment |monthly |installment )?plan\b"
)
_RE_PLAN_NAMED = re.compile(r"\b(?:plan|installment|instalment|installments|monthly)\b")


def asks_next_installment(text: str) -> bool:
    """Whether the words ask for a plan's next installment; see ``_RE_NEXT_INSTALLMENT``."""
    norm = repair_words(normalize(text).replace("'", " "), ("payment", "installment"), shortest=6)
    return bool(_RE_NEXT_INSTALLMENT.search(norm) and _RE_PLAN_NAMED.search(norm))


# A charge asked about by its amount ("what my 30 dollar cahrge was", "what's the $45 fee"): that line.
_RE_AMOUNT_CHARGE = re.compile(
    r"\bwhat(?: s| is| was|s)? (?:my |the |that |this )?"
    r"(?:\$ ?\d[\d.,]*|\d[\d.,]* ?(?:dollar|dollars|buck|bucks))"
    r"(?: \w+)? (?:charge|charges|line|item|fee|bill)\b"
)


def asks_what_an_amount_was(text: str) -> bool:
    """Whether the words ask what a charge of a named amount was; see ``_RE_AMOUNT_CHARGE``."""
    norm = repair_words(normalize(text).replace("'", " "), ("charge", "charges"), shortest=5)
    return bool(_RE_AMOUNT_CHARGE.search(norm))


def asks_for_explanation(text: str) -> bool:
    """Whether the words ask what the bill or a charge is, or why it is owed ("explain", "why", "what is
    this", "break it down"): an explanation asked for, which words of hardship beside it do not replace."""
    norm = normalize(text).replace("'", " ")
    return (
        bool(_RE_EXPLAIN_WORDS.search(norm))
        or asks_why_owed(text)
        or asks_for_breakdown(text)
        or asks_what_a_charge_is(text)
    )
