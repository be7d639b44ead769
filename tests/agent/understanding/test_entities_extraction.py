from datetime import date

import pytest

from agent.understanding.base import LineRef
from agent.understanding.entities import extract_entities

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("the $150", [15000]),
        ("150 dollars", [15000]),
        ("I can do $1,234.56 now", [123456]),
        ("30 a month", [3000]),
        ("i can pay 45 per month", [4500]),
        ("puedo pagar 50 al mes", [5000]),
        ("$2k is too much", [200000]),
        ("can I pay 6 months", []),
        ("my zip is 02139", []),
    ],
)
def test_amounts(text: str, cents: list[int]) -> None:
    assert extract_entities(text, today=TODAY).amounts_cents == cents


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("no, I meant the March statement", [3]),
        ("el estado de cuenta de marzo", [3]),
        ("the bill from may", [5]),
        ("may I pay later", []),
        ("what about the oct 3 visit", [10]),
    ],
)
def test_month_names(text: str, months: list[int]) -> None:
    assert extract_entities(text, today=TODAY).months == months


@pytest.mark.parametrize(
    ("text", "counts"),
    [
        ("can i do 6 months", [6]),
        ("over a year", [12]),
        ("spread it over six months", [6]),
        ("en 12 meses", [12]),
        ("a 3-month plan", [3]),
        ("30 a month", []),
    ],
)
def test_month_counts(text: str, counts: list[int]) -> None:
    assert extract_entities(text, today=TODAY).month_counts == counts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("April 15", date(2026, 4, 15)),
        ("4/15", date(2026, 4, 15)),
        ("02/11/84", date(1984, 2, 11)),
        ("02/11/05", date(2005, 2, 11)),
        ("Feb 11 1984", date(1984, 2, 11)),
        ("February 11th, 1984", date(1984, 2, 11)),
        ("1984-02-11", date(1984, 2, 11)),
        ("11 de febrero de 1984", date(1984, 2, 11)),
        ("the 3rd of march", date(2026, 3, 3)),
        ("due december 20", date(2026, 12, 20)),
    ],
)
def test_dates(text: str, expected: date) -> None:
    assert extract_entities(text, today=TODAY).dates == [expected]


def test_date_without_year_far_ahead_is_last_year() -> None:
    assert extract_entities("the visit on 12/30", today=date(2026, 2, 1)).dates == [date(2025, 12, 30)]


def test_two_digit_year_pivots_into_the_past() -> None:
    assert extract_entities("7/4/26", today=TODAY).dates == [date(2026, 7, 4)]
    assert extract_entities("7/4/27", today=TODAY).dates == [date(1927, 7, 4)]


def test_date_of_birth_only_when_identity_is_the_topic() -> None:
    assert extract_entities("02/11/84", today=TODAY, expecting="identity").date_of_birth == date(1984, 2, 11)
    assert extract_entities("my dob is Feb 11 1984", today=TODAY).date_of_birth == date(1984, 2, 11)
    assert extract_entities("I paid on 02/11/25", today=TODAY).date_of_birth is None


def test_zip_and_statement_numbers() -> None:
    e = extract_entities("zip 02139, statement S-104233", today=TODAY)
    assert e.zip_code == "02139"
    assert e.statement_numbers == ["S-104233"]
    assert extract_entities("statement 104233", today=TODAY).statement_numbers == ["S-104233"]
    assert extract_entities("statement #104233", today=TODAY).zip_code is None
    assert extract_entities("I owe $15000", today=TODAY).zip_code is None


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("what is the $150 charge", LineRef(amount_cents=15000)),
        ("the lab work", LineRef(keyword="lab")),
        ("why the x-ray", LineRef(keyword="x-ray")),
        ("the office visit", LineRef(keyword="office visit")),
        ("the second one", LineRef(ordinal=2)),
        ("the last one", LineRef(ordinal=-1)),
        ("la radiografía", LineRef(keyword="x-ray")),
        ("option 3", LineRef(ordinal=3)),
    ],
)
def test_line_refs(text: str, ref: LineRef) -> None:
    assert extract_entities(text, today=TODAY).line_refs == [ref]


def test_last_month_is_not_a_line_reference() -> None:
    assert extract_entities("I paid it last month", today=TODAY).line_refs == []
