"""The dedup stages as composite transforms (the graph that runs on any Beam runner).

    MinHashSignatures      rows -> (id, text key, url key, signature): the only pass over the text
    ExactDedup             group by exact key(s); the lowest id of each group survives
    LshCandidatePairs      band keys of the exact survivors -> candidate edges
    (ConnectedComponents   in connected_components.py)
    ClusterSizes           removals + rows per id -> documents per surviving representative
    ApplyClusters          joins the removal decisions and sizes back to the rows by id (the one text shuffle)
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from winnow.curation.dedup_rules import (
    bucket_edges,
    content_key,
    exact_group,
    final_removal,
    near_representative,
    repointed,
    same_id_rows,
)
from winnow.curation.minhash import (
    MinHashConfig,
    MinHasher,
    band_keys,
    estimated_jaccard,
    exact_text_key,
    exact_url_key,
    signature_from_bytes,
    signature_to_bytes,
)
from winnow.pipelines.dedup.connected_components import UNSETTLED_NODES
from winnow.pipelines.dedup.common import (
    CANDIDATE_EDGES,
    CLUSTER_ID,
    CLUSTER_SIZE,
    CLUSTER_SIZE_COLUMN,
    EDGES_REJECTED_BY_VERIFY,
    EXACT_DUPLICATES,
    KEPT,
    KIND_EXACT,
    KIND_NEAR,
    NAMESPACE,
    NEAR_DUPLICATES,
    Features,
)

# --------------------------------------------------------------------------- signatures


class _FeaturesFn(beam.DoFn):
    """Row -> (id, text key, url key, signature bytes); permutations built once per worker."""

    def __init__(self, config: MinHashConfig):
        self.config = config
        self._hasher: MinHasher | None = None

    def setup(self) -> None:
        self._hasher = MinHasher(self.config)

    def process(self, row: dict) -> Iterator[Features]:
        text = row.get("text") or ""
        signature = self._hasher.signature(text)
        yield (
            row["id"],
            exact_text_key(text) if self.config.exact else None,
            exact_url_key(row.get("url")) if self.config.urls else None,
            signature_to_bytes(signature) if signature is not None else None,
        )


class MinHashSignatures(beam.PTransform):
    """Rows -> Features: exact keys and the MinHash signature, the one pass that reads the text."""

    def __init__(self, config: MinHashConfig):
        super().__init__()
        self.config = config

    def expand(self, rows: beam.PCollection) -> beam.PCollection:
        return rows | "Signatures" >> beam.ParDo(_FeaturesFn(self.config))


# --------------------------------------------------------------------------- exact dedup


def _pick_exact(group: tuple[str, Iterable[Features]]) -> Iterator[Any]:
    """One exact group -> its survivor's features and the others' removals (`exact_group`)."""
    _, members = group
    by_id = {}
    for features in members:
        by_id.setdefault(features[0], features)  # the same id twice is one document here
    survivor, removed = exact_group(by_id)
    yield by_id[survivor]
    for other in removed:
        yield pvalue.TaggedOutput("removed", (other, KIND_EXACT, survivor))


def _keyed_by_removed_rep(removal: tuple) -> tuple:
    doc_id, kind, rep = removal
    return rep, (doc_id, kind)


def _repoint(item: tuple) -> Iterator[tuple]:
    """Removals whose representative was itself removed later now point at the later survivor."""
    old_rep, grouped = item
    rep = repointed(old_rep, grouped["moved"])
    for doc_id, kind in grouped["removals"]:
        yield (doc_id, kind, rep)


class Repoint(beam.PTransform):
    """removals (id, kind, rep) + moves (old rep -> new rep) -> removals pointing at final survivors."""

    def __init__(self, moves: beam.PCollection):
        super().__init__()
        self.moves = moves

    def expand(self, removals: beam.PCollection) -> beam.PCollection:
        return (
            {"removals": removals | "ByRep" >> beam.Map(_keyed_by_removed_rep), "moved": self.moves}
            | "Join" >> beam.CoGroupByKey()
            | "Repoint" >> beam.FlatMap(_repoint)
        )


def removal_move(removal: tuple) -> tuple[str, str]:
    doc_id, _, rep = removal
    return doc_id, rep


class _ExactStage(beam.PTransform):
    """One exact key (index 1: text, 2: url): survivors and removals."""

    def __init__(self, key_index: int):
        super().__init__()
        self.key_index = key_index

    def expand(self, features: beam.PCollection) -> pvalue.DoOutputsTuple:
        index = self.key_index
        split = features | "HasKey" >> beam.Partition(lambda f, _n: 0 if f[index] is not None else 1, 2)
        picked = (
            split[0]
            | "ByKey" >> beam.Map(lambda f: (f[index], f))
            | "Group" >> beam.GroupByKey()
            | "Pick" >> beam.FlatMap(_pick_exact).with_outputs("removed", main="survivors")
        )
        survivors = (picked.survivors, split[1]) | "Survivors" >> beam.Flatten()
        return survivors, picked.removed


class _CountFn(beam.DoFn):
    """Passes elements through, counting them in Metrics.counter(NAMESPACE, name)."""

    def __init__(self, name: str):
        self._counter = Metrics.counter(NAMESPACE, name)

    def process(self, element: Any) -> Iterator[Any]:
        self._counter.inc()
        yield element


class ExactDedup(beam.PTransform):
    """Features -> (survivors, removals (id, "exact", representative id)).

    Text keys first, then (with `urls`) URL keys among the text survivors; a document
    removed by text whose representative is then removed by URL points at the URL survivor.
    """

    def __init__(self, config: MinHashConfig):
        super().__init__()
        self.config = config

    def expand(self, features: beam.PCollection) -> tuple[beam.PCollection, beam.PCollection]:
        stages = ([("Text", 1)] if self.config.exact else []) + ([("Url", 2)] if self.config.urls else [])
        survivors, removals = features, None
        for name, index in stages:
            survivors, removed = survivors | f"{name}Key" >> _ExactStage(index)
            if removals is None:
                removals = removed
            else:
                moves = removed | f"{name}Moves" >> beam.Map(removal_move)
                removals = (
                    removals | f"{name}Repoint" >> Repoint(moves),
                    removed,
                ) | f"{name}Removals" >> beam.Flatten()
        if removals is None:
            removals = features.pipeline | "NoExactStage" >> beam.Create([])
        return survivors, removals | "CountExact" >> beam.ParDo(_CountFn(EXACT_DUPLICATES))


# --------------------------------------------------------------------------- LSH


class _BandKeysFn(beam.DoFn):
    def __init__(self, config: MinHashConfig):
        self.config = config

    def process(self, features: Features) -> Iterator[tuple]:
        doc_id, _, _, sig_bytes = features
        if sig_bytes is None:
            return
        signature = signature_from_bytes(sig_bytes)
        # Only carry the signature through the shuffle when edges will be verified.
        payload = (doc_id, sig_bytes if self.config.verify_threshold is not None else None)
        for key in band_keys(signature, self.config.bands, self.config.rows):
            yield key, payload


class _BucketEdgesFn(beam.DoFn):
    """A band bucket -> its edges (`bucket_edges`: a star on the lowest id, or with
    verification each member linked to the first lower member whose estimated Jaccard passes)."""

    def __init__(self, verify_threshold: float | None):
        self.verify_threshold = verify_threshold
        self._edges = Metrics.counter(NAMESPACE, CANDIDATE_EDGES)
        self._rejected = Metrics.counter(NAMESPACE, EDGES_REJECTED_BY_VERIFY)

    @staticmethod
    def _accept(signature_bytes: dict[str, bytes], threshold: float) -> Callable[[str, str], bool]:
        """Whether two members' estimated Jaccard passes the verification threshold."""
        signatures = {i: signature_from_bytes(b) for i, b in signature_bytes.items()}
        return lambda u, v: estimated_jaccard(signatures[u], signatures[v]) >= threshold

    def process(self, bucket: tuple) -> Iterator[tuple[str, str]]:
        _, members = bucket
        by_id = dict(members)
        ids = sorted(by_id)
        if len(ids) < 2:
            return
        threshold = self.verify_threshold
        accept = self._accept(by_id, threshold) if threshold is not None else None
        edges, rejected = bucket_edges(ids, accept)
        self._edges.inc(len(edges))
        if accept is not None:  # the rejection counter appears only when edges are verified
            self._rejected.inc(rejected)
        yield from edges


