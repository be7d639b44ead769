"""The practice knowledge base: plain-language policy documents, searched with SQLite FTS5.

Documents are markdown files: a ``# Title`` line, then sections under ``## Heading``
lines. Each section is one passage (text before the first ``##`` is a passage
headed by the title). Passages are indexed once, in an in-memory SQLite FTS5 table
with the porter stemmer, and ranked with bm25, the heading weighing more than the
body. Queries are reduced to plain words before they reach FTS5, so any user text
(quotes, operators, SQL, emoji) is a valid query; a relevance floor keeps an
off-topic question from returning a passage that merely shares a word: a passage
must also cover enough of the query, each word weighted by its rarity (a word the
documents never use, like "weather", weighs most and is covered by none).
"""

from __future__ import annotations

import functools
import math
import re
import sqlite3
import threading
import unicodedata
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tools.errors import ConfigurationError

DEFAULT_DOCS_DIR = Path(__file__).resolve().parent / "docs"

# bm25 column weights, in table column order: doc_id (unindexed), title, heading, body.
_BM25_WEIGHTS = "0.0, 2.0, 4.0, 1.0"
_MAX_QUERY_TERMS = 32
_WORD = re.compile(r"[^\W_]+")
_NEGATION = re.compile(r"\b(?:not|no|never|don'?t|doesn'?t|won'?t|can'?t|cannot|isn'?t|aren'?t)\b")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")

# Words that carry no topic: question scaffolding and pronouns. Kept small on purpose;
# bm25 already discounts words that are common in the documents.
_STOPWORD_TEXT = """
    a about am an and any are as at be been being but by can could did do does doing don for from get got had
    has have having he her here hers him his how i if im in into is it its itself just me might mine more most
    my myself no nor not now of off on once only or other our ours out over please s same she should so some
    such t than that thats the their theirs them then there these they this those through to too under until
    up very was we were what whats when where which while who whom why will with would you your yours
    yourself hi hello hey thanks thank tell know want need like im ive id ill dont doesnt cant wont isnt
    really also still ok okay yes yet hasn haven hadn didn doesn isn wasn weren aren won wouldn couldn
    shouldn ve ll re d time today good like go going thing things much many way one let see say said something
    anything mean means meaning explain work works
    que de del la el los las lo con en por mi mis un una unos unas puedo puede se es y o su sus para como
    donde cual cuales cuando hay tienen tiene usar usted ustedes le les me nos al
    exactly actually basically simply simple plain words word definition define defined difference
    differences versus vs understand wondering curious quick question questions kind sort
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Patients' words for what the documents call something else. A query word also matches its synonyms,
# and counts as covered by a passage that has any of them ("payment methods" finds "Ways to pay").
SYNONYMS: dict[str, tuple[str, ...]] = {
    "method": ("ways",),
    "methods": ("ways",),
    "option": ("ways",),
    "options": ("ways",),
    "forms": ("ways",),
    "take": ("accept",),
    "pay": ("ways",),
    "paying": ("ways",),
    "bitcoin": ("cryptocurrency",),
    "crypto": ("cryptocurrency",),
    "installments": ("plans",),
    "installment": ("plan",),
    # Apps that send money to a person are named in "What we do not accept".
    "venmo": ("apps",),
    "zelle": ("apps",),
    "cashapp": ("apps",),
    "paypal": ("apps",),
    "autopay": ("portal",),
    "amex": ("american",),
    # The documents are in English; a Spanish question reaches them through its key words.
    "pagar": ("pay",),
    "pago": ("pay", "payment"),
    "pagos": ("pay", "payments"),
    "tarjeta": ("card",),
    "tarjetas": ("cards",),
    "credito": ("credit",),
    "debito": ("debit",),
    "cheque": ("check",),
    "cheques": ("checks",),
    "efectivo": ("cash",),
    "telefono": ("phone",),
    "formas": ("ways",),
    "aceptan": ("accept",),
    "acepta": ("accept",),
    "oficina": ("desk",),
    "comision": ("fee",),
    "cargo": ("fee",),
    "mando": ("mail",),
    "correo": ("mail",),
    "banco": ("bank",),
    "cuenta": ("account",),
    "enlace": ("link",),
    "seguro": ("insurance",),
    "deducible": ("deductible",),
    "coseguro": ("coinsurance",),
    "copago": ("copay",),
    "reembolso": ("refund",),
    "factura": ("statement", "bill"),
}


class Passage(BaseModel):
    """One section of a knowledge-base document; ``score`` is higher for a better match."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    doc_id: str
    title: str
    heading: str
    text: str
    score: float


