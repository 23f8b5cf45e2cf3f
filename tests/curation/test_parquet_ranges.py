"""Reading a Parquet file as runs of row groups (readers/parquet.py: plan_row_group_ranges, iter_parquet's row_groups).

Every run together must give exactly the whole-file read: the same records at
the same row numbers, the same failures, and a failure about the whole file once.
"""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from winnow.curation.readers import ReaderOptions
from winnow.curation.readers.common import ERROR_MISSING_COLUMN, ERROR_UNREADABLE
from winnow.curation.readers.parquet import iter_parquet, plan_row_group_ranges


def parquet_bytes(table: pa.Table, row_group_size: int) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=row_group_size)
    return sink.getvalue()


def documents(count: int) -> pa.Table:
    texts = [None if i % 11 == 7 else f"document {i} " * (i % 5 + 1) for i in range(count)]  # a null text: a failure row
    return pa.table({"id": [f"d{i}" for i in range(count)], "text": texts, "lang": ["en"] * count})


def read(data: bytes, row_groups: range | None = None, options: ReaderOptions = ReaderOptions()) -> list:
    return list(iter_parquet(io.BytesIO(data), "shard.parquet", options, row_groups=row_groups))


def read_in_runs(data: bytes, split_bytes: int, options: ReaderOptions = ReaderOptions()) -> tuple[list[range], list]:
    runs = plan_row_group_ranges(io.BytesIO(data), split_bytes)
    return runs, [item for run in runs or [None] for item in read(data, run, options)]


@settings(max_examples=40, deadline=None)
@given(count=st.integers(1, 120), group_rows=st.integers(1, 40), split_bytes=st.integers(1, 5000))
def test_runs_of_row_groups_read_every_row_once_at_its_row_number(count, group_rows, split_bytes):
    data = parquet_bytes(documents(count), group_rows)
    groups = pq.ParquetFile(io.BytesIO(data)).metadata.num_row_groups
    runs, items = read_in_runs(data, split_bytes)
    assert items == read(data)
    if runs:  # the runs tile the row groups, in order
        assert runs[0].start == 0 and runs[-1].stop == groups and len(runs) > 1
        assert all(a.stop == b.start and len(a) > 0 for a, b in zip(runs, runs[1:]))
    else:
        assert groups == 1 or split_bytes >= sum(pq.ParquetFile(io.BytesIO(data)).metadata.row_group(g).total_byte_size for g in range(groups))


def test_row_numbers_and_failures_are_those_of_the_whole_file():
    data = parquet_bytes(documents(40), 8)
    runs, items = read_in_runs(data, 1)  # every row group its own run
    assert len(runs) == 5
    failure = [i for i in items if not hasattr(i, "text")][0]
    assert "shard.parquet: row 8:" in failure.message  # the first null text, row 8 of the file
    assert [getattr(i, "position", None) for i in items if hasattr(i, "text")][8:10] == ["row 10", "row 11"]


def test_a_failure_of_the_whole_file_is_said_once_by_the_run_of_its_first_row_group():
    data = parquet_bytes(documents(40), 8)
    options = ReaderOptions(text_column="body")
    runs = plan_row_group_ranges(io.BytesIO(data), 1)
    per_run = [read(data, run, options) for run in runs]
    assert [len(items) for items in per_run] == [1, 0, 0, 0, 0]
    assert per_run[0][0].error_type == ERROR_MISSING_COLUMN and "no column 'body'" in per_run[0][0].message
    assert per_run[0] == read(data, None, options)


def test_files_that_are_read_whole():
    one_group = parquet_bytes(documents(30), 100)
    assert plan_row_group_ranges(io.BytesIO(one_group), 1) == []
    small = parquet_bytes(documents(30), 5)
    assert plan_row_group_ranges(io.BytesIO(small), 10**9) == []  # all its groups fit in one run
    assert plan_row_group_ranges(io.BytesIO(b"not parquet at all"), 1) == []  # the whole-file read says why
    with pytest.raises(ValueError):
        plan_row_group_ranges(io.BytesIO(small), 0)


def test_an_unreadable_file_read_in_a_later_run_says_nothing():
    """A file planned in runs and then replaced by garbage: only the first run reports it."""
    assert [i.error_type for i in read(b"garbage", range(0, 2))] == [ERROR_UNREADABLE]
    assert read(b"garbage", range(2, 4)) == []
