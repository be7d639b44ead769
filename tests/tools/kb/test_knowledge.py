from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.errors import ConfigurationError
from tools.kb import DEFAULT_DOCS_DIR, KnowledgeBase, Passage, parse_markdown, query_terms

EXPECTED_DOCS = {
    "billing-policy",
    "claim-status-glossary",
    "financial-assistance",
    "insurance-terms",
    "payment-methods",
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.default()


def test_default_ships_the_practice_documents_and_is_built_once(kb: KnowledgeBase) -> None:
    assert set(kb.doc_ids) == EXPECTED_DOCS
    assert kb.passage_count >= 40
    assert KnowledgeBase.default() is kb


@pytest.mark.parametrize(
    ("question", "doc_id", "heading"),
    [
        ("How do I pay with my HSA card?", "payment-methods", "HSA and FSA cards"),
        ("Where do I mail a check?", "payment-methods", "Paying by check"),
        ("Can I pay with bitcoin?", "payment-methods", "What we do not accept"),
        ("can I pay over the phone", "payment-methods", "Paying by phone"),
        ("When is my bill due?", "billing-policy", "When a statement is due"),
        (
            "Will my account go to collections?",
            "billing-policy",
            "Late balances and the collections timeline",
        ),
        (
            "I have a credit balance, when will I get my refund?",
            "billing-policy",
            "Credit balances and refunds",
        ),
        ("Can I get an itemized statement?", "billing-policy", "Itemized statements"),
        ("I was charged twice", "billing-policy", "Questions about a charge"),
        ("What is a deductible?", "insurance-terms", "Deductible"),
        ("what does coinsurance mean", "insurance-terms", "Coinsurance"),
        ("What is an out-of-pocket maximum?", "insurance-terms", "Out-of-pocket maximum"),
        ("what does in network mean", "insurance-terms", "In network and out of network"),
        ("do I need prior authorization", "insurance-terms", "Prior authorization"),
        ("why was my claim denied", "claim-status-glossary", "Denied"),
        ("what is timely filing", "claim-status-glossary", "Timely filing"),
        ("what is coordination of benefits", "claim-status-glossary", "Coordination of benefits"),
        ("my secondary insurance hasn't paid yet", "claim-status-glossary", "Secondary insurance"),
        ("is there a discount if I pay in full today", "financial-assistance", "Prompt-pay discount"),
        ("can I set up a payment plan", "financial-assistance", "Payment plans"),
        ("I lost my job and can't afford this bill, is there any help", "financial-assistance", None),
        ("how do I apply for financial assistance", "financial-assistance", None),
    ],
)
def test_the_relevant_passage_ranks_first(
    kb: KnowledgeBase, question: str, doc_id: str, heading: str | None
) -> None:
    results = kb.search(question)

    assert results, question
    assert results[0].doc_id == doc_id
    if heading is not None:
        assert results[0].heading == heading
    assert [p.score for p in results] == sorted((p.score for p in results), reverse=True)


def test_a_passage_carries_its_document_and_section(kb: KnowledgeBase) -> None:
    best = kb.search("Where do I mail a check?", k=1)

    assert len(best) == 1
    assert best[0].title == "Ways to pay"
    assert "P.O. Box 2200" in best[0].text
    assert not best[0].text.startswith("#")
    assert best[0].score > 0


@pytest.mark.parametrize(
    ("question", "doc_id"),
    [
        ("what paymnet mtehods do you accept", "payment-methods"),
        ("whats the diffrence between in netwrok and out of network", "insurance-terms"),
        ("what does coinsurnace mean", "insurance-terms"),
    ],
)
def test_a_misspelt_word_finds_the_document_of_the_word_meant(
    kb: KnowledgeBase, question: str, doc_id: str
) -> None:
    found = kb.search(question, k=1)
    assert found
    assert found[0].doc_id == doc_id


@pytest.mark.parametrize(
    "question",
    [
        "what's the weather",
        "what's the weather like today?",
        "who won the game last night",
        "tell me a joke",
        "can you pay my rent",
        "what time is it",
        "recommend a good restaurant",
        "what is the capital of France",
        "how do I reset my phone",
        "book a flight to Paris",
        "hello",
    ],
)
def test_off_topic_questions_find_nothing(kb: KnowledgeBase, question: str) -> None:
    assert kb.search(question) == []


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "   ",
        '"',
        '"unterminated quote',
        'deductible" OR "1"="1',
        "'; DROP TABLE passages; --",
        "passages MATCH '*'",
        "NEAR(deductible copay, 2)",
        "deduct* AND NOT copay OR ^coinsurance",
        "body:deductible heading:refund",
        "{title heading}: refund",
        "( ( ( ( (",
        "💸💳🙂",
        "\x00\x01\x02 deductible \x7f",
        "AND OR NOT",
        "-",
        "a" * 10_000,
        "refund " * 500,
        "¿Cómo pago mi factura? 請問 خصم",
    ],
)
def test_hostile_input_never_raises(kb: KnowledgeBase, hostile: str) -> None:
    results = kb.search(hostile)

    assert isinstance(results, list)
    assert all(isinstance(p, Passage) for p in results)
    assert kb.search("What is a deductible?")[0].heading == "Deductible"  # the index is intact


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_valid_query(text: str) -> None:
    results = KnowledgeBase.default().search(text, k=2)
    assert len(results) <= 2


