"""The spill mode's decisions, on compact integer ids: the same rules as the Beam graph.

Beam-free (numpy and pyarrow only). Input: one entry per input row, in file
order, with its id, exact keys and (per band, read one band at a time) LSH band
keys. Output: per row kept / exact / near, the representative's id, and the
cluster size of a kept row. Ids are coded so that code order is id order, so the
rules in `curation/dedup_rules.py`, which the graph calls on id strings, pick
the same documents when called here on codes. numpy does the grouping and
hands each group to a rule; where the rule's answer depends only on the
members' order (exact groups, unverified buckets) it is asked once per group
size, on positions, and mapped onto every group of that size (`_by_position`):

* exact stages (text, then URL among the text survivors): `exact_group` per
  key group; `repointed` for a text removal whose representative is then
  removed by URL;
* LSH: `bucket_edges` per band bucket; connected components label each node
  with its component's lowest id (`curation/components.py`), and
  `near_representative` turns labels into near removals;
* `repointed` again for an exact removal whose representative became a near
  duplicate; `final_removal` for an id removed more than once;
* `same_id_rows` for rows sharing an id: all removed with it, or the first by
  (source, url, text) kept and the rest exact duplicates of it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.curation.components import min_label_components
from winnow.curation import dedup_rules
from winnow.curation.minhash import estimated_jaccard

STATUS_KEPT = 0
STATUS_EXACT = 1
STATUS_NEAR = 2
NO_REP = -1
# A removed row's status code -> its duplicate kind (the `kind` column of duplicates/).
KINDS = {STATUS_EXACT: dedup_rules.KIND_EXACT, STATUS_NEAR: dedup_rules.KIND_NEAR}


@dataclass(frozen=True)
class RowKeys:
    """Every input row's id and exact keys, as compact codes (-1: no key)."""

    id_codes: np.ndarray  # int64, code order == id order
    ids: pa.Array  # code -> id string
    text_codes: np.ndarray
    url_codes: np.ndarray
    has_signature: np.ndarray  # bool


@dataclass(frozen=True)
class Decisions:
    """Per row: status, representative code (-1 for kept rows), cluster size (kept rows)."""

    status: np.ndarray
    rep_codes: np.ndarray
    sizes: np.ndarray
    cc_rounds: int
    candidate_edges: int


def encode_ids(ids: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, pa.Array]:
    """(code per row, sorted distinct ids): codes compare like the id strings."""
    distinct = pc.unique(ids)
    distinct = distinct.take(pc.sort_indices(distinct))
    return pc.index_in(ids, value_set=distinct).to_numpy(zero_copy_only=False).astype(np.int64), distinct


