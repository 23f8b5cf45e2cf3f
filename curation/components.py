"""Connected components: the per-node steps of large-star/small-star (the Beam graph
engine, `pipelines/dedup/connected_components.py`) and the vectorised min-label rounds (the
spill engine).

Large-star / small-star (Kiveris et al., "Connected Components in MapReduce and
Beyond", SoCC 2014) works on an edge list only. Each step groups the edges by
node and rewires them, preserving connectivity, until every component is a star
whose centre is the component's smallest node. Each step is one FlatMap (emit
each edge under its endpoint(s)) plus one GroupByKey plus the functions below,
so no worker ever holds more than one node's neighbourhood.

The graph has converged when no node has both a smaller neighbour and a second
neighbour (see `is_unsettled`); the label of a node is then the smallest of
itself and its neighbours.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TypeVar

Node = TypeVar("Node", bound=Hashable)


def large_star(node: Node, neighbours: Iterable[Node]) -> list[tuple[Node, Node]]:
    """Connect every larger neighbour of `node` to the smallest of `node` and its neighbours."""
    nbrs = set(neighbours)
    smallest = min(nbrs | {node})
    return [(v, smallest) for v in sorted(nbrs) if v > node]


def small_star(node: Node, smaller_neighbours: Iterable[Node]) -> list[tuple[Node, Node]]:
    """Connect `node` and its smaller neighbours to the smallest of them."""
    group = set(smaller_neighbours) | {node}
    smallest = min(group)
    return [(v, smallest) for v in sorted(group) if v != smallest]


def is_unsettled(node: Node, neighbours: Iterable[Node]) -> bool:
    """True when `node` is not yet a leaf of, or the centre of, a min-centred star."""
    nbrs = set(neighbours)
    return len(nbrs) > 1 and min(nbrs) < node


def star_label(node: Node, neighbours: Iterable[Node]) -> Node:
    """A converged node's component label: the smallest of itself and its neighbours."""
    return min(set(neighbours) | {node})


def both_directions(edge: tuple[Node, Node]) -> list[tuple[Node, Node]]:
    u, v = edge
    return [(u, v), (v, u)]


def towards_smaller(edge: tuple[Node, Node]) -> tuple[Node, Node]:
    """The edge keyed by its larger endpoint (what small-star groups on)."""
    u, v = edge
    return (u, v) if u > v else (v, u)


def min_label_components(edges, num_nodes: int) -> tuple["np.ndarray", int]:
    """Label of every node 0..num_nodes-1 (the smallest node of its component), and the rounds used.

    For graphs on compact integer ids held as an (E, 2) array: each round takes, per node, the
    smallest label over its edges (both directions), then jumps pointers (label of the label)
    until labels are fixed points. Labels only ever decrease and always name a node of the same
    component, so at the fixed point (equal labels across every edge) each component carries its
    smallest node. Each round is a few vectorised numpy passes over the edges.
    """
    import numpy as np  # local: the rest of this module is plain Python

    labels = np.arange(num_nodes, dtype=np.int64)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if edges.size == 0:
        return labels, 0
    u, v = edges[:, 0], edges[:, 1]
    rounds = 0
    while True:
        new = labels.copy()
        np.minimum.at(new, u, labels[v])
        np.minimum.at(new, v, labels[u])
        # Hook the roots too (Shiloach-Vishkin): a whole labelled tree moves at once, so rounds
        # grow with log(n), not with the path length.
        np.minimum.at(new, labels[u], labels[v])
        np.minimum.at(new, labels[v], labels[u])
        while True:
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, labels):
            return labels, rounds
        labels = new
        rounds += 1
