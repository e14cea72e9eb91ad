"""ARCHITECTURE.md's rules that a grep cannot check, as commands that print each violation:

    .venv/bin/python -m tests.rules routes     # a route that calls more than one service function
    .venv/bin/python -m tests.rules cycles     # an import cycle between modules of app/
    .venv/bin/python -m tests.rules unnamed    # a module of app/ that ARCHITECTURE.md never names

Each reads the source under the current directory (the repository root), prints one line per
violation and nothing when the rule holds. tests/test_architecture.py runs them, and plants a
violation of each to see that they print it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

# The packages whose functions are services: what a route may call once.
DOMAINS = ("app.prices", "app.registry", "app.jobs", "app.forecasting", "app.training")
HTTP_METHODS = {"get", "post", "put", "delete", "patch", "head", "api_route"}


def module_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def app_modules(root: Path) -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted((root / "app").rglob("*.py")):
        rel = path.relative_to(root)
        yield module_name(rel), rel, ast.parse(path.read_text(), filename=str(rel))


def is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def imports(root: Path, module: str, tree: ast.Module) -> set[str]:
    """The modules of app/ this module imports (anywhere in it, TYPE_CHECKING aside)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("app"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app"):
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                found.add(dotted if is_module(root, dotted) else node.module)
    found.discard(module)
    return found


def cycles(root: Path) -> list[str]:
    """Every import cycle between modules of app/, each once, as `a -> b -> a`."""
    graph = {name: imports(root, name, tree) for name, _, tree in app_modules(root)}
    found: set[tuple[str, ...]] = set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                loop = path[path.index(nxt) :]
                start = loop.index(min(loop))
                found.add(tuple(loop[start:] + loop[:start]))
            elif len(path) < 12:
                visit(nxt, [*path, nxt])

    for name in graph:
        visit(name, [name])
    return [" -> ".join([*loop, loop[0]]) for loop in sorted(found)]


def _service_names(root: Path, tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted name of what the module imported from the domain packages."""
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(DOMAINS):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _is_route(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        isinstance(d, ast.Call)
        and isinstance(d.func, ast.Attribute)
        and d.func.attr in HTTP_METHODS
        for d in fn.decorator_list
    )


def routes(root: Path) -> list[str]:
    """Routes that use more than one service function (called or handed to a thread)."""
    out = []
    for path in sorted((root / "app" / "api" / "routes").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        services = _service_names(root, tree)
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or not _is_route(fn):
                continue
            used = []
            for node in ast.walk(fn):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                    owner = services.get(node.value.id)
                    if owner and is_module(root, owner) and not node.attr[0].isupper():
                        used.append(f"{owner}.{node.attr}")
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    target = services.get(node.func.id)
                    if target and not is_module(root, target) and not node.func.id[0].isupper():
                        used.append(target)
            if len(used) > 1:
                rel = path.relative_to(root)
                out.append(f"{rel}:{fn.lineno}: {fn.name} uses {', '.join(used)}")
    return out


def unnamed(root: Path) -> list[str]:
    """Modules of app/ whose path ARCHITECTURE.md never writes (packages' __init__ aside)."""
    text = (root / "ARCHITECTURE.md").read_text()
    return [
        str(rel)
        for _, rel, _ in app_modules(root)
        if rel.name != "__init__.py" and str(rel) not in text
    ]


RULES = {"routes": routes, "cycles": cycles, "unnamed": unnamed}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in RULES:
        print(f"usage: python -m tests.rules {{{','.join(RULES)}}}", file=sys.stderr)
        return 2
    for line in RULES[argv[0]](Path.cwd()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
