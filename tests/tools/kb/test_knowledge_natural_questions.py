"""Natural questions find their passage (question scaffolding, patients' words for the documents' words,
Spanish key words), a negative section answers only a negative question, and off-topic stays empty."""

from __future__ import annotations

import pytest

from tools.kb import KnowledgeBase


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.default()


@pytest.mark.parametrize(
    ("question", "doc_id", "heading"),
    [
        ("what payment methods do you accept?", "payment-methods", "Ways to pay"),
        ("what forms of payment do you take?", "payment-methods", "Ways to pay"),
        ("what are my options for paying?", "payment-methods", "Ways to pay"),
        ("what is a deductible exactly?", "insurance-terms", "Deductible"),
        ("what's the definition of an allowed amount?", "insurance-terms", "Allowed amount"),
        ("in network versus out of network, what's the difference?", "insurance-terms", None),
        ("do you take venmo", "payment-methods", "What we do not accept"),
        ("is there anything you don't accept?", "payment-methods", "What we do not accept"),
        ("¿puedo pagar con cheque?", "payment-methods", "Paying by check"),
        ("qué formas de pago aceptan", "payment-methods", "Ways to pay"),
    ],
)
def test_natural_questions_find_their_passage(
    kb: KnowledgeBase, question: str, doc_id: str, heading: str | None
) -> None:
    results = kb.search(question)
    assert results, question
    assert results[0].doc_id == doc_id
    if heading is not None:
        assert results[0].heading == heading


@pytest.mark.parametrize(
    "question",
    [
        "will it rain tomorrow",
        "can you pay my rent",
        "what's the best pizza in town",
        "how tall is a giraffe",
    ],
)
def test_off_topic_questions_still_find_nothing(kb: KnowledgeBase, question: str) -> None:
    assert kb.search(question) == []
