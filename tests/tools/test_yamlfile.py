"""``load_yaml`` reads every YAML file the product and the evals ship exactly as ``yaml.safe_load`` does,
and it is as safe: a Python object tag is refused, not built."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tools.yamlfile import load_yaml

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted(
    p for top in ("agent", "api", "evals", "guardrails", "tools") for p in (ROOT / top).rglob("*.yaml")
)


def test_every_shipped_file_reads_as_safe_load_reads_it() -> None:
    assert len(SHIPPED) > 20
    for path in SHIPPED:
        text = path.read_text(encoding="utf-8")
        assert load_yaml(text) == yaml.safe_load(text), path


def test_a_python_object_tag_is_refused() -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml("!!python/object/apply:os.system ['true']")
