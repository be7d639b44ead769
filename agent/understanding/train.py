"""Fit the encoder's classifier head and write ``data/encoder_head.npz``.

.venv/bin/python -m agent.understanding.train

Positives are our English intent lines (``data/intents_en.yaml``) and the lines of CLINC150's **train**
split for its four bill intents that are about a bill of ours, mapped to our intents
(:data:`agent.understanding.clinc.BILL_INTENTS`); out-of-scope negatives are that split's 146 non-billing
intents (``NEGATIVES_PER_INTENT`` lines each), ``oos_train`` and its bill lines naming another creditor
("pay my water bill"), read from ``../shared/data/clinc150`` (never its validation split: that is the
measurement). The softmax
temperature is fitted on held-back lines (every 4th of ours, the next lines of each CLINC intent), then
the head is refitted on everything. Takes about a minute on two cores (most of it embedding).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.understanding import clinc
from agent.understanding.base import Intent
from agent.understanding.cues import asks_own_balance, names_other_creditor
from agent.understanding.encoder import SentenceEncoder, model_dir
from agent.understanding.head import HEAD_FILE, INTENTS, L2, Head, fit_logistic, fit_temperature
from agent.understanding.local import DATA_DIR, load_examples, split_examples

ENGLISH = DATA_DIR / "intents_en.yaml"
NEGATIVES_PER_INTENT = 80  # lines of each CLINC non-billing intent fitted on (of its 100)
HELD_PER_INTENT = 20  # the other 20 of each, held back to fit the temperature
# The out-of-scope class weighs as much as this many of our intents together: enough to learn where
# billing ends, not so much that short billing questions lose to it.
OUT_OF_SCOPE_WEIGHT = 6.0
# What one of CLINC's bill lines weighs against one of our own lines of the same intent.
BORROWED_WEIGHT = 0.3
# Bumped when the fit itself changes in a way the inputs do not show (the solver, the temperature grid).
FIT_VERSION = 2


def clinc_negatives() -> tuple[list[str], list[str]]:
    """CLINC train lines outside billing, split into (fit, held back)."""
    by_intent: dict[str, list[str]] = {}
    for text, label in clinc.load("train"):
        # A bare balance ask ("what is my balance") is the practice's balance in our channel: no negative.
        if label not in clinc.BILL_INTENTS and not asks_own_balance(text):
            by_intent.setdefault(label, []).append(text)
    fit: list[str] = []
    held: list[str] = []
    for lines in by_intent.values():
        fit.extend(lines[:NEGATIVES_PER_INTENT])
        held.extend(lines[NEGATIVES_PER_INTENT : NEGATIVES_PER_INTENT + HELD_PER_INTENT])
    oos = [text for text, _ in clinc.load("oos_train")]
    cut = len(oos) * 3 // 4
    return fit + oos[:cut], held + oos[cut:]


def clinc_bill_lines() -> tuple[list[tuple[str, Intent]], list[tuple[str, Intent]], list[str]]:
    """CLINC train lines of its four bill intents: those about a bill of ours, mapped to our intent
    (:data:`agent.understanding.clinc.BILL_INTENTS`) and split into (fit, held back), and those naming
    another creditor ("when is my verizon bill due"), which are out of scope here."""
    by_intent: dict[str, list[str]] = {}
    other: list[str] = []
    for text, label in clinc.load("train"):
        if label in clinc.BILL_INTENTS:
            (other if names_other_creditor(text) else by_intent.setdefault(label, [])).append(text)
    fit: list[tuple[str, Intent]] = []
    held: list[tuple[str, Intent]] = []
    for label, lines in by_intent.items():
        cut = len(lines) * 4 // 5
        fit.extend((t, clinc.BILL_INTENTS[label]) for t in lines[:cut])
        held.extend((t, clinc.BILL_INTENTS[label]) for t in lines[cut:])
    return fit, held, other


def _weights(labels: Sequence[int], borrowed: Sequence[bool]) -> np.ndarray:
    """Each class weighs the same, counted on our own lines; a borrowed line (CLINC's bill intents) adds
    ``BORROWED_WEIGHT`` of one of ours to its class, so CLINC's phrasing widens a class without moving
    it away from how our patients ask."""
    out_index = INTENTS.index(Intent.OUT_OF_SCOPE)
    label_array = np.asarray(labels)
    own = label_array[~np.asarray(borrowed, dtype=bool)]
    counts = np.bincount(own, minlength=len(INTENTS)).astype(np.float64)
    per_class = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0) * np.median(counts[counts > 0])
    per_class[out_index] = OUT_OF_SCOPE_WEIGHT * np.median(counts[counts > 0]) / max(counts[out_index], 1)
    scale = np.where(np.asarray(borrowed, dtype=bool), BORROWED_WEIGHT, 1.0)
    return (per_class[label_array] * scale).astype(np.float64)  # type: ignore[no-any-return]  # numpy stubs widen


@dataclass(frozen=True)
class TrainingSet:
    """Every line the head is fitted on, in a fixed order, with its class index; ``borrowed`` marks CLINC's
    bill lines (weighed ``BORROWED_WEIGHT``), ``held`` the lines held back to fit the temperature (the
    head is then refitted on all of them)."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]
    borrowed: tuple[bool, ...]
    held: tuple[bool, ...]

    def digest(self, model: Path | None = None) -> str:
        """A digest of all the fit's inputs: the lines, their classes, weights and split (so our intent
        lines, CLINC's train split, the creditor rule that sorts its bill lines and the weighting are all
        in it), the fit's settings, and the encoder's weights and tokenizer."""
        h = hashlib.sha256()
        h.update(
            json.dumps(
                {
                    "intents": [i.value for i in INTENTS],
                    "texts": self.texts,
                    "labels": self.labels,
                    "borrowed": self.borrowed,
                    "held": self.held,
                    "out_of_scope_weight": OUT_OF_SCOPE_WEIGHT,
                    "borrowed_weight": BORROWED_WEIGHT,
                    "l2": L2,
                    "fit": FIT_VERSION,
                },
                ensure_ascii=False,
            ).encode()
        )
        directory = model or model_dir()
        for name in ("tokenizer.json", "model.safetensors"):
            h.update(hashlib.sha256((directory / name).read_bytes()).digest())
        return h.hexdigest()[:16]


def training_set() -> TrainingSet:
    """The lines the head is fitted on (no embedding: quick, so the staleness check can rebuild it)."""
    ours = load_examples([ENGLISH])
    train, dev = split_examples(ours)
    neg_fit, neg_held = clinc_negatives()
    bill_fit, bill_held, _ = clinc_bill_lines()
    index = {intent: i for i, intent in enumerate(INTENTS)}
    out = index[Intent.OUT_OF_SCOPE]
    texts: list[str] = []
    labels: list[int] = []
    borrowed: list[bool] = []
    held: list[bool] = []
    for part_held, examples, lent, negatives in (
        (False, train, bill_fit, neg_fit),
        (True, dev, bill_held, neg_held),
    ):
        texts += [t for t, _ in examples] + [t for t, _ in lent] + list(negatives)
        labels += [index[i] for _, i in examples] + [index[i] for _, i in lent] + [out] * len(negatives)
        borrowed += [False] * len(examples) + [True] * len(lent) + [False] * len(negatives)
        held += [part_held] * (len(examples) + len(lent) + len(negatives))
    return TrainingSet(tuple(texts), tuple(labels), tuple(borrowed), tuple(held))


def build(encoder: SentenceEncoder, data: TrainingSet | None = None) -> Head:
    """Fit the head: embed every line as the engine embeds a message (:meth:`SentenceEncoder.encode_exact`),
    fit on the lines not held back, fit the temperature on those held back, refit on all of them."""
    data = data or training_set()
    x = encoder.encode_exact(list(data.texts))
    y = np.asarray(data.labels, dtype=np.int64)
    lent = np.asarray(data.borrowed, dtype=bool)
    held = np.asarray(data.held, dtype=bool)
    fit, back = ~held, held
    w, b = fit_logistic(x[fit], y[fit], _weights(y[fit].tolist(), lent[fit].tolist()), len(INTENTS))
    logits = x[back].astype(np.float64) @ w.T.astype(np.float64) + b.astype(np.float64)
    temperature = fit_temperature(logits, y[back], _weights(y[back].tolist(), lent[back].tolist()))
    w, b = fit_logistic(x, y, _weights(y.tolist(), lent.tolist()), len(INTENTS))
    return Head(weights=w, bias=b, temperature=temperature, digest=data.digest())


def main(argv: Sequence[str] | None = None) -> int:
    del argv
    if clinc.data_dir() is None:
        print("CLINC150 not found (../shared/data/clinc150): the head needs its negatives", file=sys.stderr)
        return 2
    start = time.perf_counter()
    head = build(SentenceEncoder.default())
    head.save(HEAD_FILE)
    print(f"wrote {HEAD_FILE} temperature={head.temperature:.3f} in {time.perf_counter() - start:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
