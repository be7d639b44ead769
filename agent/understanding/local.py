"""The local understanding engine: no model, offline, deterministic.

A multinomial naive Bayes classifier over word unigrams/bigrams and character 3–5-grams (trained from
``data/intents_*.yaml`` once per process, in well under a second), calibrated with a temperature fitted on
a held-back dev split, plus high-precision rules for short answers, greetings, thanks and identity
answers. Entities, frustration, language, correction and cancellation are read alongside.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

from agent.understanding.base import Entities, Intent, LineRef, Understanding, UnderstandingContext
from agent.understanding.entities import extract_entities
from agent.understanding.features import featurize, tokens
from agent.understanding.frustration import frustration_score
from agent.understanding.text import fold_accents, normalize

DATA_DIR = Path(__file__).parent / "data"

INTENTS: tuple[Intent, ...] = tuple(Intent)

# Smoothing and feature-group weights; dev-split accuracy is flat for ALPHA in [0.05, 0.3] and
# CHAR_WEIGHT in [0.2, 0.8], so these sit in the middle.
ALPHA = 0.1
WORD_WEIGHT = 1.0
CHAR_WEIGHT = 0.35
DEV_EVERY = 4  # every 4th utterance of each intent goes to the dev split

Example = tuple[str, Intent]
Featurized = tuple[tuple[list[str], list[str]], Intent]


def load_examples(paths: Iterable[Path] | None = None) -> list[Example]:
    """Training utterances from the YAML files, in file order."""
    files = sorted(DATA_DIR.glob("intents_*.yaml")) if paths is None else list(paths)
    out: list[Example] = []
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
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
    "gracias ahora mejor para nada no quiero todavia aun decline declined thats"
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
    "adios claro nunca tarjeta cheque efectivo hablar persona alguien nuevo nueva mes meses"
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
    r"\b(?:never ?mind|nvm|forget (?:it|that|about it)|cancel (?:that|it|this)|scratch that|"
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
        and len(words) <= 5
        and all(ref.ordinal is not None for ref in entities.line_refs)
    ):
        return _RuleHit(Intent.AFFIRM, 0.9)
    return None


_MONTH_WORDS = _words(
    "january february march april may june july august september october november december jan feb mar apr "
    "jun jul aug sep sept oct nov dec enero febrero marzo abril mayo junio julio agosto septiembre octubre "
    "noviembre diciembre"
)


class LocalUnderstander:
    """Offline ``Understander``: a calibrated naive Bayes classifier plus rules."""

    def __init__(self, examples: Sequence[Example]) -> None:
        train, dev = split_examples(examples)
        train_set = set(train)
        featurized = featurize_examples(examples)
        train_features = [f for f, ex in zip(featurized, examples, strict=True) if ex in train_set]
        self.temperature = fit_temperature(NaiveBayes(train_features), dev) if dev else 1.0
        self.model = NaiveBayes(featurized)

    @classmethod
    @cache
    def default(cls) -> LocalUnderstander:
        """The engine trained on the shipped data; built once per process."""
        return cls(load_examples())

    def distribution(self, text: str) -> list[tuple[Intent, float]]:
        """Calibrated classifier probabilities, best first (no rules)."""
        probs = _softmax(self.model.scores(tokens(text)), self.temperature)
        return sorted(zip(INTENTS, probs, strict=True), key=lambda pair: -pair[1])

    def understand_sync(self, text: str, context: UnderstandingContext | None = None) -> Understanding:
        context = context or UnderstandingContext()
        entities = extract_entities(text, today=context.today, expecting=context.expecting)
        ranked = self.distribution(text)
        hit = _apply_rules(text, context, entities)
        if hit is not None:
            rest = [(i, p) for i, p in ranked if i != hit.intent]
            mass = sum(p for _, p in rest) or 1.0
            ranked = [(hit.intent, hit.confidence)] + [(i, p * (1 - hit.confidence) / mass) for i, p in rest]
        if hit is not None and hit.intent is Intent.AFFIRM and context.expecting == "plan_choice":
            entities = _plan_choice_entities(entities)
        intent, confidence = ranked[0]
        return Understanding(
            intent=intent,
            confidence=round(confidence, 4),
            alternatives=[(i, round(p, 4)) for i, p in ranked[:3]],
            entities=entities,
            frustration=frustration_score(text, context.previous_messages),
            language=detect_language(text),
            is_correction=is_correction(text),
            is_cancel=is_cancel(text),
        )

    async def understand(self, text: str, context: UnderstandingContext) -> Understanding:
        return self.understand_sync(text, context)


def _plan_choice_entities(entities: Entities) -> Entities:
    """Keep only ordinal references when a patient picks a plan option ("the second one")."""
    refs = [LineRef(ordinal=r.ordinal) for r in entities.line_refs if r.ordinal is not None]
    return entities.model_copy(update={"line_refs": refs})


def intent_counts(examples: Sequence[Example]) -> Mapping[Intent, int]:
    counts: dict[Intent, int] = {}
    for _, intent in examples:
        counts[intent] = counts.get(intent, 0) + 1
    return counts
