from pathlib import Path

import pytest
import yaml

from agent.understanding.base import Intent
from agent.understanding.evaluate import Report, evaluate, expected_calibration_error, load_labelled, macro_f1
from agent.understanding.local import DATA_DIR, LocalUnderstander, training_utterances
from agent.understanding.text import normalize

HELDOUT = Path(__file__).parent / "heldout.yaml"


@pytest.fixture(scope="module")
def report() -> Report:
    return evaluate(LocalUnderstander.default(), load_labelled(HELDOUT))


def test_heldout_is_disjoint_from_training() -> None:
    train = training_utterances()
    overlap = [ex.text for ex in load_labelled(HELDOUT) if normalize(ex.text) in train]
    assert overlap == []


def test_heldout_covers_every_intent() -> None:
    assert {ex.intent for ex in load_labelled(HELDOUT)} == set(Intent)


def test_training_data_size() -> None:
    en = yaml.safe_load((DATA_DIR / "intents_en.yaml").read_text(encoding="utf-8"))["intents"]
    es = yaml.safe_load((DATA_DIR / "intents_es.yaml").read_text(encoding="utf-8"))["intents"]
    for intent in Intent:
        if intent is Intent.IDENTITY_ANSWER:
            continue  # handled mostly by rules; its few lines only shape the classifier
        assert len(set(en[intent.value])) >= 40, intent
        assert len(set(es[intent.value])) >= 10, intent


def test_accuracy_and_macro_f1(report: Report) -> None:
    assert report.accuracy >= 0.85
    assert report.macro_f1 >= 0.8


def test_confidence_is_calibrated(report: Report) -> None:
    assert report.ece <= 0.1


def test_metric_helpers() -> None:
    assert expected_calibration_error([(0.9, True), (0.9, False)]) == pytest.approx(0.4)
    assert expected_calibration_error([(1.0, True), (0.0, False)]) == 0.0
    f1, per = macro_f1([Intent.AFFIRM, Intent.DENY], [Intent.AFFIRM, Intent.AFFIRM])
    assert per[Intent.AFFIRM] == pytest.approx(2 / 3)
    assert per[Intent.DENY] == 0.0
    assert f1 == pytest.approx(1 / 3)
