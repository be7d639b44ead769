"""What a run of the suite produced, as the Markdown report and the JSON record ``billing-agent eval``
writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from evals.metrics import Gate, LlmUsage, Metrics, TrialOutcome, llm_markdown, markdown, slowest, split_gates
from evals.trajectory import Trajectory


class SuiteResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    metrics: Metrics
    gates: list[Gate]
    outcomes: list[TrialOutcome]
    trajectories: list[Trajectory]  # failing trials only, to keep the JSON small
    seed: int
    engine: str
    llm: LlmUsage | None = None  # ``--engine llm`` only

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def failed_gates(self) -> list[str]:
        return [g.name for g in self.gates if not g.passed]

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["passed"] = self.passed
        data["slowest_tasks"] = [{"task": t, "mean_s": s} for t, s in slowest(self.outcomes, 5)]
        # The gate thresholds on each split alone, for the record (``metrics.per_split`` has the figures).
        by_split = split_gates(self.metrics)
        data["split_gates"] = {n: [g.model_dump(mode="json") for g in rows] for n, rows in by_split.items()}
        return data

    def markdown(self) -> str:
        report = markdown(self.metrics, self.outcomes, self.gates)
        return report + llm_markdown(self.llm) if self.llm is not None else report


def write(result: SuiteResult, *, report: Path | None, json_path: Path | None) -> str:
    """Write the Markdown report and the JSON record where asked; return the Markdown."""
    text = result.markdown()
    if report is not None:
        report.write_text(text, encoding="utf-8")
    if json_path is not None:
        json_path.write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    return text
