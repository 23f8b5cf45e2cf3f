"""The review sample: stratified, deterministic for a seed.

Strata are the verdicts: `kept` (optionally split into classifier-score
bands) and `rejected/<stage>/<reason>` for every stage and reason, so every
filter gets reviewed, not only the ones that remove the most. The sample
size is shared out equally; a stratum smaller than its share gives the rest
to the others (water-filling). Within a stratum, documents are ranked by a
hash of (seed, id), so the draw depends only on the seed and the ids, not on
file order or on how many workers wrote the output. Items are interleaved
across strata, so a reviewer who stops early has still seen every filter.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xxhash

from winnow.review.source import KEPT, OutputIndex, Record


@dataclass(frozen=True)
class SampleItem:
    index: int
    record: Record
    stratum: str


def rank_key(seed: int, doc_id: str) -> int:
    return xxhash.xxh64_intdigest(f"{seed}\x00{doc_id}".encode())


def allocate(sizes: Mapping[str, int], total: int) -> dict[str, int]:
    """Equal shares of `total` over strata, capped by each stratum's size.

    Smaller strata are served first; what they cannot use goes to the larger
    ones. With fewer items than strata, the smallest strata get one each.
    """
    if total < 0:
        raise ValueError(f"sample size must be >= 0, got {total}")
    order = sorted(sizes, key=lambda k: (sizes[k], k))
    quota: dict[str, int] = {}
    left = total
    for i, key in enumerate(order):
        share = math.ceil(left / (len(order) - i)) if left > 0 else 0
        quota[key] = min(sizes[key], share)
        left -= quota[key]
    return quota


def score_bands(values: Sequence[float | None], bands: int) -> tuple[list[float], list[str]]:
    """(inner quantile edges, one band label per value) for `bands` equal-count bands.

    Missing scores get their own band, so documents without a score are still drawn.
    """
    if bands < 1:
        raise ValueError(f"score bands must be >= 1, got {bands}")
    finite = np.array([v for v in values if v is not None], dtype=float)
    if finite.size == 0:
        return [], ["score none" for _ in values]
    edges = sorted(set(np.quantile(finite, np.linspace(0, 1, bands + 1)[1:-1]).tolist()))
    bounds = [float(finite.min()), *edges, float(finite.max())]
    labels = []
    for v in values:
        if v is None:
            labels.append("score none")
            continue
        b = int(np.searchsorted(edges, v, side="right"))
        labels.append(f"score {b + 1}/{len(edges) + 1} [{bounds[b]:.3g}, {bounds[b + 1]:.3g}]")
    return edges, labels


def stratum_of_records(index: OutputIndex, bands: int = 0, score_column: str | None = None) -> dict[str, str]:
    """{id: stratum} for every record: its rule, and for kept documents the score band when asked."""
    strata = {r.id: r.rule for r in index.by_id.values()}
    if bands:
        if score_column is None:
            if not index.scores:
                raise ValueError(
                    f"{index.directory}: --score-bands needs a classifier score column "
                    "(classifier_<name>_score); this output has none"
                )
            score_column = index.scores[0]
        elif score_column not in index.scores:
            raise ValueError(
                f"{index.directory}: no classifier score column {score_column!r}; found {list(index.scores) or 'none'}"
            )
        kept = [r for r in index.by_id.values() if r.verdict == KEPT]
        _, labels = score_bands([r.scores.get(score_column) for r in kept], bands)
        for r, label in zip(kept, labels):
            strata[r.id] = f"{KEPT}/{score_column} {label}"
    return strata


def draw_sample(
    index: OutputIndex, size: int, seed: int = 0, bands: int = 0, score_column: str | None = None
) -> list[SampleItem]:
    """The review sample: `size` items (fewer when the output is smaller), interleaved across strata."""
    strata = stratum_of_records(index, bands, score_column)
    members: dict[str, list[Record]] = {}
    for r in index.by_id.values():
        members.setdefault(strata[r.id], []).append(r)
    quota = allocate({k: len(v) for k, v in members.items()}, size)
    ranked: dict[str, list[Record]] = {
        k: sorted(v, key=lambda r: (rank_key(seed, r.id), r.id))[: quota[k]] for k, v in members.items()
    }
    items: list[SampleItem] = []
    depth = max((len(v) for v in ranked.values()), default=0)
    for level in range(depth):
        # the order of strata at each level is seeded too, so the first item is not always `kept`
        for key in sorted(ranked, key=lambda k: rank_key(seed + level, k)):
            if level < len(ranked[key]):
                items.append(SampleItem(len(items), ranked[key][level], key))
    return items
