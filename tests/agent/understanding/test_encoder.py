"""The sentence encoder run in numpy over the shipped all-MiniLM-L6-v2 weights, and its classifier head."""

from __future__ import annotations

import numpy as np
import pytest

from agent.understanding.encoder import SentenceEncoder, read_safetensors
from agent.understanding.head import HEAD_FILE, Head, training_digest
from agent.understanding.spelling import Speller
from agent.understanding.train import ENGLISH


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


def test_the_shipped_head_was_trained_on_the_current_lines() -> None:
    """Edit data/intents_en.yaml and this fails until `python -m agent.understanding.train` is rerun."""
    assert Head.load(HEAD_FILE).digest == training_digest([ENGLISH])


def test_typos_are_repaired_to_our_words_and_english_words_are_left_alone() -> None:
    speller = Speller(
        known={"weather", "my", "what", "is", "the"}, vocabulary=["balance", "charge", "payment"]
    )
    assert speller.repair("what is my balacne") == "what is my balance"
    assert speller.repair("the chagre") == "the charge"
    assert speller.repair("what is the weather") == "what is the weather"
