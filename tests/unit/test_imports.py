"""The package's shape: no import cycle anywhere (function-local imports included), config is
pure data (imports no resource handler, file loader or AWS client code)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ecs_cicd"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every ecs_cicd module `path` imports, at any depth (functions too), resolved to modules."""
    known = {module_name(p) for p in PACKAGE.rglob("*.py")}
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            # `from pkg import mod` imports the module; `from mod import name` the module.
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        for n in names:
            if n in known and n != this:
                out.add(n)
    return out


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def test_no_import_cycle_anywhere() -> None:
    g = graph()
    cycles: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, trail: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycles.append(" -> ".join([*trail[trail.index(n) :], n]))
            return
        state[n] = 1
        for d in sorted(g.get(n, ())):
            # A package importing its own submodule (ecs_cicd.emulator -> .server) is not a cycle
            # unless the submodule imports the package back; `visit` sees that edge too.
            visit(d, [*trail, n])
        state[n] = 2

    for n in sorted(g):
        visit(n, [])
    assert cycles == []


def test_config_is_pure_data() -> None:
    deps = imports_of(PACKAGE / "config.py")
    assert not {
        d
        for d in deps
        if d.startswith(
            (
                "ecs_cicd.resources",
                "ecs_cicd.aws",
                "ecs_cicd.ops",
                "ecs_cicd.stack",
                "ecs_cicd.lifecycle",
            )
        )
    }
