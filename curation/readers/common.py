"""What every reader shares: options, format detection, decompression, failure rows."""
from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from winnow.curation.archive import ReadFailure
from winnow.core.config_loader import CHOICES
from winnow.core.errors import InputError

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

# The largest record (a JSONL or text line, a Parquet value, a whole text file)
# a reader holds in memory. It is enforced while decompressing, so a bomb that
# inflates to gigabytes without a newline costs this much, not the whole
# stream (a long novel is ~2 MB; the largest pages of web dumps a few MB).
DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024
# The rest of an over-long line is skipped in reads of this size.
_SKIP_CHUNK_BYTES = 1024 * 1024
# Compressed bytes fed to zstd per call. zstd's worst case inflates one input
# byte to ~32 KB (RLE blocks), so 512 bytes in are at most ~16 MB out per call.
_ZSTD_INPUT_CHUNK = 512

ERROR_EMPTY_FILE = "EmptyFile"
ERROR_MALFORMED_JSON = "MalformedJson"
ERROR_MISSING_FIELD = "MissingField"
ERROR_BAD_VALUE = "BadValue"
ERROR_UNDECODABLE = "UndecodableText"
ERROR_UNREADABLE = "UnreadableFile"
ERROR_MISSING_COLUMN = "MissingColumn"
ERROR_TOO_LARGE = "FileTooLarge"
ERROR_RECORD_TOO_LARGE = "RecordTooLarge"
ERROR_TRUNCATED = "TruncatedFile"
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
    """How to find a document's fields; None means the default column, used only when present.
    The comments are the `winnow curate` flags' help (pipelines/options_cli.py derives the flags)."""

    text_column: str | None = None  # JSONL field / Parquet column with the text (unset: text)
    id_column: str | None = None  # JSONL field / Parquet column with the document id (unset: id, when present)
    url_column: str | None = None  # JSONL field / Parquet column with the URL (unset: url, when present)
    text_format: str = field(default=TEXT_FORMAT_FILE, metadata={CHOICES: TEXT_FORMATS})  # plain-text inputs: one document per file, or one per non-blank line
    source_name: str = ""  # name of this input for mixing and reports (web, books, wiki, ...)
    # largest JSONL/text line, whole text file or Parquet page held in memory, checked while
    # decompressing; a larger one is an error row
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    # JSONL/Parquet fields kept in the `metadata` column: None keeps every field that fills no
    # document column (`used_fields`); a tuple keeps those named (empty: none).
    metadata_columns: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.text_format not in TEXT_FORMATS:
            raise ValueError(f"text format must be one of {TEXT_FORMATS}, got {self.text_format!r}")
        if self.max_record_bytes <= 0:
            raise ValueError(f"max_record_bytes must be positive, got {self.max_record_bytes}")
        if self.metadata_columns is not None:
            _check_metadata_columns(self.metadata_columns, self.used_fields)

    @property
    def text_field(self) -> str:
        return self.text_column or DEFAULT_TEXT_COLUMN

    @property
    def used_fields(self) -> tuple[str, ...]:
        """The source fields that fill document columns (text, id, url, date); never metadata."""
        return (self.text_field, self.id_column or DEFAULT_ID_COLUMN, self.url_column or DEFAULT_URL_COLUMN, DEFAULT_DATE_COLUMN)


def metadata_columns_of(keep_columns: str | None, drop_metadata: bool) -> tuple[str, ...] | None:
    """`ReaderOptions.metadata_columns` from the flags: None (every extra field), the names of
    `--keep-columns A,B`, or () with `--drop-metadata`; ValueError when both are given."""
    if drop_metadata and keep_columns is not None:
        raise ValueError("--keep-columns and --drop-metadata contradict each other; give one")
    if drop_metadata:
        return ()
    if keep_columns is None:
        return None
    names = tuple(name.strip() for name in keep_columns.split(","))
    if not all(names):
        raise ValueError(f"--keep-columns {keep_columns!r}: an empty column name")
    return names


