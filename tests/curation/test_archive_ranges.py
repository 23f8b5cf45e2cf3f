"""Reading a gzipped WARC in byte ranges: the ranges tile the file, whatever the split."""
from __future__ import annotations

import gzip
import io
import random
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.curation.test_archive import http_response, warc_record
from winnow.curation.archive import ArchiveRecord, ReadFailure, iter_archive
from winnow.curation import archive_ranges
from winnow.curation.archive_ranges import FileRange, has_record_members, iter_archive_range, plan_ranges


def page(index: int, size: int, seed: int = 0) -> bytes:
    """One response record; random letters keep its gzip member close to `size` bytes."""
    rng = random.Random(seed * 100_003 + index)
    body = f"<html><body><p>page {index}</p>".encode() + bytes(rng.choice(b"abcdefghij klmnop\n") for _ in range(size)) + b"</body></html>"
    block = http_response(body)
    return warc_record(block, url=f"http://example.com/{index}", record_id=f"<urn:uuid:{index:08d}-0000-0000-0000-000000000000>")


def warc_gz(sizes: list[int], seed: int = 0) -> bytes:
    """A gzipped WARC with one gzip member per record (a warcinfo first, as crawlers write)."""
    info = warc_record(b"software: test\r\n", record_type="warcinfo", content_type="application/warc-fields")
    return gzip.compress(info) + b"".join(gzip.compress(page(i, size, seed)) for i, size in enumerate(sizes))


def read_whole(data: bytes) -> list[ArchiveRecord | ReadFailure]:
    return list(iter_archive(io.BytesIO(data), "big.warc.gz"))


def read_in_ranges(data: bytes, split_bytes: int) -> tuple[list[FileRange], list[ArchiveRecord | ReadFailure]]:
    parts = plan_ranges("big.warc.gz", len(data), io.BytesIO(data), split_bytes)
    items = []
    for part in parts:
        if part.whole:
            items += read_whole(data)
        else:
            items += iter_archive_range(io.BytesIO(data), "big.warc.gz", part.start, part.end)
    return parts, items


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=6000), min_size=1, max_size=25),
    split_bytes=st.integers(min_value=1, max_value=40_000),
    seed=st.integers(min_value=0, max_value=1000),
    scan_bytes=st.sampled_from([1, 100, 4096, 1 << 20]),
)
def test_ranges_read_every_record_once_with_its_file_offset(sizes, split_bytes, seed, scan_bytes):
    data = warc_gz(sizes, seed)
    scan, archive_ranges.BOUNDARY_SCAN_BYTES = archive_ranges.BOUNDARY_SCAN_BYTES, scan_bytes  # boundaries across pieces
    try:
        parts, items = read_in_ranges(data, split_bytes)
    finally:
        archive_ranges.BOUNDARY_SCAN_BYTES = scan
    assert items == read_whole(data)  # same records, same offsets, same order
    assert len(items) == len(sizes) + 1
    if len(data) > split_bytes:
        assert len(parts) == -(-len(data) // split_bytes)
        assert [p.start for p in parts] == list(range(0, len(data), split_bytes))
        assert parts[-1].end == len(data)


def test_a_range_smaller_than_a_record_reads_nothing_and_loses_nothing():
    data = warc_gz([20_000, 20_000, 20_000])
    parts, items = read_in_ranges(data, 1000)
    per_range = [list(iter_archive_range(io.BytesIO(data), "big.warc.gz", p.start, p.end)) for p in parts]
    assert sum(1 for found in per_range if not found) > len(parts) - 4  # most ranges start inside a record
    assert items == read_whole(data)


def test_a_corrupt_member_is_reported_once_and_the_records_after_it_are_read():
    members = [gzip.compress(page(i, 3000)) for i in range(12)]
    bad = bytearray(members[5])
    bad[len(bad) // 2 : len(bad) // 2 + 40] = random.Random(40).randbytes(40)
    members[5] = bytes(bad)
    data = b"".join(members)
    whole = read_whole(data)
    assert sum(isinstance(item, ReadFailure) for item in whole) == 1
    for split_bytes in (500, 1500, 2500, 4000, 9000):
        _, items = read_in_ranges(data, split_bytes)
        assert [i for i in items if isinstance(i, ArchiveRecord)] == [i for i in whole if isinstance(i, ArchiveRecord)]
        assert sum(isinstance(item, ReadFailure) for item in items) == 1, split_bytes


def test_only_gzipped_warcs_with_one_member_per_record_are_split():
    records = [page(i, 3000) for i in range(10)]
    one_member_each = b"".join(gzip.compress(r) for r in records)
    one_stream = gzip.compress(b"".join(records))
    plain = b"".join(records)
    jsonl = gzip.compress(b'{"text": "x"}\n' * 3000)
    assert has_record_members(io.BytesIO(one_member_each))
    for data in (one_stream, plain, jsonl):
        assert not has_record_members(io.BytesIO(data))
        assert plan_ranges("f", len(data), io.BytesIO(data), 1000) == [FileRange("f")]
    assert len(plan_ranges("f", len(one_member_each), io.BytesIO(one_member_each), 1000)) > 1
    # A first member that inflates past 16 MiB (a bomb) is not split, and probing it holds one piece at a time.
    bomb_head = warc_record(b"0" * (40 << 20), record_type="resource", content_type="text/plain")
    bomb = gzip.compress(bomb_head, 9) + one_member_each
    tracemalloc.start()
    assert not has_record_members(io.BytesIO(bomb))
    assert tracemalloc.get_traced_memory()[1] < 8 << 20
    tracemalloc.stop()
    # Small files, and files that could not be opened, are read whole.
    assert plan_ranges("f", len(one_member_each), io.BytesIO(one_member_each), len(one_member_each)) == [FileRange("f")]
    assert plan_ranges("f", 10**9, None, 1000) == [FileRange("f")]
    with pytest.raises(ValueError, match="split_bytes"):
        plan_ranges("f", 10, None, 0)


@pytest.mark.parametrize("damage", ["truncated", "garbage between members", "garbage at the end"])
def test_damaged_files_read_in_ranges_give_the_whole_file_items(damage):
    members = [gzip.compress(page(i, 2500, seed=7)) for i in range(15)]
    if damage == "truncated":
        data = b"".join(members)[:-700]  # the file ends inside the last record
    elif damage == "garbage between members":
        data = b"".join(members[:8]) + random.Random(3).randbytes(3000) + b"".join(members[8:])
    else:
        data = b"".join(members) + random.Random(5).randbytes(5000)
    whole = read_whole(data)
    assert any(isinstance(item, ReadFailure) for item in whole)
    for split_bytes in (700, 2000, 5000, 11_000):
        _, items = read_in_ranges(data, split_bytes)
        assert [i for i in items if isinstance(i, ArchiveRecord)] == [i for i in whole if isinstance(i, ArchiveRecord)], split_bytes
        assert sum(isinstance(i, ReadFailure) for i in items) == sum(isinstance(i, ReadFailure) for i in whole), split_bytes
