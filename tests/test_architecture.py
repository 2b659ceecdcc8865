"""The shape of the code, checked: no import cycle anywhere, no import hidden inside a function,
the floors of docs/architecture.md (the ground floor imports no domain, nothing below the
top layer imports it), and the flow between the domains (supply, demand, deals: none imports
one after it).

`python tests/test_architecture.py` prints the import graph's cycles and the floors' breaches the
same way, for a reader who wants to see them without running the suite.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("market", "listings", "docking", "alerts", "contracts", "hall", "workers")
TOP = "market.app"  # composition, CLI, `market dev`, seed, process management
# The domains in the order of the flow: each may import the ones before it, never one after.
# Supply, then demand beside it (matching reads listings), then the deals both lead to, then
# the exhibition hall, where both sides meet and which leads on to deals (offers from meetings).
DOMAINS = ("listings", "docking", "alerts", "contracts", "hall")
# A page that shows something of a room above (docs/architecture.md): page imports only.
PAGE_IMPORTS = {("listings.routes", "contracts.offers.routes")}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The project module an import names (`from contracts import offers` names a module)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node, f"{node.module}.{alias.name}"


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for _, imported in _imports(ast.parse(path.read_text())):
            target = _resolve(imported, known)
            if target and target != name and not name.startswith(target + "."):
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def imports_inside_functions() -> list[str]:
    """Project modules imported inside a function: the way a cycle hides. (A heavy or optional
    third-party library imported where it is used, like WeasyPrint, hides nothing.)"""
    known = modules()
    found = []
    for name, path in known.items():
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                for node, imported in _imports(func):
                    if _resolve(imported, known):
                        found.append(f"{name}:{node.lineno} imports {imported} in {func.name}()")
    return sorted(set(found))


def _floor(module: str) -> str:
    if module == TOP or module.startswith(TOP + ".") or module == "market.__main__":
        return "top"
    if module.startswith("workers"):
        return "workers"
    if module.startswith("market"):
        return "ground"
    return "domain"


def floor_breaches(edges: dict[str, set[str]]) -> list[str]:
    allowed = {
        "ground": {"ground"},
        "domain": {"ground", "domain"},
        "workers": {"ground", "domain", "workers"},
        "top": {"ground", "domain", "workers", "top"},
    }
    return sorted(
        f"{source} ({_floor(source)}) imports {target} ({_floor(target)})"
        for source, targets in edges.items()
        for target in targets
        if _floor(target) not in allowed[_floor(source)]
    )


def _domain(module: str) -> str | None:
    head = module.split(".")[0]
    return head if head in DOMAINS and _floor(module) == "domain" else None


def flow_breaches(edges: dict[str, set[str]]) -> list[str]:
    """A domain importing one later in the flow (docking importing contracts, listings
    importing docking), but for the page imports named in PAGE_IMPORTS."""
    found = []
    for source, targets in edges.items():
        here = _domain(source)
        for target in targets:
            there = _domain(target)
            if here is None or there is None or (source, target) in PAGE_IMPORTS:
                continue
            if DOMAINS.index(there) > DOMAINS.index(here):
                found.append(f"{source} ({here}) imports {target} ({there}), later in the flow")
    return sorted(found)


def test_the_import_graph_has_no_cycle() -> None:
    assert cycles(graph()) == []


def test_no_import_hides_inside_a_function() -> None:
    assert imports_inside_functions() == []


def test_each_floor_imports_only_the_floors_below_it() -> None:
    assert floor_breaches(graph()) == []


def test_each_domain_imports_only_the_domains_before_it_in_the_flow() -> None:
    assert flow_breaches(graph()) == []


if __name__ == "__main__":
    edges = graph()
    problems = [
        *(f"cycle: {' <-> '.join(c)}" for c in cycles(edges)),
        *imports_inside_functions(),
        *floor_breaches(edges),
        *flow_breaches(edges),
    ]
    print("\n".join(problems) or f"{len(edges)} modules: no cycle, no hidden import, floors kept")
    sys.exit(1 if problems else 0)
