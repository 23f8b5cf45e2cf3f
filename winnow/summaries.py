"""Summaries that more than one command shows, each defined once.

`winnow inspect` and `winnow report` both show the curation funnel (records
entering and leaving each stage) from a curation output's stats.json; both
read it through `curation_funnel` so they cannot disagree. The checks raise
`StatsError` with a message naming the file and the key, which each command
turns into its own error type.

Beam-free and torch-free: only the standard library, so any command can import
it at module level.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from winnow.curation.stages import STAGE_EXTRACT, STAGE_LANGUAGE, stage_order

# stats.json written before `stage_order` existed: the fixed stages in pipeline
# order; filter steps follow in the order their rejections appear.
DEFAULT_STAGE_ORDER: tuple[str, ...] = tuple(stage_order((STAGE_EXTRACT, STAGE_LANGUAGE)))


class StatsError(ValueError):
    """A stats file has content of an unexpected shape; the message names the file and key."""


def expect_number(value: Any, where: str) -> float:
    """`value` when it is an int or float (not a bool), else StatsError naming `where`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StatsError(f"{where}: expected a number, found {value!r}")
    return value


def count_map(value: Any, where: str) -> dict[str, float]:
    """{name: count} with numeric counts (None reads as empty), or StatsError naming `where`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StatsError(f"{where}: expected an object of counts, found {type(value).__name__}")
    return {str(k): expect_number(v, f"{where}.{k}") for k, v in value.items()}


def ranked_counts(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """(name, count) pairs, largest first, ties by name, so every command lists them alike."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True)
class StageCounts:
    """What stats.json says left the pipeline at each stage, validated."""

    records_in: int
    rejected: dict[str, dict[str, int]]  # stage -> reason -> records
    errors_by_stage: dict[str, dict[str, int]]  # stage -> exception type -> records
    order: tuple[str, ...]  # every stage, pipeline order, including any only seen in the counts


@dataclass(frozen=True)
class FunnelStage:
    """One row of the curation funnel."""

    stage: str
    entered: int
    rejected: int
    errors: int
    left: int
    reasons: tuple[tuple[str, int], ...]  # rejection reasons, most frequent first

    def row(self) -> dict[str, Any]:
        """The row both commands write (JSON keys `in` and `out`)."""
        return {"stage": self.stage, "in": self.entered, "rejected": self.rejected, "errors": self.errors, "out": self.left}


def _ordered_stages(declared: Any, seen: Iterable[str]) -> tuple[str, ...]:
    order = [str(s) for s in declared] if isinstance(declared, list) else list(DEFAULT_STAGE_ORDER)
    for stage in seen:
        if stage not in order:
            order.append(stage)
    return tuple(order)


def stage_counts(stats: Mapping[str, Any], where: str) -> StageCounts:
    """Validate the funnel part of a curation stats.json (`where` names the file in errors)."""
    rejected = stats.get("rejected") or {}
    errors = stats.get("errors_by_stage") or {}
    if not isinstance(rejected, dict) or not isinstance(errors, dict):
        raise StatsError(f"{where}: 'rejected' and 'errors_by_stage' must be objects")
    by_reason = {str(s): {k: int(v) for k, v in count_map(r, f"{where}: rejected.{s}").items()} for s, r in rejected.items()}
    by_error = {str(s): {k: int(v) for k, v in count_map(e, f"{where}: errors_by_stage.{s}").items()} for s, e in errors.items()}
    records_in = int(expect_number(stats.get("records_in"), f"{where}: records_in"))
    order = _ordered_stages(stats.get("stage_order"), [*by_reason, *by_error])
    return StageCounts(records_in, by_reason, by_error, order)


def curation_funnel(stats: Mapping[str, Any], where: str) -> list[FunnelStage]:
    """Records entering and leaving each curation stage, in pipeline order.

    A stage's output is its input less what it rejected and what raised there;
    every stage that rejected or errored appears, even if `stage_order` omits it,
    so the rows always add up to stats.json's totals.
    """
    counts = stage_counts(stats, where)
    rows = []
    remaining = counts.records_in
    for stage in counts.order:
        reasons = counts.rejected.get(stage, {})
        removed = sum(reasons.values())
        errored = sum(counts.errors_by_stage.get(stage, {}).values())
        left = remaining - removed - errored
        rows.append(FunnelStage(stage, remaining, removed, errored, left, tuple(ranked_counts(reasons))))
        remaining = left
    return rows
