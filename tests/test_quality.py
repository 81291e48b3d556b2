"""Lint, format and type checks run with the tests, so one command runs every check."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["twin", "collectors", "dashboard", "tests", "bench"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_lint_is_clean() -> None:
    result = run("ruff", "check", *SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = run("ruff", "format", "--check", *SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def _runtime_imports(path: Path) -> set[str]:
    """Modules a file imports when it runs (imports under ``if TYPE_CHECKING:`` left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_page_imports_another_page_or_the_app() -> None:
    """Pages share code through dashboard's modules, never through each other or the app."""
    offenders = {
        page.name: sorted(
            m for m in _runtime_imports(page) if m.startswith(("dashboard.pages", "dashboard.app"))
        )
        for page in sorted((ROOT / "dashboard" / "pages").glob("*.py"))
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_pure_models_reach_no_store_job_or_view() -> None:
    """twin/models/ holds the pure models: none imports the store, a job, a view or the
    dashboard, so the layout tells which code may touch stored data."""
    impure = ("twin.store", "twin.jobs", "twin.views", "twin.alerts", "dashboard", "collectors")
    offenders = {
        model.name: sorted(m for m in _runtime_imports(model) if m.startswith(impure))
        for model in sorted((ROOT / "twin" / "models").glob("*.py"))
    }
    assert len(offenders) > 5  # the models are where this test looks
    assert {name: found for name, found in offenders.items() if found} == {}
