"""Imports flow one way: api → agent → tools, guardrails; evals → agent, tools, guardrails;
bench → api, agent, tools, guardrails, and nothing imports bench but the CLI's ``bench`` command; and no
code of ours imports a private module of a library (``langgraph._internal``, ``aiosqlite.core._…``).

ruff cannot express "package X must not import package Y" per folder, nor "no ``_``-prefixed module of a
third-party package", so this small AST check does (the habit of polar's scripts/linters)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = frozenset({"agent", "api", "tools", "guardrails", "evals", "bench", "migrations", "tests"})

FORBIDDEN: dict[str, frozenset[str]] = {
    "tools": frozenset({"agent", "api", "evals", "guardrails", "bench"}),
    "guardrails": frozenset({"agent", "api", "evals", "bench"}),
    "agent": frozenset({"api", "evals", "bench"}),
    "api": frozenset({"bench"}),  # but for the ``bench`` command's lazy import, checked below
    "evals": frozenset({"api", "bench"}),
    "bench": frozenset({"evals"}),
    "migrations": frozenset({"agent", "api", "evals", "bench"}),
}
# (file, function) pairs allowed to import a forbidden package inside that function only.
LAZY_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("api/cli.py", "_bench"): "bench",
    ("api/cli.py", "_platform_bench"): "bench",
}


def _imports(tree: ast.AST) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


def _imported_top_levels(path: Path) -> set[tuple[int, str]]:
    """Every absolute import of ``path`` as (line, top-level package), less the allowed lazy ones."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    allowed: set[tuple[int, str]] = set()
    where = path.relative_to(ROOT).as_posix()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            package = LAZY_EXCEPTIONS.get((where, node.name))
            if package is not None:
                allowed |= {(line, name) for line, name in _imports(node) if name == package}
    return _imports(tree) - allowed


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_never_imports_upward(package: str) -> None:
    violations = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, name in _imported_top_levels(path)
        if name in FORBIDDEN[package]
    ]
    assert violations == []


def _imported_modules(path: Path) -> set[tuple[int, str]]:
    """Every absolute module an import statement of ``path`` names, including ``from m import x`` as
    ``m.x`` (``x`` may be a module: ``from langgraph import _internal``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def _private(module: str) -> bool:
    """A ``_``-prefixed segment that is not a dunder (``__future__``, ``__main__``, ``__version__``)."""
    return any(part.startswith("_") and not part.endswith("__") for part in module.split("."))


def _python_files() -> list[Path]:
    return sorted(path for package in sorted(OURS) for path in (ROOT / package).rglob("*.py"))


def test_no_import_of_a_private_module_of_a_library() -> None:
    """A library's ``_``-prefixed modules are not its API: they change without notice between the
    versions we allow (``langgraph._internal`` did). Our own packages are ours to arrange."""
    violations = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in _python_files()
        for line, module in _imported_modules(path)
        if module.split(".")[0] not in OURS and _private(module)
    ]
    assert violations == []


@pytest.mark.parametrize(
    ("source", "private"),
    [
        ("from langgraph._internal._runnable import RunnableCallable", True),
        ("from langgraph import _internal", True),
        ("import aiosqlite._private", True),
        ("from sqlalchemy.util._concurrency_py3k import await_only", True),
        ("from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver", False),
        ("from __future__ import annotations", False),
        ("from aiosqlite import Connection", False),
    ],
)
def test_the_private_import_check_tells_private_from_public(
    source: str, private: bool, tmp_path: Path
) -> None:
    module = tmp_path / "m.py"
    module.write_text(source + "\n", encoding="utf-8")
    assert [_private(name) for _, name in _imported_modules(module)] == [private]


def test_the_bench_command_is_the_only_way_into_bench() -> None:
    """The exception is real (the CLI does import ``bench``) and lazy (inside its handler only)."""
    lazy = {name for _, name in _imports(ast.parse((ROOT / "api/cli.py").read_text(encoding="utf-8")))}
    assert "bench" in lazy
    assert all(name != "bench" for _, name in _imported_top_levels(ROOT / "api/cli.py"))


def test_no_dependency_shadows_our_packages() -> None:
    """guardrails-ai imports as ``guardrails``: it must never be installed beside us."""
    import importlib.util

    spec = importlib.util.find_spec("guardrails")
    assert spec is not None
    assert spec.origin is not None
    assert Path(spec.origin).resolve().is_relative_to(ROOT)


def test_product_code_never_uses_asyncio_wait_for() -> None:
    """On Python 3.11 ``asyncio.wait_for`` drops a cancellation that arrives as its awaitable finishes,
    so a loop around it outlives shutdown (an SSE follower hung a test worker this way). ``async with
    asyncio.timeout(...)`` cancels correctly; tests may still use ``wait_for`` as a guard."""
    violations = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in _python_files()
        if path.relative_to(ROOT).parts[0] != "tests"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Attribute) and node.attr == "wait_for"
    ]
    assert violations == []