def encode_keys(keys: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A group code per row (-1 for a null key); equal keys get equal codes."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    encoded = pc.dictionary_encode(keys)
    return pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the runs of equal values in a sorted array."""
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if values.size else np.empty(0, np.int64)
    return starts, np.r_[starts[1:], values.size].astype(np.int64)


def _exact_stage(features: np.ndarray, id_codes: np.ndarray, key_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(surviving feature rows, removals as (id, rep) pairs) of one exact key.

    A feature is a row index; rows without this key pass through. Every group is decided by
    `dedup_rules.exact_group`, asked once per group size on positions (as in `_by_position`); one
    surviving feature per group (the first row carrying the survivor's id), like the graph's
    per-id `setdefault`."""
    keys = key_codes[features]
    keyed, passthrough = features[keys >= 0], features[keys < 0]
    if keyed.size == 0:
        return passthrough, np.empty((0, 2), dtype=np.int64)
    groups = key_codes[keyed]
    ids = id_codes[keyed]
    members = np.unique(np.stack([groups, ids], axis=1), axis=0)  # distinct (group, id), ascending
    starts, ends = _runs(members[:, 0])
    sizes = ends - starts
    survivor = np.full(int(groups.max()) + 1, NO_REP, dtype=np.int64)
    removals = [np.empty((0, 2), dtype=np.int64)]
    for size in np.unique(sizes).tolist():
        kept, removed = dedup_rules.exact_group(range(size))
        at = starts[sizes == size]
        survivor[members[at, 0]] = members[at + kept, 1]
        if removed:
            others = members[(at[:, None] + np.array(removed, dtype=np.int64)).reshape(-1), 1]
            removals.append(np.stack([others, np.repeat(members[at + kept, 1], len(removed))], axis=1))
    is_survivor = ids == survivor[groups]
    _, first = np.unique(groups[is_survivor], return_index=True)
    pairs = np.concatenate(removals)
    pairs = np.unique(pairs, axis=0).reshape(-1, 2) if pairs.size else pairs
    return np.concatenate([keyed[is_survivor][first], passthrough]), pairs


def _repoint(pairs: np.ndarray, later: np.ndarray) -> np.ndarray:
    """Removals (id, rep) re-pointed by `dedup_rules.repointed`, given the `later` removals
    (id, rep) of a later stage: one call per distinct representative."""
    if pairs.size == 0:
        return pairs
    later = later[np.argsort(later[:, 0], kind="stable")] if later.size else later.reshape(-1, 2)
    reps, rep_index = np.unique(pairs[:, 1], return_inverse=True)
    low = np.searchsorted(later[:, 0], reps, side="left")
    high = np.searchsorted(later[:, 0], reps, side="right")
    moved_to = np.array(
        [dedup_rules.repointed(rep, later[lo:hi, 1].tolist()) for rep, lo, hi in zip(reps.tolist(), low, high)],
        dtype=np.int64,
    )
    return np.stack([pairs[:, 0], moved_to[rep_index.reshape(-1)]], axis=1)


def bucket_edges(
    keys: np.ndarray,
    nodes: np.ndarray,
    verify: Callable[[int, int], bool] | None = None,
) -> np.ndarray:
    """Edges of one band: `curation.dedup_rules.bucket_edges` (the graph's rule) on each bucket
    of two or more distinct nodes sharing a key; `verify` accepts an edge (None: no verification)."""
    if keys.size < 2:
        return np.empty((0, 2), dtype=np.int64)
    order = np.lexsort((nodes, keys))
    keys, nodes = keys[order], nodes[order]
    distinct = np.ones(keys.size, dtype=bool)
    distinct[1:] = (keys[1:] != keys[:-1]) | (nodes[1:] != nodes[:-1])
    keys, nodes = keys[distinct], nodes[distinct]
    starts, ends = _runs(keys)
    sizes = ends - starts
    shared = sizes >= 2
    if verify is None:
        return _by_position(nodes, starts[shared], sizes[shared])
    edges = []
    members = nodes.tolist()  # one conversion; list slices per bucket are cheap
    for start, end in zip(starts[shared].tolist(), ends[shared].tolist()):
        found, _ = dedup_rules.bucket_edges(members[start:end], verify)
        edges.extend(found)
    return np.array(edges, dtype=np.int64).reshape(-1, 2)


def _by_position(nodes: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Unverified `dedup_rules.bucket_edges` on every bucket (nodes[start:start+size], ascending).

    The rule depends only on how members compare, so it is asked once per bucket size, on
    positions 0..size-1, and its edges are mapped onto every bucket of that size at once:
    the same edges as one call per bucket, without a Python call per bucket."""
    edges = [np.empty((0, 2), dtype=np.int64)]
    for size in np.unique(sizes).tolist():
        found, _ = dedup_rules.bucket_edges(range(size))
        positions = np.array(found, dtype=np.int64).reshape(-1, 2)
        at = starts[sizes == size]
        edges.append(nodes[at[:, None, None] + positions[None]].reshape(-1, 2))
    return np.concatenate(edges)


def decide(
    keys: RowKeys,
    band_columns: Iterable[np.ndarray],
    signature_of: Callable[[int], np.ndarray] | None = None,
    verify_threshold: float | None = None,
    content_order: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Decisions:
    """Decisions for every row. `band_columns` yields one uint64 array (one key per row) per
    band, so only one band is in memory at a time; `signature_of(row)` serves verification;
    `content_order(rows)` orders rows that share an id by (source, url, text)."""
    n_ids = len(keys.ids)
    id_codes = keys.id_codes
    rows = np.arange(id_codes.size, dtype=np.int64)
    survivors, removals = rows, np.empty((0, 2), dtype=np.int64)
    for codes in (keys.text_codes, keys.url_codes):
        if not np.any(codes >= 0):
            continue
        survivors, removed = _exact_stage(survivors, id_codes, codes)
        removals = np.concatenate([_repoint(removals, removed), removed])
    exact_removals = removals

    lsh_rows = survivors[keys.has_signature[survivors]]
    lsh_nodes = id_codes[lsh_rows]
    verify = None
    if verify_threshold is not None and signature_of is not None:
        verify = _verifier(lsh_rows, lsh_nodes, signature_of, verify_threshold)
    per_band = [bucket_edges(column[lsh_rows], lsh_nodes, verify) for column in band_columns]
    edges = np.concatenate(per_band) if per_band else np.empty((0, 2), dtype=np.int64)
    edges = np.unique(edges, axis=0) if edges.size else edges.reshape(-1, 2)
    labels, rounds = min_label_components(edges, n_ids)
    near = _near_removals(edges, labels)
    exact_removals = _repoint(exact_removals, near)
    id_kind, id_rep = _final_removals(exact_removals, near, n_ids)
    return _row_decisions(id_codes, id_kind, id_rep, rounds, len(edges), content_order)


def _verifier(
    rows: np.ndarray, nodes: np.ndarray, signature_of: Callable[[int], np.ndarray], threshold: float
) -> Callable[[int, int], bool]:
    """Whether two nodes' estimated Jaccard passes `threshold` (a node's first row's signature)."""
    first_row: dict[int, int] = {}
    for row, node in zip(rows.tolist(), nodes.tolist()):
        first_row.setdefault(node, row)
    return lambda u, v: estimated_jaccard(signature_of(first_row[u]), signature_of(first_row[v])) >= threshold


def _near_removals(edges: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(node, representative) for every node with an edge that `dedup_rules.near_representative`
    removes (the graph labels only nodes with an edge too)."""
    nodes = np.flatnonzero(np.bincount(edges.reshape(-1), minlength=labels.size))
    reps = [dedup_rules.near_representative(node, label) for node, label in zip(nodes.tolist(), labels[nodes].tolist())]
    removed = np.array([rep is not None for rep in reps], dtype=bool)
    rep_codes = np.array([rep for rep in reps if rep is not None], dtype=np.int64)
    return np.stack([nodes[removed], rep_codes], axis=1).reshape(-1, 2)


def _final_removals(exact: np.ndarray, near: np.ndarray, n_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """(status, representative code) per id from its removals; an id removed more than once
    (rows sharing it) keeps what `dedup_rules.final_removal` picks."""
    kinds = np.concatenate([np.full(len(exact), STATUS_EXACT), np.full(len(near), STATUS_NEAR)])
    removals = np.concatenate([exact, near]).reshape(-1, 2)
    id_kind = np.zeros(n_ids, dtype=np.int8)
    id_rep = np.full(n_ids, NO_REP, dtype=np.int64)
    if removals.size == 0:
        return id_kind, id_rep
    order = np.argsort(removals[:, 0], kind="stable")
    removals, kinds = removals[order], kinds[order]
    starts, ends = _runs(removals[:, 0])
    once = ends - starts == 1
    id_kind[removals[starts[once], 0]] = kinds[starts[once]]
    id_rep[removals[starts[once], 0]] = removals[starts[once], 1]
    status_of = {kind: status for status, kind in KINDS.items()}
    for start, end in zip(starts[~once].tolist(), ends[~once].tolist()):
        removal = dedup_rules.final_removal(
            (KINDS[int(k)], int(r)) for k, r in zip(kinds[start:end], removals[start:end, 1])
        )
        assert removal is not None  # two or more removals were given
        kind, rep = removal
        id_kind[removals[start, 0]] = status_of[kind]
        id_rep[removals[start, 0]] = rep
    return id_kind, id_rep


def _row_decisions(
    id_codes: np.ndarray, id_kind: np.ndarray, id_rep: np.ndarray, rounds: int, n_edges: int,
    content_order: Callable[[np.ndarray], np.ndarray] | None,
) -> Decisions:
    n_ids = id_kind.size
    rows_per_id = np.bincount(id_codes, minlength=n_ids)
    status, rep_codes = _same_id_rows(
        id_codes, rows_per_id, id_kind[id_codes].astype(np.int8), id_rep[id_codes], content_order
    )
    removed_ids = np.flatnonzero(id_rep >= 0)
    in_favour = np.bincount(id_rep[removed_ids], weights=rows_per_id[removed_ids], minlength=n_ids).astype(np.int64)
    sizes = np.where(status == STATUS_KEPT, rows_per_id[id_codes] + in_favour[id_codes], 0).astype(np.int64)
    return Decisions(status=status, rep_codes=rep_codes, sizes=sizes, cc_rounds=rounds, candidate_edges=n_edges)


def _same_id_rows(
    id_codes: np.ndarray, rows_per_id: np.ndarray, status: np.ndarray, rep_codes: np.ndarray,
    content_order: Callable[[np.ndarray], np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(status, rep_codes) per row from its id's, with the rows sharing an id decided by
    `dedup_rules.same_id_rows`, once per such id. Only a surviving id's rows are put in content
    order (read from the input files): a removed id's rows are removed alike in any order."""
    status, rep_codes = status.copy(), rep_codes.copy()
    shared = np.flatnonzero(rows_per_id[id_codes] > 1)
    if shared.size == 0:
        return status, rep_codes
    kept = shared[status[shared] == STATUS_KEPT]
    if kept.size:
        kept = kept[content_order(kept)] if content_order is not None else kept
    ranked = np.concatenate([kept, shared[status[shared] != STATUS_KEPT]])
    ranked = ranked[np.argsort(id_codes[ranked], kind="stable")]
    starts, ends = _runs(id_codes[ranked])
    status_of = {kind: code for code, kind in KINDS.items()}
    for start, end in zip(starts.tolist(), ends.tolist()):
        first = ranked[start]
        removal = (KINDS[int(status[first])], int(rep_codes[first])) if status[first] != STATUS_KEPT else None
        fates = dedup_rules.same_id_rows(int(id_codes[first]), end - start, removal)
        for row, fate in zip(ranked[start:end].tolist(), fates):
            status[row] = STATUS_KEPT if fate is None else status_of[fate[0]]
            rep_codes[row] = NO_REP if fate is None else fate[1]
    return status, rep_codes


def cluster_size_histogram(decisions: Decisions) -> dict[int, int]:
    """{cluster size: clusters} over clusters of two or more, counted from the duplicates."""
    reps = decisions.rep_codes[decisions.status != STATUS_KEPT]
    if reps.size == 0:
        return {}
    _, counts = np.unique(reps, return_counts=True)
    sizes, clusters = np.unique(counts + 1, return_counts=True)
    return {int(s): int(c) for s, c in zip(sizes, clusters)}
