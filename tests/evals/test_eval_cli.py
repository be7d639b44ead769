"""``billing-agent eval --split`` repeated runs exactly the splits named (the CI gate runs the seen split
apart, with fewer trials, and the others together)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from evals.cli import main
from evals.task import DEFAULT_TASKS_DIR


def _one_task_file(tmp: Path, name: str, split: str, task_id: str) -> None:
    source = yaml.safe_load((DEFAULT_TASKS_DIR / "balance.yaml").read_text())["tasks"][0]
    source.update(id=task_id, split=split)
    (tmp / name).write_text(yaml.safe_dump({"tasks": [source]}))


def test_repeated_split_runs_those_splits_and_no_other(tmp_path: Path) -> None:
    _one_task_file(tmp_path, "balance.yaml", "dev", "cli-dev")
    _one_task_file(tmp_path, "seen_cli.yaml", "seen", "cli-seen")
    _one_task_file(tmp_path, "test_cli.yaml", "test", "cli-test")
    out = tmp_path / "eval.json"
    argv = ["--tasks", str(tmp_path), "--trials", "1", "--json", str(out), "--report", str(tmp_path / "r.md")]

    assert main([*argv, "--split", "dev", "--split", "test"]) == 0
    data = json.loads(out.read_text())
    assert sorted(data["metrics"]["per_split"]) == ["dev", "test"]
    assert sorted(o["task_id"] for o in data["outcomes"]) == ["cli-dev", "cli-test"]

    assert main([*argv, "--split", "seen"]) == 0
    data = json.loads(out.read_text())
    assert [o["task_id"] for o in data["outcomes"]] == ["cli-seen"]
    # the seen split alone is gated on the safety rows (and the run's duration) only
    assert {g["name"] for g in data["gates"]} == {"policy violations", "ungrounded mentions", "duration (s)"}