def test_operators_in_text_are_words_not_syntax(kb: KnowledgeBase) -> None:
    assert kb.search('deductible" OR "weather') == kb.search("deductible weather")


def test_k_limits_the_results(kb: KnowledgeBase) -> None:
    assert len(kb.search("insurance claim denied deductible coinsurance", k=5)) == 5
    assert len(kb.search("insurance claim denied deductible coinsurance", k=1)) == 1
    assert kb.search("What is a deductible?", k=0) == []


def test_stemming_matches_word_forms(kb: KnowledgeBase) -> None:
    assert kb.search("refunding credits")[0].heading == "Credit balances and refunds"
    assert kb.search("itemize")[0].heading == "Itemized statements"


def test_query_terms_drop_scaffolding_and_punctuation() -> None:
    assert query_terms("What's my DEDUCTIBLE?? deductible!") == ["deductible"]
    assert query_terms('"x" OR NEAR(y_z)') == ["near"]
    assert query_terms("🙂") == []


def test_parse_markdown_splits_on_second_level_headings() -> None:
    sections = parse_markdown(
        "doc",
        "# Title\n\nIntro text.\n\n## First\n\nOne.\n\n### Detail\n\nMore.\n\n"
        "## Empty\n\n## Second\n\nTwo.\n",
    )

    assert sections == [
        ("doc", "Title", "Title", "Intro text."),
        ("doc", "Title", "First", "One.\n\n### Detail\n\nMore."),
        ("doc", "Title", "Second", "Two."),
    ]


def test_from_dir_builds_a_knowledge_base_of_other_documents(tmp_path: Path) -> None:
    (tmp_path / "visiting.md").write_text(
        "# Visiting us\n\n## Where to park\n\nThe garage on Elm Street is free for patients.\n\n"
        "## Opening hours\n\nThe clinic is open weekdays from eight to five.\n\n"
        "## Public transport\n\nBus lines 4 and 12 stop at the front door.\n",
        encoding="utf-8",
    )
    (tmp_path / "forms.md").write_text(
        "# Forms\n\n## New patient forms\n\nFill in the registration form before your first visit.\n\n"
        "## Records requests\n\nAsk the front desk for a copy of your medical records.\n",
        encoding="utf-8",
    )
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")

    kb = KnowledgeBase.from_dir(tmp_path)

    assert kb.doc_ids == ("forms", "visiting")
    assert kb.passage_count == 5
    hit = kb.search("where can I park in the garage?")[0]
    assert (hit.doc_id, hit.title, hit.heading) == ("visiting", "Visiting us", "Where to park")
    assert kb.search("copy of my medical records")[0].heading == "Records requests"
    assert kb.search("what's the weather") == []


def test_from_dir_refuses_a_missing_or_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        KnowledgeBase.from_dir(tmp_path / "missing")
    with pytest.raises(ConfigurationError):
        KnowledgeBase.from_dir(tmp_path)


def test_documents_name_the_practice_and_no_patient_data() -> None:
    for path in DEFAULT_DOCS_DIR.glob("*.md"):
        text = path.read_text(encoding="utf-8")
        words = len(text.split())
        assert 300 <= words <= 800, (path.name, words)
        assert text.startswith("# ")
        assert "Riverside Family Medicine" in text or path.name == "insurance-terms.md"
