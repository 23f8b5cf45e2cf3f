"""JSON Lines (`.jsonl`, `.jsonl.gz`, `.jsonl.zst`): one JSON object per line, one document each."""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
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
    ERROR_RECORD_TOO_LARGE,
    ERROR_UNDECODABLE,
    ReaderOptions,
    clean_text,
    failure,
    field_problem,
    numbered_lines,
    optional_str,
)
from winnow.curation.readers.metadata import MetadataError, encode_metadata, metadata_fields
from winnow.curation.types import TextRecord


def iter_jsonl(
    stream: BinaryIO, source: str, options: ReaderOptions = ReaderOptions(), first_line: int = 1, whole_file: bool = True
) -> Iterator[TextRecord | ReadFailure]:
    """One TextRecord per non-blank line; a bad line is a ReadFailure naming it, and reading goes on.

    A line longer than `options.max_record_bytes` is a ReadFailure and is
    never held whole. A decompression error, truncation or read error ends the
    file with one ReadFailure for the rest of it (a compressed stream cannot
    be resumed mid-frame). A file without records is one EmptyFile failure;
    with `whole_file` False the stream is one range of a file (line_ranges.py),
    numbered from `first_line`, and an empty range is no failure.
    """
    count = 0
    for line in numbered_lines(stream, source, options.max_record_bytes, first_line):
        if isinstance(line, ReadFailure):
            count += 1
            yield line
            continue
        item = _parse_line(line[1], line[0], source, options)
        del line  # the raw line is not kept while the record is curated downstream
        if item is not None:  # blank lines are not records
            count += 1
            yield item
    if count == 0 and whole_file:
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
    except RecursionError:
        return failure(source, position, ERROR_MALFORMED_JSON, "JSON nested too deeply to parse")
    except ValueError as exc:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        return failure(source, position, ERROR_MALFORMED_JSON, f"unparsable JSON value: {exc}")
    if not isinstance(row, dict):
        return failure(source, position, ERROR_BAD_VALUE, f"expected a JSON object, got {type(row).__name__}")
    try:
        return record_from_mapping(row, source, position, options)
    except (RecursionError, ValueError) as exc:  # str() of a deeply nested or huge id/url/date value
        return failure(source, position, ERROR_BAD_VALUE, f"a field cannot be turned into text: {type(exc).__name__}")


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
    id_field = options.id_column or DEFAULT_ID_COLUMN
    fields = (
        (id_field, optional_str(row.get(id_field))),
        (options.url_column or DEFAULT_URL_COLUMN, url),
        (DEFAULT_DATE_COLUMN, optional_str(row.get(DEFAULT_DATE_COLUMN))),
    )
    extra = metadata_fields(row, options.used_fields, options.metadata_columns)
    return checked_record(text, fields, source, position, options, extra)


UTF8_LENGTH_CHUNK = 1 << 20


def utf8_length(text: str, limit: int) -> int:
    """Bytes of `text` in UTF-8 (lone surrogates as 3), counted in 1 Mi-character pieces, never
    encoding the whole text at once; stops once past `limit`."""
    if len(text) > limit:
        return len(text)  # every character takes at least one byte
    total = 0
    for start in range(0, len(text), UTF8_LENGTH_CHUNK):
        total += len(text[start:start + UTF8_LENGTH_CHUNK].encode("utf-8", "surrogatepass"))
        if total > limit:
            break
    return total


def checked_record(
    text: str, fields: tuple[tuple[str, str], ...], source: str, position: str, options: ReaderOptions,
    extra: Mapping[str, Any] | None = None,
) -> TextRecord | ReadFailure:
    """The TextRecord of a text, its (name, value) id, url and date fields, in that order, and
    the `extra` fields kept as its metadata.

    Text is cleaned (NULs dropped, lone surrogates replaced); an id, url or
    date that cannot be stored exactly makes the record a ReadFailure, and so
    do a text over the record size limit and metadata that cannot be encoded.
    """
    (_, doc_id), (_, url), (_, date) = fields
    for name, value in fields:
        problem = field_problem(value)
        if problem is not None:
            return failure(source, position, ERROR_BAD_VALUE, f"field {name!r} {problem}", url)
    if len(text) > options.max_record_bytes // 4 and utf8_length(text, options.max_record_bytes) > options.max_record_bytes:
        return failure(source, position, ERROR_RECORD_TOO_LARGE, f"text is over the record size limit of {options.max_record_bytes} bytes (--max-record-bytes)", url)
    try:
        metadata = encode_metadata(extra or {})
    except MetadataError as exc:
        return failure(source, position, ERROR_BAD_VALUE, str(exc), url)
    return TextRecord(
        text=clean_text(text), source=source, position=position, id=doc_id, url=url, date=date,
        is_html=False, source_name=options.source_name, metadata=metadata,
    )
