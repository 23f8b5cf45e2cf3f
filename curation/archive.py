"""Reading web archives (WARC, ARC, WET; gzip or plain) into flat records.

`iter_archive` turns one archive stream into exactly one item per archive
record: an `ArchiveRecord`, or a `ReadFailure` for a record (or the rest of the
file) that could not be read. It never raises for bad input.

Design choices:

* WARC files are framed by FastWARC (fast, streamed decompression) with its
  HTTP parser switched off: FastWARC's parser only accepts CRLF header lines,
  so on LF-only header blocks (the ClueWeb09 quirk) it swallows half the body
  into the headers and reports a wrong Content-Type. We split the HTTP header
  block ourselves (CRLF or LF), which costs a few microseconds per record.
* ARC files are read with warcio (`arc2warc=True`); FastWARC cannot read ARC.
* Memory is bounded: at most `max_payload_bytes` (+ a bounded HTTP header
  allowance) of a record body is read; the rest is skipped in streamed chunks
  and the record is marked `payload_truncated`.
* Errors: a record whose body ends before its declared Content-Length
  (truncated gzip member or file) yields a `ReadFailure` for that record.
  Garbage between records, a corrupt gzip member or an unparsable header
  (for instance one longer than FastWARC's header limit) yields one
  `ReadFailure` for the unreadable region; then, when the stream is seekable
  (local files, Beam's GCS reader), the WARC reader resynchronises: it scans
  forward from the end of the last good record for the next gzip member (or
  `WARC/1.x` line) that starts a readable record and resumes there, so one bad
  region does not cost the records after it. Non-seekable streams and ARC
  files stop at the first unreadable region, as neither reader can resume
  mid-stream.
"""
from __future__ import annotations

import dataclasses
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from winnow.curation.http_payload import MAX_HTTP_HEADER_BYTES, _decode_content, parse_http_head

DEFAULT_MAX_PAYLOAD_BYTES = 10_000_000
# Enough decompressed bytes to recognise the archive format.
_SNIFF_BYTES = 64

ERROR_EMPTY_FILE = "EmptyFile"
ERROR_NOT_AN_ARCHIVE = "NotAnArchive"
ERROR_TRUNCATED_GZIP = "TruncatedGzip"
ERROR_TRUNCATED_RECORD = "TruncatedRecord"
ERROR_MALFORMED_RECORD = "MalformedRecord"
ERROR_CORRUPT_GZIP = "CorruptGzip"

_GZIP_MAGIC = b"\x1f\x8b"
_WARC_MAGIC = b"WARC/"
_ARC_MAGIC = b"filedesc://"
# Record types whose body can become a document; other bodies are skipped unread.
_PAYLOAD_TYPES = frozenset({"response", "resource", "conversion"})


@dataclass(frozen=True)
class ArchiveRecord:
    """One archive record, flattened; see the module docstring for the payload rules."""

    source: str
    offset: int | None
    record_type: str
    warc_record_id: str
    url: str
    date: str
    http_status: int | None
    content_type: str | None
    identified_payload_type: str | None
    payload: bytes
    payload_truncated: bool
    content_length: int
    content_encoding: str | None = None  # HTTP Content-Encoding as declared (informational)


@dataclass(frozen=True)
class ReadFailure:
    """A record, or the rest of a file, that could not be parsed."""

    source: str
    offset: int | None
    warc_record_id: str
    url: str
    error_type: str
    message: str