class LshCandidatePairs(beam.PTransform):
    """Features (exact survivors) -> candidate edges (lower id, higher id); may repeat across bands."""

    def __init__(self, config: MinHashConfig):
        super().__init__()
        self.config = config

    def expand(self, features: beam.PCollection) -> beam.PCollection:
        return (
            features
            | "BandKeys" >> beam.ParDo(_BandKeysFn(self.config))
            | "GroupBands" >> beam.GroupByKey()
            | "BucketEdges" >> beam.ParDo(_BucketEdgesFn(self.config.verify_threshold))
        )


# --------------------------------------------------------------------------- apply and write


class _ApplyFn(beam.DoFn):
    """(id, {rows, removal, size}) -> kept rows (with cluster_id and minhash_cluster_size) or
    duplicates records."""

    def __init__(self) -> None:
        self._kept = Metrics.counter(NAMESPACE, KEPT)
        self._near = Metrics.counter(NAMESPACE, NEAR_DUPLICATES)

    def process(self, item: tuple) -> Iterator[Any]:
        doc_id, grouped = item
        # Rows sharing an id (the same record curated twice) keep one copy, chosen by content.
        rows = sorted(grouped["rows"], key=content_key)
        removal = final_removal((kind, rep) for _, kind, rep in grouped["removal"])
        for row, fate in zip(rows, same_id_rows(doc_id, len(rows), removal)):
            if fate is None:
                self._kept.inc()
                # The cluster: this id's own rows plus every row removed in its favour.
                size = len(rows) + sum(grouped.get("size", ()))
                yield {**row, CLUSTER_ID: doc_id, CLUSTER_SIZE_COLUMN: size}
                continue
            kind, rep = fate
            if kind == KIND_NEAR:
                self._near.inc()
            yield pvalue.TaggedOutput("duplicates", _duplicate_record(row, kind, rep))


