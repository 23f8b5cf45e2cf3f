"""stats.json's accounting, defined once.

Curation (one Beam run, or the sum of resumable batches) and `winnow select`
all describe their result with `curation_stats`, and sum several with
`combine_curation_stats`; both check the identity

    records_in == kept + rejected_total + errors

and report what does not reconcile instead of hiding it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ACCOUNTING_IDENTITY = "records_in == kept + rejected_total + errors"
COUNT_KEYS = ("records_in", "kept", "rejected_total", "errors")


def outcome_key(table: str, row: Mapping[str, Any]) -> tuple[str, str]:
    """The (table, key) a written row is counted under: language for kept rows,
    stage/reason for rejected rows, stage/error_type for error rows."""
    if table == "kept":
        return table, row.get("language") or ""
    if table == "rejected":
        return table, f"{row['stage']}/{row['reason']}"
    return table, f"{row['stage']}/{row['error_type']}"


def accounting(records_in: int, kept: int, rejected_total: int, errors: int) -> dict[str, Any]:
    unaccounted = records_in - (kept + rejected_total + errors)
    return {"identity": ACCOUNTING_IDENTITY, "ok": unaccounted == 0, "unaccounted": unaccounted}


def curation_stats(records_in: int, counts: Iterable[tuple[tuple[str, str], int]], recipe: str, mode: str = "filter") -> dict[str, Any]:
    """stats.json's body from per-(table, key) counts of the rows written (see `outcome_key`)."""
    kept = rejected_total = errors = 0
    languages: dict[str, int] = {}
    rejected: dict[str, dict[str, int]] = {}
    errors_by_stage: dict[str, dict[str, int]] = {}
    for (table, key), count in counts:
        if table == "kept":
            kept += count
            languages[key or "unknown"] = languages.get(key or "unknown", 0) + count
        elif table == "rejected":
            stage, reason = key.split("/", 1)
            rejected.setdefault(stage, {})[reason] = rejected.get(stage, {}).get(reason, 0) + count
            rejected_total += count
        else:
            stage, error_type = key.split("/", 1)
            errors_by_stage.setdefault(stage, {})[error_type] = errors_by_stage.get(stage, {}).get(error_type, 0) + count
            errors += count
    return _assemble(recipe, mode, records_in, kept, rejected_total, errors, rejected, errors_by_stage, languages)


def _sorted_counts(table: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    return {stage: dict(sorted(counts.items())) for stage, counts in sorted(table.items())}


def _assemble(recipe, mode, records_in, kept, rejected_total, errors, rejected, errors_by_stage, languages) -> dict[str, Any]:
    return {
        "recipe": recipe,
        "mode": mode,
        "records_in": records_in,
        "kept": kept,
        "rejected_total": rejected_total,
        "errors": errors,
        "rejected": _sorted_counts(rejected),
        "errors_by_stage": _sorted_counts(errors_by_stage),
        "languages": dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),
        "accounting": accounting(records_in, kept, rejected_total, errors),
    }


def combine_curation_stats(parts: Sequence[Mapping[str, Any]], recipe: str, mode: str = "filter") -> dict[str, Any]:
    """The sum of several stats bodies (resumable batches), accounting re-checked."""
    totals = dict.fromkeys(COUNT_KEYS, 0)
    rejected: dict[str, dict[str, int]] = {}
    errors_by_stage: dict[str, dict[str, int]] = {}
    languages: dict[str, int] = {}
    for part in parts:
        for key in COUNT_KEYS:
            totals[key] += int(part[key])
        for source, target in ((part.get("rejected", {}), rejected), (part.get("errors_by_stage", {}), errors_by_stage)):
            for stage, counts in source.items():
                merged = target.setdefault(stage, {})
                for reason, n in counts.items():
                    merged[reason] = merged.get(reason, 0) + n
        for language, n in part.get("languages", {}).items():
            languages[language] = languages.get(language, 0) + n
    return _assemble(
        recipe, mode, totals["records_in"], totals["kept"], totals["rejected_total"], totals["errors"],
        rejected, errors_by_stage, languages,
    )
