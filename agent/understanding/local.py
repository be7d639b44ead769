"""The local understanding engine: offline, deterministic, no model server.

English text is read by a pretrained sentence encoder (all-MiniLM-L6-v2, ``encoder.py``) and a logistic
regression over its embeddings (``head.py``), trained on our lines with CLINC150's non-billing queries as
out-of-scope negatives. Its out-of-scope probability is the message's in-domain score: at or above
``OUT_OF_SCOPE_LINE`` the message is out of scope, whatever else it resembles. Within the domain the
intent is the product of the encoder's and a naive Bayes classifier's probabilities (word unigrams/bigrams
and character 3–5-grams, trained from ``data/intents_*.yaml`` in well under a second): on the held-out set
the product is right more often than either alone (0.943 against 0.925 for naive Bayes and 0.802 for the
encoder). Spanish is read by naive Bayes alone (no multilingual encoder ships on PyPI with its weights).
High-precision rules read short answers, greetings, thanks and identity answers; entities, frustration,
language, correction and cancellation are read alongside.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

from spellchecker import SpellChecker

from agent.understanding.base import Entities, Intent, LineRef, Understanding, UnderstandingContext
from agent.understanding.cues import (
    asks_for_person,
    asks_own_balance,
    asks_this_bill_apart,
    asks_what_is_owed,
    choice_number,
    mentions_dispute,
    mentions_hardship,
    names_a_details_change,
    names_other_creditor,
    names_the_practice_bill,
    plan_by_length,
    says_already_paid,
)
from agent.understanding.encoder import SentenceEncoder
from agent.understanding.entities import extract_entities
from agent.understanding.features import SHAPE_TOKENS, featurize, tokens
from agent.understanding.frustration import frustration_score
from agent.understanding.head import HEAD_FILE, Head
from agent.understanding.spelling import Speller, plain_words
from agent.understanding.text import fold_accents, normalize
from tools.yamlfile import load_yaml

DATA_DIR = Path(__file__).parent / "data"

INTENTS: tuple[Intent, ...] = tuple(Intent)

# Smoothing and feature-group weights; dev-split accuracy is flat for ALPHA in [0.05, 0.3] and
# CHAR_WEIGHT in [0.2, 0.8], so these sit in the middle.
ALPHA = 0.1
WORD_WEIGHT = 1.0
CHAR_WEIGHT = 0.35
DEV_EVERY = 4  # every 4th utterance of each intent goes to the dev split
# More than this share of unknown words makes a message out of scope at a confidence below the
# low-confidence line (typos leave most words of a real question known).
MAX_UNKNOWN_SHARE = 0.6
UNKNOWN_CONFIDENCE = 0.3
# The encoder's out-of-scope probability at or above which a message is out of scope.
OUT_OF_SCOPE_LINE = 0.5
# An out-of-scope reading below this is near the line: a rule's cue may still place the message inside.
NEAR_OUT_OF_SCOPE = 0.6
# A bill owed to someone else is out of scope with this confidence (a rule, not a guess).
OTHER_CREDITOR_CONFIDENCE = 0.95
_OUT = INTENTS.index(Intent.OUT_OF_SCOPE)

Example = tuple[str, Intent]
SPANISH_ONLY = "intents_es_more.yaml"  # lines the Spanish reading adds (see ``LocalUnderstander``)
Featurized = tuple[tuple[list[str], list[str]], Intent]


def load_examples(paths: Iterable[Path] | None = None) -> list[Example]:
    """Training utterances from the YAML files, in file order."""
    files = sorted(DATA_DIR.glob("intents_*.yaml")) if paths is None else list(paths)
    out: list[Example] = []
    for path in files:
        data = load_yaml(path.read_text(encoding="utf-8"))
        for name, lines in data["intents"].items():
            intent = Intent(name)
            out.extend((str(line), intent) for line in lines)
    return out


def training_utterances() -> set[str]:
    """Every training line, normalised; eval and held-out lines must not be in it."""
    return {normalize(text) for text, _ in load_examples()}


def split_examples(examples: Sequence[Example]) -> tuple[list[Example], list[Example]]:
    """Deterministic train/dev split: every DEV_EVERY-th line of each intent is dev."""
    seen: dict[Intent, int] = {}
    train: list[Example] = []
    dev: list[Example] = []
    for text, intent in examples:
        i = seen.get(intent, 0)
        seen[intent] = i + 1
        (dev if i % DEV_EVERY == DEV_EVERY - 1 else train).append((text, intent))
    return train, dev


@dataclass(frozen=True, slots=True)
class _Tables:
    word: dict[str, list[float]]
    char: dict[str, list[float]]


def _softmax(scores: Sequence[float], temperature: float) -> list[float]:
    top = max(scores)
    exps = [math.exp((s - top) / temperature) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


class NaiveBayes:
    """Multinomial NB with binary features, uniform class prior and per-group feature weights."""

    def __init__(self, examples: Sequence[Featurized]) -> None:
        k = len(INTENTS)
        index = {intent: i for i, intent in enumerate(INTENTS)}
        word_counts: dict[str, dict[int, float]] = {}
        char_counts: dict[str, dict[int, float]] = {}
        word_totals = [0.0] * k
        char_totals = [0.0] * k
        for (words, chars), intent in examples:
            c = index[intent]
            for f in words:
                row = word_counts.setdefault(f, {})
                row[c] = row.get(c, 0.0) + 1.0
            word_totals[c] += len(words)
            for f in chars:
                row = char_counts.setdefault(f, {})
                row[c] = row.get(c, 0.0) + 1.0
            char_totals[c] += len(chars)
        seen = {index[intent] for _, intent in examples}
        self.present = [i in seen for i in range(k)]
        self.tables = _Tables(
            word=self._logs(word_counts, word_totals, WORD_WEIGHT),
            char=self._logs(char_counts, char_totals, CHAR_WEIGHT),
        )

    @staticmethod
    def _logs(
        counts: dict[str, dict[int, float]], totals: list[float], weight: float
    ) -> dict[str, list[float]]:
        # Counts are sparse (a feature is seen in one or two intents), so start every row from the
        # unseen-feature value and overwrite the few classes that saw it.
        vocab = len(counts)
        log = math.log
        denoms = [log(t + ALPHA * vocab) for t in totals]
        unseen = [weight * (log(ALPHA) - d) for d in denoms]
        table: dict[str, list[float]] = {}
        for f, nonzero in counts.items():
            row = unseen[:]
            for c, n in nonzero.items():
                row[c] = weight * (log(n + ALPHA) - denoms[c])
            table[f] = row
        return table

    def scores(self, toks: list[str]) -> list[float]:
        words, chars = featurize(toks)
        word_table, char_table = self.tables.word, self.tables.char
        rows = [row for f in words if (row := word_table.get(f)) is not None]
        rows.extend(row for f in chars if (row := char_table.get(f)) is not None)
        if not rows:
            return [0.0] * len(INTENTS)
        sums = [math.fsum(col) for col in zip(*rows, strict=True)]
        return [s if present else -1e9 for s, present in zip(sums, self.present, strict=True)]


def _fit(examples: Sequence[Example]) -> tuple[NaiveBayes, float]:
    """Naive Bayes on ``examples`` and the temperature fitted on their dev split."""
    train, dev = split_examples(examples)
    train_set = set(train)
    featurized = featurize_examples(examples)
    train_features = [f for f, ex in zip(featurized, examples, strict=True) if ex in train_set]
    temperature = fit_temperature(NaiveBayes(train_features), dev) if dev else 1.0
    return NaiveBayes(featurized), temperature


def featurize_examples(examples: Sequence[Example]) -> list[Featurized]:
    return [(featurize(tokens(text)), intent) for text, intent in examples]


def fit_temperature(model: NaiveBayes, dev: Sequence[Example]) -> float:
    """The softmax temperature minimising negative log-likelihood on the dev split."""
    index = {intent: i for i, intent in enumerate(INTENTS)}
    shifted: list[tuple[list[float], float]] = []
    for text, intent in dev:
        scores = model.scores(tokens(text))
        top = max(scores)
        # Classes never seen in training score -1e9; they carry no probability at any temperature.
        shifted.append(([s - top for s in scores if s > -1e8], scores[index[intent]] - top))

    def nll(log_t: float) -> float:
        t = math.exp(log_t)
        exp = math.exp
        return sum(math.log(sum(exp(s / t) for s in row)) - gold / t for row, gold in shifted)

    # Golden-section search on log T in [log 0.5, log 200]; the NLL is unimodal in T.
    lo, hi = math.log(0.5), math.log(200.0)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(24):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return math.exp((lo + hi) / 2)


# --------------------------------------------------------------------------- rules


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


_AFFIRM_WORDS = _words(
    "yes yeah yea ya yep yup y sure ok okay k kk alright fine correct right absolutely definitely "
    "please go ahead do it that works sounds good great perfect agreed agree i accept consent thats "
    "si claro dale va vale bueno ok perfecto correcto de acuerdo esta bien por favor acepto orale "
    "uh huh yes! of course"
)
_AFFIRM_CORE = _words(
    "yes yeah yea ya yep yup y sure ok okay k kk alright fine correct absolutely definitely si claro dale "
    "vale perfecto correcto acepto orale agree agreed accept consent"
)
_DENY_WORDS = _words(
    "no nope nah n not now thanks thank you dont do that i please wrong incorrect never way negative "
    "gracias ahora mejor para nada no quiero todavia aun decline declined thats can cant t cannot won wont "
    "puedo"
)
_DENY_CORE = _words("no not nope nah n negative nunca decline incorrect wrong")
_GREETING_WORDS = _words(
    "hi hello hey heya hiya howdy yo sup greetings good morning afternoon evening day there "
    "hola buenos buenas dias tardes noches buen que tal onda saludos"
)
_GREETING_CORE = _words(
    "hi hello hey heya hiya howdy yo sup greetings morning afternoon evening hola buenos buenas saludos"
)
_THANKS_WORDS = _words(
    "thanks thank you thx ty tysm so much very a lot bye goodbye see ya cya later ok okay great cool "
    "appreciate it have good nice day that's thats all take care gracias muchas mil adios hasta luego "
    "nos vemos chao bien listo perfecto"
)
_THANKS_CORE = _words("thanks thank thx ty tysm bye goodbye cya appreciate gracias adios chao luego vemos")
_IDENTITY_FILLER = _words(
    "my dob is it its date of birth born on birthday bday zip zipcode code postal and the statement number "
    "stmt s mi fecha de nacimiento naci el es codigo cumpleanos numero y i was"
)
_ES_WORDS = _words(
    "que como cuanto cuando donde por para pagar pague pago quiero puedo tengo tiene seguro factura cuenta "
    "hola gracias si mi mis el la los las de del un una es esta este esto ya me le lo con sin estoy hay "
    "necesito dinero cargo cargos saldo debo deben cobraron porque reclamo ayuda buenos buenas dias "
    "adios claro nunca tarjeta cheque efectivo hablar persona alguien nuevo nueva mes meses "
    # texting shortcuts and everyday words ("q significa coaseguro", "xq me cobraron", "aver cuanto es")
    "q xq pq k aver tmb significa quiere quisiera puede pueden podria usted ustedes nos se su sus al "
    "tambien pero todo toda todavia ahora hoy manana semana ano anos pagos mensual mensuales cuotas "
    "enlace mandar mande manda envie enviar mama papa hijo hija esposo esposa gracias favor porfa "
    "deducible coaseguro copago aseguranza doctor doctora consulta clinica cobro cobran llego vino"
)
_EN_WORDS = _words(
    "the i my is what how do you to can pay paid bill owe it this that a an of for and why was me we "
    "yes thanks thank hi hello hey insurance charge want need have am are please card"
)

_RE_CORRECTION = re.compile(
    r"\b(?:i meant|i mean|what i meant|i said|no,? i meant|actually|the other one|the other statement|"
    r"not that one|wrong one|not the .{1,25}(?:one|statement|bill|charge),? the|"
    r"quise decir|me referia|me refiero|el otro|la otra|no ese|no esa|en realidad)\b"
    r"|^no+[,.!]?\s+(?:the|it'?s|its|it was|el|la|es|era)\b"
)
_RE_CANCEL = re.compile(
    # "zero down or forget it" is an ultimatum about the terms, not a cancel.
    r"\b(?<!\bor )(?:never ?mind|nvm|forget (?:it|that|about it)|cancel (?:that|it|this)|scratch that|"
    r"olvidalo|olvidelo|olvida eso|olvide eso|dejalo|dejelo|cancela(?:lo)?(?: eso)?|no importa)\b"
    r"|^cancel$|^stop that$"
)


def detect_language(text: str) -> Literal["en", "es"]:
    if re.search(r"[ñ¿¡áéíóú]", text.lower()):
        return "es"
    words = normalize(text).split()
    es = sum(1 for w in words if w in _ES_WORDS)
    en = sum(1 for w in words if w in _EN_WORDS)
    return "es" if es > en else "en"


def is_correction(text: str) -> bool:
    return bool(_RE_CORRECTION.search(normalize_for_rules(text)))


def is_cancel(text: str) -> bool:
    return bool(_RE_CANCEL.search(normalize_for_rules(text)))


def normalize_for_rules(text: str) -> str:
    return normalize(fold_accents(text).replace("'", ""))


def _only(words: list[str], vocabulary: frozenset[str], core: frozenset[str]) -> bool:
    return bool(words) and all(w in vocabulary for w in words) and any(w in core for w in words)


@dataclass(frozen=True, slots=True)
class _RuleHit:
    intent: Intent
    confidence: float


def _apply_rules(text: str, context: UnderstandingContext, entities: Entities) -> _RuleHit | None:
    words = normalize_for_rules(text).split()
    if not words:
        return None
    expecting_answer = context.expecting in {"consent", "plan_choice", "confirm", "yes_no"}
    if (
        len(words) <= 8
        and _RE_CLOSING.search(" ".join(words))
        and words[0] not in _YES_LEAD
        and "?" not in text
        and not (entities.amounts_cents or entities.month_counts)  # "five dollars, that's it": terms
    ):
        # "alright that's it, thanks", "ok I'm good for now": the patient is done; no yes to anything.
        return _RuleHit(Intent.THANKS_GOODBYE, 0.9)
    if len(words) <= 6:
        if _only(words, _DENY_WORDS, _DENY_CORE) and "yes" not in words:
            return _RuleHit(Intent.DENY, 0.97 if expecting_answer else 0.92)
        if _only(words, _AFFIRM_WORDS, _AFFIRM_CORE):
            return _RuleHit(Intent.AFFIRM, 0.97 if expecting_answer else 0.92)
        if _only(words, _GREETING_WORDS, _GREETING_CORE):
            return _RuleHit(Intent.GREETING, 0.96)
        if _only(words, _THANKS_WORDS, _THANKS_CORE):
            return _RuleHit(Intent.THANKS_GOODBYE, 0.96)
        if is_cancel(text) and len(words) <= 4:
            return _RuleHit(Intent.DENY, 0.9)
    if (
        context.expecting in _YES_NO_OFFERS
        and (words[:2] in (["no", "thanks"], ["no", "thank"], ["nah", "thanks"]) or words[0] in _NO_LEAD)
        and "?" not in text
        and not (
            says_already_paid(text)
            or mentions_dispute(text)
            or mentions_hardship(text)
            or asks_for_person(text)
            or entities.amounts_cents
            or entities.month_counts
        )
    ):
        # "no thanks, I'll handle it at the front desk" to "Would you like a link?": a no, with a reason.
        return _RuleHit(Intent.DENY, 0.9)
    if (
        context.expecting == "consent"
        and words[0] in _YES_LEAD
        and len(words) <= 10
        and "?" not in text
        and all(w in _CONSENT_WORDS for w in words)
    ):
        # "yes, set that plan up", "ok go ahead and do it": a yes to the terms just stated, followed by
        # nothing but words about doing it (a question, new terms or a "but" are no consent).
        return _RuleHit(Intent.AFFIRM, 0.95)
    if (
        context.expecting == "human_offer"
        and words[0] in _YES_LEAD
        and len(words) <= 12
        and "?" not in text
        and all(w in _HANDOFF_YES_WORDS for w in words)
    ):
        # "yes please have them contact me", "sure, ask someone to call me": a yes to the offer of a person,
        # followed by nothing but words about being contacted (no change of contact details).
        return _RuleHit(Intent.AFFIRM, 0.95)
    if context.expecting in _NEGOTIATING and asks_for_person(text):
        # "actually can I talk to a person first" at a plan choice asks for a person; its "first" is no pick.
        return _RuleHit(Intent.REQUEST_HUMAN, 0.95)
    has_identity = bool(entities.date_of_birth or entities.zip_code or entities.statement_numbers) or bool(
        context.expecting == "identity" and entities.dates
    )
    if has_identity:
        rest = [w for w in words if not any(ch.isdigit() for ch in w) and w not in _IDENTITY_FILLER]
        rest = [w for w in rest if w not in _MONTH_WORDS]
        if not rest:
            return _RuleHit(Intent.IDENTITY_ANSWER, 0.97 if context.expecting == "identity" else 0.8)
    if (
        context.expecting == "plan_choice"
        and entities.line_refs
        and not entities.amounts_cents
        and not entities.month_counts
        and len(words) <= 8
        and "?" not in text
        and words[0] not in _QUESTION_WORDS
        and all(ref.ordinal is not None for ref in entities.line_refs)
    ):
        return _RuleHit(Intent.AFFIRM, 0.9)
    if (
        context.expecting == "plan_choice"
        and plan_by_length(text) is not None
        and len(words) <= 10
        and "?" not in text
        and words[0] not in _QUESTION_WORDS
        and not entities.amounts_cents
    ):
        return _RuleHit(Intent.AFFIRM, 0.9)  # "I'll take the shortest one": a pick by the plan's length
    if (
        context.expecting in _NEGOTIATING
        and _RE_DECLINE_FOR_NOW.search(" ".join(words))
        and not (entities.month_counts or entities.amounts_cents)
        and not mentions_hardship(text)
    ):
        # "none of them for now, thanks", "no plan for now", "I'll think about it": the patient steps away
        # from the negotiation; asking again and again is no answer to that.
        return _RuleHit(Intent.DENY, 0.9)
    rejected = _RE_OFFER_REJECTED.search(" ".join(words))
    if context.expecting == "plan_choice" and rejected and not mentions_hardship(text):
        # "those are all too high", "none of those work": still negotiating, not a dispute or hardship.
        return _RuleHit(Intent.PAYMENT_PLAN, 0.85)
    if context.expecting in _NEGOTIATING and (entities.month_counts or entities.amounts_cents):
        # Terms while a plan is on the table are a counter-offer ("$60 per month would work for me",
        # "can we do 4 months"), whatever the words around them; paying an amount outright stays pay_now.
        monthly = bool(entities.month_counts) or bool(_RE_MONTHLY_CUE.search(" ".join(words)))
        if monthly or not _asks_to_pay_now(words):
            return _RuleHit(Intent.PAYMENT_PLAN, 0.9)
    return None


_NEGOTIATING = frozenset({"plan_choice", "consent"})
_YES_LEAD = _words("yes yeah yea yep yup sure ok okay si claro dale")
_NO_LEAD = _words("nah nope naw")
_YES_NO_OFFERS = frozenset({"consent", "link_offer", "human_offer"})
_CONSENT_WORDS = _AFFIRM_WORDS | _words(
    "gracias muchas "
    "set it up that this the plan go ahead and do lets let s sign me one option payment pls plz thanks thank "
    "you sounds good works for great perfect i agree accept want to yes ok okay start make create hazlo "
    "el la ese esa plan hagalo adelante quiero acepto"
)
_RE_CLOSING = re.compile(
    r"\b(?:that s (?:it|all)|thats (?:it|all)|that is (?:it|all)|that will be all|that ll be all"
    r"|i m (?:good|all set|done)|im (?:good|all set|done)|nothing else|eso es todo|eso seria todo)\b"
)
_HANDOFF_YES_WORDS = _AFFIRM_WORDS | _words(
    "please pls plz have them him her someone somebody a person contact call reach out to get in touch with "
    "me text email ask tell that would be great thanks thank you go ahead do it i d like id like would "
    "appreciate it por favor que me llamen contacten llamen alguien gracias muchas"
)
_RE_DECLINE_FOR_NOW = re.compile(
    r"\b(?:none|neither|no plan|not|no)\b[\w ]{0,20}\b(?:for now|right now|at the moment|for today|today)\b"
    r"|\b(?:none of (?:them|those|these)|no plan|no)\b[\w ]{0,12}\b(?:thanks|thank you|thx)\b"
    r"|\b(?:i ll|i will|let me|ill) think (?:about it|it over)\b|\bmaybe later\b|\bi ll pass\b"
    r"|\bnot interested\b"
    r"|\bpor ahora no\b|\bahorita no\b|\blo voy a pensar\b"
)
_QUESTION_WORDS = _words("what whats how why when where which who que como cuando donde cual por")
_RE_OFFER_REJECTED = re.compile(
    r"\btoo (?:high|much|steep|expensive|big)\b"
    r"|\b(?:can ?t|cannot) (?:do|afford|manage|pay) (?:those|these|that|them|any)\b"
    r"|\bnone of (?:those|these|them|the)\b|\b(?:those|these|they) (?:don ?t|do not|won ?t) work\b"
    r"|\b(?:lower|smaller|cheaper) (?:payments?|amounts?|option)|\bsomething (?:lower|smaller|cheaper)\b"
    r"|\bmuy (?:alto|altos|caro|caros)\b|\bninguna? de (?:esas|esos)\b"
)
_RE_MONTHLY_CUE = re.compile(
    r"\b(?:a|per|each|every|by the) (?:month|mo)\b|\bmo?n(?:th|ht|t)h?l?y\b|\bmotnhly\b|\bmo\b|\bal mes\b"
    r"|\bpor mes\b"
    r"|\bmensual\w*|\bcada mes\b|\binstallments?\b|\bcuotas?\b"
)
_RE_MONEY_CUE = re.compile(r"[$€]|\b(?:dollars?|bucks?|usd|cents?|dolares|pesos)\b|\d+\.\d\d")
_PAY_NOW_WORDS = _words("now today ahora hoy link enlace instead full whole")


def _asks_to_pay_now(words: list[str]) -> bool:
    """Whether an amount is offered as a payment now ("can I just pay $100 today instead?")."""
    return any(w in _PAY_NOW_WORDS for w in words)


_SHAPE_WORDS = SHAPE_TOKENS

_MONTH_WORDS = _words(
    "january february march april may june july august september october november december jan feb mar apr "
    "jun jul aug sep sept oct nov dec enero febrero marzo abril mayo junio julio agosto septiembre octubre "
    "noviembre diciembre"
)


class LocalUnderstander:
    """Offline ``Understander``: a calibrated naive Bayes classifier plus rules."""

    def __init__(
        self,
        examples: Sequence[Example],
        encoder: SentenceEncoder | None = None,
        head: Head | None = None,
        *,
        spanish_examples: Sequence[Example] = (),
    ) -> None:
        self.encoder = encoder
        self.head = head
        # ``spanish_examples``: lines a Spanish message is read with, on top of ``examples``; an English
        # message is read without them, so they never move an English reading (in one model with the rest,
        # "no thanks, I'll handle it at the front desk" read as a payment dispute).
        self.model, self.temperature = _fit(examples)
        self._all_examples = [*examples, *spanish_examples] if spanish_examples else None
        self.speller: Speller | None = None
        self.rule_speller: Speller | None = None
        self._vocabulary: frozenset[str] = frozenset()
        self._english: frozenset[str] = frozenset()
        if encoder is not None:
            vocabulary = {
                w for text, _ in (*examples, *spanish_examples) for w in re.findall(r"[a-z]+", text.lower())
            }
            self.speller = Speller(encoder.whole_words(), vocabulary)
            # The rules read a message with only typos of their own words repaired: every English word, every
            # word of our lines (Spanish ones too) and each of their inflections is left as written.
            english = frozenset(encoder.whole_words())
            self._english = english
            self._vocabulary = frozenset(vocabulary)
            self.rule_speller = Speller(
                english | plain_words(vocabulary, english),  # a typo of a training line is no word
                (),
                rule_words(),
                for_rules=True,
                swap_targets=english | (domain := self._domain(english)),
                domain=domain,
            )

    @classmethod
    @cache
    def default(cls) -> LocalUnderstander:
        """The engine trained on the shipped data, with the shipped encoder; built once per process."""
        return cls.from_files(SentenceEncoder.default(), Head.load(HEAD_FILE))

    @classmethod
    def from_files(
        cls, encoder: SentenceEncoder | None = None, head: Head | None = None
    ) -> LocalUnderstander:
        """The engine on the shipped lines: ``intents_es_more.yaml`` for the Spanish reading only."""
        files = sorted(DATA_DIR.glob("intents_*.yaml"))
        more = [f for f in files if f.name == SPANISH_ONLY]
        base = [f for f in files if f.name != SPANISH_ONLY]
        return cls(load_examples(base), encoder, head, spanish_examples=load_examples(more))

    @cached_property
    def _spanish_bayes(self) -> tuple[NaiveBayes, float]:
        """The naive Bayes a Spanish message is read with (fitted on the first one)."""
        return _fit(self._all_examples) if self._all_examples else (self.model, self.temperature)

    @property
    def spanish_model(self) -> NaiveBayes:
        return self._spanish_bayes[0]

    @cached_property
    def spanish_speller(self) -> Speller:
        """The rules' repair of a Spanish message: only two neighbouring letters that changed places
        ("mensaulidades", "fatcura"), and only in a word that is neither Spanish (pyspellchecker's
        dictionary, loaded on the first Spanish message), English, nor a word of our lines."""
        spanish = SpellChecker(language="es", distance=1).word_frequency.dictionary
        domain = self._domain(self._english | spanish.keys())
        return Speller(
            self._english | plain_words(self._vocabulary, self._english | spanish.keys()) | spanish.keys(),
            (),
            for_rules=True,
            swap_targets=domain | spanish.keys(),
            domain=domain,
            frequency=spanish,
            swaps_only=True,
        )

    def _domain(self, dictionary: Container[str]) -> frozenset[str]:
        """The words of our lines that are no typos (by ``dictionary``) and the words the rules look for."""
        return plain_words(self._vocabulary, dictionary) | rule_words()

    def unknown_share(self, text: str) -> float:
        """The share of the message's words (numbers and amounts aside) never seen in training, nor
        (with the encoder) known as English words: "asdf qwer zxcv" is noise, "how do I say hello in
        Italian" is a question from another domain."""
        words = [t for t in tokens(text) if t.isalpha() and t not in _SHAPE_WORDS]
        if len(words) < 2:
            return 0.0  # one misspelt word ("balanse") is left to the character n-grams
        english = self.speller.known if self.speller is not None else frozenset()
        table, ours = self.model.tables.word, self._vocabulary  # (ours: the Spanish-only lines' words too)
        unseen = sum(1 for w in words if "w:" + w not in table and w not in ours and w not in english)
        return unseen / len(words)

    def encoded(self, text: str) -> list[float] | None:
        """The encoder head's probabilities for an English message (typos repaired first)."""
        if self.encoder is None or self.head is None:
            return None
        repaired = self.speller.repair(text) if self.speller is not None else text
        repaired = _without_reask(repaired)
        return [float(p) for p in self.head.probabilities(self.encoder.encode_one(repaired))[0]]

    def distribution(
        self, text: str, language: str = "en", expecting: str | None = None
    ) -> list[tuple[Intent, float]]:
        """Calibrated classifier probabilities, best first (no rules).

        A message answering a question the agent asked (``expecting``) is read in that context by naive
        Bayes, whose lines include such answers ("the longest one", "yes, set it up"); the encoder,
        reading the message alone, would find many of them out of scope.
        """
        model, temperature = self._spanish_bayes if language == "es" else (self.model, self.temperature)
        bayes = _softmax(model.scores(tokens(text)), temperature)
        # An identity question is answered by the identity rules (a date, a ZIP, a statement number); any
        # other message sent while identity is asked for is a question of its own, read as such.
        alone = expecting is None or expecting == "identity"
        encoded = self.encoded(text) if language == "en" and alone else None
        if encoded is None:
            return sorted(zip(INTENTS, bayes, strict=True), key=lambda pair: -pair[1])
        p_out = encoded[_OUT]
        if p_out >= OUT_OF_SCOPE_LINE and expecting == "identity":
            # Out of scope by the encoder while identity is asked for: naive Bayes' reading, as before the
            # encoder read such messages ("hows my balance looking" before verifying is a balance question).
            return sorted(zip(INTENTS, bayes, strict=True), key=lambda pair: -pair[1])
        if p_out >= OUT_OF_SCOPE_LINE and not (
            names_the_practice_bill(text)
            or asks_what_is_owed(text)
            or asks_own_balance(text)
            or names_a_details_change(text)
        ):
            rest = 1 - p_out
            probs = [p_out if i == _OUT else rest * p / max(1e-9, rest) for i, p in enumerate(encoded)]
            return sorted(zip(INTENTS, probs, strict=True), key=lambda pair: -pair[1])
        # Within the domain (the encoder said so, or the words name the patient's own bill with the
        # practice or ask for the balance with no other account named, which the encoder's everyday-text
        # negatives cannot outweigh): the geometric mean of
        # the two readings over the in-domain intents. The out-of-scope reading keeps the encoder's
        # probability but ranks last: it was ruled out.
        inside = [
            0.0 if i == _OUT else math.sqrt(max(a, 1e-12) * max(b, 1e-12))
            for i, (a, b) in enumerate(zip(encoded, bayes, strict=True))
        ]
        total = sum(inside) or 1.0
        ranked = sorted(
            (
                (intent, p / total)
                for intent, p in zip(INTENTS, inside, strict=True)
                if intent is not Intent.OUT_OF_SCOPE
            ),
            key=lambda pair: -pair[1],
        )
        return [*ranked, (Intent.OUT_OF_SCOPE, p_out)]

    def understand_sync(self, text: str, context: UnderstandingContext | None = None) -> Understanding:
        """The message read with its typos of known words repaired first (``Understanding.read_as``), so
        the rules read "my tmboile bill" as the encoder does."""
        spelled = text
        if self.rule_speller is not None:
            speller = self.rule_speller if detect_language(text) == "en" else self.spanish_speller
            spelled = speller.repair_keep_case(text)
        reading = self._read(spelled, context or UnderstandingContext())
        return reading.model_copy(update={"read_as": spelled if spelled != text else None})

    def _read(self, text: str, context: UnderstandingContext) -> Understanding:
        entities = extract_entities(text, today=context.today, expecting=context.expecting)
        if context.expecting == "plan_choice" and not entities.line_refs:
            number = choice_number(text)
            if number is not None:
                update: dict[str, object] = {"line_refs": [LineRef(ordinal=number)]}
                if entities.amounts_cents == [number * 100] and not _RE_MONEY_CUE.search(text.lower()):
                    update["amounts_cents"] = []  # "lets do 1" picks option 1; it is not $1
                entities = entities.model_copy(update=update)
        courteous = _without_courtesy(text)
        if courteous is not None:
            inner = self._read(courteous, context)
            return inner.model_copy(
                update={"frustration": frustration_score(text, context.previous_messages)}
            )
        language = detect_language(text)
        ranked = self.distribution(text, language, context.expecting)
        remainder = _after_cancel(text)
        if remainder is not None:
            # "never mind that - what do I owe right now?": the cancel clears what was pending, the rest is
            # the patient's question.
            inner = self._read(remainder, context.model_copy(update={"expecting": None}))
            if inner.intent not in (Intent.DENY, Intent.AFFIRM, Intent.OUT_OF_SCOPE):
                return inner.model_copy(
                    update={
                        "is_cancel": True,
                        "frustration": frustration_score(text, context.previous_messages),
                        "language": detect_language(text),
                    }
                )
        lead_rest = _after_chat_lead(text)
        if lead_rest is not None and (ranked[0][0] in _NOT_A_QUESTION or ranked[0][1] < CLAUSE_LINE):
            # "hey it's me again, when is that due", "buenas tardes, ¿cuánto debo?", "sorry hit the wrong
            # thing, what was my balance": the greeting or the slip is chat, the rest is the question.
            inner = self._read(lead_rest, context)
            if inner.intent not in _NOT_A_QUESTION:
                return inner.model_copy(
                    update={
                        "frustration": frustration_score(text, context.previous_messages),
                        "language": language,
                    }
                )
        aside_rest = _after_aside(text)
        if aside_rest is not None:
            # "unrelated, but I have a dispute with my card company. anyway, send a link so I can pay what I
            # owe here": what comes before "anyway" is an aside; the rest is the message's question.
            inner = self._read(aside_rest, context)
            if inner.intent not in _NOT_A_QUESTION and inner.confidence >= CLAUSE_LINE:
                return inner.model_copy(
                    update={
                        "frustration": frustration_score(text, context.previous_messages),
                        "language": language,
                    }
                )
        entities = _corrected(text, entities, context)
        hit = _apply_rules(text, context, entities)
        apart = asks_this_bill_apart(text)
        if hit is None and names_other_creditor(text) and not apart:
            hit = _RuleHit(Intent.OUT_OF_SCOPE, OTHER_CREDITOR_CONFIDENCE)
        if hit is None and (entities.month_counts or _RE_MONTHLY_CUE.search(normalize_for_rules(text))):
            top, p = ranked[0]
            # (The balance asked beside a plan, "what's the total and can I pay it monthly", is the node's
            # rule for every engine: agent.nodes.understand._weigh.)
            if top in (Intent.PAY_NOW, Intent.PAYMENT_PLAN):
                # Paying "monthly", "in installments", "over 6 months" is a plan, however it is phrased.
                hit = _RuleHit(Intent.PAYMENT_PLAN, max(p if top is Intent.PAYMENT_PLAN else 0.0, 0.85))
            elif (
                top is Intent.OUT_OF_SCOPE
                and p < NEAR_OUT_OF_SCOPE
                and entities.month_counts
                and len(ranked) > 1
                and ranked[1][0] is Intent.PAYMENT_PLAN
            ):
                # "i need 60 months on this, nothing shorter" read out of scope by a hair, a plan next: the
                # months asked for are the plan's term.
                hit = _RuleHit(Intent.PAYMENT_PLAN, 0.85)
        if hit is None and self.unknown_share(text) > MAX_UNKNOWN_SHARE:
            # Mostly words the engine has never seen ("asdf qwer zxcv"): whatever the character n-grams
            # lean to is noise, so say so with a low confidence and let the agent ask.
            hit = _RuleHit(Intent.OUT_OF_SCOPE, UNKNOWN_CONFIDENCE)
        if hit is not None:
            rest = [(i, p) for i, p in ranked if i != hit.intent]
            mass = sum(p for _, p in rest) or 1.0
            ranked = [(hit.intent, hit.confidence)] + [(i, p * (1 - hit.confidence) / mass) for i, p in rest]
        if hit is not None and hit.intent is Intent.AFFIRM and context.expecting == "plan_choice":
            entities = _plan_choice_entities(entities)
        intent, confidence = ranked[0]
        if (intent is Intent.OUT_OF_SCOPE or confidence < CLAUSE_LINE) and (
            apart or not names_other_creditor(text)
        ):
            clause = self._clause_reading(text, context, confidence)
            if clause is not None:
                return clause.model_copy(
                    update={
                        "entities": entities,
                        "frustration": frustration_score(text, context.previous_messages),
                        "language": language,
                        "is_correction": is_correction(text),
                        "is_cancel": is_cancel(text),
                    }
                )
        return Understanding(
            intent=intent,
            confidence=round(confidence, 4),
            alternatives=[(i, round(p, 4)) for i, p in ranked[:3]],
            entities=entities,
            frustration=frustration_score(text, context.previous_messages),
            language=language,
            is_correction=is_correction(text),
            is_cancel=is_cancel(text),
        )

    async def understand(self, text: str, context: UnderstandingContext) -> Understanding:
        return self.understand_sync(text, context)

    def _clause_reading(
        self, text: str, context: UnderstandingContext, confidence: float
    ) -> Understanding | None:
        """A billing question after a preamble ("hey sorry, got busy. can you tell me the balance one more
        time", "my kid grabbed my phone lol. whats the amount due"): the whole message reads as chat, the
        question alone reads clearly. The last sentence that is a clear billing question answers for the
        message; one sentence alone, or no clear one, leaves the message's own reading."""
        clauses = [c for c in _RE_SENTENCE_END.split(text) if len(c.split()) >= CLAUSE_MIN_WORDS]
        if len(clauses) < 2:
            return None
        for clause in reversed(clauses):
            inner = self._read(clause, context)
            if inner.intent in _NOT_A_QUESTION or inner.confidence < CLAUSE_LINE:
                continue
            # A sentence that names this practice's bill or asks what is owed on it is the question,
            # however sure the whole message read as chat ("my landlord's taking me to court this week,
            # great. how much is my medical bill?"); any other sentence must read clearer than the whole.
            if inner.confidence >= confidence or _asks_of_this_bill(clause):
                return inner
        return None


