"""The rules that keep the house in order (ARCHITECTURE.md), checked on the source itself.

The API never importing TensorFlow is checked by running imports in a fresh interpreter:
tests/models/test_tf_free_imports.py.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def modules(folder: str) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted((REPO / folder).rglob("*.py")):
        yield path.relative_to(REPO), ast.parse(path.read_text(), filename=str(path))


def imported_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_models_never_imports_the_service_or_its_frameworks() -> None:
    forbidden = ("app", "fastapi", "starlette", "sqlalchemy", "alembic")
    offenders = {
        str(path): sorted(n for n in imported_names(tree) if n.split(".")[0] in forbidden)
        for path, tree in modules("models")
    }
    assert {p: names for p, names in offenders.items() if names} == {}


def test_routes_never_query_the_database() -> None:
    # Routes hand the session to one service function; queries live in the domain packages.
    offenders: dict[str, object] = {}
    for path, tree in modules("app/api/routes"):
        sql = sorted(n for n in imported_names(tree) if n.split(".")[0] == "sqlalchemy")
        uses = [
            (node.lineno, node.func.attr)
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "session"
        ]
        if sql or uses:
            offenders[str(path)] = (sql, uses)
    assert offenders == {}


def savepoints(tree: ast.Module) -> set[str]:
    """Names bound to `x.begin_nested()`: a savepoint's commit is not the transaction's."""
    return {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Attribute)
        and node.value.func.attr == "begin_nested"
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def test_only_the_request_and_job_boundaries_commit() -> None:
    boundaries = {Path("app/db/engine.py"), Path("app/api/deps.py")}
    offenders = {}
    for path, tree in modules("app"):
        nested = savepoints(tree)
        calls = [
            (node.lineno, ast.unparse(node.func))
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("commit", "rollback")
            and not (isinstance(node.func.value, ast.Name) and node.func.value.id in nested)
        ]
        if calls and path not in boundaries:
            offenders[str(path)] = calls
    assert offenders == {}
