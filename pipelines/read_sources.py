"""ReadSources: file patterns of any input format -> TextRecord | ArchiveRecord | ReadFailure.

    Patterns -> Match (each file once; an empty pattern is an error) -> PlanRanges -> SpreadFiles -> Read

A large gzipped WARC (`curation.archive_ranges`) or plain JSONL or text-lines
file (`curation.readers.line_ranges`) is planned as several byte ranges, so its
records spread over workers without a shuffle holding them in memory; every
other file is one whole-file read.

JSONL, Parquet and text files go through `curation.readers`; web archives
(WARC/ARC/WET, for `--input-format warc` or inferred from the extension) go
through `curation.archive.iter_archive`, so one `--input` list may mix them.
Every item read (archive record, text record or read failure) counts once in
`records_in`, and a file that cannot be opened is one ReadFailure that names it.
"""
from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes, FileMetadata
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from winnow.curation.archive import DEFAULT_MAX_PAYLOAD_BYTES, ArchiveRecord, ReadFailure, iter_archive
from winnow.curation import archive_ranges
from winnow.curation.archive_ranges import ByteWindow, FileRange, iter_archive_range, plan_ranges
from winnow.curation.readers.jsonl import iter_jsonl
from winnow.curation.readers.text import iter_text
from winnow.curation.readers.line_ranges import plan_line_ranges
from winnow.curation.readers import (
    FORMAT_JSONL, FORMAT_PARQUET, FORMAT_TEXT, FORMAT_WARC, FORMATS, ReaderOptions, detect_format, iter_records,
)
from winnow.curation.readers.parquet import iter_parquet, plan_row_group_ranges
from winnow.curation.readers.common import ERROR_UNKNOWN_FORMAT, TEXT_FORMAT_LINES, clean_text, failure, is_compressed
from winnow.curation.types import TextRecord

NAMESPACE = "curate"
RECORDS_IN = "records_in"
ERROR_READER_FAILED = "ReaderFailed"


def expand_pattern(pattern: str) -> str:
    """A folder means every file below it: `books/` and an existing local dir become `books/**`."""
    if pattern.endswith("/"):
        return pattern + "**"
    if "://" not in pattern and os.path.isdir(pattern):
        return os.path.join(pattern, "**")
    return pattern


def match_each_file_once(patterns: Sequence[str]) -> Iterator[FileMetadata]:
    """The files `patterns` match, each once, in path order; a pattern that matches nothing is an error."""
    found: dict[str, FileMetadata] = {}
    for pattern, result in zip(patterns, FileSystems.match(list(patterns))):
        if not result.metadata_list:
            raise FileNotFoundError(f"input {pattern!r} matches no file")
        for metadata in result.metadata_list:
            found.setdefault(metadata.path, metadata)
    for path in sorted(found):
        yield found[path]


class ReadSourceFn(beam.DoFn):
    """Read one file of any format; never raises for bad input."""

    def __init__(self, input_format: str | None, options: ReaderOptions, max_payload_bytes: int):
        if input_format is not None and input_format not in FORMATS:
            raise ValueError(f"input format must be one of {FORMATS}, got {input_format!r}")
        self._format = input_format
        self._options = options
        self._max_payload_bytes = max_payload_bytes

    def setup(self) -> None:
        self._records_in = Metrics.counter(NAMESPACE, RECORDS_IN)

    def process(self, part: FileRange) -> Iterator[TextRecord | ArchiveRecord | ReadFailure]:
        path = part.path
        try:
            fmt = self._format or detect_format(path)
        except ValueError as exc:
            self._records_in.inc()
            yield failure(path, "", ERROR_UNKNOWN_FORMAT, str(exc).removeprefix(f"{path}: "))
            return
        try:
            # Decompression follows the extension inside the readers (and the archive sniffer).
            stream = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
        except Exception as exc:
            self._records_in.inc()
            yield ReadFailure(path, None, "", "", type(exc).__name__, f"cannot open {path}: {exc}")
            return
        with stream:
            if part.whole and fmt == FORMAT_WARC:
                items = iter_archive(stream, source=path, max_payload_bytes=self._max_payload_bytes)
            elif part.whole:
                items = iter_records(stream, path, fmt, self._options)
            elif fmt == FORMAT_WARC:
                items = iter_archive_range(stream, path, part.start, part.end, self._max_payload_bytes)
            elif fmt == FORMAT_PARQUET:  # a run of row groups, not bytes (plan_file)
                items = iter_parquet(stream, path, self._options, row_groups=range(part.start, part.end))
            else:  # plan_file splits gzipped WARC, Parquet, plain JSONL and plain text lines only
                lines = io.BufferedReader(ByteWindow(stream, part.start, part.end), buffer_size=1 << 20)
                read_lines = iter_jsonl if fmt == FORMAT_JSONL else iter_text
                items = read_lines(lines, path, self._options, first_line=part.first_line, whole_file=False)
            try:
                for item in items:
                    self._records_in.inc()
                    yield item
            except Exception as exc:  # noqa: BLE001 - a reader's bug costs the rest of this file, never the run
                self._records_in.inc()
                yield ReadFailure(path, None, "", "", ERROR_READER_FAILED, clean_text(f"{path}: reading stopped: {type(exc).__name__}: {exc}"))


