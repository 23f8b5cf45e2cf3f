"""`winnow select`: re-apply a recipe's thresholds to stored signals ("tag, then decide").

A curation run in `mode: annotate` stores every step's signals for every
document that has text, kept or rejected. `select` reads those tables and
decides again with another recipe's thresholds, without re-extracting or
re-scoring anything, and writes a new kept/rejected split with the same
tables and the same accounting (`curation.stats`):

- records that never had text (read errors, triage, decode, extraction) and
  error rows are carried over unchanged;
- every other record goes through the new recipe's `decide` functions in step
  order; the first rule that fires rejects it with that step as its stage.

A recipe may change any threshold, drop steps, or reorder them. It may not
add a step whose signals were not stored, or change a setting that changes
the signals or the text themselves (`StepSpec.recompute_fields`): those need
a new curation run, and `select` says so. Local directories only.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from winnow import schemas
from winnow.core.atomic import atomic_path, atomic_write_json
from winnow.core.config_loader import config_to_mapping
from winnow.curation.config import config_from_mapping
from winnow.curation.recipe import MODE_ANNOTATE, Recipe, load_recipe, with_defaults
from winnow.curation.stages import PRE_STEP_STAGES
from winnow.curation.stats import curation_stats, outcome_key
from winnow.curation.steps import signal_columns, step_spec
from winnow.core.errors import ConfigurationError

TABLES = ("documents", "rejected", "errors")
ROWS_PER_FILE = 100_000
BATCH_ROWS = 8192


class SelectError(ConfigurationError):
    """The input cannot be re-decided with this recipe (and the message says why)."""


@dataclass(frozen=True)
class _Rule:
    name: str
    config: Any
    decide: Any


def _stored_stats(input_dir: Path) -> dict[str, Any]:
    path = input_dir / "stats.json"
    if not path.is_file():
        raise SelectError(f"{input_dir}: no stats.json; expected the output directory of `winnow curate`")
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SelectError(f"{path}: not valid JSON ({exc})") from exc
    if stats.get("mode") != MODE_ANNOTATE or "steps" not in stats:
        raise SelectError(
            f"{input_dir} was curated in filter mode: its rejected documents lack the signals of the steps after "
            "the one that rejected them. Re-run `winnow curate` with `mode: annotate` in the recipe, then select."
        )
    return stats


def _rules(recipe: Recipe, stored_steps: Sequence[Mapping[str, Any]], input_dir: Path) -> tuple[list[_Rule], set[str]]:
    """The new recipe's decide rules, checked against what the stored run computed; also the
    names of stored steps whose verdicts are final (they have no `decide`)."""
    stored = {entry["name"]: entry["config"] for entry in stored_steps}
    rules, final = [], set()
    for step in with_defaults(recipe):
        spec = step_spec(step.name)
        if step.name not in stored:
            raise SelectError(
                f"{input_dir} has no signals for step {step.name!r} (it ran {list(stored)}); "
                "curate again with that step in the recipe"
            )
        old = config_from_mapping(spec.config_type, stored[step.name], f"stored step {step.name}")
        if spec.decide is None:
            named = step.name in recipe.step_names()
            if named and config_to_mapping(old) != config_to_mapping(step.config):
                raise SelectError(f"step {step.name!r} cannot be re-decided from signals; its settings must stay as stored")
            final.add(step.name)
            continue
        # Compared as JSON: a stored setting reads back with lists where the default has tuples.
        before, after = config_to_mapping(old), config_to_mapping(step.config)
        changed = [f for f in spec.recompute_fields if json.dumps(before.get(f), sort_keys=True, default=str) != json.dumps(after.get(f), sort_keys=True, default=str)]
        if changed:
            raise SelectError(
                f"step {step.name!r}: {changed} change the signals or the text, not only the decision; "
                "curate again to change them"
            )
        rules.append(_Rule(step.name, step.config, spec.decide))
    return rules, final | set(PRE_STEP_STAGES)


def _decide(row: dict[str, Any], rules: Sequence[_Rule], where: str) -> tuple[str, str, str] | None:
    for rule in rules:
        try:
            verdict = rule.decide(rule.config, row)
        except (KeyError, TypeError) as exc:
            raise SelectError(f"{where}: document {row.get('id')} has no usable signals for step {rule.name} ({exc})") from exc
        if verdict is not None:
            return rule.name, verdict[0], verdict[1]
    return None


class _RotatingWriter:
    """zstd Parquet parts of at most ROWS_PER_FILE rows, each written atomically."""

    def __init__(self, directory: Path, schema: pa.Schema):
        self._dir, self._schema = directory, schema
        self._rows: list[dict[str, Any]] = []
        self._parts = 0
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= ROWS_PER_FILE:
            self.flush()

    def flush(self) -> None:
        if not self._rows and self._parts:
            return
        table = pa.Table.from_pylist(self._rows, schema=self._schema)
        target = self._dir / f"part-{self._parts:05d}.parquet"
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        self._parts += 1
        self._rows = []


def _check_version(path: Path, schema: pa.Schema) -> None:
    """Refuse a table written under another schema version: its signal columns mean something else."""
    version = (schema.metadata or {}).get(schemas.META_VERSION)
    if version is not None and version.decode() != schemas.SCHEMA_VERSION:
        raise SelectError(
            f"{path}: written by a Winnow with schema version {version.decode()}, this one reads "
            f"{schemas.SCHEMA_VERSION}: its filter signals are computed differently; curate again"
        )


def _rows(directory: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(directory.glob("*.parquet")):
        try:
            file = pq.ParquetFile(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise SelectError(f"{path}: not a readable Parquet file ({exc})") from exc
        _check_version(path, file.schema_arrow)
        for batch in file.iter_batches(batch_size=BATCH_ROWS):
            for row in batch.to_pylist():
                yield str(path), row


def _records(source: Path, final_stages: set[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """("decide" | "carry", file, row) for every kept and rejected row: rows rejected before
    they had text, or by a step whose verdict is final, are carried over unchanged."""
    for table in ("documents", "rejected"):
        for path, row in _rows(source / table):
            if table == "rejected" and (row["stage"] in final_stages or row.get("text") is None):
                if row["stage"] not in final_stages:
                    raise SelectError(f"{path}: document {row['id']} has no text; select needs `--rejected-text keep`")
                yield "carry", path, row
            else:
                yield "decide", path, row


def _top_fraction_rules(rules: Sequence[_Rule]) -> list[tuple[str, str, float]]:
    """(step, score column, fraction) of classifier steps that keep the top fraction of the corpus."""
    from winnow.curation.classifier.step import is_classifier_step_name, score_column

    return [
        (rule.name, score_column(rule.name), rule.config.keep_top_fraction)
        for rule in rules
        if is_classifier_step_name(rule.name) and getattr(rule.config, "keep_top_fraction", None) is not None
    ]


def _top_fraction_thresholds(source: Path, rules, deferred, final_stages) -> dict[str, float | None]:
    """A first pass, as curation's: each cut is taken over the documents every other rule keeps,
    after the cuts before it (exact here, where curation uses Beam's approximate quantiles)."""
    if not deferred:
        return {}
    from winnow.curation.classifier.step import top_fraction_threshold, top_fraction_verdict

    survivors = [
        {column: row.get(column) for _, column, _ in deferred}
        for kind, path, row in _records(source, final_stages)
        if kind == "decide" and _decide(row, rules, path) is None
    ]
    thresholds: dict[str, float | None] = {}
    for step, column, fraction in deferred:
        threshold = top_fraction_threshold([s[column] for s in survivors], fraction)
        thresholds[step] = threshold
        survivors = [s for s in survivors if top_fraction_verdict(s[column], threshold, fraction) is None]
    return thresholds


def _cut(row: dict[str, Any], deferred, thresholds) -> tuple[str, str, str] | None:
    from winnow.curation.classifier.step import top_fraction_verdict

    for step, column, fraction in deferred:
        verdict = top_fraction_verdict(row.get(column), thresholds[step], fraction)
        if verdict is not None:
            return step, verdict[0], verdict[1]
    return None


def run_select(input_dir: str, recipe: str, output: str, overwrite: bool = False) -> dict[str, Any]:
    """Decide again; returns the new stats (also written to OUTPUT/stats.json)."""
    started = time.time()
    source, out = Path(input_dir), Path(output)
    stored = _stored_stats(source)
    loaded = load_recipe(recipe)
    rules, final_stages = _rules(loaded, stored["steps"], source)
    if out.resolve() == source.resolve():
        raise SelectError("--output must differ from the input directory")
    present = [t for t in (*TABLES, "stats.json") if (out / t).exists()]
    if present and not overwrite:
        raise SelectError(f"output {out} already holds {present}; pass --overwrite to replace them")
    for table in present:
        target = out / table
        for f in (target.glob("*") if target.is_dir() else [target]):
            f.unlink()
    signals = signal_columns([entry["name"] for entry in stored["steps"]])
    signal_names = [name for name, _ in signals]
    writers = {
        "kept": _RotatingWriter(out / "documents", schemas.document_schema(signals)),
        "rejected": _RotatingWriter(out / "rejected", schemas.rejected_schema(signals)),
        "errors": _RotatingWriter(out / "errors", schemas.error_schema()),
    }
    columns = {table: writer._schema.names for table, writer in writers.items()}
    counts: dict[tuple[str, str], int] = {}

    def emit(table: str, row: dict[str, Any]) -> None:
        shaped = {name: row.get(name) for name in columns[table]}
        key = outcome_key(table, shaped)
        counts[key] = counts.get(key, 0) + 1
        writers[table].add(shaped)

    deferred = _top_fraction_rules(rules)
    thresholds = _top_fraction_thresholds(source, rules, deferred, final_stages)
    for table, path, row in _records(source, final_stages):
        if table == "carry":
            emit("rejected", row)
            continue
        verdict = _decide(row, rules, path) or _cut(row, deferred, thresholds)
        if verdict is None:
            emit("kept", row)
        else:
            emit("rejected", {**row, "stage": verdict[0], "reason": verdict[1], "detail": verdict[2]})
    for _, row in _rows(source / "errors"):
        emit("errors", row)
    for writer in writers.values():
        writer.flush()
    stats = curation_stats(stored["records_in"], counts.items(), loaded.name, MODE_ANNOTATE)
    stats.update(
        selected_from=str(source), recipe_origin=loaded.origin, recipe_fingerprint=loaded.curation_fingerprint(),
        steps=stored["steps"], decided_by=[rule.name for rule in rules], signal_columns=signal_names,
        wall_time_s=round(time.time() - started, 3),
    )
    atomic_write_json(out / "stats.json", stats)
    return stats
