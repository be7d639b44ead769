import pytest

from agent.understanding.frustration import frustration_score


@pytest.mark.parametrize(
    "text",
    [
        "how much do I owe?",
        "can I set up a payment plan",
        "hola, cuánto debo",
        "OK",
        "thanks!",
        "I got a new HSA card",
    ],
)
def test_calm_messages_score_low(text: str) -> None:
    assert frustration_score(text) < 0.2


@pytest.mark.parametrize(
    "text",
    [
        "this is a scam, you people are thieves",
        "WHY THE HELL AM I GETTING THIS BILL AGAIN!!!",
        "this is ridiculous, I already told you I paid!!!",
        "what the fuck is this charge",
        "esto es una estafa, son unos ladrones",
        "I'm so sick of this, absolutely ridiculous",
    ],
)
def test_angry_messages_score_high(text: str) -> None:
    assert frustration_score(text) >= 0.7


def test_caps_and_punctuation_raise_the_score() -> None:
    calm = frustration_score("i already paid this")
    shouted = frustration_score("I ALREADY PAID THIS")
    bangs = frustration_score("I ALREADY PAID THIS!!!???")
    assert calm < shouted < bangs <= 1.0


def test_repeating_the_previous_message_raises_the_score() -> None:
    text = "why is my bill so high"
    alone = frustration_score(text)
    repeated = frustration_score(text, ["hello", "why is my bill so high?"])
    assert repeated >= alone + 0.25


def test_score_is_bounded() -> None:
    text = "FUCK THIS SCAM!!!!! RIDICULOUS!!! THIEVES!!!"
    assert frustration_score(text, [text, text]) == 1.0
    assert frustration_score("") == 0.0


@pytest.mark.parametrize(
    "lines",
    [
        ["that isn't helping", "you keep giving me the same reply", "i've had enough"],
        ["not what i asked", "this is driving me crazy", "still no straight answer"],
        ["i called three times already", "nobody ever helps", "what a runaround"],
    ],
)
def test_moderate_upset_that_keeps_up_reaches_the_hand_off_line(lines: list[str]) -> None:
    *before, last = lines
    assert all(frustration_score(text) < 0.7 for text in lines)
    assert frustration_score(last, before) >= 0.7


def test_upset_once_among_calm_messages_stays_below_the_line() -> None:
    calm = ["how much do I owe", "when is it due", "ok thanks"]
    assert frustration_score("this isn't helping", calm) < 0.7
    assert frustration_score("when is it due", ["this isn't helping", "ugh useless"]) < 0.7
