"""Read a Winnow output directory (curate, select or dedup) for review.

`load_index` reads every column except `text` from documents/, rejected/ and
duplicates/, so a large output costs little memory; `load_texts` then fetches
the text of the few documents a sample drew, file by file. Every error names
the file it is about.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winnow import schemas
from winnow.core.errors import ConfigurationError, ErrorFamily, InputError

KEPT = "kept"
REJECTED = "rejected"
DUPLICATE = "duplicate"
DEDUP_STAGE = "dedup"  # duplicates/ rows are reported as stage "dedup", reason = their kind

# (subdirectory, schema table name, verdict)
TABLES: tuple[tuple[str, str, str], ...] = (
    ("documents", schemas.DOCUMENTS, KEPT),
    ("rejected", schemas.REJECTED, REJECTED),
    ("duplicates", schemas.DUPLICATES, DUPLICATE),
)
CLASSIFIER_PREFIX = "classifier_"
CLASSIFIER_SUFFIX = "_score"
_SHOWN_FIELDS = ("url", "domain", "language", "language_score", "stage", "reason", "detail", "representative_id", "kind")


class ReviewInputError(ErrorFamily):
    """The directory is not a Winnow output, or one of its files cannot be read; the message names it."""


class ReviewDirError(ReviewInputError, ConfigurationError):
    """The directory named does not exist or is not a Winnow output; exit 2."""


class ReviewDataError(ReviewInputError, InputError):
    """The directory is not a Winnow output, or one of its files cannot be read; exit 3."""


def is_classifier_score(name: str) -> bool:
    return name.startswith(CLASSIFIER_PREFIX) and name.endswith(CLASSIFIER_SUFFIX) and len(name) > 17


def signal_columns(schema: pa.Schema) -> list[str]:
    """Step signals: the numeric and boolean columns that are not identity, text,
    rejection or dedup columns, and not classifier scores (shown apart)."""
    out = []
    for f in schemas.signal_fields_of(schema):
        numeric = pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_boolean(f.type)
        if numeric and not is_classifier_score(f.name):
            out.append(f.name)
    return out


def score_columns(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema if is_classifier_score(f.name)]


@dataclass(frozen=True)
class Record:
    """One input record of the output directory, without its text."""

    id: str
    verdict: str  # kept, rejected or duplicate
    stage: str | None
    reason: str | None
    fields: dict[str, Any]  # url, language, detail, ... (whatever the table has)
    signals: dict[str, Any]
    scores: dict[str, float | None]
    file: Path
    table: str  # the Winnow table of `file` (documents, rejected, duplicates)
    has_text: bool

    @property
    def rule(self) -> str:
        """The stratum of the verdict: kept, rejected/<stage>/<reason> or duplicate/dedup/<kind>."""
        return KEPT if self.verdict == KEPT else f"{self.verdict}/{self.stage}/{self.reason}"


@dataclass(frozen=True)
class OutputIndex:
    directory: Path
    records: tuple[Record, ...]
    signals: tuple[str, ...]
    scores: tuple[str, ...]
    by_id: dict[str, Record] = field(repr=False, compare=False)

    def count_by_rule(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.by_id.values():
            counts[r.rule] = counts.get(r.rule, 0) + 1
        return counts


def table_files(directory: Path) -> dict[str, list[Path]]:
    """{subdirectory: sorted Parquet files} for the tables present in `directory`."""
    found = {}
    for sub, _, _ in TABLES:
        folder = directory / sub
        if folder.is_dir():
            files = sorted(p for p in folder.rglob("*.parquet") if not p.name.startswith("."))
            if files:
                found[sub] = files
    return found


def check_output_dir(directory: Path) -> dict[str, list[Path]]:
    """The table files of a Winnow output directory, or ReviewInputError saying what was looked for."""
    if not directory.is_dir():
        raise ReviewDirError(f"{directory}: no such directory (expected a Winnow curate, select or dedup output)")
    found = table_files(directory)
    if not found:
        raise ReviewDirError(
            f"{directory}: not a Winnow output directory: no Parquet files under documents/, rejected/ or duplicates/"
        )
    return found


def _clean(value: Any) -> Any:
    """JSON-safe scalar: NaN and infinities become None (the page shows them as missing)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _read_file(
    path: Path, expected: str, columns: Sequence[str] | None = None, exclude: Sequence[str] = ()
) -> tuple[pa.Table, pa.Schema]:
    """(the table's `columns` that exist, minus `exclude`; its full schema), checked as a Winnow `expected` table."""
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
        schemas.check_table_schema(schema, expected, str(path), required=("id",))
        names = [c for c in (columns if columns is not None else schema.names) if c in schema.names and c not in exclude]
        return pf.read(columns=names), schema
    except schemas.SchemaMismatch as exc:
        raise ReviewDataError(str(exc)) from None
    except (pa.ArrowException, OSError) as exc:
        raise ReviewDataError(f"{path}: not a readable Parquet file ({exc})") from None


def _records_of(path: Path, expected: str, verdict: str) -> tuple[list[Record], list[str], list[str]]:
    table, schema = _read_file(path, expected, exclude=("text",))
    sigs, scores = signal_columns(schema), score_columns(schema)
    has_text = "text" in schema.names
    records = []
    for row in table.to_pylist():
        if verdict == REJECTED:
            stage, reason = row.get("stage"), row.get("reason")
        elif verdict == DUPLICATE:
            stage, reason = DEDUP_STAGE, row.get("kind")
        else:
            stage = reason = None
        records.append(Record(
            id=str(row["id"]), verdict=verdict, stage=stage, reason=reason,
            fields={k: _clean(row[k]) for k in _SHOWN_FIELDS if k in row},
            signals={k: _clean(row[k]) for k in sigs},
            scores={k: _clean(row[k]) for k in scores},
            file=path, table=expected, has_text=has_text,
        ))
    return records, sigs, scores


def load_index(directory: Path) -> OutputIndex:
    """Every record of the output (no text), in file order."""
    found = check_output_dir(directory)
    records: list[Record] = []
    sigs: list[str] = []
    scores: list[str] = []
    for sub, expected, verdict in TABLES:
        for path in found.get(sub, []):
            recs, s, c = _records_of(path, expected, verdict)
            records.extend(recs)
            sigs.extend(x for x in s if x not in sigs)
            scores.extend(x for x in c if x not in scores)
    by_id: dict[str, Record] = {}
    for r in records:
        # dedup outputs keep every surviving document once; the first wins if a foreign file repeats one
        by_id.setdefault(r.id, r)
    return OutputIndex(directory, tuple(records), tuple(sigs), tuple(scores), by_id)


def load_texts(records: Iterable[Record]) -> dict[str, str | None]:
    """{id: text} for `records`, reading only their files and the id and text columns."""
    by_file: dict[tuple[Path, str], set[str]] = {}
    out: dict[str, str | None] = {}
    for r in records:
        if r.has_text:
            by_file.setdefault((r.file, r.table), set()).add(r.id)
        else:
            out[r.id] = None
    for (path, expected), ids in by_file.items():
        table, _ = _read_file(path, expected, ["id", "text"])
        table = table.filter(pc.is_in(table.column("id"), value_set=pa.array(sorted(ids), pa.string())))
        for row in table.to_pylist():
            out.setdefault(str(row["id"]), row["text"])
    return out
