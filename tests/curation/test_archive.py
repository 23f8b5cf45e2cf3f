"""Tests for winnow.curation.archive: WARC/ARC/WET reading, failures, bounds."""
from __future__ import annotations

import gzip
import io
import re
import tracemalloc
import zlib
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from winnow.curation.archive import (
    ERROR_CORRUPT_GZIP,
    ERROR_EMPTY_FILE,
    ERROR_MALFORMED_RECORD,
    ERROR_NOT_AN_ARCHIVE,
    ERROR_TRUNCATED_GZIP,
    ERROR_TRUNCATED_RECORD,
    ArchiveRecord,
    ReadFailure,
    iter_archive,
    parse_http_head,
)

HTML = b"<html><head><title>t</title></head><body><p>Hello world</p></body></html>"


def warc_record(
    block: bytes,
    record_type: str = "response",
    url: str = "http://example.com/",
    record_id: str = "<urn:uuid:00000000-0000-0000-0000-000000000001>",
    content_type: str = "application/http; msgtype=response",
    extra: str = "",
    length: int | str | None = None,
) -> bytes:
    head = (
        "WARC/1.0\r\n"
        f"WARC-Type: {record_type}\r\n"
        f"WARC-Record-ID: {record_id}\r\n"
        "WARC-Date: 2024-01-02T03:04:05Z\r\n"
        f"WARC-Target-URI: {url}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"{extra}"
        f"Content-Length: {len(block) if length is None else length}\r\n\r\n"
    )
    return head.encode() + block + b"\r\n\r\n"


def http_response(body: bytes, status: str = "200 OK", headers: str = "Content-Type: text/html; charset=utf-8",
                  eol: bytes = b"\r\n") -> bytes:
    lines = [f"HTTP/1.1 {status}".encode()] + [h.encode() for h in headers.split("\n") if h]
    return eol.join(lines) + eol + eol + body


def read_all(data: bytes, source: str = "mem.warc", **kwargs) -> list[ArchiveRecord | ReadFailure]:
    return list(iter_archive(io.BytesIO(data), source, **kwargs))


class NonSeekable(io.RawIOBase):
    """A forward-only stream, like a pipe or a cloud-storage download."""

    def __init__(self, data: bytes):
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


# ----------------------------------------------------------------------------- basics


def test_plain_warc_response_is_parsed():
    data = warc_record(http_response(HTML), extra="WARC-Identified-Payload-Type: text/html\r\n")
    (record,) = read_all(data)
    assert isinstance(record, ArchiveRecord)
    assert record.record_type == "response"
    assert record.url == "http://example.com/"
    assert record.warc_record_id == "<urn:uuid:00000000-0000-0000-0000-000000000001>"
    assert record.date == "2024-01-02T03:04:05Z"
    assert record.http_status == 200
    assert record.content_type == "text/html; charset=utf-8"
    assert record.identified_payload_type == "text/html"
    assert record.payload == HTML
    assert record.payload_truncated is False
    assert record.content_length == len(http_response(HTML))
    assert record.offset == 0


def test_each_record_yields_exactly_one_item_gzip_and_plain():
    records = [
        warc_record(b"software: test\r\n", record_type="warcinfo", content_type="application/warc-fields"),
        warc_record(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", record_type="request",
                    content_type="application/http; msgtype=request"),
        warc_record(http_response(HTML)),
        warc_record(b"fetchTimeMs: 5\r\n", record_type="metadata", content_type="application/warc-fields"),
        warc_record(http_response(b"", status="301 Moved", headers="Location: /x")),
    ]
    for data in (b"".join(records), b"".join(gzip.compress(r) for r in records)):
        items = read_all(data)
        assert [i.record_type for i in items] == ["warcinfo", "request", "response", "metadata", "response"]
        assert items[4].http_status == 301
        # Bodies of records that cannot become documents are skipped unread.
        assert items[0].payload == b"" and items[1].payload == b""


def test_gzip_offsets_point_at_each_member():
    members = [gzip.compress(warc_record(http_response(HTML), url=f"http://e.com/{i}")) for i in range(3)]
    data = b"".join(members)
    items = read_all(data)
    for item in items:
        again = read_all(data[item.offset:])[0]
        assert again.url == item.url
    assert [i.offset for i in items] == [0, len(members[0]), len(members[0]) + len(members[1])]


def test_non_seekable_stream_is_read():
    data = gzip.compress(warc_record(http_response(HTML)))
    (record,) = list(iter_archive(NonSeekable(data), "pipe"))
    assert record.payload == HTML


