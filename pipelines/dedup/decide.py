"""The spill mode's decisions, on compact integer ids: the same rules as the Beam graph.

Beam-free (numpy and pyarrow only). Input: one entry per input row, in file
order, with its id, exact keys and (per band, read one band at a time) LSH band
keys. Output: per row kept / exact / near, the representative's id, and the
cluster size of a kept row. Ids are coded so that code order is id order, so
"the lowest id survives" is "the lowest code survives", exactly as in the graph:

* exact stages (text, then URL among the text survivors): the lowest id of each
  key group survives, the others point at it; a text removal whose
  representative is then removed by URL points at the URL survivor;
* LSH: exact survivors sharing a band key are linked to the bucket's lowest id
  (or, with verification, to the first lower member whose estimated Jaccard
  passes); connected components label each node with its component's lowest id;
* an exact removal whose representative became a near duplicate points at the
  near survivor; an id removed twice keeps its smallest (kind, representative);
* rows sharing an id: all removed with it, or the first by (source, url, text)
  kept and the rest exact duplicates of it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winnow.curation.components import min_label_components
from winnow.curation.dedup_rules import verified_edges
from winnow.curation.minhash import estimated_jaccard

STATUS_KEPT = 0
STATUS_EXACT = 1
STATUS_NEAR = 2
NO_REP = -1


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


def _exact_stage(features: np.ndarray, id_codes: np.ndarray, key_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(surviving feature rows, removals as (id, rep) pairs) of one exact key.

    A feature is a row index; rows without this key pass through. One surviving
    feature per group (its lowest id), like the graph's per-id `setdefault`."""
    keys = key_codes[features]
    keyed, passthrough = features[keys >= 0], features[keys < 0]
    if keyed.size == 0:
        return passthrough, np.empty((0, 2), dtype=np.int64)
    groups = key_codes[keyed]
    ids = id_codes[keyed]
    lowest = np.full(int(groups.max()) + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(lowest, groups, ids)
    is_min = ids == lowest[groups]
    _, first = np.unique(groups[is_min], return_index=True)
    survivors = keyed[is_min][first]
    pairs = np.unique(np.stack([ids[~is_min], lowest[groups[~is_min]]], axis=1), axis=0)
    return np.concatenate([survivors, passthrough]), pairs.reshape(-1, 2)


def _move_map(pairs: np.ndarray, size: int) -> np.ndarray:
    """id -> the lowest representative it was removed in favour of (-1: not removed)."""
    moves = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(moves, pairs[:, 0], pairs[:, 1])
    moves[moves == np.iinfo(np.int64).max] = NO_REP
    return moves


def _repoint(pairs: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """Removals whose representative was itself removed later now point at the later survivor."""
    if pairs.size == 0:
        return pairs
    reps = pairs[:, 1]
    moved = moves[reps]
    return np.stack([pairs[:, 0], np.where(moved >= 0, moved, reps)], axis=1)


def bucket_edges(
    keys: np.ndarray,
    nodes: np.ndarray,
    verify: Callable[[int, int], bool] | None = None,
) -> np.ndarray:
    """Edges of one band: nodes sharing a key. Without `verify`, a star on each bucket's lowest
    node; with it, `curation.dedup_rules.verified_edges` per bucket (the graph's rule)."""
    if keys.size < 2:
        return np.empty((0, 2), dtype=np.int64)
    order = np.lexsort((nodes, keys))
    keys, nodes = keys[order], nodes[order]
    distinct = np.ones(keys.size, dtype=bool)
    distinct[1:] = (keys[1:] != keys[:-1]) | (nodes[1:] != nodes[:-1])
    keys, nodes = keys[distinct], nodes[distinct]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    run_of = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, keys.size]))
    heads = nodes[starts][run_of]
    members = nodes != heads
    if verify is None:
        return np.stack([heads[members], nodes[members]], axis=1)
    edges = []
    bounds = np.r_[starts, keys.size]
    for start, end in zip(bounds[:-1], bounds[1:]):
        if end - start < 2:
            continue
        found, _ = verified_edges(nodes[start:end].tolist(), verify)
        edges.extend(found)
    return np.array(edges, dtype=np.int64).reshape(-1, 2)


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
        removals = np.concatenate([_repoint(removals, _move_map(removed, n_ids)), removed])
    exact_removals = removals

    lsh_rows = survivors[keys.has_signature[survivors]]
    lsh_nodes = id_codes[lsh_rows]
    verify = None
    if verify_threshold is not None and signature_of is not None:
        first_row = {}
        for row, node in zip(lsh_rows.tolist(), lsh_nodes.tolist()):
            first_row.setdefault(node, row)

        def verify(u: int, v: int) -> bool:
            return estimated_jaccard(signature_of(first_row[u]), signature_of(first_row[v])) >= verify_threshold

    edges = [bucket_edges(column[lsh_rows], lsh_nodes, verify) for column in band_columns]
    edges = np.concatenate(edges) if edges else np.empty((0, 2), dtype=np.int64)
    edges = np.unique(edges, axis=0) if edges.size else edges.reshape(-1, 2)
    labels, rounds = min_label_components(edges, n_ids)
    near_nodes = np.flatnonzero(labels != np.arange(n_ids))
    near = np.stack([near_nodes, labels[near_nodes]], axis=1)
    exact_removals = _repoint(exact_removals, _move_map(near, n_ids))

    # The final removal of each id: the smallest (kind, representative), as the graph's sorted().
    kinds = np.concatenate([np.full(len(exact_removals), STATUS_EXACT), np.full(len(near), STATUS_NEAR)])
    all_removals = np.concatenate([exact_removals, near]).reshape(-1, 2)
    id_kind = np.zeros(n_ids, dtype=np.int8)
    id_rep = np.full(n_ids, NO_REP, dtype=np.int64)
    if all_removals.size:
        order = np.lexsort((all_removals[:, 1], kinds, all_removals[:, 0]))
        ids_sorted = all_removals[order, 0]
        first = order[np.r_[True, ids_sorted[1:] != ids_sorted[:-1]]]
        id_kind[all_removals[first, 0]] = kinds[first]
        id_rep[all_removals[first, 0]] = all_removals[first, 1]
    return _row_decisions(id_codes, id_kind, id_rep, rounds, len(edges), content_order)


