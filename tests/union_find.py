"""A union-find reference labelling of connected components, the oracle the
dedup component tests compare both engines (Beam's large-star/small-star rounds
and the spill engine's min-label rounds) against. Test code only: the product
never needs a second implementation."""
from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

Node = TypeVar("Node", bound=Hashable)


def union_find_components(edges: Iterable[tuple[Node, Node]], nodes: Iterable[Node] = ()) -> dict[Node, Node]:
    """Reference labelling: every node (from `edges` and `nodes`) -> smallest node of its component."""
    parent: dict[Node, Node] = {}

    def find(x: Node) -> Node:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for n in nodes:
        parent.setdefault(n, n)
    for u, v in edges:
        parent.setdefault(u, u)
        parent.setdefault(v, v)
        ru, rv = find(u), find(v)
        if ru != rv:
            # Keep the smaller node as root so the root is the component's label.
            if rv < ru:
                ru, rv = rv, ru
            parent[rv] = ru
    return {n: find(n) for n in parent}
