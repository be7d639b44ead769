"""Imports flow one way: api → agent → tools, guardrails; evals → agent, tools, guardrails.

ruff cannot express "package X must not import package Y" per folder, so this
small AST check does (the habit of polar's scripts/linters)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN: dict[str, frozenset[str]] = {
    "tools": frozenset({"agent", "api", "evals", "guardrails"}),
    "guardrails": frozenset({"agent", "api", "evals"}),
    "agent": frozenset({"api", "evals"}),
    "evals": frozenset({"api"}),
    "migrations": frozenset({"agent", "api", "evals"}),
}


def _imported_top_levels(path: Path) -> set[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_never_imports_upward(package: str) -> None:
    violations = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, name in _imported_top_levels(path)
        if name in FORBIDDEN[package]
    ]
    assert violations == []


def test_no_dependency_shadows_our_packages() -> None:
    """guardrails-ai imports as ``guardrails``: it must never be installed beside us."""
    import importlib.util

    spec = importlib.util.find_spec("guardrails")
    assert spec is not None
    assert spec.origin is not None
    assert Path(spec.origin).resolve().is_relative_to(ROOT)
