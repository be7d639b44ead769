"""The sentence encoder run in numpy over the shipped all-MiniLM-L6-v2 weights, and its classifier head."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agent.understanding import clinc
from agent.understanding.encoder import DIM, Array, SentenceEncoder, read_safetensors
from agent.understanding.head import HEAD_FILE, Head, fit_logistic
from agent.understanding.spelling import Speller
from agent.understanding.train import ENGLISH, build, training_set


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder.default()


def test_embeddings_are_unit_vectors_and_paraphrases_are_near(encoder: SentenceEncoder) -> None:
    v = encoder.encode(["how much do I owe", "what is my balance", "set an alarm for 7 am"])
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    owe_balance, owe_alarm = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert owe_balance > owe_alarm + 0.3


def test_a_batch_reads_each_sentence_as_it_reads_it_alone(encoder: SentenceEncoder) -> None:
    texts = ["hi", "why did my insurance not pay for the x-ray in march", "ok"]
    batch = encoder.encode(texts)
    alone = np.concatenate([encoder.encode_one(t) for t in texts])
    assert np.allclose(batch, alone, atol=1e-5)  # padding never leaks into a shorter sentence


def test_the_weights_file_is_read_whole(encoder: SentenceEncoder, tmp_path: object) -> None:
    from agent.understanding.encoder import model_dir

    tensors = read_safetensors(model_dir() / "model.safetensors")
    assert tensors["embeddings.word_embeddings.weight"].shape == (30522, 384)
    assert sum(1 for name in tensors if name.endswith("attention.self.query.weight")) == 6


needs_clinc = pytest.mark.skipif(
    clinc.data_dir() is None, reason="CLINC150 not found at ../shared/data/clinc150"
)


@needs_clinc
def test_the_shipped_head_was_trained_on_the_current_inputs() -> None:
    """Edit data/intents_en.yaml (or the creditor rule, the weights, the encoder...) and this fails until
    `python -m agent.understanding.train` is rerun."""
    assert Head.load(HEAD_FILE).digest == training_set().digest()


@needs_clinc
def test_the_staleness_digest_covers_every_training_input(tmp_path: Path) -> None:
    """Not only our intent lines: a changed CLINC line, a line moved between fit and held-back, a line's
    class or weighting, and the encoder's files each change the digest."""
    data = training_set()
    base = data.digest()
    assert data.texts[-1] not in ENGLISH.read_text(encoding="utf-8")  # the last line is CLINC's
    changed = [
        replace(data, texts=(data.texts[0] + "?", *data.texts[1:])),  # one of ours
        replace(data, texts=(*data.texts[:-1], data.texts[-1] + "!")),
        replace(data, held=(*data.held[:-1], not data.held[-1])),
        replace(data, labels=(*data.labels[:-1], 0)),
        replace(data, borrowed=(*data.borrowed[:-1], True)),
    ]
    assert len({base, *(c.digest() for c in changed)}) == 1 + len(changed)
    from agent.understanding.encoder import model_dir

    other = tmp_path / "model"
    other.mkdir()
    (other / "tokenizer.json").write_bytes((model_dir() / "tokenizer.json").read_bytes() + b" ")
    (other / "model.safetensors").write_bytes((model_dir() / "model.safetensors").read_bytes())
    assert data.digest(other) != base


def test_the_fit_is_one_minimum_whatever_the_order_and_the_last_bits() -> None:
    """The solver converges to the convex objective's single minimum: shuffling the lines and nudging
    every embedding by 1e-6 moves no weight by more than 1e-3 (the Adam fit it replaced moved by 0.05)."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(4, 16))
    y = np.repeat(np.arange(4), 50)
    x = (centres[y] + rng.normal(scale=1.5, size=(200, 16))).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    weight = np.where(y == 0, 3.0, 1.0)
    w, b = fit_logistic(x, y, weight, 4)
    order = rng.permutation(200)
    nudged = (x[order] + rng.normal(scale=1e-6, size=x.shape)).astype(np.float32)
    w2, b2 = fit_logistic(nudged, y[order], weight[order], 4)
    assert np.abs(w - w2).max() < 1e-3
    assert np.abs(b - b2).max() < 1e-3
    assert (np.argmax(x @ w.T + b, axis=1) == y).mean() > 0.8  # and it did learn the classes


class _SameLengthBatches(SentenceEncoder):
    """The shipped encoder whose :meth:`encode_exact` runs the lines that have the same number of tokens
    together, 64 to a forward pass. With no padding in a batch, each row of a product is computed as it
    is for the sentence alone, so each embedding is the one :meth:`SentenceEncoder.encode_exact` gives, to
    within rounding (checked in the test below, on lines of every length), in about 40% of the time: the
    fresh fit embeds ~15,700 lines and was the suite's longest test (issue 16)."""

    def encode_exact(self, texts: list[str]) -> Array:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        by_length: dict[int, list[tuple[int, list[int]]]] = {}
        for i, encoding in enumerate(self.tokenizer.encode_batch(texts)):
            by_length.setdefault(len(encoding.ids), []).append((i, encoding.ids))
        for rows in by_length.values():
            for start in range(0, len(rows), 64):
                chunk = rows[start : start + 64]
                out[[i for i, _ in chunk]] = self._forward([ids for _, ids in chunk])
        return out