def _check_metadata_columns(names: tuple[str, ...], used: tuple[str, ...]) -> None:
    if not isinstance(names, tuple) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(f"metadata columns must be a tuple of non-empty names, got {names!r}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"metadata columns named more than once: {repeated}")
    taken = [n for n in names if n in used]
    if taken:
        raise ValueError(f"--keep-columns {taken}: already a document column (text, id, url or date), not metadata")


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


GZIP_SUFFIX = ".gz"
ZSTD_SUFFIXES = (".zst", ".zstd")


def decompressed(stream: BinaryIO, path: str) -> BinaryIO:
    """Wrap `stream` in a decompressor chosen by the extension of `path` (.gz, .zst); else return it.

    Both decompress in bounded steps (reading n bytes inflates about n), and
    both raise EOFError when the input ends inside a compressed block.
    """
    name = path.lower()
    if name.endswith(GZIP_SUFFIX):
        return gzip.GzipFile(fileobj=stream, mode="rb")  # raises EOFError on a truncated member
    if name.endswith(ZSTD_SUFFIXES):
        return io.BufferedReader(ZstdFrames(stream), buffer_size=1024 * 1024)
    return stream


def is_compressed(path: str) -> bool:
    """True when `decompressed` would decompress `path` (so it cannot be entered mid-stream)."""
    return path.lower().endswith((GZIP_SUFFIX, *ZSTD_SUFFIXES))


class TruncatedStream(InputError, EOFError):
    """The compressed input ends inside a frame: the file was cut short.

    An EOFError too: readers catch EOFError for gzip's truncation and zstd's alike."""


class ZstdFrames(io.RawIOBase):
    """Every zstd frame of a stream, decompressed a small input chunk at a time.

    zstandard's own `stream_reader` returns a short read, not an error, when
    the input ends inside a frame, so a truncated `.zst` would look like a
    short file; here the frame's end is tracked and a cut raises
    `TruncatedStream`. Several frames (pzstd, appended files) read as one.
    """

    def __init__(self, source: BinaryIO):
        import zstandard

        self._source = source
        self._dctx = zstandard.ZstdDecompressor()
        self._frame: Any = None  # decompressobj of the frame being read; None before the first
        self._pending = b""  # compressed bytes read but not yet fed
        self._out = memoryview(b"")  # decompressed bytes not yet returned
        self._consumed = 0  # compressed bytes fed so far, for messages

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out:
            if not self._inflate_next():
                return 0
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _inflate_next(self) -> bool:
        """Feed the next input chunk; False at a clean end (the last frame complete)."""
        if not self._pending:
            self._pending = self._source.read(64 * _ZSTD_INPUT_CHUNK)
            if not self._pending:
                if self._frame is not None and not self._frame.eof:
                    raise TruncatedStream(f"the zstd stream ends inside a frame after {self._consumed} compressed bytes")
                return False
        if self._frame is None or self._frame.eof:
            self._frame = self._dctx.decompressobj()
        data, self._pending = self._pending[:_ZSTD_INPUT_CHUNK], self._pending[_ZSTD_INPUT_CHUNK:]
        self._consumed += len(data)
        self._out = memoryview(b"")  # drop the previous output first: even an empty view keeps its bytes alive
        self._out = memoryview(self._frame.decompress(data))
        if self._frame.eof and self._frame.unused_data:  # the next frame starts inside this chunk
            self._consumed -= len(self._frame.unused_data)
            self._pending = self._frame.unused_data + self._pending
        return True


def failure(source: str, position: str, error_type: str, message: str, url: str = "", record_id: str = "") -> ReadFailure:
    """A ReadFailure whose message starts with the file and the position in it."""
    where = f"{source}: {position}: " if position else f"{source}: "
    return ReadFailure(source, None, clean_text(record_id), clean_text(url), error_type, clean_text(where + message))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` that UTF-8 can encode: NULs dropped (as the WARC path does; they break Parquet
    consumers and tokenizers), lone surrogates (a JSON escape like "\\ud800") replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii() and _LONE_SURROGATE.search(text):
        text = _LONE_SURROGATE.sub("\ufffd", text)
    return text


def field_problem(value: str) -> str | None:
    """Why an id/url/date value cannot be stored as it is (a NUL, a lone surrogate), or None.

    Unlike text, these are keys: silently changing one would merge or split documents."""
    if "\x00" in value:
        return "holds a NUL character"
    if not value.isascii() and _LONE_SURROGATE.search(value):
        return "holds a lone surrogate, which UTF-8 cannot encode"
    return None


def optional_str(value: Any) -> str:
    """An id/url/date field as text; None and missing become ""."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def numbered_lines(
    stream: BinaryIO, source: str, max_bytes: int = DEFAULT_MAX_RECORD_BYTES, first_number: int = 1
) -> Iterator[tuple[int, bytes] | ReadFailure]:
    """(line number from `first_number`, raw line; line 1 without a UTF-8 byte order mark) for each
    line of the decompressed stream, holding at most `max_bytes` of a line in memory.

    A longer line is one `RecordTooLarge` failure naming it; its rest is skipped
    in bounded reads and the next line counts. A decompression or read error
    (truncation included) ends the file with one ReadFailure for the rest of it
    (a compressed stream cannot be resumed mid-frame).
    """
    number = first_number - 1
    try:
        reader = decompressed(stream, source)
        while True:
            raw = reader.readline(max_bytes + 1)
            if not raw:
                return
            number += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                skipped = len(raw) + _skip_line(reader)
                yield failure(
                    source, f"line {number}", ERROR_RECORD_TOO_LARGE,
                    f"line of at least {skipped} bytes is over the record size limit of {max_bytes} bytes "
                    "(--max-record-bytes); skipped",
                )
                continue
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # UTF-8 byte order mark written by some editors
            # Hand the line over without keeping it: this frame stays suspended while the
            # record is curated downstream, and a 60 MB line would stay alive with it.
            held = [raw]
            del raw
            yield number, held.pop()
    except EOFError as exc:  # gzip's and zstd's truncation
        yield failure(source, f"after line {number}", ERROR_TRUNCATED, f"file is truncated, rest of file lost: {exc}")
    except Exception as exc:  # corrupt gzip/zstd data, I/O error
        yield failure(source, f"after line {number}", ERROR_UNREADABLE, f"rest of file unreadable: {type(exc).__name__}: {exc}")


def _skip_line(reader: BinaryIO) -> int:
    """Read to the end of the current line in bounded chunks; the number of bytes skipped."""
    skipped = 0
    while True:
        chunk = reader.readline(_SKIP_CHUNK_BYTES)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped
