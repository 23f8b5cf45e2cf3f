"""ARC files (the pre-WARC Internet Archive format), read with warcio (`arc2warc=True`).

FastWARC cannot read ARC, so `curation.archive.iter_archive` hands ARC streams
here; records come out as the same `ArchiveRecord` / `ReadFailure` items.
ARC readers cannot resume mid-stream, so an unreadable region ends the file.
"""
from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from winnow.curation.archive import (
    _PAYLOAD_TYPES,
    ERROR_CORRUPT_GZIP,
    ERROR_MALFORMED_RECORD,
    ERROR_TRUNCATED_GZIP,
    ERROR_TRUNCATED_RECORD,
    ArchiveRecord,
    ReadFailure,
    _read_up_to,
)
from winnow.curation.http_payload import HttpHead, _decode_content


def iter_arc(
    stream: BinaryIO, source: str, max_payload_bytes: int, gzipped: bool
) -> Iterator[ArchiveRecord | ReadFailure]:
    from warcio.archiveiterator import ArchiveIterator

    iterator = ArchiveIterator(stream, arc2warc=True)
    records = iter(iterator)
    offset: int | None = 0
    while True:
        try:
            record = next(records)
            item = _arc_item(record, source, max_payload_bytes, gzipped)
            # warcio knows the offset only once the record is read to its end.
            offset = iterator.get_record_offset()
            item = dataclasses.replace(item, offset=offset)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - warcio raises many types on bad bytes; all end the file
            error = ERROR_TRUNCATED_GZIP if isinstance(exc, EOFError) and gzipped else ERROR_MALFORMED_RECORD
            if isinstance(exc, zlib.error):
                error = ERROR_CORRUPT_GZIP
            yield ReadFailure(
                source, offset, "", "", error,
                f"{source}: cannot read ARC record at or after offset {offset}: "
                f"{type(exc).__name__}: {exc}; stopped reading this file",
            )
            return
        yield item
        if isinstance(item, ReadFailure):
            return


def _arc_item(record, source: str, max_payload_bytes: int, gzipped: bool) -> ArchiveRecord | ReadFailure:
    rec_headers = record.rec_headers
    url = rec_headers.get_header("WARC-Target-URI") or ""
    record_type = (record.rec_type or "unknown").lower()
    declared = rec_headers.get_header("Content-Length") or "0"
    content_length = int(declared) if declared.isdigit() else 0
    http = record.http_headers
    http_status = None
    content_type = rec_headers.get_header("Content-Type")
    content_encoding = None
    if http is not None and http.protocol.upper().startswith("HTTP/"):
        code = http.get_statuscode()
        http_status = int(code) if code and code.isdigit() else None
        content_type = http.get_header("Content-Type") or None
        content_encoding = http.get_header("Content-Encoding") or None
    wants_payload = record_type in _PAYLOAD_TYPES
    body = b""
    truncated = False
    if wants_payload:
        body = _read_up_to(record.raw_stream, max_payload_bytes + 1)
        truncated = len(body) > max_payload_bytes
        if http_status is not None:
            head = HttpHead(
                http_status, content_type, content_encoding,
                http.get_header("Transfer-Encoding") if http is not None else None, 0,
            )
            body, inflated_truncated = _decode_content(body, head, max_payload_bytes)
            truncated = truncated or inflated_truncated
        body = body[:max_payload_bytes]
    # Drain the rest in bounded chunks; warcio's reader shrinks `limit` as it reads,
    # so a positive limit afterwards means the file ended inside this record.
    while record.raw_stream.read(1 << 16):
        pass
    missing = getattr(record.raw_stream, "limit", 0)
    if missing > 0:
        return ReadFailure(
            source, None, "", url, ERROR_TRUNCATED_GZIP if gzipped else ERROR_TRUNCATED_RECORD,
            f"{source}: ARC record for {url} declares {content_length} bytes "
            f"but the {'gzip ' if gzipped else ''}stream ends {missing} bytes early",
        )
    return ArchiveRecord(
        source=source,
        offset=None,
        record_type=record_type,
        # ARC has no record ids (warcio invents random ones): ids derive from url+date instead.
        warc_record_id="",
        url=url,
        date=rec_headers.get_header("WARC-Date") or "",
        http_status=http_status,
        content_type=content_type,
        identified_payload_type=None,
        payload=body,
        payload_truncated=truncated,
        content_length=content_length,
        content_encoding=content_encoding,
    )