def _asks_of_this_bill(clause: str) -> bool:
    """The sentence names the patient's own bill with this practice or asks what is owed on it."""
    return not names_other_creditor(clause) and (
        names_the_practice_bill(clause) or asks_what_is_owed(clause) or asks_own_balance(clause)
    )


# Words a patient adds when asking again ("one more time", "again real quick"): they say nothing of what is
# asked, and the encoder reads them as CLINC's "repeat that" (out of scope). Dropped before encoding when
# a question of its own remains.
_RE_REASK = re.compile(
    r"\b(?:one more time|once more|once again|again|real quick|rq|por favor otra vez|otra vez|de nuevo)\b",
    re.IGNORECASE,
)


def _without_reask(text: str) -> str:
    rest = " ".join(_RE_REASK.sub(" ", text).split())
    return rest if len(rest.split()) >= 3 else text


# A message read as out of scope, or below this, is read sentence by sentence (``_clause_reading``).
CLAUSE_LINE = 0.6
CLAUSE_MIN_WORDS = 3
_RE_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
_NOT_A_QUESTION = frozenset(
    {Intent.OUT_OF_SCOPE, Intent.GREETING, Intent.THANKS_GOODBYE, Intent.AFFIRM, Intent.DENY}
)


_RE_CORRECTION_CUE = re.compile(
    r"\b(?:i mean|i meant|no wait|wait|make that|make it|actually|sorry|rather|instead|quise decir|mejor)\b"
)


