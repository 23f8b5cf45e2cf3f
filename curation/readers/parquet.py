"""Parquet of any schema (Hugging Face dataset shards, FineWeb, our own documents/).

Only the text, id, url and date columns are read, in record batches, so a
wide file costs the columns used. Row numbers in messages are 1-based within
the file.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

from winnow.curation.archive import ReadFailure
from winnow.curation.readers.common import (
    DEFAULT_DATE_COLUMN,
    DEFAULT_ID_COLUMN,
    DEFAULT_URL_COLUMN,
    ERROR_BAD_VALUE,
    ERROR_EMPTY_FILE,
    ERROR_MISSING_COLUMN,
    ERROR_UNREADABLE,
    ReaderOptions,
    failure,
    optional_str,
)
from winnow.curation.types import TextRecord

BATCH_ROWS = 1024


def iter_parquet(stream: BinaryIO, source: str, options: ReaderOptions = ReaderOptions()) -> Iterator[TextRecord | ReadFailure]:
    """One TextRecord per row; a null or non-string text is a ReadFailure for that row."""
    import pyarrow.parquet as pq

    try:
        if not stream.seekable():  # Parquet's footer is at the end: buffer pipes and non-seekable streams
            stream = io.BytesIO(stream.read())
        parquet = pq.ParquetFile(stream)
    except Exception as exc:
        yield failure(source, "", ERROR_UNREADABLE, f"not a readable Parquet file: {type(exc).__name__}: {exc}")
        return
    names = set(parquet.schema_arrow.names)
    columns, missing = _columns(names, options)
    if missing:
        yield failure(
            source, "", ERROR_MISSING_COLUMN,
            f"no column {missing!r} (columns: {', '.join(sorted(names))}); choose one with --text-column/--id-column/--url-column",
        )
        return
    if parquet.metadata.num_rows == 0:
        yield failure(source, "", ERROR_EMPTY_FILE, "the Parquet file has no rows")
        return
    row = 0
    try:
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=sorted(set(columns.values()))):
            values = {key: batch.column(name).to_pylist() for key, name in columns.items()}
            for i in range(batch.num_rows):
                row += 1
                yield _record(values, i, row, source, options)
    except Exception as exc:  # a corrupt page: what follows in the file cannot be located
        yield failure(source, f"after row {row}", ERROR_UNREADABLE, f"rest of file unreadable: {type(exc).__name__}: {exc}")


def _columns(names: set[str], options: ReaderOptions) -> tuple[dict[str, str], str | None]:
    """key -> column to read, and the first named column that is missing (or None)."""
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
    for name in columns.values():
        if name not in names:
            return columns, name
    return columns, None


def _record(values: dict[str, list], i: int, row: int, source: str, options: ReaderOptions) -> TextRecord | ReadFailure:
    position = f"row {row}"
    url = optional_str(values["url"][i]) if "url" in values else ""
    text = values["text"][i]
    if not isinstance(text, str):
        what = "null" if text is None else type(text).__name__
        return failure(source, position, ERROR_BAD_VALUE, f"column {options.text_field!r} must be a string, got {what}", url)
    return TextRecord(
        text=text,
        source=source,
        position=position,
        id=optional_str(values["id"][i]) if "id" in values else "",
        url=url,
        date=optional_str(values["date"][i]) if "date" in values else "",
        is_html=False,
        source_name=options.source_name,
    )
