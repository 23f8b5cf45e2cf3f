"""Dedup's decision rules that both engines call, written once.

The graph engine (`pipelines/dedup/graph.py`, element by element in Beam) and
the spill engine (`pipelines/dedup/decide.py` and `spill.py`, on compact
integer ids whose order is the ids' order) must decide alike;
`tests/pipelines/test_dedup_spill.py` checks that their outputs are equal. The
keys and signatures they compare come from `minhash.py`, the component steps
from `components.py`; the rules here are the ones that pick between documents:

* `exact_group`: which id of an exact-key group survives (the lowest) and which
  are removed in its favour;
* `repointed`: where a removal points once its representative was itself
  removed by a later stage (the later survivor);
* `bucket_edges`: which members of one LSH band bucket are linked: without
  verification a star on the lowest member (`star_edges`), with it each member
  to the first lower member whose estimated Jaccard passes (`verified_edges`);
* `near_representative`: a node whose component label is another node is a
  near duplicate of that node;
* `final_removal`: of several removals of one id (rows sharing an id, in two
  exact groups or in an exact group and a component), the one that stands;
* `content_key` and `same_id_rows`: what becomes of several rows sharing one
  id (removed alike with the id, or the first by source, url, text kept and
  the rest its exact duplicates).

The engines do the grouping (Beam's GroupByKey; numpy sorts over codes) and
hand each group to these functions. Ids are compared as they are given: the
graph's id strings compare as strings ("10" < "9"), and the spill's codes are
assigned in that same string order, so both pick the same documents. Every
rule depends only on how its ids compare, so an engine may also ask it once on
positions 0..n-1 and map the answer onto every group of n ascending members
(the spill does, for exact groups and unverified buckets).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar


class Orderable(Protocol):
    """What the rules need of an id: equality, hashing and an order (str, int, numpy codes)."""

    def __lt__(self, other: Any, /) -> bool: ...

    def __hash__(self) -> int: ...


Node = TypeVar("Node", bound=Orderable)

# Duplicate kinds (the `kind` column of duplicates/), in the order `final_removal` prefers them.
KIND_EXACT = "exact"
KIND_NEAR = "near"
KIND_ORDER = (KIND_EXACT, KIND_NEAR)

# The columns that order rows sharing an id, most significant first.
CONTENT_FIELDS = ("source", "url", "text")


def exact_group(ids: Iterable[Node]) -> tuple[Node, list[Node]]:
    """(survivor, removed ids ascending) of one exact-key group: the lowest id survives and
    every other distinct id is removed in its favour. An id given twice (two rows sharing it)
    is one document here. Raises ValueError on an empty group."""
    distinct = sorted(set(ids))
    if not distinct:
        raise ValueError("an exact group has at least one member")
    return distinct[0], distinct[1:]


def repointed(rep: Node, later_reps: Iterable[Node]) -> Node:
    """The representative a removal points at, given that its representative `rep` was
    removed by a later stage in favour of `later_reps` (empty when it was not): the lowest
    of those, so every removal ends at a document that is kept."""
    return min(later_reps, default=rep)


def star_edges(members: Sequence[Node]) -> list[tuple[Node, Node]]:
    """Edges of one band bucket without verification, `members` distinct and ascending:
    every member links to the first (lowest). Enough for connectivity, linear in the size."""
    return [(members[0], member) for member in members[1:]]


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


def bucket_edges(
    members: Sequence[Node], accept: Callable[[Node, Node], bool] | None = None
) -> tuple[list[tuple[Node, Node]], int]:
    """(edges (lower, higher), members rejected by verification) of one band bucket whose
    `members` are distinct and ascending: `star_edges` when `accept` is None (verification
    off, nothing rejected), else `verified_edges`."""
    if accept is None:
        return star_edges(members), 0
    return verified_edges(members, accept)


def near_representative(node: Node, label: Node) -> Node | None:
    """The document `node` is a near duplicate of, given its component's label (the
    component's lowest node): the label, or None when `node` is the label and is kept."""
    return None if node == label else label


def final_removal(removals: Iterable[tuple[str, Node]]) -> tuple[str, Node] | None:
    """The one of several (kind, representative) removals of one id that stands: exact
    before near (`KIND_ORDER`), then the lowest representative; None when there is none.
    The id's rows point at that representative and count in its cluster size.
    Raises ValueError on an unknown kind."""
    best: tuple[int, Node] | None = None
    for kind, rep in removals:
        if kind not in KIND_ORDER:
            raise ValueError(f"unknown duplicate kind {kind!r}; expected one of {KIND_ORDER}")
        ranked = (KIND_ORDER.index(kind), rep)
        if best is None or ranked < best:
            best = ranked
    return None if best is None else (KIND_ORDER[best[0]], best[1])


def content_key(row: Mapping[str, Any]) -> tuple[str, ...]:
    """Sort key among rows that share an id: the first is kept, the rest are its exact
    duplicates. A missing column reads as "None", the same in both engines."""
    return tuple(str(row.get(field)) for field in CONTENT_FIELDS)


def same_id_rows(doc_id: Node, rows: int, removal: tuple[str, Node] | None) -> list[tuple[str, Node] | None]:
    """What becomes of each of `rows` rows sharing `doc_id`, in `content_key` order: None for
    the row kept, else its (kind, representative). A removed id's rows are all removed alike;
    a surviving id keeps its first row and the rest are exact duplicates pointing at it."""
    if rows <= 0:
        return []
    if removal is not None:
        return [removal] * rows
    return [None] + [(KIND_EXACT, doc_id)] * (rows - 1)
