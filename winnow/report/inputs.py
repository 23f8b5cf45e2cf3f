"""Reading a run directory for the report: where each input lives and how it is checked.

Every reader raises `NotRun` when the file a section needs is absent (the
stage was not run) and `ReportInputError`, naming the file, when it exists but
cannot be read or has content of the wrong shape.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from winnow.summaries import StatsError, count_map, expect_number
from winnow.core.errors import InputError

# Inputs, relative to RUN_DIR (the layout written by `winnow run`).
RUN_FILE = "run.json"
STAGE_MANIFESTS = "stages"  # <stage>.json per stage, written by `winnow run` as each stage starts and ends
CURATE_STATS = "curate/stats.json"
CURATE_DOCUMENTS = "curate/documents"
CURATE_REJECTED = "curate/rejected"
DEDUP_STATS = "dedup/stats.json"
TOKENIZER_REPORT = "tokenizer/report.json"
TOKENS_DIR = "tokens"
TOKENS_MANIFEST = "tokens/manifest.json"
TRAIN_METRICS = "train/metrics.jsonl"
TRAIN_CONFIG = "train/config.yaml"
EVAL_RESULTS = "evaluate/results.json"
ABLATE_RESULTS = "ablate/results.json"


class ReportInputError(InputError):
    """A file of the run directory exists but cannot be read or has unexpected content."""


class NotRun(Exception):
    """The files a section needs are absent: the stage was not run."""


def read_json(run_dir: Path, rel: str) -> Any:
    path = run_dir / rel
    if not path.is_file():
        raise NotRun(rel)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path}: not valid JSON: {exc}") from exc


def read_json_object(run_dir: Path, rel: str) -> dict[str, Any]:
    data = read_json(run_dir, rel)
    if not isinstance(data, dict):
        raise ReportInputError(f"{run_dir / rel}: expected a JSON object, found {type(data).__name__}")
    return data


def read_jsonl(run_dir: Path, rel: str) -> list[dict[str, Any]]:
    path = run_dir / rel
    if not path.is_file():
        raise NotRun(rel)
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot read: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReportInputError(f"{path}: line {number} is not valid JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise ReportInputError(f"{path}: line {number}: expected a JSON object")
        rows.append(row)
    return rows


def parquet_files(run_dir: Path, rel: str) -> list[Path]:
    folder = run_dir / rel
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def number(value: Any, where: str) -> float:
    """`value` if numeric, else ReportInputError naming `where` (the check of winnow.summaries)."""
    try:
        return expect_number(value, where)
    except StatsError as exc:
        raise ReportInputError(str(exc)) from None


def counts(value: Any, where: str) -> dict[str, float]:
    """{name: count} with numeric counts, or ReportInputError naming `where`."""
    try:
        return count_map(value, where)
    except StatsError as exc:
        raise ReportInputError(str(exc)) from None


def finite_or_none(value: Any) -> Any:
    """JSON has no NaN/Infinity; summary.json writes null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def first_rows(path: Path, columns: Sequence[str], rows: int) -> list[dict[str, Any]]:
    """Up to `rows` rows of the `columns` present in one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        present = [c for c in columns if c in handle.schema_arrow.names]
        for batch in handle.iter_batches(batch_size=rows, columns=present):
            return batch.to_pylist()
    except (OSError, pa.ArrowException) as exc:
        raise ReportInputError(f"{path}: cannot read Parquet: {exc}") from exc
    return []
