"""Every pyarrow schema Winnow writes or reads, declared once.

Each Parquet file carries `winnow.schema` (which table) and
`winnow.schema_version` in its schema metadata, so readers can tell a curated
file from a foreign one and refuse versions they do not understand.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import pyarrow as pa
from winnow.core.errors import InputError

# "2": the Gopher, C4 and FineWeb signals became DataTrove's numbers (tokens, denominators,
# new columns); version-1 signal columns mean something else, so readers refuse them.
SCHEMA_VERSION = "2"
META_SCHEMA = b"winnow.schema"
META_VERSION = b"winnow.schema_version"

DOCUMENTS = "documents"
REJECTED = "rejected"
ERRORS = "errors"
DUPLICATES = "duplicates"

# Signal kinds as declared by curation steps (curation never imports pyarrow types).
SIGNAL_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "str": pa.string(),
}

# Columns shared by every table that describes one input record.
IDENTITY_FIELDS: tuple[pa.Field, ...] = (
    pa.field("id", pa.string(), nullable=False),  # stable hash, see curation.ids
    pa.field("url", pa.string()),
    pa.field("domain", pa.string()),
    pa.field("warc_record_id", pa.string()),
    pa.field("warc_date", pa.string()),  # as written in the archive (ISO 8601 for WARC)
    pa.field("source", pa.string()),  # input file the record came from
    pa.field("source_name", pa.string()),  # the recipe's name for the input (web, books, ...); may be empty
)

# A JSON object of the source record's extra fields (JSONL fields, Parquet columns other than
# text, id, url and date: tags, scores, nested objects), kept as Dolma keeps attributes and
# DataTrove its `metadata` dict; null when the source had none (WARC, plain text). One string
# column, not a struct: sources disagree on fields and types from file to file and line to line.
# See curation.readers.metadata. Nullable and new in version 2 files: older ones simply lack it.
METADATA_FIELDS: tuple[pa.Field, ...] = (pa.field("metadata", pa.string()),)

TEXT_FIELDS: tuple[pa.Field, ...] = (
    pa.field("text", pa.string()),
    pa.field("language", pa.string()),
    pa.field("language_score", pa.float32()),
)

REJECTION_FIELDS: tuple[pa.Field, ...] = (
    pa.field("stage", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
    pa.field("detail", pa.string()),
)

ERROR_FIELDS: tuple[pa.Field, ...] = (
    pa.field("id", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("warc_record_id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("source_name", pa.string()),
    pa.field("stage", pa.string(), nullable=False),
    pa.field("error_type", pa.string(), nullable=False),
    pa.field("error_message", pa.string()),
    pa.field("traceback", pa.string()),
)

DEDUP_FIELDS: tuple[pa.Field, ...] = (
    pa.field("cluster_id", pa.string()),
    # Documents in this survivor's exact+near cluster (1: no duplicates), for rehydration.
    pa.field("minhash_cluster_size", pa.int64()),
)

DUPLICATE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("id", pa.string(), nullable=False),
    pa.field("url", pa.string()),
    pa.field("source", pa.string()),
    pa.field("kind", pa.string(), nullable=False),  # "exact" or "near"
    pa.field("cluster_id", pa.string(), nullable=False),
    pa.field("representative_id", pa.string(), nullable=False),
)

# Which columns are signals, for every reader (`winnow inspect`, `winnow report`):
# a signal is a column a curation step declares (StepSpec.signals); every column
# declared in this module's field groups is not. So `language_score` is not a
# signal: it is a TEXT_FIELDS column the language step fills for every document,
# shown with the languages rather than among the step signals. Dedup's
# `minhash_cluster_size` is named here too, whichever group it joins.
NON_SIGNAL_COLUMNS: frozenset[str] = frozenset(
    f.name
    for group in (IDENTITY_FIELDS, METADATA_FIELDS, TEXT_FIELDS, REJECTION_FIELDS, ERROR_FIELDS, DEDUP_FIELDS, DUPLICATE_FIELDS)
    for f in group
) | {"minhash_cluster_size", "mix_copy"}


def signal_fields_of(schema: pa.Schema) -> list[pa.Field]:
    """The signal columns of a table, in schema order: every field not in NON_SIGNAL_COLUMNS."""
    return [f for f in schema if f.name not in NON_SIGNAL_COLUMNS]


def signal_fields(signals: Iterable[tuple[str, str]]) -> list[pa.Field]:
    """pyarrow fields for `(column, kind)` pairs declared by curation steps."""
    fields = []
    for name, kind in signals:
        if kind not in SIGNAL_TYPES:
            raise ValueError(f"signal {name!r} has unknown kind {kind!r}; expected one of {sorted(SIGNAL_TYPES)}")
        fields.append(pa.field(name, SIGNAL_TYPES[kind]))
    return fields


def _with_meta(fields: Sequence[pa.Field], table: str) -> pa.Schema:
    names = [f.name for f in fields]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"duplicate column names in {table} schema: {duplicated}")
    return pa.schema(list(fields), metadata={META_SCHEMA: table.encode(), META_VERSION: SCHEMA_VERSION.encode()})


def document_schema(signals: Iterable[tuple[str, str]] = (), with_cluster: bool = False) -> pa.Schema:
    """Kept documents: identity, source metadata, text, language, then one column per signal."""
    extra = list(DEDUP_FIELDS) if with_cluster else []
    return _with_meta([*IDENTITY_FIELDS, *METADATA_FIELDS, *TEXT_FIELDS, *extra, *signal_fields(signals)], DOCUMENTS)


# `winnow mix` output: documents (so tokenize/train read it as any corpus) plus which copy a row is.
MIX_FIELDS: tuple[pa.Field, ...] = (
    pa.field("mix_copy", pa.int32(), nullable=False),  # 0 for a document's first copy in the mix, 1 for its second ...
)


def mix_document_schema(carried: Sequence[pa.Field] = ()) -> pa.Schema:
    """Mixed documents: identity, source metadata, text, language, the `carried` columns of the
    inputs (dedup's cluster columns, signals), then the mix copy number (a `documents` table)."""
    own = {f.name for f in (*IDENTITY_FIELDS, *METADATA_FIELDS, *TEXT_FIELDS, *MIX_FIELDS)}
    rest = [f for f in carried if f.name not in own]
    return _with_meta([*IDENTITY_FIELDS, *METADATA_FIELDS, *TEXT_FIELDS, *rest, *MIX_FIELDS], DOCUMENTS)


def rejected_schema(signals: Iterable[tuple[str, str]] = ()) -> pa.Schema:
    """Rejected records: the document columns (text may be null) plus stage, reason, detail."""
    return _with_meta([*IDENTITY_FIELDS, *METADATA_FIELDS, *REJECTION_FIELDS, *TEXT_FIELDS, *signal_fields(signals)], REJECTED)


def error_schema() -> pa.Schema:
    """Records whose processing raised: identity plus the exception."""
    return _with_meta(list(ERROR_FIELDS), ERRORS)


def duplicates_schema() -> pa.Schema:
    """Every document removed by dedup, with its cluster and surviving representative."""
    return _with_meta(list(DUPLICATE_FIELDS), DUPLICATES)


REVIEW_LABELS = "review_labels"
REVIEW_VOTES = "review_votes"

# One row per human label (`winnow review`); `time` is when it was given, in UTC.
REVIEW_LABEL_FIELDS: tuple[pa.Field, ...] = (
    pa.field("id", pa.string(), nullable=False),
    pa.field("label", pa.string(), nullable=False),  # good, bad or skip
    pa.field("reviewer", pa.string(), nullable=False),
    pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("note", pa.string()),
    pa.field("stratum", pa.string()),  # the sample stratum it was drawn from; null for imported labels
)

# One row per blind side-by-side vote (`winnow review compare`); vote is a, b or tie
# where a and b are the first and second --run, whichever side each was shown on.
REVIEW_VOTE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("id", pa.string(), nullable=False),  # the item: prompt index and sample
    pa.field("vote", pa.string(), nullable=False),
    pa.field("reviewer", pa.string(), nullable=False),
    pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("note", pa.string()),
    pa.field("stratum", pa.string()),
    pa.field("run_a", pa.string(), nullable=False),
    pa.field("run_b", pa.string(), nullable=False),
    pa.field("prompt", pa.string()),
    pa.field("left", pa.string(), nullable=False),  # which run was shown on the left: a or b
)


