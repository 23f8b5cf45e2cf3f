"""Reading one large gzipped WARC as several byte ranges.

A local run used to spread a single large archive over its workers by
reshuffling its records, and Beam's local runner holds a Reshuffle's whole
input in memory before the next stage starts: an 83 MB WARC (5,512 pages)
peaked at 2.5 GB, so a 1 GB Common Crawl file would not fit a laptop. Reading
byte ranges instead gives each worker its own part of the file from the start,
with nothing held back.

Gzipped WARC files store each record as its own gzip member (the WARC
standard's recommendation, and what Common Crawl writes), so a reader can
start at any member that opens a record. Range [start, end) covers the bytes
from B(start) to B(end), where B(x) is the first member at or after x that
decompresses to a WARC record header (`archive._find_resync_point`, the check
the resynchronising reader already uses). Consecutive ranges therefore tile
the file: every record is read by exactly one range, whatever the split size,
and records keep their file offsets (so their ids) as if read whole.

Only gzipped WARC files whose first record is a member of its own are split.
A plain WARC is not (a `WARC/1.0` line inside a body could pass for a record
start), nor ARC, nor a WARC compressed as one gzip stream: those are read
whole, as before.
"""
from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from winnow.curation.archive import (
    _GZIP_MAGIC, DEFAULT_MAX_PAYLOAD_BYTES, ArchiveRecord, ReadFailure, _find_resync_point, _iter_warc_resyncing,
    _read_up_to, _seekable, _sniff_format,
)

# Gzipped WARC files larger than this are read in ranges of this size. A local run
# shuffles records only when it has fewer than two reads per worker, and that shuffle
# costs far more memory than the file (1.1 GB for a 20 MB WARC), so ranges are small:
# 2 MiB is about 130 web pages, a second of extraction; a 1 GB file is 500 ranges,
# each costing two boundary scans of a few milliseconds.
SPLIT_BYTES = 2 << 20
# The first member (the first record, usually a small warcinfo) must end within this
# many compressed bytes for the file to count as one member per record.
_FIRST_MEMBER_PROBE = 1 << 20
# ... and inflate to at most this much (a first record larger than this is not a small warcinfo).
_FIRST_MEMBER_MAX_INFLATED = 16 << 20
# A range's boundary is usually within one record of where it is looked for: scanning
# in small pieces keeps a remote read (GCS) from fetching a megabyte per boundary.
BOUNDARY_SCAN_BYTES = 64 << 10


@dataclass(frozen=True)
class FileRange:
    """Part of one input file to read: [start, end) of a split file, or (end None) the whole file.

    `first_line`: the number of the range's first line, for a JSONL file split at line ends
    (readers/line_ranges.py), so records keep the positions they have when the file is read whole.
    """

    path: str
    start: int = 0
    end: int | None = None
    first_line: int = 1

    @property
    def whole(self) -> bool:
        return self.end is None


def has_record_members(stream: BinaryIO) -> bool:
    """True when `stream` (at its start) is a gzipped WARC whose first record is a gzip member of its own,
    followed by another member: the layout that byte ranges can split."""
    head = _read_up_to(stream, _FIRST_MEMBER_PROBE)
    if head[:2] != _GZIP_MAGIC or _sniff_format(head)[0] != "warc":
        return False
    member = zlib.decompressobj(16 + zlib.MAX_WBITS)
    pending, inflated = head, 0
    try:
        # In bounded pieces, output discarded: a decompression bomb costs a piece of memory, not its size.
        while pending and not member.eof and inflated <= _FIRST_MEMBER_MAX_INFLATED:
            inflated += len(member.decompress(pending, 1 << 16))
            pending = member.unconsumed_tail
    except zlib.error:
        return False
    return member.eof and member.unused_data[:2] == _GZIP_MAGIC


def plan_ranges(path: str, size: int, stream: BinaryIO | None, split_bytes: int = SPLIT_BYTES) -> list[FileRange]:
    """How to read one file: several ranges for a large splittable WARC, else the whole file.

    `stream` is the file opened at its start (None when it cannot be opened: the
    whole-file reader then reports why). The plan depends on the file alone; and
    as the ranges tile the file, reading it split or whole yields the same items.
    """
    if split_bytes <= 0:
        raise ValueError(f"split_bytes must be positive, got {split_bytes}")
    if size <= split_bytes or stream is None or not _seekable(stream) or not has_record_members(stream):
        return [FileRange(path)]
    return [FileRange(path, start, min(start + split_bytes, size)) for start in range(0, size, split_bytes)]


def iter_archive_range(
    stream: BinaryIO, source: str, start: int, end: int, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
) -> Iterator[ArchiveRecord | ReadFailure]:
    """Every record of a gzipped WARC from B(start) up to B(end) (see the module docstring).

    `stream` must be seekable; a range whose B(start) lies at or after `end`
    holds no record of its own and yields nothing. Bad bytes inside the range
    come out as ReadFailures, as `iter_archive` reports them.
    """
    first = 0 if start == 0 else _find_resync_point(stream, start, True, BOUNDARY_SCAN_BYTES)
    if first is None or first >= end:
        return
    stop = _find_resync_point(stream, end, True, BOUNDARY_SCAN_BYTES)
    window = ByteWindow(stream, first, stop)
    yield from _iter_warc_resyncing(window, window, source, max_payload_bytes, gzipped=True)


class ByteWindow(io.RawIOBase):
    """Bytes [start, stop) of a seekable stream (stop None: to its end), at their file offsets.

    FastWARC and the resynchronising reader see file offsets, so records keep
    the offsets (and ids) they have when the file is read whole, and no reader
    can read into the next range.
    """

    def __init__(self, inner: BinaryIO, start: int, stop: int | None):
        self._inner = inner
        self._stop = stop
        self._pos = start
        inner.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a range is sought from its file's start or the current position")
        self._inner.seek(offset)
        self._pos = offset
        return offset

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        wanted = len(view) if self._stop is None else min(len(view), self._stop - self._pos)
        if wanted <= 0:
            return 0
        chunk = self._inner.read(wanted)
        view[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)