def _corrected(text: str, entities: Entities, context: UnderstandingContext) -> Entities:
    """A figure corrected in the same message ("$100, no wait, $80") puts the corrected one first."""
    lowered = normalize_for_rules(text)
    cues = list(_RE_CORRECTION_CUE.finditer(lowered))
    if not cues or len(entities.amounts_cents) + len(entities.month_counts) < 2:
        return entities
    tail = extract_entities(lowered[cues[-1].end() :], today=context.today, expecting=context.expecting)
    update: dict[str, list[int]] = {}
    if tail.amounts_cents:
        first = tail.amounts_cents[0]
        update["amounts_cents"] = [first, *(a for a in entities.amounts_cents if a != first)]
    if tail.month_counts:
        first = tail.month_counts[0]
        update["month_counts"] = [first, *(m for m in entities.month_counts if m != first)]
    return entities.model_copy(update=update) if update else entities


_RE_CANCEL_LEAD = re.compile(
    r"^(?:ok(?:ay)?\s+|well\s+|actually\s+)?(?:never ?mind|nvm|forget (?:it|that|about it)|scratch that|"
    r"olvidalo|olvida eso|no importa)(?:\s+(?:that|about that|eso))?\s+(?P<rest>.+)$"
)


def _after_cancel(text: str) -> str | None:
    """The question after a leading cancel ("never mind that, what do I owe?"), when there is one."""
    match = _RE_CANCEL_LEAD.match(normalize_for_rules(text))
    if match is None:
        return None
    rest = match["rest"]
    return rest if len(rest.split()) >= 3 else None