def _row_decisions(
    id_codes: np.ndarray, id_kind: np.ndarray, id_rep: np.ndarray, rounds: int, n_edges: int,
    content_order: Callable[[np.ndarray], np.ndarray] | None,
) -> Decisions:
    n_ids = id_kind.size
    status = id_kind[id_codes].astype(np.int8)
    rep_codes = id_rep[id_codes].copy()
    # Rows sharing a surviving id: the first by content is kept, the others are its exact copies.
    rows_per_id = np.bincount(id_codes, minlength=n_ids)
    shared = np.flatnonzero((rows_per_id[id_codes] > 1) & (status == STATUS_KEPT))
    if shared.size:
        order = content_order(shared) if content_order is not None else np.arange(shared.size)
        ranked = shared[order]
        ranked = ranked[np.argsort(id_codes[ranked], kind="stable")]
        later = np.r_[False, id_codes[ranked][1:] == id_codes[ranked][:-1]]
        status[ranked[later]] = STATUS_EXACT
        rep_codes[ranked[later]] = id_codes[ranked[later]]
    removed_ids = np.flatnonzero(id_rep >= 0)
    in_favour = np.bincount(id_rep[removed_ids], weights=rows_per_id[removed_ids], minlength=n_ids).astype(np.int64)
    sizes = np.where(status == STATUS_KEPT, rows_per_id[id_codes] + in_favour[id_codes], 0).astype(np.int64)
    return Decisions(status=status, rep_codes=rep_codes, sizes=sizes, cc_rounds=rounds, candidate_edges=n_edges)


def cluster_size_histogram(decisions: Decisions) -> dict[int, int]:
    """{cluster size: clusters} over clusters of two or more, counted from the duplicates."""
    reps = decisions.rep_codes[decisions.status != STATUS_KEPT]
    if reps.size == 0:
        return {}
    _, counts = np.unique(reps, return_counts=True)
    sizes, clusters = np.unique(counts + 1, return_counts=True)
    return {int(s): int(c) for s, c in zip(sizes, clusters)}