def parse_markdown(doc_id: str, markdown: str) -> list[tuple[str, str, str, str]]:
    """Split a document into ``(doc_id, title, heading, text)`` sections by ``##`` heading.

    Deeper headings stay inside their section's text. A document without a ``#`` title
    is titled by its id.
    """
    title = doc_id.replace("-", " ").replace("_", " ").capitalize()
    sections: list[tuple[str, list[str]]] = []
    heading: str | None = None
    lines: list[str] = []
    in_fence = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match and len(match.group(1)) == 1 and heading is None and not sections and not any(lines):
            title = match.group(2)
            continue
        if match and len(match.group(1)) == 2:
            sections.append((heading or title, lines))
            heading, lines = match.group(2), []
            continue
        lines.append(line)
    sections.append((heading or title, lines))
    out = []
    for section_heading, section_lines in sections:
        text = "\n".join(section_lines).strip()
        if text:
            out.append((doc_id, title, section_heading, text))
    return out


def query_terms(query: str) -> list[str]:
    """The words of ``query`` worth searching for: lower-cased, de-duplicated, no stopwords."""
    seen: dict[str, None] = {}
    folded = "".join(c for c in unicodedata.normalize("NFKD", query.lower()) if not unicodedata.combining(c))
    for word in _WORD.findall(folded):
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        seen.setdefault(word, None)
        if len(seen) == _MAX_QUERY_TERMS:
            break
    return list(seen)