def test_wet_conversion_record_payload_is_the_text():
    text = "Plain extracted text.\nSecond line é.".encode()
    (record,) = read_all(warc_record(text, record_type="conversion", content_type="text/plain"))
    assert record.record_type == "conversion"
    assert record.http_status is None
    assert record.payload == text
    assert record.content_type == "text/plain"


# ----------------------------------------------------------------------------- HTTP parsing


def test_lf_only_http_headers_are_split_correctly():
    # The ClueWeb09 quirk: LF-only header lines, which FastWARC's HTTP parser misreads.
    body = "<html><body>日本語のページ</body></html>".encode("euc-jp")
    block = http_response(body, headers="Content-Type: text/html; charset=EUC-JP\nServer: x", eol=b"\n")
    (record,) = read_all(gzip.compress(warc_record(block)))
    assert record.http_status == 200
    assert record.content_type == "text/html; charset=EUC-JP"
    assert record.payload == body


def test_parse_http_head_folding_and_first_content_type_wins():
    block = b"HTTP/1.0 404 Not Found\r\nX-Long: a\r\n  b\r\nContent-Type: text/html\r\nContent-Type: text/plain\r\n\r\nbody"
    head = parse_http_head(block, complete=True)
    assert head.status == 404
    assert head.content_type == "text/html"
    assert block[head.body_offset:] == b"body"
    assert parse_http_head(b"not http", complete=True) is None
    # A complete block without a blank line is a header-only response.
    assert parse_http_head(b"HTTP/1.1 204 No Content\r\nServer: x", complete=True).body_offset == 34


def test_gzip_content_encoding_is_undone_when_body_is_really_gzipped():
    block = http_response(gzip.compress(HTML), headers="Content-Type: text/html\nContent-Encoding: gzip")
    (record,) = read_all(warc_record(block))
    assert record.payload == HTML
    assert record.content_encoding == "gzip"
    # Archives that stored the decoded body but kept the header are left alone.
    (record,) = read_all(warc_record(http_response(HTML, headers="Content-Type: text/html\nContent-Encoding: gzip")))
    assert record.payload == HTML


def test_chunked_transfer_encoding_is_undone():
    chunked = b"5\r\n<html\r\n6;ext=1\r\n>hello\r\n0\r\n\r\n"
    block = http_response(chunked, headers="Content-Type: text/html\nTransfer-Encoding: chunked")
    (record,) = read_all(warc_record(block))
    assert record.payload == b"<html>hello"


# ----------------------------------------------------------------------------- bounds


def test_large_body_is_truncated_to_max_payload_bytes():
    body = b"<html>" + b"x" * 200_000
    (record,) = read_all(gzip.compress(warc_record(http_response(body))), max_payload_bytes=1000)
    assert record.payload_truncated is True
    assert record.payload == body[:1000]
    assert record.content_length > 200_000


class Zeros(io.RawIOBase):
    """A WARC record header followed by `size` generated bytes, never held in memory at once."""

    def __init__(self, size: int):
        block_head = http_response(b"", headers="Content-Type: text/html")
        self._head = io.BytesIO(warc_record(b"", length=len(block_head) + size)[:-4] + block_head)
        self._left = size
        self.bytes_served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._head.read(len(buffer))
        if not chunk and self._left > 0:
            chunk = b"<" * min(len(buffer), self._left)
            self._left -= len(chunk)
        buffer[: len(chunk)] = chunk
        self.bytes_served += len(chunk)
        return len(chunk)