def file_format(path: str, input_format: str | None) -> str | None:
    """`input_format`, else the format `path`'s extension says; None when it says none."""
    try:
        return input_format or detect_format(path)
    except ValueError:
        return None


def plan_file(
    path: str, size: int, input_format: str | None, split_bytes: int | None = None, options: ReaderOptions = ReaderOptions()
) -> list[FileRange]:
    """The reads of one matched file: byte ranges for a large gzipped WARC (`plan_ranges`) or a
    large plain JSONL or text-lines file (`plan_line_ranges`), runs of row groups for a large
    Parquet file (`plan_row_group_ranges`; the FileRange's start and end are row group
    numbers), else the whole file.

    `split_bytes` None: `archive_ranges.SPLIT_BYTES`.
    """
    split_bytes = archive_ranges.SPLIT_BYTES if split_bytes is None else split_bytes
    fmt = file_format(path, input_format)  # None: the whole-file read reports the unknown format
    lines = fmt == FORMAT_JSONL or (fmt == FORMAT_TEXT and options.text_format == TEXT_FORMAT_LINES)
    splittable = fmt == FORMAT_WARC or ((lines or fmt == FORMAT_PARQUET) and not is_compressed(path))
    if size <= split_bytes or not splittable:
        return [FileRange(path)]
    try:
        stream = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    except Exception:  # noqa: BLE001 - the whole-file read reports why it cannot be opened
        return [FileRange(path)]
    with stream:
        if fmt == FORMAT_WARC:
            return plan_ranges(path, size, stream, split_bytes)
        if fmt == FORMAT_PARQUET:
            runs = plan_row_group_ranges(stream, split_bytes)
            return [FileRange(path, run.start, run.stop) for run in runs] or [FileRange(path)]
        return plan_line_ranges(path, size, stream, split_bytes)


class PlanRangesFn(beam.DoFn):
    """A matched file -> the FileRanges to read it in (`plan_file`)."""

    def __init__(self, input_format: str | None, split_bytes: int, options: ReaderOptions):
        self._format = input_format
        self._split_bytes = split_bytes
        self._options = options

    def process(self, metadata) -> Iterator[FileRange]:
        yield from plan_file(metadata.path, metadata.size_in_bytes, self._format, self._split_bytes, self._options)


class ReadSources(beam.PTransform):
    """Match `patterns` (local or any Beam filesystem), then read each file in its format.

    `input_format` None infers each file's format from its extension; a file
    whose format cannot be inferred is one ReadFailure naming it. With
    `split_large_files`, gzipped WARC, plain JSONL and text-lines files over `split_bytes`
    (None: `archive_ranges.SPLIT_BYTES`) are read in byte ranges of about that size.
    """

    def __init__(
        self,
        patterns: Sequence[str],
        input_format: str | None = None,
        reader_options: ReaderOptions = ReaderOptions(),
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        split_large_files: bool = True,
        split_bytes: int | None = None,
    ):
        super().__init__()
        if not patterns:
            raise ValueError("ReadSources needs at least one input pattern")
        self._patterns = [expand_pattern(p) for p in patterns]
        self._fn = ReadSourceFn(input_format, reader_options, max_payload_bytes)
        split_bytes = archive_ranges.SPLIT_BYTES if split_bytes is None else split_bytes
        self._plan = PlanRangesFn(input_format, split_bytes, reader_options) if split_large_files else None

    def expand(self, pbegin):
        return (
            pbegin
            # All patterns in one element, matched together, so a file two patterns match
            # (`books/` and `books/a.txt`) is read once; a few patterns: no shuffle stage.
            | "Patterns" >> beam.Create([tuple(self._patterns)], reshuffle=False)
            | "Match" >> beam.FlatMap(match_each_file_once)
            | "PlanRanges" >> (beam.ParDo(self._plan) if self._plan else beam.Map(lambda metadata: FileRange(metadata.path)))
            | "SpreadFiles" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(self._fn)
        )
