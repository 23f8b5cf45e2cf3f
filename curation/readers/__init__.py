"""Readers for sources that are not web archives: JSONL, Parquet and plain text.

Every reader takes an open binary stream, the path it came from and a
`ReaderOptions`, and yields `TextRecord`s (one per document) or
`ReadFailure`s (a malformed line or row, or an unreadable rest of file). A
reader never raises for bad input: one bad line costs that line only, and the
rest of the file still counts. Every failure message starts with the file and
names the line or row.

`detect_format(path)` infers the format from the extension, so `winnow curate
--input` can mix archives, JSONL, Parquet and text without a flag.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from winnow.curation.archive import ReadFailure
from winnow.curation.readers.common import (
    FORMAT_JSONL,
    FORMAT_PARQUET,
    FORMAT_TEXT,
    FORMAT_WARC,
    FORMATS,
    ReaderOptions,
    detect_format,
)
from winnow.curation.readers.jsonl import iter_jsonl
from winnow.curation.readers.parquet import iter_parquet
from winnow.curation.readers.text import iter_text
from winnow.curation.types import TextRecord

_READERS = {FORMAT_JSONL: iter_jsonl, FORMAT_PARQUET: iter_parquet, FORMAT_TEXT: iter_text}


def iter_records(
    stream: BinaryIO, source: str, input_format: str, options: ReaderOptions = ReaderOptions()
) -> Iterator[TextRecord | ReadFailure]:
    """Dispatch to the reader for `input_format` (jsonl, parquet or text; archives use curation.archive)."""
    try:
        reader = _READERS[input_format]
    except KeyError:
        raise ValueError(
            f"{source}: no text reader for format {input_format!r}; expected one of {sorted(_READERS)}"
        ) from None
    return reader(stream, source, options)


__all__ = [
    "FORMAT_JSONL",
    "FORMAT_PARQUET",
    "FORMAT_TEXT",
    "FORMAT_WARC",
    "FORMATS",
    "ReaderOptions",
    "detect_format",
    "iter_jsonl",
    "iter_parquet",
    "iter_records",
    "iter_text",
]