def review_labels_schema() -> pa.Schema:
    """Human review labels, one row per label."""
    return _with_meta(list(REVIEW_LABEL_FIELDS), REVIEW_LABELS)


def review_votes_schema() -> pa.Schema:
    """Blind model-comparison votes, one row per vote."""
    return _with_meta(list(REVIEW_VOTE_FIELDS), REVIEW_VOTES)


class SchemaMismatch(InputError):
    """A Parquet file is not a Winnow table of the expected kind or version."""


def check_table_schema(schema: pa.Schema, expected_table: str, path: str, required: Sequence[str] = ()) -> None:
    """Raise SchemaMismatch naming `path` when `schema` is not a readable Winnow `expected_table`.

    Files without Winnow metadata are accepted when they have the `required`
    columns, so users can feed Parquet written by other tools.
    """
    meta = schema.metadata or {}
    table = meta.get(META_SCHEMA)
    version = meta.get(META_VERSION)
    if table is not None and table.decode() != expected_table:
        raise SchemaMismatch(f"{path}: is a Winnow {table.decode()!r} table, expected {expected_table!r}")
    if version is not None and version.decode() != SCHEMA_VERSION:
        raise SchemaMismatch(
            f"{path}: schema version {version.decode()} is not supported (this Winnow reads version {SCHEMA_VERSION})"
        )
    missing = [c for c in required if c not in schema.names]
    if missing:
        raise SchemaMismatch(f"{path}: missing required column(s) {missing}; found {schema.names}")
    for name in required:
        if name in ("text", "id", "url") and not pa.types.is_string(schema.field(name).type) and not pa.types.is_large_string(schema.field(name).type):
            raise SchemaMismatch(f"{path}: column {name!r} has type {schema.field(name).type}, expected string")