class _ReplayStream(io.RawIOBase):
    """A read-only stream that returns `prefix` and then the rest of `inner`.

    Lets us sniff the first bytes of a non-seekable stream (Beam's GCS reader,
    a pipe) and still hand the whole stream to the archive reader.
    """

    def __init__(self, prefix: bytes, inner: BinaryIO, start: int = 0):
        self._prefix = prefix
        self._inner = inner
        # Absolute offset of the first byte served, so FastWARC's record offsets stay file offsets.
        self._pos = start

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        # FastWARC asks for the start position once; it never seeks backwards.
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if (whence == io.SEEK_CUR and offset == 0) or (whence == io.SEEK_SET and offset == self._pos):
            return self._pos
        raise io.UnsupportedOperation("archive streams are read forwards only")

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            self._pos += n
            return n
        chunk = self._inner.read(len(view))
        if not chunk:
            return 0
        view[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    """Read n bytes unless the stream ends first (raw streams may return short reads)."""
    parts = []
    remaining = n
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _sniff_format(head: bytes) -> tuple[str, str]:
    """Return (format, error message); format is "warc", "arc" or "" with the message saying why."""
    if not head:
        return "", "file is empty"
    if head[:2] == _GZIP_MAGIC:
        decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            inner = decomp.decompress(head, _SNIFF_BYTES)
        except zlib.error as exc:
            return "", f"gzip header is corrupt ({exc})"
        if not inner and not decomp.eof:
            return "", "gzip stream is truncated before any archive data"
    else:
        inner = head
    if inner.startswith(_WARC_MAGIC):
        return "warc", ""
    if inner.startswith(_ARC_MAGIC):
        return "arc", ""
    return "", f"does not start with 'WARC/' or 'filedesc://' (first bytes {inner[:16]!r})"


def iter_archive(
    stream: BinaryIO, source: str, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
) -> Iterator[ArchiveRecord | ReadFailure]:
    """Yield one `ArchiveRecord` or `ReadFailure` per record of a WARC/ARC/WET stream.

    `source` names the file in every item. Never raises for bad archive bytes:
    an empty file, a non-archive, a truncated or corrupt gzip member and a
    malformed record all come out as `ReadFailure`.
    """
    if max_payload_bytes < 0:
        raise ValueError(f"max_payload_bytes must be >= 0, got {max_payload_bytes} (reading {source})")
    # 4 KiB of compressed input is enough to decompress the first few bytes of any member.
    head = _read_up_to(stream, 4096)
    fmt, why = _sniff_format(head)
    if not fmt:
        error = ERROR_EMPTY_FILE if not head else ERROR_NOT_AN_ARCHIVE
        yield ReadFailure(source, 0, "", "", error, f"{source}: not a WARC/ARC archive: {why}")
        return
    # Unbuffered on purpose: both readers buffer themselves.
    replay = _ReplayStream(head, stream)
    gzipped = head[:2] == _GZIP_MAGIC
    if fmt == "warc":
        yield from _iter_warc_resyncing(stream, replay, source, max_payload_bytes, gzipped)
    else:
        from winnow.curation.archive_arc import iter_arc  # ARC is rare: loaded on first use (and no import cycle)

        yield from iter_arc(replay, source, max_payload_bytes, gzipped)


# --------------------------------------------------------------------------- WARC


def _is_reader_error(exc: BaseException) -> bool:
    """True for errors caused by bad bytes; interpreter exits and interrupts pass through.

    FastWARC reports some stream problems as a Rust panic, which pyo3 raises as
    `PanicException`, a BaseException subclass that cannot be imported by name.
    """
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


@dataclass
class _SegmentEnd:
    """How one FastWARC pass over a stream ended (filled in by `_iter_warc`)."""

    unreadable: bool = False  # stopped on bytes it could not parse (vs. end of stream or truncation)
    last_offset: int | None = None  # file offset of the last record FastWARC framed
    last_length: int | None = None  # its Content-Length, when valid


# Resync scans read the stream in chunks of this size (bounded memory on any file).
_RESYNC_CHUNK = 1 << 20
_WARC_LINE = b"WARC/1."
# Bytes read at a resync candidate to check that it starts a record.
_RESYNC_SNIFF = 4096
_RESYNC_NOTE = "; skipped to the next readable record"
_STOP_NOTE = "; stopped reading this file"


def _iter_warc_resyncing(
    raw: BinaryIO, first: BinaryIO, source: str, max_payload_bytes: int, gzipped: bool
) -> Iterator[ArchiveRecord | ReadFailure]:
    """`_iter_warc` over `first`; after an unreadable region, resume at the next readable record.

    Emits one ReadFailure per unreadable region (the reader's), however many
    candidates the scan tries, and makes progress strictly forwards.
    """
    can_seek = _seekable(raw)
    segment: BinaryIO = first
    segment_start = 0
    while True:
        end = _SegmentEnd()
        pending: ArchiveRecord | ReadFailure | None = None
        for item in _iter_warc(segment, source, max_payload_bytes, gzipped, end):
            if pending is not None:
                yield pending
            pending = item
        if pending is None:
            return
        if not end.unreadable:
            yield pending
            return
        if not can_seek:
            yield dataclasses.replace(pending, message=pending.message + _STOP_NOTE)
            return
        if segment_start and end.last_offset is None:
            # The resumed record is unreadable too (e.g. a header over FastWARC's limit):
            # it belongs to the region already reported, so no second failure.
            pending = None
        # Never before the segment's own start: each pass moves strictly forwards.
        scan_from = max(_scan_start(raw, end, gzipped), segment_start + 1)
        resume = _find_resync_point(raw, scan_from, gzipped)
        if pending is not None:
            note = _RESYNC_NOTE + f" at offset {resume}" if resume is not None else _STOP_NOTE
            # The offset where the unreadable region starts gives each region its own error id.
            yield dataclasses.replace(pending, offset=pending.offset if pending.offset is not None else scan_from,
                                      message=pending.message + note)
        if resume is None:
            return
        raw.seek(resume)
        segment = _ReplayStream(b"", raw, start=resume)
        segment_start = resume


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _find_resync_point(raw: BinaryIO, start: int, gzipped: bool, chunk_bytes: int = _RESYNC_CHUNK) -> int | None:
    """The first offset >= `start` where a readable WARC record (or gzip member holding one) begins.

    The stream is scanned `chunk_bytes` at a time (at least 16)."""
    marker = _GZIP_MAGIC + b"\x08" if gzipped else _WARC_LINE
    chunk_bytes = max(chunk_bytes, 16)
    position = start
    while True:
        raw.seek(position)
        chunk = _read_up_to(raw, chunk_bytes)
        if len(chunk) < len(marker):
            return None
        index = chunk.find(marker)
        while index >= 0:
            candidate = position + index
            # No line-start rule: garbage rarely ends in a newline. `_starts_record` checks the header.
            if _starts_record(raw, candidate, gzipped):
                return candidate
            index = chunk.find(marker, index + 1)
        # Overlap the next chunk by the marker length so a marker split between chunks is found.
        position += len(chunk) - len(marker) + 1


def _starts_record(raw: BinaryIO, offset: int, gzipped: bool) -> bool:
    """True when a WARC record header (version line, then a Content-Length) starts at `offset`."""
    raw.seek(offset)
    head = _read_up_to(raw, _RESYNC_SNIFF)
    if gzipped:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, _RESYNC_SNIFF)
        except zlib.error:
            return False
    if not head.startswith(_WARC_LINE):
        return False
    header_end = head.find(b"\r\n\r\n")
    block = head if header_end < 0 else head[:header_end]
    return b"content-length:" in block.lower()


