"""What every reader shares: options, format detection, decompression, failure rows."""
from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from winnow.curation.archive import ReadFailure

FORMAT_WARC = "warc"
FORMAT_JSONL = "jsonl"
FORMAT_PARQUET = "parquet"
FORMAT_TEXT = "text"
FORMATS = (FORMAT_WARC, FORMAT_JSONL, FORMAT_PARQUET, FORMAT_TEXT)

TEXT_FORMAT_FILE = "file"  # one document per file (books, articles)
TEXT_FORMAT_LINES = "lines"  # one document per non-blank line
TEXT_FORMATS = (TEXT_FORMAT_FILE, TEXT_FORMAT_LINES)

# Columns used when present and no column was named; a named column must exist.
DEFAULT_TEXT_COLUMN = "text"
DEFAULT_ID_COLUMN = "id"
DEFAULT_URL_COLUMN = "url"
DEFAULT_DATE_COLUMN = "date"

# One document per file is read whole; larger files are refused rather than
# risking a worker's memory on a stray dump (a long novel is ~2 MB).
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024

ERROR_EMPTY_FILE = "EmptyFile"
ERROR_MALFORMED_JSON = "MalformedJson"
ERROR_MISSING_FIELD = "MissingField"
ERROR_BAD_VALUE = "BadValue"
ERROR_UNDECODABLE = "UndecodableText"
ERROR_UNREADABLE = "UnreadableFile"
ERROR_MISSING_COLUMN = "MissingColumn"
ERROR_TOO_LARGE = "FileTooLarge"
ERROR_UNKNOWN_FORMAT = "UnknownFormat"

# Extensions, longest first so ".jsonl.gz" wins over ".gz".
_EXTENSIONS: tuple[tuple[str, str], ...] = tuple(
    sorted(
        {
            ".warc": FORMAT_WARC, ".warc.gz": FORMAT_WARC, ".arc": FORMAT_WARC, ".arc.gz": FORMAT_WARC,
            ".wet": FORMAT_WARC, ".wet.gz": FORMAT_WARC, ".warc.wet.gz": FORMAT_WARC,
            ".jsonl": FORMAT_JSONL, ".jsonl.gz": FORMAT_JSONL, ".jsonl.zst": FORMAT_JSONL,
            ".ndjson": FORMAT_JSONL, ".ndjson.gz": FORMAT_JSONL, ".ndjson.zst": FORMAT_JSONL,
            ".parquet": FORMAT_PARQUET, ".pq": FORMAT_PARQUET,
            ".txt": FORMAT_TEXT, ".txt.gz": FORMAT_TEXT, ".txt.zst": FORMAT_TEXT,
            ".text": FORMAT_TEXT, ".md": FORMAT_TEXT,
        }.items(),
        key=lambda item: -len(item[0]),
    )
)


@dataclass(frozen=True)
class ReaderOptions:
    """How to find a document's fields; None means the default column, used only when present."""

    text_column: str | None = None
    id_column: str | None = None
    url_column: str | None = None
    text_format: str = TEXT_FORMAT_FILE
    source_name: str = ""
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES

    def __post_init__(self) -> None:
        if self.text_format not in TEXT_FORMATS:
            raise ValueError(f"text format must be one of {TEXT_FORMATS}, got {self.text_format!r}")
        if self.max_file_bytes <= 0:
            raise ValueError(f"max_file_bytes must be positive, got {self.max_file_bytes}")

    @property
    def text_field(self) -> str:
        return self.text_column or DEFAULT_TEXT_COLUMN


def detect_format(path: str) -> str:
    """The input format of `path` from its extension; ValueError naming the file otherwise."""
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    for ext, fmt in _EXTENSIONS:
        if name.endswith(ext):
            return fmt
    known = ", ".join(ext for ext, _ in sorted(_EXTENSIONS))
    raise ValueError(
        f"{path}: cannot infer the input format from the file name (known extensions: {known}); "
        "pass --input-format warc|jsonl|parquet|text"
    )


def decompressed(stream: BinaryIO, path: str) -> BinaryIO:
    """Wrap `stream` in a decompressor chosen by the extension of `path` (.gz, .zst); else return it."""
    name = path.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if name.endswith(".zst") or name.endswith(".zstd"):
        import zstandard

        # read_across_frames: files written by several zstd frames (pzstd, appends) read whole.
        reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
        return io.BufferedReader(reader)  # type: ignore[arg-type]
    return stream


def failure(source: str, position: str, error_type: str, message: str, url: str = "", record_id: str = "") -> ReadFailure:
    """A ReadFailure whose message starts with the file and the position in it."""
    where = f"{source}: {position}: " if position else f"{source}: "
    return ReadFailure(source, None, record_id, url, error_type, where + message)


def optional_str(value: Any) -> str:
    """An id/url/date field as text; None and missing become ""."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def numbered_lines(stream: BinaryIO, source: str) -> Iterator[tuple[int, bytes] | ReadFailure]:
    """(line number from 1, raw line; the first without a UTF-8 byte order mark) for each line of
    the decompressed stream. A decompression or read error ends it with one ReadFailure for the
    rest of the file (a compressed stream cannot be resumed mid-frame)."""
    number = 0
    lines = iter(decompressed(stream, source))
    while True:
        try:
            raw = next(lines)
        except StopIteration:
            return
        except Exception as exc:  # corrupt gzip/zstd data, truncated file, I/O error
            yield failure(source, f"after line {number}", ERROR_UNREADABLE, f"rest of file unreadable: {type(exc).__name__}: {exc}")
            return
        number += 1
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # UTF-8 byte order mark written by some editors
        yield number, raw