class KnowledgeBase:
    """Search over a fixed set of documents. Build it once; ``search`` is thread-safe."""

    def __init__(
        self, documents: dict[str, str], *, min_score: float = 2.5, min_coverage: float = 0.4
    ) -> None:
        """``documents`` maps a document id to its markdown.

        The relevance floor: a passage is returned only when its bm25 score is at least
        ``min_score`` and it contains at least ``min_coverage`` of the query's words,
        weighted by inverse document frequency.
        """
        self.min_score = min_score
        self.min_coverage = min_coverage
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE VIRTUAL TABLE passages USING fts5("
            "doc_id UNINDEXED, title, heading, body, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        rows = [row for doc_id, text in sorted(documents.items()) for row in parse_markdown(doc_id, text)]
        self._db.executemany("INSERT INTO passages (doc_id, title, heading, body) VALUES (?, ?, ?, ?)", rows)
        self._db.commit()
        self._vocabulary = frozenset(
            word for row in rows for part in row[1:] for word in _WORD.findall(_fold(part.lower()))
        ) | frozenset(SYNONYMS)
        self.doc_ids: tuple[str, ...] = tuple(sorted(documents))
        self.passage_count = len(rows)

    @classmethod
    def from_dir(cls, path: Path) -> KnowledgeBase:
        """Every ``*.md`` file in ``path``; the document id is the file name without ``.md``."""
        if not path.is_dir():
            raise ConfigurationError(f"knowledge base folder not found: {path}")
        documents = {p.stem: p.read_text(encoding="utf-8") for p in sorted(path.glob("*.md"))}
        if not documents:
            raise ConfigurationError(f"knowledge base folder has no .md documents: {path}")
        return cls(documents)

    @classmethod
    def default(cls) -> KnowledgeBase:
        """The demo practice's documents shipped in ``tools/kb/docs`` (built once per process)."""
        return _default()

    def search(self, query: str, k: int = 3) -> list[Passage]:
        """Up to ``k`` passages relevant to ``query``, best first; ``[]`` when nothing clears the floor."""
        terms = query_terms(query)
        if k <= 0 or not terms:
            return []
        # Each query word is a group: the word and its synonyms. Every term is letters and digits only,
        # quoted: FTS5 reads it as a plain string, never syntax.
        groups = [[f'"{t}"' for t in self._spellings(term)] for term in terms]
        with self._lock:
            anywhere = [[self._rowids(q) for q in group] for group in groups]
            in_heading = [set().union(*(self._rowids(f"heading : {q}") for q in group)) for group in groups]
            in_title = [set().union(*(self._rowids(f"title : {q}") for q in group)) for group in groups]
            rows = self._db.execute(
                f"SELECT rowid, doc_id, title, heading, body, -bm25(passages, {_BM25_WEIGHTS}) "
                "FROM passages WHERE passages MATCH ?",
                (" OR ".join(q for group in groups for q in group),),
            ).fetchall()
        # A group weighs as its word if the documents use it, else as its best-known synonym.
        idf = [self._idf(len(hits[0]) if hits[0] else min(map(len, hits))) for hits in anywhere]
        covered = [set().union(*hits) for hits in anywhere]
        total = sum(idf)
        negative = bool(_NEGATION.search(query.lower()))
        scored: list[tuple[float, float, Passage]] = []
        for rowid, doc_id, title, heading, body, bm25 in rows:
            coverage = sum(w for w, hit in zip(idf, covered, strict=True) if rowid in hit) / total
            # bm25 all but ignores words most passages share ("payment", "plan"), yet a section
            # *headed* "Payment plans" is the answer to "how do payment plans work".
            # A section headed by a negation ("What we do not accept") answers a negative question only.
            heading_counts = not _NEGATION.search(heading.lower()) or negative
            bonus = sum(
                (1.0 + w) * ((rowid in h and heading_counts) + 0.5 * (rowid in t))
                for w, h, t in zip(idf, in_heading, in_title, strict=True)
            )
            score = round(bm25 + bonus, 4)
            passage = Passage(doc_id=doc_id, title=title, heading=heading, text=body, score=score)
            scored.append((score, coverage, passage))
        scored.sort(key=lambda item: (-item[0], item[2].doc_id, item[2].heading))
        return [
            p for score, coverage, p in scored if score >= self.min_score and coverage >= self.min_coverage
        ][:k]

    def _spellings(self, term: str) -> list[str]:
        """The word, its synonyms, and the word a typo of it stands for with that word's synonyms."""
        words = [term, *SYNONYMS.get(term, ())]
        for fixed in self._typo_of(term):
            words.extend((fixed, *SYNONYMS.get(fixed, ())))
        return list(dict.fromkeys(words))

    def _typo_of(self, term: str) -> tuple[str, ...]:
        """The documents' word a misspelt query word stands for ("mtehods", "netwrok"): one edit away (a
        swap of two neighbours counts as one), same first letter, six letters or more; none when the
        word is the documents' own or a synonym's key."""
        if len(term) < _TYPO_MIN or term in self._vocabulary or term in SYNONYMS or not term.isalpha():
            return ()
        for word in (term, term[:-1] if term.endswith("s") else ""):  # "mtehods": the documents' "method"
            near = sorted(
                w
                for w in self._vocabulary
                if word and w[0] == word[0] and abs(len(w) - len(word)) <= 1 and _one_edit(word, w)
            )
            if near:
                return (near[0],)
        return ()

    def _rowids(self, match: str) -> set[int]:
        return {
            rowid
            for (rowid,) in self._db.execute("SELECT rowid FROM passages WHERE passages MATCH ?", (match,))
        }

    def _idf(self, matching: int) -> float:
        """bm25's inverse document frequency, floored so a very common word still counts a little."""
        n = self.passage_count
        return max(math.log((n - matching + 0.5) / (matching + 0.5)), 0.05)


_TYPO_MIN = 6


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by exactly one insertion, deletion, substitution or swap of two
    neighbouring letters."""
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 1:
            return True
        i = diff[0]
        return len(diff) == 2 and diff[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long_, strict=False)) if x != y), len(short))
    return short[i:] == long_[i + 1 :]


@functools.cache
def _default() -> KnowledgeBase:
    return KnowledgeBase.from_dir(DEFAULT_DOCS_DIR)
