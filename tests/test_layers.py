"""Import layering of service/: imports run one way.

Every module under service/ is parsed with `ast` and every import is read, wherever it is written
(module level, inside a function, under `if TYPE_CHECKING:`), relative imports resolved. Then:

 (a) no two units import each other, directly or through a longer cycle. A unit is a top-level
     package of service/ (service/store, service/decide, service/policy, service/queries,
     service/analysis, service/audit, service/workflows, service/api, service/review, service/cli) or
     a top-level module (service/decision_log.py, ...);
 (b) service/store imports nothing of service/ outside service/store (it is the bottom layer);
 (c) within a unit, no two modules import each other, directly or through a longer cycle.

An import `from X import name` is an edge to the module X.name when that module exists, else to X
(its package's __init__.py). The parent packages a dotted import runs implicitly are not edges.
A failure names every import of the offending chain as file:line. Modules named in strings (gunicorn's
"service.wsgi:app", an entry point) are not imports and are not read.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "service"
BOTTOM = "service.store"

# being removed by issue 18; this set must end empty.
# Module edges (importer, imported) that today close a cycle the rules above forbid, and that
# another change is removing. Each is exempt from the checks; the test fails as soon as one no
# longer exists or no longer closes a cycle, so that it is taken out of this set.
KNOWN_TODAY: set[tuple[str, str]] = {
}


@dataclass(frozen=True)
class Import:
    """One import statement's edge: where it is written, and the module it imports."""

    source: str
    target: str
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.source} -> {self.target}"