def _scan_start(raw: BinaryIO, end: _SegmentEnd, gzipped: bool) -> int:
    """Where to look for the next record: past the last good plain record's block, else one byte on.

    For plain files, starting after the block keeps a `WARC/1.0` line inside a
    body (an archived WARC, a page about WARC) from being taken for a record.
    """
    first = (end.last_offset + 1) if end.last_offset is not None else 1
    if gzipped or end.last_offset is None or end.last_length is None:
        return first
    raw.seek(end.last_offset)
    head = _read_up_to(raw, MAX_HTTP_HEADER_BYTES)
    header_end = head.find(b"\r\n\r\n")
    return first if header_end < 0 else end.last_offset + header_end + 4 + end.last_length


def _iter_warc(
    stream: BinaryIO, source: str, max_payload_bytes: int, gzipped: bool, end: _SegmentEnd | None = None
) -> Iterator[ArchiveRecord | ReadFailure]:
    from fastwarc.warc import ArchiveIterator

    end = end if end is not None else _SegmentEnd()
    records = None
    peeked = None
    while True:
        try:
            if records is None:
                records = iter(ArchiveIterator(stream, parse_http=False))
            record, peeked = (peeked, None) if peeked is not None else (next(records), None)
        except StopIteration:
            return
        except BaseException as exc:  # FastWARC raises OSError, or a Rust panic (a BaseException)
            if not _is_reader_error(exc):
                raise
            yield _unreadable(exc, source, end)
            return
        end.last_offset = record.stream_pos
        end.last_length = None
        item = _warc_item(record, source, max_payload_bytes, gzipped)
        if isinstance(item, ArchiveRecord):
            end.last_length = item.content_length
        elif item.error_type == ERROR_MALFORMED_RECORD and "Content-Length" in item.message:
            # FastWARC hands over a header cut short by the end of the stream without its
            # Content-Length: look one record ahead to tell truncation from a bad header.
            try:
                peeked = next(records)
            except StopIteration:
                item = dataclasses.replace(
                    item,
                    error_type=ERROR_TRUNCATED_GZIP if gzipped else ERROR_TRUNCATED_RECORD,
                    message=f"{source}: the {'gzip ' if gzipped else ''}stream ends inside the header of the "
                    f"record at offset {item.offset}",
                )
                yield item
                return
            except BaseException as exc:  # noqa: BLE001 - filtered by _is_reader_error
                if not _is_reader_error(exc):
                    raise
                yield item
                yield _unreadable(exc, source, end)
                return
        yield item
        if isinstance(item, ReadFailure) and item.error_type in (ERROR_TRUNCATED_GZIP, ERROR_TRUNCATED_RECORD):
            # The stream ended inside this record; nothing further can follow.
            return


