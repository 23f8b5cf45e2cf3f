"""Plain text: one document per file (books, articles) or one per non-blank line.

Whole files are decoded as UTF-8, falling back to charset detection (older
book dumps are often Latin-1 or cp1252); lines must be UTF-8, since guessing
an encoding per line is unreliable.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from winnow.curation.archive import ReadFailure
from winnow.curation.readers.common import (
    ERROR_EMPTY_FILE,
    ERROR_TOO_LARGE,
    ERROR_TRUNCATED,
    ERROR_UNDECODABLE,
    ERROR_UNREADABLE,
    TEXT_FORMAT_LINES,
    ReaderOptions,
    clean_text,
    decompressed,
    failure,
    numbered_lines,
)
from winnow.curation.types import TextRecord


def iter_text(
    stream: BinaryIO, source: str, options: ReaderOptions = ReaderOptions(), first_line: int = 1, whole_file: bool = True
) -> Iterator[TextRecord | ReadFailure]:
    """Records of one text file, in `options.text_format` (file or lines).

    In lines format, `whole_file` False means the stream is one range of a file
    (line_ranges.py) whose lines are numbered from `first_line`; an empty range is no failure.
    """
    if options.text_format == TEXT_FORMAT_LINES:
        yield from _iter_lines(stream, source, options, first_line, whole_file)
        return
    if not whole_file:
        raise ValueError(f"{source}: only --text-format lines can be read in ranges")
    limit = options.max_record_bytes
    try:
        # Read at most one byte past the limit: a bomb costs `limit` bytes, not its inflated size.
        data = decompressed(stream, source).read(limit + 1)
    except EOFError as exc:  # gzip's and zstd's truncation: never a silently short book
        yield failure(source, "", ERROR_TRUNCATED, f"file is truncated: {exc}")
        return
    except Exception as exc:  # corrupt compression or I/O error
        yield failure(source, "", ERROR_UNREADABLE, f"cannot read: {type(exc).__name__}: {exc}")
        return
    if len(data) > limit:
        yield failure(source, "", ERROR_TOO_LARGE, f"larger than the record size limit of {limit} bytes (--max-record-bytes); split it or use --text-format lines")
        return
    text = decode_text(data)
    if text is None:
        yield failure(source, "", ERROR_UNDECODABLE, "not UTF-8 and no text encoding could be detected")
        return
    text = clean_text(text)
    if not text.strip():
        yield failure(source, "", ERROR_EMPTY_FILE, "the file has no text")
        return
    yield TextRecord(text=text, source=source, position="", source_name=options.source_name)


def _iter_lines(
    stream: BinaryIO, source: str, options: ReaderOptions, first_line: int, whole_file: bool
) -> Iterator[TextRecord | ReadFailure]:
    count = 0
    for line in numbered_lines(stream, source, options.max_record_bytes, first_line):
        if isinstance(line, ReadFailure):
            count += 1
            yield line
            continue
        number, raw = line
        del line
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            count += 1
            yield failure(source, f"line {number}", ERROR_UNDECODABLE, f"not UTF-8: {exc}")
            continue
        del raw  # neither the raw line nor its decoded copy is kept while the record is curated downstream
        if not text.strip():
            continue
        count += 1
        record = TextRecord(text=clean_text(text), source=source, position=f"line {number}", source_name=options.source_name)
        del text
        yield record
    if count == 0 and whole_file:
        yield failure(source, "", ERROR_EMPTY_FILE, "no non-blank lines in the file")


def decode_text(data: bytes) -> str | None:
    """UTF-8 (BOM stripped), else the encoding charset-normalizer finds; None when nothing fits."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # the curate extra is not installed: only UTF-8 is possible
        return None
    best = from_bytes(data).best()
    return None if best is None else str(best)