@pytest.mark.slow
@pytest.mark.timeout(1800)  # embeds ~15,700 lines: minutes on a loaded two-core machine
@needs_clinc
def test_a_fresh_fit_reproduces_the_shipped_head(encoder: SentenceEncoder) -> None:
    """`python -m agent.understanding.train` from scratch (embedding every line, a few minutes) gives the
    shipped head: same temperature, every weight within 1e-4. The lines are embedded in same-length
    batches, first shown to give the trainer's numbers (to within rounding) for lines of every length in the
    set and for a full batch."""
    data = training_set()
    batched = _SameLengthBatches()
    lengths: dict[int, list[str]] = {}
    for text, encoding in zip(data.texts, batched.tokenizer.encode_batch(list(data.texts)), strict=True):
        lengths.setdefault(len(encoding.ids), []).append(text)
    # A batch of 3 (or fewer) lines of each length, and a full batch of 64 of the commonest length.
    commonest = max(lengths.values(), key=len)
    sample = [t for texts in lengths.values() if texts is not commonest for t in texts[:3]] + commonest[:64]
    # Bit for bit on some CPUs; OpenBLAS picks its kernels by CPU and matrix shape, so elsewhere the last
    # bits of a float may differ. The head's contract is the 1e-4 below.
    assert np.allclose(batched.encode_exact(sample), encoder.encode_exact(sample), rtol=0, atol=1e-6)
    shipped = Head.load(HEAD_FILE)
    fresh = build(batched, data)
    assert fresh.digest == shipped.digest
    assert fresh.temperature == pytest.approx(shipped.temperature, abs=1e-9)
    assert np.abs(fresh.weights - shipped.weights).max() < 1e-4
    assert np.abs(fresh.bias - shipped.bias).max() < 1e-4


def test_training_embeds_a_line_exactly_as_the_engine_embeds_a_message(encoder: SentenceEncoder) -> None:
    texts = ["why do I still owe 40 bucks", "set an alarm for 7 am", "ok", "pay my water bill"]
    exact = encoder.encode_exact(texts)
    alone = np.concatenate([encoder.encode_one(t) for t in texts])
    assert np.array_equal(exact, alone)


def test_typos_are_repaired_to_our_words_and_english_words_are_left_alone() -> None:
    speller = Speller(
        known={"weather", "my", "what", "is", "the"}, vocabulary=["balance", "charge", "payment"]
    )
    assert speller.repair("what is my balacne") == "what is my balance"
    assert speller.repair("the chagre") == "the charge"
    assert speller.repair("what is the weather") == "what is the weather"


def test_two_neighbouring_letters_swapped_are_read_as_the_word_of_the_language() -> None:
    speller = Speller(
        known={"finances", "pressure", "my"},
        vocabulary=(),
        for_rules=True,
        swap_targets={"finances", "pressure", "reason"},
    )
    assert speller.repair("my finacnes") == "my finances"
    assert speller.repair("blood pressrue") == "blood pressure"
    assert speller.repair("the raeson") == "the reason"
    assert speller.repair("the lisniopril") == "the lisniopril"  # no word of the language is one swap away


def test_a_swap_that_could_be_two_words_is_the_word_of_ours_and_a_common_word_stays() -> None:
    spanish = {"seguro": 575_624, "suegro": 4_472, "cuenta": 429_334, "cuneta": 1_807, "cuarto": 173_861}
    spanish["cuatro"] = 229_734
    speller = Speller(
        known=spanish.keys(),
        vocabulary=(),
        for_rules=True,
        swap_targets=spanish.keys(),
        domain={"seguro", "cuenta", "cuatro"},
        frequency=spanish,
        swaps_only=True,
    )
    assert speller.repair_keep_case("el seugro no pagó") == "el seguro no pagó"  # not "suegro"
    assert speller.repair_keep_case("mi cuneta") == "mi cuenta"  # a ditch, 237 times rarer than a bill
    assert speller.repair_keep_case("el cuarto pago") == "el cuarto pago"  # a word as common as "cuatro"
    assert speller.repair_keep_case("mi suegro") == "mi suegro"  # a word, and a swap of no word
