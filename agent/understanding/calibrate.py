"""Calibrating the model's confidence against the local engine's, on the labeled turns of the eval set.

The agent acts on confidence thresholds (clarify below 0.45, pay-now and hand-offs need more) that were
tuned on the local engine, whose scores are calibrated. A language model's self-reported confidence is
usually not (small models say 0.95 for everything), so its raw score goes through a Platt map
``sigmoid(a * logit(p) + b)`` fitted on (confidence, correct) pairs collected over the labeled turns;
``LlmUnderstander`` applies the map (``calibration``) before it weighs the model against the local
engine. ``billing-agent calibrate`` collects the pairs from the eval tasks, fits the map, writes it to
the file ``BILLING_LLM_CALIBRATION_FILE`` names and reports the expected calibration error (ECE) of the
local engine and of the model before and after.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.understanding.base import Understander, UnderstandingContext

BINS = 10
_EPS = 1e-4

Pair = tuple[float, bool]  # (confidence, the intent was right)


def _logit(p: float) -> float:
    p = min(1 - _EPS, max(_EPS, p))
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


@dataclass(frozen=True, slots=True)
class Calibration:
    """A Platt map of raw confidence; the identity by default."""

    a: float = 1.0
    b: float = 0.0
    samples: int = 0

    def apply(self, confidence: float) -> float:
        return round(_sigmoid(self.a * _logit(confidence) + self.b), 4)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"method": "platt", **asdict(self)}, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Calibration:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("method") != "platt":
            raise ValueError(f"{path}: not a Platt calibration")
        return cls(a=float(data["a"]), b=float(data["b"]), samples=int(data.get("samples", 0)))


def ece(pairs: Sequence[Pair], bins: int = BINS) -> float:
    """Expected calibration error: the mean over equal-width confidence bins of |accuracy − confidence|,
    weighted by the share of samples in the bin."""
    if not pairs:
        return 0.0
    totals = [[0, 0.0, 0] for _ in range(bins)]  # count, sum of confidence, correct
    for confidence, correct in pairs:
        slot = totals[min(bins - 1, int(confidence * bins))]
        slot[0] += 1
        slot[1] += confidence
        slot[2] += int(correct)
    return sum(abs(c / n - s / n) * n for n, s, c in totals if n) / len(pairs)


def _loss(xs: Sequence[float], ys: Sequence[float], a: float, b: float, l2: float) -> float:
    total = 0.5 * l2 * ((a - 1) ** 2 + b * b)
    for x, y in zip(xs, ys, strict=True):
        p = min(1 - 1e-12, max(1e-12, _sigmoid(a * x + b)))
        total -= y * math.log(p) + (1 - y) * math.log(1 - p)
    return total


def fit(pairs: Sequence[Pair], *, iterations: int = 50, l2: float = 1e-2) -> Calibration:
    """Platt scaling: the logistic regression of correctness on ``logit(confidence)`` (damped Newton
    steps; a small ridge towards the identity map so that a set with one confidence, or all correct,
    still has a finite answer)."""
    if not pairs:
        return Calibration()
    xs = [_logit(p) for p, _ in pairs]
    ys = [1.0 if ok else 0.0 for _, ok in pairs]
    a, b = 1.0, 0.0
    loss = _loss(xs, ys, a, b, l2)
    for _ in range(iterations):
        ga, gb = l2 * (a - 1), l2 * b
        haa, hab, hbb = l2, 0.0, l2
        for x, y in zip(xs, ys, strict=True):
            p = _sigmoid(a * x + b)
            w = p * (1 - p)
            ga += (p - y) * x
            gb += p - y
            haa += w * x * x
            hab += w * x
            hbb += w
        det = haa * hbb - hab * hab
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        step = 1.0
        while step > 1e-6:  # halve the step until the loss goes down
            candidate = _loss(xs, ys, a - step * da, b - step * db, l2)
            if candidate <= loss:
                break
            step /= 2
        else:
            break
        a, b = a - step * da, b - step * db
        improved = loss - candidate
        loss = candidate
        if improved < 1e-10:
            break
    return Calibration(a=round(a, 6), b=round(b, 6), samples=len(pairs))


@dataclass(frozen=True, slots=True)
class Sample:
    """One labeled user line of an eval task."""

    text: str
    intent: str
    expecting: str | None = None


# Reads one sample: (intent, confidence), or None when there is no reading (the model failed).
Reader = Callable[[str, UnderstandingContext], Awaitable[tuple[str, float] | None]]


def local_reader(understander: Understander) -> Reader:
    async def read(text: str, context: UnderstandingContext) -> tuple[str, float]:
        u = await understander.understand(text, context)
        return u.intent.value, u.confidence

    return read


async def collect(read: Reader, samples: Iterable[Sample], concurrency: int = 4) -> list[Pair]:
    """(confidence, correct) of ``read`` on every sample it reads, ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(s: Sample) -> Pair | None:
        async with gate:
            got = await read(s.text, UnderstandingContext(expecting=s.expecting))
        return None if got is None else (got[1], got[0] == s.intent)

    return [p for p in await asyncio.gather(*(one(s) for s in samples)) if p is not None]


def spread(samples: Sequence[Sample], limit: int | None) -> list[Sample]:
    """At most ``limit`` samples, taken evenly across the list (every category keeps some)."""
    if limit is None or limit >= len(samples):
        return list(samples)
    step = len(samples) / limit
    return [samples[int(i * step)] for i in range(limit)]


@dataclass(frozen=True, slots=True)
class Report:
    samples: int
    local_ece: float
    model_ece_before: float
    model_ece_after: float
    calibration: Calibration

    def render(self) -> str:
        return (
            f"{self.samples} labeled turns\n"
            f"local engine ECE      {self.local_ece:.4f}\n"
            f"model ECE, raw        {self.model_ece_before:.4f}\n"
            f"model ECE, calibrated {self.model_ece_after:.4f}  "
            f"(a={self.calibration.a:.4f}, b={self.calibration.b:.4f})"
        )


def report(local: Sequence[Pair], model: Sequence[Pair]) -> Report:
    """Fit the model's map and compare it with the local engine on the same turns."""
    calibration = fit(model)
    after = [(calibration.apply(p), ok) for p, ok in model]
    return Report(len(model), ece(local), ece(model), ece(after), calibration)
