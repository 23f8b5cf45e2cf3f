"""Mixing curated sources into one corpus by target proportions: the deterministic sampling plan.

Given each source's documents (their size in the chosen unit, and optionally
their duplicate-cluster size), a target weight per source, a repetition cap
and a seed, `plan_mix` decides how many copies of each document the mixture
takes. The executor (`winnow/mix.py`) streams the Parquet and writes them.

* Units: `documents`, or `tokens` estimated as UTF-8 bytes / 4 (about what a
  BPE tokenizer of English gives; no tokenizer is needed to plan).
* Repeat cap: no document is ever copied more than `max_repeats` times (a
  whole number, 4 by default: Muennighoff et al. 2023 find up to ~4 epochs of
  repeated data almost as good as fresh data), so no source is repeated more
  than that either.
* Total size: the richest source (most units per unit of weight) is used
  once; the others are upsampled to their share. When a source would need
  more than `max_repeats` copies of every document, the total shrinks until
  it does not, and the richer sources are subsampled instead. `total` asks
  for a fixed size, which is an error when it would take any source past the cap.
* Rehydration (FineWeb-2): with `rehydrate`, a document that stood for a
  duplicate cluster of size k (dedup's `minhash_cluster_size`) has weight
  m = min(k, max_repeats): its k-th copy comes at level k/m, so it fills up m
  times as fast as a document of weight 1, and documents that were duplicated
  on the web come back more often, up to the cap.
* Sampling: levels fill in order (without rehydration a level is a whole
  epoch); the level that crosses the target takes a seeded random subset, cut
  where the running total is nearest the target.
* Shares: a source whose documents are large against its share can miss its
  target by more than one document's worth; `share_warnings` names every
  source whose realized share is more than SHARE_TOLERANCE from its target.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import xxhash

from winnow.core.config_loader import CHOICES

BY_TOKENS = "tokens"
BY_DOCUMENTS = "documents"
UNITS = (BY_TOKENS, BY_DOCUMENTS)
DEFAULT_MAX_REPEATS = 4
SHARE_TOLERANCE = 0.01  # one percentage point of the mix
BYTES_PER_TOKEN = 4
TOKEN_ESTIMATE = "utf8_bytes/4"


@dataclass(frozen=True)
class MixConfig:
    """The `mix:` recipe section and `winnow mix` flags."""

    # The comments are the keys' documentation: docs/recipes.md and the `winnow mix` flags' help.
    weights: Mapping[str, float] = field(default_factory=dict)  # source name -> target share of the mix (normalized to sum to 1)
    by: str = field(default=BY_TOKENS, metadata={CHOICES: UNITS})  # unit the shares are measured in: estimated tokens (UTF-8 bytes / 4) or documents
    seed: int = 0  # sampling seed: the same seed gives the same mix
    max_repeats: int = DEFAULT_MAX_REPEATS  # most copies of any one document, so of any source
    rehydrate: bool = False  # repeat documents that stood for duplicate clusters by the cluster's size (minhash_cluster_size from dedup), up to max_repeats (FineWeb-2)
    total: int | None = None  # target size in `by` units; None: as large as the sources allow
    strict: bool = False  # a realized share more than 1 point (SHARE_TOLERANCE) off its target is an error (exit 2, nothing written), not a warning

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("mix needs weights, e.g. web=0.7,books=0.2,wiki=0.1")
        for name, weight in self.weights.items():
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight) or weight <= 0:
                raise ValueError(f"weight of source {name!r} must be a positive number, got {weight!r}")
        if self.by not in UNITS:
            raise ValueError(f"by must be one of {UNITS}, got {self.by!r}")
        cap = self.max_repeats
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not math.isfinite(cap) or cap < 1 or cap != int(cap):
            raise ValueError(f"max_repeats must be a whole number of copies, at least 1, got {cap!r}")
        if self.total is not None and self.total <= 0:
            raise ValueError(f"total must be positive, got {self.total}")

    @property
    def targets(self) -> dict[str, float]:
        """Weights normalized to sum to 1."""
        s = sum(self.weights.values())
        return {name: w / s for name, w in self.weights.items()}


@dataclass(frozen=True)
class SourceDocs:
    """One source as the planner sees it: per-document units and cluster sizes, in file order."""

    name: str
    units: np.ndarray  # int64, size of each document in the mix unit
    cluster_sizes: np.ndarray | None = None  # int64 minhash_cluster_size, when dedup stored it


@dataclass(frozen=True)
class SourcePlan:
    """How much of one source the mix takes."""

    name: str
    target: float  # normalized weight
    copies: np.ndarray  # int64 copies of each document, in file order
    available_units: int  # units of the source as read (each document once)
    units: int  # units in the mix
    cap: int = int(DEFAULT_MAX_REPEATS)  # the most copies any document may get

    @property
    def repetitions(self) -> float:
        """Units in the mix over units available: 1.0 uses every document once."""
        return self.units / self.available_units if self.available_units else 0.0

    @property
    def documents(self) -> int:
        return int(self.copies.sum())

    @property
    def max_copies(self) -> int:
        return int(self.copies.max()) if len(self.copies) else 0


@dataclass(frozen=True)
class MixPlan:
    sources: tuple[SourcePlan, ...]
    total_units: int

    def realized(self) -> dict[str, float]:
        return {s.name: (s.units / self.total_units if self.total_units else 0.0) for s in self.sources}


def token_estimate(utf8_bytes: np.ndarray) -> np.ndarray:
    """Estimated tokens per document from its UTF-8 byte length (at least 1 for a non-empty text)."""
    b = np.asarray(utf8_bytes, dtype=np.int64)
    return np.where(b > 0, np.maximum(1, (b + BYTES_PER_TOKEN // 2) // BYTES_PER_TOKEN), 0)


def multiplicities(source: SourceDocs, config: MixConfig) -> np.ndarray:
    """Weight per document: 1, or min(cluster size, max_repeats) when rehydrating."""
    ones = np.ones(len(source.units), dtype=np.int64)
    if not config.rehydrate or source.cluster_sizes is None:
        return ones
    sizes = np.asarray(source.cluster_sizes, dtype=np.int64)
    return np.clip(sizes, 1, int(config.max_repeats))


def plan_total(supply: Mapping[str, int], config: MixConfig, available: Mapping[str, int] | None = None) -> float:
    """The mixture's size in units (see the module docstring); ValueError when unreachable.

    `supply` is each source's units with rehydration applied (one "epoch"),
    `available` its units with every document once (default: `supply`); a
    source can give at most max_repeats * available units.
    """
    available = supply if available is None else available
    targets = config.targets
    empty = sorted(name for name in targets if supply.get(name, 0) <= 0)
    if empty:
        raise ValueError(f"source(s) {empty} have no {config.by} to mix (empty or all-blank input)")
    capped = min(config.max_repeats * available[n] / targets[n] for n in targets)
    if config.total is not None:
        if config.total > capped:
            worst = min(targets, key=lambda n: config.max_repeats * available[n] / targets[n])
            need = config.total * targets[worst] / available[worst]
            raise ValueError(
                f"total {config.total} {config.by} would repeat source {worst!r} {need:.2f} times "
                f"(max_repeats {config.max_repeats:g}); at most {int(capped)} {config.by} are possible"
            )
        return float(config.total)
    richest = max(supply[n] / targets[n] for n in targets)
    return min(richest, capped)


def _levels(mults: np.ndarray, cap: int) -> list[Fraction]:
    """The fill levels, in order: a document of weight m gets its k-th copy (k <= cap) at level k/m."""
    return sorted({Fraction(k, int(m)) for m in np.unique(mults) for k in range(1, cap + 1)})


def _copies_below(mults: np.ndarray, level: Fraction, cap: int, inclusive: bool) -> np.ndarray:
    """Copies each document has at levels below `level` (or up to it, with `inclusive`)."""
    a, b = level.numerator, level.denominator
    count = (a * mults) // b if inclusive else (a * mults - 1) // b
    return np.minimum(count, cap)


def _take(units: np.ndarray, mult: np.ndarray, cap: int, target: float, rng: np.random.Generator) -> np.ndarray:
    """Copies per document reaching `target` units, none above `cap`: whole levels, then a seeded random part of one."""
    copies = np.zeros(len(units), dtype=np.int64)
    if target <= 0 or not len(units):
        return copies
    # Units per distinct weight, so a level's running total costs one term per weight, not per document.
    weights, group = np.unique(mult, return_inverse=True)
    per_weight = np.zeros(len(weights), dtype=np.int64)
    np.add.at(per_weight, group, units)

    def reaches(level: Fraction) -> bool:
        return int((per_weight * _copies_below(weights, level, cap, inclusive=True)).sum()) >= target

    levels = _levels(weights, cap)
    i = bisect.bisect_left(levels, True, key=reaches)  # running totals grow with the level
    if i == len(levels):  # the target is the whole capacity (or a rounding hair above it)
        return np.full(len(units), cap, dtype=np.int64)
    crossing = levels[i]
    copies = _copies_below(mult, crossing, cap, inclusive=False)
    remainder = target - int((units * copies).sum())
    at_level = _copies_below(mult, crossing, cap, inclusive=True) > copies
    order = rng.permutation(len(units))
    order = order[at_level[order]]
    cum = np.cumsum(units[order])
    j = int(np.searchsorted(cum, remainder))  # the first prefix reaching the remainder (exists: the level crosses)
    before = int(cum[j - 1]) if j > 0 else 0
    take = j if remainder - before <= cum[j] - remainder else j + 1  # whichever prefix is nearer the target
    copies[order[:take]] += 1
    return copies


def share_warnings(plan: MixPlan, tolerance: float = SHARE_TOLERANCE) -> list[str]:
    """One line per source whose realized share is more than `tolerance` from its target."""
    realized = plan.realized()
    lines = []
    for s in plan.sources:
        off = realized[s.name] - s.target
        if abs(off) <= tolerance:
            continue
        if off < 0 and s.documents == s.cap * len(s.copies):
            why = f"every document is already copied max_repeats ({s.cap}) times"
        elif off < 0:
            why = "its documents are too large for a closer cut at this mix size"
        else:
            why = "the other sources fell short, or its documents are too large for a closer cut"
        lines.append(
            f"source {s.name!r}: realized share {realized[s.name]:.3f} is {abs(off) * 100:.1f} points "
            f"{'below' if off < 0 else 'above'} its target {s.target:.3f} ({why})"
        )
    return lines


def plan_mix(sources: Sequence[SourceDocs], config: MixConfig) -> MixPlan:
    """The deterministic plan: the same sources, config and seed give the same copies."""
    by_name = {s.name: s for s in sources}
    missing = sorted(set(config.weights) - set(by_name))
    if missing:
        raise ValueError(f"weights name source(s) {missing} that were not given; sources: {sorted(by_name)}")
    extra = sorted(set(by_name) - set(config.weights))
    if extra:
        raise ValueError(f"source(s) {extra} have no weight; give every source a weight")
    mults = {s.name: multiplicities(s, config) for s in sources}
    supply = {s.name: int((s.units * mults[s.name]).sum()) for s in sources}
    total = plan_total(supply, config, {s.name: int(np.asarray(s.units).sum()) for s in sources})
    cap = int(config.max_repeats)
    plans = []
    targets = config.targets
    for name in sorted(by_name):  # sorted: the plan does not depend on argument order
        src = by_name[name]
        # One generator per source, seeded by (seed, name): adding a source leaves the others' draws alone.
        rng = np.random.default_rng([config.seed, xxhash.xxh32_intdigest(name.encode())])
        copies = _take(np.asarray(src.units, dtype=np.int64), mults[name], cap, targets[name] * total, rng)
        plans.append(SourcePlan(name, targets[name], copies, int(src.units.sum()), int((copies * src.units).sum()), cap))
    return MixPlan(tuple(plans), sum(p.units for p in plans))
