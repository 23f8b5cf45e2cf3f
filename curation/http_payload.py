"""HTTP inside archive records: the response header block and the body's transfer and content encodings.

Archive readers (`curation.archive`) split each record body into an HTTP head
and a body with `parse_http_head`, then undo chunked transfer encoding and
gzip/deflate content encoding with `_dechunk` and `_decode_content`, never
inflating past the payload limit (a gzip bomb costs its limit, not its size).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

# HTTP header blocks longer than this are treated as malformed (FastWARC uses 32 KiB).
MAX_HTTP_HEADER_BYTES = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class HttpHead:
    """The parts of an HTTP response header block we use."""

    status: int | None
    content_type: str | None
    content_encoding: str | None
    transfer_encoding: str | None
    body_offset: int




def _header_end(block: bytes) -> tuple[int, int]:
    """(end of header lines, start of body) for a CRLF or LF-only header block; (-1, -1) if none."""
    crlf = block.find(b"\r\n\r\n")
    lf = block.find(b"\n\n")
    if crlf < 0 and lf < 0:
        return -1, -1
    if lf < 0 or (0 <= crlf < lf):
        return crlf, crlf + 4
    return lf, lf + 2


def parse_http_head(block: bytes, complete: bool) -> HttpHead | None:
    """Parse an HTTP response header block at the start of `block`.

    `complete` says `block` is the whole record body, so a header block without
    a blank line ends at the end of the body (an empty-bodied response).
    Returns None when `block` does not start with an HTTP status line or the
    header block does not end within MAX_HTTP_HEADER_BYTES.
    """
    if not block.startswith(b"HTTP/"):
        return None
    end, body = _header_end(block[: MAX_HTTP_HEADER_BYTES + 4])
    if end < 0:
        if not complete or len(block) > MAX_HTTP_HEADER_BYTES:
            return None
        end = body = len(block)
    lines = block[:end].decode("latin-1").replace("\r\n", "\n").split("\n")
    parts = lines[0].split(None, 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() and len(parts[1]) == 3 else None
    headers: dict[str, str] = {}
    last_key = ""
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and last_key:
            # Obsolete line folding: a continuation of the previous header.
            headers[last_key] += " " + line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        last_key = key.strip().lower()
        # The first occurrence wins, as browsers do for Content-Type.
        headers.setdefault(last_key, value.strip())
    return HttpHead(
        status=status,
        content_type=headers.get("content-type") or None,
        content_encoding=headers.get("content-encoding") or None,
        transfer_encoding=headers.get("transfer-encoding") or None,
        body_offset=body,
    )


def _dechunk(body: bytes) -> bytes | None:
    """Undo HTTP chunked transfer coding; None when `body` is not chunked after all."""
    out = []
    pos = 0
    while True:
        eol = body.find(b"\n", pos)
        if eol < 0:
            # Truncated body: keep what we decoded so far.
            return b"".join(out) if out else None
        size_field = body[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            return b"".join(out) if out else None
        if size == 0:
            return b"".join(out)
        start = eol + 1
        out.append(body[start : start + size])
        pos = start + size
        if body[pos : pos + 2] == b"\r\n":
            pos += 2
        elif body[pos : pos + 1] == b"\n":
            pos += 1


def _decode_content(body: bytes, head: HttpHead, limit: int) -> tuple[bytes, bool]:
    """Undo chunking and gzip/deflate content coding when the bytes really are coded.

    Many archives (Common Crawl, ClueWeb) store decoded bodies but keep the
    original headers, so the header alone is not trusted. Decompression is
    bounded by `limit` output bytes (gzip bombs); returns (bytes, truncated).
    """
    if head.transfer_encoding and "chunked" in head.transfer_encoding.lower():
        dechunked = _dechunk(body)
        if dechunked is not None:
            body = dechunked
    coding = (head.content_encoding or "").lower()
    if body[:2] == _GZIP_MAGIC and ("gzip" in coding or "deflate" in coding):
        return _bounded_inflate(body, 16 + zlib.MAX_WBITS, limit)
    if "deflate" in coding and body[:1] == b"\x78":
        return _bounded_inflate(body, zlib.MAX_WBITS, limit)
    return body, False


def _bounded_inflate(body: bytes, wbits: int, limit: int) -> tuple[bytes, bool]:
    decomp = zlib.decompressobj(wbits)
    try:
        out = decomp.decompress(body, limit + 1)
    except zlib.error:
        # Not really compressed (or corrupt): the raw bytes go on and triage judges them.
        return body, False
    if len(out) > limit:
        return out[:limit], True
    return out, False
