"""Measure the local engine: on a labelled YAML set (accuracy, macro-F1, ECE, latency), or on CLINC150's
validation split (out-of-scope recall, bill-intent routing, ECE, latency, install size).

.venv/bin/python -m agent.understanding.evaluate tests/agent/understanding/heldout.yaml
.venv/bin/python -m agent.understanding.evaluate --clinc [--limit N]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.understanding.base import Intent, UnderstandingContext
from agent.understanding.local import LocalUnderstander
from tools.yamlfile import load_yaml


@dataclass(frozen=True, slots=True)
class LabelledExample:
    text: str
    intent: Intent
    expecting: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    n: int
    accuracy: float
    macro_f1: float
    ece: float
    mean_confidence: float
    per_intent_f1: dict[Intent, float]
    errors: list[tuple[LabelledExample, Intent, float]]


def load_labelled(path: Path) -> list[LabelledExample]:
    data = load_yaml(path.read_text(encoding="utf-8"))
    out: list[LabelledExample] = []
    for name, items in data["intents"].items():
        for item in items:
            if isinstance(item, dict):
                out.append(LabelledExample(str(item["text"]), Intent(name), item.get("expecting")))
            else:
                out.append(LabelledExample(str(item), Intent(name)))
    return out


def expected_calibration_error(pairs: Sequence[tuple[float, bool]], bins: int = 10) -> float:
    """Σ_b |B_b|/n · |accuracy(B_b) − confidence(B_b)| over equal-width confidence bins."""
    if not pairs:
        return 0.0
    buckets: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for conf, ok in pairs:
        buckets[min(bins - 1, int(conf * bins))].append((conf, ok))
    total = 0.0
    for bucket in buckets:
        if bucket:
            acc = sum(ok for _, ok in bucket) / len(bucket)
            conf = sum(c for c, _ in bucket) / len(bucket)
            total += len(bucket) * abs(acc - conf)
    return total / len(pairs)


def macro_f1(gold: Sequence[Intent], pred: Sequence[Intent]) -> tuple[float, dict[Intent, float]]:
    per: dict[Intent, float] = {}
    for intent in sorted(set(gold), key=str):
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == p == intent)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if p == intent and g != intent)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == intent and p != intent)
        per[intent] = 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)
    return sum(per.values()) / len(per), per


def evaluate(engine: LocalUnderstander, examples: Sequence[LabelledExample]) -> Report:
    preds: list[Intent] = []
    pairs: list[tuple[float, bool]] = []
    errors: list[tuple[LabelledExample, Intent, float]] = []
    for ex in examples:
        u = engine.understand_sync(ex.text, UnderstandingContext(expecting=ex.expecting))
        preds.append(u.intent)
        pairs.append((u.confidence, u.intent == ex.intent))
        if u.intent != ex.intent:
            errors.append((ex, u.intent, u.confidence))
    gold = [ex.intent for ex in examples]
    f1, per = macro_f1(gold, preds)
    return Report(
        n=len(examples),
        accuracy=sum(ok for _, ok in pairs) / len(pairs),
        macro_f1=f1,
        ece=expected_calibration_error(pairs),
        mean_confidence=sum(c for c, _ in pairs) / len(pairs),
        per_intent_f1=per,
        errors=errors,
    )


def mean_latency_ms(engine: LocalUnderstander, texts: Sequence[str], rounds: int = 5) -> float:
    for text in texts:
        engine.understand_sync(text)
    start = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            engine.understand_sync(text)
    return (time.perf_counter() - start) * 1000 / (rounds * len(texts))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--clinc":
        from agent.understanding.clinc_eval import main as clinc_main

        return clinc_main(args[1:])
    path = Path(args[0]) if args else Path("tests/agent/understanding/heldout.yaml")
    start = time.perf_counter()
    engine = LocalUnderstander.default()
    train_s = time.perf_counter() - start
    examples = load_labelled(path)
    report = evaluate(engine, examples)
    print(f"examples={report.n} accuracy={report.accuracy:.3f} macro_f1={report.macro_f1:.3f}")
    print(
        f"ece={report.ece:.3f} mean_confidence={report.mean_confidence:.3f}"
        f" temperature={engine.temperature:.2f}"
    )
    latency = mean_latency_ms(engine, [ex.text for ex in examples])
    print(f"train_s={train_s:.3f} latency_ms={latency:.3f}")
    for ex, got, conf in report.errors:
        print(f"  MISS {ex.intent.value:>28} -> {got.value:<28} {conf:.2f}  {ex.text!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
