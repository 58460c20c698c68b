"""driftscope's modules import one another one way only: the import graph is a DAG.

The graph is grimp's (import-linter's engine) for the installed package, imports under
``TYPE_CHECKING`` included: a cycle there is still a cycle for a type checker and for the
next person who moves an import out of the guard. Strongly connected components are found
with Tarjan's algorithm; any component of more than one module is a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import grimp


def strongly_connected(
    nodes: Iterable[str], successors: Callable[[str], Iterable[str]]
) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(successors(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(successors(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
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
    return found


def test_tarjan_finds_a_cycle_and_only_the_cycle() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["e"], "e": []}
    assert strongly_connected(edges, lambda n: edges[n]) == [["a", "b", "c"]]
    assert strongly_connected({"x": ["y"], "y": []}, lambda n: {"x": ["y"], "y": []}[n]) == []


def test_driftscope_modules_import_one_another_one_way_only() -> None:
    graph = grimp.build_graph("driftscope", cache_dir=None)
    assert "driftscope.core.contracts.types" in graph.modules
    cycles = strongly_connected(graph.modules, graph.find_modules_directly_imported_by)
    assert cycles == [], "import cycles (TYPE_CHECKING imports included): " + "; ".join(
        " <-> ".join(cycle) for cycle in cycles
    )
