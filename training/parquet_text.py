"""Stream documents out of curated Parquet without loading a corpus into memory.

Used by the tokenizer trainer, `winnow tokenize` and `winnow evaluate --text`.
Every error names the file it is about, so a bad shard among hundreds is easy
to find.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from winnow.schemas import DOCUMENTS, SchemaMismatch, check_table_schema
# One resolver for every command that reads Parquet (local and remote): callers import
# `resolve_parquet_inputs` from winnow.schemas.inputs.
from winnow.schemas.inputs import ParquetDataError, ParquetInputError, open_input_file  # noqa: F401 - callers catch ParquetInputError from here
from winnow.training.config import DEFAULT_BATCH_ROWS  # TokenizerConfig's default too

DEFAULT_COLUMNS = ("id", "text")


@dataclass(frozen=True)
class TextBatch:
    """One record batch of one file, restricted to the requested columns."""

    path: str
    batch: pa.RecordBatch

    @property
    def num_rows(self) -> int:
        return self.batch.num_rows

    def column(self, name: str) -> pa.Array:
        """The column as an Arrow array, like `RecordBatch.column`."""
        return self.batch.column(name)

    def pylist(self, name: str) -> list:
        """The column as Python values (None for nulls)."""
        return self.batch.column(name).to_pylist()


def open_parquet(path: str, columns: Sequence[str] = DEFAULT_COLUMNS, table: str = DOCUMENTS) -> pq.ParquetFile:
    """Open `path` and check it has the string `columns`; errors name the file."""
    try:
        parquet = pq.ParquetFile(open_input_file(path) if "://" in path else path)
    except (pa.ArrowException, OSError) as exc:
        raise ParquetDataError(f"{path}: not a readable Parquet file: {exc}") from exc
    try:
        check_table_schema(parquet.schema_arrow, table, path, required=tuple(columns))
    except SchemaMismatch as exc:
        raise ParquetDataError(str(exc)) from exc
    return parquet


def check_parquet_inputs(paths: Iterable[str], columns: Sequence[str] = DEFAULT_COLUMNS, table: str = DOCUMENTS) -> dict[str, int]:
    """Validate every file's footer and columns up front; returns rows per file.

    Reading only footers is cheap, and failing before any work starts beats
    failing an hour into a run on the last shard.
    """
    rows = {}
    for path in paths:
        rows[path] = open_parquet(path, columns, table).metadata.num_rows
    return rows


def iter_text_batches(
    paths: Iterable[str],
    columns: Sequence[str] = DEFAULT_COLUMNS,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    table: str = DOCUMENTS,
) -> Iterator[TextBatch]:
    """Yield record batches of at most `batch_rows` rows, file by file, in the given order.

    Only the requested columns are read. A file that turns out to be corrupt
    part-way raises ParquetInputError naming it.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    for path in paths:
        parquet = open_parquet(path, columns, table)
        try:
            # One thread per reader: callers parallelise over files themselves.
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=list(columns), use_threads=False):
                yield TextBatch(path, batch)
        except (pa.ArrowException, OSError) as exc:
            raise ParquetDataError(f"{path}: corrupt Parquet data: {exc}") from exc
        finally:
            parquet.close()


def iter_texts(paths: Iterable[str], batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[str]:
    """Every non-null `text` value, in file order (for callers that need no ids)."""
    for batch in iter_text_batches(paths, columns=("text",), batch_rows=batch_rows):
        yield from (t for t in batch.pylist("text") if t is not None)


# --- Which documents go where -------------------------------------------------
# Decisions hash the document id, never its position, so they do not change
# when inputs are re-ordered, re-sharded or extended with more data.

SPLIT_BUCKETS = 1_000_000
SPLIT_RULE = "xxh3_64(id) % 1000000 < val_fraction * 1000000"


def is_blank(text: str | None) -> bool:
    """Null, empty and whitespace-only documents carry nothing to learn or encode."""
    # isspace() is False for "", and unlike strip() it never copies the text.
    return not text or text.isspace()


def require_id(doc_id: str | None, path: str) -> str:
    if doc_id is None:
        raise ParquetDataError(f"{path}: a document has a null id; ids decide the train/validation split")
    return doc_id


def split_bucket(doc_id: str) -> int:
    """The document's bucket in [0, SPLIT_BUCKETS) under SPLIT_RULE."""
    return xxhash.xxh3_64_intdigest(doc_id.encode("utf-8", "surrogatepass")) % SPLIT_BUCKETS


def in_validation(doc_id: str, val_fraction: float) -> bool:
    """True when SPLIT_RULE puts the document in the validation split."""
    return split_bucket(doc_id) < val_fraction * SPLIT_BUCKETS


def sample_key(doc_id: str, seed: int = 0) -> int:
    """A uniform 64-bit key per (document, seed), independent of the split hash."""
    return xxhash.xxh3_64_intdigest(doc_id.encode("utf-8", "surrogatepass"), seed=seed + 1)
