"""Dedup's decision rules that both engines call, written once.

The graph engine (`pipelines/dedup/graph.py`, element by element in Beam) and
the spill engine (`pipelines/dedup/decide.py` and `spill.py`, on compact
integer ids) must decide alike; `tests/pipelines/test_dedup_spill.py` checks
that their outputs are equal. The keys and signatures they compare come from
`minhash.py`, the component steps from `components.py`; the rules here are the
ones that pick between documents:

* `verified_edges`: with edge verification on, which members of one LSH band
  bucket are linked (each to the first lower member whose estimated Jaccard
  passes);
* `content_key`: which of several rows sharing one id is kept (the first by
  source, url, text).

Still written once per engine (the graph's per-group sorts, the spill's
vectorised minima): the lowest id of an exact group survives, and a removal
whose representative was removed later points at the later survivor.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

Node = TypeVar("Node", bound=Hashable)

# The columns that order rows sharing an id, most significant first.
CONTENT_FIELDS = ("source", "url", "text")


def verified_edges(members: Sequence[Node], accept: Callable[[Node, Node], bool]) -> tuple[list[tuple[Node, Node]], int]:
    """(edges, members left without one) of one band bucket whose `members` are distinct
    and ascending: each member links to the first lower member that `accept(lower, member)`
    admits. Linking to one accepted member is enough for connectivity; a member no lower
    one accepts is counted (`edges_rejected_by_verification`)."""
    edges: list[tuple[Node, Node]] = []
    rejected = 0
    for pos in range(1, len(members)):
        member = members[pos]
        lower = next((u for u in members[:pos] if accept(u, member)), None)
        if lower is None:
            rejected += 1
        else:
            edges.append((lower, member))
    return edges, rejected


def content_key(row: Mapping[str, Any]) -> tuple[str, ...]:
    """Sort key among rows that share an id: the first is kept, the rest are its exact
    duplicates. A missing column reads as "None", the same in both engines."""
    return tuple(str(row.get(field)) for field in CONTENT_FIELDS)
