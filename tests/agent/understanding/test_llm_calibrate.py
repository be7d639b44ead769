"""Calibration of the model's confidence: the Platt fit brings over-confident scores down to their
accuracy, the understander applies the map it is given, and ``billing-agent calibrate`` fits one on the
eval set's labeled turns through the scripted server and reports ECE beside the local engine's."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_openai import ChatOpenAI

from agent.understanding.base import UnderstandingContext
from agent.understanding.calibrate import Calibration, ece, fit, report
from agent.understanding.llm import LlmUnderstander
from agent.understanding.local import LocalUnderstander
from api.cli import main
from tests.support.openai_server import Reply, ScriptedOpenAI

_LATEST = re.compile(r"Latest message:\n(.*)\Z", re.DOTALL)
_LOCAL = LocalUnderstander.default()


def _overconfident(n: int, seed: int = 0) -> list[tuple[float, bool]]:
    """A model right with probability p that reports about p ** 0.2 (0.5 → 0.87, 0.8 → 0.96)."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        p = rng.uniform(0.3, 1.0)
        pairs.append((p**0.2, rng.random() < p))
    return pairs


def test_a_platt_fit_brings_overconfident_scores_down_to_their_accuracy() -> None:
    train, held_out = _overconfident(2000, seed=1), _overconfident(2000, seed=2)
    calibration = fit(train)
    before = ece(held_out)
    after = ece([(calibration.apply(p), ok) for p, ok in held_out])
    assert before > 0.15
    assert after < 0.05
    assert calibration.apply(0.95) < 0.85  # a lone "0.95" no longer clears the thresholds that act


def test_an_already_calibrated_engine_is_left_about_as_it_is() -> None:
    rng = random.Random(3)
    pairs = [(p, rng.random() < p) for p in (rng.uniform(0.2, 1.0) for _ in range(3000))]
    calibration = fit(pairs)
    assert calibration.a == pytest.approx(1.0, abs=0.15)
    assert calibration.b == pytest.approx(0.0, abs=0.15)
    assert report(pairs, pairs).model_ece_after <= ece(pairs) + 0.01


def test_a_map_survives_a_round_trip_through_its_file(tmp_path: Path) -> None:
    path = tmp_path / "cal" / "llm.json"
    Calibration(a=0.4, b=-0.2, samples=12).save(path)
    assert Calibration.load(path) == Calibration(a=0.4, b=-0.2, samples=12)


async def test_the_understander_applies_its_map_to_the_models_confidence() -> None:
    doc = {
        "intent": "request_human", "confidence": 0.99, "frustration": 0.0,
        "entities": {"month_counts": [], "statement_refs": []}, "reason": "wants a person",
    }  # fmt: skip
    calibration = Calibration(a=0.3, b=-0.5)
    with ScriptedOpenAI() as server:
        server.script(Reply.json(doc), Reply.json(doc))
        model = ChatOpenAI(base_url=server.base_url, api_key="t", model="scripted", max_retries=0, timeout=5)
        plain = LlmUnderstander(model, LocalUnderstander.default())
        calibrated = LlmUnderstander(model, LocalUnderstander.default(), calibration=calibration)
        text = "ok so the thing is about the money"  # the local engine reads no request for a person
        local = await LocalUnderstander.default().understand(text, UnderstandingContext())
        assert local.intent.value != "request_human"
        raw = await plain.understand(text, UnderstandingContext())
        mapped = await calibrated.understand(text, UnderstandingContext())
    assert raw.confidence == pytest.approx(0.99 * 0.8)  # disagreeing with the local engine: discounted
    assert mapped.confidence == pytest.approx(calibration.apply(0.99) * 0.8, abs=1e-4)


def _always_sure(body: dict[str, Any]) -> Reply:
    """A stand-in model that reads as the local engine does and always says it is 0.99 sure."""
    text = _LATEST.search(body["messages"][-1]["content"])
    assert text is not None
    u = _LOCAL.understand_sync(text.group(1), UnderstandingContext())
    doc: dict[str, Any] = {
        "intent": u.intent.value, "confidence": 0.99, "frustration": 0.0,
        "entities": {"month_counts": [], "statement_refs": []}, "reason": "scripted",
    }  # fmt: skip
    return Reply.json(doc)


def test_the_calibrate_command_fits_on_the_eval_set_and_reports_ece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file is read
    out = tmp_path / "calibration.json"
    with ScriptedOpenAI(fallback=_always_sure) as server:
        monkeypatch.setenv("BILLING_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("BILLING_LLM_MODEL", "scripted")
        monkeypatch.setenv("BILLING_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
        assert main(["calibrate", "--out", str(out), "--limit", "120"]) == 0
        asked = len(server.requests)
    printed = capsys.readouterr().out
    rows = r"^(local engine ECE|model ECE, raw|model ECE, calibrated)\s+([\d.]+)"
    figures = dict(re.findall(rows, printed, re.MULTILINE))
    assert asked == 120  # labeled lines of the eval tasks, spread over them
    assert float(figures["model ECE, calibrated"]) < float(figures["model ECE, raw"])
    assert Calibration.load(out).samples == asked