# A greeting, a "me again" or an apology for a slip of the thumb before a question, set off by punctuation.
_RE_CHAT_LEAD = re.compile(
    r"^\s*(?:"
    r"(?:(?:hi|hello|hey|hiya|heya|howdy|yo|greetings|good (?:morning|afternoon|evening)|hola|buenas"
    r"(?: tardes| noches)?|buenos dias|buen dia)(?:,? (?:there|again|all|team|guys|you|folks|buenas"
    r"(?: tardes| noches)?|buenos dias|good (?:morning|afternoon|evening)))*)"
    r"|(?:(?:hi|hey|hello),? )?(?:it'?s|it is) (?:just )?me(?: again| back)?"
    r"|(?:(?:sorry|oops|whoops|oh|ugh|my bad|perdon|disculpe?|lo siento)(?: about that)?,?)"
    r"(?: (?:i )?(?:hit|pressed|tapped|clicked|typed|sent|pushed|touched|picked) (?:the |a |on )?wrong \w+"
    r"| wrong \w+)?"
    r"|(?:i )?(?:hit|pressed|tapped|clicked|typed|sent|pushed|touched|picked) (?:the |a |on )?wrong \w+"
    r")\s*[,.!;:\-]+\s*(?P<rest>\S.*)$"
)


# A one-word greeting run straight into the question, as texted ("hey wuts my bal", "hola cuanto debo").
_RE_BARE_GREETING_LEAD = re.compile(
    r"^\s*(?:hi|hello|hey|heya|hiya|yo|hola)\s+(?!(?:there|again|all|team|guys|you|folks|buenas|buenos)\b)"
    r"(?P<rest>[a-z].*)$"
)