@dataclass
class Graph:
    modules: set[str] = field(default_factory=set)
    imports: list[Import] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Graph({len(self.modules)} modules, {len(self.imports)} imports)"

    def edges(self, exempt: set[tuple[str, str]] = frozenset()) -> dict[tuple[str, str], list[Import]]:
        """(importer, imported) -> the import statements making that edge (a module importing itself left out)."""
        found: dict[tuple[str, str], list[Import]] = {}
        for imp in self.imports:
            if imp.source != imp.target and (imp.source, imp.target) not in exempt:
                found.setdefault((imp.source, imp.target), []).append(imp)
        return found


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str:
    """service.store.models -> service.store; service.decision_log -> service.decision_log."""
    return ".".join(module.split(".")[:2])


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> list[tuple[str, int]]:
    if isinstance(node, ast.Import):
        return [(alias.name, node.lineno) for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
        origin = ".".join(base + ([node.module] if node.module else []))
    else:
        origin = node.module or ""
    found = []
    for alias in node.names:
        submodule = f"{origin}.{alias.name}"
        found.append((submodule if submodule in known else origin, node.lineno))
    return found


def build_graph(sources: dict[str, tuple[str, str, bool]]) -> Graph:
    """The import graph of {module: (display path, source text, is a package's __init__)}, restricted to
    imports of those modules."""
    graph = Graph(modules=set(sources))
    seen: set[Import] = set()
    for module, (path, text, is_package) in sources.items():
        for node in ast.walk(ast.parse(text, filename=path)):
            for target, line in _imported(node, module, is_package, graph.modules):
                # `import service.store.models` names that module; an import of a name that is no module
                # of ours (the stdlib, a library) is left out
                while target and target not in graph.modules:
                    target = target.rpartition(".")[0] if target.startswith(f"{PACKAGE}.") else ""
                found = Import(module, target, path, line)
                if target and found not in seen:  # once per statement (`from x import a, b`)
                    seen.add(found)
                    graph.imports.append(found)
    return graph


def service_graph(root: Path = ROOT) -> Graph:
    sources = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        sources[module_name(path, root)] = (str(path.relative_to(root)), path.read_text(encoding="utf-8"),
                                            path.name == "__init__.py")
    return build_graph(sources)


def _cycles(nodes: set[str], adjacent: dict[str, set[str]]) -> list[tuple[list[str], set[str]]]:
    """Each strongly connected component of more than one node (Tarjan), with one of its shortest
    cycles through its first member, as [a, b, ..., a]."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:  # the graphs here are small: recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(adjacent.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(nodes):
        if node not in index:
            connect(node)
    return [(_shortest_cycle(sorted(component)[0], component, adjacent), component) for component in components]


def _shortest_cycle(start: str, within: set[str], adjacent: dict[str, set[str]]) -> list[str]:
    """The shortest path start -> ... -> start inside one strongly connected component (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for other in sorted(adjacent.get(node, ())):
                if other not in within:
                    continue
                if other == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return path[::-1] + [start]
                if other not in came_from:
                    came_from[other] = node
                    following.append(other)
        frontier = following
    raise AssertionError(f"{start} is on no cycle")  # not reached: start is in a strong component


def _adjacency(pairs: set[tuple[str, str]]) -> dict[str, set[str]]:
    adjacent: dict[str, set[str]] = {}
    for a, b in pairs:
        adjacent.setdefault(a, set()).add(b)
    return adjacent


def unit_cycles(graph: Graph, exempt: set[tuple[str, str]] = frozenset()) -> list[str]:
    """Rule (a): each cycle between units, with the imports that make each of its steps."""
    edges = graph.edges(exempt)
    between: dict[tuple[str, str], list[Import]] = {}
    for (a, b), imports in edges.items():
        if unit_of(a) != unit_of(b):
            between.setdefault((unit_of(a), unit_of(b)), []).extend(imports)
    units = {unit_of(m) for m in graph.modules}
    return [_describe(cycle, component, between) for cycle, component in _cycles(units, _adjacency(set(between)))]


def module_cycles(graph: Graph, exempt: set[tuple[str, str]] = frozenset()) -> list[str]:
    """Rule (c): each cycle between modules of one unit, with its imports."""
    edges = {pair: imports for pair, imports in graph.edges(exempt).items()
             if unit_of(pair[0]) == unit_of(pair[1])}
    return [_describe(cycle, component, edges) for cycle, component in _cycles(graph.modules, _adjacency(set(edges)))]


def bottom_escapes(graph: Graph, exempt: set[tuple[str, str]] = frozenset()) -> list[str]:
    """Rule (b): every import made in service/store of a module of service/ outside it."""
    return [str(imp) for (a, b), imports in sorted(graph.edges(exempt).items())
            for imp in imports if unit_of(a) == BOTTOM and unit_of(b) != BOTTOM]


def _describe(cycle: list[str], component: set[str], edges: dict[tuple[str, str], list[Import]]) -> str:
    """The cycle, the imports of each of its steps, and the other members of its tangle, if any."""
    steps = [" -> ".join(cycle)]
    for a, b in zip(cycle, cycle[1:]):
        steps += [f"    {imp}" for imp in edges[(a, b)]]
    others = sorted(component - set(cycle))
    if others:
        steps.append(f"    (more cycles through: {', '.join(others)})")
    return "\n".join(steps)


def stale(graph: Graph, known: set[tuple[str, str]]) -> list[str]:
    """The known edges that no longer exist, or no longer close a cycle a rule forbids (an import
    made in service/store of a module above it is forbidden by itself, rule (b))."""
    edges = graph.edges()
    modules = _adjacency({pair for pair in edges if unit_of(pair[0]) == unit_of(pair[1])})
    units = _adjacency({(unit_of(a), unit_of(b)) for a, b in edges if unit_of(a) != unit_of(b)})
    gone = []
    for a, b in sorted(known):
        if (a, b) not in edges:
            gone.append(f"{a} -> {b}: no such import any more")
        elif unit_of(a) == unit_of(b):
            if a not in _reach(b, modules):
                gone.append(f"{a} -> {b}: on no cycle any more")
        elif unit_of(a) != BOTTOM and unit_of(a) not in _reach(unit_of(b), units):
            gone.append(f"{a} -> {b}: on no cycle any more")
    return gone


def _reach(start: str, adjacent: dict[str, set[str]]) -> set[str]:
    """The nodes reachable from start (start included)."""
    seen, todo = {start}, [start]
    while todo:
        for other in adjacent.get(todo.pop(), ()):
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


@pytest.fixture(scope="module")
def graph() -> Graph:
    return service_graph()


def test_the_graph_is_read(graph: Graph) -> None:
    """The parse finds the packages and the kinds of import the rules depend on."""
    units = {unit_of(m) for m in graph.modules}
    assert {"service.store", "service.api", "service.review", "service.audit", "service.decide",
            "service.policy", "service.queries", "service.analysis",
            "service.workflows", "service.cli"} <= units
    pairs = set(graph.edges())
    assert ("service.store.models", "service.store.db") in pairs  # relative, module level
    assert ("service.review.views", "service.review.pages") in pairs  # `from . import pages`
    assert any(unit_of(a) == "service.api" and unit_of(b) == "service.store" for a, b in pairs)


def test_no_cycle_between_units(graph: Graph) -> None:
    cycles = unit_cycles(graph, KNOWN_TODAY)
    assert not cycles, "packages of service/ import each other:\n" + "\n".join(cycles)


def test_store_imports_only_store(graph: Graph) -> None:
    escapes = bottom_escapes(graph, KNOWN_TODAY)
    assert not escapes, "service/store imports from above it:\n" + "\n".join(escapes)


# The layers, lowest first: a unit may import only units of a lower rank (and top-level modules of
# service/, which are read for their own imports by rule (a)).
RANKS = {"service.store": 0, "service.decide": 1, "service.policy": 2, "service.queries": 3,
         "service.analysis": 3, "service.audit": 4, "service.workflows": 5, "service.review": 6,
         "service.api": 7, "service.cli": 8}  # the app (api) mounts the console (review)


def upward_imports(graph: Graph, ranks: dict[str, int] = RANKS) -> list[str]:
    """Every import from a unit of `ranks` to a unit of the same or a higher rank."""
    return [str(imp) for (a, b), imports in sorted(graph.edges().items()) for imp in imports
            if unit_of(a) != unit_of(b) and unit_of(a) in ranks and unit_of(b) in ranks
            and ranks[unit_of(b)] >= ranks[unit_of(a)]]


def test_layers_import_only_lower_layers(graph: Graph) -> None:
    assert set(RANKS) <= {unit_of(m) for m in graph.modules}, "a layer of RANKS has no module"
    found = upward_imports(graph)
    assert not found, "a layer imports one at or above it:\n" + "\n".join(found)


def test_checker_catches_an_upward_import() -> None:
    graph = _synthetic({"__init__.py": "", "store/__init__.py": "", "store/a.py": "", "decide/__init__.py": "",
                        "decide/b.py": "from service.store import a\n", "store/c.py": "from service.decide import b\n"})
    assert any("service/store/c.py" in line for line in upward_imports(graph))


def test_no_cycle_between_modules_of_a_unit(graph: Graph) -> None:
    cycles = module_cycles(graph, KNOWN_TODAY)
    assert not cycles, "modules import each other:\n" + "\n".join(cycles)


def test_known_cycles_still_exist(graph: Graph) -> None:
    """KNOWN_TODAY holds only edges that still close a cycle: remove an edge once its cycle is gone."""
    gone = stale(graph, KNOWN_TODAY)
    assert not gone, "remove from KNOWN_TODAY (its cycle is gone):\n" + "\n".join(gone)


# --- the checker itself, on small synthetic graphs -------------------------------------------------

def _synthetic(files: dict[str, str]) -> Graph:
    """A graph from {path under a fake service/: source}."""
    sources = {}
    for path, text in files.items():
        module = module_name(Path("/x") / PACKAGE / path, Path("/x"))
        sources[module] = (f"{PACKAGE}/{path}", text, path.endswith("__init__.py"))
    return build_graph(sources)


SYNTHETIC = {  # service.high uses service.low, never the other way
    "__init__.py": "",
    "low/__init__.py": "",
    "low/base.py": "import os\n",
    "low/top.py": "from .base import os\n",
    "high/__init__.py": "from .page import render\n",
    "high/page.py": "from ..low import base\nfrom service.low.base import os\n",
    "high/other.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import page\n"
                      "def later():\n    import service.low.top\n"),
}


def test_checker_catches_a_cycle_between_units() -> None:
    graph = _synthetic(SYNTHETIC | {"low/top.py": "def later():\n    from service.high import page  # in a function\n"})
    cycles = unit_cycles(graph)
    assert len(cycles) == 1
    assert cycles[0].splitlines()[0] == "service.high -> service.low -> service.high"
    assert "service/low/top.py:2 service.low.top -> service.high.page" in cycles[0]
    assert "service/high/page.py:1 service.high.page -> service.low.base" in cycles[0]
    # gone once that edge is exempt, which is then not stale (it still closes the cycle)
    assert unit_cycles(graph, {("service.low.top", "service.high.page")}) == []
    assert stale(graph, {("service.low.top", "service.high.page")}) == []


def test_checker_catches_a_longer_cycle_between_modules() -> None:
    graph = _synthetic(SYNTHETIC | {
        "low/base.py": "from . import top\n",
        "low/top.py": "from service.low import middle\n",
        "low/middle.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .base import x\n",
    })
    cycles = module_cycles(graph)
    assert len(cycles) == 1
    assert cycles[0].splitlines()[0] == "service.low.base -> service.low.top -> service.low.middle -> service.low.base"
    assert "service/low/middle.py:3 service.low.middle -> service.low.base" in cycles[0]
    assert unit_cycles(graph) == []


def test_checker_catches_the_bottom_importing_up() -> None:
    graph = _synthetic({"__init__.py": "", "store/__init__.py": "", "store/db.py": "from service import wsgi\n",
                        "wsgi.py": ""})
    assert bottom_escapes(graph) == ["service/store/db.py:1 service.store.db -> service.wsgi"]


def test_checker_passes_a_graph_without_cycles() -> None:
    graph = _synthetic(SYNTHETIC)
    assert ("service.high.page", "service.low.base") in graph.edges()  # relative `from ..low import base`
    assert ("service.high.other", "service.high.page") in graph.edges()  # under TYPE_CHECKING
    assert ("service.high.other", "service.low.top") in graph.edges()  # inside a function
    assert ("service.high", "service.high.page") in graph.edges()  # from a package's __init__.py
    assert unit_cycles(graph) == module_cycles(graph) == bottom_escapes(graph) == []


def test_stale_known_edges_are_reported() -> None:
    graph = _synthetic(SYNTHETIC)
    assert stale(graph, {("service.high.page", "service.low.base")}) == [
        "service.high.page -> service.low.base: on no cycle any more"]
    assert stale(graph, {("service.high.other", "service.high.page")}) == [
        "service.high.other -> service.high.page: on no cycle any more"]
    assert stale(graph, {("service.low.base", "service.high.page")}) == [
        "service.low.base -> service.high.page: no such import any more"]
    # an import of the bottom layer's from above it is forbidden by itself: never stale while it exists
    bottom = _synthetic({"__init__.py": "", "store/__init__.py": "", "store/db.py": "from service import wsgi\n",
                         "wsgi.py": ""})
    assert stale(bottom, {("service.store.db", "service.wsgi")}) == []
