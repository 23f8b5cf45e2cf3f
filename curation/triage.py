"""Which archive records become documents, and turning their bytes into text.

`triage` runs on every record, so the common case (a UTF-8 HTML page with a
correct header) costs one header parse and one strict UTF-8 decode; the
charset detector only runs when the declared charset is missing or wrong.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from winnow.curation.archive import ArchiveRecord

from winnow.curation.stages import STAGE_DECODE, STAGE_TRIAGE

NOT_RESPONSE = "not_response"
HTTP_STATUS = "http_status"
NOT_HTML = "not_html"
TOO_LARGE = "too_large"
EMPTY_PAYLOAD = "empty_payload"
UNDECODABLE = "undecodable"
BINARY_CONTENT = "binary_content"

TRIAGE_REASONS = (NOT_RESPONSE, HTTP_STATUS, NOT_HTML, TOO_LARGE, EMPTY_PAYLOAD, BINARY_CONTENT)
DECODE_REASONS = (UNDECODABLE,)

KIND_HTML = "html"
KIND_TEXT = "text"

HTML_MIME_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xhtml", "text/xhtml"})
# Declared types that say nothing about the content, so we sniff the bytes instead.
GENERIC_MIME_TYPES = frozenset(
    {"", "application/octet-stream", "binary/octet-stream", "application/unknown", "unknown/unknown",
     "application/x-unknown-content-type", "*/*", "unknown", "text/unknown", "application/binary"}
)
_HTML_SNIFF_PREFIXES = (
    b"<!doctype html", b"<html", b"<head", b"<body", b"<title", b"<meta", b"<script", b"<iframe",
    b"<h1", b"<div", b"<font", b"<table", b"<a ", b"<style", b"<p>", b"<br", b"<b>",
)
# Magic numbers of formats that are often served with a wrong text/html type.
# Only signatures that no text page starts with (no short ASCII ones like "BM").
_BINARY_MAGIC = (
    b"\x89PNG", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"%PDF-", b"PK\x03\x04", b"\x1f\x8b", b"\x00\x00\x01\x00",
    b"OggS\x00", b"\xd0\xcf\x11\xe0", b"7z\xbc\xaf", b"Rar!\x1a", b"\x7fELF",
)
_SNIFF_BYTES = 1024
_BINARY_SAMPLE_BYTES = 8192
# Bodies with more NULs or control characters than this are not text.
MAX_NUL_FRACTION = 0.01
MAX_CONTROL_FRACTION = 0.10
# A declared charset that decodes all but this fraction of characters is kept (stray bad bytes).
MAX_REPLACEMENT_FRACTION_DECLARED = 0.001
# Text with more replacement characters than this, whatever the charset, is undecodable.
MAX_REPLACEMENT_FRACTION = 0.02
_META_SCAN_BYTES = 4096
_DETECT_SAMPLE_BYTES = 64 * 1024

_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:\-]+)""", re.IGNORECASE)
_SURROGATES = re.compile("[\ud800-\udfff]")
_SURROGATE_FREE_CODECS = (
    "utf-8", "utf-16", "utf-32", "cp", "iso8859", "euc", "gb", "big5", "shift_jis", "koi8", "mac", "latin",
    "ascii", "iso2022", "johab", "hz", "tis",
)
# Browsers (WHATWG Encoding) read these labels as the superset encoding; so do we.
_CHARSET_SUPERSETS = {
    "ascii": "cp1252", "latin_1": "cp1252", "iso8859_1": "cp1252", "iso8859_9": "cp1254",
    "iso8859_11": "cp874", "tis_620": "cp874", "gb2312": "gb18030", "gbk": "gb18030",
    "euc_kr": "cp949", "shift_jis": "cp932", "big5": "big5hkscs",
}
_UTF8 = "utf-8"
_SINGLE_BYTE_PREFIXES = ("cp12", "cp874", "iso8859", "latin", "koi8", "mac", "cp437", "cp85", "cp86")


@dataclass(frozen=True)
class TriageConfig:
    max_payload_bytes: int = 10_000_000
    allowed_statuses: tuple[int, ...] = (200,)


@dataclass(frozen=True)
class Rejection:
    stage: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Decoded:
    kind: str
    content: str
    charset: str