_RE_ASIDE_END = re.compile(
    r"(?:^|[.,;!?-]\s*|\s)(?:but )?(?:anyway|anyways|anyhow|back to (?:my|the) bill)\b\W*", re.I
)


def _after_aside(text: str) -> str | None:
    """What follows the last "anyway" that closes an aside, when there are words enough."""
    ends = list(_RE_ASIDE_END.finditer(text))
    if not ends or ends[-1].start() == 0:
        return None
    rest = text[ends[-1].end() :].strip()
    return rest if len(rest.split()) >= 3 else None


def _after_chat_lead(text: str) -> str | None:
    """The question after a greeting or a slip ("hi, what do I owe"), when there are words enough."""
    folded = fold_accents(text).lower().replace("’", "'").replace("¿", " ").replace("¡", " ")
    match = _RE_CHAT_LEAD.match(folded) or _RE_BARE_GREETING_LEAD.match(folded)
    if match is None:
        return None
    rest = match["rest"]
    return rest if len(rest.split()) >= 2 else None


# Courtesy and how the patient feels, said beside the question ("sorry if this is a silly question",
# "thanks for your patience", "it's been a rough week", "I'm a bit lost with all this"): it asks nothing, and
# read together with the question it pulls the reading away from it (an apology towards a dispute, being
# lost towards "explain my statement"). Such a phrase at the start (set off by punctuation) or at the end
# is set aside and the rest is read; how upset the message is is still read on the whole of it.
_COURTESY = (
    r"(?:(?:i'?m|i am) )?(?:so |very |really |terribly )?sorry"
    r"(?: (?:if|for|to|about) (?:this is |it'?s |i'?m asking )?(?:a |such a )?"
    r"(?:silly|dumb|stupid|basic|obvious|weird|odd|strange|simple|quick) question"
    r"| (?:for|about) (?:the|all the|all these|all of the|my|so many|these) "
    r"(?:questions?|trouble|bother|hassle|confusion|messages?|texts?|delay|late reply|wait)"
    r"| (?:to|for) (?:bother|bothering|trouble|troubling|ask|asking|pester|pestering)(?: you)?"
    r"(?: (?:again|with this))?"
    r"| (?:again|in advance|about that))?"
    r"|(?:my )?apologies(?: for (?:the|all the) (?:questions?|trouble|bother|confusion))?"
    r"|(?:thanks?|thank you|thx|many thanks|much appreciated|(?:i )?appreciate (?:it|the help|your help))"
    r"(?: (?:so|very) much| a lot| a bunch| a ton)?"
    r"(?: (?:for|in) (?:advance|your (?:help|patience|time|understanding|assistance)"
    r"|the help|helping(?: me)?|bearing with me|being (?:so )?patient|listening))?(?: again)?"
    r"|(?:it'?s|its|it has) been (?:a |such a )?(?:long|rough|crazy|busy|hard|tough|hectic|stressful|weird)"
    r" (?:week|day|month|year|morning|few (?:days|weeks))(?:,? sorry)?"
    r"|(?:what|such) a (?:long|rough|crazy|busy|hard|tough|hectic) (?:week|day)"
    r"|(?:i'?m|i am|i feel) (?:honestly |just |really |so |truly |pretty |kind of |kinda |a (?:bit|little) "
    r"|a little bit )*(?:confused|lost|tired|stressed(?: out)?|overwhelmed|frazzled)"
    r"(?: (?:by|about|with) (?:all (?:of )?)?(?:this|it|that|everything))?"
    r"|(?:i )?hope (?:you'?re|you are) (?:doing )?(?:well|good|ok|okay)(?: today)?"
    r"|(?:please )?bear with me"
    r"|this (?:might|may|could) be a (?:silly|dumb|stupid|basic) question"
)
_RE_COURTESY_LEAD = re.compile(rf"^\s*(?:{_COURTESY})\s*[,.!;:]+\s*(?P<rest>\S.*)$")
_RE_COURTESY_TAIL = re.compile(rf"^(?P<rest>.*?\S)[\s,.!;:-]+(?:{_COURTESY})\s*[.!]*\s*$")


