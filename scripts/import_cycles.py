"""`make lint`: no import cycle between our modules (import-linter's contracts cover layers, not cycles).

Builds the import graph of the root packages with grimp (import-linter's own graph library), leaving
out imports under `if TYPE_CHECKING:` (grimp's `exclude_type_checking_imports`: they never run), and
finds its strongly connected components. Every import statement counts, a function-level (lazy) one
too: it still makes the two modules depend on each other. Each cycle is printed as a chain with the
line of every import, shortest first; exit 1 when there is one.

    .venv/bin/python scripts/import_cycles.py [PACKAGE ...]    (default: the five root packages)

checked: grimp 3.20 `build_graph(..., exclude_type_checking_imports=...)`, `find_shortest_chain`,
`get_import_details` (python/grimp/application/graph.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parent.parent
ROOT_PACKAGES = ("sahab", "stacks", "components", "workloads", "policy_packs")


def build(packages: Iterable[str]) -> grimp.ImportGraph:
    """The import graph of `packages` (importable from sys.path), without TYPE_CHECKING imports."""
    first, *rest = packages
    return grimp.build_graph(first, *rest, exclude_type_checking_imports=True, cache_dir=None)


def cyclic_components(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components with more than one module (or a module importing itself),
    each sorted, in sorted order (Tarjan's algorithm, iterative: the graph has hundreds of modules)."""
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(found)


def cycle_through(graph: grimp.ImportGraph, component: list[str]) -> list[str]:
    """One concrete cycle inside `component`: its first module, around, and back to it."""
    start = component[0]
    best: list[str] | None = None
    for nxt in sorted(graph.find_modules_directly_imported_by(start)):
        if nxt not in component:
            continue
        back = graph.find_shortest_chain(importer=nxt, imported=start)
        if back is not None and (best is None or len(back) + 1 < len(best)):
            best = [start, *back]
    return best or [start, start]


def describe(graph: grimp.ImportGraph, cycle: list[str]) -> str:
    """`a -> b (a.py:12) -> a (b.py:3)`: the cycle with where each import is written."""
    parts = [cycle[0]]
    for importer, imported in zip(cycle, cycle[1:], strict=False):
        details = graph.get_import_details(importer=importer, imported=imported)
        where = f" (line {details[0]['line_number']} of {importer})" if details else ""
        parts.append(f"{imported}{where}")
    return " -> ".join(parts)


def main(argv: list[str]) -> int:
    packages = argv or list(ROOT_PACKAGES)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    graph = build(packages)
    components = cyclic_components(graph)
    for component in components:
        print(f"import cycle among {len(component)} module(s): {describe(graph, cycle_through(graph, component))}")
        if len(component) > 2:
            print(f"    the whole cycle: {', '.join(component)}")
    if components:
        print("Fix: move what both sides need into a module neither imports back (or invert the dependency).")
        return 1
    print(f"no import cycle among {len(graph.modules)} modules of {', '.join(packages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
