"""CLINC150 (Larson et al., EMNLP 2019; CC BY 3.0), read from ``../shared/data/clinc150`` when present.

The data stays out of the source tree: the trainer reads its **train** split and ``oos_train`` as
out-of-scope negatives, and the evaluation reads its **validation** split (never trained or tuned on).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from agent.understanding.base import Intent

ENV = "BILLING_CLINC150_DIR"
FILE = "clinc150_train_val.json"

# CLINC's four bill intents are about bills in general; read against a medical practice's bill they map
# to what our agent does for the same question: "how much is my bill" is the balance, "when is my bill
# due" is answered with the statement (balance and due date), "pay my bill" is paying now, and "what is
# the minimum I can pay" is a payment plan (the practice's smallest monthly payment is a plan's term).
BILL_INTENTS: dict[str, Intent] = {
    "bill_balance": Intent.BALANCE,
    "bill_due": Intent.BALANCE,
    "pay_bill": Intent.PAY_NOW,
    "min_payment": Intent.PAYMENT_PLAN,
}
# The routes that answer each: the balance and the due date are on the statement; paying is a link, or
# how to pay (the knowledge base); the smallest payment is a plan's, or what is due on the statement.
BILL_ROUTES: dict[str, frozenset[str]] = {
    "bill_balance": frozenset({"fetch_statement"}),
    "bill_due": frozenset({"fetch_statement"}),
    "pay_bill": frozenset({"payment_link", "answer_from_kb"}),
    "min_payment": frozenset({"negotiate_plan", "fetch_statement"}),
}


def data_dir() -> Path | None:
    """Where CLINC150 is: ``$BILLING_CLINC150_DIR`` or ``../shared/data/clinc150`` above the checkout."""
    env = os.environ.get(ENV)
    candidates = [Path(env)] if env else []
    root = Path(__file__).resolve().parents[2]
    candidates += [
        root.parent / "shared" / "data" / "clinc150",
        root.parent.parent / "shared" / "data" / "clinc150",
    ]
    return next((c for c in candidates if (c / FILE).is_file()), None)


def load(split: str) -> list[tuple[str, str]]:
    """``[(text, clinc_intent)]`` of one split: ``train``, ``val``, ``oos_train`` or ``oos_val``."""
    directory = data_dir()
    if directory is None:
        raise FileNotFoundError(f"CLINC150 not found (set {ENV} or place it at ../shared/data/clinc150)")
    data = json.loads((directory / FILE).read_text(encoding="utf-8"))
    return [(str(text), str(label)) for text, label in data[split]]
