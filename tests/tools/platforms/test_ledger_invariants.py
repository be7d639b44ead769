from __future__ import annotations

from datetime import date

import pytest

from tests.tools.platforms.ledger_builders import build_practice, line_item
from tools.errors import InvariantViolation
from tools.platforms.ledger.invariants import check_line_item, check_statement, derive_status
from tools.platforms.models import Adjustment, GroupCode, StatementStatus


def test_a_balanced_line_item_passes() -> None:
    check_line_item(line_item("st", "li", None, date(2025, 1, 1)))


@pytest.mark.parametrize(
    "changes",
    [
        {"billed_cents": 20001},  # billed != allowed + CO
        {"allowed_cents": 12001, "billed_cents": 20001},  # allowed != paid + pending + patient
        {"copay_cents": 600},  # patient responsibility too large
        {"adjustments": (Adjustment(group_code=GroupCode.OA, carc="23", amount_cents=8000),)},  # not CO
    ],
)
def test_unbalanced_line_items_are_refused(changes: dict[str, object]) -> None:
    bad = line_item("st", "li", None, date(2025, 1, 1)).model_copy(update=changes)
    with pytest.raises(InvariantViolation):
        check_line_item(bad)


def test_pending_insurance_counts_towards_allowed() -> None:
    li = line_item("st", "li", None, date(2025, 1, 1)).model_copy(
        update={"insurance_paid_cents": 0, "insurance_pending_cents": 9000}
    )
    check_line_item(li)


def test_statement_balance_and_status_are_checked() -> None:
    st = build_practice(patients=1).statements[-1]
    check_statement(st)
    with pytest.raises(InvariantViolation):
        check_statement(st.model_copy(update={"balance_cents": st.balance_cents + 1}))
    with pytest.raises(InvariantViolation):
        check_statement(st.model_copy(update={"status": StatementStatus.PAID}))
    foreign = st.line_items[0].model_copy(update={"statement_id": "elsewhere"})
    with pytest.raises(InvariantViolation):
        check_statement(st.model_copy(update={"line_items": (foreign, *st.line_items[1:])}))


def test_derive_status() -> None:
    assert [derive_status(b) for b in (1, 0, -1)] == [
        StatementStatus.OPEN,
        StatementStatus.PAID,
        StatementStatus.CREDIT,
    ]
