"""`winnow inspect PATH`: describe a Parquet file or a Winnow output directory.

Reads only the columns it needs, batch by batch, so it works on outputs larger
than memory. Corrupt or foreign files are named in a one-line error.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow.schemas import signal_fields_of
from winnow.summaries import StatsError, curation_funnel
from winnow.core.errors import ConfigurationError, ErrorFamily, InputError

TABLES = ("documents", "rejected", "errors", "duplicates")
PERCENTILES = (0, 10, 50, 90, 100)
SAMPLE_CHARS = 240


class InspectError(ErrorFamily):
    """The path is missing, corrupt or not a Parquet/Winnow output; the message names it."""


class InspectPathError(InspectError, ConfigurationError):
    """The path names nothing, or nothing `inspect` can describe; exit 2."""


class InspectDataError(InspectError, InputError):
    """A file under the path is corrupt or not what its name says; exit 3."""


def parquet_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*.parquet") if not p.name.startswith("."))
    raise InspectPathError(f"{path}: no such file or directory")


def open_parquet(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InspectDataError(f"{path}: not a readable Parquet file ({exc})") from exc


def iter_column(files: list[Path], column: str) -> Iterator[pa.Array]:
    for f in files:
        pf = open_parquet(f)
        if column not in pf.schema_arrow.names:
            continue
        try:
            for batch in pf.iter_batches(columns=[column], batch_size=8192):
                yield batch.column(0)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InspectDataError(f"{f}: corrupt Parquet data in column {column!r} ({exc})") from exc


def percentiles(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {}
    return {f"p{q}": float(np.percentile(values, q)) for q in PERCENTILES} | {"mean": float(values.mean())}


def describe_table(files: list[Path], sample: int = 3) -> dict[str, Any]:
    """Rows, schema, languages, text length percentiles, signal percentiles, samples."""
    if not files:
        return {"files": 0, "rows": 0}
    first = open_parquet(files[0])
    schema = first.schema_arrow
    rows = sum(open_parquet(f).metadata.num_rows for f in files)
    out: dict[str, Any] = {
        "files": len(files),
        "rows": rows,
        "schema": [f"{field.name}: {field.type}" for field in schema],
        "schema_metadata": {k.decode(): v.decode() for k, v in (schema.metadata or {}).items() if k.startswith(b"winnow")},
    }
    if "language" in schema.names:
        languages: Counter[str] = Counter()
        for chunk in iter_column(files, "language"):
            languages.update(x if x else "(none)" for x in chunk.to_pylist())
        out["languages"] = dict(languages.most_common())
    if "text" in schema.names:
        lengths = [pc.utf8_length(chunk).to_numpy(zero_copy_only=False) for chunk in iter_column(files, "text")]
        values = np.concatenate(lengths).astype(float) if lengths else np.zeros(0)
        out["text_chars"] = percentiles(values[~np.isnan(values)])
    for key in ("reason", "error_type", "kind"):
        if key in schema.names:
            counter: Counter[str] = Counter()
            stage_col = "stage" if "stage" in schema.names else None
            for f in files:
                table = open_parquet(f).read(columns=[c for c in (stage_col, key) if c])
                pairs = zip(table.column(stage_col).to_pylist(), table.column(key).to_pylist()) if stage_col else (
                    (None, v) for v in table.column(key).to_pylist()
                )
                counter.update(f"{s}/{v}" if s else str(v) for s, v in pairs)
            out[f"by_{key}"] = dict(counter.most_common())
    signals = describe_signals(files)
    if signals:
        out["signals"] = signals
    out["samples"] = _samples(files[0], sample)
    return out


def _samples(path: Path, n: int) -> list[dict[str, Any]]:
    pf = open_parquet(path)
    wanted = [c for c in ("id", "url", "language", "stage", "reason", "error_type", "error_message", "text") if c in pf.schema_arrow.names]
    if not wanted or pf.metadata.num_rows == 0:
        return []
    batch = next(pf.iter_batches(columns=wanted, batch_size=max(n, 1)))
    samples = []
    for row in batch.to_pylist()[:n]:
        if isinstance(row.get("text"), str):
            text = " ".join(row["text"].split())
            row["text"] = text[:SAMPLE_CHARS] + ("…" if len(text) > SAMPLE_CHARS else "")
        samples.append(row)
    return samples


TOP_REASONS = 3  # per funnel row; the table's by_reason lists them all


def funnel(stats: dict[str, Any], where: str = "stats.json") -> list[dict[str, Any]]:
    """Documents entering and leaving each stage, in pipeline order, with the top reasons.

    The rows come from `winnow.summaries.curation_funnel`, which the run report uses too.
    """
    try:
        stages = curation_funnel(stats, where)
    except StatsError as exc:
        raise InspectDataError(str(exc)) from None
    return [{**stage.row(), "top_reasons": dict(stage.reasons[:TOP_REASONS])} for stage in stages]


def signal_comparison(kept: dict[str, dict[str, float]], dropped: dict[str, dict[str, float]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per signal: percentiles among kept vs rejected documents (from each table's `signals`)."""
    return {name: {"kept": kept.get(name, {}), "rejected": dropped.get(name, {})} for name in sorted(set(kept) | set(dropped))}


