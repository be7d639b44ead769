"""The classifier over the sentence encoder: a multinomial logistic regression, in numpy.

Trained by ``python -m agent.understanding.train`` on our English intent lines plus out-of-scope negatives
(CLINC150's train split, its 146 non-billing intents, and ``oos_train``), and shipped as a small derived
artifact (``data/encoder_head.npz``: a 22 x 384 weight matrix, biases and one temperature, no text).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent.understanding.base import Intent

HEAD_FILE = Path(__file__).parent / "data" / "encoder_head.npz"
INTENTS: tuple[Intent, ...] = tuple(Intent)

Array = npt.NDArray[np.float32]


def training_digest(paths: list[Path]) -> str:
    """A digest of the training lines the head was fitted on (so a stale head is noticed)."""
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def softmax(logits: Array) -> Array:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)  # type: ignore[no-any-return]  # numpy stubs widen


@dataclass(frozen=True)
class Head:
    weights: Array  # (classes, dim)
    bias: Array  # (classes,)
    temperature: float
    digest: str

    def logits(self, embeddings: Array) -> Array:
        return embeddings @ self.weights.T + self.bias

    def probabilities(self, embeddings: Array) -> Array:
        return softmax(self.logits(embeddings) / self.temperature)

    def save(self, path: Path = HEAD_FILE) -> None:
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
            temperature=np.array(self.temperature, dtype=np.float64),
            digest=np.array(self.digest),
            classes=np.array([i.value for i in INTENTS]),
        )

    @classmethod
    def load(cls, path: Path = HEAD_FILE) -> Head:
        with np.load(path) as data:
            classes = [str(c) for c in data["classes"]]
            if classes != [i.value for i in INTENTS]:
                raise ValueError(f"{path} was trained for other intents: retrain the head")
            return cls(
                weights=data["weights"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
                temperature=float(data["temperature"]),
                digest=str(data["digest"]),
            )


def fit_logistic(
    x: Array,
    y: npt.NDArray[np.int64],
    sample_weight: Array,
    classes: int,
    l2: float = 1e-3,
    steps: int = 600,
    lr: float = 0.5,
) -> tuple[Array, Array]:
    """Weighted multinomial logistic regression by full-batch Adam (a few seconds for ~10k x 384)."""
    n, d = x.shape
    w = np.zeros((classes, d), dtype=np.float32)
    b = np.zeros(classes, dtype=np.float32)
    onehot = np.zeros((n, classes), dtype=np.float32)
    onehot[np.arange(n), y] = 1.0
    sw = (sample_weight / sample_weight.sum()).astype(np.float32)[:, None]
    m_w, v_w = np.zeros_like(w), np.zeros_like(w)
    m_b, v_b = np.zeros_like(b), np.zeros_like(b)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        p = softmax(x @ w.T + b)
        g = (p - onehot) * sw
        gw = g.T @ x + l2 * w
        gb = g.sum(0)
        m_w = beta1 * m_w + (1 - beta1) * gw
        v_w = beta2 * v_w + (1 - beta2) * gw * gw
        m_b = beta1 * m_b + (1 - beta1) * gb
        v_b = beta2 * v_b + (1 - beta2) * gb * gb
        step = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
        w -= step * m_w / (np.sqrt(v_w) + eps)
        b -= step * m_b / (np.sqrt(v_b) + eps)
    return w, b


def fit_temperature(logits: Array, y: npt.NDArray[np.int64], weight: Array) -> float:
    """The temperature minimising the weighted negative log-likelihood of held-out lines."""
    best_t, best = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(0.2), np.log(10.0), 120)):
        p = softmax(logits / t)
        nll = float(-(weight * np.log(p[np.arange(len(y)), y] + 1e-12)).sum() / weight.sum())
        if nll < best:
            best_t, best = float(t), nll
    return best_t
