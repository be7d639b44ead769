"""The practice simulation: both policies meet the same patients, the agent policy goes through the real
decision code and gate (nothing sent in quiet hours, nobody over the cap, nothing after an opt-out), the
baseline lands on the published figures, and the report carries every figure it promises."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from agent.outreach.simulate import Run, draw_patients, load_model, simulate
from api.cli import main
from guardrails.contact import within_window
from guardrails.policy import load_policy


def test_the_patient_model_lists_its_sources_and_weights() -> None:
    model = load_model()
    assert {s["id"] for s in model["sources"]} >= {
        "brief_email_open",
        "brief_pay_per_sequence",
        "brief_outstanding",
    }
    assert len(model["archetypes"]) >= 6


def test_the_baseline_is_calibrated_on_the_full_population() -> None:
    one = simulate(days=90, patients=4000, seed=3)
    cal = one["calibration"]
    assert cal["email_open_rate"]["within_20_percent"], cal
    assert cal["reminder_payment_rate"]["within_20_percent"], cal
    assert cal["outstanding_patient_ar_dollars"]["within_20_percent"], cal
    b, a = one["policies"]["baseline"], one["policies"]["agent"]
    assert b["billed_cents"] == a["billed_cents"]  # the same patients
    assert b["staff_calls"] > 0
    assert a["messages_sent"].get("sms", 0) > 0


def test_a_run_is_reproducible_from_its_seed() -> None:
    def figures(seed: int) -> dict[str, dict[str, object]]:
        run = simulate(days=30, patients=300, seed=seed)
        return {name: {k: v for k, v in m.items() if k != "wall_s"} for name, m in run["policies"].items()}

    one = figures(3)
    assert figures(3) == one
    assert figures(4) != one


def test_every_simulated_message_is_inside_the_window_and_under_the_cap() -> None:
    model, policy = load_model(), load_policy()
    assert policy.outreach is not None
    window, cap = policy.outreach.send_window, policy.outreach.contact_cap_per_7_days
    run = Run("agent", draw_patients(model, 1000, 3), model, policy, 60, 3)
    run.run()
    sent = [(sp, c) for sp in run.p for c in sp.contacts if c.channel in ("sms", "email")]
    assert len(sent) > 500
    assert [c for sp, c in sent if not within_window(c.at, sp.zone, window)] == []
    for sp in run.p:
        times = sorted(c.at for c in sp.contacts if c.channel in ("sms", "email"))
        for i, at in enumerate(times):
            assert sum(1 for t in times[: i + 1] if at - t < timedelta(days=7)) <= cap, sp.id


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
