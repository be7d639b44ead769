"""The task loader rejects malformed tasks with a message naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from evals.task import CATEGORIES, SCHEMA_PATH, TaskFileError, load_tasks, schema_text
from tools.yamlfile import load_yaml

VALID: dict[str, Any] = {
    "id": "balance-x",
    "version": 1,
    "category": "balance",
    "split": "test",
    "patient": {"demo": {"scenario": "copay_only"}},
    "channel": "portal",
    "user": {"persona": "a busy parent", "goal": "learn the balance"},
    "script": {"opening": {"say": ["what is left to pay on my account?"], "intent": "balance"}},
    "evaluation": {"communicate": ["{balance}"], "assertions": [{"kind": "no_write"}]},
}


def _write(tmp_path: Path, name: str, doc: object) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _with(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(VALID))
    doc.update(changes)
    return doc


def test_a_valid_task_loads(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", VALID)
    [task] = load_tasks(tmp_path)
    assert task.id == "balance-x"
    assert task.script.opening.intent == "balance"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (_with(category="billing"), "category"),
        (_with(split="train"), "split"),
        (_with(version=0), "version"),
        (_with(channel="fax"), "channel"),
        (_with(patient={}), "patient"),
        (_with(patient={"demo": {"scenario": "x"}, "fixture": {"patient": {}}}), "patient"),
        # an inline patient is checked against the ledger's models when the file loads, not mid-run
        (_with(patient={"fixture": {"patient": {"id": "pat-1", "first_name": "A"}}}), "patient.fixture"),
        (_with(script={"opening": {"say": []}}), "script.opening.say"),
        (_with(script={"opening": {"say": ["hi"]}, "answers": {"ssn": [{"say": ["x"]}]}}), "script.answers"),
        (_with(user={"persona": "p"}), "user.goal"),
        (_with(surprise=1), "surprise"),
        (
            _with(evaluation={"reference_actions": [{"action": "create_plan", "months": 6, "option": 1}]}),
            "evaluation.reference_actions.0.create_plan",
        ),
        (
            _with(
                evaluation={
                    "reference_actions": [{"action": "open_ticket", "reason": "legal", "priority": "high"}]
                }
            ),
            "evaluation",
        ),
        (
            _with(evaluation={"escalation": {"required": True, "reasons": ["lawsuit"]}}),
            "evaluation.escalation",
        ),
    ],
)
def test_malformed_tasks_are_rejected_naming_file_and_field(tmp_path: Path, doc: Any, field: str) -> None:
    path = _write(tmp_path, "bad.yaml", doc)
    with pytest.raises(TaskFileError) as info:
        load_tasks(tmp_path)
    message = str(info.value)
    assert str(path) in message
    assert field in message


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", VALID)
    _write(tmp_path, "b.yaml", {"tasks": [VALID]})
    with pytest.raises(TaskFileError, match="duplicate task id 'balance-x'"):
        load_tasks(tmp_path)


def test_invalid_yaml_and_empty_directories_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match=r"no \*\.yaml task files"):
        load_tasks(tmp_path)
    (tmp_path / "x.yaml").write_text("id: [unclosed", encoding="utf-8")
    with pytest.raises(TaskFileError, match=r"x\.yaml: not valid YAML"):
        load_tasks(tmp_path)


def test_checked_in_schema_matches_the_models() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "run: python -m evals.task --write-schema"
    )


def test_every_suite_task_validates_against_the_json_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((SCHEMA_PATH.parent.parent / "tasks").glob("*.yaml")):
        doc = load_yaml(path.read_text(encoding="utf-8"))
        for item in doc["tasks"] if set(doc) == {"tasks"} else [doc]:
            errors = [e.message for e in validator.iter_errors(item)]
            assert not errors, f"{path}: {errors}"
    bad = _with(category="billing")
    assert list(validator.iter_errors(bad)), "the schema must reject what the loader rejects"


def test_the_suite_covers_every_category_and_marks_a_dev_split() -> None:
    tasks = load_tasks()
    per = {c: sum(1 for t in tasks if t.category == c) for c in CATEGORIES}
    assert all(n >= 8 for n in per.values()), per
    assert len(tasks) >= 150
    assert any(t.split == "dev" for t in tasks)
    blind = [t for t in tasks if t.split == "test"]
    assert len(blind) >= 60
    per_blind = {c: sum(1 for t in blind if t.category == c) for c in CATEGORIES}
    assert all(n >= 4 for n in per_blind.values()), per_blind