def _without_courtesy(text: str) -> str | None:
    """The message without its courtesy phrases at either end, when something is left."""
    folded = text.replace("’", "'")
    rest = folded
    for _ in range(3):
        lowered = rest.lower()
        match = _RE_COURTESY_LEAD.match(lowered) or _RE_COURTESY_TAIL.match(lowered)
        if match is None:
            break
        start, end = match.span("rest")
        rest = rest[start:end]
    return rest if rest != folded and re.search(r"\w", rest) else None


# The words the rules look for (the patterns and word lists of the cue, escalation, screening and frustration
# rules, four letters or more): a typo of one is read as that word, whether or not a training line has it.
_RE_ESCAPE = re.compile(r"\\[a-zA-Z]")
_RE_RULE_WORD = re.compile(r"(?<![a-z])[a-z]{4,}(?![a-z])")


@cache
def rule_words() -> frozenset[str]:
    from agent.understanding import cues, frustration
    from guardrails import escalation, screening

    found: set[str] = set()
    for module in (cues, escalation, screening, frustration):
        for value in vars(module).values():
            if isinstance(value, re.Pattern):
                found.update(_RE_RULE_WORD.findall(_RE_ESCAPE.sub(" ", str(value.pattern))))
            elif isinstance(value, tuple | frozenset) and value and all(isinstance(v, str) for v in value):
                found.update(w for v in value for w in _RE_RULE_WORD.findall(v))
    return frozenset(found)


def _plan_choice_entities(entities: Entities) -> Entities:
    """Keep only ordinal references when a patient picks a plan option ("the second one")."""
    refs = [LineRef(ordinal=r.ordinal) for r in entities.line_refs if r.ordinal is not None]
    return entities.model_copy(update={"line_refs": refs})


def intent_counts(examples: Sequence[Example]) -> Mapping[Intent, int]:
    counts: dict[Intent, int] = {}
    for _, intent in examples:
        counts[intent] = counts.get(intent, 0) + 1
    return counts
