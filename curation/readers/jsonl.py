"""JSON Lines (`.jsonl`, `.jsonl.gz`, `.jsonl.zst`): one JSON object per line, one document each."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from winnow.curation.archive import ReadFailure
from winnow.curation.readers.common import (
    DEFAULT_DATE_COLUMN,
    DEFAULT_ID_COLUMN,
    DEFAULT_URL_COLUMN,
    ERROR_BAD_VALUE,
    ERROR_EMPTY_FILE,
    ERROR_MALFORMED_JSON,
    ERROR_MISSING_FIELD,
    ERROR_UNDECODABLE,
    ReaderOptions,
    failure,
    numbered_lines,
    optional_str,
)
from winnow.curation.types import TextRecord


def iter_jsonl(stream: BinaryIO, source: str, options: ReaderOptions = ReaderOptions()) -> Iterator[TextRecord | ReadFailure]:
    """One TextRecord per non-blank line; a bad line is a ReadFailure naming it, and reading goes on.

    A decompression error or a read error ends the file with one ReadFailure
    for the rest of it (a compressed stream cannot be resumed mid-frame).
    """
    count = 0
    for line in numbered_lines(stream, source):
        if isinstance(line, ReadFailure):
            yield line
            return
        item = _parse_line(line[1], line[0], source, options)
        if item is not None:  # blank lines are not records
            count += 1
            yield item
    if count == 0:
        yield failure(source, "", ERROR_EMPTY_FILE, "no JSON records in the file")


def _parse_line(raw: bytes, number: int, source: str, options: ReaderOptions) -> TextRecord | ReadFailure | None:
    """The record of one line, a ReadFailure for a bad one, None for a blank one."""
    position = f"line {number}"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return failure(source, position, ERROR_UNDECODABLE, f"not UTF-8: {exc}")
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return failure(source, position, ERROR_MALFORMED_JSON, f"not valid JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(row, dict):
        return failure(source, position, ERROR_BAD_VALUE, f"expected a JSON object, got {type(row).__name__}")
    return record_from_mapping(row, source, position, options)


def record_from_mapping(row: dict[str, Any], source: str, position: str, options: ReaderOptions) -> TextRecord | ReadFailure:
    """A TextRecord from one row's fields; the text field must be a string, named columns must exist."""
    field = options.text_field
    url = optional_str(row.get(options.url_column or DEFAULT_URL_COLUMN))
    if field not in row:
        return failure(source, position, ERROR_MISSING_FIELD, f"no field {field!r} (fields: {', '.join(sorted(map(str, row)))})", url)
    text = row[field]
    if not isinstance(text, str):
        return failure(source, position, ERROR_BAD_VALUE, f"field {field!r} must be a string, got {type(text).__name__}", url)
    for named in (options.id_column, options.url_column):
        if named is not None and named not in row:
            return failure(source, position, ERROR_MISSING_FIELD, f"no field {named!r}", url)
    return TextRecord(
        text=text,
        source=source,
        position=position,
        id=optional_str(row.get(options.id_column or DEFAULT_ID_COLUMN)),
        url=url,
        date=optional_str(row.get(DEFAULT_DATE_COLUMN)),
        is_html=False,
        source_name=options.source_name,
    )