def test_200_mb_record_is_streamed_with_bounded_memory():
    size = 200 * 1024 * 1024
    stream = Zeros(size)
    tracemalloc.start()
    try:
        items = list(iter_archive(stream, "huge.warc", max_payload_bytes=1_000_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (record,) = items
    assert record.payload_truncated is True
    assert len(record.payload) == 1_000_000
    assert stream.bytes_served > size  # the whole record was skipped through, not loaded
    assert peak < 20 * 1024 * 1024, f"peak Python allocation {peak} bytes"


def test_gzip_bomb_in_content_encoding_is_bounded():
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    compressed = bomb.compress(b"\0" * (50 * 1024 * 1024)) + bomb.flush()
    block = http_response(compressed, headers="Content-Type: text/html\nContent-Encoding: gzip")
    (record,) = read_all(warc_record(block), max_payload_bytes=100_000)
    assert record.payload_truncated is True
    assert len(record.payload) == 100_000


# ----------------------------------------------------------------------------- failures


def test_empty_file_is_a_failure():
    (failure,) = read_all(b"", source="empty.warc")
    assert isinstance(failure, ReadFailure)
    assert failure.error_type == ERROR_EMPTY_FILE
    assert "empty.warc" in failure.message


@pytest.mark.parametrize("data", [b"<html>not an archive</html>", gzip.compress(b"hello, not a warc"), b"\x1f\x8bjunk"])
def test_non_archive_is_a_failure(data):
    (failure,) = read_all(data, source="x.bin")
    assert failure.error_type == ERROR_NOT_AN_ARCHIVE
    assert "x.bin" in failure.message


def test_garbage_between_records_resyncs_on_seekable_streams():
    data = warc_record(http_response(HTML)) + b"GARBAGE\r\n" + warc_record(http_response(HTML), url="http://e.com/b")
    first, failure, second = read_all(data)
    assert first.payload == HTML
    assert isinstance(failure, ReadFailure)
    assert failure.error_type == ERROR_MALFORMED_RECORD
    assert "skipped to the next readable record" in failure.message
    assert second.url == "http://e.com/b"
    assert second.offset == data.index(b"WARC/1.0", 1)


def test_garbage_between_records_stops_on_non_seekable_streams():
    data = warc_record(http_response(HTML)) + b"GARBAGE\r\n" + warc_record(http_response(HTML))
    first, failure = list(iter_archive(NonSeekable(data), "pipe.warc"))
    assert first.payload == HTML
    assert failure.error_type == ERROR_MALFORMED_RECORD
    assert "stopped reading this file" in failure.message


def test_truncated_gzip_member_is_a_failure_after_earlier_records():
    good = gzip.compress(warc_record(http_response(HTML), url="http://e.com/a"))
    cut = gzip.compress(warc_record(http_response(HTML * 100), url="http://e.com/b"))[:-40]
    first, failure = read_all(good + cut)
    assert first.url == "http://e.com/a"
    assert failure.error_type == ERROR_TRUNCATED_GZIP
    assert failure.url == "http://e.com/b"
    assert failure.offset == len(good)


def test_truncated_plain_file_is_a_failure():
    data = warc_record(http_response(HTML * 10))[:-200]
    (failure,) = read_all(data)
    assert failure.error_type == ERROR_TRUNCATED_RECORD


def test_corrupt_gzip_member_is_a_failure():
    good = gzip.compress(warc_record(http_response(HTML)))
    bad = bytearray(gzip.compress(warc_record(http_response(HTML * 50))))
    bad[30:60] = b"\xff" * 30
    items = read_all(good + bytes(bad) + good)
    assert items[0].payload == HTML
    failures = [i for i in items if isinstance(i, ReadFailure)]
    assert len(failures) == 1
    assert failures[0].error_type in (ERROR_CORRUPT_GZIP, ERROR_TRUNCATED_GZIP, ERROR_MALFORMED_RECORD)
    # The member after the corrupt one is found again by the resync scan.
    assert isinstance(items[-1], ArchiveRecord) and items[-1].payload == HTML
    assert items[-1].offset == len(good) + len(bad)


def test_invalid_content_length_is_malformed():
    items = read_all(warc_record(b"abc", length="abc"))
    assert isinstance(items[0], ReadFailure)
    assert items[0].error_type == ERROR_MALFORMED_RECORD
    assert "Content-Length" in items[0].message


def test_http_header_without_end_is_malformed():
    block = b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 70_000
    (failure,) = read_all(warc_record(block))
    assert failure.error_type == ERROR_MALFORMED_RECORD


_VALID = gzip.compress(warc_record(http_response(HTML))) + gzip.compress(
    warc_record(b"text", record_type="conversion", content_type="text/plain")
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(data):
    items = read_all(data, max_payload_bytes=10_000)
    assert items, "every input yields at least one item"
    assert all(isinstance(i, (ArchiveRecord, ReadFailure)) for i in items)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, len(_VALID) - 1), st.integers(0, 255), st.booleans(), st.booleans())
def test_damaged_archives_never_raise(position, value, truncate, plain):
    base = gzip.decompress(_VALID) if plain else _VALID
    position %= len(base)
    data = base[:position] if truncate else base[:position] + bytes([value]) + base[position + 1:]
    items = read_all(data, max_payload_bytes=10_000)
    assert all(isinstance(i, (ArchiveRecord, ReadFailure)) for i in items)
    assert len(items) <= 2 or any(isinstance(i, ReadFailure) for i in items)


# ----------------------------------------------------------------------------- shared data

# (record type counts, responses with an HTML Content-Type), per the data README and warcio.
EXPECTED = {
    "aut-warc-example.warc.gz": ({"warcinfo": 1, "response": 299, "request": 261, "metadata": 261}, 140),
    "aut-arc-example.arc.gz": ({"warcinfo": 1, "response": 299}, 140),
    "aut-warc-example.docs.warc.gz": ({"warcinfo": 3, "response": 9, "request": 9}, 0),
    "aut-warc-example.txt.warc.gz": ({"warcinfo": 2, "response": 2, "request": 2}, 0),
    "resiliparse-warcfile.warc.gz": ({"warcinfo": 1, "request": 17, "response": 16, "metadata": 16}, 16),
    "resiliparse-clueweb-quirk.warc.gz": ({"warcinfo": 1, "response": 29}, 29),
    "resiliparse-block-sized-records.warc.gz": ({"unknown": 3}, 0),
    "dolma-sample-0000.warc.gz": ({"warcinfo": 1, "request": 22, "response": 22, "metadata": 1, "resource": 2}, 22),
    "dolma-sample-0001.warc.gz": ({"warcinfo": 1, "request": 15, "response": 15, "metadata": 1, "resource": 2}, 15),
    "cc-whirlwind.warc.gz": ({"warcinfo": 1, "request": 1, "response": 1, "metadata": 1}, 1),
    "cc-whirlwind.warc.wet.gz": ({"warcinfo": 1, "conversion": 1}, 0),
    "cc-whirlwind.warc.wat.gz": ({"warcinfo": 1, "metadata": 1}, 0),
}


def _read_shared(shared_data, name):
    path = shared_data / "warc" / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    with open(path, "rb") as stream:
        return list(iter_archive(stream, str(path)))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_archive_counts(shared_data, name):
    items = _read_shared(shared_data, name)
    failures = [i for i in items if isinstance(i, ReadFailure)]
    assert not failures, failures
    types, html = EXPECTED[name]
    assert Counter(i.record_type for i in items) == types
    assert sum(1 for i in items if i.record_type == "response" and "html" in (i.content_type or "").lower()) == html
    assert all(i.source.endswith(name) for i in items)


def test_shared_every_file_is_covered(shared_data):
    names = {p.name for p in (shared_data / "warc").iterdir()}
    assert names - set(EXPECTED) == {"resiliparse-clipped.warc.gz"}


def test_shared_arc_records_have_no_record_id(shared_data):
    items = _read_shared(shared_data, "aut-arc-example.arc.gz")
    responses = [i for i in items if i.record_type == "response"]
    assert all(i.warc_record_id == "" and i.url and i.date for i in responses)
    assert sum(1 for i in responses if i.http_status == 200 and (i.content_type or "").startswith("text/html")) == 94
    offsets = [i.offset for i in items]
    assert offsets == sorted(offsets) and offsets[0] == 0


def test_shared_clipped_file_is_one_truncation_failure(shared_data):
    (failure,) = _read_shared(shared_data, "resiliparse-clipped.warc.gz")
    assert failure.error_type == ERROR_TRUNCATED_GZIP
    assert failure.warc_record_id == "<urn:uuid:f3dfa8fa-f031-4a38-90cc-1dcee3d07bb5>"


def test_shared_clueweb_quirk_payloads_are_japanese_html(shared_data):
    items = _read_shared(shared_data, "resiliparse-clueweb-quirk.warc.gz")
    responses = [i for i in items if i.record_type == "response"]
    assert len(responses) == 29
    japanese = re.compile("[\u3040-\u30ff\u4e00-\u9fff]")
    for record in responses:
        assert record.http_status == 200
        assert record.content_type.lower() == "text/html; charset=euc-jp"
        assert record.payload.lstrip().lower().startswith(b"<html")
        text = record.payload.decode("euc-jp", errors="replace")
        assert len(japanese.findall(text)) > 50
        assert text.count("\ufffd") < 10


def test_shared_block_sized_unknown_records(shared_data):
    items = _read_shared(shared_data, "resiliparse-block-sized-records.warc.gz")
    assert [i.content_length for i in items] == [16229] * 3


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=500), st.sampled_from([b"filedesc://", b"WARC/1.0\r\n", b"WARC/1.1\r\nContent-Length: 5\r\n"]))
def test_archive_like_prefix_then_junk_never_raises(junk, prefix):
    for data in (prefix + junk, gzip.compress(prefix + junk)):
        items = read_all(data, max_payload_bytes=1000)
        assert all(isinstance(i, (ArchiveRecord, ReadFailure)) for i in items)


def test_shared_truncated_arc_yields_records_then_one_failure(shared_data):
    path = shared_data / "warc" / "aut-arc-example.arc.gz"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    data = path.read_bytes()
    items = read_all(data[: len(data) // 2], source="half.arc.gz")
    failures = [i for i in items if isinstance(i, ReadFailure)]
    assert failures == [items[-1]]
    assert failures[0].error_type == ERROR_TRUNCATED_GZIP
    assert len(items) > 100
