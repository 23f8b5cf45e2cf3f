"""Parquet of any schema (Hugging Face dataset shards, FineWeb, our own documents/).

The text, id, url and date columns are read, and the columns kept as
metadata (by default every other column; `--keep-columns` narrows them,
`--drop-metadata` reads none), one row group at a time, in record batches. Row numbers in
messages are 1-based within the file.

One bad value costs one row: string columns are read as bytes and decoded
per value, so invalid UTF-8 in one row is an error row for that row alone.
Memory is bounded by the record size limit: a row group with a page larger
than 4 times the limit (one giant value) is skipped as one error row before
anything is inflated (`parquet_pages`); batches are sized, and converted to
Python in slices, so that at most about one limit's worth of values is held;
a row over the limit is an error row without being converted, and
dictionary-encoded columns stay encoded. A corrupt row group costs that
group only.

A large file can be read as several runs of row groups (`plan_row_group_ranges`),
so that one file reaches every worker: each run knows its rows' whole-file
numbers from the footer, and only the run that starts at the first group reports
what is wrong with the file as a whole (unreadable, a missing column, no rows).
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from winnow.curation.archive import ReadFailure
from winnow.curation.readers.common import (
    DEFAULT_DATE_COLUMN,
    DEFAULT_ID_COLUMN,
    DEFAULT_URL_COLUMN,
    ERROR_BAD_VALUE,
    ERROR_EMPTY_FILE,
    ERROR_MISSING_COLUMN,
    ERROR_RECORD_TOO_LARGE,
    ERROR_UNDECODABLE,
    ERROR_UNREADABLE,
    ReaderOptions,
    failure,
    optional_str,
)
from winnow.curation.readers.jsonl import checked_record
from winnow.curation.readers.parquet_pages import PageHeaderError, largest_page
from winnow.curation.types import TextRecord

BATCH_ROWS = 1024
# A page is inflated whole, whatever batch size is asked for. Writers flush a
# page after a batch of values (pyarrow: 1,024), so a page of many large
# documents can pass the record size limit legitimately; a page over this
# many times the limit (256 MB by default) is refused as a bomb.
PAGE_LIMIT_FACTOR = 4
_SPOOL_IN_MEMORY_BYTES = 16 * 1024 * 1024
META_PREFIX = "meta:"  # keys of metadata columns among the columns read (text, id, url and date are the others)


class _BadValue:
    """A value that could not be converted; its row becomes a ReadFailure."""

    def __init__(self, error_type: str, message: str):
        self.error_type, self.message = error_type, message


def iter_parquet(
    stream: BinaryIO, source: str, options: ReaderOptions = ReaderOptions(), row_groups: range | None = None
) -> Iterator[TextRecord | ReadFailure]:
    """One TextRecord per row; a null, non-string or undecodable value is a ReadFailure for that row.

    `row_groups`: read only these row groups (a range from `plan_row_group_ranges`); None reads them all.
    Rows keep their whole-file numbers either way.
    """
    import pyarrow.parquet as pq

    # What is wrong with the whole file is said once: by the read of its first row group.
    says_file_failures = row_groups is None or row_groups.start == 0
    try:
        if not stream.seekable():  # Parquet's footer is at the end: spool pipes to a temporary file
            stream = _spooled(stream)
        parquet = pq.ParquetFile(stream)
    except Exception as exc:
        if says_file_failures:
            yield failure(source, "", ERROR_UNREADABLE, f"not a readable Parquet file: {type(exc).__name__}: {exc}")
        return
    names = list(parquet.schema_arrow.names)
    columns, missing = _columns(names, options)
    if missing:
        if says_file_failures:
            yield failure(
                source, "", ERROR_MISSING_COLUMN,
                f"no column {missing!r} (columns: {', '.join(sorted(names))}); "
                "choose one with --text-column/--id-column/--url-column/--keep-columns",
            )
        return
    if parquet.metadata.num_rows == 0:
        if says_file_failures:
            yield failure(source, "", ERROR_EMPTY_FILE, "the Parquet file has no rows")
        return
    groups = range(parquet.metadata.num_row_groups)
    wanted = groups if row_groups is None else groups[row_groups.start : row_groups.stop]
    first_row = 1 + sum(parquet.metadata.row_group(group).num_rows for group in range(wanted.start))
    for group in wanted:
        rows = parquet.metadata.row_group(group).num_rows
        yield from _iter_group(parquet, stream, group, first_row, columns, source, options)
        first_row += rows


def plan_row_group_ranges(stream: BinaryIO, split_bytes: int) -> list[range]:
    """Runs of consecutive row groups holding about `split_bytes` of data each; [] to read the file whole.

    Sizes are the row groups' uncompressed bytes (the reading and the curation work
    follow them); a row group is never divided. A file with one run, or whose
    footer cannot be read (the whole-file read then says why), is read whole.
    """
    import pyarrow.parquet as pq

    if split_bytes <= 0:
        raise ValueError(f"split_bytes must be positive, got {split_bytes}")
    try:
        metadata = pq.ParquetFile(stream).metadata
        sizes = [metadata.row_group(group).total_byte_size for group in range(metadata.num_row_groups)]
    except Exception:  # noqa: BLE001 - the whole-file read reports an unreadable file
        return []
    runs, start, held = [], 0, 0
    for group, size in enumerate(sizes):
        if held and held + size > split_bytes:
            runs.append(range(start, group))
            start, held = group, 0
        held += size
    runs.append(range(start, len(sizes)))
    return runs if len(runs) > 1 else []


def _spooled(stream: BinaryIO) -> BinaryIO:
    copy = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)
    shutil.copyfileobj(stream, copy, 1024 * 1024)
    copy.seek(0)
    return copy  # type: ignore[return-value]


def _iter_group(parquet, stream, group, first_row, columns, source, options) -> Iterator[TextRecord | ReadFailure]:
    """The rows of one row group; a group that cannot be read in bounded memory, or at all, is one failure."""
    meta = parquet.metadata.row_group(group)
    last_row = first_row + meta.num_rows - 1
    where = f"rows {first_row}-{last_row} (row group {group + 1})"
    try:
        chunks = _column_chunks(parquet, group, set(columns.values()))
    except Exception as exc:  # a damaged footer: a column path that is not UTF-8, say
        yield failure(source, where, ERROR_UNREADABLE, f"row group unreadable: {type(exc).__name__}: {exc}")
        return
    try:
        oversized = _oversized_page(stream, chunks, PAGE_LIMIT_FACTOR * options.max_record_bytes)
    except (PageHeaderError, OSError):
        oversized = None  # headers this walk cannot follow: let pyarrow read the group, and judge it
    if oversized is not None:
        name, size = oversized
        yield failure(
            source, where, ERROR_RECORD_TOO_LARGE,
            f"column {name!r} has a page of {size} bytes, over {PAGE_LIMIT_FACTOR} times the record size limit of "
            f"{options.max_record_bytes} bytes (--max-record-bytes); row group skipped",
        )
        return
    # A dictionary-encoded column is read as a DictionaryArray: expanded, a small page of one huge
    # value repeated in every row would cost rows x value bytes.
    reader = _dictionary_reader(parquet, stream, chunks) or parquet
    row = first_row - 1
    try:
        for batch in reader.iter_batches(
            batch_size=_batch_rows(chunks, meta.num_rows, options.max_record_bytes),
            row_groups=[group], columns=sorted(set(columns.values())),
        ):
            arrays = {key: batch.column(name) for key, name in columns.items()}
            for start, stop, too_big in _slices(_row_bytes(list(arrays.values()), batch.num_rows), options.max_record_bytes):
                if too_big:  # one row over the limit: never converted to Python
                    row += 1
                    yield failure(
                        source, f"row {row}", ERROR_RECORD_TOO_LARGE,
                        f"values of {too_big} bytes, over the record size limit of {options.max_record_bytes} bytes (--max-record-bytes)",
                    )
                    continue
                values = {key: _values(array.slice(start, stop - start)) for key, array in arrays.items()}
                for i in range(stop - start):
                    row += 1
                    yield _record(values, i, row, source, options)
    except Exception as exc:  # a corrupt page: the rest of this row group cannot be located
        rest = f"rows {row + 1}-{last_row} (row group {group + 1})"
        yield failure(source, rest, ERROR_UNREADABLE, f"rest of row group unreadable: {type(exc).__name__}: {exc}")


def _dictionary_reader(parquet, stream, chunks):
    """A ParquetFile reading the dictionary-encoded byte-array columns of these chunks as dictionaries, or None."""
    import pyarrow.parquet as pq

    # Top-level columns only: pyarrow names nested leaves by other paths (a map's `m.key_value.key`).
    names = sorted({
        name for name, chunk in chunks
        if chunk.has_dictionary_page and chunk.physical_type == "BYTE_ARRAY" and chunk.path_in_schema == name
    })
    if not names:
        return None
    return pq.ParquetFile(stream, metadata=parquet.metadata, read_dictionary=names)


def _row_bytes(arrays: list[Any], rows: int) -> list[int]:
    """Bytes of the string and binary values of each row (dictionary values counted where used)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    total = pa.array([0] * rows, pa.int64())
    for array in arrays:
        kind = array.type
        if pa.types.is_dictionary(kind):
            if not _is_bytes_type(kind.value_type):
                continue
            lengths = pc.take(pc.binary_length(array.dictionary), array.indices)
        elif _is_bytes_type(kind):
            lengths = pc.binary_length(array)
        else:
            continue
        total = pc.add(total, pc.fill_null(lengths.cast(pa.int64()), 0))
    return total.to_pylist()