def mime_type(content_type: str | None) -> str:
    """The lower-case media type of a Content-Type value, without parameters."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def charset_param(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type value, if any."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'").strip() or None
    return None


def normalize_charset(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None when Python does not know it."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().lower()).name
    except (LookupError, ValueError):
        return None
    superset = _CHARSET_SUPERSETS.get(name.replace("-", "_"))
    return codecs.lookup(superset).name if superset else name


def sniff_html(payload: bytes) -> bool:
    """True when the first bytes look like an HTML document."""
    head = payload[:_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf").lstrip().lower()
    if head.startswith(_HTML_SNIFF_PREFIXES):
        return True
    if head.startswith((b"<?xml", b"<!--", b"<!doctype")):
        return b"<html" in head
    return False


def is_html(record: ArchiveRecord) -> tuple[bool, str]:
    """(is HTML, why): WARC-Identified-Payload-Type, then HTTP Content-Type, then sniffing."""
    identified = mime_type(record.identified_payload_type)
    if identified and identified not in GENERIC_MIME_TYPES:
        return identified in HTML_MIME_TYPES, f"identified payload type {identified}"
    declared = mime_type(record.content_type)
    if declared not in GENERIC_MIME_TYPES:
        return declared in HTML_MIME_TYPES, f"content type {declared}"
    sniffed = sniff_html(record.payload)
    return sniffed, f"content type {declared or 'missing'}, bytes {'look' if sniffed else 'do not look'} like HTML"


def binary_reason(payload: bytes) -> str | None:
    """Why `payload` is binary rather than text, or None when it looks like text."""
    if payload.startswith(_BINARY_MAGIC):
        return f"body starts with binary file signature {payload[:4]!r}"
    sample = payload[:_BINARY_SAMPLE_BYTES]
    nuls = sample.count(0)
    if nuls > MAX_NUL_FRACTION * len(sample):
        return f"{nuls} NUL bytes in the first {len(sample)} bytes"
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if controls > MAX_CONTROL_FRACTION * len(sample):
        return f"{controls} control bytes in the first {len(sample)} bytes"
    return None


def _bom_charset(payload: bytes) -> str | None:
    if payload.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if payload.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def meta_charset(payload: bytes) -> str | None:
    """The charset named by `<meta charset>` or `http-equiv` in the first few KB."""
    match = _META_CHARSET.search(payload[:_META_SCAN_BYTES])
    return match.group(1).decode("ascii", "ignore") if match else None


def _is_single_byte(codec: str) -> bool:
    return codec.startswith(_SINGLE_BYTE_PREFIXES)


def _clean(text: str, charset: str) -> str:
    """Drop NULs and lone surrogates, which break Parquet writers and tokenizers downstream.

    The common codecs never produce lone surrogates, so only the rest (utf-7,
    escape codecs, whatever detection returns) pay for the scan.
    """
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not charset.startswith(_SURROGATE_FREE_CODECS) and _SURROGATES.search(text):
        text = _SURROGATES.sub("", text)
    return text


def _replacement_fraction(text: str) -> float:
    return text.count("\ufffd") / max(1, len(text))


def _try_decode(payload: bytes, codec: str, tolerance: float) -> str | None:
    """Decode strictly, or with replacements when they stay under `tolerance`."""
    try:
        return payload.decode(codec)
    except UnicodeDecodeError:
        pass
    except LookupError:
        return None
    text = payload.decode(codec, errors="replace")
    return text if _replacement_fraction(text) <= tolerance else None


def _detect_charset(payload: bytes) -> str | None:
    # Imported lazily: only pages whose declared charset fails pay for it.
    from charset_normalizer import from_bytes

    best = from_bytes(payload[:_DETECT_SAMPLE_BYTES]).best()
    return normalize_charset(best.encoding) if best is not None else None


def decode_html(payload: bytes, http_charset: str | None) -> tuple[str, str] | None:
    """(text, charset used) for an HTML body, or None when nothing decodes it sensibly.

    Order: byte-order mark; the HTTP charset; `<meta>` charset; UTF-8; then
    detection. A declared single-byte charset loses to UTF-8 when the bytes are
    valid UTF-8 with non-ASCII characters: such bytes are almost never
    accidental, and "ISO-8859-1" is the most common lie in HTTP headers.
    """
    bom = _bom_charset(payload)
    if bom:
        text = _try_decode(payload, bom, MAX_REPLACEMENT_FRACTION_DECLARED)
        if text is not None:
            return text, bom.replace("-sig", "")
    declared = [c for c in (normalize_charset(http_charset), normalize_charset(meta_charset(payload))) if c]
    tried: set[str] = set()
    for codec in declared:
        if codec in tried:
            continue
        tried.add(codec)
        if _is_single_byte(codec) and not payload.isascii():
            try:
                return payload.decode(_UTF8), _UTF8
            except UnicodeDecodeError:
                pass
        text = _try_decode(payload, codec, MAX_REPLACEMENT_FRACTION_DECLARED)
        if text is not None:
            return text, codec
    if _UTF8 not in tried:
        try:
            return payload.decode(_UTF8), _UTF8
        except UnicodeDecodeError:
            pass
    detected = _detect_charset(payload)
    if detected:
        text = _try_decode(payload, detected, MAX_REPLACEMENT_FRACTION)
        if text is not None:
            return text, detected
    # Last resort: mostly-UTF-8 pages with a few broken bytes.
    text = _try_decode(payload, _UTF8, MAX_REPLACEMENT_FRACTION)
    return (text, _UTF8) if text is not None else None


def _size_rejection(record: ArchiveRecord, config: TriageConfig) -> Rejection | None:
    if record.payload_truncated or len(record.payload) > config.max_payload_bytes:
        return Rejection(
            STAGE_TRIAGE, TOO_LARGE,
            f"payload larger than {config.max_payload_bytes} bytes (record Content-Length {record.content_length})",
        )
    return None


def _triage_text(record: ArchiveRecord, config: TriageConfig) -> Decoded | Rejection:
    """WET conversion records already hold extracted UTF-8 text."""
    rejection = _size_rejection(record, config)
    if rejection:
        return rejection
    if not record.payload.strip():
        return Rejection(STAGE_TRIAGE, EMPTY_PAYLOAD, "conversion record has no text")
    text = _try_decode(record.payload, _UTF8, MAX_REPLACEMENT_FRACTION)
    if text is None:
        return Rejection(STAGE_DECODE, UNDECODABLE, "conversion record is not valid UTF-8")
    return Decoded(KIND_TEXT, _clean(text, _UTF8), _UTF8)


def triage(record: ArchiveRecord, config: TriageConfig) -> Decoded | Rejection:
    """Decide whether `record` is an HTML (or WET text) document and decode it.

    Checks, in order: record type, HTTP status, size, emptiness, HTML-ness,
    binary bytes, decoding. The first failing check gives the Rejection.
    Only `response` records and WET `conversion` records can become documents;
    `resource` records (crawler logs, arguments) are rejected as not_response.
    """
    if record.record_type == "conversion":
        return _triage_text(record, config)
    if record.record_type != "response":
        return Rejection(STAGE_TRIAGE, NOT_RESPONSE, f"record type {record.record_type or 'missing'}")
    if record.http_status is None:
        return Rejection(
            STAGE_TRIAGE, HTTP_STATUS, f"no HTTP status line (content type {mime_type(record.content_type) or 'missing'})"
        )
    if record.http_status not in config.allowed_statuses:
        return Rejection(STAGE_TRIAGE, HTTP_STATUS, f"HTTP status {record.http_status}")
    rejection = _size_rejection(record, config)
    if rejection:
        return rejection
    payload = record.payload
    if not payload.strip():
        return Rejection(STAGE_TRIAGE, EMPTY_PAYLOAD, f"empty body ({record.content_length} bytes record)")
    html, why = is_html(record)
    if not html:
        return Rejection(STAGE_TRIAGE, NOT_HTML, why)
    if _bom_charset(payload) is None:
        # UTF-16 pages legitimately contain NULs, so only BOM-less bodies are checked.
        binary = binary_reason(payload)
        if binary:
            return Rejection(STAGE_TRIAGE, BINARY_CONTENT, f"{why}, but {binary}")
    decoded = decode_html(payload, charset_param(record.content_type))
    if decoded is None:
        return Rejection(
            STAGE_DECODE, UNDECODABLE,
            f"no charset decodes the body (declared {charset_param(record.content_type) or meta_charset(payload) or 'none'})",
        )
    text, charset = decoded
    return Decoded(KIND_HTML, _clean(text, charset), charset)
