"""The rules that keep the house in order (ARCHITECTURE.md), checked on the source itself, and
the map itself checked against the code: the steps it names exist, every module is named,
and each rule's by-hand command prints a violation planted in a copy of the source.

The API never importing TensorFlow is checked by running imports in a fresh interpreter:
tests/models/test_tf_free_imports.py.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import rules

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


# --- The map (ARCHITECTURE.md) against the code --------------------------------------------

MAP = REPO / "ARCHITECTURE.md"
# `app/x.py:name` or `models/x.py:Class.method` as the map writes a step.
STEP = re.compile(r"`((?:app|models)/[\w/]+\.py):([A-Za-z_][\w.]*)`")
# Domain packages, and the API layers they must not import.
DOMAIN_FOLDERS = (
    "app/core",
    "app/db",
    "app/prices",
    "app/registry",
    "app/training",
    "app/jobs",
    "app/forecasting",
    "app/scheduling",
    "app/observability",
)
RENDERS_ANSWERS = Path("app/forecasting/serving.py")
API_LAYERS = ("app.api", "app.schemas")


def defines(path: Path, dotted: str) -> bool:
    """Whether the module defines `name` (a function, class or assignment) or `Class.attr`."""
    scope: list[ast.stmt] = ast.parse(path.read_text()).body
    for part in dotted.split("."):
        found: ast.stmt | None = None
        for node in scope:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.name == part:
                    found = node
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == part for t in targets):
                    found = node
        if found is None:
            return False
        scope = found.body if isinstance(found, ast.ClassDef) else []
    return True


def test_the_map_names_only_functions_that_exist() -> None:
    steps = STEP.findall(MAP.read_text())
    assert len(steps) > 40  # the flows name their steps
    missing = [f"{p}:{n}" for p, n in steps if not (REPO / p).exists() or not defines(REPO / p, n)]
    assert missing == []


def test_every_module_of_app_is_named_in_the_map() -> None:
    assert rules.unnamed(REPO) == []


def test_each_route_calls_one_service_function() -> None:
    assert rules.routes(REPO) == []


def test_no_import_cycles() -> None:
    assert rules.cycles(REPO) == []


def test_domains_never_import_the_api_layers() -> None:
    offenders = {
        str(path): sorted(
            n for n in imported_names(tree) if n.startswith(("app.api", "app.schemas"))
        )
        for folder in DOMAIN_FOLDERS
        for path, tree in modules(folder)
        if path != RENDERS_ANSWERS
    }
    assert {p: names for p, names in offenders.items() if names} == {}


# --- Each rule's by-hand command prints a violation once one is planted ----------------------


def rule_commands() -> dict[str, str]:
    """Each rule's heading and the command in its ```sh block, as the map writes them."""
    rules_part = MAP.read_text().split("\n## Rules\n", 1)[1].split("\n## ", 1)[0]
    found = {}
    for section in rules_part.split("\n### ")[1:]:
        heading = section.splitlines()[0].strip()
        block = re.search(r"```sh\n(.*?)\n```", section, re.S)
        assert block is not None, f"rule {heading!r} has no command"
        found[heading] = block.group(1)
    return found


def plant(root: Path, relative: str, text: str) -> Path:
    """Add `text` to a module of the copy (a new one if need be); the module's path."""
    path = root / relative
    path.write_text(path.read_text() + text if path.exists() else text)
    return path


def plant_cycle(root: Path) -> None:
    plant(root, "app/core/types.py", "\nfrom app.core import config  # noqa\n")
    plant(root, "app/core/config.py", "\nfrom app.core import types  # noqa\n")


# What each rule's violation looks like, planted in a copy of the source.
PLANTS: dict[str, Callable[[Path], object]] = {
    "`models/` never imports `app/` (nor FastAPI or the database)": lambda root: plant(
        root, "models/planted.py", "from app.core import config\n"
    ),
    "The API process never imports TensorFlow (nor Optuna)": lambda root: plant(
        root, "app/api/router.py", "\nimport optuna  # noqa\n"
    ),
    "Routes never query the database": lambda root: plant(
        root, "app/api/routes/planted.py", "def route(session):\n    return session.get(1)\n"
    ),
    "A route calls one service function": lambda root: plant(
        root,
        "app/api/routes/planted.py",
        "from fastapi import APIRouter\nfrom app.registry import versions\n"
        "router = APIRouter()\n\n\n@router.get('/planted')\ndef planted(session):\n"
        "    row = versions.get_version(session, ticker='A', version=1)\n"
        "    return versions.lineage(session, row=row)\n",
    ),
    "Only the request and job boundaries commit": lambda root: plant(
        root, "app/prices/store.py", "\n\ndef planted(session):\n    session.commit()\n"
    ),
    "No import cycles between the modules of `app/`": plant_cycle,
    "Domains never import the API's layers": lambda root: plant(
        root, "app/prices/store.py", "\nfrom app.schemas.common import MAX_OFFSET  # noqa\n"
    ),
    "Every module of `app/` is named on this page": lambda root: plant(
        root, "app/prices/planted.py", "PLANTED = 1\n"
    ),
}


def run_rule(command: str, root: Path) -> str:
    done = subprocess.run(
        ["bash", "-c", command], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert "rror" not in done.stderr, done.stderr  # the command itself ran
    out = done.stdout.strip()
    return "" if out == "[]" else out


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The source a rule command reads, copied, with the repository's virtual environment."""
    root = tmp_path_factory.mktemp("source")
    for folder in ("app", "models"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "tests").mkdir()
    for name in ("__init__.py", "rules.py"):
        shutil.copy(REPO / "tests" / name, root / "tests" / name)
    shutil.copy(MAP, root / MAP.name)
    (root / ".venv").symlink_to(REPO / ".venv")
    return root


def test_every_rule_has_a_command_and_a_planted_violation() -> None:
    assert set(rule_commands()) == set(PLANTS)


# The TensorFlow rule's command starts an interpreter that imports the whole API.
SLOW_RULES = {"The API process never imports TensorFlow (nor Optuna)"}


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param(rule, marks=[pytest.mark.process] if rule in SLOW_RULES else [])
        for rule in sorted(PLANTS)
    ],
)
def test_each_rule_command_prints_a_planted_violation(
    rule: str, source_copy: Path, tmp_path: Path
) -> None:
    command = rule_commands()[rule]
    assert run_rule(command, REPO) == "", f"the rule is broken now: {rule}"
    root = tmp_path / "planted"
    shutil.copytree(source_copy, root, symlinks=True)
    PLANTS[rule](root)
    assert run_rule(command, root) != "", f"{command!r} printed nothing for a planted violation"
