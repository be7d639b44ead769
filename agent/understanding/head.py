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
# The L2 penalty on the weights (the objective is convex with it, so the fit has a single minimum).
L2 = 1e-3

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


def _objective(
    params: npt.NDArray[np.float64],
    x: npt.NDArray[np.float64],
    onehot: npt.NDArray[np.float64],
    sw: npt.NDArray[np.float64],
    l2: float,
) -> tuple[float, npt.NDArray[np.float64]]:
    """Weighted cross-entropy plus ``l2 / 2 * |W|^2`` and its gradient, in float64."""
    classes, d = onehot.shape[1], x.shape[1]
    w = params[: classes * d].reshape(classes, d)
    b = params[classes * d :]
    z = x @ w.T + b
    z -= z.max(1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    loss = float(-(sw * (onehot * log_p).sum(1)).sum() + 0.5 * l2 * float((w * w).sum()))
    g = (np.exp(log_p) - onehot) * sw[:, None]
    grad = np.concatenate([(g.T @ x + l2 * w).ravel(), g.sum(0)])
    return loss, grad


def fit_logistic(
    x: Array,
    y: npt.NDArray[np.int64],
    sample_weight: Array,
    classes: int,
    l2: float = L2,
    tolerance: float = 1e-9,
    max_steps: int = 5000,
    memory: int = 20,
) -> tuple[Array, Array]:
    """Weighted multinomial logistic regression, minimised to convergence by L-BFGS in float64.

    The objective is strictly convex (the L2 term), so it has one minimum, and the fit stops only when the
    gradient's largest component is under ``tolerance``: the result is the same minimum whatever the
    order of the lines or the last bits of their embeddings (an early-stopped optimiser, such as the Adam
    this replaced, lands wherever its steps happened to stop). Deterministic: no random start, no
    sampling, a fixed line search. About 10 s for ~17k x 384 on one core.
    """
    x64 = np.asarray(x, dtype=np.float64)
    n, d = x64.shape
    onehot = np.zeros((n, classes), dtype=np.float64)
    onehot[np.arange(n), y] = 1.0
    sw = np.asarray(sample_weight, dtype=np.float64)
    sw = sw / sw.sum()
    params = np.zeros(classes * d + classes, dtype=np.float64)
    loss, grad = _objective(params, x64, onehot, sw, l2)
    s_hist: list[npt.NDArray[np.float64]] = []
    y_hist: list[npt.NDArray[np.float64]] = []
    for _ in range(max_steps):
        if float(np.abs(grad).max()) < tolerance:
            break
        # L-BFGS two-loop recursion: the search direction from the last ``memory`` steps.
        q = grad.copy()
        alphas: list[float] = []
        for s_k, y_k in zip(reversed(s_hist), reversed(y_hist), strict=True):
            a = float(s_k @ q) / float(y_k @ s_k)
            alphas.append(a)
            q -= a * y_k
        if s_hist:
            q *= float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1])
        for (s_k, y_k), a in zip(zip(s_hist, y_hist, strict=True), reversed(alphas), strict=True):
            q += s_k * (a - float(y_k @ q) / float(y_k @ s_k))
        direction = -q
        slope = float(grad @ direction)
        if slope >= 0:  # not a descent direction (rounding): restart from the gradient
            s_hist.clear()
            y_hist.clear()
            direction, slope = -grad, -float(grad @ grad)
        step = 1.0 if s_hist else 1.0 / max(1.0, float(np.abs(grad).max()))
        for _ in range(60):  # backtracking (Armijo) line search
            new_params = params + step * direction
            new_loss, new_grad = _objective(new_params, x64, onehot, sw, l2)
            if new_loss <= loss + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break  # no decrease left at float64's resolution: this is the minimum
        s_new, y_new = new_params - params, new_grad - grad
        if float(s_new @ y_new) > 1e-12:
            s_hist.append(s_new)
            y_hist.append(y_new)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        params, loss, grad = new_params, new_loss, new_grad
    w = params[: classes * d].reshape(classes, d)
    b = params[classes * d :]
    return w.astype(np.float32), b.astype(np.float32)


def fit_temperature(logits: Array, y: npt.NDArray[np.int64], weight: Array) -> float:
    """The temperature minimising the weighted negative log-likelihood of held-out lines."""
    best_t, best = 1.0, float("inf")
    for t in np.exp(np.linspace(np.log(0.2), np.log(10.0), 120)):
        p = softmax(logits / t)
        nll = float(-(weight * np.log(p[np.arange(len(y)), y] + 1e-12)).sum() / weight.sum())
        if nll < best:
            best_t, best = float(t), nll
    return best_t