def _unreadable(exc: BaseException, source: str, end: _SegmentEnd) -> ReadFailure:
    error = ERROR_CORRUPT_GZIP if "gzip" in str(exc).lower() else ERROR_MALFORMED_RECORD
    last = end.last_offset
    where = "at the start" if last is None else f"after the record at offset {last}"
    end.unreadable = True
    return ReadFailure(
        source, None, "", "", error,
        f"{source}: unreadable data {where} (bad record header, garbage or corrupt gzip member): "
        f"{type(exc).__name__}: {exc}",
    )


def _warc_item(record, source: str, max_payload_bytes: int, gzipped: bool) -> ArchiveRecord | ReadFailure:
    headers = record.headers
    record_id = headers.get("WARC-Record-ID") or ""
    url = (headers.get("WARC-Target-URI") or "").strip().strip("<>")
    offset = record.stream_pos
    raw_length = headers.get("Content-Length")
    if raw_length is None or not raw_length.strip().isdigit():
        return ReadFailure(
            source, offset, record_id, url, ERROR_MALFORMED_RECORD,
            f"{source}: record at offset {offset} has missing or invalid Content-Length {raw_length!r}",
        )
    content_length = int(raw_length)
    record_type = (headers.get("WARC-Type") or "").strip().lower() or "unknown"
    reader = record.reader
    wants_payload = record_type in _PAYLOAD_TYPES
    is_http = wants_payload and "application/http" in (headers.get("Content-Type") or "").lower()
    budget = max_payload_bytes + (MAX_HTTP_HEADER_BYTES if is_http else 0) + 1 if wants_payload else 0
    try:
        block = _read_up_to(reader, min(budget, content_length))
        skipped = reader.consume()
    except BaseException as exc:  # a decompression error inside this record
        if not _is_reader_error(exc):
            raise
        return ReadFailure(
            source, offset, record_id, url, ERROR_CORRUPT_GZIP if gzipped else ERROR_MALFORMED_RECORD,
            f"{source}: record at offset {offset} could not be read: {type(exc).__name__}: {exc}",
        )
    available = len(block) + skipped
    if available < content_length:
        return ReadFailure(
            source, offset, record_id, url, ERROR_TRUNCATED_GZIP if gzipped else ERROR_TRUNCATED_RECORD,
            f"{source}: record at offset {offset} declares Content-Length {content_length} "
            f"but the {'gzip ' if gzipped else ''}stream ends after {available} bytes",
        )
    whole_block_read = len(block) == content_length
    http_status = None
    content_type = headers.get("Content-Type")
    content_encoding = None
    payload = block
    truncated = not whole_block_read
    if is_http or (record_type == "response" and block.startswith(b"HTTP/")):
        head = parse_http_head(block, complete=whole_block_read)
        if head is None:
            if block.startswith(b"HTTP/"):
                return ReadFailure(
                    source, offset, record_id, url, ERROR_MALFORMED_RECORD,
                    f"{source}: record at offset {offset}: HTTP header block has no end "
                    f"within {MAX_HTTP_HEADER_BYTES} bytes",
                )
            # application/http content type but no status line: keep the raw block.
        else:
            http_status = head.status
            content_type = head.content_type
            content_encoding = head.content_encoding
            payload, inflated_truncated = _decode_content(block[head.body_offset :], head, max_payload_bytes)
            truncated = truncated or inflated_truncated
    if len(payload) > max_payload_bytes:
        payload = payload[:max_payload_bytes]
        truncated = True
    return ArchiveRecord(
        source=source,
        offset=offset,
        record_type=record_type,
        warc_record_id=record_id,
        url=url,
        date=headers.get("WARC-Date") or "",
        http_status=http_status,
        content_type=content_type,
        identified_payload_type=(headers.get("WARC-Identified-Payload-Type") or "").strip() or None,
        payload=payload if wants_payload else b"",
        payload_truncated=truncated if wants_payload else False,
        content_length=content_length,
        content_encoding=content_encoding,
    )
