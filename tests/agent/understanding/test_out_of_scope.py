"""Out of scope as an outcome (issue 15): text from other domains and other creditors' bills are read as
out of scope with a confidence that says so; billing questions, typos included, are not."""

from __future__ import annotations

import pytest

from agent.understanding.base import Intent, UnderstandingContext
from agent.understanding.cues import names_other_creditor
from agent.understanding.local import LocalUnderstander

NONE = UnderstandingContext()


@pytest.fixture(scope="module")
def engine() -> LocalUnderstander:
    return LocalUnderstander.default()


@pytest.mark.parametrize(
    "text",
    [
        "what's the weather going to be like in boston on saturday",
        "how do i say thank you in japanese",
        "remind me to buy milk on the way home",
        "what's the interest rate on my savings account",
        "can you book me a table for two at an italian place",
    ],
)
def test_other_domains_are_out_of_scope(engine: LocalUnderstander, text: str) -> None:
    u = engine.understand_sync(text, NONE)
    assert u.intent is Intent.OUT_OF_SCOPE
    assert u.confidence >= 0.5


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("whats my balacne", Intent.BALANCE),
        ("i want to set up a pamyent plan", Intent.PAYMENT_PLAN),
        ("why did insurance deny the claim for my mri", Intent.DENIAL_REASON),
        ("send me a link so I can pay my bill", Intent.PAY_NOW),
    ],
)
def test_billing_questions_stay_in_scope(engine: LocalUnderstander, text: str, intent: Intent) -> None:
    assert engine.understand_sync(text, NONE).intent is intent


@pytest.mark.parametrize(
    "text",
    [
        "pay my electric bill with my card",
        "when is my verizon bill due",
        "what's the minimum payment on my credit card",
        "i need to pay back my brother",
        "pay my water bill from my checking account",
        # one typo in the creditor's word still names the creditor
        "please wire $60 to my internet compnay",
        "put $40 toward my electirc bill",
        # a payee no practice is, wherever it stands next to owing or paying
        "how much do I still owe on my mortgage",
        "when is the rent due this month",
        "for the heating and the electricity, what's the total this month",
        "can you tell me when my car insurance is due",
        "what's the least I can pay on my credit card this month",
        # the practice named as the way to pay does not make the bill the practice's
        "Can I pay my Sprint bill through you all?",
        "could I settle my xfinity balance on your site",
        # Spanish
        "quiero pagar la luz",
        "cuánto debo de la renta este mes",
        "me puede mandar el enlace para pagar el recibo del celular",
        "necesito pagar mi tarjeta de crédito",
        "la factura del internet vence mañana, la puedo pagar aquí",
        "pagar la hipoteca con ustedes se puede?",
        # the utility by what it sells, or a company by its name
        "I need to pay National Grid for the power, can you send me a link for that",
        "can you set up a payment to Wells Fargo Auto for me",
        "how do I pay for the lights this month",
    ],
)
def test_another_creditors_bill_is_out_of_scope(engine: LocalUnderstander, text: str) -> None:
    assert names_other_creditor(text)
    u = engine.understand_sync(text, NONE)
    assert u.intent is Intent.OUT_OF_SCOPE


@pytest.mark.parametrize(
    "text",
    [
        "can I pay my bill with my credit card",
        "can I pay the balance on my visa",
        "how much is my medical bill",
        "I want to pay what I owe you",
        "can I pay it later? the bill is more than I expected",
        # hardship, or this practice's bill named beside another payee, stays with the practice
        "I can barely pay my rent as it is",
        "between the rent and this hospital bill I'm drowning",
        "what's the minimum I can pay each month",
        "what do I owe you all",
        "can I pay my bill through your portal",
        "quiero pagar con mi tarjeta de crédito",
        "puedo pagar por teléfono",
        "me mandaron una factura de ustedes",
        "debo pagar la consulta y también la renta, no me alcanza",
        "pagué mi copago con tarjeta",
        "Can I Pay My Bill Online Today",
        "I would like to pay Riverside Family Medicine what I owe",
        "can I pay Dr Patel's office directly",
    ],
)
def test_paying_this_bill_with_a_card_is_not_another_creditor(text: str) -> None:
    assert not names_other_creditor(text)
