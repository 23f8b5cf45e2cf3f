"""Reading a curate run's output back and comparing it with a fault case's expectations."""
from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from tests.faults.corpus import OUTCOME_ERROR, OUTCOME_KEPT, OUTCOME_REJECTED, Expectation, FaultCase


@dataclass(frozen=True)
class Outcome:
    """One output row, flattened: `kind` is the rejection reason or the error type."""

    outcome: str
    source: str
    url: str
    stage: str
    kind: str
    text: str
    detail: str


def _rows(folder: Path) -> list[dict]:
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    rows: list[dict] = []
    for path in files:
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def read_outcomes(output: Path) -> list[Outcome]:
    outcomes = [
        Outcome(OUTCOME_KEPT, os.path.basename(r["source"]), r["url"], "", "", r["text"] or "", "")
        for r in _rows(output / "documents")
    ]
    outcomes += [
        Outcome(OUTCOME_REJECTED, os.path.basename(r["source"]), r["url"], r["stage"], r["reason"], r["text"] or "",
                r["detail"] or "")
        for r in _rows(output / "rejected")
    ]
    outcomes += [
        Outcome(OUTCOME_ERROR, os.path.basename(r["source"]), r["url"] or "", r["stage"], r["error_type"], "",
                r["error_message"] or "")
        for r in _rows(output / "errors")
    ]
    return outcomes


def read_stats(output: Path) -> dict:
    return json.loads((output / "stats.json").read_text())


def _matches(expected: Expectation, got: Outcome, alternatives: tuple[tuple[str, str], ...]) -> bool:
    if expected.source != got.source or (expected.url and expected.url != got.url):
        return False
    if got.outcome == OUTCOME_REJECTED and (got.stage, got.kind) in alternatives:
        return True
    if expected.outcome != got.outcome:
        return False
    if expected.outcome != OUTCOME_KEPT and (expected.stage, expected.kind) != (got.stage, got.kind):
        return False
    if expected.text_contains and expected.text_contains not in got.text:
        return False
    if expected.detail_contains and expected.detail_contains.lower() not in got.detail.lower():
        return False
    return True


def compare(case: FaultCase, outcomes: list[Outcome]) -> list[str]:
    """Problems found (empty when the run did exactly what the case expects for its files)."""
    sources = {p.name for p in case.paths}
    mine = [o for o in outcomes if o.source in sources]
    problems = []
    unmatched = list(mine)
    for expected in case.expectations:
        hit = next((o for o in unmatched if _matches(expected, o, case.alternatives)), None)
        if hit is None:
            problems.append(f"{case.name}: expected {expected} but no output row matches")
        else:
            unmatched.remove(hit)
    for extra in unmatched:
        problems.append(
            f"{case.name}: unexpected {extra.outcome} row {extra.source} {extra.url[:80]} {extra.stage}/{extra.kind}: "
            f"{extra.detail[:200]}"
        )
    return problems


def summarize(cases: list[FaultCase], outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """Per case: rows kept / rejected / errors (for the reliability report)."""
    table: dict[str, dict[str, int]] = {}
    for case in cases:
        sources = {p.name for p in case.paths}
        counts: dict[str, int] = defaultdict(int)
        for o in outcomes:
            if o.source in sources:
                counts[o.outcome] += 1
        table[case.name] = dict(counts)
    return table