def _is_bytes_type(kind: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


def _slices(sizes: list[int], limit: int) -> Iterator[tuple[int, int, int]]:
    """(start, stop, 0) for runs of rows holding at most `limit` bytes together, and
    (row, row + 1, bytes) for a single row over the limit."""
    start, held = 0, 0
    for i, size in enumerate(sizes):
        if size > limit:
            if start < i:
                yield start, i, 0
            yield i, i + 1, size
            start, held = i + 1, 0
        elif held + size > limit:
            yield start, i, 0
            start, held = i, size
        else:
            held += size
    if start < len(sizes):
        yield start, len(sizes), 0


def _column_chunks(parquet, group: int, wanted: set[str]) -> list[tuple[str, Any]]:
    """(column name, column chunk metadata) of the columns read, by top-level name."""
    meta = parquet.metadata.row_group(group)
    chunks = []
    for index in range(meta.num_columns):
        chunk = meta.column(index)
        name = chunk.path_in_schema.split(".", 1)[0]
        if name in wanted:
            chunks.append((name, chunk))
    return chunks


def _oversized_page(stream: BinaryIO, chunks: list[tuple[str, Any]], limit: int) -> tuple[str, int] | None:
    """(column, page size) of the first page over `limit`; only chunks over it in total are walked."""
    for name, chunk in chunks:
        if chunk.total_uncompressed_size <= limit:
            continue
        start = chunk.data_page_offset
        if chunk.has_dictionary_page and chunk.dictionary_page_offset:
            start = min(start, chunk.dictionary_page_offset)
        size = largest_page(stream, start, chunk.num_values)
        if size > limit:
            return name, size
    return None


def _batch_rows(chunks: list[tuple[str, Any]], rows: int, limit: int) -> int:
    """Rows per batch so that a batch holds about `limit` bytes of the columns read."""
    per_row = sum(chunk.total_uncompressed_size for _, chunk in chunks) / max(rows, 1)
    return max(1, min(BATCH_ROWS, int(limit // max(per_row, 1.0))))


def _values(array: Any) -> list[Any]:
    """Python values of one column of a batch. Strings are read as bytes and decoded one by one,
    so one invalid UTF-8 value costs its row, not the batch; a value that does not convert is a _BadValue."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_dictionary(kind):
        dictionary = _values(array.dictionary)
        return [None if index is None else dictionary[index] for index in array.indices.to_pylist()]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        raw = array.cast(pa.large_binary() if pa.types.is_large_string(kind) else pa.binary())
        return [None if value is None else _decode(value) for value in raw.to_pylist()]
    try:
        return array.to_pylist()
    except Exception:  # e.g. a timestamp outside Python's range: convert one by one
        return [_scalar(array, i) for i in range(len(array))]


def _decode(value: bytes) -> str | _BadValue:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _BadValue(ERROR_UNDECODABLE, f"not valid UTF-8: {exc}")


def _scalar(array: Any, i: int) -> Any:
    try:
        return array[i].as_py()
    except Exception as exc:
        return _BadValue(ERROR_BAD_VALUE, f"value cannot be converted: {type(exc).__name__}: {exc}")


def _columns(names: list[str], options: ReaderOptions) -> tuple[dict[str, str], str | None]:
    """key -> column to read, and the first named column that is missing (or None).

    Keys are text, id, url, date, and `META_PREFIX + column` for each column kept as
    metadata (every other column, in file order, unless `options.metadata_columns` names them)."""
    columns = {"text": options.text_field}
    for key, named, default in (
        ("id", options.id_column, DEFAULT_ID_COLUMN),
        ("url", options.url_column, DEFAULT_URL_COLUMN),
        ("date", None, DEFAULT_DATE_COLUMN),
    ):
        if named is not None:
            columns[key] = named
        elif default in names:
            columns[key] = default
    used = set(options.used_fields)
    kept = [n for n in names if n not in used] if options.metadata_columns is None else options.metadata_columns
    columns.update({META_PREFIX + name: name for name in kept})
    for name in columns.values():
        if name not in names:
            return columns, name
    return columns, None


def _record(values: dict[str, list], i: int, row: int, source: str, options: ReaderOptions) -> TextRecord | ReadFailure:
    position = f"row {row}"
    names = {"text": options.text_field, "id": options.id_column or DEFAULT_ID_COLUMN,
             "url": options.url_column or DEFAULT_URL_COLUMN, "date": DEFAULT_DATE_COLUMN}
    for key, column in values.items():
        if isinstance(column[i], _BadValue):
            name = names.get(key) or key[len(META_PREFIX):]
            return failure(source, position, column[i].error_type, f"column {name!r}: {column[i].message}")
    try:
        fields = {key: optional_str(values[key][i]) if key in values else "" for key in ("id", "url", "date")}
    except (ValueError, RecursionError) as exc:  # str() of a huge or deeply nested value
        return failure(source, position, ERROR_BAD_VALUE, f"a field cannot be turned into text: {type(exc).__name__}")
    text = values["text"][i]
    if not isinstance(text, str):
        what = "null" if text is None else type(text).__name__
        return failure(source, position, ERROR_BAD_VALUE, f"column {options.text_field!r} must be a string, got {what}", fields["url"])
    extra = {key[len(META_PREFIX):]: column[i] for key, column in values.items() if key.startswith(META_PREFIX)}
    return checked_record(text, tuple((names[key], fields[key]) for key in ("id", "url", "date")), source, position, options, extra)