def _duplicate_record(row: dict, kind: str, rep: str) -> dict:
    return duplicate_record(row["id"], row.get("url"), row.get("source"), kind, rep)


def duplicate_record(doc_id: str, url: str | None, source: str | None, kind: str, rep: str) -> dict:
    """A row of duplicates/: the removed document, how, and the survivor it points at."""
    return {"id": doc_id, "url": url, "source": source, "kind": kind, CLUSTER_ID: rep, "representative_id": rep}


def near_removal(item: tuple) -> Iterator[tuple]:
    """(node, component label) -> a near removal (`near_representative`) unless it is kept."""
    node, label = item
    rep = near_representative(node, label)
    if rep is not None:
        yield node, KIND_NEAR, rep


def _removed_rows(item: tuple) -> Iterator[tuple[str, int]]:
    """(id, {removal, rows}) -> (representative, rows with this id) for a removed id: the
    representative of its `final_removal`, the one its duplicates/ rows point at."""
    _, grouped = item
    removal = final_removal(grouped["removal"])
    if removal is not None:
        yield removal[1], sum(grouped["rows"])


class ClusterSizes(beam.PTransform):
    """(features, removals) -> (representative, rows removed in its favour): id-level shuffles only.

    A removed id stands for every row that carries it, so rows per id are counted from the
    features (one per row) before they are joined to the removals.
    """

    def __init__(self, removals: beam.PCollection):
        super().__init__()
        self.removals = removals

    def expand(self, features: beam.PCollection) -> beam.PCollection:
        rows_per_id = (
            features
            | "OnePerRow" >> beam.Map(lambda f: (f[0], 1))
            | "RowsPerId" >> beam.CombinePerKey(sum)
        )
        return (
            {"removal": self.removals | "RemovalById" >> beam.Map(lambda r: (r[0], (r[1], r[2]))), "rows": rows_per_id}
            | "JoinRows" >> beam.CoGroupByKey()
            | "RemovedRows" >> beam.FlatMap(_removed_rows)
            | "PerRepresentative" >> beam.CombinePerKey(sum)
        )


class ApplyClusters(beam.PTransform):
    """Joins decisions to rows by id: (kept rows with cluster_id and size, duplicates records)."""

    def __init__(self, removals: beam.PCollection, sizes: beam.PCollection | None = None):
        super().__init__()
        self.removals = removals
        self.sizes = sizes

    def expand(self, rows: beam.PCollection) -> pvalue.DoOutputsTuple:
        joined = {
            "rows": rows | "RowsById" >> beam.Map(lambda r: (r["id"], r)),
            "removal": self.removals | "RemovalsById" >> beam.Map(lambda r: (r[0], r)),
        }
        if self.sizes is not None:
            joined["size"] = self.sizes
        return (
            joined
            | "JoinById" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(_ApplyFn()).with_outputs("duplicates", main="kept")
        )


# --------------------------------------------------------------------------- summary


class SummaryFn(beam.CombineFn):
    """(name, value) events -> the counts stats.json is built from."""

    def create_accumulator(self) -> dict:
        return {"counts": {}, "sizes": {}, "unsettled": {}}

    def add_input(self, acc: dict, event: tuple) -> dict:
        name, value = event
        if name == CLUSTER_SIZE:
            acc["sizes"][value] = acc["sizes"].get(value, 0) + 1
        elif name == UNSETTLED_NODES:
            acc["unsettled"][value] = acc["unsettled"].get(value, 0) + 1
        else:
            acc["counts"][name] = acc["counts"].get(name, 0) + value
        return acc

    def merge_accumulators(self, accs: Iterable[dict]) -> dict:
        merged = self.create_accumulator()
        for acc in accs:
            for part in ("counts", "sizes", "unsettled"):
                for key, value in acc[part].items():
                    merged[part][key] = merged[part].get(key, 0) + value
        return merged

    def extract_output(self, acc: dict) -> dict:
        return acc