def describe_signals(files: list[Path]) -> dict[str, dict[str, float]]:
    """Percentiles of every numeric or boolean signal column (see `schemas.signal_fields_of`), nulls ignored."""
    if not files:
        return {}
    schema = open_parquet(files[0]).schema_arrow
    out = {}
    for f in signal_fields_of(schema):
        if not (pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_boolean(f.type)):
            continue
        chunks = [c.cast(pa.float64()).to_numpy(zero_copy_only=False) for c in iter_column(files, f.name)]
        values = np.concatenate(chunks) if chunks else np.zeros(0)
        values = values[~np.isnan(values)]
        if values.size:
            out[f.name] = percentiles(values)
    return out


# stats.json's count for each table of a curation output.
STATS_COUNT_OF_TABLE = {"documents": "kept", "rejected": "rejected_total", "errors": "errors"}


def is_curation_stats(stats: dict[str, Any]) -> bool:
    return all(key in stats for key in ("records_in", *STATS_COUNT_OF_TABLE.values()))


def disk_check(stats: dict[str, Any], tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """stats.json's kept/rejected_total/errors against the rows the tables hold (every Parquet file
    below each table, as a reader of the folder sees them); a difference means duplicated or lost rows."""
    rows = {table: tables.get(table, {}).get("rows", 0) for table in STATS_COUNT_OF_TABLE}
    mismatches = [
        f"{table}/ holds {rows[table]:,} rows but stats.json says {key} = {stats.get(key)}"
        for table, key in STATS_COUNT_OF_TABLE.items()
        if rows[table] != stats.get(key)
    ]
    return {"ok": not mismatches, "rows": rows, "mismatches": mismatches}


def inspect_path(path: str | Path, sample: int = 3) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir() and any((path / t).is_dir() for t in TABLES) or (path / "stats.json").is_file():
        report: dict[str, Any] = {"path": str(path), "kind": "output directory"}
        stats_file = path / "stats.json"
        if stats_file.is_file():
            try:
                stats = json.loads(stats_file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise InspectDataError(f"{stats_file}: cannot read ({exc})") from exc
            except json.JSONDecodeError as exc:
                raise InspectDataError(f"{stats_file}: not valid JSON ({exc})") from exc
            if not isinstance(stats, dict):
                raise InspectDataError(f"{stats_file}: expected a JSON object, found {type(stats).__name__}")
            report["stats"] = stats
            if "rejected" in stats and "records_in" in stats:
                report["funnel"] = funnel(stats, str(stats_file))
        tables = {t: parquet_files(path / t) for t in TABLES if (path / t).is_dir()}
        report["tables"] = {t: describe_table(files, sample) for t, files in tables.items()}
        if "stats" in report and is_curation_stats(report["stats"]):
            report["disk_check"] = disk_check(report["stats"], report["tables"])
        if tables.get("documents") is not None and tables.get("rejected") is not None:
            described = report["tables"]
            report["signals_kept_vs_rejected"] = signal_comparison(
                described["documents"].get("signals", {}), described["rejected"].get("signals", {})
            )
        return report
    if path.is_dir():  # a token directory, training run, tokenizer, run or ablation: no tables to describe
        from winnow.inspect_dirs import describe_directory

        described = describe_directory(path)
        if described is not None:
            return described
    files = parquet_files(path)
    if not files:
        raise InspectPathError(
            f"{path}: no Parquet files found, and not a Winnow output directory "
            "(no stats.json, token manifest.json, metrics.jsonl, run.json or stage folders)"
        )
    return {"path": str(path), "kind": "parquet", "table": describe_table(files, sample)}
